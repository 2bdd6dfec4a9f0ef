package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/pki"
	"github.com/kelson-dev/kelson/internal/testcluster"
	"github.com/kelson-dev/kelson/internal/testpki"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// The API's refusals, end to end on a running `kelson server` over TLS:
// every verb of every resource discovery lists is refused with 401 without
// credentials and 403 for an authenticated user no role grants it;
// certificates of another CA or expired ones are refused; a RoleBinding
// to the default "view" role grants exactly reading.

// apiCall is one request of the table: a verb on a resource.
type apiCall struct {
	resource, verb string
	method, path   string
	body           string
	contentType    string
}

// apiCalls lists every verb of every resource (not subresources) the
// server's discovery shows, as requests on namespace default and an
// object named "x".
func apiCalls(t *testing.T, client kubernetes.Interface) []apiCall {
	t.Helper()
	lists, err := client.Discovery().ServerPreferredResources()
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	var calls []apiCall
	for _, l := range lists {
		base := "/apis/" + l.GroupVersion
		if l.GroupVersion == "v1" {
			base = "/api/v1"
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") {
				continue
			}
			coll := base + "/" + r.Name
			if r.Namespaced {
				coll = base + "/namespaces/default/" + r.Name
			}
			obj := coll + "/x"
			name := l.GroupVersion + " " + r.Name
			for _, v := range r.Verbs {
				c := apiCall{resource: name, verb: v}
				switch v {
				case "get":
					c.method, c.path = http.MethodGet, obj
				case "list":
					c.method, c.path = http.MethodGet, coll
				case "watch":
					c.method, c.path = http.MethodGet, coll+"?watch=1&timeoutSeconds=1"
				case "create":
					c.method, c.path, c.body, c.contentType = http.MethodPost, coll, "{}", "application/json"
				case "update":
					c.method, c.path, c.body, c.contentType = http.MethodPut, obj, "{}", "application/json"
				case "patch":
					c.method, c.path, c.body, c.contentType = http.MethodPatch, obj, "{}", "application/merge-patch+json"
				case "delete":
					c.method, c.path = http.MethodDelete, obj
				case "deletecollection":
					c.method, c.path = http.MethodDelete, coll
				default:
					continue
				}
				calls = append(calls, c)
			}
		}
	}
	if len(calls) < 100 {
		t.Fatalf("discovery lists only %d resource verbs", len(calls))
	}
	return calls
}

