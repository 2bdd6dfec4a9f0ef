package replicaset

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Condition reasons on a ReplicaSet's ReplicaFailure condition.
const (
	ReasonFailedCreate = "FailedCreate"
	ReasonFailedDelete = "FailedDelete"
)

// StatusInput is what a ReplicaSet's status is computed from.
type StatusInput struct {
	RS *appsv1.ReplicaSet
	// Active are the owned active pods the sync saw (Plan.Active).
	Active []*corev1.Pod
	// Pending is how many pods this controller created and has not seen
	// yet; they count in status.replicas, so that it never reports fewer
	// pods than may exist (a Deployment bounds its surge by it).
	Pending int
	// ManageErr is the sync's create or delete failure, if any; Creating
	// tells which (it sets the ReplicaFailure reason).
	ManageErr error
	Creating  bool
	Now       time.Time
}

// ComputeStatus is the status a sync writes, and when to look again
// (0: no need) because a ready pod will become available after
// minReadySeconds.
//
// replicas counts active pods plus Pending; fullyLabeledReplicas those
// whose labels include all of the template's; readyReplicas those Ready;
// availableReplicas those Ready for at least minReadySeconds. The
// ReplicaFailure condition is set (status True) on a failed create or
// delete and removed after a sync without one; observedGeneration is the
// ReplicaSet's generation.
func ComputeStatus(in StatusInput) (appsv1.ReplicaSetStatus, time.Duration) {
	rs := in.RS
	st := appsv1.ReplicaSetStatus{
		Replicas:           int32(len(in.Active) + max(in.Pending, 0)),
		ObservedGeneration: rs.Generation,
		Conditions:         append([]appsv1.ReplicaSetCondition(nil), rs.Status.Conditions...),
	}
	tmpl := labels.Set(rs.Spec.Template.Labels).AsSelectorPreValidated()
	minReady := time.Duration(rs.Spec.MinReadySeconds) * time.Second
	var requeue time.Duration
	for _, p := range in.Active {
		if tmpl.Matches(labels.Set(p.Labels)) {
			st.FullyLabeledReplicas++
		}
		if IsReady(p) {
			st.ReadyReplicas++
		}
		ok, wait := IsAvailable(p, minReady, in.Now)
		if ok {
			st.AvailableReplicas++
		} else if wait > 0 && (requeue == 0 || wait < requeue) {
			requeue = wait
		}
	}
	switch {
	case in.ManageErr != nil && failureCondition(st.Conditions) == nil:
		reason := ReasonFailedDelete
		if in.Creating {
			reason = ReasonFailedCreate
		}
		st.Conditions = append(st.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
			Reason: reason, Message: in.ManageErr.Error(),
			LastTransitionTime: metav1.NewTime(in.Now),
		})
	case in.ManageErr == nil && failureCondition(st.Conditions) != nil:
		kept := st.Conditions[:0]
		for _, c := range st.Conditions {
			if c.Type != appsv1.ReplicaSetReplicaFailure {
				kept = append(kept, c)
			}
		}
		st.Conditions = kept
	}
	if len(st.Conditions) == 0 {
		st.Conditions = nil
	}
	return st, requeue
}

func failureCondition(cs []appsv1.ReplicaSetCondition) *appsv1.ReplicaSetCondition {
	for i := range cs {
		if cs[i].Type == appsv1.ReplicaSetReplicaFailure {
			return &cs[i]
		}
	}
	return nil
}
