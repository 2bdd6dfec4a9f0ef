package controllers

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ResolveControllerRef is the owner a controller reference names, as an
// informer handler finds it: ref must name kind (Kind and APIVersion), get
// (a lister's Get in the dependent's namespace) must find it, and it must
// have ref's UID — a successor of the same name does not own the
// dependent. Otherwise it returns the zero T (nil for pointer types).
func ResolveControllerRef[T metav1.Object](ref *metav1.OwnerReference, kind schema.GroupVersionKind, get func(name string) (T, error)) T {
	var none T
	if ref == nil || ref.Kind != kind.Kind || ref.APIVersion != kind.GroupVersion().String() {
		return none
	}
	o, err := get(ref.Name)
	if err != nil || o.GetUID() != ref.UID {
		return none
	}
	return o
}
