package podnet

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/types"
)

func pod(i int) PodRef {
	return PodRef{UID: types.UID(fmt.Sprintf("00000000-0000-4000-8000-%012d", i)), Namespace: "default", Name: fmt.Sprint("p", i)}
}

// podLink reads eth0 of the pod's namespace: its addresses and default
// route.
func podLink(t *testing.T, att Attachment) (addrs []string, defGw string, up bool) {
	t.Helper()
	ns, err := netns.GetFromPath(att.NetNSPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	l, err := h.LinkByName("eth0")
	if err != nil {
		t.Fatalf("eth0 in %s: %v", att.NetNSPath, err)
	}
	as, _ := h.AddrList(l, netlink.FAMILY_V4)
	for _, a := range as {
		addrs = append(addrs, a.IPNet.String())
	}
	rs, _ := h.RouteList(l, netlink.FAMILY_V4)
	for _, r := range rs {
		if r.Dst == nil || r.Dst.String() == "0.0.0.0/0" {
			defGw = r.Gw.String()
		}
	}
	return addrs, defGw, l.Attrs().Flags&(1<<0) != 0
}

func TestSetupOneNode(t *testing.T) {
	needRoot(t)
	ctx := t.Context()
	_, nodePath := newNodeNS(t)
	dir := stateDir(t)
	n := newNet(t, nodePath, dir, "10.244.1.0/24")
	requireNoDefaultRoute(t, nodePath)

	a, err := n.Setup(ctx, pod(1))
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	b, err := n.Setup(ctx, pod(2))
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	gw := netip.MustParseAddr("10.244.1.1")
	if a.Gateway != gw || a.IP != netip.MustParseAddr("10.244.1.2") || b.IP != netip.MustParseAddr("10.244.1.3") {
		t.Fatalf("attachments %+v %+v", a, b)
	}
	if a.NetNSPath != filepath.Join(dir, "netns", string(pod(1).UID)) {
		t.Fatalf("netns path %s", a.NetNSPath)
	}
	addrs, defGw, up := podLink(t, a)
	if !reflect.DeepEqual(addrs, []string{"10.244.1.2/24"}) || defGw != "10.244.1.1" || !up {
		t.Fatalf("eth0: addrs %v default via %q up=%v", addrs, defGw, up)
	}
	if out := run(t, "nsenter", "--net="+a.NetNSPath, "ip", "link", "show", "eth0"); !strings.Contains(out, "link/ether 02:4b:0a:f4:01:02") {
		t.Fatalf("eth0's MAC, want 02:4b:0a:f4:01:02:\n%s", out)
	}
	out := run(t, "ip", "-n", filepath.Base(nodePath), "-d", "link", "show", HostVethName(pod(1).UID))
	if !strings.Contains(out, "master kelson0") || !strings.Contains(out, "hairpin on") {
		t.Fatalf("host veth not on the bridge with hairpin:\n%s", out)
	}
	if got, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); strings.TrimSpace(string(got)) == "" {
		t.Fatal("cannot read the host's ip_forward")
	}
	fwd := ""
	if err := inNS(t, nodePath, func() error {
		b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
		fwd = strings.TrimSpace(string(b))
		return err
	}); err != nil || fwd != "1" {
		t.Fatalf("ip_forward in the node's namespace = %q, %v", fwd, err)
	}

	// The bridge keeps its set MAC whatever ports join.
	out = run(t, "ip", "-n", filepath.Base(nodePath), "link", "show", "kelson0")
	if mac := BridgeMAC("kelson0", n.pool.Prefix).String(); !strings.Contains(out, "link/ether "+mac) {
		t.Fatalf("bridge MAC, want %s:\n%s", mac, out)
	}

	// Pod to gateway (ICMP) and pod to pod (TCP), after checking routes.
	requireRoute(t, a.NetNSPath, gw, "eth0", netip.Addr{})
	ping(t, a.NetNSPath, gw)
	requireRoute(t, a.NetNSPath, b.IP, "eth0", netip.Addr{})
	requireRoute(t, b.NetNSPath, a.IP, "eth0", netip.Addr{})
	ping(t, a.NetNSPath, b.IP)
	listen(t, b.NetNSPath, netip.AddrPortFrom(b.IP, 8080))
	got, err := dial(t, a.NetNSPath, netip.AddrPortFrom(b.IP, 8080))
	if err != nil || got != "hello from 10.244.1.3:8080" {
		t.Fatalf("pod a -> pod b: %q, %v", got, err)
	}
	// The node reaches its pods too.
	requireRoute(t, nodePath, b.IP, "kelson0", netip.Addr{})
	got, err = dial(t, nodePath, netip.AddrPortFrom(b.IP, 8080))
	if err != nil || got != "hello from 10.244.1.3:8080" {
		t.Fatalf("node -> pod b: %q, %v", got, err)
	}

	// Idempotent: the same attachment, nothing changed.
	a2, err := n.Setup(ctx, pod(1))
	if err != nil || a2 != a {
		t.Fatalf("second Setup = %+v, %v; want %+v", a2, err, a)
	}
	if addrs, _, _ := podLink(t, a); len(addrs) != 1 {
		t.Fatalf("eth0 addrs after second Setup: %v", addrs)
	}

	// Teardown frees: veth and namespace file gone, the IP handed out
	// again (once the allocator has gone round).
	if err := n.Teardown(ctx, pod(1).UID); err != nil {
		t.Fatalf("Teardown: %v", err)
	}
	if _, err := os.Stat(a.NetNSPath); !os.IsNotExist(err) {
		t.Fatalf("netns file after Teardown: %v", err)
	}
	if out := run(t, "ip", "-n", filepath.Base(nodePath), "link", "show"); strings.Contains(out, HostVethName(pod(1).UID)) {
		t.Fatalf("veth left:\n%s", out)
	}
	if err := n.Teardown(ctx, pod(1).UID); err != nil {
		t.Fatalf("second Teardown: %v", err)
	}
	if err := n.Teardown(ctx, "never-seen"); err != nil {
		t.Fatalf("Teardown of an unknown UID: %v", err)
	}
	if err := n.Teardown(ctx, "../../etc"); err != nil {
		t.Fatalf("Teardown of a bad UID: %v", err)
	}
	uids, err := n.Attached(ctx)
	if err != nil || !reflect.DeepEqual(uids, []types.UID{pod(2).UID}) {
		t.Fatalf("Attached = %v, %v", uids, err)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "ipam"))
	if len(ents) != 1 || ents[0].Name() != "10.244.1.3" {
		t.Fatalf("IPAM files after Teardown: %v", ents)
	}
	if _, err := n.Setup(ctx, PodRef{UID: "a/b"}); !errors.Is(err, ErrBadUID) {
		t.Fatalf("Setup with a bad UID: %v", err)
	}
}

