package proxy

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// Snapshot is everything Rules decides from: the node's view of the
// cluster's Services and EndpointSlices, and the node's own settings.
type Snapshot struct {
	// NodeIPs are the node's addresses NodePorts answer on (IPv4 only;
	// others are ignored).
	NodeIPs []netip.Addr
	// ClusterCIDR holds every pod IP of the cluster. When set, pod traffic
	// to addresses outside it (and outside ServiceCIDR) is masqueraded, and
	// so is traffic to a Service from outside it.
	ClusterCIDR netip.Prefix
	// ServiceCIDR holds the ClusterIPs; it is excluded from the pod egress
	// masquerade.
	ServiceCIDR netip.Prefix
	// DNS, when its ServiceIP is valid, sends ServiceIP:53 (udp and tcp)
	// to the node-local DNS server instead of the DNS Service's endpoints.
	DNS DNSRedirect

	Services []*corev1.Service
	Slices   []*discoveryv1.EndpointSlice
}

// DNSRedirect sends the cluster DNS Service's address to the agent's own
// DNS server on this node.
type DNSRedirect struct {
	// ServiceIP is the cluster DNS Service's ClusterIP (the nameserver in
	// pods' resolv.conf). The zero Addr disables the redirect.
	ServiceIP netip.Addr
	// Target is the node-local DNS server's address and port (port 0
	// means 53). It must be a non-loopback address of the node (e.g. the
	// pod bridge's gateway): pods cannot be DNATed to 127.0.0.1.
	Target netip.AddrPort
}

// Fixed chain and map names of the table.
const (
	chainNatPrerouting  = "nat-prerouting"
	chainNatOutput      = "nat-output"
	chainNatPostrouting = "nat-postrouting"
	chainFilterInput    = "filter-input"
	chainFilterForward  = "filter-forward"
	chainFilterOutput   = "filter-output"
	chainServices       = "services"
	chainEndpointsCheck = "endpoints-check"
	chainReject         = "reject"
	mapServiceIPs       = "service-ips"
	mapNoEndpoints      = "no-endpoints"
)

// defaultAffinityTimeout is Kubernetes' default ClientIP affinity timeout
// (3 hours).
const defaultAffinityTimeout = 10800 * time.Second

// Rules computes the table for a snapshot. It is pure and deterministic:
// the same snapshot gives the same Ruleset, whatever the order of its
// Services and Slices.
//
// Per Service port with endpoints it makes:
//
//	svc/<ns>/<name>/<proto>/<port>     ClusterIP traffic; picks an endpoint
//	nodeport/<ns>/<name>/<proto>/<port> NodePort traffic: marks, then svc/...
//	ep/<ns>/<name>/<proto>/<port>/<ip>/<port>  hairpin mark, affinity, DNAT
//
// and entries in the service-ips verdict map; a port without endpoints gets
// entries in no-endpoints instead, which the filter chains reject.
func Rules(s Snapshot) Ruleset {
	g := gen{snap: s, seen: map[DestKey]bool{}}
	g.fixed()
	svcs := append([]*corev1.Service(nil), s.Services...)
	sort.Slice(svcs, func(i, j int) bool {
		if svcs[i].Namespace != svcs[j].Namespace {
			return svcs[i].Namespace < svcs[j].Namespace
		}
		return svcs[i].Name < svcs[j].Name
	})
	slices := slicesByService(s.Slices)
	for _, svc := range svcs {
		g.service(svc, slices[svc.Namespace+"/"+svc.Name])
	}
	g.rs.Sets = append(g.rs.Sets,
		Set{Name: mapServiceIPs, Kind: DestVerdictMap, Elements: g.serviceIPs},
		Set{Name: mapNoEndpoints, Kind: DestVerdictMap, Elements: g.noEndpoints})
	g.rs.sort()
	return g.rs
}

type gen struct {
	snap        Snapshot
	rs          Ruleset
	serviceIPs  []DestElement
	noEndpoints []DestElement
	// seen guards against two entries for one key (the kernel refuses a
	// batch with duplicate map keys): the first Service in name order wins.
	seen map[DestKey]bool
}

