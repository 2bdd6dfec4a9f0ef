package sim

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// TestIPAMModel drives the allocator with random allocations, claims and
// releases on two nodes (one dual-stack), checked against a plain model:
// no address is held twice, every address is inside its node's CIDR and
// not reserved, a pod asking again gets what it holds, and a full pool
// is full exactly when the model says so.
func TestIPAMModel(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	nodes := map[string][]netip.Prefix{
		"a": {netip.MustParsePrefix("10.1.0.0/28")},                                      // 13 usable
		"b": {netip.MustParsePrefix("10.2.0.0/29"), netip.MustParsePrefix("fd00::/125")}, // 5 v4, 6 v6 usable
	}
	capacity := map[string]int{"a": 13, "b": 5}
	a := newIPAM()
	type hold struct {
		node string
		ips  []netip.Addr
	}
	model := map[types.UID]hold{}
	owner := map[netip.Addr]types.UID{}
	held := func(node string) int {
		n := 0
		for _, h := range model {
			if h.node == node {
				n++
			}
		}
		return n
	}
	for step := range 5000 {
		uid := types.UID(fmt.Sprintf("pod-%d", rng.IntN(40)))
		node := "a"
		if rng.IntN(2) == 0 {
			node = "b"
		}
		if h, ok := model[uid]; ok {
			node = h.node
		}
		switch rng.IntN(3) {
		case 0, 1:
			ips, err := a.allocate(node, nodes[node], uid)
			if h, ok := model[uid]; ok {
				if err != nil || fmt.Sprint(ips) != fmt.Sprint(h.ips) {
					t.Fatalf("seed %d step %d: %s asked again: %v %v, holds %v", seed, step, uid, ips, err, h.ips)
				}
				continue
			}
			if held(node) == capacity[node] {
				if err == nil {
					t.Fatalf("seed %d step %d: node %s is full but gave %v", seed, step, node, ips)
				}
				continue
			}
			if err != nil || len(ips) != len(nodes[node]) {
				t.Fatalf("seed %d step %d: allocate on %s: %v %v", seed, step, node, ips, err)
			}
			for k, ip := range ips {
				p := nodes[node][k]
				off, _ := offsetOf(p, ip)
				if !p.Contains(ip) || off < 2 || (ip.Is4() && off == 1<<(32-p.Bits())-1) {
					t.Fatalf("seed %d step %d: %s outside %s or reserved", seed, step, ip, p)
				}
				if o, dup := owner[ip]; dup {
					t.Fatalf("seed %d step %d: %s given to %s and %s", seed, step, ip, o, uid)
				}
				owner[ip] = uid
			}
			model[uid] = hold{node, ips}
		case 2:
			a.release(uid)
			for _, ip := range model[uid].ips {
				delete(owner, ip)
			}
			delete(model, uid)
		}
		if got := a.inUse(node); got != held(node)*len(nodes[node]) {
			t.Fatalf("seed %d step %d: %s in use %d, model %d", seed, step, node, got, held(node))
		}
	}
}

// TestIPAMClaimAfterRestart: a new allocator that claims the IPs pods
// show never hands them out again, and reports a double claim.
func TestIPAMClaimAfterRestart(t *testing.T) {
	cidr := []netip.Prefix{netip.MustParsePrefix("10.9.0.0/29")} // .2-.6
	a := newIPAM()
	var first []netip.Addr
	for i := range 3 {
		ips, err := a.allocate("n", cidr, types.UID(fmt.Sprint("old", i)))
		if err != nil {
			t.Fatal(err)
		}
		first = append(first, ips[0])
	}
	b := newIPAM()
	for i, ip := range first {
		if err := b.claim("n", cidr, types.UID(fmt.Sprint("old", i)), []netip.Addr{ip}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.claim("n", cidr, "intruder", first[:1]); err == nil {
		t.Fatal("a second claim of one IP was accepted")
	}
	seen := map[netip.Addr]bool{}
	for _, ip := range first {
		seen[ip] = true
	}
	for i := range 2 {
		ips, err := b.allocate("n", cidr, types.UID(fmt.Sprint("new", i)))
		if err != nil {
			t.Fatal(err)
		}
		if seen[ips[0]] {
			t.Fatalf("%s handed out twice", ips[0])
		}
		seen[ips[0]] = true
	}
	if _, err := b.allocate("n", cidr, "one-too-many"); err == nil {
		t.Fatal("a full pool gave an IP")
	}
}

func TestAddressArithmetic(t *testing.T) {
	for _, c := range []struct {
		base string
		off  uint64
		want string
	}{
		{"10.0.0.0", 258, "10.0.1.2"},
		{"127.240.0.0", 5000, "127.240.19.136"},
		{"10.255.255.255", 1, "11.0.0.0"},
		{"fd00::", 65535, "fd00::ffff"},
		{"fd00::ff", 1, "fd00::100"},
	} {
		got := addOffset(netip.MustParseAddr(c.base), c.off)
		if got.String() != c.want {
			t.Errorf("%s + %d = %s, want %s", c.base, c.off, got, c.want)
		}
		p := netip.PrefixFrom(netip.MustParseAddr(c.base), netip.MustParseAddr(c.base).BitLen()-24).Masked()
		if off, ok := offsetOf(p, got); !ok || addOffset(p.Addr(), off) != got {
			t.Errorf("offsetOf(%s, %s) = %d, %v", p, got, off, ok)
		}
	}
}
