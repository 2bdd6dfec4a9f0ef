package nodeipam

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
)

func TestCIDRSetAllocateInOrderAndExhaust(t *testing.T) {
	s, err := NewCIDRSet(netip.MustParsePrefix("10.42.0.0/22"), 24)
	if err != nil {
		t.Fatal(err)
	}
	if s.Size() != 4 {
		t.Fatalf("size %d, want 4", s.Size())
	}
	want := []string{"10.42.0.0/24", "10.42.1.0/24", "10.42.2.0/24", "10.42.3.0/24"}
	for _, w := range want {
		p, err := s.Allocate()
		if err != nil || p.String() != w {
			t.Fatalf("Allocate = %v, %v; want %s", p, err, w)
		}
	}
	if _, err := s.Allocate(); !errors.Is(err, ErrExhausted) {
		t.Fatalf("fifth Allocate: %v, want ErrExhausted", err)
	}
	if err := s.Release(netip.MustParsePrefix("10.42.1.0/24")); err != nil {
		t.Fatal(err)
	}
	if p, err := s.Allocate(); err != nil || p.String() != "10.42.1.0/24" {
		t.Fatalf("after release: %v, %v", p, err)
	}
}

func TestCIDRSetOccupy(t *testing.T) {
	cases := []struct {
		name    string
		occupy  []string
		wantErr error
		inUse   int
		next    string // the next allocation
	}{
		{"one subnet", []string{"10.42.0.0/24"}, nil, 1, "10.42.1.0/24"},
		{"unmasked", []string{"10.42.0.7/24"}, nil, 1, "10.42.1.0/24"},
		{"smaller than a subnet", []string{"10.42.0.128/25"}, nil, 1, "10.42.1.0/24"},
		{"larger than a subnet", []string{"10.42.0.0/23"}, nil, 2, "10.42.2.0/24"},
		{"the whole cluster and more", []string{"10.0.0.0/8"}, nil, 4, ""},
		{"outside", []string{"10.43.0.0/24"}, ErrOutOfRange, 0, "10.42.0.0/24"},
		{"other family", []string{"fd00::/64"}, ErrOutOfRange, 0, "10.42.0.0/24"},
		{"twice", []string{"10.42.2.0/24", "10.42.2.0/24"}, nil, 1, "10.42.0.0/24"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := NewCIDRSet(netip.MustParsePrefix("10.42.0.0/22"), 24)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range c.occupy {
				if err := s.Occupy(netip.MustParsePrefix(o)); !errors.Is(err, c.wantErr) {
					t.Fatalf("Occupy(%s) = %v, want %v", o, err, c.wantErr)
				}
			}
			if s.InUse() != c.inUse {
				t.Fatalf("InUse = %d, want %d", s.InUse(), c.inUse)
			}
			p, err := s.Allocate()
			if c.next == "" {
				if !errors.Is(err, ErrExhausted) {
					t.Fatalf("Allocate = %v, %v; want exhausted", p, err)
				}
				return
			}
			if err != nil || p.String() != c.next {
				t.Fatalf("Allocate = %v, %v; want %s", p, err, c.next)
			}
		})
	}
}

func TestCIDRSetConfig(t *testing.T) {
	cases := []struct {
		cluster string
		mask    int
		size    int // 0: an error
	}{
		{"10.42.0.0/16", 24, 256},
		{"10.42.0.0/16", 16, 1},
		{"10.42.0.0/16", 8, 0},
		{"10.42.0.0/16", 33, 0},
		{"10.0.0.0/8", 28, 0}, // 20 bits of subnets
		{"10.0.0.0/8", 24, 65536},
		{"fd00:42::/48", 64, 65536},
		{"fd00:42::/56", 64, 256},
	}
	for _, c := range cases {
		s, err := NewCIDRSet(netip.MustParsePrefix(c.cluster), c.mask)
		if c.size == 0 {
			if !errors.Is(err, ErrBadConfig) {
				t.Errorf("%s /%d: err %v, want ErrBadConfig", c.cluster, c.mask, err)
			}
			continue
		}
		if err != nil || s.Size() != c.size {
			t.Errorf("%s /%d: size %v err %v, want %d", c.cluster, c.mask, s, err, c.size)
		}
	}
	s, _ := NewCIDRSet(netip.MustParsePrefix("fd00:42::/56"), 64)
	s.Allocate()
	if p, _ := s.Allocate(); p.String() != "fd00:42:0:1::/64" {
		t.Errorf("second v6 CIDR %s", p)
	}
}

// TestCIDRSetModel drives a set with random operations against a map of
// taken subnets: Allocate never returns a taken one, and fails only when
// all are taken.
func TestCIDRSetModel(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	s, err := NewCIDRSet(netip.MustParsePrefix("10.42.0.0/20"), 24)
	if err != nil {
		t.Fatal(err)
	}
	taken := map[netip.Prefix]bool{}
	var list []netip.Prefix
	for step := range 2000 {
		switch r.IntN(3) {
		case 0, 1:
			p, err := s.Allocate()
			if len(taken) == s.Size() {
				if !errors.Is(err, ErrExhausted) {
					t.Fatalf("seed %d step %d: full set allocated %v, %v", seed, step, p, err)
				}
				continue
			}
			if err != nil || taken[p] {
				t.Fatalf("seed %d step %d: Allocate = %v, %v (taken %v)", seed, step, p, err, taken[p])
			}
			taken[p] = true
			list = append(list, p)
		case 2:
			if len(list) == 0 {
				continue
			}
			i := r.IntN(len(list))
			p := list[i]
			list = append(list[:i], list[i+1:]...)
			delete(taken, p)
			if err := s.Release(p); err != nil {
				t.Fatal(err)
			}
		}
		if s.InUse() != len(taken) {
			t.Fatalf("seed %d step %d: InUse %d, model %d", seed, step, s.InUse(), len(taken))
		}
		for _, p := range list {
			if !s.Contains(p) {
				t.Fatalf("seed %d step %d: %s not taken", seed, step, p)
			}
		}
	}
}
