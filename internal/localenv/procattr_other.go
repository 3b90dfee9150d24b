//go:build !unix

package localenv

import "syscall"

// sysProcAttr has nothing to set outside Unix.
func sysProcAttr() *syscall.SysProcAttr { return nil }
