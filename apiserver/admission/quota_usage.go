package admission

// What one object uses of a ResourceQuota, and the quota decision: pure
// functions. The pieces shared with the controllers' resourcequota
// package, which computes a whole namespace's usage the same way (what a
// pod requests, a claim's class and storage, a service's node ports, the
// scopes, the names), are in internal/quota.

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/kelson-dev/kelson/internal/quota"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// quotaMatches reports whether a quota name is about objects of gr (so
// that a quota naming it must have usage for it, and pods must specify
// the compute resources it names).
func quotaMatches(gr schema.GroupResource, n corev1.ResourceName) bool {
	if n == quota.CountName(gr) || gr.Group == "" && string(n) == gr.Resource && quota.LegacyCount(n) {
		return true
	}
	switch {
	case gr == (schema.GroupResource{Resource: "pods"}):
		_, _, ok := quota.PodResource(n)
		return ok
	case gr == (schema.GroupResource{Resource: "services"}):
		return n == corev1.ResourceServicesNodePorts || n == corev1.ResourceServicesLoadBalancers
	case gr == (schema.GroupResource{Resource: "persistentvolumeclaims"}):
		_, _, isClass := quota.SplitClassName(n)
		return n == corev1.ResourceRequestsStorage || isClass
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
	u := corev1.ResourceList{quota.CountName(gr): one}
	if gr.Group == "" && quota.LegacyCount(corev1.ResourceName(gr.Resource)) {
		u[corev1.ResourceName(gr.Resource)] = one
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		if quota.Terminal(o) {
			return corev1.ResourceList{}
		}
		for n, q := range quota.PodRequests(o) {
			u[corev1.ResourceName(quota.RequestsPrefix+string(n))] = q
			if quota.BareCompute(n) {
				u[n] = q.DeepCopy()
			}
		}
		for n, q := range quota.PodLimits(o) {
			u[corev1.ResourceName(quota.LimitsPrefix+string(n))] = q
		}
	case *corev1.Service:
		var lbs int64
		if o.Spec.Type == corev1.ServiceTypeLoadBalancer {
			lbs = 1
		}
		u[corev1.ResourceServicesNodePorts] = *resource.NewQuantity(quota.NodePorts(o), resource.DecimalSI)
		u[corev1.ResourceServicesLoadBalancers] = *resource.NewQuantity(lbs, resource.DecimalSI)
	case *corev1.PersistentVolumeClaim:
		st := quota.ClaimStorage(o)
		u[corev1.ResourceRequestsStorage] = st
		if class := quota.ClaimClass(o); class != "" {
			u[quota.ClassName(class, corev1.ResourcePersistentVolumeClaims)] = one
			u[quota.ClassName(class, corev1.ResourceRequestsStorage)] = st.DeepCopy()
		}
	}
	return u
}

// QuotaCharge decides a write of obj (old: the stored object on an
// update, else nil) of resource gr against quota q, and says what q's
// status.used becomes. charged is false when q does not count the
// write (nothing to update); refusal is Kubernetes' message, "" if
// allowed. The limits are status.hard, as Kubernetes reads them: a quota
// its controller has not seen yet constrains nothing.
func QuotaCharge(q *corev1.ResourceQuota, gr schema.GroupResource, obj, old runtime.Object) (used corev1.ResourceList, charged bool, refusal string) {
	pod, isPod := obj.(*corev1.Pod)
	if quota.Scoped(q) && (!isPod || !quota.ScopesMatch(q, pod)) {
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
