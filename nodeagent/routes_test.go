package nodeagent

import (
	"net/netip"
	"testing"

	"github.com/kelson-dev/kelson/nodeagent/podnet"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func testNode(name, cidr string, addrs ...corev1.NodeAddress) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.NodeSpec{PodCIDR: cidr}, Status: corev1.NodeStatus{Addresses: addrs}}
}

func TestNodeRoutes(t *testing.T) {
	internal := func(ip string) corev1.NodeAddress {
		return corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip}
	}
	host := corev1.NodeAddress{Type: corev1.NodeHostName, Address: "b"}
	nodes := []*corev1.Node{
		testNode("self", "10.42.0.0/24", internal("192.168.1.1")),
		testNode("c", "10.42.2.0/24", host, internal("fd00::3"), internal("192.168.1.3")),
		testNode("b", "10.42.1.0/24", host, internal("192.168.1.2")),
		testNode("no-cidr", "", internal("192.168.1.4")),
		testNode("no-ip", "10.42.4.0/24", host),
		testNode("bad-cidr", "10.42.5.0/33", internal("192.168.1.5")),
	}
	got := nodeRoutes(nodes, "self")
	want := []podnet.NodeRoute{
		{PodCIDR: netip.MustParsePrefix("10.42.1.0/24"), NodeIP: netip.MustParseAddr("192.168.1.2")},
		{PodCIDR: netip.MustParsePrefix("10.42.2.0/24"), NodeIP: netip.MustParseAddr("192.168.1.3")},
	}
	if len(got) != len(want) {
		t.Fatalf("routes %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("route %d: %v, want %v", i, got[i], want[i])
		}
	}
}

func TestDefaultClusterDNS(t *testing.T) {
	for cidr, want := range map[string]string{"10.43.0.0/16": "10.43.0.10", "10.43.0.0/28": "10.43.0.10", "10.43.0.0/29": "10.43.0.2"} {
		if got := DefaultClusterDNS(netip.MustParsePrefix(cidr)); got.String() != want {
			t.Errorf("DefaultClusterDNS(%s) = %s, want %s", cidr, got, want)
		}
	}
}
