package apiserver

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Every bad input gets a Kubernetes Status with the right code: never a
// 500, never a dropped connection.
func TestBadInput(t *testing.T) {
	ts := newTestServer(t, startMember(t))
	big := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big"},"data":{"a":"` + strings.Repeat("x", 4<<20) + `"}}`
	cases := []struct {
		name, method, path, ctype, accept, body string
		code                                    int
	}{
		{"malformed JSON", "POST", "/api/v1/namespaces/default/configmaps", "application/json", "", `{"apiVersion":`, 400},
		{"malformed YAML", "POST", "/api/v1/namespaces/default/configmaps", "application/yaml", "", "a: [b\n", 400},
		{"malformed protobuf", "POST", "/api/v1/namespaces/default/configmaps", "application/vnd.kubernetes.protobuf", "", "k8s\x00\x0a\xff\xff", 400},
		{"not an object", "POST", "/api/v1/namespaces/default/configmaps", "application/json", "", `[1,2]`, 400},
		{"body over 3 MiB", "POST", "/api/v1/namespaces/default/configmaps", "application/json", "", big, 413},
		{"unknown content type", "POST", "/api/v1/namespaces/default/configmaps", "text/plain", "", "x", 415},
		{"unacceptable accept", "GET", "/api/v1/namespaces/default/configmaps", "", "text/html", "", 406},
		{"unknown resource", "GET", "/api/v1/namespaces/default/widgets", "", "", "", 404},
		{"unknown version", "GET", "/apis/apps/v2/deployments", "", "", "", 404},
		{"unknown group", "GET", "/apis/nope.example.com/v1/things", "", "", "", 404},
		{"kind mismatch", "POST", "/api/v1/namespaces/default/configmaps", "application/json", "", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}`, 400},
		{"version mismatch", "POST", "/apis/apps/v1/namespaces/default/deployments", "application/json", "", `{"apiVersion":"apps/v1beta1","kind":"Deployment","metadata":{"name":"x"}}`, 400},
		{"wrong namespace", "POST", "/api/v1/namespaces/default/configmaps", "application/json", "", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"other"}}`, 400},
		{"invalid name", "POST", "/api/v1/namespaces/default/configmaps", "application/json", "", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Not_Valid"}}`, 422},
		{"no name", "POST", "/api/v1/namespaces/default/configmaps", "application/json", "", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{}}`, 422},
		{"namespace on a cluster resource", "GET", "/api/v1/namespaces/default/nodes/x", "", "", "", 404},
		{"bad label selector", "GET", "/api/v1/namespaces/default/configmaps?labelSelector=a%20in%20(", "", "", "", 400},
		{"unknown field selector", "GET", "/api/v1/namespaces/default/configmaps?fieldSelector=spec.nothing=1", "", "", "", 400},
		{"bad resourceVersion", "GET", "/api/v1/namespaces/default/configmaps?resourceVersion=abc", "", "", "", 400},
		{"bad continue", "GET", "/api/v1/namespaces/default/configmaps?limit=1&continue=garbage", "", "", "", 400},
		{"bad dryRun", "POST", "/api/v1/namespaces/default/configmaps?dryRun=Some", "application/json", "", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}`, 400},
		{"bad patch", "PATCH", "/api/v1/namespaces/default/services/kubernetes", "application/json-patch+json", "", `{"not":"a json patch"}`, 400},
		{"JSON patch replacing the root without a value", "PATCH", "/api/v1/namespaces/default/services/kubernetes", "application/json-patch+json", "", `[{"op":"replace","path":""}]`, 400},
		{"unknown patch type", "PATCH", "/api/v1/namespaces/default/services/kubernetes", "application/xml", "", `<x/>`, 415},
		{"apply without manager", "PATCH", "/api/v1/namespaces/default/configmaps/x", "application/apply-patch+yaml", "", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n", 400},
		{"name mismatch on update", "PUT", "/api/v1/namespaces/default/services/kubernetes", "application/json", "", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"other"}}`, 400},
		{"strict unknown field", "POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Strict", "application/json", "", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"bogus":1}`, 400},
		{"missing object", "GET", "/api/v1/namespaces/default/configmaps/absent", "", "", "", 404},
		{"too large resourceVersion", "GET", "/api/v1/namespaces/default/configmaps?resourceVersion=999999999", "", "", "", 504},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(c.method, ts.http.URL+c.path, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if c.ctype != "" {
				req.Header.Set("Content-Type", c.ctype)
			}
			if c.accept != "" {
				req.Header.Set("Accept", c.accept)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("request failed: %v", err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.code {
				t.Fatalf("code %d, want %d: %s", resp.StatusCode, c.code, body)
			}
			var st metav1.Status
			if err := json.NewDecoder(bytes.NewReader(body)).Decode(&st); err != nil || st.Kind != "Status" || int(st.Code) != c.code || st.Message == "" {
				t.Fatalf("not a Status with code %d: %s (%v)", c.code, body, err)
			}
		})
	}
}
