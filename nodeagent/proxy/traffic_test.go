package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"runtime"

	"fmt"
	"github.com/vishvananda/netns"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// testNode is a node network namespace made by the test: a bridge kbr0
// holding the pod CIDR's gateway, lo holding the node IP, a
// route for the service CIDR on kbr0, and IP forwarding on (all inside
// the namespace). Nothing connects it to the host.
type testNode struct {
	ns      string
	devices map[string]bool // the devices a route may use
}

const (
	nodeIP    = "192.168.77.2"
	gatewayIP = "10.244.0.1"
)

func newTestNode(t *testing.T) *testNode {
	t.Helper()
	n := &testNode{ns: newNetns(t, "node"), devices: map[string]bool{"lo": true, "kbr0": true}}
	run(t, "ip", "-n", n.ns, "link", "add", "kbr0", "type", "bridge")
	run(t, "ip", "-n", n.ns, "addr", "add", gatewayIP+"/24", "dev", "kbr0")
	run(t, "ip", "-n", n.ns, "link", "set", "kbr0", "up")
	// The node IP on lo (this kernel has no dummy devices).
	run(t, "ip", "-n", n.ns, "addr", "add", nodeIP+"/32", "dev", "lo")
	run(t, "ip", "-n", n.ns, "route", "add", "10.96.0.0/16", "dev", "kbr0")
	run(t, "ip", "netns", "exec", n.ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
	return n
}

// addPod makes a pod namespace on the node's bridge with address ip,
// serving page on port 80 with busybox httpd. It returns the namespace.
func (n *testNode) addPod(t *testing.T, name, ip, page string) string {
	t.Helper()
	if _, err := exec.LookPath("busybox"); err != nil {
		t.Skipf("needs busybox: %v", err)
	}
	pod := newNetns(t, "pod")
	veth := "v-" + name
	run(t, "ip", "-n", n.ns, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", pod)
	run(t, "ip", "-n", n.ns, "link", "set", veth, "master", "kbr0", "up")
	// br_netfilter (loaded here) bridges a pod's packet DNATed back to the
	// pod itself out of the port it came in: the port needs hairpin mode.
	run(t, "ip", "-n", n.ns, "link", "set", veth, "type", "bridge_slave", "hairpin", "on")
	run(t, "ip", "-n", pod, "addr", "add", ip+"/24", "dev", "eth0")
	run(t, "ip", "-n", pod, "link", "set", "eth0", "up")
	run(t, "ip", "-n", pod, "route", "add", "default", "via", gatewayIP)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(page+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", pod, "busybox", "httpd", "-f", "-p", "80", "-h", dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// Wait until httpd listens (from inside the pod: loopback).
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := fetch(pod, "127.0.0.1:80"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("httpd in %s never answered", pod)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return pod
}

// checkRoute fails the test unless, inside namespace ns, addr is routed
// to one of the namespace's own devices (the network-safety rule: no
// packet may leave the test's namespaces).
func checkRoute(t *testing.T, ns, addr string, devices map[string]bool) {
	t.Helper()
	out, err := exec.Command("ip", "-n", ns, "-o", "route", "get", addr).CombinedOutput()
	if err != nil {
		t.Fatalf("no route to %s in %s: %v: %s", addr, ns, err, out)
	}
	f := strings.Fields(string(out))
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "dev" {
			if !devices[f[i+1]] {
				t.Fatalf("route to %s in %s uses device %s, not one the test made: %s", addr, ns, f[i+1], out)
			}
			return
		}
	}
	t.Fatalf("route to %s in %s names no device: %s", addr, ns, out)
}

// fetch GETs http://hostport/ from inside namespace ns and returns the
// body. The socket is made on an OS thread switched into ns (busybox
// wget's -T crashes on this machine, and curl may be missing).
func fetch(ns, hostport string) (string, error) {
	type result struct {
		body string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		body, err := fetchIn(ns, hostport)
		ch <- result{body, err}
	}()
	r := <-ch
	return r.body, r.err
}

func fetchIn(ns, hostport string) (string, error) {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return "", err
	}
	defer orig.Close()
	target, err := netns.GetFromName(ns)
	if err != nil {
		runtime.UnlockOSThread()
		return "", err
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return "", err
	}
	conn, err := net.DialTimeout("tcp", hostport, 5*time.Second)
	if err := netns.Set(orig); err != nil {
		// The thread is left in ns: keep it locked so it dies with the
		// goroutine instead of running other code in the wrong namespace.
		return "", fmt.Errorf("restore network namespace: %w", err)
	}
	runtime.UnlockOSThread()
	if err != nil {
		return "", fmt.Errorf("dial %s in %s: %w", hostport, ns, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", hostport); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return "", fmt.Errorf("GET %s in %s: %w", hostport, ns, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s in %s: %s", hostport, ns, resp.Status)
	}
	return strings.TrimSpace(string(b)), nil
}

// spread fetches n times and counts the answers.
func spread(t *testing.T, ns, hostport string, n int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for i := 0; i < n; i++ {
		body, err := fetch(ns, hostport)
		if err != nil {
			t.Fatal(err)
		}
		seen[body]++
	}
	return seen
}

// TestTraffic applies rules for four Services to a node namespace with
// two pod namespaces and sends real requests: spread across endpoints,
// NodePort on the node IP, pod to Service, hairpin, ClientIP affinity, and
// a Service without endpoints refusing.
func TestTraffic(t *testing.T) {
	needRoot(t)
	n := newTestNode(t)
	podA := n.addPod(t, "a", "10.244.0.10", "pod-a")
	podB := n.addPod(t, "b", "10.244.0.11", "pod-b")
	podDevs := map[string]bool{"lo": true, "eth0": true}

	both := []discoveryv1.EndpointPort{slicePortOf("http", corev1.ProtocolTCP, 80)}
	snap := Snapshot{
		NodeIPs:     []netip.Addr{netip.MustParseAddr(nodeIP)},
		ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16"),
		ServiceCIDR: netip.MustParsePrefix("10.96.0.0/16"),
		// The DNS redirect, checked over TCP with an HTTP server standing
		// in for the node-local DNS server.
		DNS: DNSRedirect{ServiceIP: netip.MustParseAddr("10.96.0.10"), Target: netip.MustParseAddrPort(gatewayIP + ":5353")},
		Services: []*corev1.Service{
			svc("default", "web", "10.96.0.5", corev1.ServiceTypeNodePort, false, port("http", corev1.ProtocolTCP, 80, 80, 30080)),
			svc("default", "self", "10.96.0.7", corev1.ServiceTypeClusterIP, false, port("http", corev1.ProtocolTCP, 80, 80, 0)),
			svc("default", "sticky", "10.96.0.8", corev1.ServiceTypeClusterIP, true, port("http", corev1.ProtocolTCP, 80, 80, 0)),
			svc("default", "empty", "10.96.0.9", corev1.ServiceTypeClusterIP, false, port("http", corev1.ProtocolTCP, 80, 80, 0)),
		},
		Slices: []*discoveryv1.EndpointSlice{
			slice("default", "web-1", "web", both, ep("10.244.0.10", true, false), ep("10.244.0.11", true, false)),
			slice("default", "self-1", "self", both, ep("10.244.0.10", true, false)),
			slice("default", "sticky-1", "sticky", both, ep("10.244.0.10", true, false), ep("10.244.0.11", true, false)),
		},
	}
	tbl := NewTable(nsPath(n.ns))
	if err := tbl.Apply(Rules(snap)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tbl.Cleanup() })

	for _, a := range []string{"10.96.0.5", "10.96.0.7", "10.96.0.8", "10.96.0.9", nodeIP, "10.244.0.10", "10.244.0.11"} {
		checkRoute(t, n.ns, a, n.devices)
	}
	for _, ns := range []string{podA, podB} {
		checkRoute(t, ns, "10.96.0.5", podDevs)
		checkRoute(t, ns, "10.96.0.7", podDevs)
	}

	t.Run("clusterip-spread", func(t *testing.T) {
		seen := spread(t, n.ns, "10.96.0.5:80", 40)
		t.Logf("ClusterIP from the node, 40 requests: %v", seen)
		if seen["pod-a"] == 0 || seen["pod-b"] == 0 || len(seen) != 2 {
			t.Fatalf("want both backends to answer, got %v", seen)
		}
	})
	t.Run("nodeport", func(t *testing.T) {
		seen := spread(t, n.ns, nodeIP+":30080", 30)
		t.Logf("NodePort from the node, 30 requests: %v", seen)
		if seen["pod-a"] == 0 || seen["pod-b"] == 0 || len(seen) != 2 {
			t.Fatalf("want both backends to answer, got %v", seen)
		}
	})
	t.Run("pod-to-service", func(t *testing.T) {
		seen := spread(t, podB, "10.96.0.5:80", 30)
		t.Logf("ClusterIP from pod b, 30 requests: %v", seen)
		if seen["pod-a"] == 0 || seen["pod-b"] == 0 {
			t.Fatalf("want both backends (b through hairpin), got %v", seen)
		}
	})
	t.Run("hairpin", func(t *testing.T) {
		seen := spread(t, podA, "10.96.0.7:80", 5)
		if seen["pod-a"] != 5 {
			t.Fatalf("pod a through its own Service: got %v", seen)
		}
	})
	t.Run("affinity", func(t *testing.T) {
		seen := spread(t, n.ns, "10.96.0.8:80", 20)
		t.Logf("ClientIP affinity, 20 requests: %v", seen)
		if len(seen) != 1 {
			t.Fatalf("want one backend for one client, got %v", seen)
		}
		// A rewrite of the table (the periodic resync) keeps the affinity.
		if err := tbl.Apply(Rules(snap)); err != nil {
			t.Fatal(err)
		}
		again := spread(t, n.ns, "10.96.0.8:80", 10)
		for k := range again {
			if seen[k] == 0 {
				t.Fatalf("affinity lost across a re-apply: before %v, after %v", seen, again)
			}
		}
	})
	t.Run("dns-redirect", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("node-dns\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("ip", "netns", "exec", n.ns, "busybox", "httpd", "-f", "-p", gatewayIP+":5353", "-h", dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		checkRoute(t, podA, "10.96.0.10", podDevs)
		var body string
		deadline := time.Now().Add(10 * time.Second)
		for {
			var err error
			if body, err = fetch(podA, "10.96.0.10:53"); err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if body != "node-dns" {
			t.Fatalf("DNS Service IP from a pod: got %q, want the node-local server", body)
		}
	})
	t.Run("no-endpoints-rejects", func(t *testing.T) {
		start := time.Now()
		_, err := fetch(n.ns, "10.96.0.9:80")
		if err == nil || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("want connection refused, got %v", err)
		}
		t.Logf("refused after %s", time.Since(start))
		_, err = fetch(podA, "10.96.0.9:80")
		if err == nil || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("from a pod: want connection refused, got %v", err)
		}
	})
}
