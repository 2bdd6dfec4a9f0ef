//go:build !linux

package e2e

import "syscall"

// childAttr: outside Linux there is no parent-death signal; t.Cleanup
// kills the children.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
