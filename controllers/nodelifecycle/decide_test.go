package nodelifecycle

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var t0 = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

// node is created at t0-100s; ready "" means no Ready condition, else
// its status with lastHeartbeatTime at hb seconds.
func node(ready corev1.ConditionStatus, hb int) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", CreationTimestamp: metav1.NewTime(at(-100))}}
	if ready != "" {
		n.Status.Conditions = []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: ready, Reason: "KubeletReady", LastHeartbeatTime: metav1.NewTime(at(hb))},
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, LastHeartbeatTime: metav1.NewTime(at(hb))},
		}
	}
	return n
}

func lease(renew int) *coordinationv1.Lease {
	t := metav1.NewMicroTime(at(renew))
	return &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{RenewTime: &t}}
}

func conds(st *corev1.NodeStatus) string {
	if st == nil {
		return "-"
	}
	var out []string
	for _, c := range st.Conditions {
		out = append(out, fmt.Sprintf("%s=%s/%s", c.Type, c.Status, c.Reason))
	}
	return strings.Join(out, " ")
}

func TestAssess(t *testing.T) {
	const grace, startup = 40 * time.Second, 60 * time.Second
	cases := []struct {
		name       string
		node       *corev1.Node
		lease      *coordinationv1.Lease
		prev       *observation
		now        int
		wantStatus string
		notReady   bool
	}{
		{"first sight starts the grace period", node(corev1.ConditionTrue, -1000), nil, nil, 0, "-", false},
		{"heartbeat unchanged within grace", node(corev1.ConditionTrue, -5), nil,
			&observation{heartbeat: at(-5), probed: at(-30), ready: corev1.ConditionTrue}, 0, "-", false},
		{"heartbeat unchanged past grace", node(corev1.ConditionTrue, -5), nil,
			&observation{heartbeat: at(-5), probed: at(-41), ready: corev1.ConditionTrue}, 0,
			"Ready=Unknown/NodeStatusUnknown MemoryPressure=Unknown/NodeStatusUnknown DiskPressure=Unknown/NodeStatusNeverUpdated PIDPressure=Unknown/NodeStatusNeverUpdated", true},
		{"the lease renews although the status is old", node(corev1.ConditionTrue, -300), lease(-2),
			&observation{heartbeat: at(-10), probed: at(-50), ready: corev1.ConditionTrue}, 0, "-", false},
		{"a lease stale on the node's clock but newly seen counts", node(corev1.ConditionTrue, -300), lease(-200),
			&observation{heartbeat: at(-300), probed: at(-50), ready: corev1.ConditionTrue}, 0, "-", false},
		{"stale lease and status", node(corev1.ConditionTrue, -300), lease(-200),
			&observation{heartbeat: at(-200), probed: at(-45), ready: corev1.ConditionTrue}, 0,
			"Ready=Unknown/NodeStatusUnknown MemoryPressure=Unknown/NodeStatusUnknown DiskPressure=Unknown/NodeStatusNeverUpdated PIDPressure=Unknown/NodeStatusNeverUpdated", true},
		{"already Unknown: nothing to write", func() *corev1.Node {
			n := node(corev1.ConditionUnknown, -300)
			n.Status.Conditions = append(n.Status.Conditions,
				corev1.NodeCondition{Type: corev1.NodeDiskPressure, Status: corev1.ConditionUnknown},
				corev1.NodeCondition{Type: corev1.NodePIDPressure, Status: corev1.ConditionUnknown})
			n.Status.Conditions[1].Status = corev1.ConditionUnknown
			return n
		}(), nil, &observation{heartbeat: at(-300), probed: at(-100), ready: corev1.ConditionUnknown}, 0, "-", false},
		{"never posted, young", node("", 0), nil, nil, -50, "-", false},
		{"never posted, past startup grace", node("", 0), nil, nil, -30,
			"Ready=Unknown/NodeStatusNeverUpdated MemoryPressure=Unknown/NodeStatusNeverUpdated DiskPressure=Unknown/NodeStatusNeverUpdated PIDPressure=Unknown/NodeStatusNeverUpdated", false},
		{"node reports Ready=False", node(corev1.ConditionFalse, -1), nil,
			&observation{heartbeat: at(-11), probed: at(-11), ready: corev1.ConditionTrue}, 0, "-", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := assess(c.node, c.lease, c.prev, at(c.now), grace, startup)
			if got := conds(a.status); got != c.wantStatus {
				t.Errorf("status %s\nwant %s", got, c.wantStatus)
			}
			if a.becameNotReady != c.notReady {
				t.Errorf("becameNotReady %v, want %v", a.becameNotReady, c.notReady)
			}
			if a.status != nil {
				r := condition(a.status.Conditions, corev1.NodeReady)
				if r.LastTransitionTime.Time != at(c.now) || (c.node.Status.Conditions != nil && r.LastHeartbeatTime != c.node.Status.Conditions[0].LastHeartbeatTime) {
					t.Errorf("Ready condition times %+v", r)
				}
				if r.Reason == ReasonNodeStatusUnknown && r.Message != MessageStoppedPosting {
					t.Errorf("message %q", r.Message)
				}
			}
		})
	}
}

