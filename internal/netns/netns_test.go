package netns

import (
	"context"
	"os"
	"strings"
	"testing"
)

func newNS(t *testing.T) *NS {
	t.Helper()
	if why := Available(); why != "" {
		t.Skip(why)
	}
	ns, err := New("kt-netns")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ns.Delete(); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(ns.Path()); !os.IsNotExist(err) {
			t.Errorf("%s still exists after Delete: %v", ns.Path(), err)
		}
	})
	return ns
}

func TestDialerChecksRoutes(t *testing.T) {
	ns := newNS(t)
	d := &Dialer{NS: ns}
	// An empty namespace routes nothing but its loopback.
	if _, err := d.DialContext(context.Background(), "tcp", "192.0.2.1:80"); err == nil || !strings.Contains(err.Error(), "route") {
		t.Fatalf("dial to an unrouted address: %v, want a route error before any packet", err)
	}
	// Loopback is routed; nothing listens: refused, from inside.
	if _, err := d.DialContext(context.Background(), "tcp", "127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("dial 127.0.0.1:1 inside an empty namespace: %v, want connection refused", err)
	}
	if _, err := d.DialContext(context.Background(), "tcp", "localhost:1"); err == nil {
		t.Fatal("dial to a name: want an error")
	}
}

func TestLinkRoutesBothWays(t *testing.T) {
	a, b := newNS(t), newNS(t)
	if err := Link(a, b, "192.168.252.1/24", "192.168.252.2/24"); err != nil {
		t.Fatal(err)
	}
	if err := a.RouteLocal("192.168.252.2"); err != nil {
		t.Fatal(err)
	}
	if err := b.RouteLocal("192.168.252.1:80"); err != nil {
		t.Fatal(err)
	}
}
