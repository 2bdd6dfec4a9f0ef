package openapi

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	openapi_v3 "github.com/google/gnostic-models/openapiv3"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// testResources is the resource set the API server serves (as of writing).
func testResources() []Resource {
	r := func(group, version, kind, resource string, namespaced bool, subs ...string) Resource {
		return Resource{GVK: schema.GroupVersionKind{Group: group, Version: version, Kind: kind},
			Resource: resource, Namespaced: namespaced, Subresources: subs, ListKind: kind + "List"}
	}
	return []Resource{
		r("", "v1", "Pod", "pods", true, "status", "ephemeralcontainers", "eviction", "binding", "log", "exec"),
		r("", "v1", "Service", "services", true, "status"),
		r("", "v1", "Namespace", "namespaces", false, "status", "finalize"),
		r("", "v1", "Node", "nodes", false, "status"),
		r("", "v1", "ConfigMap", "configmaps", true),
		r("", "v1", "Secret", "secrets", true),
		r("", "v1", "ServiceAccount", "serviceaccounts", true),
		r("", "v1", "Endpoints", "endpoints", true),
		r("", "v1", "Event", "events", true),
		r("", "v1", "PersistentVolume", "persistentvolumes", false, "status"),
		r("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", true, "status"),
		r("", "v1", "ReplicationController", "replicationcontrollers", true, "status", "scale"),
		r("", "v1", "LimitRange", "limitranges", true),
		r("", "v1", "ResourceQuota", "resourcequotas", true, "status"),
		r("apps", "v1", "Deployment", "deployments", true, "status", "scale"),
		r("apps", "v1", "ReplicaSet", "replicasets", true, "status", "scale"),
		r("apps", "v1", "StatefulSet", "statefulsets", true, "status", "scale"),
		r("apps", "v1", "DaemonSet", "daemonsets", true, "status"),
		r("apps", "v1", "ControllerRevision", "controllerrevisions", true),
		r("batch", "v1", "Job", "jobs", true, "status"),
		r("batch", "v1", "CronJob", "cronjobs", true, "status"),
		r("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, "status"),
		r("coordination.k8s.io", "v1", "Lease", "leases", true),
		r("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", true),
		r("events.k8s.io", "v1", "Event", "events", true),
		r("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", true, "status"),
		r("rbac.authorization.k8s.io", "v1", "Role", "roles", true),
		r("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", true),
		r("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", false),
		r("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", false),
		r("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", false),
		r("storage.k8s.io", "v1", "StorageClass", "storageclasses", false),
		r("storage.k8s.io", "v1", "CSIDriver", "csidrivers", false),
		r("storage.k8s.io", "v1", "CSINode", "csinodes", false),
		r("storage.k8s.io", "v1", "VolumeAttachment", "volumeattachments", false, "status"),
		r("storage.k8s.io", "v1", "CSIStorageCapacity", "csistoragecapacities", true),
	}
}

// get fetches path from srv with the Accept header, failing on a status
// other than want.
func get(t *testing.T, srv *httptest.Server, path, accept string, want int) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		t.Fatalf("GET %s: status %d, want %d; body: %.500s", path, resp.StatusCode, want, body)
	}
	return resp, body
}

// doc is a decoded JSON document, navigated with at.
type doc = map[string]interface{}

// at walks keys through nested objects, failing if one is missing.
func at(t *testing.T, v interface{}, keys ...string) interface{} {
	t.Helper()
	for i, k := range keys {
		m, ok := v.(map[string]interface{})
		if !ok {
			t.Fatalf("at %q: not an object", strings.Join(keys[:i], "."))
		}
		if v, ok = m[k]; !ok {
			t.Fatalf("no %q in %q", k, strings.Join(keys[:i], "."))
		}
	}
	return v
}

// refName is the definition a property schema refers to, directly or
// through allOf (as v3 documents wrap references with siblings).
func refName(t *testing.T, prop interface{}) string {
	t.Helper()
	m := prop.(map[string]interface{})
	if r, ok := m["$ref"].(string); ok {
		return r[strings.LastIndex(r, "/")+1:]
	}
	if all, ok := m["allOf"].([]interface{}); ok && len(all) > 0 {
		return refName(t, all[0])
	}
	t.Fatalf("no reference in %v", m)
	return ""
}

func hasGVK(t *testing.T, def interface{}, group, version, kind string) bool {
	t.Helper()
	list, _ := at(t, def, gvkExtension).([]interface{})
	for _, e := range list {
		m := e.(map[string]interface{})
		if m["group"] == group && m["version"] == version && m["kind"] == kind {
			return true
		}
	}
	return false
}

func newTestServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(New(testResources()))
	t.Cleanup(srv.Close)
	return srv
}

