package kinds

import (
	"encoding/json"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/util/yaml"
)

// kindByName finds a kind of All by its Kind name.
func kindByName(t *testing.T, name string) *Kind {
	t.Helper()
	for _, k := range All() {
		if k.GVK.Kind == name {
			return k
		}
	}
	t.Fatalf("no kind %q", name)
	return nil
}

// decode reads a YAML manifest into a new object of its kind.
func decode(t *testing.T, k *Kind, manifest string) runtime.Object {
	t.Helper()
	js, err := yaml.ToJSON([]byte(manifest))
	if err != nil {
		t.Fatal(err)
	}
	o := k.New()
	if err := json.Unmarshal(js, o); err != nil {
		t.Fatal(err)
	}
	return o
}

// toJSONMap renders an object as a generic map (for comparing with the
// JSON kube-apiserver would return).
func toJSONMap(t *testing.T, v interface{}) map[string]interface{} {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]interface{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func errStrings(errs field.ErrorList) []string {
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

func TestAllKindsWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range All() {
		gr := k.GVR().GroupResource().String()
		if seen[gr] {
			t.Errorf("duplicate resource %s", gr)
		}
		seen[gr] = true
		if k.New == nil || k.NewList == nil {
			t.Errorf("%s: New/NewList unset", k.Resource)
		}
		if k.Cells == nil || len(k.Columns) == 0 {
			t.Errorf("%s: no table", k.Resource)
			continue
		}
		o := k.New()
		if k.Default != nil {
			k.Default(o)
		}
		if k.PrepareForCreate != nil {
			k.PrepareForCreate(o)
		}
		if cells := k.Cells(o); len(cells) != len(k.Columns) {
			t.Errorf("%s: %d cells for %d columns", k.Resource, len(cells), len(k.Columns))
		}
		if k.Validate != nil {
			_ = k.Validate(o) // must not panic on an empty object
		}
		if k.ValidateUpdate != nil {
			_ = k.ValidateUpdate(o, k.New())
		}
		if k.Fields != nil {
			_ = k.Fields(o)
		}
		if k.Scale != nil {
			k.Scale.SetSpecReplicas(o, 3)
			if got := k.Scale.SpecReplicas(o); got != 3 {
				t.Errorf("%s: scale to 3 reads %d", k.Resource, got)
			}
			_ = k.Scale.Selector(o)
		}
		if k.Columns[0].Name == "Name" && k.Columns[0].Format != "name" {
			t.Errorf("%s: Name column without format name", k.Resource)
		}
	}
}

func decodeInto(t *testing.T, manifest string, into interface{}) {
	t.Helper()
	js, err := yaml.ToJSON([]byte(manifest))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, into); err != nil {
		t.Fatal(err)
	}
}
