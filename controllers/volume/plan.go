package volume

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
)

// Event is an Event the binder records on the object it decided about.
type Event struct{ Type, Reason, Message string }

// Event reasons and messages, as Kubernetes' persistentvolume-controller
// words them.
const (
	ReasonWaitForFirstConsumer = "WaitForFirstConsumer"
	ReasonExternalProvisioning = "ExternalProvisioning"
	ReasonFailedBinding        = "FailedBinding"
	ReasonProvisioningFailed   = "ProvisioningFailed"
	ReasonClaimLost            = "ClaimLost"
	ReasonClaimMisbound        = "ClaimMisbound"
	ReasonVolumeFailedRecycle  = "VolumeFailedRecycle"

	msgWaitForFirstConsumer = "waiting for first consumer to be created before binding"
	msgNoVolumeNoClass      = "no persistent volumes available for this claim and no storage class is set"
	msgClaimLost            = "Bound claim has lost its PersistentVolume. Data on the volume is lost!"
	msgClaimMisbound        = "Two claims are bound to the same volume, this one is bound incorrectly"
)

// ClaimAction is what the binder does with a claim.
type ClaimAction int

const (
	// ClaimWait: nothing to write now (an Event may say why).
	ClaimWait ClaimAction = iota
	// ClaimSetClass: give a claim that names no class the default one
	// (Kubernetes' retroactive default StorageClass assignment).
	ClaimSetClass
	// ClaimSelectNode: annotate the claim with the node its consumer was
	// put on (volume.kubernetes.io/selected-node), so that a
	// WaitForFirstConsumer class provisions there.
	ClaimSelectNode
	// ClaimBind: bind the claim and Volume, writing whichever of the four
	// steps is missing (volume claimRef, volume phase, claim volumeName
	// and annotations, claim phase).
	ClaimBind
	// ClaimProvision: ask the class's provisioner for a volume (annotate
	// the claim with volume.kubernetes.io/storage-provisioner).
	ClaimProvision
	// ClaimLose: the claim's volume is gone or bound elsewhere: phase Lost.
	ClaimLose
)

// Claim is the binder's snapshot around one claim; it is read, never
// modified.
type Claim struct {
	Claim *corev1.PersistentVolumeClaim
	// Volumes are all the cluster's volumes.
	Volumes []*corev1.PersistentVolume
	// Class is the claim's StorageClass; nil when it names none or the
	// class does not exist.
	Class *storagev1.StorageClass
	// DefaultClass names the default StorageClass, "" if none.
	DefaultClass string
	// ConsumerNode is the node a pod using the claim is bound to, "" if
	// none is.
	ConsumerNode string
	// Node is the Node object of the claim's selected node, if known.
	Node *corev1.Node
}

// ClaimPlan is PlanClaim's decision.
type ClaimPlan struct {
	Action ClaimAction
	// Volume to bind (ClaimBind).
	Volume *corev1.PersistentVolume
	// Class to set (ClaimSetClass).
	Class string
	// Node to select (ClaimSelectNode).
	Node string
	// Provisioner to ask (ClaimProvision).
	Provisioner string
	// Event to record on the claim, if any.
	Event *Event
}

