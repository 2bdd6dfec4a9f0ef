package testnet

import (
	"testing"

	"github.com/kelson-dev/kelson/internal/netns"
)

// NS is a network namespace a test made, bound at /var/run/netns/Name:
// a netns.NS (Path, IP, Command, RouteLocal, Dial) deleted at cleanup.
type NS struct {
	*netns.NS
}

// Available says why namespaces cannot be made here ("" when they can):
// tests skip with that reason.
func Available() string { return netns.Available() }

// New makes a namespace named kt-<prefix>-<random>, brings its loopback
// up, and deletes it (killing what still runs inside) at cleanup.
func New(t testing.TB, prefix string) *NS {
	t.Helper()
	if why := Available(); why != "" {
		t.Skip(why)
	}
	n, err := netns.New("kt-" + prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Delete(); err != nil {
			t.Log(err)
		}
	})
	return &NS{n}
}

// MustIP is IP failing the test on error.
func (ns *NS) MustIP(t testing.TB, args ...string) string {
	t.Helper()
	out, err := ns.IP(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Link joins a and b with a veth pair and gives its ends the addresses
// (CIDR notation, e.g. "192.168.77.1/24").
func Link(t testing.TB, a, b *NS, addrA, addrB string) {
	t.Helper()
	if err := netns.Link(a.NS, b.NS, addrA, addrB); err != nil {
		t.Fatal(err)
	}
}
