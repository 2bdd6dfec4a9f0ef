package resourcequota

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// scopesMatch reports whether pod p is in every scope of quota q: those
// of spec.scopes and the expressions of spec.scopeSelector.
func scopesMatch(q *corev1.ResourceQuota, p *corev1.Pod) bool {
	for _, s := range q.Spec.Scopes {
		if !scopeMatch(corev1.ScopedResourceSelectorRequirement{ScopeName: s, Operator: corev1.ScopeSelectorOpExists}, p) {
			return false
		}
	}
	if sel := q.Spec.ScopeSelector; sel != nil {
		for _, r := range sel.MatchExpressions {
			if !scopeMatch(r, p) {
				return false
			}
		}
	}
	return true
}

// scopeMatch evaluates one scope requirement on a pod. Scopes that are
// not about pods (VolumeAttributesClass) or unknown select nothing.
func scopeMatch(r corev1.ScopedResourceSelectorRequirement, p *corev1.Pod) bool {
	switch r.ScopeName {
	case corev1.ResourceQuotaScopeTerminating:
		return terminating(p)
	case corev1.ResourceQuotaScopeNotTerminating:
		return !terminating(p)
	case corev1.ResourceQuotaScopeBestEffort:
		return bestEffort(p)
	case corev1.ResourceQuotaScopeNotBestEffort:
		return !bestEffort(p)
	case corev1.ResourceQuotaScopeCrossNamespacePodAffinity:
		return crossNamespaceAffinity(p)
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

// terminating: the pod has an active deadline.
func terminating(p *corev1.Pod) bool {
	return p.Spec.ActiveDeadlineSeconds != nil && *p.Spec.ActiveDeadlineSeconds >= 0
}

// bestEffort: no container (init ones included) and no pod-level
// resources request or limit cpu or memory — Kubernetes' BestEffort QoS
// class.
func bestEffort(p *corev1.Pod) bool {
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

// crossNamespaceAffinity: a pod (anti-)affinity term names other
// namespaces or a namespace selector.
func crossNamespaceAffinity(p *corev1.Pod) bool {
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
