package proxy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// needRoot skips when the test cannot make network namespaces or
// nftables rules.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, nftables)")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
}

// newNetns makes a network namespace kt-proxy-<rand> that the test owns
// and removes at the end; it returns its name.
func newNetns(t *testing.T, prefix string) string {
	t.Helper()
	name := fmt.Sprintf("kt-proxy-%s%06x", prefix, rand.Uint32()&0xffffff)
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Logf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	run(t, "ip", "-n", name, "link", "set", "lo", "up")
	return name
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func nsPath(name string) string { return "/var/run/netns/" + name }

func TestApplyReadBack(t *testing.T) {
	needRoot(t)
	ns := newNetns(t, "")
	tbl := NewTable(nsPath(ns))
	snap := Snapshot{
		NodeIPs:     []netip.Addr{netip.MustParseAddr("192.168.77.2")},
		ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16"),
		ServiceCIDR: netip.MustParsePrefix("10.96.0.0/16"),
		DNS:         DNSRedirect{ServiceIP: netip.MustParseAddr("10.96.0.10"), Target: netip.MustParseAddrPort("10.244.0.1:53")},
		Services: []*corev1.Service{
			svc("default", "web", "10.96.0.5", corev1.ServiceTypeNodePort, true, port("http", corev1.ProtocolTCP, 80, 8080, 30080), port("dns", corev1.ProtocolUDP, 53, 53, 0)),
			svc("default", "empty", "10.96.0.6", corev1.ServiceTypeClusterIP, false, port("", corev1.ProtocolTCP, 80, 80, 0)),
		},
		Slices: []*discoveryv1.EndpointSlice{
			slice("default", "web-1", "web", []discoveryv1.EndpointPort{slicePortOf("http", corev1.ProtocolTCP, 8080), slicePortOf("dns", corev1.ProtocolUDP, 53)},
				ep("10.244.0.10", true, false), ep("10.244.0.11", true, false)),
		},
	}
	rs := Rules(snap)
	if err := tbl.Apply(rs); err != nil {
		t.Fatal(err)
	}
	out := run(t, "ip", "netns", "exec", ns, "nft", "list", "ruleset")
	t.Logf("%s", out)
	// Apply again (the periodic resync): must succeed and keep one table.
	if err := tbl.Apply(rs); err != nil {
		t.Fatal(err)
	}
	if err := tbl.Cleanup(); err != nil {
		t.Fatal(err)
	}
}