// TestAssessSequence walks one node through silence and back on a fake
// clock, the observation carried from step to step.
func TestAssessSequence(t *testing.T) {
	n := node(corev1.ConditionTrue, 0)
	var obs *observation
	step := func(now int, l *coordinationv1.Lease) assessment {
		a := assess(n, l, obs, at(now), 40*time.Second, 60*time.Second)
		obs = &a.obs
		if a.status != nil {
			n = n.DeepCopy()
			n.Status = *a.status
		}
		return a
	}
	step(0, lease(0))
	for s := 10; s <= 30; s += 10 {
		if a := step(s, lease(s)); a.status != nil {
			t.Fatalf("renewing node went Unknown at %d", s)
		}
	}
	if a := step(70, lease(30)); a.status != nil { // 40 s since the last renewal was seen
		t.Fatalf("Unknown at exactly the grace period")
	}
	a := step(71, lease(30))
	if a.status == nil || !a.becameNotReady || a.ready != corev1.ConditionUnknown {
		t.Fatalf("not Unknown after the grace period: %+v", a)
	}
	if a := step(76, lease(30)); a.status != nil || a.becameNotReady {
		t.Fatalf("wrote again: %+v", a)
	}
	// The node comes back: the agent posts Ready and renews.
	n = node(corev1.ConditionTrue, 80)
	if a := step(80, lease(80)); a.status != nil || a.ready != corev1.ConditionTrue {
		t.Fatalf("back: %+v", a)
	}
}

func taintStr(taints []corev1.Taint) string {
	var out []string
	for _, t := range taints {
		s := t.ToString()
		if t.TimeAdded != nil {
			s += fmt.Sprintf("@%d", int(t.TimeAdded.Sub(t0).Seconds()))
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func TestDesiredTaints(t *testing.T) {
	stamp := metav1.NewTime(at(-50))
	withTaints := func(n *corev1.Node, taints ...corev1.Taint) *corev1.Node {
		n.Spec.Taints = taints
		return n
	}
	notReadyNE := corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute, TimeAdded: &stamp}
	unreachNE := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &stamp}
	user := corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}
	pressure := node(corev1.ConditionTrue, 0)
	pressure.Status.Conditions[1].Status = corev1.ConditionTrue
	pressure.Spec.Unschedulable = true
	cases := []struct {
		name   string
		node   *corev1.Node
		policy noExecutePolicy
		want   string
		adds   bool
	}{
		{"ready", node(corev1.ConditionTrue, 0), addNoExecute, "", false},
		{"ready drops stale taints, keeps the user's", withTaints(node(corev1.ConditionTrue, 0), notReadyNE, user,
			corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule}), addNoExecute, "dedicated=gpu:NoSchedule", false},
		{"not ready", node(corev1.ConditionFalse, 0), addNoExecute,
			"node.kubernetes.io/not-ready:NoExecute@0 node.kubernetes.io/not-ready:NoSchedule@0", true},
		{"unknown", node(corev1.ConditionUnknown, 0), addNoExecute,
			"node.kubernetes.io/unreachable:NoExecute@0 node.kubernetes.io/unreachable:NoSchedule@0", true},
		{"unknown keeps timeAdded", withTaints(node(corev1.ConditionUnknown, 0), unreachNE), addNoExecute,
			"node.kubernetes.io/unreachable:NoExecute@-50 node.kubernetes.io/unreachable:NoSchedule@0", false},
		{"not ready to unknown swaps", withTaints(node(corev1.ConditionUnknown, 0), notReadyNE), holdNoExecute,
			"node.kubernetes.io/unreachable:NoExecute@0 node.kubernetes.io/unreachable:NoSchedule@0", false},
		{"hold adds none", node(corev1.ConditionUnknown, 0), holdNoExecute, "node.kubernetes.io/unreachable:NoSchedule@0", false},
		{"drop removes", withTaints(node(corev1.ConditionUnknown, 0), unreachNE), dropNoExecute, "node.kubernetes.io/unreachable:NoSchedule@0", false},
		{"pressure and unschedulable", pressure, addNoExecute,
			"node.kubernetes.io/memory-pressure:NoSchedule@0 node.kubernetes.io/unschedulable:NoSchedule@0", false},
		{"no Ready condition", node("", 0), addNoExecute, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, adds := desiredTaints(c.node, at(0), c.policy)
			if s := taintStr(got); s != c.want || adds != c.adds {
				t.Errorf("taints %q adds %v\nwant   %q adds %v", s, adds, c.want, c.adds)
			}
		})
	}
}

func secs(n int64) *int64 { return &n }