func TestV2JSON(t *testing.T) {
	srv := newTestServer(t)
	resp, body := get(t, srv, "/openapi/v2", "application/json", http.StatusOK)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if resp.Header.Get("Etag") == "" {
		t.Error("no ETag")
	}
	var d doc
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatal(err)
	}
	defs := at(t, d, "definitions")
	dep := at(t, defs, "io.k8s.api.apps.v1.Deployment")
	if !hasGVK(t, dep, "apps", "v1", "Deployment") {
		t.Errorf("Deployment lacks its GVK extension: %v", at(t, dep, gvkExtension))
	}
	if !hasGVK(t, at(t, defs, "io.k8s.api.apps.v1.DeploymentList"), "apps", "v1", "DeploymentList") {
		t.Error("DeploymentList lacks its GVK extension")
	}
	delOpts := at(t, defs, "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions")
	if !hasGVK(t, delOpts, "apps", "v1", "DeleteOptions") || !hasGVK(t, delOpts, "", "v1", "DeleteOptions") {
		t.Error("DeleteOptions lacks the GVKs of its groups")
	}
	if !hasGVK(t, at(t, defs, "io.k8s.apimachinery.pkg.apis.meta.v1.Status"), "", "v1", "Status") {
		t.Error("Status lacks its GVK extension")
	}
	// deployment.spec.strategy.rollingUpdate.maxSurge, as kubectl explain walks it.
	spec := refName(t, at(t, dep, "properties", "spec"))
	strategy := refName(t, at(t, defs, spec, "properties", "strategy"))
	ru := refName(t, at(t, defs, strategy, "properties", "rollingUpdate"))
	if got := refName(t, at(t, defs, ru, "properties", "maxSurge")); got != "io.k8s.apimachinery.pkg.util.intstr.IntOrString" {
		t.Errorf("maxSurge refers to %q", got)
	}
	if _, ok := at(t, defs, "io.k8s.api.autoscaling.v1.Scale").(map[string]interface{}); !ok {
		t.Error("no Scale definition")
	}

	paths := at(t, d, "paths")
	for path, ops := range map[string]map[string]string{
		"/api/v1/namespaces/{namespace}/pods/{name}": {"get": "readCoreV1NamespacedPod", "patch": "patchCoreV1NamespacedPod",
			"put": "replaceCoreV1NamespacedPod", "delete": "deleteCoreV1NamespacedPod"},
		"/api/v1/namespaces/{namespace}/pods":                     {"get": "listCoreV1NamespacedPod", "post": "createCoreV1NamespacedPod", "delete": "deleteCoreV1CollectionNamespacedPod"},
		"/api/v1/pods":                                            {"get": "listCoreV1PodForAllNamespaces"},
		"/api/v1/nodes/{name}":                                    {"get": "readCoreV1Node"},
		"/api/v1/nodes/{name}/status":                             {"patch": "patchCoreV1NodeStatus"},
		"/api/v1/namespaces/{namespace}/pods/{name}/eviction":     {"post": "createCoreV1NamespacedPodEviction"},
		"/api/v1/namespaces/{namespace}/pods/{name}/log":          {"get": "readCoreV1NamespacedPodLog"},
		"/apis/apps/v1/namespaces/{namespace}/deployments/{name}": {"patch": "patchAppsV1NamespacedDeployment"},
		"/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale": {"get": "readAppsV1NamespacedDeploymentScale",
			"put": "replaceAppsV1NamespacedDeploymentScale"},
		"/apis/apps/v1/watch/namespaces/{namespace}/deployments": {"get": "watchAppsV1NamespacedDeploymentList"},
		"/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}": {"get": "readRbacAuthorizationV1ClusterRole"},
		"/apis/apps/v1/": {"get": "getAppsV1APIResources"},
		"/apis/apps/":    {"get": "getAppsAPIGroup"},
		"/version/":      {"get": "getCodeVersion"},
	} {
		for method, id := range ops {
			if got := at(t, paths, path, method, "operationId"); got != id {
				t.Errorf("%s %s: operationId %v, want %s", method, path, got, id)
			}
		}
	}
	patch := at(t, paths, "/apis/apps/v1/namespaces/{namespace}/deployments/{name}", "patch")
	if got := at(t, patch, "x-kubernetes-action"); got != "patch" {
		t.Errorf("x-kubernetes-action %v", got)
	}
	if !strings.Contains(toJSON(t, at(t, patch, "consumes")), "application/apply-patch+yaml") {
		t.Errorf("patch consumes %v", at(t, patch, "consumes"))
	}
	scaleGVK := at(t, paths, "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale", "get", gvkExtension)
	if g := scaleGVK.(map[string]interface{}); g["group"] != "autoscaling" || g["kind"] != "Scale" {
		t.Errorf("scale GVK %v", g)
	}
}

