package core

import (
	corev1 "k8s.io/api/core/v1"
)

// FailedScheduling's reasons, worded as kube-scheduler words them.
const (
	ReasonUnschedulable        = "node(s) were unschedulable"
	ReasonNodeName             = "node(s) didn't match the requested node name"
	ReasonNodeAffinity         = "node(s) didn't match Pod's node affinity/selector"
	ReasonPorts                = "node(s) didn't have free ports for the requested pod ports"
	ReasonTooManyPods          = "Too many pods"
	ReasonUntoleratedTaint     = "node(s) had untolerated taint "
	ReasonVolumeNodeAffinity   = "node(s) had volume node affinity conflict"
	ReasonUnboundPVC           = "pod has unbound immediate PersistentVolumeClaims"
	ReasonBoundToMissingPV     = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
	ReasonAffinityNotMatch     = "node(s) didn't match pod affinity rules"
	ReasonAntiAffinityNotMatch = "node(s) didn't match pod anti-affinity rules"
	ReasonExistingAntiAff      = "node(s) didn't satisfy existing pods anti-affinity rules"
	ReasonSpreadSkew           = "node(s) didn't match pod topology spread constraints"
	ReasonSpreadMissingLabel   = "node(s) didn't match pod topology spread constraints (missing required label)"
)

// TaintNodeUnschedulable is the taint a cordoned node (spec.unschedulable)
// is treated as having; tolerating it schedules onto cordoned nodes.
const TaintNodeUnschedulable = "node.kubernetes.io/unschedulable"

// nodeUnschedulable refuses cordoned nodes unless the pod tolerates
// node.kubernetes.io/unschedulable:NoSchedule.
type nodeUnschedulable struct{}

func (nodeUnschedulable) Name() string { return NodeUnschedulable }

func (nodeUnschedulable) Filter(st *CycleState, n *NodeInfo) Status {
	if !n.Unschedulable {
		return Status{}
	}
	t := corev1.Taint{Key: TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}
	if toleratesTaint(st.Pod.Pod.Spec.Tolerations, &t) {
		return Status{}
	}
	return failUnresolvable(NodeUnschedulable, ReasonUnschedulable)
}

// nodeName: a pod that names its node fits only there.
type nodeName struct{}

func (nodeName) Name() string { return NodeName }

func (nodeName) relevant(st *CycleState) bool { return st.Pod.Pod.Spec.NodeName != "" }

func (nodeName) Filter(st *CycleState, n *NodeInfo) Status {
	if want := st.Pod.Pod.Spec.NodeName; want != "" && want != n.Name {
		return failUnresolvable(NodeName, ReasonNodeName)
	}
	return Status{}
}

// taintToleration: every NoSchedule and NoExecute taint must be
// tolerated (PreferNoSchedule is the scorer's).
type taintToleration struct{}

func (taintToleration) Name() string { return TaintToleration }

func (taintToleration) relevant(st *CycleState) bool { return true }

func (taintToleration) Filter(st *CycleState, n *NodeInfo) Status {
	taints := n.Taints
	for i := range taints {
		t := &taints[i]
		if t.Effect != corev1.TaintEffectNoSchedule && t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		if !toleratesTaint(st.Pod.Pod.Spec.Tolerations, t) {
			return failUnresolvable(TaintToleration, ReasonUntoleratedTaint+taintString(t))
		}
	}
	return Status{}
}

// nodeAffinity: nodeSelector and required node affinity.
type nodeAffinity struct{}

func (nodeAffinity) Name() string { return NodeAffinity }

func (nodeAffinity) relevant(st *CycleState) bool { return !st.Pod.NodeSelector.Empty() }

func (nodeAffinity) Filter(st *CycleState, n *NodeInfo) Status {
	if st.Pod.NodeSelector.Matches(n.Name, n.NodeLabels) {
		return Status{}
	}
	return failUnresolvable(NodeAffinity, ReasonNodeAffinity)
}

// nodePorts: the pod's host ports must be free on the node.
type nodePorts struct{}

func (nodePorts) Name() string { return NodePorts }

func (nodePorts) relevant(st *CycleState) bool { return len(st.Pod.Ports) > 0 }

func (nodePorts) Filter(st *CycleState, n *NodeInfo) Status {
	for _, want := range st.Pod.Ports {
		for _, used := range n.UsedPorts {
			if want.conflicts(used) {
				return fail(NodePorts, ReasonPorts)
			}
		}
	}
	return Status{}
}

// nodeResourcesFit: the pod's requests fit in allocatable minus what the
// node's pods request, and the node's pod count is below its "pods".
// Every short resource is a reason ("Insufficient cpu").
type nodeResourcesFit struct{}

func (nodeResourcesFit) Name() string { return NodeResourcesFit }

func (nodeResourcesFit) Filter(st *CycleState, n *NodeInfo) Status {
	var reasons []string
	if int64(len(n.Pods))+1 > n.AllowedPods {
		reasons = append(reasons, ReasonTooManyPods)
	}
	r := &st.Pod.Requests
	if r.MilliCPU > 0 && r.MilliCPU > n.Allocatable.MilliCPU-n.Requested.MilliCPU {
		reasons = append(reasons, "Insufficient cpu")
	}
	if r.Memory > 0 && r.Memory > n.Allocatable.Memory-n.Requested.Memory {
		reasons = append(reasons, "Insufficient memory")
	}
	if r.EphemeralStorage > 0 && r.EphemeralStorage > n.Allocatable.EphemeralStorage-n.Requested.EphemeralStorage {
		reasons = append(reasons, "Insufficient ephemeral-storage")
	}
	for _, s := range r.Scalar {
		if s.Value > 0 && s.Value > n.Allocatable.ScalarValue(s.Name)-n.Requested.ScalarValue(s.Name) {
			reasons = append(reasons, "Insufficient "+string(s.Name))
		}
	}
	if len(reasons) > 0 {
		return fail(NodeResourcesFit, reasons...)
	}
	return Status{}
}
