// Package volume binds PersistentVolumeClaims to PersistentVolumes, as
// kube-controller-manager's "persistentvolume-binder" does; subpackage
// localpath is the provisioner of the default StorageClass (k3s's
// local-path: node-local hostPath volumes).
//
// Model. Two pure decisions, table-tested, and a Binder that reads them
// from shared informers and writes one step at a time (every write
// conditioned on the object's resourceVersion, so a decision made from a
// stale cache fails with a conflict and is made again):
//
//	PlanClaim(claim, volumes, class, default class, consumer's node) →
//	    bind a volume | give the default class | select the consumer's node |
//	    ask the class's provisioner | mark Lost | wait (with an Event saying why)
//	PlanVolume(volume, its claim) →
//	    phase Available / Bound / Released | unbind | delete (reclaim) | wait
//
// Match picks the volume for a claim: unbound, same class and volume mode,
// the claim's access modes, at least its size, its selector's labels, and
// (for WaitForFirstConsumer classes) usable on the selected node; the
// smallest such, then by name.
//
// A claim's life with the default class (local-path, WaitForFirstConsumer):
//
//	created without a class → the API server gives it local-path (or the
//	    binder does, if the default class appeared later)
//	Pending, Event WaitForFirstConsumer "waiting for first consumer to be
//	    created before binding"
//	a pod using it is bound to node n1: the scheduler annotates the claim
//	    volume.kubernetes.io/selected-node=n1; if it did not, the binder does
//	    so from the pod's spec.nodeName
//	no matching volume on n1 → the binder annotates
//	    volume.kubernetes.io/storage-provisioner=rancher.io/local-path, Event
//	    ExternalProvisioning
//	localpath creates pvc-<uid>: hostPath, pinned to n1, claimRef set →
//	    Events Provisioning, ProvisioningSucceeded
//	the binder completes the binding: volume phase Bound; claim
//	    spec.volumeName, pv.kubernetes.io/bind-completed=yes, phase Bound
//	claim deleted → volume Released → policy Delete: localpath deletes it
//	    (Retain: it stays Released; Delete on a volume no provisioner made:
//	    the binder deletes the object — the data is not touched)
//
// Invariants: the binder binds only volumes without a claimRef (or
// pre-bound to the claim by name, UID unset or equal); a Released volume
// is never bound again until an administrator clears its claimRef; the
// binding steps are written in Kubernetes' order (volume claimRef, volume
// phase, claim volumeName and annotations, claim phase), each skipped when
// already done.
package volume
