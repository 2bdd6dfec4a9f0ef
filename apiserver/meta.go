package apiserver

import (
	"crypto/rand"
	"reflect"
	"time"

	"github.com/kelson-dev/kelson/apiserver/kinds"
	"k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// This file holds the generic parts of writes that every kind shares:
// server-owned metadata, status/spec separation, generation, and
// metadata validation. Kind-specific parts come from kinds.Kind.

// nameSuffix returns generateName's random suffix: 5 characters of
// Kubernetes' alphabet (no vowels, no confusable digits).
func nameSuffix() string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, 5)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// prepareCreate sets what the server owns on a new object and applies the
// kind's defaults. now is the creation time.
func prepareCreate(k *kinds.Kind, obj runtime.Object, now time.Time) {
	if k.Normalize != nil {
		k.Normalize(obj)
	}
	m := metaOf(obj)
	if m.GetName() == "" && m.GetGenerateName() != "" {
		m.SetName(m.GetGenerateName() + nameSuffix())
	}
	m.SetUID(types.UID(uuid.NewUUID()))
	m.SetCreationTimestamp(metav1.NewTime(now.Truncate(time.Second)))
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
	m.SetResourceVersion("")
	m.SetGeneration(1)
	if !k.Namespaced {
		m.SetNamespace("")
	}
	if k.HasStatus && k.GVK.Kind != "Node" {
		resetField(obj, "Status")
	}
	if k.Default != nil {
		k.Default(obj)
	}
	if k.PrepareForCreate != nil {
		k.PrepareForCreate(obj)
	}
}

// prepareUpdate carries the server-owned metadata of old into obj and
// separates spec from status: a write to the resource keeps the stored
// status, a write to /status keeps the stored spec. The generation goes up
// when the spec changes.
func prepareUpdate(k *kinds.Kind, obj, old runtime.Object, subresource string) {
	if k.Normalize != nil {
		k.Normalize(obj)
	}
	m, om := metaOf(obj), metaOf(old)
	m.SetUID(om.GetUID())
	m.SetCreationTimestamp(om.GetCreationTimestamp())
	m.SetDeletionTimestamp(om.GetDeletionTimestamp())
	m.SetDeletionGracePeriodSeconds(om.GetDeletionGracePeriodSeconds())
	m.SetGeneration(om.GetGeneration())
	switch subresource {
	case "status":
		copyField(obj, old, "Spec")
		m.SetLabels(om.GetLabels())
	case "finalize":
		copyField(obj, old, "Status")
	case "":
		if k.HasStatus {
			copyField(obj, old, "Status")
		}
		if k.Default != nil {
			k.Default(obj)
		}
		if k.PrepareForUpdate != nil {
			k.PrepareForUpdate(obj, old)
		}
		part := "Spec"
		if k.Custom != nil && !k.HasStatus {
			part = "All" // without a status subresource, status is content too
		}
		if changed(obj, old, part) {
			m.SetGeneration(om.GetGeneration() + 1)
		}
	}
	if m.GetGeneration() == 0 {
		m.SetGeneration(1)
	}
}

// validateCreate runs metadata validation and the kind's.
func validateCreate(k *kinds.Kind, obj runtime.Object) field.ErrorList {
	nameFn := apivalidation.ValidateNameFunc(apivalidation.NameIsDNSSubdomain)
	if k.ValidateName != nil {
		nameFn = k.ValidateName
	}
	errs := apivalidation.ValidateObjectMetaAccessor(metaOf(obj), k.Namespaced, nameFn, field.NewPath("metadata"))
	if k.Validate != nil {
		errs = append(errs, k.Validate(obj)...)
	}
	return errs
}

// validateUpdate runs update validation of metadata and the kind's.
// subresource "binding" skips the kind's update rules: the server itself
// sets a pod's spec.nodeName there, which a pod update may not change.
func validateUpdate(k *kinds.Kind, obj, old runtime.Object, subresource string) field.ErrorList {
	errs := apivalidation.ValidateObjectMetaAccessorUpdate(metaOf(obj), metaOf(old), field.NewPath("metadata"))
	nameFn := apivalidation.ValidateNameFunc(apivalidation.NameIsDNSSubdomain)
	if k.ValidateName != nil {
		nameFn = k.ValidateName
	}
	errs = append(errs, apivalidation.ValidateObjectMetaAccessor(metaOf(obj), k.Namespaced, nameFn, field.NewPath("metadata"))...)
	if k.Validate != nil {
		errs = append(errs, k.Validate(obj)...)
	}
	if k.ValidateUpdate != nil && subresource != "binding" {
		errs = append(errs, k.ValidateUpdate(obj, old)...)
	}
	return errs
}

// structField returns the named field of the struct obj points to.
func structField(obj runtime.Object, name string) (reflect.Value, bool) {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, false
	}
	f := v.Elem().FieldByName(name)
	return f, f.IsValid() && f.CanSet()
}

// Custom resources (unstructured) have the same two parts by key:
// "Status" is the "status" key, "Spec" everything but metadata and status
// (kube-apiserver bumps a custom resource's generation on any change
// outside metadata and status).

func resetField(obj runtime.Object, name string) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		if name == "Status" {
			delete(u.Object, "status")
		}
		return
	}
	if f, ok := structField(obj, name); ok {
		f.Set(reflect.Zero(f.Type()))
	}
}

// copyField sets dst.name to a deep copy of src.name.
func copyField(dst, src runtime.Object, name string) {
	if du, ok := dst.(*unstructured.Unstructured); ok {
		su, ok := src.(*unstructured.Unstructured)
		if !ok {
			return
		}
		for k := range du.Object {
			if specKey(k, name) {
				delete(du.Object, k)
			}
		}
		for k, v := range su.Object {
			if specKey(k, name) {
				du.Object[k] = runtime.DeepCopyJSONValue(v)
			}
		}
		return
	}
	d, ok1 := structField(dst, name)
	s, ok2 := structField(src.DeepCopyObject(), name)
	if ok1 && ok2 {
		d.Set(s)
	}
}

// changed reports whether field name differs between a and b; kinds
// without the field never change it.
func changed(a, b runtime.Object, name string) bool {
	if ua, ok := a.(*unstructured.Unstructured); ok {
		ub, ok := b.(*unstructured.Unstructured)
		if !ok {
			return false
		}
		pick := func(m map[string]interface{}) map[string]interface{} {
			out := map[string]interface{}{}
			for k, v := range m {
				if specKey(k, name) {
					out[k] = v
				}
			}
			return out
		}
		return !equality.Semantic.DeepEqual(pick(ua.Object), pick(ub.Object))
	}
	fa, ok1 := structField(a, name)
	fb, ok2 := structField(b, name)
	return ok1 && ok2 && !equality.Semantic.DeepEqual(fa.Interface(), fb.Interface())
}

// specKey reports whether key k of a custom resource belongs to the part
// called name: "Status" is status, "Spec" all but metadata, status,
// apiVersion and kind, "All" all but metadata, apiVersion and kind.
func specKey(k, name string) bool {
	switch name {
	case "Status":
		return k == "status"
	case "All":
		return k != "metadata" && k != "apiVersion" && k != "kind"
	}
	return k != "metadata" && k != "status" && k != "apiVersion" && k != "kind"
}

// fieldInvalid is a one-error list for a bad value at a dotted path.
func fieldInvalid(path string, value any, detail string) field.ErrorList {
	return field.ErrorList{field.Invalid(field.NewPath(path), value, detail)}
}
