package disruption

import (
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// pod makes a pod: ready or not, owned by the controller named owner ("" none).
func pod(name string, ready bool, owner string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}}
	if ready {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	}
	if owner != "" {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: owner,
			UID: types.UID("uid-" + owner), Controller: ptr.To(true)}}
	}
	return p
}

func pods(ps ...*corev1.Pod) []*corev1.Pod { return ps }

// scales answers for the controllers it knows.
func scales(m map[string]int32) ScaleFunc {
	return func(_ string, ref *metav1.OwnerReference) (Scale, error) {
		n, ok := m[ref.Name]
		if !ok {
			return Scale{}, errors.New("not found")
		}
		return Scale{UID: ref.UID, Replicas: n}, nil
	}
}

func budget(minAvailable, maxUnavailable *intstr.IntOrString) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "ns", Generation: 3},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: minAvailable, MaxUnavailable: maxUnavailable, Selector: &metav1.LabelSelector{}}}
}

func TestExpect(t *testing.T) {
	i, pct := func(n int) *intstr.IntOrString { return ptr.To(intstr.FromInt(n)) }, func(s string) *intstr.IntOrString { return ptr.To(intstr.FromString(s)) }
	three := pods(pod("a", true, "rs"), pod("b", true, "rs"), pod("c", false, "rs"))
	for _, tc := range []struct {
		name              string
		min, max          *intstr.IntOrString
		pods              []*corev1.Pod
		scale             map[string]int32
		expected, desired int32
		unmanaged         int
		wantErr           bool
	}{
		{name: "minAvailable int counts the pods", min: i(2), pods: three, expected: 3, desired: 2},
		{name: "minAvailable int needs no controller", min: i(1), pods: pods(pod("a", true, "")), expected: 1, desired: 1},
		{name: "minAvailable percent rounds up", min: pct("50%"), pods: three, scale: map[string]int32{"rs": 5}, expected: 5, desired: 3},
		{name: "maxUnavailable int", max: i(1), pods: three, scale: map[string]int32{"rs": 3}, expected: 3, desired: 2},
		{name: "maxUnavailable percent rounds up", max: pct("25%"), pods: three, scale: map[string]int32{"rs": 5}, expected: 5, desired: 3},
		{name: "maxUnavailable above expected", max: i(10), pods: three, scale: map[string]int32{"rs": 3}, expected: 3, desired: 0},
		{name: "controllers counted once each", max: i(0), pods: pods(pod("a", true, "x"), pod("b", true, "x"), pod("c", true, "y")),
			scale: map[string]int32{"x": 2, "y": 4}, expected: 6, desired: 6},
		{name: "unmanaged pods count nothing", max: i(0), pods: pods(pod("a", true, "x"), pod("z", true, "")),
			scale: map[string]int32{"x": 2}, expected: 2, desired: 2, unmanaged: 1},
		{name: "missing controller", max: i(1), pods: three, scale: map[string]int32{}, wantErr: true},
		{name: "neither set", pods: three, expected: 0, desired: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Expect(budget(tc.min, tc.max), tc.pods, scales(tc.scale))
			if tc.wantErr {
				if !errors.Is(err, ErrNoController) {
					t.Fatalf("want ErrNoController, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.Expected != tc.expected || e.DesiredHealthy != tc.desired || len(e.Unmanaged) != tc.unmanaged {
				t.Fatalf("got %+v, want expected %d desired %d unmanaged %d", e, tc.expected, tc.desired, tc.unmanaged)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	now := time.Unix(1700000000, 0)
	ago := func(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }
	deleting := pod("d", true, "rs")
	deleting.DeletionTimestamp = ptr.To(metav1.NewTime(now))
	for _, tc := range []struct {
		name             string
		pods             []*corev1.Pod
		e                Expectation
		disrupted        map[string]metav1.Time
		healthy, allowed int32
		keep             []string // disruptedPods kept
		recheck          time.Duration
		reason           string
	}{
		{name: "enough healthy", pods: pods(pod("a", true, ""), pod("b", true, ""), pod("c", true, "")),
			e: Expectation{Expected: 3, DesiredHealthy: 2}, healthy: 3, allowed: 1, reason: policyv1.SufficientPodsReason},
		{name: "unready pods are not healthy", pods: pods(pod("a", true, ""), pod("b", false, "")),
			e: Expectation{Expected: 2, DesiredHealthy: 1}, healthy: 1, allowed: 0, reason: policyv1.InsufficientPodsReason},
		{name: "deleting pods are not healthy", pods: pods(pod("a", true, ""), deleting),
			e: Expectation{Expected: 2, DesiredHealthy: 1}, healthy: 1, allowed: 0, reason: policyv1.InsufficientPodsReason},
		{name: "no pods expected", pods: nil, e: Expectation{}, healthy: 0, allowed: 0, reason: policyv1.InsufficientPodsReason},
		{name: "recently evicted pod not healthy", pods: pods(pod("a", true, ""), pod("b", true, ""), pod("c", true, "")),
			e: Expectation{Expected: 3, DesiredHealthy: 2}, disrupted: map[string]metav1.Time{"a": ago(30 * time.Second)},
			healthy: 2, allowed: 0, keep: []string{"a"}, recheck: 90 * time.Second, reason: policyv1.InsufficientPodsReason},
		{name: "expired eviction counts again", pods: pods(pod("a", true, ""), pod("b", true, ""), pod("c", true, "")),
			e: Expectation{Expected: 3, DesiredHealthy: 2}, disrupted: map[string]metav1.Time{"a": ago(3 * time.Minute)},
			healthy: 3, allowed: 1, reason: policyv1.SufficientPodsReason},
		{name: "evicted pods gone or deleting are dropped", pods: pods(pod("a", true, ""), deleting),
			e: Expectation{Expected: 2, DesiredHealthy: 0}, disrupted: map[string]metav1.Time{"d": ago(time.Second), "gone": ago(time.Second)},
			healthy: 1, allowed: 1, reason: policyv1.SufficientPodsReason},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := budget(ptr.To(intstr.FromInt(1)), nil)
			b.Status.DisruptedPods = tc.disrupted
			st, recheck := Status(b, tc.pods, tc.e, now)
			if st.CurrentHealthy != tc.healthy || st.DisruptionsAllowed != tc.allowed || st.ExpectedPods != tc.e.Expected ||
				st.DesiredHealthy != tc.e.DesiredHealthy || st.ObservedGeneration != 3 {
				t.Fatalf("status %+v", st)
			}
			if len(st.DisruptedPods) != len(tc.keep) {
				t.Fatalf("disruptedPods %v, want %v", st.DisruptedPods, tc.keep)
			}
			for _, k := range tc.keep {
				if _, ok := st.DisruptedPods[k]; !ok {
					t.Fatalf("disruptedPods %v, want %v", st.DisruptedPods, tc.keep)
				}
			}
			if recheck != tc.recheck {
				t.Fatalf("recheck %v, want %v", recheck, tc.recheck)
			}
			if len(st.Conditions) != 1 || st.Conditions[0].Type != policyv1.DisruptionAllowedCondition || st.Conditions[0].Reason != tc.reason ||
				(st.Conditions[0].Status == metav1.ConditionTrue) != (tc.allowed > 0) {
				t.Fatalf("conditions %+v", st.Conditions)
			}
		})
	}
}

// The transition time of an unchanged condition is kept, so a status
// that did not change is not rewritten.
func TestStatusStable(t *testing.T) {
	now := time.Unix(1700000000, 0)
	b := budget(ptr.To(intstr.FromInt(1)), nil)
	ps := pods(pod("a", true, ""), pod("b", true, ""))
	e := Expectation{Expected: 2, DesiredHealthy: 1}
	st, _ := Status(b, ps, e, now)
	b.Status = st
	again, _ := Status(b, ps, e, now.Add(time.Hour))
	if !again.Conditions[0].LastTransitionTime.Equal(&st.Conditions[0].LastTransitionTime) {
		t.Fatalf("transition time moved: %v -> %v", st.Conditions[0].LastTransitionTime, again.Conditions[0].LastTransitionTime)
	}
	fs := FailSafe(b, errors.New("boom"), now)
	if fs.DisruptionsAllowed != 0 || fs.Conditions[0].Reason != policyv1.SyncFailedReason || fs.Conditions[0].Message != "boom" || fs.CurrentHealthy != 2 {
		t.Fatalf("fail-safe status %+v", fs)
	}
}