func TestEvictions(t *testing.T) {
	added := metav1.NewTime(at(-100))
	unreach := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &added}
	noTime := corev1.Taint{Key: "maintenance", Effect: corev1.TaintEffectNoExecute}
	noSched := corev1.Taint{Key: "x", Effect: corev1.TaintEffectNoSchedule}
	tol := func(key string, op corev1.TolerationOperator, s *int64) corev1.Toleration {
		return corev1.Toleration{Key: key, Operator: op, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: s}
	}
	pod := func(name string, tols ...corev1.Toleration) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: corev1.PodSpec{Tolerations: tols}}
	}
	deleting := pod("deleting")
	deleting.DeletionTimestamp = &added
	cases := []struct {
		name      string
		taints    []corev1.Taint
		pods      []*corev1.Pod
		evict     string
		scheduled string
		next      int // seconds; 0: none
	}{
		{"no NoExecute taint", []corev1.Taint{noSched}, []*corev1.Pod{pod("a")}, "", "", 0},
		{"intolerant pods go now, deleting ones are left", []corev1.Taint{unreach}, []*corev1.Pod{pod("a"), deleting}, "a", "", 0},
		{"forever", []corev1.Taint{unreach}, []*corev1.Pod{pod("a", tol(corev1.TaintNodeUnreachable, corev1.TolerationOpExists, nil))}, "", "", 0},
		{"wildcard toleration", []corev1.Taint{unreach, noTime}, []*corev1.Pod{pod("a", corev1.Toleration{Operator: corev1.TolerationOpExists})}, "", "", 0},
		{"300 s from timeAdded", []corev1.Taint{unreach},
			[]*corev1.Pod{pod("a", tol(corev1.TaintNodeUnreachable, corev1.TolerationOpExists, secs(300)))}, "", "a@200", 200},
		{"expired", []corev1.Taint{unreach},
			[]*corev1.Pod{pod("a", tol(corev1.TaintNodeUnreachable, corev1.TolerationOpExists, secs(60)))}, "a", "", 0},
		{"zero and negative mean now", []corev1.Taint{unreach},
			[]*corev1.Pod{pod("a", tol(corev1.TaintNodeUnreachable, corev1.TolerationOpExists, secs(0))), pod("b", tol(corev1.TaintNodeUnreachable, corev1.TolerationOpExists, secs(-5)))}, "a b", "", 0},
		{"one taint not tolerated", []corev1.Taint{unreach, noTime},
			[]*corev1.Pod{pod("a", tol(corev1.TaintNodeUnreachable, corev1.TolerationOpExists, secs(300)))}, "a", "", 0},
		{"taint without timeAdded counts from first sight", []corev1.Taint{noTime},
			[]*corev1.Pod{pod("a", tol("maintenance", corev1.TolerationOpExists, secs(30)))}, "", "a@30", 30},
		{"the shortest limit wins", []corev1.Taint{unreach},
			[]*corev1.Pod{pod("a", tol(corev1.TaintNodeUnreachable, corev1.TolerationOpExists, secs(500)), tol("", corev1.TolerationOpExists, secs(150)))}, "", "a@50", 50},
		{"earliest of several pods", []corev1.Taint{unreach},
			[]*corev1.Pod{pod("a", tol(corev1.TaintNodeUnreachable, corev1.TolerationOpExists, secs(400))), pod("b", tol(corev1.TaintNodeUnreachable, corev1.TolerationOpExists, secs(120)))}, "", "a@300 b@20", 20},
		{"value must match with Equal", []corev1.Taint{{Key: "k", Value: "v", Effect: corev1.TaintEffectNoExecute, TimeAdded: &added}},
			[]*corev1.Pod{pod("a", corev1.Toleration{Key: "k", Value: "w"}), pod("b", corev1.Toleration{Key: "k", Operator: corev1.TolerationOpEqual, Value: "v"})}, "a", "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plan := evictions(c.taints, c.pods, at(0), func(tn corev1.Taint) time.Time {
				if tn.TimeAdded != nil {
					return tn.TimeAdded.Time
				}
				return at(0)
			})
			var ev, sc []string
			for _, p := range plan.evict {
				ev = append(ev, p.Name)
			}
			for p, when := range plan.scheduled {
				sc = append(sc, fmt.Sprintf("%s@%d", p.Name, int(when.Sub(t0).Seconds())))
			}
			sort.Strings(sc)
			if strings.Join(ev, " ") != c.evict || strings.Join(sc, " ") != c.scheduled {
				t.Errorf("evict %v scheduled %v; want %q, %q", ev, sc, c.evict, c.scheduled)
			}
			next := 0
			if !plan.next.IsZero() {
				next = int(plan.next.Sub(t0).Seconds())
			}
			if next != c.next {
				t.Errorf("next %d, want %d", next, c.next)
			}
		})
	}
}

func TestBucket(t *testing.T) {
	b := newBucket(0.1, 1, at(0))
	if !b.take(at(0)) {
		t.Fatal("no first token")
	}
	if b.take(at(5)) {
		t.Fatal("a token after 5 s at 0.1/s")
	}
	if w := b.wait(at(5)); w != 5*time.Second {
		t.Fatalf("wait %v, want 5s", w)
	}
	if !b.take(at(10)) {
		t.Fatal("no token after 10 s")
	}
	if !b.take(at(1000)) || b.take(at(1000)) {
		t.Fatal("burst above 1")
	}
}
