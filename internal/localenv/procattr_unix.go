//go:build unix && !linux

package localenv

import "syscall"

// sysProcAttr puts a child in its own process group, so that a Ctrl-C in the terminal reaches
// only the program that started it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
