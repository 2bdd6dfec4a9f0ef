package nodelifecycle_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/controllers/nodelifecycle"
	"github.com/kelson-dev/kelson/internal/testcluster"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// agent plays a node agent: it creates its Node (Ready) and Lease, and
// renews the Lease while alive.
type agent struct {
	cs   kubernetes.Interface
	name string
	mu   sync.Mutex
	on   bool
}

func newAgent(t *testing.T, cs kubernetes.Interface, name string) *agent {
	t.Helper()
	ctx := context.Background()
	now := metav1.Now()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
		{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: now, LastTransitionTime: now},
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", LastHeartbeatTime: now, LastTransitionTime: now},
	}}}
	if _, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	renew, dur := metav1.NewMicroTime(time.Now()), int32(40)
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &name, LeaseDurationSeconds: &dur, RenewTime: &renew}}
	if _, err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(ctx, l, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return &agent{cs: cs, name: name, on: true}
}

// run renews the Lease every 200 ms while the agent is on.
func (a *agent) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
		a.mu.Lock()
		on := a.on
		a.mu.Unlock()
		if !on {
			continue
		}
		l, err := a.cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, a.name, metav1.GetOptions{})
		if err != nil {
			continue
		}
		now := metav1.NewMicroTime(time.Now())
		l.Spec.RenewTime = &now
		a.cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Update(ctx, l, metav1.UpdateOptions{})
	}
}

func (a *agent) set(on bool) {
	a.mu.Lock()
	a.on = on
	a.mu.Unlock()
}

// postReady posts a fresh Ready=True status, as an agent coming back does.
func (a *agent) postReady(t *testing.T) {
	t.Helper()
	testcluster.Eventually(t, 30*time.Second, func() error {
		n, err := a.cs.CoreV1().Nodes().Get(context.Background(), a.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		for i := range n.Status.Conditions {
			c := &n.Status.Conditions[i]
			c.LastHeartbeatTime, c.LastTransitionTime, c.Status, c.Reason = now, now, corev1.ConditionFalse, "KubeletHas"
			if c.Type == corev1.NodeReady {
				c.Status, c.Reason = corev1.ConditionTrue, "KubeletReady"
			}
		}
		_, err = a.cs.CoreV1().Nodes().UpdateStatus(context.Background(), n, metav1.UpdateOptions{})
		return err
	})
}

func tol(key string, secs *int64) corev1.Toleration {
	return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs}
}

func secs(n int64) *int64 { return &n }

