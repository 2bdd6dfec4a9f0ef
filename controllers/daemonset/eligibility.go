package daemonset

// Which nodes a DaemonSet's pod belongs on: the template's nodeName,
// nodeSelector and required node affinity against the node's name and
// labels, then the node's taints against the pod's tolerations (the
// template's plus the ones every daemon pod gets, see daemonTolerations).

import (
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// Fit is whether a daemon pod belongs on a node.
type Fit struct {
	// ShouldRun: a daemon pod should be running on the node; the
	// controller creates one if there is none.
	ShouldRun bool
	// ShouldContinueRunning: a daemon pod already on the node may stay.
	// It differs from ShouldRun only for a NoSchedule taint the pod does
	// not tolerate, which keeps new pods off a node without evicting
	// running ones.
	ShouldContinueRunning bool
	// Reason explains a false ShouldRun, in the scheduler's words.
	Reason string
}

// NodeFit decides whether the pod built from spec (a DaemonSet's template
// spec, before the controller's own tolerations and affinity are added)
// belongs on node.
func NodeFit(spec *corev1.PodSpec, node *corev1.Node) Fit {
	if spec.NodeName != "" && spec.NodeName != node.Name {
		return Fit{Reason: fmt.Sprintf("the pod's nodeName is %q", spec.NodeName)}
	}
	if !matchesNodeSelector(spec.NodeSelector, node) {
		return Fit{Reason: "node didn't match Pod's node selector"}
	}
	if !matchesRequiredAffinity(spec.Affinity, node) {
		return Fit{Reason: "node didn't match Pod's node affinity"}
	}
	tolerations := daemonTolerations(spec)
	fit := Fit{ShouldRun: true, ShouldContinueRunning: true}
	for _, taint := range node.Spec.Taints {
		if taint.Effect != corev1.TaintEffectNoSchedule && taint.Effect != corev1.TaintEffectNoExecute {
			continue // PreferNoSchedule only ranks nodes
		}
		if tolerated(tolerations, &taint) {
			continue
		}
		reason := fmt.Sprintf("node had untolerated taint {%s}", taintString(&taint))
		if taint.Effect == corev1.TaintEffectNoExecute {
			return Fit{Reason: reason}
		}
		if fit.ShouldRun {
			fit.ShouldRun, fit.Reason = false, reason
		}
	}
	return fit
}

func taintString(t *corev1.Taint) string {
	if t.Value == "" {
		return fmt.Sprintf("%s: %s", t.Key, t.Effect)
	}
	return fmt.Sprintf("%s: %s=%s", t.Key, t.Value, t.Effect)
}

func matchesNodeSelector(sel map[string]string, node *corev1.Node) bool {
	for k, v := range sel {
		if got, ok := node.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// matchesRequiredAffinity: the terms of requiredDuringScheduling are ORed;
// no terms, or a term without requirements, matches nothing.
func matchesRequiredAffinity(a *corev1.Affinity, node *corev1.Node) bool {
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return true
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		if matchesTerm(&term, node) {
			return true
		}
	}
	return false
}

func matchesTerm(term *corev1.NodeSelectorTerm, node *corev1.Node) bool {
	if len(term.MatchExpressions) == 0 && len(term.MatchFields) == 0 {
		return false
	}
	for i := range term.MatchExpressions {
		r := &term.MatchExpressions[i]
		v, ok := node.Labels[r.Key]
		if !matchesRequirement(r, v, ok) {
			return false
		}
	}
	for i := range term.MatchFields {
		r := &term.MatchFields[i]
		// metadata.name is the only field a node selector may name.
		if r.Key != "metadata.name" || !matchesRequirement(r, node.Name, true) {
			return false
		}
	}
	return true
}

func matchesRequirement(r *corev1.NodeSelectorRequirement, v string, present bool) bool {
	switch r.Operator {
	case corev1.NodeSelectorOpIn:
		return present && contains(r.Values, v)
	case corev1.NodeSelectorOpNotIn:
		return !present || !contains(r.Values, v)
	case corev1.NodeSelectorOpExists:
		return present
	case corev1.NodeSelectorOpDoesNotExist:
		return !present
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if !present || len(r.Values) != 1 {
			return false
		}
		have, err1 := strconv.ParseInt(v, 10, 64)
		want, err2 := strconv.ParseInt(r.Values[0], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if r.Operator == corev1.NodeSelectorOpGt {
			return have > want
		}
		return have < want
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func tolerated(tolerations []corev1.Toleration, taint *corev1.Taint) bool {
	for i := range tolerations {
		if tolerates(&tolerations[i], taint) {
			return true
		}
	}
	return false
}

// tolerates: an empty effect matches every effect, an empty key with
// Exists matches every key; Equal (the default operator) compares values.
func tolerates(t *corev1.Toleration, taint *corev1.Taint) bool {
	if t.Effect != "" && t.Effect != taint.Effect {
		return false
	}
	if t.Key != "" && t.Key != taint.Key {
		return false
	}
	switch t.Operator {
	case corev1.TolerationOpExists:
		return true
	case corev1.TolerationOpEqual, "":
		return t.Key != "" && t.Value == taint.Value
	}
	return false
}

// daemonTolerations is spec's tolerations plus the ones every daemon pod
// gets, so that a daemon keeps running on a node that is not ready,
// unreachable, under resource pressure or cordoned: NoExecute for
// not-ready and unreachable (no tolerationSeconds: never evicted),
// NoSchedule for disk-, memory- and pid-pressure and unschedulable, and
// network-unavailable for a pod on the host network. A toleration the
// template already has for the same key and effect is kept as written.
func daemonTolerations(spec *corev1.PodSpec) []corev1.Toleration {
	out := append([]corev1.Toleration(nil), spec.Tolerations...)
	add := func(key string, effect corev1.TaintEffect) {
		for _, t := range out {
			if t.Key == key && t.Effect == effect {
				return
			}
		}
		out = append(out, corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: effect})
	}
	add(corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute)
	add(corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute)
	add(corev1.TaintNodeDiskPressure, corev1.TaintEffectNoSchedule)
	add(corev1.TaintNodeMemoryPressure, corev1.TaintEffectNoSchedule)
	add(corev1.TaintNodePIDPressure, corev1.TaintEffectNoSchedule)
	add(corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule)
	if spec.HostNetwork {
		add(corev1.TaintNodeNetworkUnavailable, corev1.TaintEffectNoSchedule)
	}
	return out
}
