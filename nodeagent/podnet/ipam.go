package podnet

import (
	"fmt"
	"net/netip"

	"k8s.io/apimachinery/pkg/types"
)

// Pool is the part of a pod CIDR that IPAM hands out: every address but
// the network address, the gateway (the first host address, the
// bridge's) and the broadcast address. Only IPv4 prefixes of length 8..30
// are valid (a /31 or /32 has no room for a gateway and a pod).
type Pool struct {
	Prefix netip.Prefix // masked
}

// NewPool checks cidr and returns its pool.
func NewPool(cidr netip.Prefix) (Pool, error) {
	if !cidr.IsValid() || !cidr.Addr().Is4() {
		return Pool{}, fmt.Errorf("%w: %v is not an IPv4 prefix", ErrBadCIDR, cidr)
	}
	if cidr.Bits() < 8 || cidr.Bits() > 30 {
		return Pool{}, fmt.Errorf("%w: %v: want a prefix length of 8..30 (a node's pod CIDR is usually a /24)", ErrBadCIDR, cidr)
	}
	return Pool{Prefix: cidr.Masked()}, nil
}

// Gateway is the first host address, the bridge's.
func (p Pool) Gateway() netip.Addr { return p.Prefix.Addr().Next() }

// Broadcast is the last address of the prefix.
func (p Pool) Broadcast() netip.Addr {
	a := p.Prefix.Addr().As4()
	host := uint32(1)<<(32-p.Prefix.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Allocatable says whether a may be handed to a pod.
func (p Pool) Allocatable(a netip.Addr) bool {
	return a.Is4() && p.Prefix.Contains(a) && a != p.Prefix.Addr() && a != p.Gateway() && a != p.Broadcast()
}

// Size is the number of allocatable addresses.
func (p Pool) Size() int { return 1<<(32-p.Prefix.Bits()) - 3 }

// Allocate decides the address for uid given the current allocations
// (address -> owner). If uid already owns an allocatable address, that one
// (the lowest, if somehow several) is returned with fresh=false. Otherwise
// the first free address after last (wrapping; an invalid or foreign last
// starts at the gateway) is returned with fresh=true, so that a freed
// address is not reused at once while a free one further on exists.
// A full pool gives ErrCIDRFull.
func (p Pool) Allocate(used map[netip.Addr]types.UID, uid types.UID, last netip.Addr) (a netip.Addr, fresh bool, err error) {
	var mine netip.Addr
	for addr, owner := range used {
		if owner == uid && p.Allocatable(addr) && (!mine.IsValid() || addr.Less(mine)) {
			mine = addr
		}
	}
	if mine.IsValid() {
		return mine, false, nil
	}
	start := last
	if !p.Prefix.Contains(start) || !start.Is4() {
		start = p.Gateway()
	}
	for i, cur := 0, start; i < p.Size()+3; i++ {
		cur = cur.Next()
		if !p.Prefix.Contains(cur) {
			cur = p.Prefix.Addr()
		}
		if !p.Allocatable(cur) {
			continue
		}
		if _, taken := used[cur]; !taken {
			return cur, true, nil
		}
	}
	return netip.Addr{}, false, fmt.Errorf("%w: all %d addresses of %v are allocated; tear down pods or give the node a larger pod CIDR", ErrCIDRFull, p.Size(), p.Prefix)
}
