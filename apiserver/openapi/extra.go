package openapi

import (
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextopenapi "k8s.io/apiextensions-apiserver/pkg/generated/openapi"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Extra is a resource served beside the built-in ones, with no Go type: a
// custom resource. Schema is its version's OpenAPI v3 schema (a CRD's
// openAPIV3Schema); nil describes any object. The Service does not modify
// it; the caller must not either once handed over.
type Extra struct {
	Resource
	Schema *spec.Schema
}

// extraModel is the definition name of a custom kind, as kube-apiserver
// publishes it: the group reversed, the version, the kind
// ("com.example.v1.Widget").
func extraModel(gvk schema.GroupVersionKind) string {
	labels := strings.Split(gvk.Group, ".")
	for i, j := 0, len(labels)-1; i < j; i, j = i+1, j-1 {
		labels[i], labels[j] = labels[j], labels[i]
	}
	return strings.Join(labels, ".") + "." + gvk.Version + "." + gvk.Kind
}

// apiextensionsScheme registers the apiextensions.k8s.io/v1 types (the
// CustomResourceDefinition kind), which client-go's scheme lacks. Built per
// plan: it is small.
func apiextensionsScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = apiextensionsv1.AddToScheme(s) // registering known types cannot fail
	return s
}

// definitions is the builders' GetDefinitions for a plan: the generated
// definitions (k8s.io/api, apimachinery, apiextensions), then each extra
// kind's schema wrapped as kube-apiserver wraps a CRD's (apiVersion, kind
// and a metadata reference to ObjectMeta added) and its list.
func (p *plan) definitions(ref common.ReferenceCallback) map[string]common.OpenAPIDefinition {
	defs := GetOpenAPIDefinitions(ref)
	if p.withAPIExtensions {
		for k, v := range apiextopenapi.GetOpenAPIDefinitions(ref) {
			if _, ok := defs[k]; !ok {
				defs[k] = v
			}
		}
	}
	const objectMeta, listMeta = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"
	str := func(desc string) spec.Schema {
		return spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"string"}, Description: desc}}
	}
	for _, e := range p.extras {
		var obj spec.Schema
		if e.Schema != nil {
			obj = *deepCopySchema(e.Schema)
		} else {
			obj.Type = []string{"object"}
			obj.AddExtension("x-kubernetes-preserve-unknown-fields", true)
		}
		if obj.Properties == nil {
			obj.Properties = map[string]spec.Schema{}
		}
		obj.Properties["apiVersion"] = str("APIVersion defines the versioned schema of this representation of an object.")
		obj.Properties["kind"] = str("Kind is a string value representing the REST resource this object represents.")
		obj.Properties["metadata"] = spec.Schema{SchemaProps: spec.SchemaProps{Ref: ref(objectMeta),
			Description: "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"}}
		name := extraModel(e.GVK)
		defs[name] = common.OpenAPIDefinition{Schema: obj, Dependencies: []string{objectMeta}}
		list := spec.Schema{SchemaProps: spec.SchemaProps{
			Type:        []string{"object"},
			Description: e.GVK.Kind + "List is a list of " + e.GVK.Kind,
			Required:    []string{"items"},
			Properties: map[string]spec.Schema{
				"apiVersion": str("APIVersion defines the versioned schema of this representation of an object."),
				"kind":       str("Kind is a string value representing the REST resource this object represents."),
				"metadata":   {SchemaProps: spec.SchemaProps{Ref: ref(listMeta)}},
				"items": {SchemaProps: spec.SchemaProps{Type: []string{"array"},
					Items: &spec.SchemaOrArray{Schema: &spec.Schema{SchemaProps: spec.SchemaProps{Ref: ref(name)}}}}},
			},
		}}
		defs[extraModel(e.GVK.GroupVersion().WithKind(listKind(e.Resource)))] = common.OpenAPIDefinition{Schema: list, Dependencies: []string{listMeta, name}}
	}
	return defs
}

func listKind(r Resource) string {
	if r.ListKind != "" {
		return r.ListKind
	}
	return r.GVK.Kind + "List"
}

func deepCopySchema(s *spec.Schema) *spec.Schema {
	b, err := s.MarshalJSON()
	if err != nil {
		return &spec.Schema{}
	}
	var out spec.Schema
	if err := out.UnmarshalJSON(b); err != nil {
		return &spec.Schema{}
	}
	return &out
}