// do sends c with hc and returns the status code and the body's start.
func (c apiCall) do(t *testing.T, hc *http.Client, host string) (int, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, host+c.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.contentType != "" {
		req.Header.Set("Content-Type", c.contentType)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	return resp.StatusCode, string(b), nil
}

// httpsClient trusts the cluster CA and presents pair, if given.
func httpsClient(t *testing.T, caFile string, pair *testpki.Pair) *http.Client {
	t.Helper()
	b, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(b)
	tc := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if pair != nil {
		c, err := tls.LoadX509KeyPair(pair.CertFile, pair.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		tc.Certificates = []tls.Certificate{c}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}, Timeout: 30 * time.Second}
}

// selfReviews may be created by every authenticated user (system:basic-user).
func selfReview(c apiCall) bool {
	return c.verb == "create" && (strings.HasSuffix(c.resource, " selfsubjectaccessreviews") ||
		strings.HasSuffix(c.resource, " selfsubjectrulesreviews") || strings.HasSuffix(c.resource, " selfsubjectreviews"))
}

func TestAPIRefusesStrangers(t *testing.T) {
	ports := freePorts(t, 3)
	data := filepath.Join(t.TempDir(), "srv.kelson")
	p := startProc(t, "server", "--data-dir", data, "--https-listen-port", strconv.Itoa(ports[0]),
		"--listen-client-urls", localURL(ports[1]), "--listen-peer-urls", localURL(ports[2]), "--log-format", "text")
	kc := p.waitKubeconfig(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	host := cfg.Host
	tlsDir := filepath.Join(data, "tls")
	caFile := filepath.Join(tlsDir, pki.CACertFile)
	certs := t.TempDir()
	clusterCA := testpki.LoadCA(t, caFile, filepath.Join(tlsDir, pki.CAKeyFile), certs)
	jane := clusterCA.IssueUser(t, "jane", false, "devs")
	expired := clusterCA.IssueUser(t, "old", true, "system:masters")
	otherCA := testpki.NewCA(t, certs, "other-ca")
	stranger := otherCA.IssueUser(t, "eve", false, "system:masters")

	calls := apiCalls(t, admin)
	anon := httpsClient(t, caFile, nil)
	janeClient := httpsClient(t, caFile, &jane)

	t.Run("anonymous", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/livez", "/readyz", "/version"} {
			if code, body, err := (apiCall{method: http.MethodGet, path: path}).do(t, anon, host); err != nil || code != http.StatusOK {
				t.Errorf("anonymous GET %s: %d %v %s, want 200", path, code, err, body)
			}
		}
		for _, path := range []string{"/api", "/apis", "/openapi/v2", "/metrics", "/"} {
			if code, body, err := (apiCall{method: http.MethodGet, path: path}).do(t, anon, host); err != nil || code != http.StatusUnauthorized {
				t.Errorf("anonymous GET %s: %d %v %s, want 401", path, code, err, body)
			}
		}
		for _, c := range calls {
			if code, body, err := c.do(t, anon, host); err != nil || code != http.StatusUnauthorized {
				t.Errorf("anonymous %s %s (%s %s): %d %v %s, want 401", c.verb, c.resource, c.method, c.path, code, err, body)
			}
		}
	})

	t.Run("no role", func(t *testing.T) {
		for _, c := range calls {
			code, body, err := c.do(t, janeClient, host)
			switch {
			case err != nil:
				t.Errorf("jane %s %s: %v", c.verb, c.resource, err)
			case selfReview(c):
				if code == http.StatusUnauthorized || code == http.StatusForbidden {
					t.Errorf("jane %s %s: %d %s, want it allowed (system:basic-user)", c.verb, c.resource, code, body)
				}
			case code != http.StatusForbidden:
				t.Errorf("jane %s %s (%s %s): %d %s, want 403", c.verb, c.resource, c.method, c.path, code, body)
			case !strings.Contains(body, `User \"jane\" cannot `+c.verb+` resource`):
				t.Errorf("jane %s %s: 403 body %s does not say who and what", c.verb, c.resource, body)
			}
		}
	})

	t.Run("bad certificates", func(t *testing.T) {
		get := apiCall{method: http.MethodGet, path: "/api/v1/namespaces/default/pods"}
		for name, pair := range map[string]testpki.Pair{"expired": expired, "another CA's": stranger} {
			code, body, err := get.do(t, httpsClient(t, caFile, &pair), host)
			if err == nil && code != http.StatusUnauthorized {
				t.Errorf("a client certificate %s (system:masters): %d %s, want 401 or a refused handshake", name, code, body)
			}
		}
	})

	t.Run("view in default", func(t *testing.T) {
		ctx := context.Background()
		rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "jane-view", Namespace: "default"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
			Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "jane"}}}
		if _, err := admin.RbacV1().RoleBindings("default").Create(ctx, rb, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		getPod := apiCall{method: http.MethodGet, path: "/api/v1/namespaces/default/pods/x"}
		testcluster.Eventually(t, 30*time.Second, func() error {
			if code, body, err := getPod.do(t, janeClient, host); err != nil || code != http.StatusNotFound {
				return fmt.Errorf("get pods/x as a viewer: %d %v %s, want 404", code, err, body)
			}
			return nil
		})
		for _, c := range []struct {
			call apiCall
			want int
		}{
			{apiCall{method: http.MethodGet, path: "/api/v1/namespaces/default/pods"}, http.StatusOK},
			{apiCall{method: http.MethodGet, path: "/apis/apps/v1/namespaces/default/deployments"}, http.StatusOK},
			{apiCall{method: http.MethodGet, path: "/api/v1/namespaces/default/secrets"}, http.StatusForbidden},
			{apiCall{method: http.MethodGet, path: "/api/v1/namespaces/kube-system/pods"}, http.StatusForbidden},
			{apiCall{method: http.MethodGet, path: "/api/v1/pods"}, http.StatusForbidden},
			{apiCall{method: http.MethodPost, path: "/api/v1/namespaces/default/pods", body: "{}", contentType: "application/json"}, http.StatusForbidden},
			{apiCall{method: http.MethodDelete, path: "/api/v1/namespaces/default/pods/x"}, http.StatusForbidden},
			{apiCall{method: http.MethodPost, path: "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings", body: "{}", contentType: "application/json"}, http.StatusForbidden},
		} {
			if code, body, err := c.call.do(t, janeClient, host); err != nil || code != c.want {
				t.Errorf("viewer %s %s: %d %v %s, want %d", c.call.method, c.call.path, code, err, body, c.want)
			}
		}
	})
}
