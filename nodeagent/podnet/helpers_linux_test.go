package podnet

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Every test runs its nodes inside network namespaces it makes
// (kt-podnet-<rand>, via `ip netns add`) and hands Net the namespace's
// path (Config.NetNS): Net then does all its netlink work through a
// handle bound to that namespace, so the test's own goroutines never
// change namespace. Where a test itself must act inside a namespace
// (dialing from a pod), it does so on a fresh locked thread that is
// thrown away afterwards (inNS).

// needRoot skips unless the test can make network namespaces.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("podnet: needs root (network namespaces, veths, bridges)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("podnet: needs iproute2's ip to make the test's namespaces")
	}
}

func randHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newNodeNS makes a namespace named kt-podnet-<rand>, deleted at the end,
// and checks that it is not the host's or this thread's before anything
// writes to it.
func newNodeNS(t *testing.T) (name, path string) {
	t.Helper()
	name = "kt-podnet-" + randHex(t, 4)
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	path = filepath.Join("/run/netns", name)
	assertOwnNS(t, path)
	return name, path
}

// assertOwnNS fails the test unless path is a namespace other than the
// process's (its main thread's, the host's here), the calling thread's
// and PID 1's (when it can be opened).
func assertOwnNS(t *testing.T, path string) {
	t.Helper()
	ns, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	defer ns.Close()
	others := []string{"/proc/self/ns/net", fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), "/proc/1/ns/net"}
	for i, p := range others {
		o, err := netns.GetFromPath(p)
		if err != nil {
			if i < 2 {
				t.Fatalf("opening %s: %v", p, err)
			}
			continue
		}
		same := ns.Equal(o)
		o.Close()
		if same {
			t.Fatalf("%s is the same namespace as %s: refusing to touch it", path, p)
		}
	}
}

// newNet makes a Net in the node namespace at nsPath over stateDir, and
// unmounts every pod namespace left under stateDir at the end (before the
// TempDir is removed).
func newNet(t *testing.T, nsPath, stateDir, cidr string) *Net {
	t.Helper()
	assertOwnNS(t, nsPath)
	n, err := New(t.Context(), Config{PodCIDR: netip.MustParsePrefix(cidr), StateDir: stateDir, NetNS: nsPath})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// stateDir is a TempDir whose pod namespace mounts are undone at the end.
func stateDir(t *testing.T) string {
	d := t.TempDir()
	t.Cleanup(func() {
		ents, _ := os.ReadDir(filepath.Join(d, "netns"))
		for _, e := range ents {
			unix.Unmount(filepath.Join(d, "netns", e.Name()), unix.MNT_DETACH)
		}
	})
	return d
}

// inNS runs f on a fresh OS thread inside the namespace at path; the
// thread is never unlocked, so it dies with the goroutine and no other
// goroutine ever runs in that namespace by accident.
func inNS(t *testing.T, path string, f func() error) error {
	t.Helper()
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return err
	}
	defer ns.Close()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := netns.Set(ns); err != nil {
			done <- err
			return
		}
		done <- f()
	}()
	return <-done
}

// routeDev says which interface (and gateway) the namespace at path
// routes dst through; the test checks it before sending anything.
func routeDev(t *testing.T, path string, dst netip.Addr) (dev string, gw netip.Addr, local bool) {
	t.Helper()
	ns, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	rs, err := h.RouteGet(dst.AsSlice())
	if err != nil || len(rs) == 0 {
		t.Fatalf("no route to %v in %s: %v", dst, path, err)
	}
	l, err := h.LinkByIndex(rs[0].LinkIndex)
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := netip.AddrFromSlice(rs[0].Gw); ok {
		gw = a.Unmap()
	}
	return l.Attrs().Name, gw, rs[0].Type == unix.RTN_LOCAL
}

// requireRoute fails the test unless the namespace at path sends dst out
// through dev (and via gw, if valid).
func requireRoute(t *testing.T, path string, dst netip.Addr, dev string, gw netip.Addr) {
	t.Helper()
	gotDev, gotGw, _ := routeDev(t, path, dst)
	if gotDev != dev || gotGw != gw {
		t.Fatalf("%s routes %v through %s via %v, want %s via %v: not sending", path, dst, gotDev, gotGw, dev, gw)
	}
}

// requireNoDefaultRoute fails unless the namespace has no IPv4 default
// route, so nothing it forwards can leave the test's namespaces.
func requireNoDefaultRoute(t *testing.T, path string) {
	t.Helper()
	out := run(t, "ip", "-n", filepath.Base(path), "-4", "route", "show", "default")
	if strings.TrimSpace(out) != "" {
		t.Fatalf("%s has a default route %q", path, out)
	}
}

// listen opens a TCP echo-ish server inside the namespace at nsPath on
// addr: it writes "hello from <addr>" to each connection.
func listen(t *testing.T, nsPath string, addr netip.AddrPort) {
	t.Helper()
	var ln net.Listener
	if err := inNS(t, nsPath, func() (err error) {
		ln, err = net.Listen("tcp4", addr.String())
		return err
	}); err != nil {
		t.Fatalf("listen %v in %s: %v", addr, nsPath, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "hello from %v", addr)
			c.Close()
		}
	}()
}

// dial connects from inside the namespace at nsPath to addr and returns
// what the server says.
func dial(t *testing.T, nsPath string, addr netip.AddrPort) (string, error) {
	t.Helper()
	var got string
	err := inNS(t, nsPath, func() error {
		c, err := net.DialTimeout("tcp4", addr.String(), 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 100)
		n, _ := c.Read(b)
		got = string(b[:n])
		return nil
	})
	return got, err
}

// ping sends ICMP echoes from the namespace file with busybox ping, or
// skips that check if busybox is missing.
func ping(t *testing.T, nsPath string, dst netip.Addr) {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Logf("busybox missing: no ICMP check of %v", dst)
		return
	}
	out, err := exec.Command("nsenter", "--net="+nsPath, bb, "ping", "-c", "1", "-W", "5", dst.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("ping %v from %s: %v\n%s", dst, nsPath, err, out)
	}
}
