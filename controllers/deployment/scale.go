package deployment

import (
	"math"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
)

// scale follows a change of the Deployment's replicas. With one active
// ReplicaSet (or none: the newest), that one takes the new count. With a
// saturated new ReplicaSet, old ones go to 0. Mid-rollout, the change is
// spread over the active ReplicaSets in proportion to their sizes, so a
// rollout's shape is kept: each gets round(size * (replicas+maxSurge) /
// its max-replicas annotation) - size, the remainder going to the
// largest.
func (p *planner) scale(newRS *appsv1.ReplicaSet, olds []*appsv1.ReplicaSet) {
	want := replicas(p.d)
	if rs := activeOrLatest(newRS, olds); rs != nil {
		if rsReplicas(rs) != want {
			p.scaleRS(rs, want)
		}
		return
	}
	if p.saturated(newRS) {
		for _, rs := range activeRSes(olds) {
			p.scaleRS(rs, 0)
		}
		return
	}
	if !isRolling(p.d) {
		return
	}
	all := activeRSes(withNew(olds, newRS))
	var allowed int32
	if want > 0 {
		allowed = want + p.surge
	}
	toAdd := allowed - sumSpec(all)
	if toAdd > 0 {
		sortBySize(all, true) // larger first, newer first among equals
	} else {
		sortBySize(all, false) // larger first, older first among equals
	}
	sizes := make([]int32, len(all))
	var added int32
	for i, rs := range all {
		sizes[i] = rsReplicas(rs)
		if toAdd != 0 {
			n := p.proportion(rs, toAdd, added)
			sizes[i] += n
			added += n
		}
	}
	if added != toAdd && len(all) > 0 {
		sizes[0] = max(sizes[0]+toAdd-added, 0)
	}
	for i, rs := range all {
		p.scaleRS(rs, sizes[i])
	}
}

// activeOrLatest: the only active ReplicaSet; with none active, the new
// one or else the newest; nil with several active.
func activeOrLatest(newRS *appsv1.ReplicaSet, olds []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	if newRS == nil && len(olds) == 0 {
		return nil
	}
	active := activeRSes(withNew(olds, newRS))
	switch len(active) {
	case 0:
		if newRS != nil {
			return newRS
		}
		sorted := append([]*appsv1.ReplicaSet(nil), olds...)
		byCreation(sorted)
		return sorted[len(sorted)-1]
	case 1:
		return active[0]
	}
	return nil
}

// saturated: the new ReplicaSet has all the replicas, was sized for this
// replicas count, and all of them are available.
func (p *planner) saturated(newRS *appsv1.ReplicaSet) bool {
	if newRS == nil {
		return false
	}
	want := replicas(p.d)
	desired, ok := int32Annotation(newRS, AnnotationDesiredReplicas)
	return ok && desired == want && rsReplicas(newRS) == want && newRS.Status.AvailableReplicas == want
}

// proportion is rs's share of toAdd (negative: of a reduction), given
// added already handed out, never beyond what is left.
func (p *planner) proportion(rs *appsv1.ReplicaSet, toAdd, added int32) int32 {
	if rsReplicas(rs) == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	f := p.fraction(rs)
	left := toAdd - added
	if toAdd > 0 {
		return min(f, left)
	}
	return max(f, left)
}

// fraction is how rs's size changes when the Deployment goes from the
// size rs was scaled for (max-replicas annotation, else the Deployment's
// status.replicas) to replicas + maxSurge.
func (p *planner) fraction(rs *appsv1.ReplicaSet) int32 {
	cur := rsReplicas(rs)
	if replicas(p.d) == 0 {
		return -cur
	}
	target := float64(replicas(p.d) + p.surge)
	base, ok := int32Annotation(rs, AnnotationMaxReplicas)
	if !ok {
		base = p.in.Deployment.Status.Replicas
	}
	if base <= 0 {
		return 0
	}
	v := math.Round(float64(cur) * target / float64(base))
	return int32(min(v, math.MaxInt32)) - cur
}

func sortBySize(rses []*appsv1.ReplicaSet, newerFirst bool) {
	byCreation(rses)
	if newerFirst {
		for i, j := 0, len(rses)-1; i < j; i, j = i+1, j-1 {
			rses[i], rses[j] = rses[j], rses[i]
		}
	}
	sort.SliceStable(rses, func(i, j int) bool { return rsReplicas(rses[i]) > rsReplicas(rses[j]) })
}
