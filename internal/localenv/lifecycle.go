package localenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ProcessStat is what /proc/PID/stat says of a process (Linux only): enough to find the
// processes a program started and to tell, later, whether that same process still runs.
type ProcessStat struct {
	PID  int
	PPID int
	// Comm is the executable's name, truncated by the kernel to 15 bytes
	// ("kube-controller" for kube-controller-manager).
	Comm string
	// State is the kernel's one-letter state: R, S, D, T, Z (zombie: exited, not yet
	// reaped), X (dead), ...
	State string
	// StartTime is when the process started, in clock ticks after boot: with PID it tells
	// the process apart from a later one that reuses the PID.
	StartTime uint64
}

// ReadProcessStat reads /proc/PID/stat.
func ReadProcessStat(pid int) (ProcessStat, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcessStat{}, err
	}
	return parseProcessStat(string(data))
}

// parseProcessStat parses the line of /proc/PID/stat. The command name is in parentheses and
// may itself hold spaces and parentheses, so the fields after it are counted from the last ")".
func parseProcessStat(line string) (ProcessStat, error) {
	open, closing := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 0 || closing < open {
		return ProcessStat{}, fmt.Errorf("/proc stat line %q: no (comm)", line)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line[:open]))
	if err != nil {
		return ProcessStat{}, fmt.Errorf("/proc stat line %q: pid: %w", line, err)
	}
	// After the comm: state (field 3), ppid (4), ..., starttime (22).
	rest := strings.Fields(line[closing+1:])
	if len(rest) < 20 {
		return ProcessStat{}, fmt.Errorf("/proc stat line %q: %d fields after the comm, want at least 20", line, len(rest))
	}
	ppid, err := strconv.Atoi(rest[1])
	if err != nil {
		return ProcessStat{}, fmt.Errorf("/proc stat line %q: ppid: %w", line, err)
	}
	start, err := strconv.ParseUint(rest[19], 10, 64)
	if err != nil {
		return ProcessStat{}, fmt.Errorf("/proc stat line %q: starttime: %w", line, err)
	}
	return ProcessStat{PID: pid, PPID: ppid, Comm: line[open+1 : closing], State: rest[0], StartTime: start}, nil
}

// Descendants returns the processes that pid started, the ones they started, and so on, as
// /proc shows them now (Linux only). A process that a descendant started and that has already
// been reparented (its parent exited) is not found.
func Descendants(pid int) ([]ProcessStat, error) {
	paths, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return nil, err
	}
	children := map[int][]ProcessStat{}
	for _, path := range paths {
		data, err := os.ReadFile(path) //nolint:gosec // /proc entries
		if err != nil {
			continue // exited since the glob
		}
		st, err := parseProcessStat(string(data))
		if err != nil {
			return nil, err
		}
		children[st.PPID] = append(children[st.PPID], st)
	}
	var out []ProcessStat
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c.PID)
		}
	}
	return out, nil
}

// Running reports whether the process p describes still runs: its PID belongs to a process
// with the same start time that is neither a zombie nor dead.
func (p ProcessStat) Running() bool {
	now, err := ReadProcessStat(p.PID)
	if err != nil {
		return false
	}
	return now.StartTime == p.StartTime && now.State != "Z" && now.State != "X"
}

func (p ProcessStat) String() string {
	return fmt.Sprintf("%s (pid %d, parent %d)", p.Comm, p.PID, p.PPID)
}
