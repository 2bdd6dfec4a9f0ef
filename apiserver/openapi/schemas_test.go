package openapi

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/managedfields"
)

// TestSchemasMakeATypeConverter checks that Schemas is what server-side
// apply's type converter takes: it indexes kinds by the GVK extension.
func TestSchemasMakeATypeConverter(t *testing.T) {
	schemas, err := Schemas()
	if err != nil {
		t.Fatal(err)
	}
	if len(schemas) < len(Definitions()) {
		t.Errorf("%d schemas for %d definitions", len(schemas), len(Definitions()))
	}
	tc, err := managedfields.NewTypeConverter(schemas, false)
	if err != nil {
		t.Fatal(err)
	}
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
	}
	d.Spec.Strategy.Type = appsv1.RollingUpdateDeploymentStrategyType
	if _, err := tc.ObjectToTyped(d); err != nil {
		t.Errorf("ObjectToTyped(Deployment): %v", err)
	}
}
