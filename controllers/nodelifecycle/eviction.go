package nodelifecycle

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// tolerates reports whether toleration tol tolerates taint: the effects
// match (an empty effect matches all), and the keys match with operator
// Equal (the default; values equal too) or Exists (an empty key with
// Exists matches every taint).
func tolerates(tol corev1.Toleration, taint corev1.Taint) bool {
	if tol.Effect != "" && tol.Effect != taint.Effect {
		return false
	}
	if tol.Key != "" && tol.Key != taint.Key {
		return false
	}
	switch tol.Operator {
	case corev1.TolerationOpExists:
		return true
	case corev1.TolerationOpEqual, "":
		return tol.Key == taint.Key && tol.Value == taint.Value
	}
	return false
}

// evictionPlan is what to do with the pods on one node.
type evictionPlan struct {
	// evict are the pods to delete now.
	evict []*corev1.Pod
	// scheduled are the pods that tolerate the taints for a while, with
	// when they go.
	scheduled map[*corev1.Pod]time.Time
	// next is the earliest of scheduled (zero when none): sync again then.
	next time.Time
}

// evictions decides the fate of pods on a node with taints (only the
// NoExecute ones matter): a pod that does not tolerate every one of them
// is evicted now; a pod that tolerates them all goes when the first of
// its tolerationSeconds runs out, counted from when the taint it
// tolerates was added (added(t), the taint's timeAdded); a pod whose
// tolerations have no tolerationSeconds stays. tolerationSeconds <= 0
// means now. Pods already being deleted are left alone.
func evictions(taints []corev1.Taint, pods []*corev1.Pod, now time.Time, added func(corev1.Taint) time.Time) evictionPlan {
	var noExec []corev1.Taint
	for _, t := range taints {
		if t.Effect == corev1.TaintEffectNoExecute {
			noExec = append(noExec, t)
		}
	}
	plan := evictionPlan{scheduled: map[*corev1.Pod]time.Time{}}
	if len(noExec) == 0 {
		return plan
	}
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		at, forever := deadline(noExec, pod.Spec.Tolerations, added)
		switch {
		case forever:
		case !at.After(now):
			plan.evict = append(plan.evict, pod)
		default:
			plan.scheduled[pod] = at
			if plan.next.IsZero() || at.Before(plan.next) {
				plan.next = at
			}
		}
	}
	return plan
}

// deadline is when a pod with tols must leave a node with the NoExecute
// taints: the zero time for at once (a taint it does not tolerate), or
// forever when no toleration in use limits its stay. Otherwise the
// earliest taint-added + tolerationSeconds over the (taint, toleration)
// pairs that tolerate.
func deadline(taints []corev1.Taint, tols []corev1.Toleration, added func(corev1.Taint) time.Time) (at time.Time, forever bool) {
	forever = true
	for _, t := range taints {
		tolerated := false
		for _, tol := range tols {
			if !tolerates(tol, t) {
				continue
			}
			tolerated = true
			if tol.TolerationSeconds == nil {
				continue
			}
			secs := max(*tol.TolerationSeconds, 0)
			d := added(t).Add(time.Duration(secs) * time.Second)
			if forever || d.Before(at) {
				at, forever = d, false
			}
		}
		if !tolerated {
			return time.Time{}, false
		}
	}
	return at, forever
}
