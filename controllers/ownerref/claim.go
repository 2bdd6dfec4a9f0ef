package ownerref

import (
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// Claims is Classify's answer, each list in the input's order.
type Claims[T metav1.Object] struct {
	// Owned are controlled by the owner and match its selector.
	Owned []T
	// Adopt are orphans that match the selector: the owner should add
	// itself as their controller.
	Adopt []T
	// Release are controlled by the owner but no longer match: the owner
	// should remove its reference.
	Release []T
}

// Classify sorts objs by their relation to owner, whose label selector is
// sel. An owner being deleted adopts nothing and releases nothing (its
// dependents go with it). Objects being deleted are never adopted.
func Classify[T metav1.Object](owner metav1.Object, sel labels.Selector, objs []T) Claims[T] {
	return ClassifyWith(owner, sel, objs, Rules{})
}

// Rules are where owners differ in how they claim; the zero Rules are
// Classify's (ReplicaSet, Deployment).
type Rules struct {
	// KeepTerminating: an object being deleted stays Owned even when it no
	// longer matches, instead of being released (DaemonSet, StatefulSet:
	// the pod still holds its node or its ordinal until it is gone).
	KeepTerminating bool
	// ReleaseWhileOwnerDeleting: an owner being deleted still releases
	// the objects that no longer match (DaemonSet, StatefulSet), so they
	// outlive it; by default it keeps them out of every list.
	ReleaseWhileOwnerDeleting bool
}

// ClassifyWith is Classify under rules r. Whatever r says, objects another
// owner controls are left alone, and only matching orphans that are not
// being deleted are adopted, by an owner that is not being deleted.
func ClassifyWith[T metav1.Object](owner metav1.Object, sel labels.Selector, objs []T, r Rules) Claims[T] {
	var c Claims[T]
	ownerDeleting := owner.GetDeletionTimestamp() != nil
	for _, o := range objs {
		matches := sel.Matches(labels.Set(o.GetLabels()))
		deleting := o.GetDeletionTimestamp() != nil
		ref := metav1.GetControllerOfNoCopy(o)
		switch {
		case ref != nil && ref.UID == owner.GetUID():
			switch {
			case matches || (r.KeepTerminating && deleting):
				c.Owned = append(c.Owned, o)
			case !ownerDeleting || r.ReleaseWhileOwnerDeleting:
				c.Release = append(c.Release, o)
			}
		case ref != nil:
			// another controller's
		case matches && !ownerDeleting && !deleting:
			c.Adopt = append(c.Adopt, o)
		}
	}
	return c
}

// ControllerRef is the reference an owner of kind gvk puts on what it
// controls: controller=true and blockOwnerDeletion=true (so a foreground
// deletion of the owner waits for them).
func ControllerRef(owner metav1.Object, gvk schema.GroupVersionKind) metav1.OwnerReference {
	t := true
	return metav1.OwnerReference{
		APIVersion:         gvk.GroupVersion().String(),
		Kind:               gvk.Kind,
		Name:               owner.GetName(),
		UID:                owner.GetUID(),
		Controller:         &t,
		BlockOwnerDeletion: &t,
	}
}

// IsControlledBy reports whether o's controller reference names uid.
func IsControlledBy(o metav1.Object, uid types.UID) bool {
	ref := metav1.GetControllerOfNoCopy(o)
	return ref != nil && ref.UID == uid
}

// AdoptPatch is a strategic merge patch that adds ref to the object whose
// UID is uid (ownerReferences merge by UID, so other owners stay).
func AdoptPatch(ref metav1.OwnerReference, uid types.UID) ([]byte, error) {
	p := map[string]any{"metadata": map[string]any{
		"ownerReferences": []metav1.OwnerReference{ref},
		"uid":             uid,
	}}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("ownerref: adopt patch: %w", err)
	}
	return b, nil
}

// ReleasePatch is a strategic merge patch that removes owner's reference
// from the object whose UID is uid.
func ReleasePatch(owner, uid types.UID) ([]byte, error) {
	p := map[string]any{"metadata": map[string]any{
		"ownerReferences": []map[string]any{{"$patch": "delete", "uid": owner}},
		"uid":             uid,
	}}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("ownerref: release patch: %w", err)
	}
	return b, nil
}