func toJSON(t *testing.T, v interface{}) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestV2Protobuf(t *testing.T) {
	srv := newTestServer(t)
	resp, body := get(t, srv, "/openapi/v2", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf", http.StatusOK)
	if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "protobuf") {
		t.Errorf("Content-Type %q", ct)
	}
	var d openapi_v2.Document
	if err := proto.Unmarshal(body, &d); err != nil {
		t.Fatalf("decoding the protobuf document: %v", err)
	}
	found := false
	for _, p := range d.GetDefinitions().GetAdditionalProperties() {
		if p.GetName() == "io.k8s.api.apps.v1.Deployment" {
			found = true
		}
	}
	if !found {
		t.Error("protobuf document has no io.k8s.api.apps.v1.Deployment")
	}
}

func TestV3(t *testing.T) {
	srv := newTestServer(t)
	_, body := get(t, srv, "/openapi/v3", "", http.StatusOK)
	var index struct {
		Paths map[string]struct {
			ServerRelativeURL string `json:"serverRelativeURL"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(body, &index); err != nil {
		t.Fatal(err)
	}
	for _, gv := range []string{"api/v1", "apis/apps/v1", "apis/autoscaling/v2", "apis/storage.k8s.io/v1", "api", "apis", "apis/apps", "version"} {
		u := index.Paths[gv].ServerRelativeURL
		if !strings.HasPrefix(u, "/openapi/v3/"+gv+"?hash=") {
			t.Errorf("index entry %s: serverRelativeURL %q", gv, u)
		}
	}

	resp, body := get(t, srv, index.Paths["apis/apps/v1"].ServerRelativeURL, "application/json", http.StatusOK)
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
		t.Errorf("Cache-Control %q for a hashed URL", cc)
	}
	var d doc
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatal(err)
	}
	// kubectl apply's check for server-side field validation.
	patch := at(t, d, "paths", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}", "patch")
	if g := at(t, patch, gvkExtension).(map[string]interface{}); g["kind"] != "Deployment" || g["group"] != "apps" {
		t.Errorf("patch GVK %v", g)
	}
	names := map[string]bool{}
	for _, p := range at(t, patch, "parameters").([]interface{}) {
		names[at(t, p, "name").(string)] = true
	}
	for _, n := range []string{"fieldValidation", "fieldManager", "dryRun", "force"} {
		if !names[n] {
			t.Errorf("deployment PATCH lacks parameter %s (has %v)", n, names)
		}
	}
	content := at(t, patch, "requestBody", "content").(map[string]interface{})
	for _, ct := range mediaPatch {
		if _, ok := content[ct]; !ok {
			t.Errorf("deployment PATCH request body lacks %s", ct)
		}
	}
	schemas := at(t, d, "components", "schemas")
	if !hasGVK(t, at(t, schemas, "io.k8s.api.apps.v1.Deployment"), "apps", "v1", "Deployment") {
		t.Error("components.schemas Deployment lacks its GVK extension")
	}
	strategy := refName(t, at(t, schemas, "io.k8s.api.apps.v1.DeploymentSpec", "properties", "strategy"))
	at(t, schemas, strategy, "properties", "rollingUpdate")
	if _, ok := d["paths"].(map[string]interface{})["/api/v1/pods"]; ok {
		t.Error("apps/v1 document has core paths")
	}

	// The same document in protobuf.
	_, body = get(t, srv, "/openapi/v3/apis/apps/v1", "application/com.github.proto-openapi.spec.v3@v1.0+protobuf", http.StatusOK)
	var pd openapi_v3.Document
	if err := proto.Unmarshal(body, &pd); err != nil {
		t.Fatalf("decoding the protobuf v3 document: %v", err)
	}
	if len(pd.GetPaths().GetPath()) == 0 {
		t.Error("protobuf v3 document has no paths")
	}

	// A stale hash redirects to the current one.
	noRedirect := *srv.Client()
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	r2, err := noRedirect.Get(srv.URL + "/openapi/v3/api/v1?hash=stale")
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusMovedPermanently || r2.Header.Get("Location") != index.Paths["api/v1"].ServerRelativeURL {
		t.Errorf("stale hash: %d to %q", r2.StatusCode, r2.Header.Get("Location"))
	}
}

func TestNotFoundAndMethods(t *testing.T) {
	srv := newTestServer(t)
	for _, p := range []string{"/openapi/v3/apis/nope.example.com/v1", "/openapi/v3/apis/apps/v2", "/openapi/v4", "/openapi/v3/apis/apps/v1/deployments"} {
		_, body := get(t, srv, p, "application/json", http.StatusNotFound)
		if !strings.Contains(string(body), `"kind":"Status"`) {
			t.Errorf("%s: 404 body is not a Status: %s", p, body)
		}
	}
	resp, err := srv.Client().Post(srv.URL+"/openapi/v2", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", resp.StatusCode)
	}
}

func TestInvalidResourceIs500(t *testing.T) {
	srv := httptest.NewServer(New([]Resource{{GVK: schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Nope"}, Resource: "nopes"}}))
	defer srv.Close()
	_, body := get(t, srv, "/openapi/v2", "", http.StatusInternalServerError)
	if !strings.Contains(string(body), "apps/v1, Kind=Nope") {
		t.Errorf("error does not name the kind: %s", body)
	}
	get(t, srv, "/openapi/v3/apis/apps/v1", "", http.StatusInternalServerError)
}

func TestEncodingsAndCaching(t *testing.T) {
	srv := newTestServer(t)
	tr := &http.Transport{DisableCompression: true} // see the raw encodings
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	do := func(path string, header map[string]string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}

	plain, plainBody := do("/openapi/v2", map[string]string{"Accept": "application/json"})
	if plain.Header.Get("Content-Encoding") != "" || !json.Valid(plainBody) {
		t.Fatalf("identity response: encoding %q, valid JSON %v", plain.Header.Get("Content-Encoding"), json.Valid(plainBody))
	}
	zipped, zippedBody := do("/openapi/v2", map[string]string{"Accept": "application/json", "Accept-Encoding": "gzip"})
	if zipped.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip response: Content-Encoding %q", zipped.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(zippedBody))
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(unzipped, plainBody) {
		t.Fatalf("gzip body does not decode to the JSON body (err %v)", err)
	}
	t.Logf("/openapi/v2: %d bytes of JSON, %d gzipped", len(plainBody), len(zippedBody))

	etag := plain.Header.Get("Etag")
	if notMod, _ := do("/openapi/v2", map[string]string{"Accept": "application/json", "If-None-Match": etag}); notMod.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match with the ETag: %d, want 304", notMod.StatusCode)
	}
	if r, _ := do("/openapi/v2", map[string]string{"Accept": "text/html"}); r.StatusCode != http.StatusNotAcceptable {
		t.Errorf("Accept text/html: %d, want 406", r.StatusCode)
	}
	// JSON and protobuf of one document share its ETag (they vary by Accept).
	pb, _ := do("/openapi/v3/api/v1", map[string]string{"Accept": "application/com.github.proto-openapi.spec.v3.v1.0+protobuf"})
	js, _ := do("/openapi/v3/api/v1", map[string]string{"Accept": "application/json"})
	if pb.Header.Get("Etag") == "" || pb.Header.Get("Etag") != js.Header.Get("Etag") {
		t.Errorf("ETags: protobuf %q, JSON %q", pb.Header.Get("Etag"), js.Header.Get("Etag"))
	}
	if !strings.Contains(pb.Header.Get("Content-Type"), "protobuf") {
		t.Errorf("protobuf Content-Type %q", pb.Header.Get("Content-Type"))
	}
}

// TestDeterministic checks that two Services of the same resources publish
// the same hashes, so clients' caches survive a restart.
func TestDeterministic(t *testing.T) {
	index := func() string {
		srv := newTestServer(t)
		_, body := get(t, srv, "/openapi/v3", "", http.StatusOK)
		_, v2 := get(t, srv, "/openapi/v2", "", http.StatusOK)
		return string(body) + string(v2)
	}
	if index() != index() {
		t.Error("two Services of the same resources publish different documents")
	}
}

// TestConcurrentFirstRequests races the first requests for every document,
// in both encodings, against one Service (run with -race): each document is
// built once and all answers agree.
func TestConcurrentFirstRequests(t *testing.T) {
	srv := newTestServer(t)
	paths := []string{"/openapi/v2", "/openapi/v3", "/openapi/v3/api/v1", "/openapi/v3/apis/apps/v1", "/openapi/v3/apis/batch/v1", "/openapi/v3/version"}
	accepts := []string{"application/json", "application/com.github.proto-openapi.spec.v3.v1.0+protobuf,application/com.github.proto-openapi.spec.v2.v1.0+protobuf"}
	type result struct {
		key, etag string
		n         int
	}
	results := make(chan result, 3*len(paths)*len(accepts))
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		for _, p := range paths {
			for _, a := range accepts {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req, _ := http.NewRequest(http.MethodGet, srv.URL+p, nil)
					req.Header.Set("Accept", a)
					resp, err := srv.Client().Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						t.Errorf("GET %s (%s): %d", p, a, resp.StatusCode)
					}
					results <- result{p + " " + a, resp.Header.Get("Etag"), len(body)}
				}()
			}
		}
	}
	wg.Wait()
	close(results)
	seen := map[string]result{}
	for r := range results {
		if prev, ok := seen[r.key]; ok && prev != r {
			t.Errorf("%s: answers differ: %+v vs %+v", r.key, prev, r)
		}
		seen[r.key] = r
	}
}
