// Package proxy is Kelson's kube-proxy: it programs Services (ClusterIP and
// NodePort, TCP and UDP) as one nftables table, "kelson" (family ip), from
// the cluster's Services and EndpointSlices. IPv4 only: IPv6 Services,
// slices and node addresses are ignored.
//
// # Model
//
// Rules(Snapshot) Ruleset is the whole decision, pure and deterministic:
// the snapshot (Services, EndpointSlices, node IPs, cluster and service
// CIDRs, the DNS redirect) gives the complete content of the table, as
// data (chains of statements, maps, sets) with a readable rendering
// (Ruleset.String; see testdata/rules). Table.Apply writes a Ruleset in
// one netlink batch, which the kernel commits as one transaction; the
// Proxier runs informers and re-applies at most every MinSyncInterval
// (100 ms) after a change and at least every MaxSyncInterval (30 s).
//
// Packet path (priorities as iptables-era kube-proxy):
//
//	nat prerouting/output (-100) -> services:
//	    DNS redirect: ServiceIP:53 udp/tcp -> dnat to the node-local DNS server
//	    ip daddr . l4proto . dport vmap @service-ips
//	        ClusterIP:port        -> goto svc/<ns>/<name>/<proto>/<port>
//	        NodeIP:nodePort       -> goto nodeport/... (mark) -> goto svc/...
//	svc/...: mark if from outside the cluster CIDR; affinity sets first;
//	    numgen random mod N vmap { i : goto ep/.../<ip>/<port> }
//	ep/...: mark if the client is the endpoint (hairpin); update the
//	    affinity set; dnat to ip:port
//	filter input/forward/output (0) -> endpoints-check:
//	    ip daddr . l4proto . dport vmap @no-endpoints -> reject
//	    (TCP reset, ICMP port unreachable otherwise): a Service without
//	    endpoints refuses instead of black-holing
//	nat postrouting (100): marked (0x4000) -> masquerade; pod traffic from
//	    the cluster CIDR to outside it and the service CIDR -> masquerade
//
// Endpoints of a Service port are those of its slices' port with the same
// name and protocol: the ready ones, or, when none is ready, the serving
// terminating ones (as kube-proxy does).
//
// # Invariants
//
//   - Only the "kelson" table of family ip is read or written; Cleanup
//     deletes it and nothing else.
//   - Apply replaces the table atomically: rules are flushed, stale chains
//     and sets deleted and everything re-added in the same batch. Affinity
//     sets that survive (same name and timeout) keep their elements, so a
//     client stays with its endpoint across updates and resyncs.
//   - Two Service ports claiming the same address, protocol and port: the
//     first by namespace/name wins (the kernel refuses duplicate keys).
//
// # Requirements on the node's network
//
// Pods on a bridge need bridge-nf-call-iptables (br_netfilter) so that a
// reply bridged from one pod to another meets conntrack, and hairpin mode
// on each pod's bridge port so that a pod reaching itself through its
// Service gets its packet back. The ClusterIP range needs a route on the
// node (any device) so that locally generated packets reach the output
// hook.
//
// # Not done
//
// UDP conntrack entries towards removed endpoints are not flushed (a UDP
// "flow" keeps its old endpoint until it idles out); externalTrafficPolicy
// and internalTrafficPolicy Local, LoadBalancer ingress IPs, externalIPs,
// SCTP and IPv6 are not implemented.
//
// # Example
//
//	p := proxy.New(client, proxy.Config{
//		NodeIPs:     []netip.Addr{netip.MustParseAddr("192.168.1.10")},
//		ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16"),
//		ServiceCIDR: netip.MustParsePrefix("10.96.0.0/12"),
//		DNS: proxy.DNSRedirect{ServiceIP: netip.MustParseAddr("10.96.0.10"),
//			Target: netip.MustParseAddrPort("10.244.0.1:53")},
//	})
//	err := p.Run(ctx) // until ctx ends; p.Cleanup() removes the table
package proxy
