package podnet

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

func TestHostVethName(t *testing.T) {
	a := HostVethName("2f1d3c4e-0000-4000-8000-000000000001")
	if a != HostVethName("2f1d3c4e-0000-4000-8000-000000000001") {
		t.Fatal("not deterministic")
	}
	if len(a) != 12 || !strings.HasPrefix(a, "veth") {
		t.Fatalf("%q: want veth + 8 hex", a)
	}
	if a == HostVethName("2f1d3c4e-0000-4000-8000-000000000002") {
		t.Fatal("two UIDs gave one name")
	}
}

func TestBridgeMAC(t *testing.T) {
	a := BridgeMAC("kelson0", netip.MustParsePrefix("10.244.1.0/24"))
	if a.String() != BridgeMAC("kelson0", netip.MustParsePrefix("10.244.1.7/24")).String() {
		t.Fatal("not a function of the masked CIDR")
	}
	if a[0]&1 != 0 || a[0]&2 == 0 || len(a) != 6 {
		t.Fatalf("%v: want a unicast, locally administered MAC", a)
	}
	if a.String() == BridgeMAC("kelson0", netip.MustParsePrefix("10.244.2.0/24")).String() {
		t.Fatal("two CIDRs, one MAC")
	}
}

func TestPodMAC(t *testing.T) {
	if got := PodMAC(netip.MustParseAddr("10.244.1.2")).String(); got != "02:4b:0a:f4:01:02" {
		t.Fatalf("PodMAC = %s", got)
	}
}

func TestValidUID(t *testing.T) {
	for _, tc := range []struct {
		uid types.UID
		ok  bool
	}{
		{"2f1d3c4e-0000-4000-8000-000000000001", true},
		{"pod_a.1", true},
		{"", false},
		{".", false},
		{"..", false},
		{"a/b", false},
		{"a b", false},
		{types.UID(strings.Repeat("a", 201)), false},
	} {
		err := ValidUID(tc.uid)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrBadUID)) {
			t.Errorf("ValidUID(%q) = %v, want ok=%v", tc.uid, err, tc.ok)
		}
	}
}

func TestNewPool(t *testing.T) {
	for _, tc := range []struct {
		cidr string
		ok   bool
	}{
		{"10.244.1.0/24", true},
		{"10.244.1.7/24", true}, // masked
		{"10.244.0.0/16", true},
		{"10.0.0.0/30", true},
		{"10.0.0.0/31", false},
		{"fd00::/64", false},
		{"10.0.0.0/7", false},
	} {
		p, err := NewPool(netip.MustParsePrefix(tc.cidr))
		if (err == nil) != tc.ok {
			t.Errorf("NewPool(%s) = %v, want ok=%v", tc.cidr, err, tc.ok)
		}
		if err == nil && p.Prefix != p.Prefix.Masked() {
			t.Errorf("NewPool(%s): prefix %v not masked", tc.cidr, p.Prefix)
		}
	}
	var zero netip.Prefix
	if _, err := NewPool(zero); !errors.Is(err, ErrBadCIDR) {
		t.Errorf("zero prefix: %v", err)
	}
}

func addrs(ss ...string) map[netip.Addr]types.UID {
	m := map[netip.Addr]types.UID{}
	for _, s := range ss {
		ip, uid, _ := strings.Cut(s, "=")
		m[netip.MustParseAddr(ip)] = types.UID(uid)
	}
	return m
}

