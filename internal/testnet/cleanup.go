package testnet

import "github.com/kelson-dev/kelson/internal/netns"

// KillNetNS kills (SIGKILL) every process whose network namespace is one
// of the namespace files given, and returns how many it killed: see
// netns.KillNetNS. Tests that run containers call it at cleanup for the
// pods' namespaces, whose processes `ip netns delete` of the node's does
// not reach.
func KillNetNS(nsFiles ...string) int { return netns.KillNetNS(nsFiles...) }

// UnmountUnder detaches every mount at or below dir (deepest first), so
// that a test's temp dir holding a runtime's state (overlay snapshots,
// tmpfs volumes, netns bind mounts) can be removed.
func UnmountUnder(dir string) { netns.UnmountUnder(dir) }
