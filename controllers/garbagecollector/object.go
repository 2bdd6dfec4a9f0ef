package garbagecollector

import (
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// The finalizers the API server adds on a DELETE with a propagation policy;
// the collector removes them once it has handled the dependents.
const (
	finalizerOrphan     = metav1.FinalizerOrphanDependents // "orphan"
	finalizerForeground = metav1.FinalizerDeleteDependents // "foregroundDeletion"
)

// Identity names one object: what an ownerReference names (apiVersion,
// kind, name, uid) plus the namespace it lives in ("" when cluster-scoped).
type Identity struct {
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
	UID        types.UID
}

// Group is the API group of the identity's apiVersion ("" for core).
func (id Identity) Group() string {
	gv, err := schema.ParseGroupVersion(id.APIVersion)
	if err != nil {
		return id.APIVersion
	}
	return gv.Group
}

func (id Identity) String() string {
	if id.Namespace == "" {
		return fmt.Sprintf("%s/%s %s (%s)", id.APIVersion, id.Kind, id.Name, id.UID)
	}
	return fmt.Sprintf("%s/%s %s/%s (%s)", id.APIVersion, id.Kind, id.Namespace, id.Name, id.UID)
}

// refIdentity is the identity an ownerReference of a dependent in
// namespace ns claims for its owner. The namespace is the dependent's: the
// only place a namespaced owner may be (a cluster-scoped owner's identity
// is matched without it, see refMatches).
func refIdentity(ref metav1.OwnerReference, ns string) Identity {
	return Identity{APIVersion: ref.APIVersion, Kind: ref.Kind, Namespace: ns, Name: ref.Name, UID: ref.UID}
}

// refMatches reports whether ref, held by a dependent in namespace depNS,
// names the observed object owner: same UID, name, API group and kind, and
// an owner that is cluster-scoped or in the dependent's namespace. A
// reference that does not match cannot be resolved through the graph (it
// is checked against the API instead).
func refMatches(ref metav1.OwnerReference, depNS string, owner Identity) bool {
	if ref.UID != owner.UID || ref.Name != owner.Name || ref.Kind != owner.Kind {
		return false
	}
	if refIdentity(ref, "").Group() != owner.Group() {
		return false
	}
	return owner.Namespace == "" || owner.Namespace == depNS
}

// Object is the collector's view of one observed object: what the graph
// and the decisions read of its metadata.
type Object struct {
	Identity
	// Resource is where the object is served (its monitor's resource).
	Resource schema.GroupVersionResource
	// ResourceVersion is the version observed; writes decided from it are
	// made conditional on it.
	ResourceVersion string
	Owners          []metav1.OwnerReference
	Finalizers      []string
	// Deleting: the object has a deletionTimestamp.
	Deleting bool
}

// deletingDependents: the object is being deleted in the foreground and
// waits for the collector to delete its dependents.
func (o *Object) deletingDependents() bool {
	return o.Deleting && slices.Contains(o.Finalizers, finalizerForeground)
}

// orphaning: the object is being deleted and waits for the collector to
// orphan its dependents.
func (o *Object) orphaning() bool {
	return o.Deleting && slices.Contains(o.Finalizers, finalizerOrphan)
}

// objectFrom is the Object of metadata read from resource res (whose
// objects are apiVersion/kind id).
func objectFrom(m *metav1.PartialObjectMetadata, res schema.GroupVersionResource, kind string) Object {
	return Object{
		Identity: Identity{
			APIVersion: res.GroupVersion().String(),
			Kind:       kind,
			Namespace:  m.Namespace,
			Name:       m.Name,
			UID:        m.UID,
		},
		Resource:        res,
		ResourceVersion: m.ResourceVersion,
		Owners:          m.OwnerReferences,
		Finalizers:      m.Finalizers,
		Deleting:        m.DeletionTimestamp != nil,
	}
}

// slim is the part of an object's metadata the collector keeps in its
// informers' stores: no labels, annotations or managed fields, which can
// be most of an object's metadata.
func slim(m *metav1.PartialObjectMetadata) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{
		TypeMeta: m.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name:              m.Name,
			Namespace:         m.Namespace,
			UID:               m.UID,
			ResourceVersion:   m.ResourceVersion,
			DeletionTimestamp: m.DeletionTimestamp,
			OwnerReferences:   m.OwnerReferences,
			Finalizers:        m.Finalizers,
		},
	}
}
