package dns

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// Table is the cluster's DNS records for one snapshot. It is immutable
// once built and safe for concurrent lookups.
type Table struct {
	domain string // lower case, fully qualified: "cluster.local."
	ttl    uint32
	// records by owner name (lower case, fully qualified).
	records map[string][]mdns.RR
	// names are the owner names and every ancestor of them inside the
	// domain: a query for one of them without records is NODATA, not
	// NXDOMAIN.
	names map[string]bool
}

// Build makes the table for a snapshot of Services and EndpointSlices.
// domain is the cluster domain ("cluster.local" when empty), ttl the TTL
// of every answer. It is pure and deterministic.
//
// Records, for a Service svc in namespace ns (Z = svc.ns.svc.<domain>):
//
//	Z A                      the ClusterIP; for a headless Service the
//	                         ready endpoints' addresses
//	Z CNAME                  the externalName of an ExternalName Service
//	_port._proto.Z SRV       per named port: 0 weight port Z (ClusterIP), or
//	                         one per ready endpoint (headless), whose target
//	                         <hostname or a-b-c-d>.Z has an A record
//	d.c.b.a.in-addr.arpa PTR Z for each ClusterIP a.b.c.d
//
// Pod names (a-b-c-d.ns.pod.<domain>) are answered by Lookup without a
// table entry.
func Build(domain string, ttl uint32, svcs []*corev1.Service, slices []*discoveryv1.EndpointSlice) *Table {
	if domain == "" {
		domain = "cluster.local"
	}
	t := &Table{domain: mdns.Fqdn(strings.ToLower(domain)), ttl: ttl, records: map[string][]mdns.RR{}, names: map[string]bool{}}
	bySvc := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range slices {
		if n := s.Labels[discoveryv1.LabelServiceName]; n != "" && s.AddressType == discoveryv1.AddressTypeIPv4 {
			bySvc[s.Namespace+"/"+n] = append(bySvc[s.Namespace+"/"+n], s)
		}
	}
	for _, svc := range svcs {
		t.service(svc, bySvc[svc.Namespace+"/"+svc.Name])
	}
	for name, rrs := range t.records {
		sort.SliceStable(rrs, func(i, j int) bool { return rrs[i].String() < rrs[j].String() })
		t.records[name] = dedupe(rrs)
	}
	return t
}

func dedupe(rrs []mdns.RR) []mdns.RR {
	out := rrs[:0]
	for i, rr := range rrs {
		if i > 0 && rr.String() == rrs[i-1].String() {
			continue
		}
		out = append(out, rr)
	}
	return out
}

func (t *Table) hdr(name string, typ uint16) mdns.RR_Header {
	return mdns.RR_Header{Name: name, Rrtype: typ, Class: mdns.ClassINET, Ttl: t.ttl}
}

func (t *Table) add(rr mdns.RR) {
	name := rr.Header().Name
	t.records[name] = append(t.records[name], rr)
	for n := name; mdns.IsSubDomain(t.domain, n); {
		t.names[n] = true
		i, end := mdns.NextLabel(n, 0)
		if end {
			break
		}
		n = n[i:]
	}
}

func (t *Table) a(name string, ip netip.Addr) {
	r := &mdns.A{Hdr: t.hdr(name, mdns.TypeA), A: ip.AsSlice()}
	t.add(r)
}

func (t *Table) service(svc *corev1.Service, slices []*discoveryv1.EndpointSlice) {
	zone := strings.ToLower(svc.Name + "." + svc.Namespace + ".svc." + t.domain)
	if _, ok := mdns.IsDomainName(zone); !ok {
		return
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		if svc.Spec.ExternalName != "" {
			if _, ok := mdns.IsDomainName(svc.Spec.ExternalName); ok {
				t.add(&mdns.CNAME{Hdr: t.hdr(zone, mdns.TypeCNAME), Target: mdns.Fqdn(strings.ToLower(svc.Spec.ExternalName))})
			}
		}
		return
	}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		t.headless(zone, svc, slices)
		return
	}
	ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
	if err != nil || !ip.Is4() {
		return
	}
	t.a(zone, ip)
	if rev, err := mdns.ReverseAddr(ip.String()); err == nil {
		t.add(&mdns.PTR{Hdr: t.hdr(rev, mdns.TypePTR), Ptr: zone})
	}
	for _, p := range svc.Spec.Ports {
		if p.Name == "" || p.Port <= 0 || p.Port > 65535 {
			continue
		}
		t.add(&mdns.SRV{Hdr: t.hdr(srvName(p.Name, p.Protocol, zone), mdns.TypeSRV), Priority: 0, Weight: 100, Port: uint16(p.Port), Target: zone})
	}
}

