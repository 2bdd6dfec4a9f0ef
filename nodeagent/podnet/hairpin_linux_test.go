package podnet

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// nftSelfService programs, in the node namespace, what the service proxy
// does for a pod that reaches itself through a Service: DNAT of vip:80 to
// the pod's ip:8080 and masquerade of the hairpinned flow (without it the
// pod would answer itself over lo, from its own IP rather than the VIP).
func nftSelfService(t *testing.T, nodeName string, vip, ip netip.Addr) {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft missing: cannot program the Service for the hairpin check")
	}
	rules := fmt.Sprintf(`table ip kt-podnet {
	chain pre { type nat hook prerouting priority -100; ip daddr %[1]s tcp dport 80 dnat to %[2]s:8080; }
	chain post { type nat hook postrouting priority 100; ip saddr %[2]s ip daddr %[2]s masquerade; }
}
`, vip, ip)
	cmd := exec.Command("ip", "netns", "exec", nodeName, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}
}

// TestHairpinService: a pod reaches itself through a (DNAT'd) Service
// address. See doc.go for why hairpin mode is needed: with br_netfilter
// active in the node's namespace (the default wherever the bridge module
// has it built in or loaded), the DNAT happens while the frame is being
// bridged and the frame goes back out the port it came in on.
func TestHairpinService(t *testing.T) {
	needRoot(t)
	ctx := t.Context()
	// Measured on this kernel (6.18) when writing this (not asserted: it
	// is the kernel's behaviour, not ours): without hairpin the
	// br_netfilter=1 case times out and the br_netfilter=0 one works;
	// without the masquerade rule every case times out.
	for _, tc := range []struct {
		name string
		brnf string
	}{
		{"br_netfilter=1", "1"},
		{"br_netfilter=0", "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodeName, nodePath := newNodeNS(t)
			n := newNet(t, nodePath, stateDir(t), "10.244.1.0/24")
			a, err := n.Setup(ctx, pod(1))
			if err != nil {
				t.Fatal(err)
			}
			if err := inNS(t, nodePath, func() error {
				return os.WriteFile("/proc/sys/net/bridge/bridge-nf-call-iptables", []byte(tc.brnf), 0o644)
			}); err != nil {
				t.Skipf("bridge-nf-call-iptables cannot be set (no br_netfilter): %v", err)
			}
			vip := netip.MustParseAddr("10.96.0.10")
			nftSelfService(t, nodeName, vip, a.IP)
			requireNoDefaultRoute(t, nodePath)
			requireRoute(t, a.NetNSPath, vip, "eth0", a.Gateway)
			listen(t, a.NetNSPath, netip.AddrPortFrom(a.IP, 8080))
			got, err := dial(t, a.NetNSPath, netip.AddrPortFrom(vip, 80))
			if err != nil || got != fmt.Sprintf("hello from %v:8080", a.IP) {
				t.Fatalf("pod -> Service -> itself: %q, %v", got, err)
			}
		})
	}
}
