package testnet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// NS is a network namespace a test made, bound at /var/run/netns/Name.
type NS struct {
	Name string
}

// Available says why namespaces cannot be made here ("" when they can):
// tests skip with that reason.
func Available() string {
	if os.Geteuid() != 0 {
		return "network namespaces need root"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "ip (iproute2) is not installed"
	}
	if _, err := exec.LookPath("nsenter"); err != nil {
		return "nsenter (util-linux) is not installed"
	}
	return ""
}

// New makes a namespace named kt-<prefix>-<random>, brings its loopback
// up, and deletes it (killing what still runs inside) at cleanup.
func New(t testing.TB, prefix string) *NS {
	t.Helper()
	if why := Available(); why != "" {
		t.Skip(why)
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	ns := &NS{Name: "kt-" + prefix + "-" + hex.EncodeToString(b[:])}
	if out, err := exec.Command("ip", "netns", "add", ns.Name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", ns.Name, err, out)
	}
	t.Cleanup(func() { ns.delete(t) })
	ns.MustIP(t, "link", "set", "lo", "up")
	return ns
}

// Path is the namespace's bind mount, for setns or nsenter --net=.
func (ns *NS) Path() string { return "/var/run/netns/" + ns.Name }

func (ns *NS) delete(t testing.TB) {
	if out, err := exec.Command("ip", "netns", "pids", ns.Name).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 {
				_ = unix.Kill(pid, unix.SIGKILL)
			}
		}
	}
	if out, err := exec.Command("ip", "netns", "delete", ns.Name).CombinedOutput(); err != nil {
		t.Logf("ip netns delete %s: %v: %s", ns.Name, err, out)
	}
}

// IP runs `ip -n NAME args...` and returns its output.
func (ns *NS) IP(args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"-n", ns.Name}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ip -n %s %s: %w: %s", ns.Name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
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

// Command is a command that runs inside the namespace: nsenter --net,
// which changes only the network namespace. (`ip netns exec` also makes a
// mount namespace with a fresh /sys, which hides the cgroup mounts runc
// needs.)
func (ns *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + ns.Path(), "--", name}, args...)...)
}

// RouteLocal checks that a packet to addr stays inside the test's
// namespaces: the namespace has a route for it (a test-made namespace has
// no link to the host, so every route it has is one the test made).
func (ns *NS) RouteLocal(addr string) error {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	if net.ParseIP(host) == nil {
		return fmt.Errorf("testnet: %q is not an IP address: tests dial addresses, never names", host)
	}
	out, err := ns.IP("route", "get", host)
	if err != nil {
		return fmt.Errorf("testnet: no route to %s inside %s: %w", host, ns.Name, err)
	}
	if strings.Contains(out, "unreachable") || strings.Contains(out, "prohibit") {
		return fmt.Errorf("testnet: %s is unreachable inside %s: %s", host, ns.Name, out)
	}
	return nil
}

// Dial opens a connection from inside the namespace (after RouteLocal):
// the socket is made on an OS thread switched into the namespace, and
// keeps the namespace after the thread switches back.
func (ns *NS) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if err := ns.RouteLocal(addr); err != nil {
		return nil, err
	}
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// The thread is locked and never unlocked: if switching back
		// fails, the runtime discards the thread with the goroutine.
		runtime.LockOSThread()
		c, err := ns.dialLocked(ctx, network, addr)
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

func (ns *NS) dialLocked(ctx context.Context, network, addr string) (net.Conn, error) {
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, err
	}
	defer orig.Close()
	target, err := os.Open(ns.Path())
	if err != nil {
		return nil, err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("testnet: setns %s: %w", ns.Name, err)
	}
	var d net.Dialer
	c, dialErr := d.DialContext(ctx, network, addr)
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		if c != nil {
			c.Close()
		}
		return nil, fmt.Errorf("testnet: setns back: %w", err)
	}
	runtime.UnlockOSThread()
	return c, dialErr
}

// Link joins a and b with a veth pair and gives its ends the addresses
// (CIDR notation, e.g. "192.168.77.1/24").
func Link(t testing.TB, a, b *NS, addrA, addrB string) {
	t.Helper()
	var r [2]byte
	_, _ = rand.Read(r[:])
	ea, eb := "kta"+hex.EncodeToString(r[:]), "ktb"+hex.EncodeToString(r[:])
	a.MustIP(t, "link", "add", ea, "type", "veth", "peer", "name", eb, "netns", b.Name)
	a.MustIP(t, "addr", "add", addrA, "dev", ea)
	b.MustIP(t, "addr", "add", addrB, "dev", eb)
	a.MustIP(t, "link", "set", ea, "up")
	b.MustIP(t, "link", "set", eb, "up")
}
