package nodelifecycle

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// noExecutePolicy says what may happen to a node's not-ready and
// unreachable NoExecute taints.
type noExecutePolicy int

const (
	// addNoExecute: a not-ready node gets its NoExecute taint.
	addNoExecute noExecutePolicy = iota
	// holdNoExecute: existing ones stay (and swap between not-ready and
	// unreachable), none is added — the eviction rate is spent.
	holdNoExecute
	// dropNoExecute: none at all — every node is not ready, which says
	// more about the control plane's reach than about the nodes.
	dropNoExecute
)

// conditionTaints maps a node condition status to the NoSchedule taint
// it brings (TaintNodesByCondition).
var conditionTaints = []struct {
	cond   corev1.NodeConditionType
	status corev1.ConditionStatus
	key    string
}{
	{corev1.NodeReady, corev1.ConditionFalse, corev1.TaintNodeNotReady},
	{corev1.NodeReady, corev1.ConditionUnknown, corev1.TaintNodeUnreachable},
	{corev1.NodeMemoryPressure, corev1.ConditionTrue, corev1.TaintNodeMemoryPressure},
	{corev1.NodeDiskPressure, corev1.ConditionTrue, corev1.TaintNodeDiskPressure},
	{corev1.NodePIDPressure, corev1.ConditionTrue, corev1.TaintNodePIDPressure},
	{corev1.NodeNetworkUnavailable, corev1.ConditionTrue, corev1.TaintNodeNetworkUnavailable},
}

// managed reports whether the controller owns taint t.
func managed(t corev1.Taint) bool {
	switch t.Effect {
	case corev1.TaintEffectNoSchedule:
		if t.Key == corev1.TaintNodeUnschedulable {
			return true
		}
		for _, c := range conditionTaints {
			if c.key == t.Key {
				return true
			}
		}
	case corev1.TaintEffectNoExecute:
		return t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable
	}
	return false
}

// desiredTaints is node's taint list: the taints the controller does not
// own, unchanged, and the ones its conditions and spec call for —
//
//	Ready False         node.kubernetes.io/not-ready:NoSchedule + :NoExecute
//	Ready Unknown       node.kubernetes.io/unreachable:NoSchedule + :NoExecute
//	MemoryPressure True node.kubernetes.io/memory-pressure:NoSchedule
//	DiskPressure True   node.kubernetes.io/disk-pressure:NoSchedule
//	PIDPressure True    node.kubernetes.io/pid-pressure:NoSchedule
//	NetworkUnavailable  node.kubernetes.io/network-unavailable:NoSchedule
//	spec.unschedulable  node.kubernetes.io/unschedulable:NoSchedule
//
// with the NoExecute ones as policy allows. A taint that stays keeps its
// timeAdded (evictions count from it); a new one gets now. addsNoExecute
// reports whether a NoExecute taint is added to a node that had none (a
// swap between not-ready and unreachable is not an addition).
func desiredTaints(node *corev1.Node, now time.Time, policy noExecutePolicy) (taints []corev1.Taint, addsNoExecute bool) {
	type want struct {
		key    string
		effect corev1.TaintEffect
	}
	var wanted []want
	if node.Spec.Unschedulable {
		wanted = append(wanted, want{corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule})
	}
	for _, ct := range conditionTaints {
		if c := condition(node.Status.Conditions, ct.cond); c != nil && c.Status == ct.status {
			wanted = append(wanted, want{ct.key, corev1.TaintEffectNoSchedule})
		}
	}
	hadNoExecute := false
	for _, t := range node.Spec.Taints {
		if managed(t) && t.Effect == corev1.TaintEffectNoExecute {
			hadNoExecute = true
		}
	}
	var noExec string
	switch readyStatus(node) {
	case corev1.ConditionFalse:
		noExec = corev1.TaintNodeNotReady
	case corev1.ConditionUnknown:
		noExec = corev1.TaintNodeUnreachable
	}
	if noExec != "" && (policy == addNoExecute || (policy == holdNoExecute && hadNoExecute)) {
		wanted = append(wanted, want{noExec, corev1.TaintEffectNoExecute})
		addsNoExecute = !hadNoExecute
	}

	for _, t := range node.Spec.Taints {
		if !managed(t) {
			taints = append(taints, t)
		}
	}
	stamp := metav1.NewTime(now)
	for _, w := range wanted {
		found := false
		for _, t := range node.Spec.Taints {
			if t.Key == w.key && t.Effect == w.effect {
				taints = append(taints, t)
				found = true
				break
			}
		}
		if !found {
			taints = append(taints, corev1.Taint{Key: w.key, Effect: w.effect, TimeAdded: &stamp})
		}
	}
	return taints, addsNoExecute
}

// sameTaints reports whether a and b hold the same taints (key, value,
// effect), in any order.
func sameTaints(a, b []corev1.Taint) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		found := false
		for _, y := range b {
			if x.Key == y.Key && x.Value == y.Value && x.Effect == y.Effect {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