func TestPoolAllocate(t *testing.T) {
	p24, _ := NewPool(netip.MustParsePrefix("10.244.1.0/24"))
	p30, _ := NewPool(netip.MustParsePrefix("10.0.0.0/30"))
	p29, _ := NewPool(netip.MustParsePrefix("10.0.0.0/29"))
	full24 := map[netip.Addr]types.UID{}
	for i := 2; i <= 254; i++ {
		full24[netip.AddrFrom4([4]byte{10, 244, 1, byte(i)})] = types.UID(fmt.Sprint("u", i))
	}
	for _, tc := range []struct {
		name  string
		pool  Pool
		used  map[netip.Addr]types.UID
		uid   types.UID
		last  string
		want  string
		fresh bool
		err   error
	}{
		{name: "empty: first after gateway", pool: p24, used: addrs(), uid: "a", want: "10.244.1.2", fresh: true},
		{name: "existing kept", pool: p24, used: addrs("10.244.1.9=a", "10.244.1.2=b"), uid: "a", want: "10.244.1.9"},
		{name: "existing kept even if last elsewhere", pool: p24, used: addrs("10.244.1.9=a"), uid: "a", last: "10.244.1.100", want: "10.244.1.9"},
		{name: "two for one uid: lowest", pool: p24, used: addrs("10.244.1.9=a", "10.244.1.5=a"), uid: "a", want: "10.244.1.5"},
		{name: "skips taken", pool: p24, used: addrs("10.244.1.2=b", "10.244.1.3=c"), uid: "a", want: "10.244.1.4", fresh: true},
		{name: "after last", pool: p24, used: addrs("10.244.1.2=b"), uid: "a", last: "10.244.1.7", want: "10.244.1.8", fresh: true},
		{name: "wraps past broadcast and network and gateway", pool: p24, used: addrs("10.244.1.2=b"), uid: "a", last: "10.244.1.254", want: "10.244.1.3", fresh: true},
		{name: "last outside the pool", pool: p24, used: addrs(), uid: "a", last: "192.168.0.9", want: "10.244.1.2", fresh: true},
		{name: "stale allocation outside pool ignored", pool: p24, used: addrs("10.9.9.9=a"), uid: "a", want: "10.244.1.2", fresh: true},
		{name: "gateway file never counts as owned", pool: p24, used: addrs("10.244.1.1=a"), uid: "a", want: "10.244.1.2", fresh: true},
		{name: "slash 30 has one", pool: p30, used: addrs(), uid: "a", want: "10.0.0.2", fresh: true},
		{name: "slash 30 full", pool: p30, used: addrs("10.0.0.2=b"), uid: "a", err: ErrCIDRFull},
		{name: "slash 29 last free is .6", pool: p29, used: addrs("10.0.0.2=b", "10.0.0.3=c", "10.0.0.4=d", "10.0.0.5=e"), uid: "a", want: "10.0.0.6", fresh: true},
		{name: "full /24", pool: p24, used: full24, uid: "a", err: ErrCIDRFull},
		{name: "full /24 but mine", pool: p24, used: full24, uid: "u77", want: "10.244.1.77"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var last netip.Addr
			if tc.last != "" {
				last = netip.MustParseAddr(tc.last)
			}
			got, fresh, err := tc.pool.Allocate(tc.used, tc.uid, last)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || got.String() != tc.want || fresh != tc.fresh {
				t.Fatalf("Allocate = %v fresh=%v err=%v, want %s fresh=%v", got, fresh, err, tc.want, tc.fresh)
			}
		})
	}
}

// TestPoolAllocateExhaustive allocates a /24 until full: every address is
// distinct and allocatable, 253 fit.
func TestPoolAllocateExhaustive(t *testing.T) {
	p, _ := NewPool(netip.MustParsePrefix("10.1.2.0/24"))
	used := map[netip.Addr]types.UID{}
	var last netip.Addr
	for i := 0; ; i++ {
		a, fresh, err := p.Allocate(used, types.UID(fmt.Sprint("p", i)), last)
		if errors.Is(err, ErrCIDRFull) {
			if i != 253 || p.Size() != 253 {
				t.Fatalf("full after %d (size %d), want 253", i, p.Size())
			}
			return
		}
		if err != nil || !fresh || !p.Allocatable(a) || used[a] != "" {
			t.Fatalf("alloc %d: %v fresh=%v err=%v", i, a, fresh, err)
		}
		used[a] = types.UID(fmt.Sprint("p", i))
		last = a
	}
}

func nr(cidr, via string) NodeRoute {
	r := NodeRoute{}
	if cidr != "" {
		r.PodCIDR = netip.MustParsePrefix(cidr)
	}
	if via != "" {
		r.NodeIP = netip.MustParseAddr(via)
	}
	return r
}

