package node

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	usagev1alpha1 "github.com/kelson-dev/kelson/api/metrics/v1alpha1"
	"github.com/kelson-dev/kelson/internal/testcluster"
	"github.com/kelson-dev/kelson/nodeagent/runtime"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// testNode starts a Node against c with short intervals and the host
// fixture (1.5 CPUs, 2Gi); cleanup stops Run and waits for it.
func testNode(t *testing.T, c *testcluster.Cluster, name string, edit func(*Config)) *Node {
	t.Helper()
	uc, err := usagev1alpha1.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		NodeName: name, Hostname: name + ".test", Client: c.Client, UsageClient: uc,
		NodeIPs:        []netip.Addr{netip.MustParseAddr("192.0.2.10")}, // TEST-NET-1: never dialled
		Labels:         map[string]string{"disktype": "ssd"},
		Taints:         []corev1.Taint{{Key: "dedicated", Value: "agents", Effect: corev1.TaintEffectNoSchedule}},
		DataDir:        t.TempDir(),
		RuntimeVersion: "containerd://1.6.20",
		LeaseDuration:  3 * time.Second, LeaseRenewInterval: 200 * time.Millisecond,
		StatusUpdateFrequency: 300 * time.Millisecond, StatusReportFrequency: time.Minute,
		UsageInterval: 300 * time.Millisecond,
		HostFS:        hostFixture(),
		Logger:        testcluster.Logger(),
	}
	if edit != nil {
		edit(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Run did not return 30 s after its context ended")
		}
	})
	return n
}