func (g *gen) fixed() {
	s := g.snap
	hook := func(typ, h string, prio int32) *Hook { return &Hook{Type: typ, Hook: h, Priority: prio} }
	jump := func(c string) Rule { return Rule{Verdict{Kind: Jump, Chain: c}} }
	g.rs.Chains = append(g.rs.Chains,
		Chain{Name: chainNatPrerouting, Hook: hook("nat", "prerouting", -100), Rules: []Rule{jump(chainServices)}},
		Chain{Name: chainNatOutput, Hook: hook("nat", "output", -100), Rules: []Rule{jump(chainServices)}},
		Chain{Name: chainFilterInput, Hook: hook("filter", "input", 0), Rules: []Rule{jump(chainEndpointsCheck)}},
		Chain{Name: chainFilterForward, Hook: hook("filter", "forward", 0), Rules: []Rule{jump(chainEndpointsCheck)}},
		Chain{Name: chainFilterOutput, Hook: hook("filter", "output", 0), Rules: []Rule{jump(chainEndpointsCheck)}},
		Chain{Name: chainEndpointsCheck, Rules: []Rule{{DestVmap{Map: mapNoEndpoints}}}},
		Chain{Name: chainReject, Rules: []Rule{
			{MatchProto{TCP}, Reject{TCPReset: true}},
			{Reject{}},
		}},
	)

	var services []Rule
	if s.DNS.ServiceIP.Is4() && s.DNS.Target.Addr().Is4() {
		port := s.DNS.Target.Port()
		if port == 0 {
			port = 53
		}
		for _, p := range []Proto{UDP, TCP} {
			services = append(services, Rule{
				MatchAddr{Field: Daddr, Prefix: netip.PrefixFrom(s.DNS.ServiceIP, 32)},
				MatchProto{p}, MatchPort{53},
				DNAT{Addr: s.DNS.Target.Addr(), Port: port},
			})
		}
	}
	services = append(services, Rule{DestVmap{Map: mapServiceIPs}})
	g.rs.Chains = append(g.rs.Chains, Chain{Name: chainServices, Rules: services})

	post := []Rule{{MatchMark{MasqueradeMark}, SetMark{Bit: MasqueradeMark, Clear: true}, Masquerade{}}}
	if cc := s.ClusterCIDR.Masked(); cc.IsValid() && cc.Addr().Is4() {
		r := Rule{MatchAddr{Field: Saddr, Prefix: cc}, MatchAddr{Field: Daddr, Neg: true, Prefix: cc}}
		if sc := s.ServiceCIDR.Masked(); sc.IsValid() && sc.Addr().Is4() {
			r = append(r, MatchAddr{Field: Daddr, Neg: true, Prefix: sc})
		}
		post = append(post, append(r, Masquerade{}))
	}
	g.rs.Chains = append(g.rs.Chains, Chain{Name: chainNatPostrouting, Hook: hook("nat", "postrouting", 100), Rules: post})
}

// Endpoint is one backend of a Service port.
type Endpoint struct {
	Addr netip.Addr
	Port uint16
}

func (g *gen) add(list *[]DestElement, k DestKey, chain string) {
	if g.seen[k] {
		return
	}
	g.seen[k] = true
	*list = append(*list, DestElement{Key: k, Chain: chain})
}

func (g *gen) service(svc *corev1.Service, slices []*discoveryv1.EndpointSlice) {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return
	}
	clusterIP, err := netip.ParseAddr(svc.Spec.ClusterIP)
	if err != nil || !clusterIP.Is4() {
		return // headless ("None"), unset or IPv6: nothing to program
	}
	withNodePorts := svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer
	var affinity time.Duration
	if svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		affinity = defaultAffinityTimeout
		if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil && *c.ClientIP.TimeoutSeconds > 0 {
			affinity = time.Duration(*c.ClientIP.TimeoutSeconds) * time.Second
		}
	}
	for _, sp := range svc.Spec.Ports {
		var proto Proto
		switch sp.Protocol {
		case corev1.ProtocolTCP, "":
			proto = TCP
		case corev1.ProtocolUDP:
			proto = UDP
		default:
			continue // SCTP is not supported
		}
		if sp.Port <= 0 || sp.Port > 65535 {
			continue
		}
		portID := sp.Name
		if portID == "" {
			portID = strconv.Itoa(int(sp.Port))
		}
		base := fmt.Sprintf("%s/%s/%s/%s", svc.Namespace, svc.Name, proto, portID)
		clusterKey := DestKey{Addr: clusterIP, Proto: proto, Port: uint16(sp.Port)}
		if g.seen[clusterKey] {
			continue // an earlier Service (by namespace/name) has this address and port
		}
		var nodeKeys []DestKey
		if withNodePorts && sp.NodePort > 0 && sp.NodePort <= 65535 {
			for _, ip := range g.snap.NodeIPs {
				if ip.Is4() {
					nodeKeys = append(nodeKeys, DestKey{Addr: ip, Proto: proto, Port: uint16(sp.NodePort)})
				}
			}
		}

		eps := SelectEndpoints(slices, sp.Name, sp.Protocol)
		if len(eps) == 0 {
			g.add(&g.noEndpoints, clusterKey, chainReject)
			for _, k := range nodeKeys {
				g.add(&g.noEndpoints, k, chainReject)
			}
			continue
		}

		svcChain := "svc/" + base
		var svcRules []Rule
		if cc := g.snap.ClusterCIDR.Masked(); cc.IsValid() && cc.Addr().Is4() {
			svcRules = append(svcRules, Rule{MatchAddr{Field: Saddr, Neg: true, Prefix: cc}, SetMark{Bit: MasqueradeMark}})
		}
		epChains := make([]string, len(eps))
		for i, ep := range eps {
			suffix := fmt.Sprintf("%s/%s/%d", base, ep.Addr, ep.Port)
			epChains[i] = "ep/" + suffix
			var rules []Rule
			rules = append(rules, Rule{MatchAddr{Field: Saddr, Prefix: netip.PrefixFrom(ep.Addr, 32)}, SetMark{Bit: MasqueradeMark}})
			if affinity > 0 {
				set := "aff/" + suffix
				g.rs.Sets = append(g.rs.Sets, Set{Name: set, Kind: AffinitySet, Timeout: affinity})
				svcRules = append(svcRules, Rule{MatchSaddrInSet{Set: set}, Verdict{Kind: Goto, Chain: epChains[i]}})
				rules = append(rules, Rule{UpdateSaddr{Set: set, Timeout: affinity}})
			}
			rules = append(rules, Rule{MatchProto{proto}, DNAT{Addr: ep.Addr, Port: ep.Port}})
			g.rs.Chains = append(g.rs.Chains, Chain{Name: epChains[i], Rules: rules})
		}
		svcRules = append(svcRules, Rule{RandomVmap{Chains: epChains}})
		g.rs.Chains = append(g.rs.Chains, Chain{Name: svcChain, Rules: svcRules})
		g.add(&g.serviceIPs, clusterKey, svcChain)
		if len(nodeKeys) > 0 {
			npChain := "nodeport/" + base
			g.rs.Chains = append(g.rs.Chains, Chain{Name: npChain, Rules: []Rule{
				{SetMark{Bit: MasqueradeMark}},
				{Verdict{Kind: Goto, Chain: svcChain}},
			}})
			for _, k := range nodeKeys {
				g.add(&g.serviceIPs, k, npChain)
			}
		}
	}
}

