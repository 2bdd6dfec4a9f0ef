package kinds

import (
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

const testCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}, scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}}
    additionalPrinterColumns:
    - {name: Size, type: string, jsonPath: .spec.size}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: string, enum: [small, large]}
              replicas: {type: integer, minimum: 0, default: 1}
              name: {type: string, pattern: '^[a-z]+$', maxLength: 5}
              ports:
                type: array
                items:
                  type: object
                  properties:
                    port: {type: integer, default: 80}
              free: {type: object, x-kubernetes-preserve-unknown-fields: true}
          status: {type: object, properties: {replicas: {type: integer}}}
`

func loadCRD(t *testing.T) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict([]byte(testCRD), &crd); err != nil {
		t.Fatal(err)
	}
	crdKind().Default(&crd)
	return &crd
}

func TestCRDDefaultsAndValidation(t *testing.T) {
	crd := loadCRD(t)
	if crd.Spec.Names.ListKind != "WidgetList" || crd.Spec.Names.Singular != "widget" || crd.Spec.Conversion.Strategy != apiextensionsv1.NoneConverter {
		t.Fatalf("defaults: %+v %+v", crd.Spec.Names, crd.Spec.Conversion)
	}
	if errs := ValidateCRD(crd); len(errs) > 0 {
		t.Fatalf("valid CRD: %v", errs)
	}
	for _, tc := range []struct {
		name   string
		change func(*apiextensionsv1.CustomResourceDefinition)
		want   string
	}{
		{"name", func(c *apiextensionsv1.CustomResourceDefinition) { c.Name = "x.example.com" },
			`metadata.name: Invalid value: "x.example.com": must be spec.names.plural+"."+spec.group`},
		{"group", func(c *apiextensionsv1.CustomResourceDefinition) {
			c.Spec.Group = "example"
			c.Name = "widgets.example"
		},
			`spec.group: Invalid value: "example": should be a domain with at least one dot`},
		{"scope", func(c *apiextensionsv1.CustomResourceDefinition) { c.Spec.Scope = "Galaxy" },
			`spec.scope: Unsupported value: "Galaxy"`},
		{"kind", func(c *apiextensionsv1.CustomResourceDefinition) { c.Spec.Names.Kind = "" },
			`spec.names.kind: Required value`},
		{"no storage", func(c *apiextensionsv1.CustomResourceDefinition) { c.Spec.Versions[0].Storage = false },
			`must have exactly one version marked as storage version`},
		{"no schema", func(c *apiextensionsv1.CustomResourceDefinition) { c.Spec.Versions[0].Schema = nil },
			`spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required`},
		{"root type", func(c *apiextensionsv1.CustomResourceDefinition) { c.Spec.Versions[0].Schema.OpenAPIV3Schema.Type = "" },
			`spec.versions[0].schema.openAPIV3Schema.type: Required value: must not be empty at the root`},
		{"untyped field", func(c *apiextensionsv1.CustomResourceDefinition) {
			c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["size"] = apiextensionsv1.JSONSchemaProps{}
		}, `spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[size].type: Required value: must not be empty for specified object fields`},
		{"column type", func(c *apiextensionsv1.CustomResourceDefinition) {
			c.Spec.Versions[0].AdditionalPrinterColumns[0].Type = "color"
		},
			`spec.versions[0].additionalPrinterColumns[0].type: Unsupported value: "color"`},
		{"scale path", func(c *apiextensionsv1.CustomResourceDefinition) {
			c.Spec.Versions[0].Subresources.Scale.SpecReplicasPath = ".status.x"
		}, `spec.versions[0].subresources.scale.specReplicasPath: Invalid value: ".status.x": should be a json path under .spec`},
	} {
		c := crd.DeepCopy()
		tc.change(c)
		errs := ValidateCRD(c)
		if !strings.Contains(errs.ToAggregate().Error(), tc.want) {
			t.Errorf("%s: want %q, got %v", tc.name, tc.want, errs)
		}
	}
}

func customObject(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	var m map[string]interface{}
	if err := yaml.Unmarshal([]byte(y), &m); err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	j, _ := u.MarshalJSON()
	out := &unstructured.Unstructured{}
	if err := out.UnmarshalJSON(j); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCustomKind(t *testing.T) {
	ks, err := CustomKinds(loadCRD(t))
	if err != nil || len(ks) != 1 {
		t.Fatalf("kinds: %v %d", err, len(ks))
	}
	k := ks[0]
	if k.GVK.String() != "example.com/v1, Kind=Widget" || !k.Namespaced || !k.HasStatus || k.Scale == nil ||
		k.StoragePrefix != "example.com/widgets" || k.Custom.StorageVersion != "v1" {
		t.Fatalf("kind: %+v", k)
	}
	obj := customObject(t, `
