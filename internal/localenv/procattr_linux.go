package localenv

import "syscall"

// sysProcAttr puts a child in its own process group and asks the kernel to SIGTERM it when
// the program that started it dies, so that a crashed demo or test leaves nothing behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
