package node

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func TestSelectNodeIPs(t *testing.T) {
	lo := Interface{Name: "lo", Up: true, Loopback: true, Addrs: addrs("127.0.0.1", "::1")}
	eth0 := Interface{Name: "eth0", Up: true, Addrs: addrs("fe80::1", "10.0.0.5", "10.0.0.6")}
	eth1 := Interface{Name: "eth1", Up: true, Addrs: addrs("192.168.1.2", "2001:db8::2")}
	v6only := Interface{Name: "v6", Up: true, Addrs: addrs("fe80::2", "2001:db8::9")}
	down := Interface{Name: "down", Up: false, Addrs: addrs("172.16.0.1")}
	for _, tc := range []struct {
		name   string
		ifaces []Interface
		routes DefaultRoutes
		want   []netip.Addr
		err    error
	}{
		{"v4 default route", []Interface{lo, eth1, eth0}, DefaultRoutes{V4: "eth0"}, addrs("10.0.0.5"), nil},
		{"v4 route wins over v6 route", []Interface{lo, eth1, eth0}, DefaultRoutes{V4: "eth0", V6: "eth1"}, addrs("10.0.0.5"), nil},
		{"v6 route only", []Interface{lo, eth0, v6only}, DefaultRoutes{V6: "v6"}, addrs("2001:db8::9"), nil},
		{"route iface without usable address", []Interface{lo, v6only, eth1}, DefaultRoutes{V4: "v6"}, addrs("192.168.1.2"), nil},
		{"no route: first v4 of an up non-loopback iface", []Interface{lo, down, v6only, eth1}, DefaultRoutes{}, addrs("192.168.1.2"), nil},
		{"no route, no v4: first v6", []Interface{lo, down, v6only}, DefaultRoutes{}, addrs("2001:db8::9"), nil},
		{"route to a missing iface", []Interface{lo, eth1}, DefaultRoutes{V4: "gone"}, addrs("192.168.1.2"), nil},
		{"loopback only", []Interface{lo}, DefaultRoutes{}, nil, ErrNoNodeIP},
		{"nothing", nil, DefaultRoutes{}, nil, ErrNoNodeIP},
		{"v4-mapped address unmapped", []Interface{{Name: "m", Up: true, Addrs: addrs("::ffff:10.1.2.3")}}, DefaultRoutes{V4: "m"}, addrs("10.1.2.3"), nil},
	} {
		got, err := SelectNodeIPs(tc.ifaces, tc.routes)
		if !errors.Is(err, tc.err) || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: SelectNodeIPs = %v, %v; want %v, %v", tc.name, got, err, tc.want, tc.err)
		}
	}
}

// routeV4 is /proc/net/route as read on a Debian host: a default route
// through eth0 and the link's route.
const routeV4 = `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
eth0	00000000	010200C0	0003	0	0	0	00000000	0	0	0
eth0	000200C0	00000000	0001	0	0	0	00FFFFFF	0	0	0
`

const routeV6 = `fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000003 00000000 00000003     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
`

func TestParseDefaultRoutes(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
		v6                  bool
	}{
		{"debian v4", routeV4, "eth0", false},
		{"lowest metric wins", "Iface	Destination	Gateway	Flags	RefCnt	Use	Metric	Mask	MTU	Window	IRTT\nwlan0	00000000	0101A8C0	0003	0	0	600	00000000	0	0	0\n" +
			"eth9	00000000	0101A8C0	0003	0	0	5	00000000	0	0	0\n", "eth9", false},
		{"route down", "Iface	Destination	Gateway	Flags	RefCnt	Use	Metric	Mask	MTU	Window	IRTT\neth0	00000000	010200C0	0002	0	0	0	00000000	0	0	0\n", "", false},
		{"no default", "Iface	Destination	Gateway	Flags	RefCnt	Use	Metric	Mask	MTU	Window	IRTT\neth0	000200C0	00000000	0001	0	0	0	00FFFFFF	0	0	0\n", "", false},
		{"empty", "", "", false},
		{"junk", "Iface x\nfoo bar baz qux 1 2 3 4\n", "", false},
		{"debian v6 (lo reject route ignored)", routeV6, "eth0", true},
		{"v6 none", routeV6[:strings.Index(routeV6, "\n")+1], "", true},
		{"v6 junk", "zz 00 aa\n", "", true},
	} {
		var got string
		if tc.v6 {
			got = parseDefaultRouteV6(tc.content)
		} else {
			got = parseDefaultRouteV4(tc.content)
		}
		if got != tc.want {
			t.Errorf("%s: default route interface = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestDetectNodeIPsRuns checks the IO side finds something or says to set
// --node-ip, on whatever host runs the test (routes from a fixture FS).
func TestDetectNodeIPsRuns(t *testing.T) {
	ips, err := DetectNodeIPs(fstest.MapFS{})
	if err != nil && !errors.Is(err, ErrNoNodeIP) {
		t.Fatalf("DetectNodeIPs: %v", err)
	}
	for _, ip := range ips {
		if !ip.IsGlobalUnicast() {
			t.Errorf("DetectNodeIPs gave %v, not global unicast", ip)
		}
	}
}
