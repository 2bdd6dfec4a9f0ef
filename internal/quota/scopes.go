package quota

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// Scoped reports whether quota q has scopes (spec.scopes, or expressions
// in spec.scopeSelector): then it counts only the pods they select.
func Scoped(q *corev1.ResourceQuota) bool {
	return len(q.Spec.Scopes) > 0 || q.Spec.ScopeSelector != nil && len(q.Spec.ScopeSelector.MatchExpressions) > 0
}

// ScopesMatch reports whether pod p is in every scope of quota q: those
// of spec.scopes and the expressions of spec.scopeSelector. A quota
// without scopes matches every pod.
func ScopesMatch(q *corev1.ResourceQuota, p *corev1.Pod) bool {
	for _, s := range q.Spec.Scopes {
		if !ScopeMatch(corev1.ScopedResourceSelectorRequirement{ScopeName: s, Operator: corev1.ScopeSelectorOpExists}, p) {
			return false
		}
	}
	if sel := q.Spec.ScopeSelector; sel != nil {
		for _, r := range sel.MatchExpressions {
			if !ScopeMatch(r, p) {
				return false
			}
		}
	}
	return true
}

// ScopeMatch evaluates one scope requirement on a pod. Scopes that are
// not about pods (VolumeAttributesClass) or unknown select nothing, and
// so does an unknown operator.
func ScopeMatch(r corev1.ScopedResourceSelectorRequirement, p *corev1.Pod) bool {
	switch r.ScopeName {
	case corev1.ResourceQuotaScopeTerminating:
		return Terminating(p)
	case corev1.ResourceQuotaScopeNotTerminating:
		return !Terminating(p)
	case corev1.ResourceQuotaScopeBestEffort:
		return BestEffort(p)
	case corev1.ResourceQuotaScopeNotBestEffort:
		return !BestEffort(p)
	case corev1.ResourceQuotaScopeCrossNamespacePodAffinity:
		return CrossNamespaceAffinity(p)
	case corev1.ResourceQuotaScopePriorityClass:
		name := p.Spec.PriorityClassName
		switch r.Operator {
		case corev1.ScopeSelectorOpIn:
			return slices.Contains(r.Values, name)
		case corev1.ScopeSelectorOpNotIn:
			return !slices.Contains(r.Values, name)
		case corev1.ScopeSelectorOpExists:
			return name != ""
		case corev1.ScopeSelectorOpDoesNotExist:
			return name == ""
		}
	}
	return false
}

// Terminating: the pod has an active deadline (>= 0).
func Terminating(p *corev1.Pod) bool {
	return p.Spec.ActiveDeadlineSeconds != nil && *p.Spec.ActiveDeadlineSeconds >= 0
}

// BestEffort: no container (init ones included) and no pod-level
// resources request or limit a non-zero cpu or memory — Kubernetes'
// BestEffort QoS class.
func BestEffort(p *corev1.Pod) bool {
	set := func(r corev1.ResourceRequirements) bool {
		for _, l := range []corev1.ResourceList{r.Requests, r.Limits} {
			for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if q, ok := l[name]; ok && !q.IsZero() {
					return true
				}
			}
		}
		return false
	}
	if p.Spec.Resources != nil && set(*p.Spec.Resources) {
		return false
	}
	for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for _, c := range cs {
			if set(c.Resources) {
				return false
			}
		}
	}
	return true
}

// CrossNamespaceAffinity: a pod affinity or anti-affinity term, required
// or preferred, names namespaces or has a namespace selector (even an
// empty one, which selects every namespace).
func CrossNamespaceAffinity(p *corev1.Pod) bool {
	a := p.Spec.Affinity
	if a == nil {
		return false
	}
	cross := func(t corev1.PodAffinityTerm) bool { return len(t.Namespaces) > 0 || t.NamespaceSelector != nil }
	var terms []corev1.PodAffinityTerm
	if pa := a.PodAffinity; pa != nil {
		terms = append(terms, pa.RequiredDuringSchedulingIgnoredDuringExecution...)
		for _, w := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, w.PodAffinityTerm)
		}
	}
	if pa := a.PodAntiAffinity; pa != nil {
		terms = append(terms, pa.RequiredDuringSchedulingIgnoredDuringExecution...)
		for _, w := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, w.PodAffinityTerm)
		}
	}
	return slices.ContainsFunc(terms, cross)
}
