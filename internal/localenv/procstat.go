package localenv

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ProcessRSS returns a process's resident set size in bytes (VmRSS in /proc/PID/status, so
// Linux only).
func ProcessRSS(pid int) (int64, error) { return procStatusKB(pid, "VmRSS") }

// ProcessPeakRSS returns the largest resident set size a process has had, in bytes (VmHWM).
func ProcessPeakRSS(pid int) (int64, error) { return procStatusKB(pid, "VmHWM") }

// procStatusKB reads a "NAME:  123 kB" line of /proc/PID/status, in bytes.
func procStatusKB(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), field+":")
		if !ok {
			continue
		}
		fields := strings.Fields(rest) // "123456 kB"
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("/proc/%d/status: unexpected %s line %q", pid, field, sc.Text())
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/status: %w", pid, err)
		}
		return kb * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s line", pid, field)
}

// RSS returns the running manager's resident set size in bytes.
func (m *Manager) RSS() (int64, error) {
	pid := m.Pid()
	if pid == 0 {
		return 0, fmt.Errorf("the manager is not running")
	}
	return ProcessRSS(pid)
}
