package sim

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// ipam hands out pod IPs from each node's pod CIDRs (one per IP family),
// as a node's IPAM plugin does. It persists nothing: a restarted
// simulator claims the IPs its running pods show in their status before
// it hands out new ones. It is safe for concurrent use.
//
// In each CIDR the first address (the network), the second (the node's
// bridge, by convention) and, for IPv4, the last (broadcast) are never
// handed out. Addresses are handed out round-robin from after the last
// one given, so a released IP is not reused at once. A range larger than
// 2^16 addresses (an IPv6 /64) uses its first 2^16.
type ipam struct {
	mu    sync.Mutex
	nodes map[string]*nodePool // by node name
	pods  map[types.UID]podIPs // what each pod holds
}

type nodePool struct {
	ranges []*ipRange
}

// podIPs is what one pod holds.
type podIPs struct {
	node string
	ips  []netip.Addr
}

// ipRange is one CIDR's addresses, numbered by their offset in it.
type ipRange struct {
	prefix   netip.Prefix
	lo, hi   uint64 // offsets that may be handed out, [lo, hi]
	next     uint64 // where the round-robin search starts
	used     map[uint64]types.UID
	capacity uint64
}

// errPoolFull: every address of a node's CIDR is taken.
var errPoolFull = errors.New("sim: no pod IP left in the node's pod CIDR")

const maxRangeBits = 16

func newIPAM() *ipam {
	return &ipam{nodes: map[string]*nodePool{}, pods: map[types.UID]podIPs{}}
}

// poolLocked is node's pool over cidrs, made on first use.
func (a *ipam) poolLocked(node string, cidrs []netip.Prefix) *nodePool {
	if p := a.nodes[node]; p != nil && len(p.ranges) == len(cidrs) {
		return p
	}
	p := &nodePool{}
	for _, c := range cidrs {
		c = c.Masked()
		hostBits := c.Addr().BitLen() - c.Bits()
		r := &ipRange{prefix: c, lo: 2, used: map[uint64]types.UID{}}
		if hostBits > maxRangeBits {
			r.hi = 1<<maxRangeBits - 1
		} else {
			r.hi = 1<<hostBits - 1
			if c.Addr().Is4() {
				r.hi-- // broadcast
			}
		}
		if r.hi >= r.lo {
			r.capacity = r.hi - r.lo + 1
		}
		r.next = r.lo
		p.ranges = append(p.ranges, r)
	}
	a.nodes[node] = p
	return p
}

// allocate gives pod uid one IP from each of node's cidrs; the same ones
// again if it has them already.
func (a *ipam) allocate(node string, cidrs []netip.Prefix, uid types.UID) ([]netip.Addr, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if held, ok := a.pods[uid]; ok && held.node == node {
		return held.ips, nil
	}
	p := a.poolLocked(node, cidrs)
	offsets := make([]uint64, len(p.ranges))
	for i, r := range p.ranges {
		off, ok := r.freeLocked()
		if !ok {
			return nil, fmt.Errorf("%w: %s has %d addresses, all taken", errPoolFull, r.prefix, r.capacity)
		}
		offsets[i] = off
	}
	ips := make([]netip.Addr, len(p.ranges))
	for i, r := range p.ranges {
		r.used[offsets[i]] = uid
		r.next = offsets[i] + 1
		ips[i] = addOffset(r.prefix.Addr(), offsets[i])
	}
	a.pods[uid] = podIPs{node: node, ips: ips}
	return ips, nil
}

// freeLocked finds a free offset from r.next on, wrapping around.
func (r *ipRange) freeLocked() (uint64, bool) {
	if uint64(len(r.used)) >= r.capacity {
		return 0, false
	}
	off := r.next
	for range r.capacity {
		if off > r.hi || off < r.lo {
			off = r.lo
		}
		if _, taken := r.used[off]; !taken {
			return off, true
		}
		off++
	}
	return 0, false
}

// claim records that pod uid holds ips on node (from its status, after a
// restart). An IP outside node's CIDRs is not tracked; an IP another pod
// holds is an error (and not claimed).
func (a *ipam) claim(node string, cidrs []netip.Prefix, uid types.UID, ips []netip.Addr) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if held, ok := a.pods[uid]; ok && held.node == node {
		return nil
	}
	p := a.poolLocked(node, cidrs)
	var claimed []netip.Addr
	var err error
	for _, ip := range ips {
		for _, r := range p.ranges {
			if !r.prefix.Contains(ip) {
				continue
			}
			off, ok := offsetOf(r.prefix, ip)
			if !ok || off < r.lo || off > r.hi {
				break
			}
			if other, taken := r.used[off]; taken && other != uid {
				err = fmt.Errorf("sim: pod IP %s of pod %s is held by pod %s too", ip, uid, other)
				break
			}
			r.used[off] = uid
			claimed = append(claimed, ip)
		}
	}
	a.pods[uid] = podIPs{node: node, ips: claimed}
	return err
}

// release gives back what pod uid holds; releasing twice is harmless.
func (a *ipam) release(uid types.UID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	held, ok := a.pods[uid]
	if !ok {
		return
	}
	delete(a.pods, uid)
	p := a.nodes[held.node]
	if p == nil {
		return
	}
	for _, ip := range held.ips {
		for _, r := range p.ranges {
			if off, ok := offsetOf(r.prefix, ip); ok && r.prefix.Contains(ip) && r.used[off] == uid {
				delete(r.used, off)
			}
		}
	}
}

// inUse is how many IPs node's pods hold (for tests and stats).
func (a *ipam) inUse(node string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	if p := a.nodes[node]; p != nil {
		for _, r := range p.ranges {
			n += len(r.used)
		}
	}
	return n
}

// addOffset is base + off (off < 2^64, within the low 64 bits).
func addOffset(base netip.Addr, off uint64) netip.Addr {
	b := base.As16()
	carry := off
	for i := 15; i >= 0 && carry > 0; i-- {
		sum := uint64(b[i]) + carry&0xff
		b[i] = byte(sum)
		carry = carry>>8 + sum>>8
	}
	a := netip.AddrFrom16(b)
	if base.Is4() {
		return a.Unmap()
	}
	return a
}

// offsetOf is ip - prefix's first address, when that fits 64 bits.
func offsetOf(prefix netip.Prefix, ip netip.Addr) (uint64, bool) {
	if ip.Is4() != prefix.Addr().Is4() {
		return 0, false
	}
	a, b := prefix.Masked().Addr().As16(), ip.As16()
	for i := 0; i < 8; i++ {
		if a[i] != b[i] {
			return 0, false
		}
	}
	var x, y uint64
	for i := 8; i < 16; i++ {
		x, y = x<<8|uint64(a[i]), y<<8|uint64(b[i])
	}
	if y < x {
		return 0, false
	}
	return y - x, true
}

// parseCIDRs parses a node's pod CIDRs (spec.podCIDRs, else spec.podCIDR).
func parseCIDRs(cidrs []string, single string) []netip.Prefix {
	if len(cidrs) == 0 && single != "" {
		cidrs = []string{single}
	}
	var out []netip.Prefix
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}
