package chaos

import "syscall"

// childAttr makes members die with the test process even when it cannot
// clean up (a -timeout panic, a SIGKILL): no stray members keep ports.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
