package core

import (
	"fmt"
)

// volumeState holds the node terms of the pod's bound persistent volumes.
type volumeState struct {
	// terms: one entry per bound PV with node affinity; a node must match
	// one term of each.
	terms [][]nodeTerm
	// missingPV: a claim is bound to a volume that does not exist.
	missingPV bool
}

// volumeBinding checks the node affinity of the persistent volumes the
// pod's claims are bound to. It does not bind claims: a pod with an
// unbound claim waits (there is no volume binder or provisioner here).
type volumeBinding struct{}

func (volumeBinding) Name() string { return VolumeBinding }

func (volumeBinding) PreFilter(st *CycleState) Status {
	st.volumes = volumeState{}
	pod := st.Pod.Pod
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		var claim string
		switch {
		case v.PersistentVolumeClaim != nil:
			claim = v.PersistentVolumeClaim.ClaimName
		case v.Ephemeral != nil:
			claim = pod.Name + "-" + v.Name
		default:
			continue
		}
		if st.Snap.Volumes == nil {
			return failUnresolvable(VolumeBinding, fmt.Sprintf("persistentvolumeclaim %q not found", claim))
		}
		pvc := st.Snap.Volumes.PVC(pod.Namespace, claim)
		switch {
		case pvc == nil:
			return failUnresolvable(VolumeBinding, fmt.Sprintf("persistentvolumeclaim %q not found", claim))
		case pvc.DeletionTimestamp != nil:
			return failUnresolvable(VolumeBinding, fmt.Sprintf("persistentvolumeclaim %q is being deleted", claim))
		case pvc.Spec.VolumeName == "":
			return failUnresolvable(VolumeBinding, ReasonUnboundPVC)
		}
		pv := st.Snap.Volumes.PV(pvc.Spec.VolumeName)
		if pv == nil {
			st.volumes.missingPV = true
			continue
		}
		if na := pv.Spec.NodeAffinity; na != nil && na.Required != nil {
			var terms []nodeTerm
			for _, t := range na.Required.NodeSelectorTerms {
				terms = append(terms, compileTerm(t))
			}
			st.volumes.terms = append(st.volumes.terms, terms)
		}
	}
	return Status{}
}

func (volumeBinding) relevant(st *CycleState) bool {
	return st.volumes.missingPV || len(st.volumes.terms) > 0
}

func (volumeBinding) Filter(st *CycleState, n *NodeInfo) Status {
	if st.volumes.missingPV {
		return failUnresolvable(VolumeBinding, ReasonBoundToMissingPV)
	}
next:
	for _, terms := range st.volumes.terms {
		for _, t := range terms {
			if t.matches(n.Name, n.NodeLabels) {
				continue next
			}
		}
		return failUnresolvable(VolumeBinding, ReasonVolumeNodeAffinity)
	}
	return Status{}
}
