package nodeipam

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"
)

// Errors of a CIDRSet. Check with errors.Is.
var (
	// ErrExhausted: every subnet of the cluster CIDR is in use.
	ErrExhausted = errors.New("nodeipam: the cluster CIDR has no free node CIDR")
	// ErrOutOfRange: a CIDR does not overlap the cluster CIDR, or is of
	// another address family.
	ErrOutOfRange = errors.New("nodeipam: CIDR outside the cluster CIDR")
	// ErrBadConfig: the cluster CIDR and node mask size do not make a set.
	ErrBadConfig = errors.New("nodeipam: bad cluster CIDR or node CIDR mask size")
)

// maxSubnetBits bounds the set's size: a node mask may be at most 16 bits
// longer than the cluster's (65536 node CIDRs), as kube-controller-manager
// requires.
const maxSubnetBits = 16

// CIDRSet hands out the node-sized subnets of one cluster CIDR. It is a
// plain data structure: not safe for concurrent use, no IO.
//
// Subnet i of cluster 10.42.0.0/16 with node mask 24 is 10.42.i.0/24.
// Allocate returns the first free subnet at or after the one following
// the last allocation, wrapping around, so a released subnet is not handed
// out again at once.
type CIDRSet struct {
	cluster netip.Prefix // masked
	bits    int          // node mask size
	size    int          // number of subnets
	used    []uint64     // bitmap of subnets in use
	inUse   int
	next    int // where the next search starts
}

// NewCIDRSet makes an empty set of cluster's subnets of prefix length
// maskSize.
func NewCIDRSet(cluster netip.Prefix, maskSize int) (*CIDRSet, error) {
	if !cluster.IsValid() {
		return nil, fmt.Errorf("%w: invalid cluster CIDR", ErrBadConfig)
	}
	cluster = cluster.Masked()
	if maskSize < cluster.Bits() || maskSize > cluster.Addr().BitLen() {
		return nil, fmt.Errorf("%w: node mask /%d must be between the cluster's /%d and /%d",
			ErrBadConfig, maskSize, cluster.Bits(), cluster.Addr().BitLen())
	}
	if maskSize-cluster.Bits() > maxSubnetBits {
		return nil, fmt.Errorf("%w: node mask /%d is more than %d bits longer than the cluster CIDR %s",
			ErrBadConfig, maskSize, maxSubnetBits, cluster)
	}
	size := 1 << (maskSize - cluster.Bits())
	return &CIDRSet{cluster: cluster, bits: maskSize, size: size, used: make([]uint64, (size+63)/64)}, nil
}

// Size is the number of node CIDRs in the set; InUse how many are taken.
func (s *CIDRSet) Size() int  { return s.size }
func (s *CIDRSet) InUse() int { return s.inUse }

// Allocate takes a free node CIDR; ErrExhausted when there is none.
func (s *CIDRSet) Allocate() (netip.Prefix, error) {
	if s.inUse >= s.size {
		return netip.Prefix{}, ErrExhausted
	}
	for k := range s.size {
		i := (s.next + k) % s.size
		if !s.isUsed(i) {
			s.mark(i, true)
			s.next = (i + 1) % s.size
			return s.subnet(i), nil
		}
	}
	return netip.Prefix{}, ErrExhausted // unreachable while inUse is right
}

// Occupy marks every node CIDR that p overlaps as taken: a node CIDR
// written by someone else (or under an older mask size) keeps its
// addresses out of later allocations. ErrOutOfRange when p does not
// overlap the cluster CIDR.
func (s *CIDRSet) Occupy(p netip.Prefix) error {
	lo, hi, err := s.span(p)
	if err != nil {
		return err
	}
	for i := lo; i <= hi; i++ {
		s.mark(i, true)
	}
	return nil
}

// Release frees every node CIDR that p overlaps.
func (s *CIDRSet) Release(p netip.Prefix) error {
	lo, hi, err := s.span(p)
	if err != nil {
		return err
	}
	for i := lo; i <= hi; i++ {
		s.mark(i, false)
	}
	return nil
}

// Contains reports whether the node CIDR p (exactly one subnet of the
// set) is taken.
func (s *CIDRSet) Contains(p netip.Prefix) bool {
	lo, hi, err := s.span(p)
	return err == nil && lo == hi && s.isUsed(lo)
}

// span is the range of subnet indexes p overlaps.
func (s *CIDRSet) span(p netip.Prefix) (lo, hi int, err error) {
	if !p.IsValid() || p.Addr().BitLen() != s.cluster.Addr().BitLen() || !p.Overlaps(s.cluster) {
		return 0, 0, fmt.Errorf("%w: %s is not in %s", ErrOutOfRange, p, s.cluster)
	}
	p = p.Masked()
	if p.Bits() <= s.cluster.Bits() { // p covers the whole cluster CIDR
		return 0, s.size - 1, nil
	}
	first := s.index(p.Addr())
	if p.Bits() >= s.bits { // within one subnet
		return first, first, nil
	}
	return first, first + (1 << (s.bits - p.Bits())) - 1, nil
}

// index is the subnet holding a (which is inside the cluster CIDR).
func (s *CIDRSet) index(a netip.Addr) int {
	off := new(big.Int).Sub(addrInt(a), addrInt(s.cluster.Addr()))
	off.Rsh(off, uint(a.BitLen()-s.bits))
	return int(off.Int64())
}

// subnet is the i-th node CIDR.
func (s *CIDRSet) subnet(i int) netip.Prefix {
	off := new(big.Int).Lsh(big.NewInt(int64(i)), uint(s.cluster.Addr().BitLen()-s.bits))
	v := off.Add(off, addrInt(s.cluster.Addr()))
	return netip.PrefixFrom(intAddr(v, s.cluster.Addr().Is4()), s.bits)
}

func (s *CIDRSet) isUsed(i int) bool { return s.used[i/64]&(1<<(i%64)) != 0 }

func (s *CIDRSet) mark(i int, used bool) {
	if s.isUsed(i) == used {
		return
	}
	if used {
		s.used[i/64] |= 1 << (i % 64)
		s.inUse++
	} else {
		s.used[i/64] &^= 1 << (i % 64)
		s.inUse--
	}
}

func addrInt(a netip.Addr) *big.Int {
	if a.Is4() {
		b := a.As4()
		return new(big.Int).SetBytes(b[:])
	}
	b := a.As16()
	return new(big.Int).SetBytes(b[:])
}

func intAddr(v *big.Int, v4 bool) netip.Addr {
	if v4 {
		var b [4]byte
		v.FillBytes(b[:])
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	v.FillBytes(b[:])
	return netip.AddrFrom16(b)
}
