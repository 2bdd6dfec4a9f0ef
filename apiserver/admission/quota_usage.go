package admission

// What one object uses of a ResourceQuota, and the quota decision: pure
// functions. The controllers' resourcequota package computes a whole
// namespace's usage the same way (this package cannot import it: the API
// server sits below the controllers).

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

const (
	quotaCountPrefix     = "count/"
	quotaRequestsPrefix  = "requests."
	quotaLimitsPrefix    = "limits."
	quotaClassSuffix     = ".storageclass.storage.k8s.io/"
	betaClaimClassAnnKey = "volume.beta.kubernetes.io/storage-class"
)

// legacyQuotaNames are the object counts named without count/.
var legacyQuotaNames = map[string]bool{
	"pods": true, "services": true, "configmaps": true, "secrets": true, "resourcequotas": true,
	"replicationcontrollers": true, "persistentvolumeclaims": true,
}

// countName is count/<resource>[.<group>].
func countName(gr schema.GroupResource) corev1.ResourceName {
	if gr.Group == "" {
		return corev1.ResourceName(quotaCountPrefix + gr.Resource)
	}
	return corev1.ResourceName(quotaCountPrefix + gr.Resource + "." + gr.Group)
}

// quotaMatches reports whether a quota name is about objects of gr (so
// that a quota naming it must have usage for it, and pods must specify
// the compute resources it names).
func quotaMatches(gr schema.GroupResource, n corev1.ResourceName) bool {
	s := string(n)
	if n == countName(gr) || gr.Group == "" && s == gr.Resource && legacyQuotaNames[s] {
		return true
	}
	switch {
	case gr == (schema.GroupResource{Resource: "pods"}):
		return strings.HasPrefix(s, quotaRequestsPrefix) && n != corev1.ResourceRequestsStorage || strings.HasPrefix(s, quotaLimitsPrefix) ||
			n == corev1.ResourceCPU || n == corev1.ResourceMemory || n == corev1.ResourceEphemeralStorage ||
			strings.HasPrefix(s, corev1.ResourceHugePagesPrefix)
	case gr == (schema.GroupResource{Resource: "services"}):
		return n == corev1.ResourceServicesNodePorts || n == corev1.ResourceServicesLoadBalancers
	case gr == (schema.GroupResource{Resource: "persistentvolumeclaims"}):
		return n == corev1.ResourceRequestsStorage || strings.Contains(s, quotaClassSuffix)
	}
	return false
}

// ObjectUsage is what obj (of resource gr) uses of every quota name that
// counts it.
func ObjectUsage(gr schema.GroupResource, obj runtime.Object) corev1.ResourceList {
	if obj == nil {
		return nil
	}
	one := *resource.NewQuantity(1, resource.DecimalSI)
	u := corev1.ResourceList{countName(gr): one}
	if gr.Group == "" && legacyQuotaNames[gr.Resource] {
		u[corev1.ResourceName(gr.Resource)] = one
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		if o.Status.Phase == corev1.PodSucceeded || o.Status.Phase == corev1.PodFailed {
			return corev1.ResourceList{}
		}
		for n, q := range podResources(o, false) {
			u[corev1.ResourceName(quotaRequestsPrefix+string(n))] = q
			if n == corev1.ResourceCPU || n == corev1.ResourceMemory || n == corev1.ResourceEphemeralStorage ||
				strings.HasPrefix(string(n), corev1.ResourceHugePagesPrefix) {
				u[n] = q
			}
		}
		for n, q := range podResources(o, true) {
			u[corev1.ResourceName(quotaLimitsPrefix+string(n))] = q
		}
	case *corev1.Service:
		var ports, lbs int64
		switch o.Spec.Type {
		case corev1.ServiceTypeNodePort:
			ports = int64(len(o.Spec.Ports))
		case corev1.ServiceTypeLoadBalancer:
			lbs = 1
			for _, p := range o.Spec.Ports {
				if p.NodePort != 0 || o.Spec.AllocateLoadBalancerNodePorts == nil || *o.Spec.AllocateLoadBalancerNodePorts {
					ports++
				}
			}
		}
		u[corev1.ResourceServicesNodePorts] = *resource.NewQuantity(ports, resource.DecimalSI)
		u[corev1.ResourceServicesLoadBalancers] = *resource.NewQuantity(lbs, resource.DecimalSI)
	case *corev1.PersistentVolumeClaim:
		st := o.Spec.Resources.Requests[corev1.ResourceStorage]
		if a, ok := o.Status.AllocatedResources[corev1.ResourceStorage]; ok && a.Cmp(st) > 0 {
			st = a
		}
		u[corev1.ResourceRequestsStorage] = st
		if class := claimClass(o); class != "" {
			u[corev1.ResourceName(class+quotaClassSuffix+"persistentvolumeclaims")] = one
			u[corev1.ResourceName(class+quotaClassSuffix+"requests.storage")] = st
		}
	}
	return u
}