func slicesByService(slices []*discoveryv1.EndpointSlice) map[string][]*discoveryv1.EndpointSlice {
	m := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range slices {
		name := s.Labels[discoveryv1.LabelServiceName]
		if name == "" {
			continue
		}
		k := s.Namespace + "/" + name
		m[k] = append(m[k], s)
	}
	return m
}

// SelectEndpoints returns the endpoints of a Service port (matched by
// port name and protocol) as kube-proxy chooses them: the ready ones; if
// none is ready, the serving and terminating ones (so a rolling update's
// last pods keep answering); sorted by address, without duplicates. Only
// IPv4 slices count; an endpoint's first address is used.
func SelectEndpoints(slices []*discoveryv1.EndpointSlice, portName string, proto corev1.Protocol) []Endpoint {
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	var ready, terminating []Endpoint
	seenR, seenT := map[Endpoint]bool{}, map[Endpoint]bool{}
	for _, sl := range slices {
		if sl == nil || sl.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		port, ok := slicePort(sl, portName, proto)
		if !ok {
			continue
		}
		for _, e := range sl.Endpoints {
			if len(e.Addresses) == 0 {
				continue
			}
			a, err := netip.ParseAddr(e.Addresses[0])
			if err != nil || !a.Is4() {
				continue
			}
			ep := Endpoint{Addr: a, Port: port}
			isReady := e.Conditions.Ready == nil || *e.Conditions.Ready
			serving := isReady
			if e.Conditions.Serving != nil {
				serving = *e.Conditions.Serving
			}
			isTerminating := e.Conditions.Terminating != nil && *e.Conditions.Terminating
			switch {
			case isReady && !isTerminating:
				if !seenR[ep] {
					seenR[ep] = true
					ready = append(ready, ep)
				}
			case serving && isTerminating:
				if !seenT[ep] {
					seenT[ep] = true
					terminating = append(terminating, ep)
				}
			}
		}
	}
	out := ready
	if len(out) == 0 {
		out = terminating
	}
	sort.Slice(out, func(i, j int) bool {
		if c := out[i].Addr.Compare(out[j].Addr); c != 0 {
			return c < 0
		}
		return out[i].Port < out[j].Port
	})
	return out
}

func slicePort(sl *discoveryv1.EndpointSlice, name string, proto corev1.Protocol) (uint16, bool) {
	for _, p := range sl.Ports {
		pn := ""
		if p.Name != nil {
			pn = *p.Name
		}
		pp := corev1.ProtocolTCP
		if p.Protocol != nil {
			pp = *p.Protocol
		}
		if pn != name || pp != proto || p.Port == nil || *p.Port <= 0 || *p.Port > 65535 {
			continue
		}
		return uint16(*p.Port), true
	}
	return 0, false
}
