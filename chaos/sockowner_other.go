//go:build !linux

package chaos

import "net"

// socketOwner is unknown outside Linux: only faults on every link into a
// member (and the member's own proxy) apply.
func socketOwner(local, remote *net.TCPAddr, pids map[string]int) string { return "" }
