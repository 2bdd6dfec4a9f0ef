package openapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// discoveryHandler serves the legacy discovery documents (/api, /apis,
// /api/v1, /apis/<group>/<version>) of resources: just enough of an API
// server for kubectl to map resource names to kinds before it reads the
// OpenAPI documents. The API server proper serves the real ones.
func discoveryHandler(resources []Resource) http.Handler {
	lists := map[string]*metav1.APIResourceList{}
	groups := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	seen := map[schema.GroupVersion]bool{}
	for _, r := range resources {
		gv := r.GVK.GroupVersion()
		path := "/" + groupVersionPath(gv)
		if lists[path] == nil {
			lists[path] = &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String()}
		}
		verbs := metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
		lists[path].APIResources = append(lists[path].APIResources, metav1.APIResource{
			Name: r.Resource, Namespaced: r.Namespaced, Kind: r.GVK.Kind, Verbs: verbs,
			SingularName: strings.ToLower(r.GVK.Kind)})
		for _, sub := range r.Subresources {
			lists[path].APIResources = append(lists[path].APIResources, metav1.APIResource{
				Name: r.Resource + "/" + sub, Namespaced: r.Namespaced, Kind: r.GVK.Kind, Verbs: metav1.Verbs{"get", "patch", "update"}})
		}
		if gv.Group != "" && !seen[gv] {
			seen[gv] = true
			v := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
			groups.Groups = append(groups.Groups, metav1.APIGroup{Name: gv.Group, Versions: []metav1.GroupVersionForDiscovery{v}, PreferredVersion: v})
		}
	}
	docs := map[string]interface{}{
		"/api":  &metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"}},
		"/apis": groups,
	}
	for p, l := range lists {
		docs[p] = l
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, ok := docs[strings.TrimSuffix(r.URL.Path, "/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(d)
	})
}

// TestKubectlExplain runs the kubectl on PATH, if any, against the Service
// (plus a stub discovery): kubectl explain reads the /openapi/v3 index and a
// group version's document and finds the kind's schema by its
// x-kubernetes-group-version-kind. Skipped without kubectl.
func TestKubectlExplain(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("no kubectl on PATH")
	}
	if testing.Short() {
		t.Skip("runs kubectl; skipped with -short")
	}
	resources := testResources()
	mux := http.NewServeMux()
	mux.Handle("/openapi/", New(resources))
	mux.Handle("/", discoveryHandler(resources))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(kubectl, append([]string{"--server", srv.URL, "--cache-dir", filepath.Join(dir, "cache")}, args...)...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(dir, "none"), "HOME="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"explain", "deployment.spec.strategy"}, []string{"GROUP:      apps", "KIND:       Deployment", "rollingUpdate", "RollingUpdateDeployment"}},
		{[]string{"explain", "pods.spec.containers.resources"}, []string{"KIND:       Pod", "limits", "requests"}},
		{[]string{"explain", "events", "--api-version", "events.k8s.io/v1"}, []string{"GROUP:      events.k8s.io", "KIND:       Event"}},
		{[]string{"explain", "clusterrolebindings.roleRef"}, []string{"KIND:       ClusterRoleBinding", "apiGroup"}},
		{[]string{"explain", "deployment.spec.strategy", "--output", "plaintext-openapiv2"}, []string{"KIND:     Deployment", "rollingUpdate"}},
	} {
		out := run(c.args...)
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("kubectl %s: output lacks %q:\n%s", strings.Join(c.args, " "), w, out)
			}
		}
	}
}
