package core

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// Defaults the scorers assume for a container that requests no CPU or no
// memory, so that many "free" pods still spread (kube-scheduler's values).
const (
	DefaultMilliCPURequest int64 = 100               // 0.1 core
	DefaultMemoryRequest   int64 = 200 * 1024 * 1024 // 200 MiB
)

// Resources is an amount of each schedulable resource: CPU in millicores,
// memory and ephemeral storage in bytes, and the rest (extended resources,
// hugepages) as Scalar. The zero value is nothing.
type Resources struct {
	MilliCPU         int64
	Memory           int64
	EphemeralStorage int64
	// Scalar holds the other resources, sorted by name; nil when none.
	Scalar []Scalar
}

// Scalar is an amount of one extended resource (or hugepages).
type Scalar struct {
	Name  corev1.ResourceName
	Value int64
}

// ScalarValue is the amount of the named scalar resource (0 if absent).
func (r *Resources) ScalarValue(name corev1.ResourceName) int64 {
	for _, s := range r.Scalar {
		if s.Name == name {
			return s.Value
		}
	}
	return 0
}

// addScalar adds v of name, keeping Scalar sorted.
func (r *Resources) addScalar(name corev1.ResourceName, v int64) {
	i, found := slices.BinarySearchFunc(r.Scalar, name, func(s Scalar, n corev1.ResourceName) int {
		switch {
		case s.Name < n:
			return -1
		case s.Name > n:
			return 1
		}
		return 0
	})
	if found {
		r.Scalar[i].Value += v
		return
	}
	r.Scalar = slices.Insert(r.Scalar, i, Scalar{Name: name, Value: v})
}

// Add adds o to r (sign +1) or subtracts it (sign -1).
func (r *Resources) Add(o *Resources, sign int64) {
	r.MilliCPU += sign * o.MilliCPU
	r.Memory += sign * o.Memory
	r.EphemeralStorage += sign * o.EphemeralStorage
	for _, s := range o.Scalar {
		r.addScalar(s.Name, sign*s.Value)
	}
}

// Clone is a copy that shares nothing with r.
func (r Resources) Clone() Resources {
	if r.Scalar != nil {
		r.Scalar = slices.Clone(r.Scalar)
	}
	return r
}

// max raises every amount of r to at least o's.
func (r *Resources) max(o *Resources) {
	r.MilliCPU = max(r.MilliCPU, o.MilliCPU)
	r.Memory = max(r.Memory, o.Memory)
	r.EphemeralStorage = max(r.EphemeralStorage, o.EphemeralStorage)
	for _, s := range o.Scalar {
		if cur := r.ScalarValue(s.Name); s.Value > cur {
			r.addScalar(s.Name, s.Value-cur)
		}
	}
}

// isScalar reports whether name is counted in Resources.Scalar.
func isScalar(name corev1.ResourceName) bool {
	switch name {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage, corev1.ResourcePods, corev1.ResourceStorage:
		return false
	}
	return true
}

// ResourcesFromList converts an API resource list.
func ResourcesFromList(l corev1.ResourceList) Resources {
	var r Resources
	for name, q := range l {
		switch name {
		case corev1.ResourceCPU:
			r.MilliCPU = q.MilliValue()
		case corev1.ResourceMemory:
			r.Memory = q.Value()
		case corev1.ResourceEphemeralStorage:
			r.EphemeralStorage = q.Value()
		default:
			if isScalar(name) {
				r.addScalar(name, q.Value())
			}
		}
	}
	return r
}

// containerRequests is one container's requests, and the same with the
// scorers' defaults for absent CPU and memory.
func containerRequests(c *corev1.Container) (req Resources, nonZero Resources) {
	req = ResourcesFromList(c.Resources.Requests)
	nonZero.MilliCPU, nonZero.Memory = req.MilliCPU, req.Memory
	if _, ok := c.Resources.Requests[corev1.ResourceCPU]; !ok {
		nonZero.MilliCPU = DefaultMilliCPURequest
	}
	if _, ok := c.Resources.Requests[corev1.ResourceMemory]; !ok {
		nonZero.Memory = DefaultMemoryRequest
	}
	return req, nonZero
}

// PodRequests is what a pod occupies on a node while it runs, and the CPU
// and memory the scorers count for it (with defaults for containers that
// request none). The rules, per resource:
//
//	running   = Σ app containers + Σ sidecars (init containers with restartPolicy Always)
//	init(i)   = request of init container i + Σ sidecars started before it
//	            (for a sidecar: Σ sidecars up to and including it)
//	pod       = max(running, max_i init(i)) + spec.overhead
//
// Pod-level resources (spec.resources.requests of cpu or memory) replace
// the containers' sum for those resources.
func PodRequests(spec *corev1.PodSpec) (req Resources, nonZeroCPU, nonZeroMem int64) {
	var running, nz Resources
	for i := range spec.Containers {
		r, n := containerRequests(&spec.Containers[i])
		running.Add(&r, 1)
		nz.MilliCPU += n.MilliCPU
		nz.Memory += n.Memory
	}
	var sidecars, sidecarsNZ, initMax, initMaxNZ Resources
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		r, n := containerRequests(c)
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars.Add(&r, 1)
			sidecarsNZ.Add(&n, 1)
			initMax.max(&sidecars)
			initMaxNZ.max(&sidecarsNZ)
			continue
		}
		r.Add(&sidecars, 1)
		n.Add(&sidecarsNZ, 1)
		initMax.max(&r)
		initMaxNZ.max(&n)
	}
	running.Add(&sidecars, 1)
	nz.Add(&sidecarsNZ, 1)
	running.max(&initMax)
	nz.max(&initMaxNZ)
	if spec.Resources != nil {
		if q, ok := spec.Resources.Requests[corev1.ResourceCPU]; ok {
			running.MilliCPU, nz.MilliCPU = q.MilliValue(), q.MilliValue()
		}
		if q, ok := spec.Resources.Requests[corev1.ResourceMemory]; ok {
			running.Memory, nz.Memory = q.Value(), q.Value()
		}
	}
	if len(spec.Overhead) > 0 {
		o := ResourcesFromList(spec.Overhead)
		running.Add(&o, 1)
		nz.MilliCPU += o.MilliCPU
		nz.Memory += o.Memory
	}
	return running, nz.MilliCPU, nz.Memory
}