func claimClass(c *corev1.PersistentVolumeClaim) string {
	if c.Spec.StorageClassName != nil {
		return *c.Spec.StorageClassName
	}
	return c.Annotations[betaClaimClassAnnKey]
}

// podResources is what a pod requests (or limits): pod-level resources
// where set; else the larger of its containers' sum (with sidecars) and
// its largest init step; plus its overhead.
func podResources(p *corev1.Pod, limits bool) corev1.ResourceList {
	of := func(r corev1.ResourceRequirements) corev1.ResourceList {
		if limits {
			return r.Limits
		}
		return r.Requests
	}
	sum := corev1.ResourceList{}
	sidecars, initMax := corev1.ResourceList{}, corev1.ResourceList{}
	for _, c := range p.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			addList(sidecars, of(c.Resources))
			addList(sum, of(c.Resources))
			maxList(initMax, sidecars)
			continue
		}
		step := corev1.ResourceList{}
		addList(step, sidecars)
		addList(step, of(c.Resources))
		maxList(initMax, step)
	}
	for _, c := range p.Spec.Containers {
		addList(sum, of(c.Resources))
	}
	maxList(sum, initMax)
	if pr := p.Spec.Resources; pr != nil {
		for n, v := range of(*pr) {
			sum[n] = v.DeepCopy()
		}
	}
	addList(sum, p.Spec.Overhead)
	return sum
}

func addList(dst, src corev1.ResourceList) {
	for n, v := range src {
		cur := dst[n]
		cur.Add(v)
		dst[n] = cur
	}
}

func maxList(dst, src corev1.ResourceList) {
	for n, v := range src {
		if cur, ok := dst[n]; !ok || v.Cmp(cur) > 0 {
			dst[n] = v.DeepCopy()
		}
	}
}

// QuotaCharge decides a write of obj (old: the stored object on an
// update, else nil) of resource gr against quota q, and says what q's
// status.used becomes. charged is false when q does not count the
// write (nothing to update); refusal is Kubernetes' message, "" if
// allowed. The limits are status.hard, as Kubernetes reads them: a quota
// its controller has not seen yet constrains nothing.
func QuotaCharge(q *corev1.ResourceQuota, gr schema.GroupResource, obj, old runtime.Object) (used corev1.ResourceList, charged bool, refusal string) {
	pod, isPod := obj.(*corev1.Pod)
	if scoped(q) && (!isPod || !quotaScopesMatch(q, pod)) {
		return nil, false, ""
	}
	var matched []corev1.ResourceName
	for _, n := range sortedKeys(q.Status.Hard) {
		if quotaMatches(gr, n) {
			matched = append(matched, n)
		}
	}
	if len(matched) == 0 {
		return nil, false, ""
	}
	if isPod {
		if msg := missingCompute(pod, matched); msg != "" {
			return nil, false, fmt.Sprintf("failed quota: %s: %s", q.Name, msg)
		}
	}
	var unknown []string
	for _, n := range matched {
		if _, ok := q.Status.Used[n]; !ok {
			unknown = append(unknown, string(n))
		}
	}
	if len(unknown) > 0 {
		return nil, false, fmt.Sprintf("status unknown for quota: %s, resources: %s", q.Name, strings.Join(unknown, ","))
	}
	now, before := ObjectUsage(gr, obj), ObjectUsage(gr, old)
	delta := corev1.ResourceList{}
	for _, n := range matched {
		d := now[n].DeepCopy()
		if b, ok := before[n]; ok {
			d.Sub(b)
		}
		if old != nil && d.Sign() <= 0 {
			continue // an update charges only what grows
		}
		if _, ok := now[n]; !ok && old == nil {
			continue
		}
		delta[n] = d
	}
	if len(delta) == 0 {
		return nil, false, ""
	}
	used = corev1.ResourceList{}
	for n, v := range q.Status.Used {
		used[n] = v.DeepCopy()
	}
	var exceeded []corev1.ResourceName
	for _, n := range sortedKeys(delta) {
		v := used[n]
		v.Add(delta[n])
		used[n] = v
		if v.Cmp(q.Status.Hard[n]) > 0 {
			exceeded = append(exceeded, n)
		}
	}
	if len(exceeded) > 0 {
		return nil, false, fmt.Sprintf("exceeded quota: %s, requested: %s, used: %s, limited: %s", q.Name,
			printList(delta, exceeded), printList(q.Status.Used, exceeded), printList(q.Status.Hard, exceeded))
	}
	return used, true, ""
}

