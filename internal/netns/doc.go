// Package netns makes and uses network namespaces, so that a program that
// runs nodes of a cluster on one machine (the pods benchmark, the tests
// through internal/testnet) never touches the host's interfaces, routes,
// sysctls or firewall, and never sends a packet out of the machine.
//
// # Model
//
// An NS is a namespace bound at /var/run/netns/NAME (what `ip netns add`
// makes); its creator deletes it. Processes run inside it through
// NS.Command (nsenter --net, which switches only the network namespace, so
// that the cgroup mounts runc needs stay visible). A socket is opened
// inside it with NS.Dial, on an OS thread switched into the namespace for
// the time of the dial.
//
// # Invariants
//
//   - Dial sends nothing unless RouteLocal says the address is routed
//     inside the namespace (a namespace made here has no link to the host,
//     so every route it has was made by its creator). A Dialer checks each
//     host once and remembers it.
//   - Nothing here changes the namespace of the calling thread for good:
//     a thread that cannot switch back is locked and discarded with its
//     goroutine.
//
// # Example
//
//	node, err := netns.New("kb-node")      // kb-node-1a2b3c, lo up
//	defer node.Delete()
//	lan, err := netns.New("kb-lan")
//	defer lan.Delete()
//	err = netns.Link(node, lan, "192.168.77.2/24", "192.168.77.1/24")
//	cmd := node.Command(ctx, "kelson", "server", ...) // runs inside node
//	conn, err := node.Dial(ctx, "tcp", "127.0.0.1:6443")
//
// At the end, KillNetNS kills what still runs in namespaces (a node's, the
// pods' it made), and UnmountUnder detaches the mounts a runtime left in a
// directory before it is removed.
package netns