apiVersion: example.com/v1
kind: Widget
metadata: {name: w, extra: x}
spec:
  size: small
  bogus: 1
  ports: [{port: 8080, junk: true}, {}]
  free: {a: {b: c}}
top: level
`)
	if got := k.Custom.Unknown(obj); strings.Join(got, ",") != "metadata.extra,spec.bogus,spec.ports[0].junk,top" {
		t.Fatalf("unknown: %v", got)
	}
	k.Normalize(obj)
	want := customObject(t, `
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
spec:
  size: small
  replicas: 1
  ports: [{port: 8080}, {port: 80}]
  free: {a: {b: c}}
`)
	if !equalJSON(obj, want) {
		t.Fatalf("normalized:\n%v\nwant\n%v", obj.Object, want.Object)
	}
	if errs := k.Validate(obj); len(errs) > 0 {
		t.Fatalf("valid object: %v", errs)
	}
	bad := customObject(t, `{apiVersion: example.com/v1, kind: Widget, metadata: {name: w}, spec: {size: huge, replicas: "3", name: "ABCDEFG"}}`)
	got := k.Validate(bad).ToAggregate().Error()
	for _, w := range []string{
		`spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"`,
		`spec.size: Unsupported value: "huge": supported values: "small", "large"`,
		`spec.name: Too long: may not be more than 5 bytes`,
	} {
		if !strings.Contains(got, w) {
			t.Errorf("want %q in %s", w, got)
		}
	}
	if errs := k.Validate(customObject(t, `{apiVersion: example.com/v1, kind: Widget, metadata: {name: w}, spec: {replicas: -1}}`)); !strings.Contains(errs.ToAggregate().Error(), "spec.size: Required value") ||
		!strings.Contains(errs.ToAggregate().Error(), "spec.replicas in body should be greater than or equal to 0") {
		t.Errorf("required and minimum: %v", errs)
	}

	// Printer columns and scale.
	obj.SetCreationTimestamp(metav1.Now())
	cells := k.Cells(obj)
	if len(k.Columns) != 3 || len(cells) != 3 || cells[0] != "w" || cells[1] != "small" || cells[2] != "0s" {
		t.Fatalf("cells: %v of %v", cells, k.Columns)
	}
	if k.Scale.SpecReplicas(obj) != 1 {
		t.Fatalf("scale: %d", k.Scale.SpecReplicas(obj))
	}
	k.Scale.SetSpecReplicas(obj, 4)
	if r, _, _ := unstructured.NestedInt64(obj.Object, "spec", "replicas"); r != 4 {
		t.Fatalf("set scale: %v", obj.Object["spec"])
	}
}

func equalJSON(a, b *unstructured.Unstructured) bool {
	ja, _ := a.MarshalJSON()
	jb, _ := b.MarshalJSON()
	var x, y interface{}
	_ = yaml.Unmarshal(ja, &x)
	_ = yaml.Unmarshal(jb, &y)
	return yamlEqual(x, y)
}

func yamlEqual(x, y interface{}) bool {
	a, _ := yaml.Marshal(x)
	b, _ := yaml.Marshal(y)
	return string(a) == string(b)
}
