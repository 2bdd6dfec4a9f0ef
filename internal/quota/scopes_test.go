package quota

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestScopeMatch(t *testing.T) {
	bestEffort := pod([]corev1.Container{ctr(nil, nil)})
	zeroes := pod([]corev1.Container{ctr(rl("cpu", "0"), rl("memory", "0"))})
	gpuOnly := pod([]corev1.Container{ctr(rl("nvidia.com/gpu", "1"), rl("nvidia.com/gpu", "1"))})
	burstable := pod([]corev1.Container{ctr(rl("cpu", "100m"), nil)})
	initLimits := pod([]corev1.Container{ctr(nil, nil)}, ctr(nil, rl("memory", "64Mi")))
	podLevel := pod([]corev1.Container{ctr(nil, nil)})
	podLevel.Spec.Resources = &corev1.ResourceRequirements{Requests: rl("cpu", "1")}
	deadline := func(s int64) *corev1.Pod { p := pod(nil); p.Spec.ActiveDeadlineSeconds = ptr.To(s); return p }
	high := pod(nil)
	high.Spec.PriorityClassName = "high"
	affinity := func(a *corev1.Affinity) *corev1.Pod { p := pod(nil); p.Spec.Affinity = a; return p }
	term := func(namespaces []string, sel *metav1.LabelSelector) corev1.PodAffinityTerm {
		return corev1.PodAffinityTerm{TopologyKey: "kubernetes.io/hostname", Namespaces: namespaces, NamespaceSelector: sel}
	}
	sameNS := affinity(&corev1.Affinity{PodAffinity: &corev1.PodAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{term(nil, nil)}}})
	crossRequired := affinity(&corev1.Affinity{PodAffinity: &corev1.PodAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{term(nil, nil), term([]string{"other"}, nil)}}})
	crossPreferredAnti := affinity(&corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 1, PodAffinityTerm: term(nil, &metav1.LabelSelector{})}}}})
	nodeAffinityOnly := affinity(&corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{}})

	exists := func(s corev1.ResourceQuotaScope) corev1.ScopedResourceSelectorRequirement {
		return corev1.ScopedResourceSelectorRequirement{ScopeName: s, Operator: corev1.ScopeSelectorOpExists}
	}
	priority := func(op corev1.ScopeSelectorOperator, values ...string) corev1.ScopedResourceSelectorRequirement {
		return corev1.ScopedResourceSelectorRequirement{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: op, Values: values}
	}
	for _, tc := range []struct {
		name string
		r    corev1.ScopedResourceSelectorRequirement
		pod  *corev1.Pod
		want bool
	}{
		{"BestEffort: nothing set", exists(corev1.ResourceQuotaScopeBestEffort), bestEffort, true},
		{"BestEffort: zero quantities", exists(corev1.ResourceQuotaScopeBestEffort), zeroes, true},
		{"BestEffort: only other resources", exists(corev1.ResourceQuotaScopeBestEffort), gpuOnly, true},
		{"BestEffort: a cpu request", exists(corev1.ResourceQuotaScopeBestEffort), burstable, false},
		{"BestEffort: an init container's limit", exists(corev1.ResourceQuotaScopeBestEffort), initLimits, false},
		{"BestEffort: pod-level resources", exists(corev1.ResourceQuotaScopeBestEffort), podLevel, false},
		{"NotBestEffort", exists(corev1.ResourceQuotaScopeNotBestEffort), burstable, true},
		{"NotBestEffort: best effort", exists(corev1.ResourceQuotaScopeNotBestEffort), bestEffort, false},
		{"Terminating: deadline", exists(corev1.ResourceQuotaScopeTerminating), deadline(60), true},
		{"Terminating: deadline 0", exists(corev1.ResourceQuotaScopeTerminating), deadline(0), true},
		{"Terminating: none", exists(corev1.ResourceQuotaScopeTerminating), bestEffort, false},
		{"NotTerminating: none", exists(corev1.ResourceQuotaScopeNotTerminating), bestEffort, true},
		{"NotTerminating: deadline", exists(corev1.ResourceQuotaScopeNotTerminating), deadline(60), false},
		{"PriorityClass In", priority(corev1.ScopeSelectorOpIn, "low", "high"), high, true},
		{"PriorityClass In, other", priority(corev1.ScopeSelectorOpIn, "low"), high, false},
		{"PriorityClass In, none set", priority(corev1.ScopeSelectorOpIn, "low"), bestEffort, false},
		{"PriorityClass NotIn", priority(corev1.ScopeSelectorOpNotIn, "low"), high, true},
		{"PriorityClass NotIn, listed", priority(corev1.ScopeSelectorOpNotIn, "high"), high, false},
		{"PriorityClass Exists", priority(corev1.ScopeSelectorOpExists), high, true},
		{"PriorityClass Exists, none set", priority(corev1.ScopeSelectorOpExists), bestEffort, false},
		{"PriorityClass DoesNotExist", priority(corev1.ScopeSelectorOpDoesNotExist), bestEffort, true},
		{"PriorityClass DoesNotExist, set", priority(corev1.ScopeSelectorOpDoesNotExist), high, false},
		{"PriorityClass, unknown operator", priority("Gt", "1"), high, false},
		{"CrossNamespacePodAffinity: namespaces", exists(corev1.ResourceQuotaScopeCrossNamespacePodAffinity), crossRequired, true},
		{"CrossNamespacePodAffinity: empty namespace selector, preferred anti-affinity", exists(corev1.ResourceQuotaScopeCrossNamespacePodAffinity), crossPreferredAnti, true},
		{"CrossNamespacePodAffinity: own namespace", exists(corev1.ResourceQuotaScopeCrossNamespacePodAffinity), sameNS, false},
		{"CrossNamespacePodAffinity: node affinity only", exists(corev1.ResourceQuotaScopeCrossNamespacePodAffinity), nodeAffinityOnly, false},
		{"CrossNamespacePodAffinity: no affinity", exists(corev1.ResourceQuotaScopeCrossNamespacePodAffinity), bestEffort, false},
		{"VolumeAttributesClass selects no pod", exists(corev1.ResourceQuotaScopeVolumeAttributesClass), bestEffort, false},
		{"unknown scope", exists("Whatever"), bestEffort, false},
	} {
		if got := ScopeMatch(tc.r, tc.pod); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestScopesMatch(t *testing.T) {
	q := func(scopes []corev1.ResourceQuotaScope, exprs ...corev1.ScopedResourceSelectorRequirement) *corev1.ResourceQuota {
		rq := &corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: rl("pods", "1"), Scopes: scopes}}
		if exprs != nil {
			rq.Spec.ScopeSelector = &corev1.ScopeSelector{MatchExpressions: exprs}
		}
		return rq
	}
	job := pod([]corev1.Container{ctr(nil, nil)})
	job.Spec.ActiveDeadlineSeconds = ptr.To(int64(60))
	job.Spec.PriorityClassName = "batch"
	inBatch := corev1.ScopedResourceSelectorRequirement{ScopeName: corev1.ResourceQuotaScopePriorityClass,
		Operator: corev1.ScopeSelectorOpIn, Values: []string{"batch"}}
	for _, tc := range []struct {
		name          string
		quota         *corev1.ResourceQuota
		scoped, match bool
	}{
		{"no scopes: every pod", q(nil), false, true},
		{"empty selector: every pod", func() *corev1.ResourceQuota {
			rq := q(nil)
			rq.Spec.ScopeSelector = &corev1.ScopeSelector{}
			return rq
		}(), false, true},
		{"all scopes match", q([]corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeBestEffort}), true, true},
		{"one scope does not", q([]corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotBestEffort}), true, false},
		{"selector matches", q(nil, inBatch), true, true},
		{"scopes and selector: both must", q([]corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeNotTerminating}, inBatch), true, false},
		{"scopes and selector match", q([]corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeTerminating}, inBatch), true, true},
		{"PriorityClass in spec.scopes means Exists", q([]corev1.ResourceQuotaScope{corev1.ResourceQuotaScopePriorityClass}), true, true},
	} {
		if got := Scoped(tc.quota); got != tc.scoped {
			t.Errorf("%s: Scoped = %v", tc.name, got)
		}
		if got := ScopesMatch(tc.quota, job); got != tc.match {
			t.Errorf("%s: ScopesMatch = %v", tc.name, got)
		}
	}
}
