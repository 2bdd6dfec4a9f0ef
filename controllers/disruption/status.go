package disruption

import (
	"errors"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// DeletionTimeout is how long an eviction recorded in
// status.disruptedPods keeps its pod out of the healthy count: if the pod
// is still there (not being deleted) after it, the eviction is taken to
// have failed and the entry is dropped.
const DeletionTimeout = 2 * time.Minute

// ErrNoController: a pod's controller, named by its controllerRef, was
// not found (or has another UID), so the budget's expected count is
// unknown.
var ErrNoController = errors.New("disruption: found no controller")

// Scale is what a pod's controller says about its size.
type Scale struct {
	// UID of the controller, to count each controller once.
	UID types.UID
	// Replicas is its spec.replicas (through its scale subresource for
	// kinds the controller does not know).
	Replicas int32
}

// ScaleFunc finds the scale of the controller a pod's controllerRef
// names, in namespace ns; a missing controller is ErrNoController.
type ScaleFunc func(ns string, ref *metav1.OwnerReference) (Scale, error)

// Expectation is how many pods a budget expects and needs healthy.
type Expectation struct {
	// Expected is status.expectedPods: the selected pods' count for an
	// integer minAvailable, otherwise the sum of their controllers'
	// replicas.
	Expected int32
	// DesiredHealthy is minAvailable, or expected minus maxUnavailable
	// (percentages of expected rounded up), never below zero.
	DesiredHealthy int32
	// Unmanaged names selected pods without a controller: their budget
	// counts no replicas for them (an Event says so).
	Unmanaged []string
}

// Expect computes a budget's Expectation over its selected pods, asking
// scale for their controllers only when the budget is a percentage or a
// maxUnavailable (as Kubernetes does).
func Expect(pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod, scale ScaleFunc) (Expectation, error) {
	var e Expectation
	spec := &pdb.Spec
	switch {
	case spec.MaxUnavailable != nil:
		var err error
		if e.Expected, e.Unmanaged, err = expectedScale(pdb.Namespace, pods, scale); err != nil {
			return e, err
		}
		maxUnavailable, err := intstr.GetScaledValueFromIntOrPercent(spec.MaxUnavailable, int(e.Expected), true)
		if err != nil {
			return e, fmt.Errorf("disruption: maxUnavailable: %w", err)
		}
		e.DesiredHealthy = max(0, e.Expected-int32(maxUnavailable))
	case spec.MinAvailable != nil && spec.MinAvailable.Type == intstr.Int:
		e.Expected, e.DesiredHealthy = int32(len(pods)), spec.MinAvailable.IntVal
	case spec.MinAvailable != nil:
		var err error
		if e.Expected, e.Unmanaged, err = expectedScale(pdb.Namespace, pods, scale); err != nil {
			return e, err
		}
		minAvailable, err := intstr.GetScaledValueFromIntOrPercent(spec.MinAvailable, int(e.Expected), true)
		if err != nil {
			return e, fmt.Errorf("disruption: minAvailable: %w", err)
		}
		e.DesiredHealthy = int32(minAvailable)
	}
	return e, nil
}

// expectedScale sums the replicas of the pods' controllers, each once.
func expectedScale(ns string, pods []*corev1.Pod, scale ScaleFunc) (int32, []string, error) {
	seen := map[types.UID]bool{}
	var total int32
	var unmanaged []string
	for _, p := range pods {
		ref := metav1.GetControllerOf(p)
		if ref == nil {
			unmanaged = append(unmanaged, p.Name)
			continue
		}
		s, err := scale(ns, ref)
		if err != nil {
			return 0, nil, fmt.Errorf("%w for pod %q: %w", ErrNoController, p.Name, err)
		}
		if !seen[s.UID] {
			seen[s.UID] = true
			total += s.Replicas
		}
	}
	sort.Strings(unmanaged)
	return total, unmanaged, nil
}

// Status is the budget's status given its selected pods and expectation
// at now, and when to look again (0: only on the next change): an
// eviction recorded in disruptedPods expires after DeletionTimeout.
//
// Healthy pods are Ready, not being deleted and not recently evicted.
// disruptionsAllowed = healthy - desiredHealthy, at least 0, and 0 when
// no pods are expected.
func Status(pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod, e Expectation, now time.Time) (policyv1.PodDisruptionBudgetStatus, time.Duration) {
	disrupted, recheck := disruptedPods(pdb.Status.DisruptedPods, pods, now)
	var healthy int32
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		if _, evicted := disrupted[p.Name]; evicted {
			continue
		}
		if podReady(p) {
			healthy++
		}
	}
	allowed := healthy - e.DesiredHealthy
	if e.Expected <= 0 || allowed < 0 {
		allowed = 0
	}
	st := policyv1.PodDisruptionBudgetStatus{
		ObservedGeneration: pdb.Generation,
		DisruptedPods:      disrupted,
		DisruptionsAllowed: allowed,
		CurrentHealthy:     healthy,
		DesiredHealthy:     e.DesiredHealthy,
		ExpectedPods:       e.Expected,
		Conditions:         append([]metav1.Condition(nil), pdb.Status.Conditions...),
	}
	c := metav1.Condition{Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionTrue,
		Reason: policyv1.SufficientPodsReason, ObservedGeneration: pdb.Generation, LastTransitionTime: metav1.NewTime(now)}
	if allowed == 0 {
		c.Status, c.Reason = metav1.ConditionFalse, policyv1.InsufficientPodsReason
	}
	setCondition(&st.Conditions, c)
	return st, recheck
}

// FailSafe is the status of a budget whose expectation could not be
// computed: no disruptions allowed, a SyncFailed condition saying why.
// The rest of the status is kept as it was.
func FailSafe(pdb *policyv1.PodDisruptionBudget, cause error, now time.Time) policyv1.PodDisruptionBudgetStatus {
	st := *pdb.Status.DeepCopy()
	st.DisruptionsAllowed = 0
	setCondition(&st.Conditions, metav1.Condition{Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionFalse,
		Reason: policyv1.SyncFailedReason, Message: cause.Error(), ObservedGeneration: st.ObservedGeneration, LastTransitionTime: metav1.NewTime(now)})
	return st
}

// disruptedPods keeps the recorded evictions of pods still present, not
// yet being deleted, and recorded less than DeletionTimeout ago; the
// duration is until the earliest kept one expires.
func disruptedPods(recorded map[string]metav1.Time, pods []*corev1.Pod, now time.Time) (map[string]metav1.Time, time.Duration) {
	if len(recorded) == 0 {
		return nil, 0
	}
	kept := map[string]metav1.Time{}
	var recheck time.Duration
	for _, p := range pods {
		at, ok := recorded[p.Name]
		if !ok || p.DeletionTimestamp != nil {
			continue
		}
		left := at.Add(DeletionTimeout).Sub(now)
		if left <= 0 {
			continue // the eviction did not happen
		}
		kept[p.Name] = at
		if recheck == 0 || left < recheck {
			recheck = left
		}
	}
	if len(kept) == 0 {
		return nil, 0
	}
	return kept, recheck
}

// setCondition sets c in conds, keeping the transition time when its
// status is unchanged.
func setCondition(conds *[]metav1.Condition, c metav1.Condition) {
	for i := range *conds {
		old := &(*conds)[i]
		if old.Type != c.Type {
			continue
		}
		if old.Status == c.Status {
			c.LastTransitionTime = old.LastTransitionTime
		}
		*old = c
		return
	}
	*conds = append(*conds, c)
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
