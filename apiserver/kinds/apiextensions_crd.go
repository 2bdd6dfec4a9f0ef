package kinds

import (
	"fmt"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// CRDFinalizer is kube-apiserver's finalizer on every CustomResourceDefinition:
// the API server deletes the CRD's custom resources, then removes it.
const CRDFinalizer = "customresourcecleanup.apiextensions.k8s.io"

var apiextensionsGV = apiextensionsv1.SchemeGroupVersion

func crdKind() *Kind {
	k := base(apiextensionsGV, "CustomResourceDefinition", "customresourcedefinitions", "customresourcedefinition", false,
		obj[apiextensionsv1.CustomResourceDefinition](), obj[apiextensionsv1.CustomResourceDefinitionList]())
	k.StoragePrefix = "apiextensions.k8s.io/customresourcedefinitions"
	k.ShortNames = []string{"crd", "crds"}
	k.Categories = []string{"api-extensions"}
	k.HasStatus = true
	k.Default = func(o runtime.Object) {
		apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(o.(*apiextensionsv1.CustomResourceDefinition))
	}
	k.PrepareForCreate = func(o runtime.Object) {
		crd := o.(*apiextensionsv1.CustomResourceDefinition)
		crd.Finalizers = addFinalizer(crd.Finalizers, CRDFinalizer)
		for _, v := range crd.Spec.Versions {
			if v.Storage {
				crd.Status.StoredVersions = []string{v.Name} // as kube-apiserver's create strategy
			}
		}
	}
	k.Validate = func(o runtime.Object) field.ErrorList {
		return ValidateCRD(o.(*apiextensionsv1.CustomResourceDefinition))
	}
	k.ValidateUpdate = func(o, old runtime.Object) field.ErrorList {
		crd, prev := o.(*apiextensionsv1.CustomResourceDefinition), old.(*apiextensionsv1.CustomResourceDefinition)
		var errs field.ErrorList
		if crd.Spec.Scope != prev.Spec.Scope {
			errs = append(errs, field.Invalid(field.NewPath("spec", "scope"), crd.Spec.Scope, "field is immutable"))
		}
		if crd.Spec.Group != prev.Spec.Group {
			errs = append(errs, field.Invalid(field.NewPath("spec", "group"), crd.Spec.Group, "field is immutable"))
		}
		return errs
	}
	k.Columns = []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name", Description: "Name must be unique within a namespace."},
		{Name: "Created At", Type: "date", Description: "CreationTimestamp is a timestamp representing the server time when this object was created."},
	}
	k.Cells = func(o runtime.Object) []interface{} {
		crd := o.(*apiextensionsv1.CustomResourceDefinition)
		return []interface{}{crd.Name, crd.CreationTimestamp.UTC().Format(time.RFC3339)}
	}
	return k
}

func addFinalizer(list []string, f string) []string {
	for _, x := range list {
		if x == f {
			return list
		}
	}
	return append(list, f)
}

var printerColumnTypes = sets.New("integer", "number", "string", "boolean", "date")

// ValidateCRD checks a CustomResourceDefinition as kube-apiserver does for
// apiextensions.k8s.io/v1, with its field-error messages: the name, the
// group, the names, the scope, the versions (exactly one storage version,
// at least one served), a structural schema per version, the subresources
// and the printer columns.
func ValidateCRD(crd *apiextensionsv1.CustomResourceDefinition) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	s := crd.Spec
	if want := s.Names.Plural + "." + s.Group; crd.Name != want {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), crd.Name, `must be spec.names.plural+"."+spec.group`))
	}
	if s.Group == "" {
		errs = append(errs, field.Required(spec.Child("group"), ""))
	} else {
		for _, msg := range validation.IsDNS1123Subdomain(s.Group) {
			errs = append(errs, field.Invalid(spec.Child("group"), s.Group, msg))
		}
		if len(strings.Split(s.Group, ".")) < 2 {
			errs = append(errs, field.Invalid(spec.Child("group"), s.Group, "should be a domain with at least one dot"))
		}
	}
	switch s.Scope {
	case "":
		errs = append(errs, field.Required(spec.Child("scope"), ""))
	case apiextensionsv1.ClusterScoped, apiextensionsv1.NamespaceScoped:
	default:
		errs = append(errs, field.NotSupported(spec.Child("scope"), s.Scope, []string{string(apiextensionsv1.ClusterScoped), string(apiextensionsv1.NamespaceScoped)}))
	}
	errs = append(errs, validateNames(s.Names, spec.Child("names"))...)
	if c := s.Conversion; c != nil && c.Strategy != apiextensionsv1.NoneConverter {
		errs = append(errs, field.NotSupported(spec.Child("conversion", "strategy"), c.Strategy, []string{string(apiextensionsv1.NoneConverter)}))
	}
	errs = append(errs, validateVersions(s, spec.Child("versions"))...)
	return errs
}

func validateNames(n apiextensionsv1.CustomResourceDefinitionNames, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	label := func(name, value string, required bool) {
		if value == "" {
			if required {
				errs = append(errs, field.Required(p.Child(name), ""))
			}
			return
		}
		for _, msg := range validation.IsDNS1035Label(value) {
			errs = append(errs, field.Invalid(p.Child(name), value, msg))
		}
	}
	label("plural", n.Plural, true)
	label("singular", n.Singular, false)
	for i, sn := range n.ShortNames {
		for _, msg := range validation.IsDNS1035Label(sn) {
			errs = append(errs, field.Invalid(p.Child("shortNames").Index(i), sn, msg))
		}
	}
	kind := func(name, value string) {
		if value == "" {
			errs = append(errs, field.Required(p.Child(name), ""))
			return
		}
		for _, msg := range validation.IsDNS1035Label(strings.ToLower(value)) {
			errs = append(errs, field.Invalid(p.Child(name), value, msg))
		}
	}
	kind("kind", n.Kind)
	kind("listKind", n.ListKind)
	if n.Kind != "" && n.Kind == n.ListKind {
		errs = append(errs, field.Invalid(p.Child("listKind"), n.ListKind, "kind and listKind may not be the same"))
	}
	return errs
}

