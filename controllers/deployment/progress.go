package deployment

import (
	"fmt"
	"math"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition reasons, as Kubernetes' (kubectl rollout status reads
// ReasonTimedOut).
const (
	ReasonNewRSCreated       = "NewReplicaSetCreated"
	ReasonFoundNewRS         = "FoundNewReplicaSet"
	ReasonRSUpdated          = "ReplicaSetUpdated"
	ReasonNewRSAvailable     = "NewReplicaSetAvailable"
	ReasonTimedOut           = "ProgressDeadlineExceeded"
	ReasonPaused             = "DeploymentPaused"
	ReasonResumed            = "DeploymentResumed"
	ReasonMinimumAvailable   = "MinimumReplicasAvailable"
	ReasonMinimumUnavailable = "MinimumReplicasUnavailable"
	ReasonRSCreateError      = "ReplicaSetCreateError"
)

func hasProgressDeadline(d *appsv1.Deployment) bool {
	s := d.Spec.ProgressDeadlineSeconds
	return s != nil && *s != math.MaxInt32
}

func getCondition(st *appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

func removeCondition(st *appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) {
	var kept []appsv1.DeploymentCondition
	for _, c := range st.Conditions {
		if c.Type != t {
			kept = append(kept, c)
		}
	}
	st.Conditions = kept
}

// setCondition on st: an existing condition with the same status and
// reason is left as it is (its times too); one with the same status keeps
// its lastTransitionTime.
func setCondition(st *appsv1.DeploymentStatus, c appsv1.DeploymentCondition) {
	cur := getCondition(st, c.Type)
	if cur != nil && cur.Status == c.Status && cur.Reason == c.Reason {
		return
	}
	if cur != nil && cur.Status == c.Status {
		c.LastTransitionTime = cur.LastTransitionTime
	}
	removeCondition(st, c.Type)
	st.Conditions = append(st.Conditions, c)
}

func (p *planner) condition(t appsv1.DeploymentConditionType, s corev1.ConditionStatus, reason, msg string) appsv1.DeploymentCondition {
	now := metav1.NewTime(p.in.Now)
	return appsv1.DeploymentCondition{Type: t, Status: s, Reason: reason, Message: msg, LastUpdateTime: now, LastTransitionTime: now}
}

func (p *planner) setCondition(t appsv1.DeploymentConditionType, s corev1.ConditionStatus, reason, msg string) {
	setCondition(&p.d.Status, p.condition(t, s, reason, msg))
}

// pausedCondition records a pause or a resume in the Progressing
// condition (status Unknown), so a paused Deployment never times out.
func (p *planner) pausedCondition() {
	d := p.d
	if !hasProgressDeadline(d) {
		return
	}
	cond := getCondition(&d.Status, appsv1.DeploymentProgressing)
	if cond != nil && cond.Reason == ReasonTimedOut {
		return // a timed-out rollout says so until it progresses again
	}
	paused := cond != nil && cond.Reason == ReasonPaused
	switch {
	case d.Spec.Paused && !paused:
		p.setCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, ReasonPaused, "Deployment is paused")
	case !d.Spec.Paused && paused:
		p.setCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, ReasonResumed, "Deployment is resumed")
	}
}

// calculateStatus is the Deployment's status from its ReplicaSets':
// replicas, ready and available summed; updatedReplicas the new
// ReplicaSet's; unavailableReplicas what the ReplicaSets want beyond what
// is available; the Available condition against replicas -
// maxUnavailable.
func (p *planner) calculateStatus(all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) appsv1.DeploymentStatus {
	d := p.d
	avail := sumStatus(all, func(s *appsv1.ReplicaSetStatus) int32 { return s.AvailableReplicas })
	st := appsv1.DeploymentStatus{
		ObservedGeneration:  d.Generation,
		Replicas:            sumStatus(all, func(s *appsv1.ReplicaSetStatus) int32 { return s.Replicas }),
		ReadyReplicas:       sumStatus(all, func(s *appsv1.ReplicaSetStatus) int32 { return s.ReadyReplicas }),
		AvailableReplicas:   avail,
		UnavailableReplicas: max(sumSpec(all)-avail, 0),
		CollisionCount:      d.Status.CollisionCount,
		Conditions:          append([]appsv1.DeploymentCondition(nil), d.Status.Conditions...),
	}
	if newRS != nil {
		st.UpdatedReplicas = newRS.Status.Replicas
	}
	if avail >= replicas(d)-p.unavail {
		setCondition(&st, p.condition(appsv1.DeploymentAvailable, corev1.ConditionTrue, ReasonMinimumAvailable, "Deployment has minimum availability."))
	} else {
		setCondition(&st, p.condition(appsv1.DeploymentAvailable, corev1.ConditionFalse, ReasonMinimumUnavailable, "Deployment does not have minimum availability."))
	}
	return st
}

// syncStatus sets the status without judging progress.
func (p *planner) syncStatus(all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) {
	p.d.Status = p.calculateStatus(all, newRS)
}