// PlanClaim decides the next step for a claim.
func PlanClaim(s Claim) ClaimPlan {
	c := s.Claim
	if c.Spec.VolumeName != "" {
		return planNamedVolume(s)
	}
	if c.DeletionTimestamp != nil {
		return ClaimPlan{}
	}
	// A volume pre-bound to this claim (by a user or a provisioner).
	for _, pv := range s.Volumes {
		if boundTo(pv, c) {
			if why := Unfit(c, pv); why != "" {
				return ClaimPlan{Event: &Event{corev1.EventTypeWarning, ReasonFailedBinding,
					fmt.Sprintf("Cannot bind to requested volume %q: %s", pv.Name, why)}}
			}
			return ClaimPlan{Action: ClaimBind, Volume: pv}
		}
	}
	class, named := ClaimClass(c)
	if !named && s.DefaultClass != "" {
		return ClaimPlan{Action: ClaimSetClass, Class: s.DefaultClass}
	}
	if class != "" && s.Class == nil {
		return ClaimPlan{Event: &Event{corev1.EventTypeWarning, ReasonProvisioningFailed,
			fmt.Sprintf("storageclass.storage.k8s.io %q not found", class)}}
	}
	var node *corev1.Node
	if delayed(s.Class) {
		name := c.Annotations[AnnSelectedNode]
		if name == "" {
			if s.ConsumerNode != "" {
				return ClaimPlan{Action: ClaimSelectNode, Node: s.ConsumerNode}
			}
			return ClaimPlan{Event: &Event{corev1.EventTypeNormal, ReasonWaitForFirstConsumer, msgWaitForFirstConsumer}}
		}
		node = NodeOrName(s.Node, name)
	}
	if pv := Match(c, s.Volumes, node); pv != nil {
		return ClaimPlan{Action: ClaimBind, Volume: pv}
	}
	if s.Class == nil {
		return ClaimPlan{Event: &Event{corev1.EventTypeNormal, ReasonFailedBinding, msgNoVolumeNoClass}}
	}
	if p := s.Class.Provisioner; p != NoProvisioner {
		plan := ClaimPlan{Action: ClaimProvision, Provisioner: p, Event: &Event{corev1.EventTypeNormal, ReasonExternalProvisioning,
			fmt.Sprintf("Waiting for a volume to be created either by the external provisioner '%s' or manually by the system administrator. If volume creation is delayed, please verify that your external provisioner is running and correctly registered.", p)}}
		if c.Annotations[AnnStorageProvisioner] == p && c.Annotations[AnnBetaStorageProvisioner] == p {
			plan.Action = ClaimWait // asked already
		}
		return plan
	}
	return ClaimPlan{Event: &Event{corev1.EventTypeNormal, ReasonFailedBinding,
		fmt.Sprintf("no persistent volumes available for this claim and storage class %q has no provisioner", class)}}
}

// planNamedVolume decides for a claim whose spec.volumeName is set (by the
// binder, or by its user asking for that volume).
func planNamedVolume(s Claim) ClaimPlan {
	c := s.Claim
	var pv *corev1.PersistentVolume
	for _, v := range s.Volumes {
		if v.Name == c.Spec.VolumeName {
			pv = v
		}
	}
	bound := c.Status.Phase == corev1.ClaimBound
	switch {
	case pv == nil && bound:
		return ClaimPlan{Action: ClaimLose, Event: &Event{corev1.EventTypeWarning, ReasonClaimLost, msgClaimLost}}
	case pv == nil:
		return ClaimPlan{} // the volume asked for does not exist yet
	case pv.Spec.ClaimRef == nil:
		if why := Unfit(c, pv); why != "" {
			return ClaimPlan{Event: &Event{corev1.EventTypeWarning, ReasonFailedBinding,
				fmt.Sprintf("Cannot bind to requested volume %q: %s", pv.Name, why)}}
		}
		return ClaimPlan{Action: ClaimBind, Volume: pv}
	case boundTo(pv, c):
		if bindingDone(c, pv) {
			return ClaimPlan{}
		}
		return ClaimPlan{Action: ClaimBind, Volume: pv}
	case bound:
		return ClaimPlan{Action: ClaimLose, Event: &Event{corev1.EventTypeWarning, ReasonClaimMisbound, msgClaimMisbound}}
	}
	return ClaimPlan{Event: &Event{corev1.EventTypeWarning, ReasonFailedBinding,
		fmt.Sprintf("volume %q already bound to a different claim.", pv.Name)}}
}

// delayed: the class binds a claim only once a pod using it is scheduled.
func delayed(sc *storagev1.StorageClass) bool {
	return sc != nil && sc.VolumeBindingMode != nil && *sc.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer
}

// boundTo: pv's claimRef names c (by namespace and name, and by UID when
// it has one).
func boundTo(pv *corev1.PersistentVolume, c *corev1.PersistentVolumeClaim) bool {
	r := pv.Spec.ClaimRef
	return r != nil && r.Namespace == c.Namespace && r.Name == c.Name && (r.UID == "" || r.UID == c.UID)
}

