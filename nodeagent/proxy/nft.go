package proxy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// ErrNftables wraps every failure to talk to the kernel's nftables.
var ErrNftables = errors.New("proxy: nftables")

// Table writes Rulesets into the "kelson" table of one network namespace.
// It is not safe for concurrent use; the Proxier calls it from its loop.
type Table struct {
	netnsPath string
}

// NewTable returns a Table for the network namespace at netnsPath (for
// example /var/run/netns/NAME); "" means the caller's namespace.
func NewTable(netnsPath string) *Table { return &Table{netnsPath: netnsPath} }

// conn opens a netlink connection to nftables in the Table's namespace;
// the returned func releases it.
func (t *Table) conn() (*nftables.Conn, func(), error) {
	if t.netnsPath == "" {
		c, err := nftables.New()
		if err != nil {
			return nil, nil, fmt.Errorf("%w: open netlink: %w", ErrNftables, err)
		}
		return c, func() {}, nil
	}
	f, err := os.Open(t.netnsPath)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: open network namespace %s: %w", ErrNftables, t.netnsPath, err)
	}
	c, err := nftables.New(nftables.WithNetNSFd(int(f.Fd())))
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%w: open netlink in %s: %w", ErrNftables, t.netnsPath, err)
	}
	return c, func() { f.Close() }, nil
}

func kelsonTable() *nftables.Table {
	return &nftables.Table{Name: TableName, Family: nftables.TableFamilyIPv4}
}

// Apply makes the table exactly rs in one netlink batch (one nftables
// transaction: the kernel switches from the old rules to the new ones at
// once, or keeps the old ones if any part fails). Affinity sets that rs
// keeps with the same timeout are kept with their elements, so clients
// stay on their endpoint across updates; every rule and every other set
// is rewritten. Nothing outside the table is touched.
func (t *Table) Apply(rs Ruleset) error {
	c, done, err := t.conn()
	if err != nil {
		return err
	}
	defer done()
	tbl := kelsonTable()

	existingChains := map[string]bool{}
	existingSets := map[string]*nftables.Set{}
	if _, err := c.ListTableOfFamily(TableName, nftables.TableFamilyIPv4); err == nil {
		chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
		if err != nil {
			return fmt.Errorf("%w: list chains: %w", ErrNftables, err)
		}
		for _, ch := range chains {
			if ch.Table != nil && ch.Table.Name == TableName {
				existingChains[ch.Name] = true
			}
		}
		sets, err := c.GetSets(tbl)
		if err != nil {
			return fmt.Errorf("%w: list sets: %w", ErrNftables, err)
		}
		for _, s := range sets {
			if s.Anonymous || strings.HasPrefix(s.Name, "__") {
				continue // bound to a rule: goes with the flush
			}
			existingSets[s.Name] = s
		}
	}

	c.AddTable(tbl)
	c.FlushTable(tbl) // every rule of every chain: frees references to chains and sets
	want := map[string]bool{}
	for _, ch := range rs.Chains {
		want[ch.Name] = true
	}
	keep := map[string]bool{}
	for _, s := range rs.Sets {
		if old, ok := existingSets[s.Name]; ok && s.Kind == AffinitySet && old.HasTimeout && old.Timeout == s.Timeout {
			keep[s.Name] = true
		}
	}
	for name := range existingSets {
		if !keep[name] {
			c.DelSet(&nftables.Set{Table: tbl, Name: name})
		}
	}
	for name := range existingChains {
		if !want[name] {
			c.DelChain(&nftables.Chain{Table: tbl, Name: name})
		}
	}
	chains := map[string]*nftables.Chain{}
	for _, ch := range rs.Chains {
		nc := &nftables.Chain{Name: ch.Name, Table: tbl}
		if ch.Hook != nil {
			if err := setHook(nc, ch.Hook); err != nil {
				return err
			}
		}
		chains[ch.Name] = c.AddChain(nc)
	}
	for _, s := range rs.Sets {
		if keep[s.Name] {
			continue
		}
		ns, elems, err := nftSet(tbl, s)
		if err != nil {
			return err
		}
		if err := c.AddSet(ns, elems); err != nil {
			return fmt.Errorf("%w: set %s: %w", ErrNftables, s.Name, err)
		}
	}
	for _, ch := range rs.Chains {
		for _, r := range ch.Rules {
			exprs, anon, err := ruleExprs(tbl, r)
			if err != nil {
				return fmt.Errorf("%w: chain %s: %w", ErrNftables, ch.Name, err)
			}
			for _, a := range anon {
				if err := c.AddSet(a.set, a.elems); err != nil {
					return fmt.Errorf("%w: chain %s: anonymous map: %w", ErrNftables, ch.Name, err)
				}
				a.lookup.SetID, a.lookup.SetName = a.set.ID, a.set.Name
			}
			c.AddRule(&nftables.Rule{Table: tbl, Chain: chains[ch.Name], Exprs: exprs})
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("%w: apply table %s (%d chains, %d sets): %w", ErrNftables, TableName, len(rs.Chains), len(rs.Sets), err)
	}
	return nil
}

// Cleanup removes the "kelson" table, if any; nothing else is touched.
func (t *Table) Cleanup() error {
	c, done, err := t.conn()
	if err != nil {
		return err
	}
	defer done()
	if _, err := c.ListTableOfFamily(TableName, nftables.TableFamilyIPv4); err != nil {
		return nil // no table: nothing to remove
	}
	c.DelTable(kelsonTable())
	if err := c.Flush(); err != nil {
		return fmt.Errorf("%w: delete table %s: %w", ErrNftables, TableName, err)
	}
	return nil
}

func setHook(nc *nftables.Chain, h *Hook) error {
	switch h.Type {
	case "nat":
		nc.Type = nftables.ChainTypeNAT
	case "filter":
		nc.Type = nftables.ChainTypeFilter
	default:
		return fmt.Errorf("%w: chain %s: unknown chain type %q", ErrNftables, nc.Name, h.Type)
	}
	switch h.Hook {
	case "prerouting":
		nc.Hooknum = nftables.ChainHookPrerouting
	case "input":
		nc.Hooknum = nftables.ChainHookInput
	case "forward":
		nc.Hooknum = nftables.ChainHookForward
	case "output":
		nc.Hooknum = nftables.ChainHookOutput
	case "postrouting":
		nc.Hooknum = nftables.ChainHookPostrouting
	default:
		return fmt.Errorf("%w: chain %s: unknown hook %q", ErrNftables, nc.Name, h.Hook)
	}
	nc.Priority = nftables.ChainPriorityRef(nftables.ChainPriority(h.Priority))
	accept := nftables.ChainPolicyAccept
	nc.Policy = &accept
	return nil
}

var destKeyType = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)

