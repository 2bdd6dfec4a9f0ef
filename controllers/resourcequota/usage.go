package resourcequota

import (
	"strings"
	"time"

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
	resPods                  corev1.ResourceName = "pods"
	resServices              corev1.ResourceName = "services"
	resNodePorts             corev1.ResourceName = "services.nodeports"
	resLoadBalancers         corev1.ResourceName = "services.loadbalancers"
	resClaims                corev1.ResourceName = "persistentvolumeclaims"
	resRequestsStorage       corev1.ResourceName = "requests.storage"
	storageClassSuffix                           = ".storageclass.storage.k8s.io/"
	countPrefix                                  = "count/"
	requestsPrefix                               = "requests."
	limitsPrefix                                 = "limits."
	betaClaimClassAnnotation                     = "volume.beta.kubernetes.io/storage-class"
)

// legacyCounts are the object-count names from before count/<resource>.
var legacyCounts = map[corev1.ResourceName]string{
	"configmaps": "configmaps", "secrets": "secrets", "resourcequotas": "resourcequotas",
	"replicationcontrollers": "replicationcontrollers",
}

// Usage is status.used of quota q over objs at now: one entry per name in
// spec.hard that Kelson can compute (others are left out). A quota with
// scopes (spec.scopes or spec.scopeSelector) counts only the pods the
// scopes select, and only pod resources.
func Usage(q *corev1.ResourceQuota, objs Objects, now time.Time) corev1.ResourceList {
	scoped := len(q.Spec.Scopes) > 0 || q.Spec.ScopeSelector != nil && len(q.Spec.ScopeSelector.MatchExpressions) > 0
	var pods []*corev1.Pod
	for _, p := range objs.Pods {
		if podCounts(p, now) && (!scoped || scopesMatch(q, p)) {
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
	n := string(name)
	var of corev1.ResourceName
	limits := false
	switch {
	case name == resPods || n == countPrefix+"pods":
		return *resource.NewQuantity(int64(len(pods)), resource.DecimalSI), true
	case name == resRequestsStorage || strings.Contains(n, storageClassSuffix):
		return resource.Quantity{}, false
	case strings.HasPrefix(n, requestsPrefix):
		of = corev1.ResourceName(strings.TrimPrefix(n, requestsPrefix))
	case strings.HasPrefix(n, limitsPrefix):
		of, limits = corev1.ResourceName(strings.TrimPrefix(n, limitsPrefix)), true
	case name == corev1.ResourceCPU || name == corev1.ResourceMemory || name == corev1.ResourceEphemeralStorage ||
		strings.HasPrefix(n, corev1.ResourceHugePagesPrefix):
		of = name
	default:
		return resource.Quantity{}, false
	}
	total := resource.Quantity{Format: formatOf(of)}
	for _, p := range pods {
		if v, ok := podResources(p, limits)[of]; ok {
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
	switch {
	case name == resServices || n == countPrefix+"services":
		return count(int64(len(objs.Services)))
	case name == resNodePorts:
		var ports int64
		for _, s := range objs.Services {
			ports += nodePorts(s)
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
	case name == resClaims || n == countPrefix+"persistentvolumeclaims":
		return count(int64(len(objs.Claims)))
	case name == resRequestsStorage:
		return claimStorage(objs.Claims), true
	case strings.Contains(n, storageClassSuffix):
		class, what, _ := strings.Cut(n, storageClassSuffix)
		var claims []*corev1.PersistentVolumeClaim
		for _, c := range objs.Claims {
			if claimClass(c) == class {
				claims = append(claims, c)
			}
		}
		switch corev1.ResourceName(what) {
		case resClaims:
			return count(int64(len(claims)))
		case resRequestsStorage:
			return claimStorage(claims), true
		}
		return resource.Quantity{}, false
	case strings.HasPrefix(n, countPrefix):
		c, ok := objs.Counts[strings.TrimPrefix(n, countPrefix)]
		if !ok {
			return resource.Quantity{}, false
		}
		return count(c)
	}
	if key, ok := legacyCounts[name]; ok {
		return count(objs.Counts[key])
	}
	return resource.Quantity{}, false
}

// nodePorts is how many node ports a service holds: every port of a
// NodePort service, the allocated ones of a LoadBalancer.
func nodePorts(s *corev1.Service) int64 {
	switch s.Spec.Type {
	case corev1.ServiceTypeNodePort:
		return int64(len(s.Spec.Ports))
	case corev1.ServiceTypeLoadBalancer:
		var n int64
		for _, p := range s.Spec.Ports {
			if p.NodePort != 0 {
				n++
			}
		}
		return n
	}
	return 0
}

// claimStorage sums the claims' storage: the larger of the request and
// what was allocated.
func claimStorage(claims []*corev1.PersistentVolumeClaim) resource.Quantity {
	total := resource.Quantity{Format: resource.BinarySI}
	for _, c := range claims {
		q := c.Spec.Resources.Requests[corev1.ResourceStorage]
		if a, ok := c.Status.AllocatedResources[corev1.ResourceStorage]; ok && a.Cmp(q) > 0 {
			q = a
		}
		total.Add(q)
	}
	return total
}

func claimClass(c *corev1.PersistentVolumeClaim) string {
	if c.Spec.StorageClassName != nil {
		return *c.Spec.StorageClassName
	}
	return c.Annotations[betaClaimClassAnnotation]
}

// podCounts: terminal pods, and pods past their deletion grace period,
// no longer use quota.
func podCounts(p *corev1.Pod, now time.Time) bool {
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return false
	}
	if p.DeletionTimestamp != nil && p.DeletionGracePeriodSeconds != nil {
		end := p.DeletionTimestamp.Add(time.Duration(*p.DeletionGracePeriodSeconds) * time.Second)
		if now.After(end) {
			return false
		}
	}
	return true
}

// podResources is what a pod requests (or limits): pod-level resources
// where set; otherwise the larger of its containers' sum (with sidecar
// init containers, which keep running) and its largest init step, plus
// its overhead.
func podResources(p *corev1.Pod, limits bool) corev1.ResourceList {
	of := func(r corev1.ResourceRequirements) corev1.ResourceList {
		if limits {
			return r.Limits
		}
		return r.Requests
	}
	sum := corev1.ResourceList{}
	for _, c := range p.Spec.Containers {
		addTo(sum, of(c.Resources))
	}
	sidecars, initMax := corev1.ResourceList{}, corev1.ResourceList{}
	for _, c := range p.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			addTo(sidecars, of(c.Resources))
			addTo(sum, of(c.Resources))
			maxInto(initMax, sidecars)
			continue
		}
		step := corev1.ResourceList{}
		addTo(step, sidecars)
		addTo(step, of(c.Resources))
		maxInto(initMax, step)
	}
	maxInto(sum, initMax)
	if pr := p.Spec.Resources; pr != nil {
		for name, v := range of(*pr) {
			sum[name] = v.DeepCopy()
		}
	}
	addTo(sum, p.Spec.Overhead)
	return sum
}

func addTo(dst, src corev1.ResourceList) {
	for name, v := range src {
		cur := dst[name]
		cur.Add(v)
		dst[name] = cur
	}
}

func maxInto(dst, src corev1.ResourceList) {
	for name, v := range src {
		if cur, ok := dst[name]; !ok || v.Cmp(cur) > 0 {
			dst[name] = v.DeepCopy()
		}
	}
}