// bindingDone: every step of binding c to pv is written.
func bindingDone(c *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) bool {
	return pv.Spec.ClaimRef != nil && pv.Spec.ClaimRef.UID == c.UID && pv.Status.Phase == corev1.VolumeBound &&
		c.Spec.VolumeName == pv.Name && c.Annotations[AnnBindCompleted] == "yes" && c.Status.Phase == corev1.ClaimBound
}

// VolumeAction is what the binder does with a volume.
type VolumeAction int

const (
	// VolumeWait: nothing to write.
	VolumeWait VolumeAction = iota
	// VolumeSetPhase: write status.phase = Phase.
	VolumeSetPhase
	// VolumeUnbind: clear the claimRef the binder set for a claim that was
	// bound to another volume.
	VolumeUnbind
	// VolumeDelete: delete the volume object (reclaim policy Delete, not
	// made by a provisioner, whose job deleting it would be).
	VolumeDelete
)

// Volume is the binder's snapshot around one volume.
type Volume struct {
	Volume *corev1.PersistentVolume
	// Claim is the claim the volume's claimRef names by namespace and
	// name, if it exists (whatever its UID).
	Claim *corev1.PersistentVolumeClaim
}

// VolumePlan is PlanVolume's decision.
type VolumePlan struct {
	Action VolumeAction
	Phase  corev1.PersistentVolumePhase
	// SyncClaim: the claim is being bound to this volume; sync it.
	SyncClaim bool
	Event     *Event
}

// PlanVolume decides the next step for a volume: its phase follows its
// claim (Available without one or while pre-bound, Bound, Released once
// the claim is gone), and a released volume is reclaimed per its policy.
func PlanVolume(s Volume) VolumePlan {
	pv, c := s.Volume, s.Claim
	if pv.DeletionTimestamp != nil {
		return VolumePlan{}
	}
	phase := func(p corev1.PersistentVolumePhase) VolumePlan {
		if pv.Status.Phase == p {
			return VolumePlan{}
		}
		return VolumePlan{Action: VolumeSetPhase, Phase: p}
	}
	ref := pv.Spec.ClaimRef
	switch {
	case ref == nil:
		return phase(corev1.VolumeAvailable)
	case ref.UID == "":
		p := phase(corev1.VolumeAvailable)
		p.SyncClaim = c != nil
		return p
	case c == nil || c.UID != ref.UID:
		if pv.Status.Phase != corev1.VolumeReleased {
			return phase(corev1.VolumeReleased)
		}
		return reclaim(pv)
	case c.Spec.VolumeName == pv.Name:
		p := phase(corev1.VolumeBound)
		p.SyncClaim = c.Status.Phase != corev1.ClaimBound || c.Annotations[AnnBindCompleted] != "yes"
		return p
	case c.Spec.VolumeName == "":
		return VolumePlan{SyncClaim: true}
	case pv.Annotations[AnnBoundByController] == "yes":
		return VolumePlan{Action: VolumeUnbind}
	}
	return VolumePlan{} // pre-bound by a user to a claim bound elsewhere: left as the user made it
}

// reclaim decides for a Released volume.
func reclaim(pv *corev1.PersistentVolume) VolumePlan {
	switch pv.Spec.PersistentVolumeReclaimPolicy {
	case corev1.PersistentVolumeReclaimDelete:
		if pv.Annotations[AnnProvisionedBy] != "" {
			return VolumePlan{} // its provisioner deletes it
		}
		return VolumePlan{Action: VolumeDelete}
	case corev1.PersistentVolumeReclaimRecycle:
		return VolumePlan{Event: &Event{corev1.EventTypeWarning, ReasonVolumeFailedRecycle,
			"Recycle is not supported: delete the volume, or set its persistentVolumeReclaimPolicy to Retain"}}
	}
	return VolumePlan{} // Retain: an administrator reclaims it
}
