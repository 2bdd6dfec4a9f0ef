package nodelifecycle

import (
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Reasons and messages of the conditions the controller writes, as
// Kubernetes words them.
const (
	ReasonNodeStatusUnknown      = "NodeStatusUnknown"
	MessageStoppedPosting        = "Kubelet stopped posting node status."
	ReasonNodeStatusNeverUpdated = "NodeStatusNeverUpdated"
	MessageNeverPosted           = "Kubelet never posted node status."
)

// kubeletConditions are the node conditions a node agent posts and the
// controller sets to Unknown when it goes silent.
var kubeletConditions = []corev1.NodeConditionType{
	corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure,
}

// observation is what the controller has seen of one node's heartbeats,
// on its own clock: a node's clock may be off, so the grace period runs
// from when a newer heartbeat was observed, not from the heartbeat's
// timestamp.
type observation struct {
	// heartbeat is the newest of the node's Lease renewTime and its Ready
	// condition's lastHeartbeatTime, as last seen.
	heartbeat time.Time
	// probed is when heartbeat was seen to change (or the node was first
	// seen).
	probed time.Time
	// ready is the Ready status last seen ("" for none), to tell
	// transitions.
	ready corev1.ConditionStatus
	// markPods: the node stopped being Ready and its pods are still to
	// be marked not ready (kept across a failed attempt).
	markPods bool
}

// assessment is the verdict on one node at one moment.
type assessment struct {
	obs observation
	// status, when not nil, is the node's status with the kubelet
	// conditions set to Unknown: to be written.
	status *corev1.NodeStatus
	// ready is the Ready status after status is written.
	ready corev1.ConditionStatus
	// becameNotReady: Ready was True when last seen and is no longer.
	becameNotReady bool
}

// assess decides whether node is silent: its last heartbeat (Lease or
// Ready condition, whichever is newer) was observed more than grace ago
// — or, for a node that never posted a status nor renewed a Lease, it
// was created more than startupGrace ago. A silent node's kubelet
// conditions become Unknown (NodeStatusUnknown, "Kubelet stopped posting
// node status."; a condition never posted is added as
// NodeStatusNeverUpdated). prev is the last observation (nil on first
// sight, when the grace period starts afresh).
func assess(node *corev1.Node, lease *coordinationv1.Lease, prev *observation, now time.Time, grace, startupGrace time.Duration) assessment {
	readyCond := condition(node.Status.Conditions, corev1.NodeReady)
	var hb time.Time
	if readyCond != nil {
		hb = readyCond.LastHeartbeatTime.Time
	}
	if lease != nil && lease.Spec.RenewTime != nil && lease.Spec.RenewTime.After(hb) {
		hb = lease.Spec.RenewTime.Time
	}
	obs := observation{heartbeat: hb, probed: now}
	if prev != nil {
		obs = *prev
		if hb.After(prev.heartbeat) {
			obs.heartbeat, obs.probed = hb, now
		}
	}
	var silent bool
	if hb.IsZero() {
		silent = now.Sub(node.CreationTimestamp.Time) > startupGrace
	} else {
		silent = now.Sub(obs.probed) > grace
	}
	a := assessment{obs: obs}
	if readyCond != nil {
		a.ready = readyCond.Status
	}
	if silent {
		st := node.Status.DeepCopy()
		changed := false
		for _, t := range kubeletConditions {
			c := condition(st.Conditions, t)
			switch {
			case c == nil:
				st.Conditions = append(st.Conditions, corev1.NodeCondition{
					Type: t, Status: corev1.ConditionUnknown, Reason: ReasonNodeStatusNeverUpdated, Message: MessageNeverPosted,
					LastHeartbeatTime: node.CreationTimestamp, LastTransitionTime: metav1.NewTime(now),
				})
				changed = true
			case c.Status != corev1.ConditionUnknown:
				c.Status, c.Reason, c.Message = corev1.ConditionUnknown, ReasonNodeStatusUnknown, MessageStoppedPosting
				c.LastTransitionTime = metav1.NewTime(now)
				changed = true
			}
		}
		if changed {
			a.status = st
		}
		a.ready = corev1.ConditionUnknown
	}
	a.becameNotReady = prev != nil && prev.ready == corev1.ConditionTrue && a.ready != corev1.ConditionTrue
	a.obs.ready = a.ready
	return a
}

func condition(list []corev1.NodeCondition, t corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range list {
		if list[i].Type == t {
			return &list[i]
		}
	}
	return nil
}

// readyStatus is node's Ready status ("" when it has none).
func readyStatus(node *corev1.Node) corev1.ConditionStatus {
	if c := condition(node.Status.Conditions, corev1.NodeReady); c != nil {
		return c.Status
	}
	return ""
}
