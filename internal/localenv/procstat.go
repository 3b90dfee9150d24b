package localenv

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// ProcessMemory is a process's memory as /proc/PID/status reports it (Linux only), in bytes.
type ProcessMemory struct {
	// RSS is the resident set size (VmRSS): AnonRSS + FileRSS + shared memory.
	RSS int64
	// PeakRSS is the largest RSS the process has had (VmHWM).
	PeakRSS int64
	// AnonRSS is resident anonymous memory (RssAnon): the Go heap, stacks and runtime.
	AnonRSS int64
	// FileRSS is resident file-backed memory (RssFile), mostly the executable's pages.
	FileRSS int64
}

// ReadProcessMemory reads a process's memory from /proc/PID/status.
func ReadProcessMemory(pid int) (ProcessMemory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ProcessMemory{}, err
	}
	defer func() { _ = f.Close() }()
	var m ProcessMemory
	fields := map[string]*int64{"VmRSS": &m.RSS, "VmHWM": &m.PeakRSS, "RssAnon": &m.AnonRSS, "RssFile": &m.FileRSS}
	found := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		dst, wanted := fields[name]
		if !ok || !wanted {
			continue
		}
		v := strings.Fields(rest) // "123456 kB"
		if len(v) != 2 || v[1] != "kB" {
			return ProcessMemory{}, fmt.Errorf("/proc/%d/status: unexpected line %q", pid, sc.Text())
		}
		kb, err := strconv.ParseInt(v[0], 10, 64)
		if err != nil {
			return ProcessMemory{}, fmt.Errorf("/proc/%d/status: %w", pid, err)
		}
		*dst = kb * 1024
		found++
	}
	if err := sc.Err(); err != nil {
		return ProcessMemory{}, err
	}
	if m.RSS == 0 && found == 0 {
		return ProcessMemory{}, fmt.Errorf("/proc/%d/status has no VmRSS line", pid)
	}
	return m, nil
}

// ProcessRSS returns a process's resident set size in bytes (VmRSS).
func ProcessRSS(pid int) (int64, error) {
	m, err := ReadProcessMemory(pid)
	return m.RSS, err
}

// RSS returns the running manager's resident set size in bytes.
func (m *Manager) RSS() (int64, error) {
	mem, err := m.Memory()
	return mem.RSS, err
}

// Memory returns the running manager's memory.
func (m *Manager) Memory() (ProcessMemory, error) {
	pid := m.Pid()
	if pid == 0 {
		return ProcessMemory{}, fmt.Errorf("the manager is not running")
	}
	return ReadProcessMemory(pid)
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's CPU times: 100 on every Linux
// architecture Go supports.
const clockTicks = 100

// ProcessCPU returns the CPU time a process has used, user plus system (/proc/PID/stat fields
// utime and stime; Linux only).
func ProcessCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: fields are counted
	// from the last ')'.
	s := string(data)
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(s[end+1:])
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields)+2)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q, stime %q", pid, fields[11], fields[12])
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// CPU returns the CPU time the running manager has used.
func (m *Manager) CPU() (time.Duration, error) {
	pid := m.Pid()
	if pid == 0 {
		return 0, fmt.Errorf("the manager is not running")
	}
	return ProcessCPU(pid)
}
