package openapi

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
)

func TestPublishedName(t *testing.T) {
	for in, want := range map[string]string{
		"k8s.io/api/apps/v1.Deployment":                   "io.k8s.api.apps.v1.Deployment",
		"k8s.io/apimachinery/pkg/apis/meta/v1.ObjectMeta": "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
		"k8s.io/apimachinery/pkg/util/intstr.IntOrString": "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
		"github.com/kelson-dev/kelson/apis/v1.Thing":      "com.github.kelson-dev.kelson.apis.v1.Thing",
		"io.k8s.api.core.v1.Pod":                          "io.k8s.api.core.v1.Pod",
		"string":                                          "string",
	} {
		if got := publishedName(in); got != want {
			t.Errorf("publishedName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGroupNames(t *testing.T) {
	for _, c := range []struct{ group, name, tag, path string }{
		{"", "Core", "core", "api/v1"},
		{"apps", "Apps", "apps", "apis/apps/v1"},
		{"rbac.authorization.k8s.io", "RbacAuthorization", "rbacAuthorization", "apis/rbac.authorization.k8s.io/v1"},
		{"coordination.k8s.io", "Coordination", "coordination", "apis/coordination.k8s.io/v1"},
		{"stable.example.com", "StableExampleCom", "stableExampleCom", "apis/stable.example.com/v1"},
	} {
		if got := groupName(c.group); got != c.name {
			t.Errorf("groupName(%q) = %q, want %q", c.group, got, c.name)
		}
		if got := groupTag(c.group); got != c.tag {
			t.Errorf("groupTag(%q) = %q, want %q", c.group, got, c.tag)
		}
		if got := groupVersionPath(schema.GroupVersion{Group: c.group, Version: "v1"}); got != c.path {
			t.Errorf("groupVersionPath(%q) = %q, want %q", c.group, got, c.path)
		}
	}
}

func TestNamerKinds(t *testing.T) {
	served := map[schema.GroupVersion]bool{{Version: "v1"}: true, {Group: "apps", Version: "v1"}: true}
	n := newNamer(scheme.Scheme, func(gv schema.GroupVersion) bool { return served[gv] })

	name, ext := n.definitionName("io.k8s.api.apps.v1.Deployment")
	want := []interface{}{map[string]interface{}{"group": "apps", "version": "v1", "kind": "Deployment"}}
	if name != "io.k8s.api.apps.v1.Deployment" || !reflect.DeepEqual(ext[gvkExtension], want) {
		t.Errorf("Deployment: %q %v", name, ext)
	}
	// A Go type name maps to the same definition and kinds.
	if name2, ext2 := n.definitionName("k8s.io/api/apps/v1.Deployment"); name2 != name || !reflect.DeepEqual(ext2, ext) {
		t.Errorf("Go name of Deployment: %q %v", name2, ext2)
	}
	// Not a kind: no extension.
	if _, ext := n.definitionName("io.k8s.api.apps.v1.DeploymentSpec"); ext != nil {
		t.Errorf("DeploymentSpec has kinds %v", ext)
	}
	// Kinds of unserved groups are left out; meta/v1 kinds list every
	// served group, sorted.
	_, ext = n.definitionName("io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions")
	want = []interface{}{
		map[string]interface{}{"group": "", "version": "v1", "kind": "DeleteOptions"},
		map[string]interface{}{"group": "apps", "version": "v1", "kind": "DeleteOptions"},
	}
	if !reflect.DeepEqual(ext[gvkExtension], want) {
		t.Errorf("DeleteOptions kinds %v, want %v", ext[gvkExtension], want)
	}
	if _, ext := n.definitionName("io.k8s.api.batch.v1.Job"); ext != nil {
		t.Errorf("Job of an unserved group has kinds %v", ext)
	}
	if m, ok := n.model(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "DeploymentList"}); !ok || m != "io.k8s.api.apps.v1.DeploymentList" {
		t.Errorf("model(DeploymentList) = %q, %v", m, ok)
	}
}
