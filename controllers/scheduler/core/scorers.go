package core

import (
	corev1 "k8s.io/api/core/v1"
)

// Score is also a method of nodeResourcesFit: least-allocated. For CPU
// and memory (equal weights), the share of allocatable left free after
// placing the pod, counting every pod's non-zero requests:
//
//	score = mean over r of (allocatable_r - requested_r - pod_r) × 100 / allocatable_r
//
// (0 for a resource the node has none of, or is over-committed on).
func (nodeResourcesFit) Score(st *CycleState, n *NodeInfo) int64 {
	cpu := leastAllocated(n.NonZeroCPU+st.Pod.NonZeroCPU, n.Allocatable.MilliCPU)
	mem := leastAllocated(n.NonZeroMem+st.Pod.NonZeroMem, n.Allocatable.Memory)
	return (cpu + mem) / 2
}

func leastAllocated(requested, allocatable int64) int64 {
	if allocatable <= 0 || requested > allocatable {
		return 0
	}
	return (allocatable - requested) * MaxScore / allocatable
}

// Normalize: least-allocated scores are already 0..100.
func (nodeResourcesFit) Normalize(*CycleState, []int64) {}

// balancedAllocation prefers nodes whose CPU and memory would be used in
// equal shares after placing the pod (actual requests):
//
//	score = (1 - |cpuFraction - memFraction| / 2) × 100
//
// (the standard deviation of the two fractions, each capped at 1).
type balancedAllocation struct{}

func (balancedAllocation) Name() string { return NodeResourcesBalancedAllocation }

func (balancedAllocation) Score(st *CycleState, n *NodeInfo) int64 {
	cpu := fraction(n.Requested.MilliCPU+st.Pod.Requests.MilliCPU, n.Allocatable.MilliCPU)
	mem := fraction(n.Requested.Memory+st.Pod.Requests.Memory, n.Allocatable.Memory)
	d := cpu - mem
	if d < 0 {
		d = -d
	}
	return int64((1 - d/2) * float64(MaxScore))
}

func fraction(requested, allocatable int64) float64 {
	if allocatable <= 0 {
		return 1
	}
	f := float64(requested) / float64(allocatable)
	return min(f, 1)
}

func (balancedAllocation) Normalize(*CycleState, []int64) {}

// Score is also a method of taintToleration: it counts the node's
// PreferNoSchedule taints the pod does not tolerate; Normalize gives the
// fewest MaxScore and the most 0.
func (taintToleration) Score(st *CycleState, n *NodeInfo) int64 {
	var count int64
	taints := n.Taints
	for i := range taints {
		if t := &taints[i]; t.Effect == corev1.TaintEffectPreferNoSchedule && !toleratesTaint(st.Pod.Pod.Spec.Tolerations, t) {
			count++
		}
	}
	return count
}

func (taintToleration) Normalize(_ *CycleState, scores []int64) {
	var hi int64
	for _, s := range scores {
		hi = max(hi, s)
	}
	for i, s := range scores {
		if hi == 0 {
			scores[i] = MaxScore
		} else {
			scores[i] = MaxScore - s*MaxScore/hi
		}
	}
}

// Score is also a method of nodeAffinity: the sum of the weights of the
// pod's preferred node affinity terms the node matches; Normalize scales
// the best to MaxScore (all 0 stay 0).
func (nodeAffinity) Score(st *CycleState, n *NodeInfo) int64 {
	var score int64
	for _, t := range st.Pod.preferredNodeTerms {
		if t.term.matches(n.Name, n.NodeLabels) {
			score += t.weight
		}
	}
	return score
}

func (nodeAffinity) Normalize(_ *CycleState, scores []int64) {
	var hi int64
	for _, s := range scores {
		hi = max(hi, s)
	}
	if hi == 0 {
		return
	}
	for i, s := range scores {
		scores[i] = s * MaxScore / hi
	}
}
