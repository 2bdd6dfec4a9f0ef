package deployment

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// rolling is one step of a RollingUpdate: create the new ReplicaSet if
// needed, scale it up as far as maxSurge allows, else scale old ones down
// as far as maxUnavailable allows, else (rollout complete) clean up.
func (p *planner) rolling() {
	newRS, olds := p.syncRevision(true)
	all := withNew(olds, newRS)
	if p.reconcileNew(olds, newRS) {
		p.syncRolloutStatus(all, newRS)
		return
	}
	if p.reconcileOld(all, activeRSes(olds), newRS) {
		p.syncRolloutStatus(all, newRS)
		return
	}
	if deploymentComplete(p.d, &p.in.Deployment.Status) {
		p.cleanup(olds)
	}
	p.syncRolloutStatus(all, newRS)
}

// podBound is the most pods rs may have now: its replicas, or more while
// it has not caught up with a scale-down (Input.PodBounds).
func (p *planner) podBound(rs *appsv1.ReplicaSet) int32 {
	n := rsReplicas(rs)
	if rs != nil {
		n = max(n, p.in.PodBounds[rs.UID])
	}
	return n
}

// available is rs's available replicas as far as a decision may rely on
// them: no more than its replicas (a ReplicaSet being scaled down keeps
// its most available pods, but its status may still count the others).
func available(rs *appsv1.ReplicaSet) int32 {
	if rs == nil {
		return 0
	}
	return max(min(rs.Status.AvailableReplicas, rsReplicas(rs)), 0)
}

// reconcileNew scales the new ReplicaSet toward replicas; it reports a
// change.
func (p *planner) reconcileNew(olds []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) bool {
	want := replicas(p.d)
	switch cur := rsReplicas(newRS); {
	case cur == want:
		return false
	case cur > want:
		return p.scaleRS(newRS, want)
	}
	return p.scaleRS(newRS, p.newRSReplicas(olds, newRS))
}

// newRSReplicas is how large the new ReplicaSet may be now. Recreate: the
// Deployment's replicas. RollingUpdate: as large as keeps every
// ReplicaSet's pods (podBound) within replicas + maxSurge, and no larger
// than replicas.
func (p *planner) newRSReplicas(olds []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) int32 {
	want := replicas(p.d)
	if !isRolling(p.d) {
		return want
	}
	cur := rsReplicas(newRS)
	var total int32
	for _, rs := range withNew(olds, newRS) {
		total += p.podBound(rs)
	}
	maxTotal := want + p.surge
	if total >= maxTotal {
		return cur
	}
	return cur + max(min(maxTotal-total, want-cur), 0)
}

// reconcileOld scales old ReplicaSets down as far as keeps replicas -
// maxUnavailable pods available: first their unavailable replicas, then
// available ones, oldest ReplicaSet first. It reports a change.
func (p *planner) reconcileOld(all, oldActive []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) bool {
	if sumSpec(oldActive) == 0 {
		return false
	}
	minAvailable := replicas(p.d) - p.unavail
	newUnavailable := rsReplicas(newRS) - available(newRS)
	maxScaledDown := sumSpec(all) - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return false
	}
	olds := append([]*appsv1.ReplicaSet(nil), oldActive...)
	byCreation(olds)
	cleaned := p.cleanupUnhealthy(olds, maxScaledDown)
	scaled := p.scaleDownOld(all, olds)
	return cleaned+scaled > 0
}

// cleanupUnhealthy removes up to maxCleanup unavailable replicas from old
// ReplicaSets (oldest first): they serve nothing, so they go first
// whatever the availability budget.
func (p *planner) cleanupUnhealthy(olds []*appsv1.ReplicaSet, maxCleanup int32) int32 {
	var total int32
	for _, rs := range olds {
		if total >= maxCleanup {
			break
		}
		cur := rsReplicas(rs)
		unhealthy := cur - available(rs)
		if cur == 0 || unhealthy <= 0 {
			continue
		}
		n := min(maxCleanup-total, unhealthy)
		p.scaleRS(rs, cur-n)
		total += n
	}
	return total
}

// scaleDownOld removes available old replicas beyond replicas -
// maxUnavailable (oldest ReplicaSet first).
func (p *planner) scaleDownOld(all, olds []*appsv1.ReplicaSet) int32 {
	minAvailable := replicas(p.d) - p.unavail
	var avail int32
	for _, rs := range all {
		avail += available(rs)
	}
	if avail <= minAvailable {
		return 0
	}
	budget := avail - minAvailable
	var total int32
	for _, rs := range olds {
		if total >= budget {
			break
		}
		cur := rsReplicas(rs)
		if cur == 0 {
			continue
		}
		n := min(cur, budget-total)
		p.scaleRS(rs, cur-n)
		total += n
	}
	return total
}

// recreate is one step of a Recreate rollout: old ReplicaSets to 0; once
// none of their pods is left (not even terminating), the new ReplicaSet
// (created now if needed) to replicas.
func (p *planner) recreate() {
	newRS, olds := p.syncRevision(false)
	all := withNew(olds, newRS)
	scaled := false
	for _, rs := range activeRSes(olds) {
		scaled = p.scaleRS(rs, 0) || scaled
	}
	if scaled || p.oldPodsRunning(newRS, olds) {
		p.syncRolloutStatus(all, newRS)
		return
	}
	if newRS == nil {
		newRS, olds = p.syncRevision(true)
		all = withNew(olds, newRS)
	}
	p.scaleRS(newRS, replicas(p.d))
	if deploymentComplete(p.d, &p.in.Deployment.Status) {
		p.cleanup(olds)
	}
	p.syncRolloutStatus(all, newRS)
}

// oldPodsRunning: an old ReplicaSet still reports replicas, or one of its
// pods exists and has not finished.
func (p *planner) oldPodsRunning(newRS *appsv1.ReplicaSet, olds []*appsv1.ReplicaSet) bool {
	if sumStatus(olds, func(s *appsv1.ReplicaSetStatus) int32 { return s.Replicas }) > 0 {
		return true
	}
	for uid, pods := range p.in.Pods {
		if newRS != nil && newRS.UID == uid {
			continue
		}
		for _, pod := range pods {
			if pod.Status.Phase != corev1.PodFailed && pod.Status.Phase != corev1.PodSucceeded {
				return true
			}
		}
	}
	return false
}