func TestDesiredRoutes(t *testing.T) {
	own := netip.MustParsePrefix("10.244.1.0/24")
	keep, rej := DesiredRoutes(own, []NodeRoute{
		nr("10.244.3.0/24", "192.168.7.3"),
		nr("10.244.2.9/24", "192.168.7.2"),  // masked
		nr("10.244.2.0/24", "192.168.7.22"), // duplicate CIDR
		nr("10.244.1.0/24", "192.168.7.1"),  // own
		nr("10.244.0.0/16", "192.168.7.9"),  // overlaps own
		nr("fd00::/64", "192.168.7.9"),
		nr("10.244.4.0/24", ""),
		nr("10.244.5.0/24", "10.244.5.1"), // via inside the CIDR
		nr("10.244.6.0/24", "10.244.1.7"), // via inside own CIDR
	})
	want := []NodeRoute{nr("10.244.2.0/24", "192.168.7.2"), nr("10.244.3.0/24", "192.168.7.3")}
	if !reflect.DeepEqual(keep, want) {
		t.Errorf("keep = %v, want %v", keep, want)
	}
	if len(rej) != 7 {
		t.Errorf("rejected %d: %v", len(rej), rej)
	}
}

func TestDiffRoutes(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		current, desired        []NodeRoute
		wantReplace, wantDelete []NodeRoute
	}{
		{name: "nothing"},
		{name: "add", desired: []NodeRoute{nr("10.244.2.0/24", "192.168.7.2")},
			wantReplace: []NodeRoute{nr("10.244.2.0/24", "192.168.7.2")}},
		{name: "in sync",
			current: []NodeRoute{nr("10.244.2.0/24", "192.168.7.2")},
			desired: []NodeRoute{nr("10.244.2.0/24", "192.168.7.2")}},
		{name: "stale deleted",
			current:    []NodeRoute{nr("10.244.2.0/24", "192.168.7.2"), nr("10.244.3.0/24", "192.168.7.3")},
			desired:    []NodeRoute{nr("10.244.2.0/24", "192.168.7.2")},
			wantDelete: []NodeRoute{nr("10.244.3.0/24", "192.168.7.3")}},
		{name: "all deleted",
			current:    []NodeRoute{nr("10.244.3.0/24", "192.168.7.3"), nr("10.244.2.0/24", "192.168.7.2")},
			wantDelete: []NodeRoute{nr("10.244.2.0/24", "192.168.7.2"), nr("10.244.3.0/24", "192.168.7.3")}},
		{name: "node IP changed",
			current:     []NodeRoute{nr("10.244.2.0/24", "192.168.7.2")},
			desired:     []NodeRoute{nr("10.244.2.0/24", "192.168.7.20")},
			wantReplace: []NodeRoute{nr("10.244.2.0/24", "192.168.7.20")},
			wantDelete:  []NodeRoute{nr("10.244.2.0/24", "192.168.7.2")}},
		{name: "duplicate current",
			current:    []NodeRoute{nr("10.244.2.0/24", "192.168.7.2"), nr("10.244.2.0/24", "192.168.7.2"), nr("10.244.2.0/24", "192.168.7.9")},
			desired:    []NodeRoute{nr("10.244.2.0/24", "192.168.7.2")},
			wantDelete: []NodeRoute{nr("10.244.2.0/24", "192.168.7.2"), nr("10.244.2.0/24", "192.168.7.9")}},
		{name: "unparseable current deleted",
			current:    []NodeRoute{nr("", "")},
			wantDelete: []NodeRoute{nr("", "")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := DiffRoutes(tc.current, tc.desired)
			if !reflect.DeepEqual(d.Replace, tc.wantReplace) || !reflect.DeepEqual(d.Delete, tc.wantDelete) {
				t.Fatalf("DiffRoutes = %+v, want replace %v delete %v", d, tc.wantReplace, tc.wantDelete)
			}
			if d.Empty() != (len(tc.wantReplace)+len(tc.wantDelete) == 0) {
				t.Fatal("Empty wrong")
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := Config{StateDir: "/x/"}.withDefaults()
	if err != nil || c.BridgeName != DefaultBridgeName || c.RouteProtocol != DefaultRouteProtocol || c.StateDir != "/x" || c.Logger == nil {
		t.Fatalf("%+v %v", c, err)
	}
	for _, bad := range []Config{{}, {StateDir: "/x", BridgeName: "a-very-long-bridge-name"}, {StateDir: "/x", RouteProtocol: 3}, {StateDir: "/x", MTU: 100}} {
		if _, err := bad.withDefaults(); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}