// destKeyBytes is the concatenation as registers hold it: each part
// padded to 4 bytes; the address and port in network order.
func destKeyBytes(k DestKey) []byte {
	b := make([]byte, 12)
	a := k.Addr.As4()
	copy(b[0:4], a[:])
	b[4] = byte(k.Proto)
	binary.BigEndian.PutUint16(b[8:10], k.Port)
	return b
}

func nftSet(tbl *nftables.Table, s Set) (*nftables.Set, []nftables.SetElement, error) {
	switch s.Kind {
	case DestVerdictMap:
		ns := &nftables.Set{Table: tbl, Name: s.Name, IsMap: true, Concatenation: true,
			KeyType: destKeyType, DataType: nftables.TypeVerdict}
		elems := make([]nftables.SetElement, len(s.Elements))
		for i, e := range s.Elements {
			elems[i] = nftables.SetElement{Key: destKeyBytes(e.Key),
				VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: e.Chain}}
		}
		return ns, elems, nil
	case AffinitySet:
		return &nftables.Set{Table: tbl, Name: s.Name, KeyType: nftables.TypeIPAddr,
			Dynamic: true, HasTimeout: true, Timeout: s.Timeout}, nil, nil
	}
	return nil, nil, fmt.Errorf("%w: set %s: unknown kind %d", ErrNftables, s.Name, s.Kind)
}

// anonSet is an anonymous map a rule uses; its lookup gets the map's name
// and ID once AddSet has numbered it.
type anonSet struct {
	set    *nftables.Set
	elems  []nftables.SetElement
	lookup *expr.Lookup
}

const (
	reg1  = 1 // 128-bit register 1 (= 32-bit registers 8..11)
	reg2  = 2
	reg9  = 9  // NFT_REG32_01
	reg10 = 10 // NFT_REG32_02
)

func loadAddr(f AddrField, reg uint32) expr.Any {
	off := uint32(12)
	if f == Daddr {
		off = 16
	}
	return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4}
}

func native32(v uint32) []byte { return binaryutil.NativeEndian.PutUint32(v) }

