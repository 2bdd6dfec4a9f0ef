package openapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

func widgetExtra(t *testing.T) Extra {
	t.Helper()
	var s spec.Schema
	if err := json.Unmarshal([]byte(`{"type":"object","properties":{"spec":{"type":"object","description":"The desired widget.",
		"properties":{"size":{"type":"string"}}}}}`), &s); err != nil {
		t.Fatal(err)
	}
	return Extra{Resource: Resource{GVK: schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"},
		Resource: "widgets", Namespaced: true, Subresources: []string{"status", "scale"}, ListKind: "WidgetList", Custom: true}, Schema: &s}
}

// SetExtra adds and drops the documents of custom resources and keeps the
// built-in documents as built (same ETag, same document).
func TestSetExtra(t *testing.T) {
	svc := New(testResources())
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)
	before, _ := get(t, srv, "/openapi/v3/apis/apps/v1", "", http.StatusOK)
	appsDoc := svc.current().v3["apis/apps/v1"]
	get(t, srv, "/openapi/v3/apis/example.com/v1", "", http.StatusNotFound)

	svc.SetExtra([]Extra{widgetExtra(t)})
	if svc.current().v3["apis/apps/v1"] != appsDoc {
		t.Fatal("SetExtra replaced a built-in document")
	}
	after, _ := get(t, srv, "/openapi/v3/apis/apps/v1", "", http.StatusOK)
	if before.Header.Get("Etag") != after.Header.Get("Etag") {
		t.Fatal("a built-in document changed")
	}
	_, body := get(t, srv, "/openapi/v3/apis/example.com/v1", "", http.StatusOK)
	var d doc
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatal(err)
	}
	w := at(t, d, "components", "schemas", "com.example.v1.Widget")
	if !hasGVK(t, w, "example.com", "v1", "Widget") {
		t.Fatal("the custom kind lacks x-kubernetes-group-version-kind")
	}
	if at(t, w, "properties", "spec", "description") != "The desired widget." {
		t.Fatalf("schema: %v", w)
	}
	if !strings.Contains(refName(t, at(t, w, "properties", "metadata")), "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta") {
		t.Fatal("metadata is not ObjectMeta")
	}
	patch := at(t, d, "paths", "/apis/example.com/v1/namespaces/{namespace}/widgets/{name}", "patch", "requestBody", "content").(map[string]interface{})
	if _, ok := patch["application/strategic-merge-patch+json"]; ok {
		t.Fatal("a custom resource takes strategic merge patches")
	}
	_, body = get(t, srv, "/openapi/v3", "", http.StatusOK)
	if !strings.Contains(string(body), "apis/example.com/v1") {
		t.Fatalf("index lacks the custom group version: %s", body)
	}
	_, body = get(t, srv, "/openapi/v2", "", http.StatusOK)
	if !strings.Contains(string(body), `"com.example.v1.WidgetList"`) {
		t.Fatal("v2 lacks the custom list kind")
	}

	svc.SetExtra(nil)
	get(t, srv, "/openapi/v3/apis/example.com/v1", "", http.StatusNotFound)
	_, body = get(t, srv, "/openapi/v2", "", http.StatusOK)
	if strings.Contains(string(body), "com.example.v1.Widget") {
		t.Fatal("v2 still describes a dropped custom kind")
	}
}