// TestRestartAndRepair: a new Net over the same StateDir (the agent
// restarted) keeps every IP, sees the pods as Attached, and repairs a pod
// whose veth vanished or whose namespace file lost its mount.
func TestRestartAndRepair(t *testing.T) {
	needRoot(t)
	ctx := t.Context()
	nodeName, nodePath := newNodeNS(t)
	dir := stateDir(t)
	n1 := newNet(t, nodePath, dir, "10.244.1.0/24")
	var atts []Attachment
	for i := range 3 {
		a, err := n1.Setup(ctx, pod(i))
		if err != nil {
			t.Fatal(err)
		}
		atts = append(atts, a)
	}
	n1.Close()

	// The restarted agent runs New from a thread inside the node's
	// namespace (Config.NetNS empty: the calling thread's namespace), as
	// the agent does on the host.
	var n2 *Net
	err := inNS(t, nodePath, func() (err error) {
		n2, err = New(ctx, Config{PodCIDR: netip.MustParsePrefix("10.244.1.0/24"), StateDir: dir})
		return err
	})
	if err != nil {
		t.Fatalf("New after restart: %v", err)
	}
	t.Cleanup(func() { n2.Close() })
	uids, err := n2.Attached(ctx)
	if err != nil || !reflect.DeepEqual(uids, []types.UID{pod(0).UID, pod(1).UID, pod(2).UID}) {
		t.Fatalf("Attached after restart = %v, %v", uids, err)
	}
	for i, want := range atts {
		got, err := n2.Setup(ctx, pod(i))
		if err != nil || got != want {
			t.Fatalf("Setup after restart = %+v, %v; want %+v", got, err, want)
		}
	}
	// A new pod gets a new address.
	d, err := n2.Setup(ctx, pod(3))
	if err != nil || slices.ContainsFunc(atts, func(a Attachment) bool { return a.IP == d.IP }) {
		t.Fatalf("new pod after restart: %+v, %v", d, err)
	}

	// Repair: the host veth of pod 0 deleted behind our back.
	run(t, "ip", "-n", nodeName, "link", "del", HostVethName(pod(0).UID))
	if got, err := n2.Setup(ctx, pod(0)); err != nil || got != atts[0] {
		t.Fatalf("Setup repairing a veth = %+v, %v", got, err)
	}
	if addrs, gw, up := podLink(t, atts[0]); len(addrs) != 1 || gw != "10.244.1.1" || !up {
		t.Fatalf("repaired eth0: %v %v %v", addrs, gw, up)
	}
	// Repair: pod 1's namespace file lost its mount (a crash between
	// creating and mounting it, or a reboot).
	if err := unix.Unmount(atts[1].NetNSPath, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	if got, err := n2.Setup(ctx, pod(1)); err != nil || got != atts[1] {
		t.Fatalf("Setup repairing a namespace = %+v, %v", got, err)
	}
	if ok, _ := isNetNSFile(atts[1].NetNSPath); !ok {
		t.Fatal("namespace not remounted")
	}
	// The repaired pods talk to each other.
	requireRoute(t, atts[0].NetNSPath, atts[1].IP, "eth0", netip.Addr{})
	listen(t, atts[1].NetNSPath, netip.AddrPortFrom(atts[1].IP, 80))
	if got, err := dial(t, atts[0].NetNSPath, netip.AddrPortFrom(atts[1].IP, 80)); err != nil || !strings.HasPrefix(got, "hello") {
		t.Fatalf("repaired pod 0 -> pod 1: %q %v", got, err)
	}
	// A veth name held by another UID (a hash collision, simulated with
	// the alias) is refused, not taken over.
	run(t, "ip", "-n", nodeName, "link", "set", HostVethName(pod(2).UID), "alias", "kelson-pod:someone-else")
	if _, err := n2.Setup(ctx, pod(2)); !errors.Is(err, ErrNameCollision) {
		t.Fatalf("Setup over a foreign veth: %v", err)
	}
	if err := n2.Teardown(ctx, pod(2).UID); err != nil {
		t.Fatal(err)
	}
	if out := run(t, "ip", "-n", nodeName, "link"); !strings.Contains(out, HostVethName(pod(2).UID)) {
		t.Fatal("Teardown deleted a veth of another UID")
	}
}

// TestCIDRFull: a /29 has 5 pod addresses; the sixth pod gets a clear
// error and nothing left behind.
func TestCIDRFull(t *testing.T) {
	needRoot(t)
	ctx := t.Context()
	_, nodePath := newNodeNS(t)
	n := newNet(t, nodePath, stateDir(t), "10.244.9.0/29")
	seen := map[netip.Addr]bool{}
	for i := range 5 {
		a, err := n.Setup(ctx, pod(i))
		if err != nil {
			t.Fatal(err)
		}
		if seen[a.IP] || !n.pool.Allocatable(a.IP) {
			t.Fatalf("bad address %v", a.IP)
		}
		seen[a.IP] = true
	}
	if _, err := n.Setup(ctx, pod(9)); !errors.Is(err, ErrCIDRFull) {
		t.Fatalf("sixth pod: %v", err)
	}
	if err := n.Teardown(ctx, pod(2).UID); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Setup(ctx, pod(9)); err != nil {
		t.Fatalf("after a Teardown: %v", err)
	}
}

// TestTwoNodes: two node namespaces joined by a veth pair
// (192.168.77.1/24 and .2, on that link only), each with its own pod CIDR
// and a host-gw route to the other's; a pod on A reaches a pod on B.
func TestTwoNodes(t *testing.T) {
	needRoot(t)
	ctx := t.Context()
	aName, aPath := newNodeNS(t)
	bName, bPath := newNodeNS(t)
	run(t, "ip", "-n", aName, "link", "add", "kn0", "type", "veth", "peer", "name", "kn0", "netns", bName)
	run(t, "ip", "-n", aName, "addr", "add", "192.168.77.1/24", "dev", "kn0")
	run(t, "ip", "-n", bName, "addr", "add", "192.168.77.2/24", "dev", "kn0")
	run(t, "ip", "-n", aName, "link", "set", "kn0", "up")
	run(t, "ip", "-n", bName, "link", "set", "kn0", "up")
	na := newNet(t, aPath, stateDir(t), "10.244.1.0/24")
	nb := newNet(t, bPath, stateDir(t), "10.244.2.0/24")
	nodeA, nodeB := netip.MustParseAddr("192.168.77.1"), netip.MustParseAddr("192.168.77.2")
	cidrA, cidrB := netip.MustParsePrefix("10.244.1.0/24"), netip.MustParsePrefix("10.244.2.0/24")

	// Someone else's route (another protocol) must survive SetRoutes.
	run(t, "ip", "-n", aName, "route", "add", "10.99.0.0/16", "via", "192.168.77.2")
	if err := na.SetRoutes(ctx, []NodeRoute{{PodCIDR: cidrB, NodeIP: nodeB}, {PodCIDR: netip.MustParsePrefix("10.244.3.0/24"), NodeIP: netip.MustParseAddr("192.168.77.3")}}); err != nil {
		t.Fatalf("SetRoutes on A: %v", err)
	}
	if err := nb.SetRoutes(ctx, []NodeRoute{{PodCIDR: cidrA, NodeIP: nodeA}}); err != nil {
		t.Fatalf("SetRoutes on B: %v", err)
	}
	// A route through a node IP not on a connected subnet fails clearly,
	// the others are still applied.
	err := na.SetRoutes(ctx, []NodeRoute{{PodCIDR: cidrB, NodeIP: nodeB}, {PodCIDR: netip.MustParsePrefix("10.244.4.0/24"), NodeIP: netip.MustParseAddr("172.31.0.9")}})
	if err == nil || !strings.Contains(err.Error(), "10.244.4.0/24") {
		t.Fatalf("unreachable node IP: %v", err)
	}
	out := run(t, "ip", "-n", aName, "-4", "route", "show")
	if !strings.Contains(out, "10.244.2.0/24 via 192.168.77.2 dev kn0 proto 77") || strings.Contains(out, "10.244.3.0/24") || !strings.Contains(out, "10.99.0.0/16") {
		t.Fatalf("routes on A:\n%s", out)
	}

	pa, err := na.Setup(ctx, pod(1))
	if err != nil {
		t.Fatal(err)
	}
	pb, err := nb.Setup(ctx, pod(2))
	if err != nil {
		t.Fatal(err)
	}
	if !cidrA.Contains(pa.IP) || !cidrB.Contains(pb.IP) {
		t.Fatalf("IPs %v %v", pa.IP, pb.IP)
	}
	// Every hop is inside our namespaces before the first packet.
	requireNoDefaultRoute(t, aPath)
	requireNoDefaultRoute(t, bPath)
	requireRoute(t, pa.NetNSPath, pb.IP, "eth0", pa.Gateway)
	requireRoute(t, aPath, pb.IP, "kn0", nodeB)
	requireRoute(t, bPath, pb.IP, "kelson0", netip.Addr{})
	requireRoute(t, pb.NetNSPath, pa.IP, "eth0", pb.Gateway)
	requireRoute(t, bPath, pa.IP, "kn0", nodeA)
	requireRoute(t, aPath, pa.IP, "kelson0", netip.Addr{})

	listen(t, pb.NetNSPath, netip.AddrPortFrom(pb.IP, 8080))
	got, err := dial(t, pa.NetNSPath, netip.AddrPortFrom(pb.IP, 8080))
	if err != nil || got != fmt.Sprintf("hello from %v:8080", pb.IP) {
		t.Fatalf("pod on A -> pod on B: %q, %v", got, err)
	}
	ping(t, pa.NetNSPath, pb.IP)

	// Stale routes go; others' stay.
	if err := na.SetRoutes(ctx, nil); err != nil {
		t.Fatal(err)
	}
	out = run(t, "ip", "-n", aName, "-4", "route", "show")
	if strings.Contains(out, "proto 77") || !strings.Contains(out, "10.99.0.0/16") {
		t.Fatalf("routes on A after SetRoutes(nil):\n%s", out)
	}
}

// TestManyPods sets up 30 pods concurrently in batches and one by one,
// checks they are distinct and reachable, tears all down, and logs the
// time of one Setup (no assertion on it).
func TestManyPods(t *testing.T) {
	needRoot(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	_, nodePath := newNodeNS(t)
	dir := stateDir(t)
	n := newNet(t, nodePath, dir, "10.244.1.0/24")
	const N = 30
	var durs []time.Duration
	atts := make([]Attachment, N)
	for i := range N {
		start := time.Now()
		a, err := n.Setup(ctx, pod(i))
		if err != nil {
			t.Fatalf("pod %d: %v", i, err)
		}
		durs = append(durs, time.Since(start))
		atts[i] = a
	}
	// Concurrent Setups of already set up and new pods.
	errs := make(chan error, 2*N)
	for i := range 2 * N {
		go func() {
			_, err := n.Setup(ctx, pod(i))
			errs <- err
		}()
	}
	for range 2 * N {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	ips := map[netip.Addr]bool{}
	uids, _ := n.Attached(ctx)
	if len(uids) != 2*N {
		t.Fatalf("Attached: %d", len(uids))
	}
	for i := range 2 * N {
		a, err := n.Setup(ctx, pod(i))
		if err != nil || ips[a.IP] || (i < N && a != atts[i]) {
			t.Fatalf("pod %d: %+v %v", i, a, err)
		}
		ips[a.IP] = true
	}
	slices.Sort(durs)
	t.Logf("Setup of one pod (%d, sequential, GOMAXPROCS %d): p50 %v p90 %v max %v",
		N, runtime.GOMAXPROCS(0), durs[N/2], durs[N*9/10], durs[N-1])

	listen(t, atts[N-1].NetNSPath, netip.AddrPortFrom(atts[N-1].IP, 80))
	requireRoute(t, atts[0].NetNSPath, atts[N-1].IP, "eth0", netip.Addr{})
	if got, err := dial(t, atts[0].NetNSPath, netip.AddrPortFrom(atts[N-1].IP, 80)); err != nil || !strings.HasPrefix(got, "hello") {
		t.Fatalf("pod 0 -> pod %d: %q %v", N-1, got, err)
	}

	var tdurs []time.Duration
	for i := range N {
		start := time.Now()
		if err := n.Teardown(ctx, pod(i).UID); err != nil {
			t.Fatal(err)
		}
		tdurs = append(tdurs, time.Since(start))
	}
	slices.Sort(tdurs)
	t.Logf("Teardown of one pod (%d, sequential): p50 %v max %v", N, tdurs[N/2], tdurs[N-1])
	for i := N; i < 2*N; i++ {
		go func() { errs <- n.Teardown(ctx, pod(i).UID) }()
	}
	for range N {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if uids, err := n.Attached(ctx); err != nil || len(uids) != 0 {
		t.Fatalf("Attached after tearing all down: %v %v", uids, err)
	}
	for _, sub := range []string{"ipam", "netns"} {
		if ents, _ := os.ReadDir(filepath.Join(dir, sub)); len(ents) != 0 {
			t.Fatalf("%s left: %v", sub, ents)
		}
	}
}

// BenchmarkSetup measures Setup of a new pod (namespace, veth, address,
// route, IPAM file) in a test namespace; the pods are torn down after the
// timer stops. go test -run '^$' -bench Setup ./nodeagent/podnet/
func BenchmarkSetup(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("podnet: needs root")
	}
	name := "kt-podnet-bench"
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		b.Fatalf("ip netns add: %v %s", err, out)
	}
	defer exec.Command("ip", "netns", "del", name).Run()
	dir := b.TempDir()
	defer func() {
		ents, _ := os.ReadDir(filepath.Join(dir, "netns"))
		for _, e := range ents {
			unix.Unmount(filepath.Join(dir, "netns", e.Name()), unix.MNT_DETACH)
		}
	}()
	n, err := New(b.Context(), Config{PodCIDR: netip.MustParsePrefix("10.200.0.0/16"), StateDir: dir, NetNS: "/run/netns/" + name})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	b.ResetTimer()
	for i := range b.N {
		if _, err := n.Setup(b.Context(), pod(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	for i := range b.N {
		n.Teardown(b.Context(), pod(i).UID)
	}
}
