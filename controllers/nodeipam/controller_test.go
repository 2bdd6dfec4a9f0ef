package nodeipam_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/controllers/nodeipam"
	"github.com/kelson-dev/kelson/internal/testcluster"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// start runs a nodeipam controller over /22 (four /24s) until the
// returned stop is called.
func start(t *testing.T, c *testcluster.Cluster) (stop func()) {
	t.Helper()
	_, cidr, _ := net.ParseCIDR("10.42.0.0/22")
	cctx := controllers.NewContext(c.Client, "test", testcluster.Logger())
	cctx.Cluster = controllers.Cluster{ClusterCIDR: cidr, NodeCIDRMaskSize: 24}
	ctrl := nodeipam.New(cctx)
	ctx, cancel := context.WithCancel(context.Background())
	cctx.Start(ctx)
	done := make(chan error, 1)
	go func() { done <- ctrl.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		cctx.Close()
	}
}

func createNode(t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	_, err := cs.CoreV1().Nodes().Create(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

func podCIDR(cs kubernetes.Interface, name string) (string, error) {
	n, err := cs.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	if n.Spec.PodCIDR == "" {
		return "", fmt.Errorf("node %s has no pod CIDR yet", name)
	}
	if len(n.Spec.PodCIDRs) != 1 || n.Spec.PodCIDRs[0] != n.Spec.PodCIDR {
		return "", fmt.Errorf("node %s: podCIDR %q podCIDRs %q", name, n.Spec.PodCIDR, n.Spec.PodCIDRs)
	}
	return n.Spec.PodCIDR, nil
}

// cidrs waits until every named node has a CIDR and checks they are
// distinct /24s of the cluster CIDR.
func cidrs(t *testing.T, cs kubernetes.Interface, names ...string) map[string]string {
	t.Helper()
	got := map[string]string{}
	testcluster.Eventually(t, 30*time.Second, func() error {
		for _, n := range names {
			p, err := podCIDR(cs, n)
			if err != nil {
				return err
			}
			got[n] = p
		}
		return nil
	})
	owner := map[string]string{}
	_, cluster, _ := net.ParseCIDR("10.42.0.0/22")
	for n, p := range got {
		ip, ipn, err := net.ParseCIDR(p)
		if err != nil || !cluster.Contains(ip) {
			t.Fatalf("node %s: CIDR %s not in %s", n, p, cluster)
		}
		if ones, _ := ipn.Mask.Size(); ones != 24 {
			t.Fatalf("node %s: CIDR %s is not a /24", n, p)
		}
		if o, dup := owner[p]; dup {
			t.Fatalf("nodes %s and %s both got %s", o, n, p)
		}
		owner[p] = n
	}
	return got
}

func TestNodeIPAM(t *testing.T) {
	c := testcluster.Start(t)
	cs := c.Client
	ctx := context.Background()
	stop := start(t, c)

	createNode(t, cs, "a")
	createNode(t, cs, "b")
	createNode(t, cs, "c")
	first := cidrs(t, cs, "a", "b", "c")
	t.Logf("assigned %v", first)

	// A restarted controller (a new leader) rebuilds from the Nodes: the
	// fourth node gets the one CIDR left, the fifth none.
	stop()
	stop = start(t, c)
	defer func() { stop() }()
	createNode(t, cs, "d")
	all := cidrs(t, cs, "a", "b", "c", "d")
	for n, p := range first {
		if all[n] != p {
			t.Fatalf("node %s changed CIDR %s -> %s", n, p, all[n])
		}
	}
	createNode(t, cs, "e")
	testcluster.Eventually(t, 30*time.Second, func() error {
		evs, err := cs.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.InvolvedObject.Kind == "Node" && e.InvolvedObject.Name == "e" && e.Reason == "CIDRNotAvailable" {
				if e.Message != "Node e status is now: CIDRNotAvailable" {
					return fmt.Errorf("event message %q", e.Message)
				}
				return nil
			}
		}
		return fmt.Errorf("no CIDRNotAvailable event for node e among %d events", len(evs.Items))
	})
	if p, err := podCIDR(cs, "e"); err == nil {
		t.Fatalf("node e got %s from an exhausted range", p)
	}

	// Deleting b frees its CIDR for e.
	if err := cs.CoreV1().Nodes().Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got := cidrs(t, cs, "a", "c", "d", "e")
	if got["e"] != first["b"] {
		t.Fatalf("node e got %s, want b's freed %s", got["e"], first["b"])
	}
}
