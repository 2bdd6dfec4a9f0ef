package netns

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

func TestDialInsideNamespace(t *testing.T) {
	ns := newNS(t)
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("busybox is not installed")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("inside\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := ns.Command(ctx, "/bin/busybox", "httpd", "-f", "-p", "127.0.0.1:8099", "-h", dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	var body string
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := ns.Dial(ctx, "tcp", "127.0.0.1:8099")
		if err == nil {
			_, _ = c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err == nil {
				b := make([]byte, 64)
				n, _ := resp.Body.Read(b)
				body = string(b[:n])
			}
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dial inside %s: %v", ns.Name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if strings.TrimSpace(body) != "inside" {
		t.Fatalf("body %q, want inside", body)
	}
	// The host's loopback listener is not the namespace's: nothing listens
	// on 127.0.0.1:8099 outside it, and dialing there from the test's own
	// namespace must not reach busybox.
}
