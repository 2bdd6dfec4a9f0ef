package proxy

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// TableName is the one nftables table (family ip) the proxy owns. Nothing
// outside it is ever read or written.
const TableName = "kelson"

// MasqueradeMark is the packet mark bit set on connections that must be
// masqueraded on their way out (hairpin and NodePort traffic, and traffic
// to a ClusterIP from outside the cluster CIDR).
const MasqueradeMark uint32 = 0x4000

// Ruleset is the whole content of the "kelson" table: what Rules decides
// and what the applier writes in one netlink batch. Chains and Sets are
// sorted by name; String renders it as readable nft-like text.
type Ruleset struct {
	Chains []Chain
	Sets   []Set
}

// Hook makes a chain a base chain attached to a netfilter hook.
type Hook struct {
	// Type is "nat" or "filter".
	Type string
	// Hook is "prerouting", "input", "forward", "output" or "postrouting".
	Hook     string
	Priority int32
}

// Chain is a chain of the table; Hook is nil for a regular chain reached
// by jump, goto or a verdict map.
type Chain struct {
	Name  string
	Hook  *Hook
	Rules []Rule
}

// Rule is a list of statements evaluated in order, as in nft: matches
// first, then actions and at most one verdict.
type Rule []Stmt

// SetKind says what a named set holds.
type SetKind int

const (
	// DestVerdictMap maps ip daddr . meta l4proto . th dport to a verdict.
	DestVerdictMap SetKind = iota
	// AffinitySet holds client IPv4 addresses with a timeout (dynamic,
	// updated from the packet path).
	AffinitySet
)

// Set is a named set or map of the table.
type Set struct {
	Name string
	Kind SetKind
	// Timeout of an AffinitySet's elements.
	Timeout time.Duration
	// Elements of a DestVerdictMap, sorted by key.
	Elements []DestElement
}

// DestKey is a destination: address, IP protocol and port.
type DestKey struct {
	Addr  netip.Addr
	Proto Proto
	Port  uint16
}

func (k DestKey) String() string {
	return fmt.Sprintf("%s . %s . %d", k.Addr, k.Proto, k.Port)
}

func (k DestKey) less(o DestKey) bool {
	if c := k.Addr.Compare(o.Addr); c != 0 {
		return c < 0
	}
	if k.Proto != o.Proto {
		return k.Proto < o.Proto
	}
	return k.Port < o.Port
}

// DestElement maps a destination to "goto Chain".
type DestElement struct {
	Key   DestKey
	Chain string
}

// Proto is an IP protocol number (6 tcp, 17 udp).
type Proto uint8

const (
	TCP Proto = 6
	UDP Proto = 17
)

func (p Proto) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	}
	return fmt.Sprintf("proto-%d", uint8(p))
}

// Stmt is one statement of a rule. The concrete types below are the
// whole vocabulary the proxy uses.
type Stmt interface {
	String() string
	stmt()
}

// AddrField selects the source or destination address of the IPv4 header.
type AddrField int

const (
	Saddr AddrField = iota
	Daddr
)

func (f AddrField) String() string {
	if f == Saddr {
		return "ip saddr"
	}
	return "ip daddr"
}

// MatchAddr matches an address field against a prefix (a /32 is one
// address); Neg inverts the match.
type MatchAddr struct {
	Field  AddrField
	Neg    bool
	Prefix netip.Prefix
}

// MatchProto matches meta l4proto.
type MatchProto struct{ Proto Proto }

// MatchPort matches the transport header's destination port.
type MatchPort struct{ Port uint16 }

// MatchMark matches packets whose mark has Bit set.
type MatchMark struct{ Bit uint32 }

// MatchSaddrInSet matches ip saddr against a named set.
type MatchSaddrInSet struct{ Set string }

// SetMark sets (or, with Clear, clears) Bit in the packet mark.
type SetMark struct {
	Bit   uint32
	Clear bool
}

// DestVmap looks ip daddr . meta l4proto . th dport up in a named verdict
// map.
type DestVmap struct{ Map string }

// RandomVmap picks one of Chains uniformly (numgen random mod N) and goes
// to it.
type RandomVmap struct{ Chains []string }

// DNAT rewrites the destination to Addr:Port.
type DNAT struct {
	Addr netip.Addr
	Port uint16
}

// UpdateSaddr adds ip saddr to a dynamic set, or refreshes its timeout.
type UpdateSaddr struct {
	Set     string
	Timeout time.Duration
}

// Masquerade source-NATs to the outgoing interface's address.
type Masquerade struct{}

// Reject answers with a TCP reset (TCPReset) or an ICMP port unreachable.
type Reject struct{ TCPReset bool }