// syncRolloutStatus sets the status and judges progress: complete
// (NewReplicaSetAvailable), progressing (ReplicaSetUpdated, its
// lastUpdateTime moved to now), or stuck beyond progressDeadlineSeconds
// since the last progress (Progressing=False ProgressDeadlineExceeded).
// A ReplicaFailure condition of a ReplicaSet is carried over.
func (p *planner) syncRolloutStatus(all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) {
	d := p.d
	st := p.calculateStatus(all, newRS)
	if !hasProgressDeadline(d) {
		removeCondition(&st, appsv1.DeploymentProgressing)
	}
	cur := getCondition(&st, appsv1.DeploymentProgressing)
	complete := st.Replicas == st.UpdatedReplicas && cur != nil && cur.Reason == ReasonNewRSAvailable
	subject := fmt.Sprintf("Deployment %q", d.Name)
	if newRS != nil {
		subject = fmt.Sprintf("ReplicaSet %q", newRS.Name)
	}
	if hasProgressDeadline(d) && !complete {
		switch {
		case deploymentComplete(d, &st):
			setCondition(&st, p.condition(appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonNewRSAvailable, subject+" has successfully progressed."))
		case progressing(&p.in.Deployment.Status, &st):
			c := p.condition(appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonRSUpdated, subject+" is progressing.")
			if cur != nil && cur.Status == corev1.ConditionTrue {
				c.LastTransitionTime = cur.LastTransitionTime
			}
			removeCondition(&st, appsv1.DeploymentProgressing)
			st.Conditions = append(st.Conditions, c)
		case p.timedOut(&st):
			msg := subject + " has timed out progressing."
			if cur.Reason != ReasonTimedOut {
				p.statusEvents = append(p.statusEvents, Event{corev1.EventTypeWarning, EventProgressDeadlineExceed, msg})
			}
			setCondition(&st, p.condition(appsv1.DeploymentProgressing, corev1.ConditionFalse, ReasonTimedOut, msg))
		}
	}
	if c := replicaFailure(newRS, all); c != nil {
		setCondition(&st, appsv1.DeploymentCondition{Type: appsv1.DeploymentReplicaFailure, Status: c.Status,
			Reason: c.Reason, Message: c.Message, LastUpdateTime: c.LastTransitionTime, LastTransitionTime: c.LastTransitionTime})
	} else {
		removeCondition(&st, appsv1.DeploymentReplicaFailure)
	}
	d.Status = st
}

// replicaFailure is the ReplicaFailure condition of the new ReplicaSet,
// else of any other.
func replicaFailure(newRS *appsv1.ReplicaSet, all []*appsv1.ReplicaSet) *appsv1.ReplicaSetCondition {
	for _, rs := range append([]*appsv1.ReplicaSet{newRS}, all...) {
		if rs == nil {
			continue
		}
		for i := range rs.Status.Conditions {
			if rs.Status.Conditions[i].Type == appsv1.ReplicaSetReplicaFailure {
				return &rs.Status.Conditions[i]
			}
		}
	}
	return nil
}

// deploymentComplete: every replica updated and available, no old ones,
// and the status is of the current generation.
func deploymentComplete(d *appsv1.Deployment, st *appsv1.DeploymentStatus) bool {
	n := replicas(d)
	return st.UpdatedReplicas == n && st.Replicas == n && st.AvailableReplicas == n && st.ObservedGeneration >= d.Generation
}

// progressing: more updated, ready or available replicas than before, or
// fewer old ones.
func progressing(old, cur *appsv1.DeploymentStatus) bool {
	return cur.UpdatedReplicas > old.UpdatedReplicas ||
		cur.Replicas-cur.UpdatedReplicas < old.Replicas-old.UpdatedReplicas ||
		cur.ReadyReplicas > old.ReadyReplicas ||
		cur.AvailableReplicas > old.AvailableReplicas
}

// timedOut: the Progressing condition was last updated more than
// progressDeadlineSeconds ago (and the rollout is not complete).
func (p *planner) timedOut(st *appsv1.DeploymentStatus) bool {
	if !hasProgressDeadline(p.d) {
		return false
	}
	c := getCondition(st, appsv1.DeploymentProgressing)
	if c == nil || c.Reason == ReasonNewRSAvailable {
		return false
	}
	if c.Reason == ReasonTimedOut {
		return true
	}
	deadline := time.Duration(*p.d.Spec.ProgressDeadlineSeconds) * time.Second
	return c.LastUpdateTime.Add(deadline).Before(p.in.Now)
}

// requeueAfter: when a rollout in progress would pass its deadline, so a
// sync then can declare it (nothing else would wake the Deployment).
func (p *planner) requeueAfter() time.Duration {
	d := p.d
	if !hasProgressDeadline(d) || d.Spec.Paused {
		return 0
	}
	c := getCondition(&d.Status, appsv1.DeploymentProgressing)
	if c == nil || c.Reason == ReasonNewRSAvailable || c.Reason == ReasonTimedOut {
		return 0
	}
	deadline := time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second
	after := c.LastUpdateTime.Add(deadline).Sub(p.in.Now)
	return max(after, 0) + time.Second
}
