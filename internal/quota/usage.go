package quota

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// PodRequests is what pod p requests, as quota counts it (see the
// package doc).
func PodRequests(p *corev1.Pod) corev1.ResourceList { return podResources(p, false) }

// PodLimits is what pod p limits, counted as PodRequests.
func PodLimits(p *corev1.Pod) corev1.ResourceList { return podResources(p, true) }

func podResources(p *corev1.Pod, limits bool) corev1.ResourceList {
	of := func(r corev1.ResourceRequirements) corev1.ResourceList {
		if limits {
			return r.Limits
		}
		return r.Requests
	}
	sum := corev1.ResourceList{}
	for _, c := range p.Spec.Containers {
		AddTo(sum, of(c.Resources))
	}
	sidecars, initMax := corev1.ResourceList{}, corev1.ResourceList{}
	for _, c := range p.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			AddTo(sidecars, of(c.Resources))
			AddTo(sum, of(c.Resources))
			MaxInto(initMax, sidecars)
			continue
		}
		step := corev1.ResourceList{}
		AddTo(step, sidecars)
		AddTo(step, of(c.Resources))
		MaxInto(initMax, step)
	}
	MaxInto(sum, initMax)
	if pr := p.Spec.Resources; pr != nil {
		for name, v := range of(*pr) {
			sum[name] = v.DeepCopy()
		}
	}
	if !limits {
		AddTo(sum, p.Spec.Overhead)
		return sum
	}
	// A limit grows by the overhead only where something is limited: an
	// unlimited resource stays unlimited.
	for name, v := range p.Spec.Overhead {
		if cur, ok := sum[name]; ok && !cur.IsZero() {
			cur = cur.DeepCopy()
			cur.Add(v)
			sum[name] = cur
		}
	}
	return sum
}

// AddTo adds every quantity of src to dst's.
func AddTo(dst, src corev1.ResourceList) {
	for name, v := range src {
		cur := dst[name].DeepCopy()
		cur.Add(v)
		dst[name] = cur
	}
}

// MaxInto raises every quantity of dst to src's where src's is larger (or
// dst has none).
func MaxInto(dst, src corev1.ResourceList) {
	for name, v := range src {
		if cur, ok := dst[name]; !ok || v.Cmp(cur) > 0 {
			dst[name] = v.DeepCopy()
		}
	}
}

// Terminal: a Succeeded or Failed pod uses no quota.
func Terminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// PodCounts: at now, pod p still uses quota — it is not Terminal and not
// past its deletion grace period.
func PodCounts(p *corev1.Pod, now time.Time) bool {
	if Terminal(p) {
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

// ClaimClass is the StorageClass of claim c: spec.storageClassName, else
// the beta annotation; "" for none.
func ClaimClass(c *corev1.PersistentVolumeClaim) string {
	if c.Spec.StorageClassName != nil {
		return *c.Spec.StorageClassName
	}
	return c.Annotations[BetaStorageClassAnnotation]
}

// ClaimStorage is the storage claim c uses: the larger of its request and
// what was allocated to it.
func ClaimStorage(c *corev1.PersistentVolumeClaim) resource.Quantity {
	q := c.Spec.Resources.Requests[corev1.ResourceStorage].DeepCopy()
	if a, ok := c.Status.AllocatedResources[corev1.ResourceStorage]; ok && a.Cmp(q) > 0 {
		q = a.DeepCopy()
	}
	return q
}

// NodePorts is how many node ports service s holds: every port of a
// NodePort service; every port of a LoadBalancer too, unless
// spec.allocateLoadBalancerNodePorts is false, when only those that name
// a nodePort. Other types hold none.
func NodePorts(s *corev1.Service) int64 {
	switch s.Spec.Type {
	case corev1.ServiceTypeNodePort:
		return int64(len(s.Spec.Ports))
	case corev1.ServiceTypeLoadBalancer:
		alloc := s.Spec.AllocateLoadBalancerNodePorts == nil || *s.Spec.AllocateLoadBalancerNodePorts
		var n int64
		for _, p := range s.Spec.Ports {
			if alloc || p.NodePort != 0 {
				n++
			}
		}
		return n
	}
	return 0
}
