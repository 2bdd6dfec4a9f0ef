package testnet

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

func TestDialInsideNamespace(t *testing.T) {
	ns := New(t, "tn")
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

func TestRouteLocalRefusesAddressesOutside(t *testing.T) {
	ns := New(t, "tn")
	if err := ns.RouteLocal("192.0.2.1:80"); err == nil {
		t.Fatal("RouteLocal(192.0.2.1) in an empty namespace: want an error (no route), got nil")
	}
	if _, err := ns.Dial(context.Background(), "tcp", "192.0.2.1:80"); err == nil {
		t.Fatal("Dial to an unrouted address: want an error before any packet")
	}
	if err := ns.RouteLocal("127.0.0.1"); err != nil {
		t.Fatalf("RouteLocal(127.0.0.1): %v", err)
	}
	if err := ns.RouteLocal("example.com:80"); err == nil {
		t.Fatal("RouteLocal(name): want an error")
	}
}

func TestLink(t *testing.T) {
	a, b := New(t, "tn"), New(t, "tn")
	Link(t, a, b, "192.168.251.1/24", "192.168.251.2/24")
	if err := a.RouteLocal("192.168.251.2"); err != nil {
		t.Fatal(err)
	}
	out, err := a.IP("route", "get", "192.168.251.2")
	if err != nil || !strings.Contains(out, "kta") {
		t.Fatalf("route to b goes through the veth: %q %v", out, err)
	}
}
