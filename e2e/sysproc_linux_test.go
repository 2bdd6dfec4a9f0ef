package e2e

import "syscall"

// childAttr makes children die with the test binary even when it cannot
// clean up (go test's -timeout panics, a SIGKILL): no stray members keep
// ports and data directories.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
