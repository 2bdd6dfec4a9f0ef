// Package testnet gives tests their own network namespaces: a "node" is a
// netns the test made (ip netns add), joined to other nodes by veth pairs
// the test made, so that nothing a test does touches the host's
// interfaces, routes, sysctls or firewall, and no packet leaves the
// machine. A test reaches a server listening inside a namespace through
// NS.Dial (a socket opened from inside the namespace), and checks with
// NS.RouteLocal that an address is reachable inside its namespaces before
// it sends the first packet there.
//
// The namespaces themselves are package netns's (which the pods benchmark
// uses too); this package ties them to a test: skip when they cannot be
// made, fail on errors, delete at cleanup.
//
//	a := testnet.New(t, "e2e")            // kt-e2e-1a2b3c, lo up, deleted at cleanup
//	b := testnet.New(t, "e2e")
//	testnet.Link(t, a, b, "192.168.77.1/24", "192.168.77.2/24")
//	cmd := a.Command("kelson", "server", ...) // runs inside a
//	conn, _ := a.Dial(ctx, "tcp", "127.0.0.1:6443")
package testnet