// printList is "a=1,b=2" of l's names in names (sorted).
func printList(l corev1.ResourceList, names []corev1.ResourceName) string {
	parts := make([]string, 0, len(names))
	for _, n := range names {
		v := l[n]
		parts = append(parts, fmt.Sprintf("%s=%s", n, v.String()))
	}
	return strings.Join(parts, ",")
}

// missingCompute: a quota on cpu or memory requests or limits needs
// every container to set them; Kubernetes' message for those that do not.
func missingCompute(pod *corev1.Pod, matched []corev1.ResourceName) string {
	missing := map[string][]string{}
	for _, n := range matched {
		var of corev1.ResourceName
		limits := false
		switch n {
		case corev1.ResourceCPU, corev1.ResourceRequestsCPU:
			of = corev1.ResourceCPU
		case corev1.ResourceMemory, corev1.ResourceRequestsMemory:
			of = corev1.ResourceMemory
		case corev1.ResourceLimitsCPU:
			of, limits = corev1.ResourceCPU, true
		case corev1.ResourceLimitsMemory:
			of, limits = corev1.ResourceMemory, true
		default:
			continue
		}
		for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
			for _, c := range cs {
				l := c.Resources.Requests
				if limits {
					l = c.Resources.Limits
				}
				if _, ok := l[of]; !ok {
					missing[string(n)] = append(missing[string(n)], c.Name)
				}
			}
		}
	}
	if len(missing) == 0 {
		return ""
	}
	names := make([]string, 0, len(missing))
	for n := range missing {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		cs := slices.Clone(missing[n])
		sort.Strings(cs)
		parts[i] = fmt.Sprintf("%s for: %s", n, strings.Join(slices.Compact(cs), ","))
	}
	return "must specify " + strings.Join(parts, "; ")
}

func scoped(q *corev1.ResourceQuota) bool {
	return len(q.Spec.Scopes) > 0 || q.Spec.ScopeSelector != nil && len(q.Spec.ScopeSelector.MatchExpressions) > 0
}

// quotaScopesMatch: the pod is in every scope of q.
func quotaScopesMatch(q *corev1.ResourceQuota, p *corev1.Pod) bool {
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

func scopeMatch(r corev1.ScopedResourceSelectorRequirement, p *corev1.Pod) bool {
	terminating := p.Spec.ActiveDeadlineSeconds != nil && *p.Spec.ActiveDeadlineSeconds >= 0
	switch r.ScopeName {
	case corev1.ResourceQuotaScopeTerminating:
		return terminating
	case corev1.ResourceQuotaScopeNotTerminating:
		return !terminating
	case corev1.ResourceQuotaScopeBestEffort:
		return bestEffort(p)
	case corev1.ResourceQuotaScopeNotBestEffort:
		return !bestEffort(p)
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

// bestEffort: nothing requests or limits cpu or memory.
func bestEffort(p *corev1.Pod) bool {
	set := func(r corev1.ResourceRequirements) bool {
		for _, l := range []corev1.ResourceList{r.Requests, r.Limits} {
			for _, n := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if q, ok := l[n]; ok && !q.IsZero() {
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
