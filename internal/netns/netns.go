package netns

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// NS is a network namespace bound at /var/run/netns/Name.
type NS struct {
	Name string
}

// ErrUnavailable: namespaces cannot be made here (not root, a tool
// missing); the error says which.
var ErrUnavailable = errors.New("netns: network namespaces unavailable")

// Available says why namespaces cannot be made here ("" when they can).
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

// New makes a namespace named prefix-<random> and brings its loopback
// up. The caller deletes it (Delete).
func New(prefix string) (*NS, error) {
	if why := Available(); why != "" {
		return nil, fmt.Errorf("%w: %s", ErrUnavailable, why)
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	ns := &NS{Name: prefix + "-" + hex.EncodeToString(b[:])}
	if out, err := exec.Command("ip", "netns", "add", ns.Name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("netns: ip netns add %s: %w: %s", ns.Name, err, out)
	}
	if _, err := ns.IP("link", "set", "lo", "up"); err != nil {
		_ = ns.Delete()
		return nil, err
	}
	return ns, nil
}

// Path is the namespace's bind mount, for setns or nsenter --net=.
func (ns *NS) Path() string { return "/var/run/netns/" + ns.Name }

// Delete kills (SIGKILL) what still runs inside the namespace and deletes
// it. Processes in other namespaces it made (pods') are not reached: kill
// them first with KillNetNS.
func (ns *NS) Delete() error {
	KillNetNS(ns.Path())
	if out, err := exec.Command("ip", "netns", "delete", ns.Name).CombinedOutput(); err != nil {
		return fmt.Errorf("netns: ip netns delete %s: %w: %s", ns.Name, err, out)
	}
	return nil
}

// IP runs `ip -n NAME args...` and returns its output.
func (ns *NS) IP(args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"-n", ns.Name}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("netns: ip -n %s %s: %w: %s", ns.Name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// Command is a command that runs inside the namespace: nsenter --net,
// which changes only the network namespace and then executes name (its
// PID is the command's). (`ip netns exec` also makes a mount namespace
// with a fresh /sys, which hides the cgroup mounts runc needs.)
func (ns *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + ns.Path(), "--", name}, args...)...)
}

// RouteLocal checks that a packet to addr (an IP, or IP:port) stays
// inside the namespaces: the namespace has a route for it.
func (ns *NS) RouteLocal(addr string) error {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	if net.ParseIP(host) == nil {
		return fmt.Errorf("netns: %q is not an IP address: dial addresses, never names", host)
	}
	out, err := ns.IP("route", "get", host)
	if err != nil {
		return fmt.Errorf("netns: no route to %s inside %s: %w", host, ns.Name, err)
	}
	if strings.Contains(out, "unreachable") || strings.Contains(out, "prohibit") {
		return fmt.Errorf("netns: %s is unreachable inside %s: %s", host, ns.Name, out)
	}
	return nil
}

// Dial opens a connection from inside the namespace, after RouteLocal.
func (ns *NS) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if err := ns.RouteLocal(addr); err != nil {
		return nil, err
	}
	return ns.dial(ctx, network, addr)
}

// dial makes the socket on an OS thread switched into the namespace; the
// socket keeps the namespace after the thread switches back.
func (ns *NS) dial(ctx context.Context, network, addr string) (net.Conn, error) {
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
		return nil, fmt.Errorf("netns: setns %s: %w", ns.Name, err)
	}
	var d net.Dialer
	c, dialErr := d.DialContext(ctx, network, addr)
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		if c != nil {
			c.Close()
		}
		return nil, fmt.Errorf("netns: setns back: %w", err)
	}
	runtime.UnlockOSThread()
	return c, dialErr
}

// Dialer dials inside NS like NS.Dial, but checks the route to each host
// once (the routes of a namespace its owner set up do not change under
// it): for clients that dial often, such as a poll loop. Safe for
// concurrent use; the zero value with NS set is ready.
type Dialer struct {
	NS *NS

	mu      sync.Mutex
	checked map[string]bool // hosts whose route was found local
}

// DialContext has net.Dialer's signature (rest.Config.Dial,
// http.Transport.DialContext).
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	d.mu.Lock()
	ok := d.checked[host]
	d.mu.Unlock()
	if !ok {
		if err := d.NS.RouteLocal(host); err != nil {
			return nil, err
		}
		d.mu.Lock()
		if d.checked == nil {
			d.checked = map[string]bool{}
		}
		d.checked[host] = true
		d.mu.Unlock()
	}
	return d.NS.dial(ctx, network, addr)
}

// Link joins a and b with a veth pair and gives its ends the addresses
// (CIDR notation, e.g. "192.168.77.1/24").
func Link(a, b *NS, addrA, addrB string) error {
	var r [2]byte
	_, _ = rand.Read(r[:])
	ea, eb := "kta"+hex.EncodeToString(r[:]), "ktb"+hex.EncodeToString(r[:])
	steps := []struct {
		ns   *NS
		args []string
	}{
		{a, []string{"link", "add", ea, "type", "veth", "peer", "name", eb, "netns", b.Name}},
		{a, []string{"addr", "add", addrA, "dev", ea}},
		{b, []string{"addr", "add", addrB, "dev", eb}},
		{a, []string{"link", "set", ea, "up"}},
		{b, []string{"link", "set", eb, "up"}},
	}
	for _, s := range steps {
		if _, err := s.ns.IP(s.args...); err != nil {
			return err
		}
	}
	return nil
}