func srvName(port string, proto corev1.Protocol, zone string) string {
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	return strings.ToLower("_" + port + "._" + string(proto) + "." + zone)
}

// headless adds the ready endpoints: A records on the Service's name and
// on each endpoint's own name, and SRV records per named port.
func (t *Table) headless(zone string, svc *corev1.Service, slices []*discoveryv1.EndpointSlice) {
	for _, sl := range slices {
		for _, e := range sl.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			if len(e.Addresses) == 0 {
				continue
			}
			ip, err := netip.ParseAddr(e.Addresses[0])
			if err != nil || !ip.Is4() {
				continue
			}
			label := strings.ReplaceAll(ip.String(), ".", "-")
			if e.Hostname != nil && *e.Hostname != "" {
				label = strings.ToLower(*e.Hostname)
			}
			target := label + "." + zone
			if _, ok := mdns.IsDomainName(target); !ok {
				continue
			}
			t.a(zone, ip)
			t.a(target, ip)
			for _, p := range sl.Ports {
				if p.Name == nil || *p.Name == "" || p.Port == nil || *p.Port <= 0 || *p.Port > 65535 {
					continue
				}
				proto := corev1.ProtocolTCP
				if p.Protocol != nil {
					proto = *p.Protocol
				}
				t.add(&mdns.SRV{Hdr: t.hdr(srvName(*p.Name, proto, zone), mdns.TypeSRV), Priority: 0, Weight: 100, Port: uint16(*p.Port), Target: target})
			}
		}
	}
}

// Result is the outcome of a Lookup.
type Result struct {
	// InZone is false for names the table is not authoritative for (to be
	// forwarded upstream).
	InZone bool
	Rcode  int
	Answer []mdns.RR
	// Extra holds the A records of SRV targets.
	Extra []mdns.RR
}

// Lookup answers one question from the table. Names under the cluster
// domain get NOERROR with answers, NOERROR without (the name exists with
// other types), or NXDOMAIN. Reverse names of ClusterIPs are answered;
// other names, other reverse names included, are not InZone.
func (t *Table) Lookup(q mdns.Question) Result {
	name := strings.ToLower(mdns.Fqdn(q.Name))
	if q.Qclass != mdns.ClassINET && q.Qclass != mdns.ClassANY {
		return Result{}
	}
	if !mdns.IsSubDomain(t.domain, name) {
		if strings.HasSuffix(name, ".in-addr.arpa.") {
			if rrs, ok := t.records[name]; ok {
				return Result{InZone: true, Answer: match(rrs, q.Qtype)}
			}
		}
		return Result{}
	}
	rrs, ok := t.records[name]
	if !ok {
		if ip, ok := t.podAddr(name); ok {
			rrs = []mdns.RR{&mdns.A{Hdr: t.hdr(name, mdns.TypeA), A: ip.AsSlice()}}
		} else if t.names[name] {
			return Result{InZone: true}
		} else {
			return Result{InZone: true, Rcode: mdns.RcodeNameError}
		}
	}
	res := Result{InZone: true, Answer: match(rrs, q.Qtype)}
	if len(res.Answer) == 0 {
		// A CNAME answers every type (the resolver follows it).
		for _, rr := range rrs {
			if rr.Header().Rrtype == mdns.TypeCNAME {
				res.Answer = []mdns.RR{rr}
			}
		}
	}
	for _, rr := range res.Answer {
		if srv, ok := rr.(*mdns.SRV); ok {
			res.Extra = append(res.Extra, match(t.records[srv.Target], mdns.TypeA)...)
		}
	}
	return res
}

func match(rrs []mdns.RR, qtype uint16) []mdns.RR {
	var out []mdns.RR
	for _, rr := range rrs {
		if qtype == mdns.TypeANY || rr.Header().Rrtype == qtype {
			out = append(out, rr)
		}
	}
	return out
}

// podAddr parses a-b-c-d.<ns>.pod.<domain>.
func (t *Table) podAddr(name string) (netip.Addr, bool) {
	rest := strings.TrimSuffix(name, "."+t.domain)
	labels := strings.Split(rest, ".")
	if len(labels) != 3 || labels[2] != "pod" || labels[1] == "" {
		return netip.Addr{}, false
	}
	parts := strings.Split(labels[0], "-")
	if len(parts) != 4 {
		return netip.Addr{}, false
	}
	var b [4]byte
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 10, 8)
		if err != nil || (len(p) > 1 && p[0] == '0') {
			return netip.Addr{}, false
		}
		b[i] = byte(v)
	}
	return netip.AddrFrom4(b), true
}