func TestNodeLifecycle(t *testing.T) {
	c := testcluster.Start(t)
	ctx := context.Background()
	nodes := c.Client.CoreV1().Nodes()

	var cpuNanos atomic.Uint64
	var unhealthy atomic.Pointer[string]
	n := testNode(t, c, "agent-1", func(cfg *Config) {
		cfg.PodUsage = func(context.Context) ([]PodUsage, error) {
			// 50m: 15 ms of CPU per 300 ms, whatever the sampling times.
			now := time.Now()
			return []PodUsage{{Namespace: "default", Name: "web", UID: "w1", Containers: []ContainerUsage{
				{Name: "httpd", ID: "c1", Stats: statsAt(now, cpuNanos.Add(1), 20<<20)},
			}}}, nil
		}
		cfg.Healthy = func(context.Context) error {
			if msg := unhealthy.Load(); msg != nil {
				return errors.New(*msg)
			}
			return nil
		}
	})

	// Registered: metadata, capacity from the fixture, addresses, Ready.
	var node *corev1.Node
	testcluster.Eventually(t, 30*time.Second, func() error {
		var err error
		if node, err = nodes.Get(ctx, "agent-1", metav1.GetOptions{}); err != nil {
			return err
		}
		if readyStatus(node) != corev1.ConditionTrue {
			return fmt.Errorf("Ready is %q", readyStatus(node))
		}
		return nil
	})
	if node.Labels["kubernetes.io/hostname"] != "agent-1" || node.Labels["disktype"] != "ssd" || len(node.Spec.Taints) != 1 {
		t.Errorf("node meta: labels %v taints %v", node.Labels, node.Spec.Taints)
	}
	cpu, mem := node.Status.Capacity[corev1.ResourceCPU], node.Status.Allocatable[corev1.ResourceMemory]
	if cpu.String() != "1500m" || mem.String() != "1948Mi" { // 2Gi - 100Mi
		t.Errorf("capacity cpu %s, allocatable memory %s; want 1500m and 1948Mi", cpu.String(), mem.String())
	}
	if a := node.Status.Addresses; len(a) != 2 || a[0].Address != "192.0.2.10" || a[1].Address != "agent-1.test" {
		t.Errorf("addresses %v", a)
	}
	if node.Status.DaemonEndpoints.KubeletEndpoint.Port != 10250 || node.Status.NodeInfo.ContainerRuntimeVersion != "containerd://1.6.20" ||
		node.Status.NodeInfo.OSImage != "Debian GNU/Linux 12 (bookworm)" || node.Status.NodeInfo.KubeletVersion != "v1.37.2" {
		t.Errorf("status %+v %+v", node.Status.DaemonEndpoints, node.Status.NodeInfo)
	}

	// The Lease: held by the node, owned by it, renewed.
	leases := c.Client.CoordinationV1().Leases("kube-node-lease")
	var first time.Time
	testcluster.Eventually(t, 30*time.Second, func() error {
		l, err := leases.Get(ctx, "agent-1", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if *l.Spec.HolderIdentity != "agent-1" || *l.Spec.LeaseDurationSeconds != 3 || len(l.OwnerReferences) != 1 || l.OwnerReferences[0].UID != node.UID {
			return fmt.Errorf("lease %+v %+v", l.Spec, l.OwnerReferences)
		}
		first = l.Spec.RenewTime.Time
		return nil
	})
	testcluster.Eventually(t, 30*time.Second, func() error {
		l, err := leases.Get(ctx, "agent-1", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !l.Spec.RenewTime.Time.After(first) {
			return fmt.Errorf("renewTime still %v", l.Spec.RenewTime)
		}
		return nil
	})

	// The pod CIDR: WaitForPodCIDR blocks until spec.podCIDR is set.
	got := make(chan netip.Prefix, 1)
	waitErr := make(chan error, 1)
	go func() {
		p, err := n.WaitForPodCIDR(ctx)
		waitErr <- err
		got <- p
	}()
	select {
	case err := <-waitErr:
		t.Fatalf("WaitForPodCIDR returned before the CIDR was set: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	updateNode(t, c, "agent-1", func(n *corev1.Node) { n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.42.7.0/24", []string{"10.42.7.0/24"} })
	select {
	case err := <-waitErr:
		if p := <-got; err != nil || p != netip.MustParsePrefix("10.42.7.0/24") {
			t.Errorf("WaitForPodCIDR = %v, %v", p, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("WaitForPodCIDR did not return 30 s after spec.podCIDR was set")
	}

	// The nodelifecycle controller's Unknown is replaced by True.
	setUnknown(t, c, "agent-1")
	waitReady(t, c, "agent-1", corev1.ConditionTrue, "KubeletReady", unknownTransition)

	// A failing health check makes the node NotReady, and Ready again.
	msg := "container runtime is down"
	unhealthy.Store(&msg)
	waitReady(t, c, "agent-1", corev1.ConditionFalse, "KubeletNotReady", time.Time{})
	unhealthy.Store(nil)
	waitReady(t, c, "agent-1", corev1.ConditionTrue, "KubeletReady", time.Time{})

	// The usage report.
	uc, _ := usagev1alpha1.NewForConfig(c.Config)
	testcluster.Eventually(t, 30*time.Second, func() error {
		u, err := uc.Get(ctx, "agent-1")
		if err != nil {
			return err
		}
		if _, ok := u.Usage[corev1.ResourceMemory]; !ok || u.Window.Duration <= 0 || len(u.OwnerReferences) != 1 {
			return fmt.Errorf("report %+v", u)
		}
		if len(u.Pods) != 1 || u.Pods[0].Name != "web" || len(u.Pods[0].Containers) != 1 {
			return fmt.Errorf("report pods %+v", u.Pods)
		}
		if q := u.Pods[0].Containers[0].Usage[corev1.ResourceCPU]; q.Sign() <= 0 {
			return fmt.Errorf("container cpu %s, want > 0", q.String())
		}
		return nil
	})

	// The podCIDR survives the status posts; a deleted Node is registered
	// again (new UID), its Lease re-owned.
	if cur, _ := nodes.Get(ctx, "agent-1", metav1.GetOptions{}); cur.Spec.PodCIDR != "10.42.7.0/24" {
		t.Errorf("podCIDR lost: %q", cur.Spec.PodCIDR)
	}
	if err := nodes.Delete(ctx, "agent-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, 30*time.Second, func() error {
		cur, err := nodes.Get(ctx, "agent-1", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.UID == node.UID {
			return errors.New("still the old node")
		}
		l, err := leases.Get(ctx, "agent-1", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(l.OwnerReferences) != 1 || l.OwnerReferences[0].UID != cur.UID {
			return fmt.Errorf("lease owners %+v, node UID %s", l.OwnerReferences, cur.UID)
		}
		return nil
	})
	if m := n.Metrics(); m.StatusPosts == 0 || m.LeaseRenewals == 0 || m.UsageReports == 0 {
		t.Errorf("metrics %+v", m)
	}
}

// TestAdoptExistingNode: a Node that exists (say, from an earlier run)
// is adopted: the server-assigned pod CIDR and others' labels and taints
// are kept, ours merged in; WaitForPodCIDR returns at once.
func TestAdoptExistingNode(t *testing.T) {
	c := testcluster.Start(t)
	ctx := context.Background()
	_, err := c.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "agent-2", Labels: map[string]string{"team": "a", "disktype": "hdd"}},
		Spec: corev1.NodeSpec{PodCIDR: "10.42.9.0/24", PodCIDRs: []string{"10.42.9.0/24"},
			Taints: []corev1.Taint{{Key: "node.kubernetes.io/unreachable", Effect: corev1.TaintEffectNoExecute}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Status checks once a minute: the Unknown below is undone by the
	// watch's kick, not by the ticker.
	n := testNode(t, c, "agent-2", func(cfg *Config) { cfg.StatusUpdateFrequency = time.Minute })
	waitReady(t, c, "agent-2", corev1.ConditionTrue, "KubeletReady", time.Time{})
	setUnknown(t, c, "agent-2")
	waitReady(t, c, "agent-2", corev1.ConditionTrue, "KubeletReady", unknownTransition)
	cur, err := c.Client.CoreV1().Nodes().Get(ctx, "agent-2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cur.Spec.PodCIDR != "10.42.9.0/24" || cur.Labels["team"] != "a" || cur.Labels["disktype"] != "ssd" || len(cur.Spec.Taints) != 2 {
		t.Errorf("adopted node: podCIDR %q labels %v taints %v", cur.Spec.PodCIDR, cur.Labels, cur.Spec.Taints)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if p, err := n.WaitForPodCIDR(wctx); err != nil || p.String() != "10.42.9.0/24" {
		t.Errorf("WaitForPodCIDR = %v, %v", p, err)
	}
	// A context that ends first is an error that says what to check.
	n3, err := New(Config{NodeName: "nobody", Client: c.Client, NodeIPs: []netip.Addr{netip.MustParseAddr("192.0.2.11")}, HostFS: hostFixture()})
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer scancel()
	if _, err := n3.WaitForPodCIDR(sctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitForPodCIDR on a node that never comes = %v, want DeadlineExceeded", err)
	}
}

func statsAt(at time.Time, n, ws uint64) runtime.Stats {
	return runtime.Stats{Timestamp: at, CPUUsageNanos: n * 15_000_000, MemoryWorkingSet: ws}
}

func updateNode(t *testing.T, c *testcluster.Cluster, name string, edit func(*corev1.Node)) {
	t.Helper()
	retryConflicts(t, func() error {
		n, err := c.Client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		edit(n)
		_, err = c.Client.CoreV1().Nodes().Update(context.Background(), n, metav1.UpdateOptions{})
		return err
	})
}

func updateStatus(t *testing.T, c *testcluster.Cluster, name string, edit func(*corev1.Node)) {
	t.Helper()
	retryConflicts(t, func() error {
		n, err := c.Client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		edit(n)
		_, err = c.Client.CoreV1().Nodes().UpdateStatus(context.Background(), n, metav1.UpdateOptions{})
		return err
	})
}

var retryMu sync.Mutex

func retryConflicts(t *testing.T, f func() error) {
	t.Helper()
	retryMu.Lock()
	defer retryMu.Unlock()
	testcluster.Eventually(t, 30*time.Second, f)
}

// unknownTransition is the lastTransitionTime setUnknown writes.
var unknownTransition = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// setUnknown marks the node's Ready Unknown, as the nodelifecycle
// controller does when the Lease and status go stale.
func setUnknown(t *testing.T, c *testcluster.Cluster, name string) {
	t.Helper()
	updateStatus(t, c, name, func(n *corev1.Node) {
		for i := range n.Status.Conditions {
			if r := &n.Status.Conditions[i]; r.Type == corev1.NodeReady {
				r.Status, r.Reason, r.Message = corev1.ConditionUnknown, "NodeStatusUnknown", "Kubelet stopped posting node status."
				r.LastTransitionTime = metav1.NewTime(unknownTransition)
			}
		}
	})
}

// waitReady waits for the node's Ready condition to have status and
// reason, with a lastTransitionTime after after (if set).
func waitReady(t *testing.T, c *testcluster.Cluster, name string, status corev1.ConditionStatus, reason string, after time.Time) {
	t.Helper()
	testcluster.Eventually(t, 30*time.Second, func() error {
		n, err := c.Client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		r := cond(n.Status, corev1.NodeReady)
		if r.Status != status || r.Reason != reason {
			return fmt.Errorf("Ready %s %s, want %s %s", r.Status, r.Reason, status, reason)
		}
		if !after.IsZero() && !r.LastTransitionTime.Time.After(after) {
			return fmt.Errorf("Ready's lastTransitionTime %v is not after %v", r.LastTransitionTime, after)
		}
		return nil
	})
}
