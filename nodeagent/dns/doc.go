// Package dns is Kelson's cluster DNS: a small server (github.com/miekg/dns)
// answering the cluster domain from Services and EndpointSlices, and
// forwarding other names to the node's upstream resolvers.
//
// # Model
//
// Build(domain, ttl, services, slices) *Table is pure: the snapshot gives
// every record (see Build for the list: A for ClusterIPs and for headless
// Services' ready endpoints, CNAME for ExternalName, SRV per named port,
// PTR for ClusterIPs). Table.Lookup answers one question; pod names
// (a-b-c-d.<ns>.pod.<domain>) are computed from the name, as CoreDNS's
// "pods insecure" mode does. The Server is the thin loop: informers
// rebuild the table (at most every 50 ms) and swap it atomically; the UDP
// and TCP handlers read the current one.
//
// # Invariants
//
//   - Inside the cluster domain the server is authoritative: a name with
//     records of other types, or an empty non-terminal such as
//     <ns>.svc.<domain>, is NOERROR without answers; any other name is
//     NXDOMAIN. Names are case-insensitive.
//   - Outside it, queries go to the upstreams of Config.Upstreams (a
//     resolv.conf), over the transport the client used; with none
//     configured the answer is REFUSED, and SERVFAIL when all fail.
//   - IPv4 only (AAAA queries for cluster names are NODATA).
//   - UDP answers are truncated to the client's EDNS0 size (512 without).
//
// # Example
//
//	s := dns.New(client, dns.Config{Listen: "10.244.0.1:53", Upstreams: "/etc/resolv.conf"})
//	err := s.Run(ctx)
//	// pods use nameserver <the DNS Service's ClusterIP>, which the proxy
//	// redirects to 10.244.0.1:53 (proxy.DNSRedirect).
package dns
