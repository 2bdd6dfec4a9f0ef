package garbagecollector

import (
	"encoding/json"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ownerState is what one ownerReference of a dependent resolves to.
type ownerState int

const (
	// ownerSolid: the owner exists with the referenced UID and is not
	// waiting for its dependents to go.
	ownerSolid ownerState = iota
	// ownerDangling: confirmed absent by the API (not found, or its name
	// now belongs to another UID), or a namespaced owner named from
	// another namespace.
	ownerDangling
	// ownerWaiting: the owner exists and is being deleted in the
	// foreground: its dependents are to be deleted first.
	ownerWaiting
	// ownerInvalid: a cluster-scoped dependent names a namespaced kind;
	// the reference cannot be resolved and the dependent is left alone.
	ownerInvalid
)

func (s ownerState) String() string {
	switch s {
	case ownerSolid:
		return "solid"
	case ownerDangling:
		return "dangling"
	case ownerWaiting:
		return "waiting"
	case ownerInvalid:
		return "invalid"
	}
	return fmt.Sprintf("ownerState(%d)", int(s))
}

// action is what a decision asks the collector to do to a dependent.
type action int

const (
	actNone action = iota
	// actRemoveRefs: patch the dependent to drop plan.remove.
	actRemoveRefs
	// actDelete: delete the dependent with plan.policy (after making
	// plan.unblock non-blocking, if any).
	actDelete
	// actReportInvalid: report the unresolvable references; nothing else.
	actReportInvalid
)

func (a action) String() string {
	return [...]string{"none", "remove-refs", "delete", "report-invalid"}[a]
}

// plan is the decision about one dependent.
type plan struct {
	action action
	// remove: UIDs of the references to drop (actRemoveRefs).
	remove []types.UID
	// unblock: UIDs of references to make non-blocking before a
	// foreground delete (actDelete).
	unblock []types.UID
	// invalid: UIDs of the unresolvable references (actReportInvalid).
	invalid []types.UID
	policy  metav1.DeletionPropagation
	// why explains the decision, for logs and tests.
	why string
}

// decideDependent decides what to do with dependent it, whose
// ownerReferences resolved to states (one per it.Owners entry), as
// Kubernetes' garbage collector does:
//
//   - a reference that cannot be resolved (a cluster-scoped dependent
//     naming a namespaced kind) is reported and the dependent left alone;
//   - with a solid owner the dependent stays; references to dangling owners
//     and to owners waiting for it are dropped (so it no longer blocks them);
//   - with no solid owner but one waiting in the foreground, a dependent
//     that has dependents of its own is deleted in the foreground too (its
//     references made non-blocking first if one of its dependents is
//     itself being deleted in the foreground: a cycle);
//   - otherwise (every owner gone) it is deleted, in the background unless
//     it already carries the orphan or foregroundDeletion finalizer, which
//     is honoured.
func decideDependent(it Item, states []ownerState) plan {
	refs := it.Object.Owners
	if len(refs) == 0 {
		return plan{why: "no owners"}
	}
	var solid, dangling, waiting, invalid []types.UID
	for i, s := range states {
		uid := refs[i].UID
		switch s {
		case ownerSolid:
			solid = append(solid, uid)
		case ownerDangling:
			dangling = append(dangling, uid)
		case ownerWaiting:
			waiting = append(waiting, uid)
		case ownerInvalid:
			invalid = append(invalid, uid)
		}
	}
	switch {
	case len(invalid) > 0:
		return plan{action: actReportInvalid, invalid: invalid,
			why: "a cluster-scoped object cannot have a namespaced owner; left alone"}
	case len(solid) > 0 && len(dangling)+len(waiting) == 0:
		return plan{why: "every owner exists"}
	case len(solid) > 0:
		return plan{action: actRemoveRefs, remove: append(dangling, waiting...),
			why: "has a solid owner; dropping references to owners that are gone or waiting for it"}
	case len(waiting) > 0 && it.HasDependents:
		p := plan{action: actDelete, policy: metav1.DeletePropagationForeground,
			why: "an owner is being deleted in the foreground and this object has dependents: foreground"}
		if it.DependentDeletingDependents {
			for i, s := range states {
				if s == ownerWaiting && boolOf(refs[i].BlockOwnerDeletion) {
					p.unblock = append(p.unblock, refs[i].UID)
				}
			}
		}
		return p
	}
	p := plan{action: actDelete, policy: metav1.DeletePropagationBackground, why: "every owner is gone"}
	if len(waiting) > 0 {
		p.why = "an owner is being deleted in the foreground"
	}
	switch {
	case slices.Contains(it.Finalizers, finalizerOrphan):
		p.policy = metav1.DeletePropagationOrphan
	case slices.Contains(it.Finalizers, finalizerForeground):
		p.policy = metav1.DeletePropagationForeground
	}
	return p
}

// JSON patches. Every patch first tests the object's UID and the exact
// entries it changes, so a patch computed from a stale view fails (422)
// instead of changing the wrong entry; the collector then reads the
// object from the API and decides again.

type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// removeRefsPatch drops the references to uids from obj.
func removeRefsPatch(obj Object, uids []types.UID) ([]byte, bool) {
	var idx []int
	for i, r := range obj.Owners {
		if slices.Contains(uids, r.UID) {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil, false
	}
	ops := []patchOp{{Op: "test", Path: "/metadata/uid", Value: obj.UID}}
	for _, i := range idx {
		ops = append(ops, patchOp{Op: "test", Path: fmt.Sprintf("/metadata/ownerReferences/%d/uid", i), Value: obj.Owners[i].UID})
	}
	for j := len(idx) - 1; j >= 0; j-- {
		ops = append(ops, patchOp{Op: "remove", Path: fmt.Sprintf("/metadata/ownerReferences/%d", idx[j])})
	}
	return mustJSON(ops), true
}

// unblockRefsPatch sets blockOwnerDeletion=false on obj's references to
// uids.
func unblockRefsPatch(obj Object, uids []types.UID) ([]byte, bool) {
	ops := []patchOp{{Op: "test", Path: "/metadata/uid", Value: obj.UID}}
	for i, r := range obj.Owners {
		if slices.Contains(uids, r.UID) && boolOf(r.BlockOwnerDeletion) {
			ops = append(ops,
				patchOp{Op: "test", Path: fmt.Sprintf("/metadata/ownerReferences/%d/uid", i), Value: r.UID},
				patchOp{Op: "replace", Path: fmt.Sprintf("/metadata/ownerReferences/%d/blockOwnerDeletion", i), Value: false})
		}
	}
	if len(ops) == 1 {
		return nil, false
	}
	return mustJSON(ops), true
}

// removeFinalizerPatch drops finalizer from obj.
func removeFinalizerPatch(obj Object, finalizer string) ([]byte, bool) {
	i := slices.Index(obj.Finalizers, finalizer)
	if i < 0 {
		return nil, false
	}
	return mustJSON([]patchOp{
		{Op: "test", Path: "/metadata/uid", Value: obj.UID},
		{Op: "test", Path: fmt.Sprintf("/metadata/finalizers/%d", i), Value: finalizer},
		{Op: "remove", Path: fmt.Sprintf("/metadata/finalizers/%d", i)},
	}), true
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("garbagecollector: encode a patch: " + err.Error()) // strings and bools only: cannot fail
	}
	return b
}
