package resourcequota

import (
	"strings"
	"time"

	"github.com/kelson-dev/kelson/internal/quota"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Objects is one namespace's snapshot of what quotas count. The slices
// and the objects are read, never modified.
type Objects struct {
	Pods     []*corev1.Pod
	Services []*corev1.Service
	Claims   []*corev1.PersistentVolumeClaim
	// Counts is the number of objects per resource, keyed as in
	// "count/<key>": "configmaps", "secrets", "deployments.apps", ...
	// Pods, services and claims are counted from their slices instead.
	Counts map[string]int64
}

// Resource names a quota understands beyond requests.*, limits.* and
// count/*.
const (
	resPods            = corev1.ResourcePods
	resServices        = corev1.ResourceServices
	resNodePorts       = corev1.ResourceServicesNodePorts
	resLoadBalancers   = corev1.ResourceServicesLoadBalancers
	resClaims          = corev1.ResourcePersistentVolumeClaims
	resRequestsStorage = corev1.ResourceRequestsStorage
)

// Usage is status.used of quota q over objs at now: one entry per name in
// spec.hard that Kelson can compute (others are left out). A quota with
// scopes (spec.scopes or spec.scopeSelector) counts only the pods the
// scopes select, and only pod resources.
func Usage(q *corev1.ResourceQuota, objs Objects, now time.Time) corev1.ResourceList {
	scoped := quota.Scoped(q)
	var pods []*corev1.Pod
	for _, p := range objs.Pods {
		if quota.PodCounts(p, now) && (!scoped || quota.ScopesMatch(q, p)) {
			pods = append(pods, p)
		}
	}
	used := corev1.ResourceList{}
	for name := range q.Spec.Hard {
		if v, ok := podUsage(name, pods); ok {
			used[name] = v
			continue
		}
		if scoped {
			continue
		}
		if v, ok := otherUsage(name, objs); ok {
			used[name] = v
		}
	}
	return used
}

// podUsage computes the pod resources: pods, count/pods, requests.X,
// limits.X and the bare compute names (cpu, memory, ...) meaning requests.
func podUsage(name corev1.ResourceName, pods []*corev1.Pod) (resource.Quantity, bool) {
	if name == resPods || name == quota.CountPrefix+resPods {
		return *resource.NewQuantity(int64(len(pods)), resource.DecimalSI), true
	}
	of, limits, ok := quota.PodResource(name)
	if !ok {
		return resource.Quantity{}, false
	}
	total := resource.Quantity{Format: formatOf(of)}
	for _, p := range pods {
		l := quota.PodRequests
		if limits {
			l = quota.PodLimits
		}
		if v, ok := l(p)[of]; ok {
			total.Add(v)
		}
	}
	return total, true
}

func formatOf(name corev1.ResourceName) resource.Format {
	if name == corev1.ResourceCPU {
		return resource.DecimalSI
	}
	return resource.BinarySI
}

// otherUsage computes the non-pod resources: services, node ports, load
// balancers, claims and their storage (also per StorageClass), and object
// counts.
func otherUsage(name corev1.ResourceName, objs Objects) (resource.Quantity, bool) {
	count := func(n int64) (resource.Quantity, bool) { return *resource.NewQuantity(n, resource.DecimalSI), true }
	n := string(name)
	class, what, isClass := quota.SplitClassName(name)
	switch {
	case name == resServices || name == quota.CountPrefix+resServices:
		return count(int64(len(objs.Services)))
	case name == resNodePorts:
		var ports int64
		for _, s := range objs.Services {
			ports += quota.NodePorts(s)
		}
		return count(ports)
	case name == resLoadBalancers:
		var lbs int64
		for _, s := range objs.Services {
			if s.Spec.Type == corev1.ServiceTypeLoadBalancer {
				lbs++
			}
		}
		return count(lbs)
	case name == resClaims || name == quota.CountPrefix+resClaims:
		return count(int64(len(objs.Claims)))
	case name == resRequestsStorage:
		return claimStorage(objs.Claims), true
	case isClass:
		var claims []*corev1.PersistentVolumeClaim
		for _, c := range objs.Claims {
			if quota.ClaimClass(c) == class {
				claims = append(claims, c)
			}
		}
		switch what {
		case resClaims:
			return count(int64(len(claims)))
		case resRequestsStorage:
			return claimStorage(claims), true
		}
		return resource.Quantity{}, false
	case strings.HasPrefix(n, quota.CountPrefix):
		c, ok := objs.Counts[strings.TrimPrefix(n, quota.CountPrefix)]
		if !ok {
			return resource.Quantity{}, false
		}
		return count(c)
	}
	if quota.LegacyCount(name) {
		return count(objs.Counts[string(name)])
	}
	return resource.Quantity{}, false
}

// claimStorage sums the claims' storage: the larger of the request and
// what was allocated.
func claimStorage(claims []*corev1.PersistentVolumeClaim) resource.Quantity {
	total := resource.Quantity{Format: resource.BinarySI}
	for _, c := range claims {
		total.Add(quota.ClaimStorage(c))
	}
	return total
}
