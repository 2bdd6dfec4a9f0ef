package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/testcluster"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestProxierFollowsEndpoints runs the Proxier against a real API server
// on a node namespace: a Service created through the API answers from its
// endpoint, and after the EndpointSlice moves to the other pod the next
// requests reach that pod. The time from the API write to the first
// answer from the new pod is logged (the rule update latency).
func TestProxierFollowsEndpoints(t *testing.T) {
	needRoot(t)
	n := newTestNode(t)
	n.addPod(t, "a", "10.244.0.10", "pod-a")
	n.addPod(t, "b", "10.244.0.11", "pod-b")
	c := testcluster.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	s, err := c.Client.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{
			{Name: "http", Protocol: corev1.ProtocolTCP, Port: 8080},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	clusterIP := s.Spec.ClusterIP
	nodePort := s.Spec.Ports[0].NodePort
	if _, err := netip.ParseAddr(clusterIP); err != nil || nodePort == 0 {
		t.Fatalf("the API gave ClusterIP %q NodePort %d", clusterIP, nodePort)
	}
	run(t, "ip", "-n", n.ns, "route", "replace", clusterIP+"/32", "dev", "kbr0")
	checkRoute(t, n.ns, clusterIP, n.devices)
	checkRoute(t, n.ns, nodeIP, n.devices)

	onlyOn := func(ip string) []discoveryv1.Endpoint { return []discoveryv1.Endpoint{ep(ip, true, false)} }
	es := slice("default", "web-1", "web", []discoveryv1.EndpointPort{slicePortOf("http", corev1.ProtocolTCP, 80)}, onlyOn("10.244.0.10")...)
	es, err = c.Client.DiscoveryV1().EndpointSlices("default").Create(ctx, es, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	p := New(c.Client, Config{
		NodeIPs:     []netip.Addr{netip.MustParseAddr(nodeIP)},
		ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16"),
		Logger:      testcluster.Logger(),
		NetNSPath:   nsPath(n.ns),
	})
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
		if err := p.Cleanup(); err != nil {
			t.Error(err)
		}
	}()

	svcAddr := fmt.Sprintf("%s:8080", clusterIP)
	answers := func(addr, want string) func() error {
		return func() error {
			body, err := fetch(n.ns, addr)
			if err != nil {
				return err
			}
			if body != want {
				return fmt.Errorf("%s answered %q, want %q", addr, body, want)
			}
			return nil
		}
	}
	testcluster.Eventually(t, 30*time.Second, answers(svcAddr, "pod-a"))
	testcluster.Eventually(t, 30*time.Second, answers(fmt.Sprintf("%s:%d", nodeIP, nodePort), "pod-a"))

	for i, target := range []struct{ ip, page string }{{"10.244.0.11", "pod-b"}, {"10.244.0.10", "pod-a"}, {"10.244.0.11", "pod-b"}} {
		es.Endpoints = onlyOn(target.ip)
		start := time.Now()
		es, err = c.Client.DiscoveryV1().EndpointSlices("default").Update(ctx, es, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		testcluster.Eventually(t, 30*time.Second, answers(svcAddr, target.page))
		t.Logf("endpoint change %d: %s answers %s %s after the API write (last apply took %s)",
			i+1, svcAddr, target.page, time.Since(start).Round(time.Millisecond), p.Metrics().LastApplyDuration.Round(time.Microsecond))
	}
	// The kernel switches before Apply returns: the count may lag the
	// traffic by a moment.
	testcluster.Eventually(t, 10*time.Second, func() error {
		if m := p.Metrics(); m.Applies < 4 || m.Errors != 0 {
			return fmt.Errorf("metrics %+v: want at least 4 applies and no errors", m)
		}
		return nil
	})
}
