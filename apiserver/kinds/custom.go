package kinds

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/util/jsonpath"
)

// CustomKinds returns one Kind per served version of crd, for serving its
// custom resources: objects are *unstructured.Unstructured; Normalize
// prunes unknown fields and applies the version schema's defaults;
// Validate checks the schema; the table shows the version's
// additionalPrinterColumns (Name and Age when it has none). crd must have
// passed ValidateCRD. The Kinds are the caller's; they share nothing
// mutable with crd.
func CustomKinds(crd *apiextensionsv1.CustomResourceDefinition) ([]*Kind, error) {
	var storage string
	for _, v := range crd.Spec.Versions {
		if v.Storage {
			storage = v.Name
		}
	}
	var out []*Kind
	for _, v := range crd.Spec.Versions {
		if !v.Served {
			continue
		}
		k, err := customKind(crd, v, storage)
		if err != nil {
			return nil, fmt.Errorf("kinds: %s version %s: %w", crd.Name, v.Name, err)
		}
		out = append(out, k)
	}
	return out, nil
}

func customKind(crd *apiextensionsv1.CustomResourceDefinition, v apiextensionsv1.CustomResourceDefinitionVersion, storage string) (*Kind, error) {
	names := crd.Spec.Names
	gvk := schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: names.Kind}
	listGVK := gvk.GroupVersion().WithKind(names.ListKind)
	k := &Kind{
		GVK:           gvk,
		Resource:      names.Plural,
		Singular:      names.Singular,
		Namespaced:    crd.Spec.Scope == apiextensionsv1.NamespaceScoped,
		ShortNames:    append([]string(nil), names.ShortNames...),
		Categories:    append([]string(nil), names.Categories...),
		StoragePrefix: crd.Spec.Group + "/" + names.Plural,
		New: func() runtime.Object {
			u := &unstructured.Unstructured{Object: map[string]interface{}{}}
			u.SetGroupVersionKind(gvk)
			return u
		},
		NewList: func() runtime.Object {
			l := &unstructured.UnstructuredList{Object: map[string]interface{}{}}
			l.SetGroupVersionKind(listGVK)
			return l
		},
		Custom: &Custom{CRD: crd.Name, UID: string(crd.UID), Generation: crd.Generation, StorageVersion: storage,
			Terminating: crd.DeletionTimestamp != nil},
	}
	if v.Schema != nil && v.Schema.OpenAPIV3Schema != nil {
		k.Custom.Schema = v.Schema.OpenAPIV3Schema.DeepCopy()
		sch, err := NewCustomSchema(v.Schema.OpenAPIV3Schema)
		if err != nil {
			return nil, err
		}
		k.Normalize = func(o runtime.Object) { sch.Normalize(o.(*unstructured.Unstructured).Object) }
		k.Validate = func(o runtime.Object) field.ErrorList { return sch.Validate(o.(*unstructured.Unstructured).Object) }
		k.Custom.Unknown = func(o runtime.Object) []string { return sch.Unknown(o.(*unstructured.Unstructured).Object) }
	}
	if sub := v.Subresources; sub != nil {
		k.HasStatus = sub.Status != nil
		if sc := sub.Scale; sc != nil {
			k.Scale = customScale(sc)
		}
	}
	if len(v.AdditionalPrinterColumns) > 0 {
		cols, cells, err := printerColumns(v.AdditionalPrinterColumns)
		if err != nil {
			return nil, err
		}
		k.Columns, k.Cells = cols, cells
	}
	return k, nil
}

// path splits a CRD's JSON path (".spec.replicas") into fields.
func path(p string) []string { return strings.Split(strings.TrimPrefix(p, "."), ".") }

func customScale(sc *apiextensionsv1.CustomResourceSubresourceScale) *Scale {
	spec, status := path(sc.SpecReplicasPath), path(sc.StatusReplicasPath)
	var selector []string
	if sc.LabelSelectorPath != nil {
		selector = path(*sc.LabelSelectorPath)
	}
	get := func(o runtime.Object, p []string) int32 {
		n, _, _ := unstructured.NestedInt64(o.(*unstructured.Unstructured).Object, p...)
		return int32(n)
	}
	return &Scale{
		SpecReplicas:   func(o runtime.Object) int32 { return get(o, spec) },
		StatusReplicas: func(o runtime.Object) int32 { return get(o, status) },
		SetSpecReplicas: func(o runtime.Object, n int32) {
			_ = unstructured.SetNestedField(o.(*unstructured.Unstructured).Object, int64(n), spec...)
		},
		Selector: func(o runtime.Object) string {
			if selector == nil {
				return ""
			}
			s, _, _ := unstructured.NestedString(o.(*unstructured.Unstructured).Object, selector...)
			return s
		},
	}
}

// columnPath parses a printer column's JSONPath as kube-apiserver does
// (wrapped in braces, missing keys allowed).
func columnPath(p string) (*jsonpath.JSONPath, error) {
	jp := jsonpath.New("column").AllowMissingKeys(true)
	if err := jp.Parse(fmt.Sprintf("{%s}", p)); err != nil {
		return nil, err
	}
	return jp, nil
}

func printerColumns(cols []apiextensionsv1.CustomResourceColumnDefinition) ([]metav1.TableColumnDefinition, func(runtime.Object) []interface{}, error) {
	defs := []metav1.TableColumnDefinition{{Name: "Name", Type: "string", Format: "name", Description: "Name must be unique within a namespace."}}
	var paths []*jsonpath.JSONPath
	for _, c := range cols {
		jp, err := columnPath(c.JSONPath)
		if err != nil {
			return nil, nil, fmt.Errorf("printer column %s: %w", c.Name, err)
		}
		paths = append(paths, jp)
		defs = append(defs, metav1.TableColumnDefinition{Name: c.Name, Type: c.Type, Format: c.Format, Description: c.Description, Priority: c.Priority})
	}
	cells := func(o runtime.Object) []interface{} {
		u := o.(*unstructured.Unstructured)
		row := []interface{}{u.GetName()}
		for i, jp := range paths {
			row = append(row, columnCell(jp, cols[i].Type, u.Object))
		}
		return row
	}
	return defs, cells, nil
}

// columnCell renders one printer column of an object: nil when the path
// finds nothing, a date column as its age, scalars as they are.
func columnCell(jp *jsonpath.JSONPath, typ string, obj map[string]interface{}) interface{} {
	results, err := jp.FindResults(obj)
	if err != nil || len(results) == 0 || len(results[0]) == 0 {
		return nil
	}
	if len(results) == 1 && len(results[0]) == 1 {
		v := results[0][0].Interface()
		if typ == "date" {
			if s, ok := v.(string); ok {
				if t, err := time.Parse(time.RFC3339, s); err == nil {
					return age(metav1.NewTime(t))
				}
			}
			return v
		}
		switch v.(type) {
		case string, int64, float64, bool:
			return v
		}
	}
	var buf bytes.Buffer
	if err := jp.PrintResults(&buf, results[0]); err != nil {
		return nil
	}
	return buf.String()
}
