// Package podnet gives each pod a network namespace joined to the node's
// bridge by a veth pair, an IP from the node's pod CIDR (the allocation
// persisted on disk, so that an agent restart keeps every pod's IP), and
// routes to the other nodes' pod CIDRs through their node IPs (host-gw).
//
// # Model
//
//	node netns (the host's; a kt-podnet-* namespace in tests)
//	  kelson0 (bridge, 10.244.1.1/24 = the CIDR's first address, the gateway)
//	    ├── veth1a2b3c4d ──────── eth0 10.244.1.2/24 in StateDir/netns/<uid A>
//	    │   (hairpin on)          lo up, default via 10.244.1.1
//	    └── veth5e6f7a8b ──────── eth0 10.244.1.3/24 in StateDir/netns/<uid B>
//	  10.244.2.0/24 via 192.168.1.12 proto 77   (SetRoutes: host-gw to node 2)
//	  net.ipv4.ip_forward = 1
//	StateDir/ipam/10.244.1.2   contains "<uid A>\n"
//	StateDir/ipam/10.244.1.3   contains "<uid B>\n"
//
// New makes the bridge side; Setup makes a pod's namespace, veth, address
// and route; Teardown undoes them; SetRoutes keeps the host-gw routes;
// Attached lists the UIDs with state on disk so the agent can tear down
// pods it no longer runs.
//
// # Invariants
//
//   - A pod's IP never changes while its IPAM file exists: Setup looks the
//     UID up first and only allocates for a UID with no address. The files
//     are created whole (temp file, fsync, link to the final name, which
//     fails if it exists) so a crash leaves an allocation or none, and two
//     claimers of one address cannot both win. Teardown frees the IP last,
//     once the veth and namespace are gone. Allocation goes round from the
//     last address handed out, so a freed address is not reused at once.
//   - The network address, the gateway (first) and the broadcast address
//     are never allocated. A full CIDR is ErrCIDRFull.
//   - MACs are set, not left to the kernel: the bridge's is BridgeMAC (so
//     the gateway's MAC does not follow the lowest port MAC as pods come
//     and go), a pod's eth0's is PodMAC(ip) (so a reused IP keeps its MAC
//     and no ARP cache on the bridge goes stale).
//   - The host veth's name is a pure function of the UID (HostVethName) and
//     its alias (IFLA_IFALIAS) is "kelson-pod:<uid>": a veth whose alias
//     names another UID (a hash collision) is never taken over or deleted.
//   - Setup is idempotent and repairs: each step checks what exists (a
//     namespace file that is not an nsfs mount is remounted with a new
//     namespace; a host veth not paired with the pod's eth0 is replaced; a
//     stray address on eth0 is removed), so calling it again after any
//     crash or outside damage converges to the model above.
//   - SetRoutes only reads, adds and deletes routes of its own protocol
//     number (Config.RouteProtocol, 77) in the main table.
//   - Work on one UID is serialized; different UIDs run in parallel.
//
// # Namespaces and threads
//
// Net never relies on the calling goroutine's network namespace after New:
// it captures the node's namespace once (Config.NetNS, or the calling
// thread's) and does every netlink call through a netlink.Handle bound to
// it, or to the pod's namespace (opened per Setup). The two things that
// need a thread inside a namespace, unshare(CLONE_NEWNET) for a new pod
// namespace and the per-namespace /proc/sys/net/ipv4/ip_forward write, run
// on a fresh goroutine that locks its OS thread and never unlocks it, so
// the runtime discards that thread afterwards. Goroutines do not inherit
// a locked thread's namespace; nothing here depends on them doing so.
//
// # Hairpin mode, and what the service proxy must add
//
// A pod reaching itself through a Service sends a frame to the gateway's
// MAC (the VIP is off-link); the node DNATs it to the pod's own IP. Does
// the rewritten packet leave through the bridge port it came in on?
//
//   - Without br_netfilter in the node's namespace, no: the frame is
//     delivered up to the node's IP stack, DNAT happens at IP prerouting,
//     the packet is routed out of kelson0 and the bridge transmits it from
//     the bridge device itself, which may go to any port. Hairpin mode is
//     not needed.
//   - With br_netfilter (bridge-nf-call-iptables=1, per namespace, and 1 by
//     default on these machines: the bridge has it built in), the IP hooks
//     run while the frame is being bridged; after DNAT the frame stays
//     bridged (the "bridged DNAT" path) and is forwarded with its ingress
//     port as the source port. A bridge never sends a frame back out its
//     ingress port unless that port is in hairpin mode, so without hairpin
//     the packet is dropped.
//
// So every pod port gets hairpin mode (Setup, and New for existing ports);
// it costs nothing when br_netfilter is off. TestHairpinService checks a
// pod reaching itself through a DNAT'd address with br_netfilter on and
// off; on this kernel turning hairpin off made the br_netfilter=1 case
// time out. Hairpin is not enough on its own: the proxy must also
// masquerade a flow whose source is its own DNAT target (pod to itself),
// or the pod answers itself over lo from its own IP rather than the VIP,
// and the connection never completes (measured: every case times out
// without that rule).
//
// # Example
//
//	n, err := podnet.New(ctx, podnet.Config{
//		PodCIDR:  netip.MustParsePrefix("10.244.1.0/24"),
//		StateDir: filepath.Join(dataDir, "podnet"),
//	})
//	att, err := n.Setup(ctx, podnet.PodRef{UID: pod.UID, Namespace: pod.Namespace, Name: pod.Name})
//	// containers join att.NetNSPath; the pod's status.podIP is att.IP
//	err = n.SetRoutes(ctx, []podnet.NodeRoute{{PodCIDR: cidr2, NodeIP: node2IP}})
//	err = n.Teardown(ctx, pod.UID)
//
// # Tests
//
// The root tests make one namespace per node (kt-podnet-<rand>), check it
// is neither the process's nor PID 1's, hand its path to Config.NetNS, and
// delete it at the end; nothing is sent before a route check shows every
// hop stays inside the test's namespaces (none of which has a default
// route).
package podnet
