package rbac

import (
	"testing"

	"github.com/kelson-dev/kelson/apiserver/kinds"
)

// TestDefaultPolicyValid: every default object passes the API's own
// validation, and every binding refers to a default role.
func TestDefaultPolicyValid(t *testing.T) {
	byKind := map[string]*kinds.Kind{}
	for _, k := range kinds.All() {
		if k.GVK.Group == "rbac.authorization.k8s.io" {
			byKind[k.GVK.Kind] = k
		}
	}
	roles := map[string]bool{}
	for _, r := range DefaultClusterRoles() {
		if roles[r.Name] {
			t.Errorf("clusterrole %s twice", r.Name)
		}
		roles[r.Name] = true
		if errs := byKind["ClusterRole"].Validate(r); len(errs) > 0 {
			t.Errorf("clusterrole %s: %v", r.Name, errs)
		}
		if r.Annotations[AutoUpdateAnnotation] != "true" {
			t.Errorf("clusterrole %s is not autoupdate", r.Name)
		}
	}
	for _, b := range DefaultClusterRoleBindings() {
		if errs := byKind["ClusterRoleBinding"].Validate(b); len(errs) > 0 {
			t.Errorf("clusterrolebinding %s: %v", b.Name, errs)
		}
		if !roles[b.RoleRef.Name] {
			t.Errorf("clusterrolebinding %s refers to %s, not a default role", b.Name, b.RoleRef.Name)
		}
	}
}