func validateVersions(s apiextensionsv1.CustomResourceDefinitionSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(s.Versions) == 0 {
		return append(errs, field.Invalid(p, s.Versions, "must have exactly one version marked as storage version"))
	}
	storage, served := 0, 0
	seen := sets.New[string]()
	for i, v := range s.Versions {
		vp := p.Index(i)
		if v.Storage {
			storage++
		}
		if v.Served {
			served++
		}
		if seen.Has(v.Name) {
			errs = append(errs, field.Invalid(p, s.Versions, "must contain unique version names"))
		}
		seen.Insert(v.Name)
		for _, msg := range validation.IsDNS1035Label(v.Name) {
			errs = append(errs, field.Invalid(vp.Child("name"), v.Name, msg))
		}
		if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			errs = append(errs, field.Required(vp.Child("schema", "openAPIV3Schema"), "schemas are required"))
		} else {
			errs = append(errs, ValidateStructural(v.Schema.OpenAPIV3Schema, vp.Child("schema", "openAPIV3Schema"))...)
		}
		if sc := v.Subresources; sc != nil && sc.Scale != nil {
			sp := vp.Child("subresources", "scale")
			if !strings.HasPrefix(sc.Scale.SpecReplicasPath, ".spec.") {
				errs = append(errs, field.Invalid(sp.Child("specReplicasPath"), sc.Scale.SpecReplicasPath, "should be a json path under .spec"))
			}
			if !strings.HasPrefix(sc.Scale.StatusReplicasPath, ".status.") {
				errs = append(errs, field.Invalid(sp.Child("statusReplicasPath"), sc.Scale.StatusReplicasPath, "should be a json path under .status"))
			}
			if lp := sc.Scale.LabelSelectorPath; lp != nil && !strings.HasPrefix(*lp, ".spec.") && !strings.HasPrefix(*lp, ".status.") {
				errs = append(errs, field.Invalid(sp.Child("labelSelectorPath"), *lp, "should be a json path under either .spec or .status"))
			}
		}
		for j, c := range v.AdditionalPrinterColumns {
			cp := vp.Child("additionalPrinterColumns").Index(j)
			if c.Name == "" {
				errs = append(errs, field.Required(cp.Child("name"), ""))
			}
			if !printerColumnTypes.Has(c.Type) {
				errs = append(errs, field.NotSupported(cp.Child("type"), c.Type, sets.List(printerColumnTypes)))
			}
			if c.JSONPath == "" {
				errs = append(errs, field.Required(cp.Child("jsonPath"), ""))
			} else if _, err := columnPath(c.JSONPath); err != nil {
				errs = append(errs, field.Invalid(cp.Child("jsonPath"), c.JSONPath, fmt.Sprintf("is an invalid JSONPath expression: %v", err)))
			}
		}
	}
	if storage != 1 {
		errs = append(errs, field.Invalid(p, s.Versions, "must have exactly one version marked as storage version"))
	}
	if served == 0 {
		errs = append(errs, field.Invalid(p, s.Versions, "must have at least one version marked as served"))
	}
	return errs
}

// ValidateStructural checks that a schema is structural, as kube-apiserver
// requires of apiextensions.k8s.io/v1 CRDs: a type on every node (unless
// x-kubernetes-int-or-string or x-kubernetes-preserve-unknown-fields),
// "object" at the root, items on arrays, and no properties beside
// additionalProperties.
func ValidateStructural(s *apiextensionsv1.JSONSchemaProps, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Type == "" {
		errs = append(errs, field.Required(p.Child("type"), "must not be empty at the root"))
	} else if s.Type != "object" {
		errs = append(errs, field.Invalid(p.Child("type"), s.Type, "must be object at the root"))
	}
	return append(errs, structuralNode(s, p, true)...)
}

func structuralNode(s *apiextensionsv1.JSONSchemaProps, p *field.Path, root bool) field.ErrorList {
	var errs field.ErrorList
	if !root && s.Type == "" && !s.XIntOrString && (s.XPreserveUnknownFields == nil || !*s.XPreserveUnknownFields) {
		errs = append(errs, field.Required(p.Child("type"), "must not be empty for specified object fields"))
	}
	switch s.Type {
	case "", "object", "array", "string", "integer", "number", "boolean":
	default:
		errs = append(errs, field.NotSupported(p.Child("type"), s.Type, []string{"array", "boolean", "integer", "number", "object", "string"}))
	}
	if s.Type == "array" && (s.Items == nil || s.Items.Schema == nil) {
		errs = append(errs, field.Required(p.Child("items"), "must be specified"))
	}
	if s.Items != nil && len(s.Items.JSONSchemas) > 0 {
		errs = append(errs, field.Forbidden(p.Child("items"), "items must be a schema object and not an array"))
	}
	if len(s.Properties) > 0 && s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		errs = append(errs, field.Forbidden(p.Child("additionalProperties"), "additionalProperties and properties are mutual exclusive"))
	}
	for name, prop := range s.Properties {
		if root && name == "metadata" {
			continue
		}
		errs = append(errs, structuralNode(&prop, p.Child("properties").Key(name), false)...)
	}
	if s.Items != nil && s.Items.Schema != nil {
		errs = append(errs, structuralNode(s.Items.Schema, p.Child("items"), false)...)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		errs = append(errs, structuralNode(s.AdditionalProperties.Schema, p.Child("additionalProperties"), false)...)
	}
	return errs
}