// runningPod creates a pod bound to node with tols, Running and Ready.
func runningPod(t *testing.T, cs kubernetes.Interface, name, node string, tols ...corev1.Toleration) {
	t.Helper()
	ctx := context.Background()
	p, err := cs.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       corev1.PodSpec{NodeName: node, Tolerations: tols, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	if _, err := cs.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func getNode(cs kubernetes.Interface, name string) (*corev1.Node, error) {
	return cs.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
}

func taintList(n *corev1.Node) string {
	var out []string
	for _, t := range n.Spec.Taints {
		out = append(out, t.ToString())
	}
	return strings.Join(out, ",")
}

func waitTaints(t *testing.T, cs kubernetes.Interface, name, want string) *corev1.Node {
	t.Helper()
	var n *corev1.Node
	testcluster.Eventually(t, 30*time.Second, func() error {
		var err error
		if n, err = getNode(cs, name); err != nil {
			return err
		}
		if got := taintList(n); got != want {
			return fmt.Errorf("node %s taints %q, want %q", name, got, want)
		}
		return nil
	})
	return n
}

func readyOf(n *corev1.Node) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

func podGone(cs kubernetes.Interface, name string) (*corev1.Pod, bool) {
	p, err := cs.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	return p, err != nil || p.DeletionTimestamp != nil
}

func hasEvent(cs kubernetes.Interface, kind, name, reason, message string) error {
	evs, err := cs.CoreV1().Events("").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, e := range evs.Items {
		if e.InvolvedObject.Kind == kind && e.InvolvedObject.Name == name && e.Reason == reason && e.Message == message {
			return nil
		}
	}
	return fmt.Errorf("no event %s %q on %s %s", reason, message, kind, name)
}

func TestNodeLifecycle(t *testing.T) {
	c := testcluster.Start(t)
	cs := c.Client
	ctx, cancel := context.WithCancel(context.Background())
	cctx := controllers.NewContext(cs, "test", testcluster.Logger())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait(); cctx.Close() }()

	// testcluster waits for the default namespace; the API server creates
	// kube-node-lease after it.
	testcluster.Eventually(t, 30*time.Second, func() error {
		_, err := cs.CoreV1().Namespaces().Get(ctx, corev1.NamespaceNodeLease, metav1.GetOptions{})
		return err
	})
	good, bad := newAgent(t, cs, "good"), newAgent(t, cs, "bad")
	for _, a := range []*agent{good, bad} {
		wg.Add(1)
		go func() { defer wg.Done(); a.run(ctx) }()
	}
	runningPod(t, cs, "now", "bad", tol(corev1.TaintNodeUnreachable, secs(0)))
	runningPod(t, cs, "later", "bad", tol(corev1.TaintNodeUnreachable, secs(3)))
	runningPod(t, cs, "forever", "bad", tol(corev1.TaintNodeUnreachable, nil))
	runningPod(t, cs, "defaulted", "bad") // the API adds 300 s tolerations
	runningPod(t, cs, "elsewhere", "good")
	if p, _ := cs.CoreV1().Pods("default").Get(ctx, "defaulted", metav1.GetOptions{}); len(p.Spec.Tolerations) != 2 {
		t.Fatalf("pod without tolerations got %v from the API, want the two 300 s defaults", p.Spec.Tolerations)
	}

	lc := nodelifecycle.NewWithConfig(cctx, nodelifecycle.Config{
		MonitorPeriod: 100 * time.Millisecond, GracePeriod: 2 * time.Second, StartupGracePeriod: 4 * time.Second, NodeEvictionRate: -1,
	})
	te := nodelifecycle.NewTaintEviction(cctx)
	cctx.Start(ctx)
	for _, r := range []interface{ Run(context.Context) error }{lc, te} {
		wg.Add(1)
		go func() { defer wg.Done(); r.Run(ctx) }()
	}

	// bad's Lease stops being renewed.
	bad.set(false)
	n := waitTaints(t, cs, "bad", "node.kubernetes.io/unreachable:NoSchedule,node.kubernetes.io/unreachable:NoExecute")
	r := readyOf(n)
	if r.Status != corev1.ConditionUnknown || r.Reason != "NodeStatusUnknown" || r.Message != "Kubelet stopped posting node status." {
		t.Fatalf("bad's Ready condition %+v", r)
	}
	var added time.Time
	for _, tn := range n.Spec.Taints {
		if tn.Effect == corev1.TaintEffectNoExecute {
			added = tn.TimeAdded.Time
		}
	}
	testcluster.Eventually(t, 30*time.Second, func() error {
		return hasEvent(cs, "Node", "bad", "NodeNotReady", "Node bad status is now: NodeNotReady")
	})

	// "now" goes at once, "later" after its 3 s, the others stay.
	testcluster.Eventually(t, 30*time.Second, func() error {
		if _, gone := podGone(cs, "now"); !gone {
			return fmt.Errorf("pod now not evicted")
		}
		return hasEvent(cs, "Pod", "now", "TaintManagerEviction", "Marking for deletion Pod default/now")
	})
	var later *corev1.Pod
	testcluster.Eventually(t, 30*time.Second, func() error {
		var gone bool
		if later, gone = podGone(cs, "later"); !gone {
			return fmt.Errorf("pod later not evicted")
		}
		return nil
	})
	var dt *corev1.PodCondition
	for i := range later.Status.Conditions {
		if later.Status.Conditions[i].Type == corev1.DisruptionTarget {
			dt = &later.Status.Conditions[i]
		}
	}
	if dt == nil || dt.Reason != "DeletionByTaintManager" || dt.Status != corev1.ConditionTrue {
		t.Fatalf("evicted pod's conditions %+v", later.Status.Conditions)
	}
	// Timestamps are whole seconds: allow one.
	if dt.LastTransitionTime.Time.Before(added.Add(2 * time.Second)) {
		t.Fatalf("pod with tolerationSeconds=3 evicted at %v, the taint was added at %v", dt.LastTransitionTime, added)
	}
	for _, name := range []string{"forever", "defaulted", "elsewhere"} {
		if _, gone := podGone(cs, name); gone {
			t.Fatalf("pod %s was evicted", name)
		}
	}
	// The pods of the silent node are no longer Ready.
	testcluster.Eventually(t, 30*time.Second, func() error {
		p, _ := cs.CoreV1().Pods("default").Get(ctx, "forever", metav1.GetOptions{})
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionFalse {
				return hasEvent(cs, "Pod", "forever", "NodeNotReady", "Node is not ready")
			}
		}
		return fmt.Errorf("pod forever still Ready: %+v", p.Status.Conditions)
	})
	if n, _ := getNode(cs, "good"); taintList(n) != "" || readyOf(n).Status != corev1.ConditionTrue {
		t.Fatalf("the healthy node was touched: %v %+v", n.Spec.Taints, readyOf(n))
	}

	// bad comes back: its taints go.
	bad.set(true)
	bad.postReady(t)
	waitTaints(t, cs, "bad", "")
	testcluster.Eventually(t, 30*time.Second, func() error {
		return hasEvent(cs, "Pod", "defaulted", "TaintManagerEviction", "Cancelling deletion of Pod default/defaulted")
	})

	// Conditions and spec.unschedulable bring NoSchedule taints.
	testcluster.Eventually(t, 30*time.Second, func() error {
		n, err := getNode(cs, "good")
		if err != nil {
			return err
		}
		n.Spec.Unschedulable = true
		_, err = cs.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		return err
	})
	waitTaints(t, cs, "good", "node.kubernetes.io/unschedulable:NoSchedule")

	// Every node silent: the control plane is likely cut off; no
	// NoExecute taints, so no evictions.
	good.set(false)
	bad.set(false)
	testcluster.Eventually(t, 30*time.Second, func() error {
		for _, name := range []string{"good", "bad"} {
			n, err := getNode(cs, name)
			if err != nil {
				return err
			}
			if r := readyOf(n); r.Status != corev1.ConditionUnknown {
				return fmt.Errorf("node %s Ready=%s", name, r.Status)
			}
		}
		return nil
	})
	time.Sleep(time.Second)
	waitTaints(t, cs, "good", "node.kubernetes.io/unschedulable:NoSchedule,node.kubernetes.io/unreachable:NoSchedule")
	waitTaints(t, cs, "bad", "node.kubernetes.io/unreachable:NoSchedule")
	if _, gone := podGone(cs, "elsewhere"); gone {
		t.Fatal("a pod was evicted while every node was unreachable")
	}
}