// VerdictKind is jump, goto or return.
type VerdictKind int

const (
	Jump VerdictKind = iota
	Goto
	Return
)

// Verdict ends the rule's evaluation with jump/goto Chain or return.
type Verdict struct {
	Kind  VerdictKind
	Chain string
}

func (MatchAddr) stmt()       {}
func (MatchProto) stmt()      {}
func (MatchPort) stmt()       {}
func (MatchMark) stmt()       {}
func (MatchSaddrInSet) stmt() {}
func (SetMark) stmt()         {}
func (DestVmap) stmt()        {}
func (RandomVmap) stmt()      {}
func (DNAT) stmt()            {}
func (UpdateSaddr) stmt()     {}
func (Masquerade) stmt()      {}
func (Reject) stmt()          {}
func (Verdict) stmt()         {}

func (m MatchAddr) String() string {
	op := ""
	if m.Neg {
		op = "!= "
	}
	if m.Prefix.IsSingleIP() {
		return fmt.Sprintf("%s %s%s", m.Field, op, m.Prefix.Addr())
	}
	return fmt.Sprintf("%s %s%s", m.Field, op, m.Prefix)
}
func (m MatchProto) String() string      { return "meta l4proto " + m.Proto.String() }
func (m MatchPort) String() string       { return fmt.Sprintf("th dport %d", m.Port) }
func (m MatchMark) String() string       { return fmt.Sprintf("meta mark & %#x == %#x", m.Bit, m.Bit) }
func (m MatchSaddrInSet) String() string { return "ip saddr @" + m.Set }
func (m SetMark) String() string {
	if m.Clear {
		return fmt.Sprintf("meta mark set mark & %#x", ^m.Bit)
	}
	return fmt.Sprintf("meta mark set mark | %#x", m.Bit)
}
func (m DestVmap) String() string { return "ip daddr . meta l4proto . th dport vmap @" + m.Map }
func (m RandomVmap) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "numgen random mod %d vmap {", len(m.Chains))
	for i, c := range m.Chains {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, " %d : goto %s", i, c)
	}
	b.WriteString(" }")
	return b.String()
}
func (m DNAT) String() string { return fmt.Sprintf("dnat to %s:%d", m.Addr, m.Port) }
func (m UpdateSaddr) String() string {
	return fmt.Sprintf("update @%s { ip saddr timeout %s }", m.Set, m.Timeout)
}
func (Masquerade) String() string { return "masquerade" }
func (m Reject) String() string {
	if m.TCPReset {
		return "reject with tcp reset"
	}
	return "reject with icmp port-unreachable"
}
func (m Verdict) String() string {
	switch m.Kind {
	case Jump:
		return "jump " + m.Chain
	case Goto:
		return "goto " + m.Chain
	}
	return "return"
}

func (r Rule) String() string {
	parts := make([]string, len(r))
	for i, s := range r {
		parts[i] = s.String()
	}
	return strings.Join(parts, " ")
}

// String renders the ruleset as nft-like text, one rule a line, sets
// first then chains, both by name.
func (rs Ruleset) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table ip %s\n", TableName)
	for _, s := range rs.Sets {
		switch s.Kind {
		case DestVerdictMap:
			fmt.Fprintf(&b, "  map %s { ipv4_addr . inet_proto . inet_service : verdict }\n", s.Name)
			for _, e := range s.Elements {
				fmt.Fprintf(&b, "    %s : goto %s\n", e.Key, e.Chain)
			}
		case AffinitySet:
			fmt.Fprintf(&b, "  set %s { ipv4_addr; dynamic, timeout %s }\n", s.Name, s.Timeout)
		}
	}
	for _, c := range rs.Chains {
		fmt.Fprintf(&b, "  chain %s", c.Name)
		if c.Hook != nil {
			fmt.Fprintf(&b, " { type %s hook %s priority %d }", c.Hook.Type, c.Hook.Hook, c.Hook.Priority)
		}
		b.WriteString("\n")
		for _, r := range c.Rules {
			fmt.Fprintf(&b, "    %s\n", r)
		}
	}
	return b.String()
}

func (rs *Ruleset) sort() {
	sort.Slice(rs.Chains, func(i, j int) bool { return rs.Chains[i].Name < rs.Chains[j].Name })
	sort.Slice(rs.Sets, func(i, j int) bool { return rs.Sets[i].Name < rs.Sets[j].Name })
	for i := range rs.Sets {
		el := rs.Sets[i].Elements
		sort.Slice(el, func(a, b int) bool { return el[a].Key.less(el[b].Key) })
	}
}
