package kinds

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	openapierrors "k8s.io/kube-openapi/pkg/validation/errors"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
)

// CustomSchema is one CRD version's structural schema, ready to prune,
// default and validate objects (as maps, the content of an Unstructured).
// Immutable once made; safe for concurrent use.
type CustomSchema struct {
	props     *apiextensionsv1.JSONSchemaProps
	validator *validate.SchemaValidator
}

// NewCustomSchema prepares props (which it keeps: the caller must not
// change it afterwards). The validator is kube-openapi's, over the schema
// without its root metadata property (the API server validates metadata
// itself, as kube-apiserver does).
func NewCustomSchema(props *apiextensionsv1.JSONSchemaProps) (*CustomSchema, error) {
	cp := props.DeepCopy()
	delete(cp.Properties, "metadata")
	b, err := json.Marshal(cp)
	if err != nil {
		return nil, err
	}
	var s spec.Schema
	if err := s.UnmarshalJSON(b); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	return &CustomSchema{props: props, validator: validate.NewSchemaValidator(&s, nil, "", strfmt.Default)}, nil
}

// Normalize prunes the fields the schema does not declare (apiVersion,
// kind and metadata are kept at the root) and applies its defaults, as
// kube-apiserver does for structural schemas: pruning first, then defaults
// on every object where the field is missing.
func (c *CustomSchema) Normalize(obj map[string]interface{}) {
	prune(obj, c.props, true, "", nil)
	applyDefaults(obj, c.props)
}

func preserves(s *apiextensionsv1.JSONSchemaProps) bool {
	return s.XPreserveUnknownFields != nil && *s.XPreserveUnknownFields
}

// objectMetaFields are the fields of ObjectMeta: a custom resource's
// metadata is pruned to them, as kube-apiserver does.
var objectMetaFields = map[string]bool{"name": true, "generateName": true, "namespace": true, "selfLink": true,
	"uid": true, "resourceVersion": true, "generation": true, "creationTimestamp": true, "deletionTimestamp": true,
	"deletionGracePeriodSeconds": true, "labels": true, "annotations": true, "ownerReferences": true,
	"finalizers": true, "managedFields": true}

// prune drops the fields of v that s does not declare; unknown, if not
// nil, collects their paths ("spec.bogus").
func prune(v interface{}, s *apiextensionsv1.JSONSchemaProps, root bool, path string, unknown *[]string) {
	if s == nil {
		return
	}
	drop := func(m map[string]interface{}, k, p string) {
		if unknown != nil {
			*unknown = append(*unknown, p)
		}
		delete(m, k)
	}
	switch x := v.(type) {
	case map[string]interface{}:
		for k, val := range x {
			p := k
			if path != "" {
				p = path + "." + k
			}
			if root && (k == "apiVersion" || k == "kind") {
				continue
			}
			if root && k == "metadata" {
				if md, ok := val.(map[string]interface{}); ok {
					for mk := range md {
						if !objectMetaFields[mk] {
							drop(md, mk, "metadata."+mk)
						}
					}
				}
				continue
			}
			if p, ok := s.Properties[k]; ok {
				prune(val, &p, false, pathJoin(path, k), unknown)
				continue
			}
			if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
				prune(val, s.AdditionalProperties.Schema, false, pathJoin(path, k), unknown)
				continue
			}
			if preserves(s) || (s.AdditionalProperties != nil && s.AdditionalProperties.Allows) {
				continue
			}
			drop(x, k, p)
		}
	case []interface{}:
		if s.Items != nil && s.Items.Schema != nil {
			for i, it := range x {
				prune(it, s.Items.Schema, false, fmt.Sprintf("%s[%d]", path, i), unknown)
			}
		}
	}
}

func pathJoin(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// Unknown returns the paths of the fields of obj that pruning would drop
// ("spec.bogus"), without changing obj: what fieldValidation=Strict
// refuses and Warn reports.
func (c *CustomSchema) Unknown(obj map[string]interface{}) []string {
	var out []string
	prune(runtime.DeepCopyJSON(obj), c.props, true, "", &out)
	sort.Strings(out)
	return out
}

func applyDefaults(v interface{}, s *apiextensionsv1.JSONSchemaProps) {
	if s == nil {
		return
	}
	switch x := v.(type) {
	case map[string]interface{}:
		for k, p := range s.Properties {
			if _, ok := x[k]; !ok && p.Default != nil {
				var d interface{}
				if err := json.Unmarshal(p.Default.Raw, &d); err == nil {
					x[k] = runtime.DeepCopyJSONValue(toInt64(d))
				}
			}
			if val, ok := x[k]; ok {
				applyDefaults(val, &p)
			}
		}
		if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
			for k, val := range x {
				if _, declared := s.Properties[k]; !declared {
					applyDefaults(val, s.AdditionalProperties.Schema)
				}
			}
		}
	case []interface{}:
		if s.Items != nil && s.Items.Schema != nil {
			for _, it := range x {
				applyDefaults(it, s.Items.Schema)
			}
		}
	}
}

// toInt64 turns whole float64 numbers of decoded JSON into int64, as
// unstructured objects hold integers.
func toInt64(v interface{}) interface{} {
	switch x := v.(type) {
	case float64:
		if x == float64(int64(x)) {
			return int64(x)
		}
	case map[string]interface{}:
		for k, e := range x {
			x[k] = toInt64(e)
		}
	case []interface{}:
		for i, e := range x {
			x[i] = toInt64(e)
		}
	}
	return v
}

// Validate checks obj against the schema, with kube-apiserver's field
// errors ("spec.replicas: Invalid value: "string": spec.replicas in body
// must be of type integer: "string"").
func (c *CustomSchema) Validate(obj map[string]interface{}) field.ErrorList {
	doc := make(map[string]interface{}, len(obj))
	for k, v := range obj {
		if k != "metadata" {
			doc[k] = v
		}
	}
	res := c.validator.Validate(doc)
	var errs field.ErrorList
	for _, e := range res.Errors {
		ve, ok := e.(*openapierrors.Validation)
		if !ok {
			errs = append(errs, field.Invalid(nil, "", e.Error()))
			continue
		}
		var p *field.Path
		if name := strings.TrimPrefix(ve.Name, "."); name != "" {
			p = field.NewPath(name)
		}
		value := ve.Value
		if value == nil {
			value = ""
		}
		switch ve.Code() {
		case openapierrors.RequiredFailCode:
			errs = append(errs, field.Required(p, ""))
		case openapierrors.EnumFailCode:
			var allowed []string
			for _, a := range ve.Values {
				if s, ok := a.(string); ok {
					allowed = append(allowed, s)
				} else {
					b, _ := json.Marshal(a)
					allowed = append(allowed, string(b))
				}
			}
			errs = append(errs, field.NotSupported(p, ve.Value, allowed))
		case openapierrors.TooLongFailCode:
			max := int64(-1)
			if i, ok := ve.Valid.(int64); ok {
				max = i
			}
			errs = append(errs, field.TooLong(p, value, int(max)))
		case openapierrors.MaxItemsFailCode:
			actual, max := int64(-1), int64(-1)
			if i, ok := ve.Value.(int64); ok {
				actual = i
			}
			if i, ok := ve.Valid.(int64); ok {
				max = i
			}
			errs = append(errs, field.TooMany(p, int(actual), int(max)))
		case openapierrors.InvalidTypeCode:
			errs = append(errs, field.TypeInvalid(p, value, ve.Error()))
		default:
			errs = append(errs, field.Invalid(p, value, ve.Error()))
		}
	}
	return errs
}