// ruleExprs translates a rule into nftables expressions, and the
// anonymous maps they use (to be added just before the rule, in the same
// batch).
func ruleExprs(tbl *nftables.Table, r Rule) ([]expr.Any, []anonSet, error) {
	var out []expr.Any
	var anon []anonSet
	for _, st := range r {
		switch s := st.(type) {
		case MatchAddr:
			if !s.Prefix.Addr().Is4() {
				return nil, nil, fmt.Errorf("not an IPv4 prefix: %s", s.Prefix)
			}
			out = append(out, loadAddr(s.Field, reg1))
			p := s.Prefix.Masked()
			a := p.Addr().As4()
			if p.Bits() < 32 {
				mask := binary.BigEndian.AppendUint32(nil, ^uint32(0)<<(32-p.Bits()))
				if p.Bits() == 0 {
					mask = []byte{0, 0, 0, 0}
				}
				out = append(out, &expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: mask, Xor: []byte{0, 0, 0, 0}})
			}
			op := expr.CmpOpEq
			if s.Neg {
				op = expr.CmpOpNeq
			}
			out = append(out, &expr.Cmp{Op: op, Register: reg1, Data: a[:]})
		case MatchProto:
			out = append(out, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{byte(s.Proto)}})
		case MatchPort:
			out = append(out, &expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
				&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.BigEndian.PutUint16(s.Port)})
		case MatchMark:
			out = append(out, &expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
				&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: native32(s.Bit), Xor: native32(0)},
				&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: native32(s.Bit)})
		case MatchSaddrInSet:
			out = append(out, loadAddr(Saddr, reg1), &expr.Lookup{SourceRegister: reg1, SetName: s.Set})
		case SetMark:
			xor := s.Bit
			if s.Clear {
				xor = 0
			}
			out = append(out, &expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
				&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: native32(^s.Bit), Xor: native32(xor)},
				&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: reg1})
		case DestVmap:
			out = append(out, loadAddr(Daddr, reg1),
				&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg9},
				&expr.Payload{DestRegister: reg10, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
				&expr.Lookup{SourceRegister: reg1, DestRegister: 0, IsDestRegSet: true, SetName: s.Map})
		case RandomVmap:
			if len(s.Chains) == 0 {
				return nil, nil, errors.New("random choice among no chains")
			}
			set := &nftables.Set{Table: tbl, Anonymous: true, Constant: true, IsMap: true,
				KeyType: nftables.TypeInteger, DataType: nftables.TypeVerdict, KeyByteOrder: binaryutil.NativeEndian}
			elems := make([]nftables.SetElement, len(s.Chains))
			for i, ch := range s.Chains {
				elems[i] = nftables.SetElement{Key: native32(uint32(i)),
					VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: ch}}
			}
			lookup := &expr.Lookup{SourceRegister: reg1, DestRegister: 0, IsDestRegSet: true}
			anon = append(anon, anonSet{set: set, elems: elems, lookup: lookup})
			out = append(out, &expr.Numgen{Register: reg1, Modulus: uint32(len(s.Chains)), Type: unix.NFT_NG_RANDOM}, lookup)
		case DNAT:
			if !s.Addr.Is4() {
				return nil, nil, fmt.Errorf("dnat to a non-IPv4 address %s", s.Addr)
			}
			a := s.Addr.As4()
			out = append(out, &expr.Immediate{Register: reg1, Data: a[:]},
				&expr.Immediate{Register: reg2, Data: binaryutil.BigEndian.PutUint16(s.Port)},
				&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: reg1, RegProtoMin: reg2})
		case UpdateSaddr:
			out = append(out, loadAddr(Saddr, reg1),
				&expr.Dynset{SrcRegKey: reg1, SetName: s.Set, Operation: unix.NFT_DYNSET_OP_UPDATE, Timeout: s.Timeout})
		case Masquerade:
			out = append(out, &expr.Masq{})
		case Reject:
			if s.TCPReset {
				out = append(out, &expr.Reject{Type: unix.NFT_REJECT_TCP_RST})
			} else {
				out = append(out, &expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: 3}) // ICMP port unreachable
			}
		case Verdict:
			switch s.Kind {
			case Jump:
				out = append(out, &expr.Verdict{Kind: expr.VerdictJump, Chain: s.Chain})
			case Goto:
				out = append(out, &expr.Verdict{Kind: expr.VerdictGoto, Chain: s.Chain})
			case Return:
				out = append(out, &expr.Verdict{Kind: expr.VerdictReturn})
			}
		default:
			return nil, nil, fmt.Errorf("unknown statement %T", st)
		}
	}
	return out, anon, nil
}
