package nodelifecycle

import (
	"context"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/internal/testcluster"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// TestEvictionRate: two nodes go unreachable at once; at 0.1 nodes/s the
// first gets its NoExecute taint, the second only NoSchedule until 10 s
// later, then NoExecute. A swap of not-ready to unreachable spends no
// token. With no node Ready at all, none gets NoExecute.
func TestEvictionRate(t *testing.T) {
	unknown := func(name string) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionUnknown},
		}}}
	}
	stamp := metav1.NewTime(t0)
	swapping := unknown("c")
	swapping.Spec.Taints = []corev1.Taint{{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute, TimeAdded: &stamp}}
	cs := fake.NewSimpleClientset(unknown("a"), unknown("b"), swapping)
	cctx := controllers.NewContext(cs, "test", testcluster.Logger())
	defer cctx.Close()
	clock := t0
	cctx.Now = func() time.Time { return clock }
	c := NewWithConfig(cctx, Config{})
	ctx := context.Background()

	taintsOf := func(name string) string {
		n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return taintStr(n.Spec.Taints)
	}
	sync := func(name string) {
		t.Helper()
		n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.syncTaints(ctx, n, clock); err != nil {
			t.Fatal(err)
		}
	}
	sync("a")
	sync("b")
	sync("c")
	if got := taintsOf("a"); got != "node.kubernetes.io/unreachable:NoExecute@0 node.kubernetes.io/unreachable:NoSchedule@0" {
		t.Errorf("a: %s", got)
	}
	if got := taintsOf("b"); got != "node.kubernetes.io/unreachable:NoSchedule@0" {
		t.Errorf("b: %s", got)
	}
	if got := taintsOf("c"); got != "node.kubernetes.io/unreachable:NoExecute@0 node.kubernetes.io/unreachable:NoSchedule@0" {
		t.Errorf("c (a swap): %s", got)
	}
	clock = t0.Add(5 * time.Second)
	sync("b")
	if got := taintsOf("b"); got != "node.kubernetes.io/unreachable:NoSchedule@0" {
		t.Errorf("b after 5 s: %s", got)
	}
	clock = t0.Add(10 * time.Second)
	sync("b")
	if got := taintsOf("b"); got != "node.kubernetes.io/unreachable:NoExecute@10 node.kubernetes.io/unreachable:NoSchedule@0" {
		t.Errorf("b after 10 s: %s", got)
	}

	// No node Ready: the NoExecute taints go.
	c.disrupted = true
	sync("a")
	if got := taintsOf("a"); got != "node.kubernetes.io/unreachable:NoSchedule@0" {
		t.Errorf("a in a full disruption: %s", got)
	}
}
