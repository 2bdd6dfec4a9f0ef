package apiserver

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/apiserver/authn"
	"github.com/kelson-dev/kelson/apiserver/authz/rbac"
	"github.com/kelson-dev/kelson/apiserver/storage"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// rbacServer is an API server with AuthorizationModes Node,RBAC whose
// users are bearer tokens (the token is the key of users). The token
// "admin" is system:admin in system:masters.
type rbacServer struct {
	t     *testing.T
	url   string
	http  *http.Client
	users map[string]*authn.User
	admin *kubernetes.Clientset

	mu        sync.Mutex
	forbidden []string // "<token> <method> <path>: <message>" of every 403
}

// recordForbidden wraps h to remember every 403 it answers.
func (rs *rbacServer) recordForbidden(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.code == http.StatusForbidden {
			rs.mu.Lock()
			rs.forbidden = append(rs.forbidden, fmt.Sprintf("%s %s %s: %s", strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "),
				r.Method, r.URL.RequestURI(), rec.body.String()))
			rs.mu.Unlock()
		}
	})
}

// forbiddenFor returns the 403s answered to token.
func (rs *rbacServer) forbiddenFor(token string) []string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var out []string
	for _, f := range rs.forbidden {
		if strings.HasPrefix(f, token+" ") {
			out = append(out, f)
		}
	}
	return out
}

type statusRecorder struct {
	http.ResponseWriter
	code int
	body strings.Builder
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == http.StatusForbidden && r.body.Len() < 2048 {
		r.body.Write(b)
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush keeps watches streaming through the recorder.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// tokenUsers authenticates "Authorization: Bearer <token>" as users[token];
// an unknown token is a bad credential (401), no header no credential.
func tokenUsers(users map[string]*authn.User) authn.Authenticator {
	return authn.Func(func(r *http.Request) (*authn.User, bool, error) {
		h := r.Header.Get("Authorization")
		if h == "" {
			return nil, false, nil
		}
		u, ok := users[strings.TrimPrefix(h, "Bearer ")]
		if !ok {
			return nil, false, fmt.Errorf("unknown token %q", h)
		}
		return u, true, nil
	})
}

func newRBACServer(t *testing.T, st storage.Store, users map[string]*authn.User) *rbacServer {
	t.Helper()
	users["admin"] = &authn.User{Name: "system:admin", Groups: []string{authn.SystemPrivileged}}
	s, err := New(Config{Store: st, Logger: testLogger(), Authenticators: []authn.Authenticator{tokenUsers(users)},
		AuthorizationModes: []string{"Node", "RBAC"}, DisableAdmissionPlugins: testDisabledPlugins})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	// TLS: kubectl sends no bearer token over plain HTTP.
	rs := &rbacServer{t: t, users: users}
	hs := httptest.NewTLSServer(rs.recordForbidden(s.Handler()))
	t.Cleanup(func() { hs.Close(); cancel(); <-done })
	rs.url, rs.http = hs.URL, hs.Client()
	rs.admin = rs.client("admin")
	eventually(t, 30*time.Second, func() error {
		if _, err := rs.admin.CoreV1().Namespaces().Get(context.Background(), "default", metav1.GetOptions{}); err != nil {
			return err
		}
		// The default policy is in, and aggregated.
		view, err := rs.admin.RbacV1().ClusterRoles().Get(context.Background(), "view", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(view.Rules) == 0 {
			return fmt.Errorf("view is not aggregated yet")
		}
		_, err = rs.admin.RbacV1().ClusterRoleBindings().Get(context.Background(), "system:kube-scheduler", metav1.GetOptions{})
		return err
	})
	return rs
}

func (rs *rbacServer) config(token string) *rest.Config {
	return &rest.Config{Host: rs.url, BearerToken: token, QPS: -1, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
}

func (rs *rbacServer) client(token string) *kubernetes.Clientset {
	c, err := kubernetes.NewForConfig(rs.config(token))
	if err != nil {
		rs.t.Fatal(err)
	}
	return c
}

// do sends one raw request; token "" sends none.
func (rs *rbacServer) do(token, method, path, body string) (int, string) {
	rs.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, rs.url+path, strings.NewReader(body))
	if err != nil {
		rs.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	ct := "application/json"
	if method == http.MethodPatch {
		ct = "application/merge-patch+json"
	}
	req.Header.Set("Content-Type", ct)
	resp, err := rs.http.Do(req)
	if err != nil {
		rs.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, string(b)
}

func eventually(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not reached after %v: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mustCreate[T any](t *testing.T, create func(context.Context, T, metav1.CreateOptions) (T, error), obj T) {
	t.Helper()
	if _, err := create(context.Background(), obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// target is a resource of the verb table: its collection path, the path
// of one object, a body to create or update it with.
type target struct {
	name       string // as in the expectations: "pods", "deployments/scale"
	collection string // "" for a subresource
	object     string
	body       string
}

var verbs = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}

func tableTargets() []target {
	return []target{
		{"pods", "/api/v1/namespaces/dev/pods", "/api/v1/namespaces/dev/pods/x",
			`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},"spec":{"containers":[{"name":"c","image":"i"}]}}`},
		{"secrets", "/api/v1/namespaces/dev/secrets", "/api/v1/namespaces/dev/secrets/x",
			`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}`},
		{"deployments", "/apis/apps/v1/namespaces/dev/deployments", "/apis/apps/v1/namespaces/dev/deployments/x",
			`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"},"spec":{"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}`},
		{"deployments/scale", "", "/apis/apps/v1/namespaces/dev/deployments/x/scale",
			`{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"x","namespace":"dev"},"spec":{"replicas":2}}`},
		{"nodes", "/api/v1/nodes", "/api/v1/nodes/x", `{"apiVersion":"v1","kind":"Node","metadata":{"name":"x"}}`},
		{"namespaces", "/api/v1/namespaces", "/api/v1/namespaces/x", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x"}}`},
		{"clusterroles", "/apis/rbac.authorization.k8s.io/v1/clusterroles", "/apis/rbac.authorization.k8s.io/v1/clusterroles/x",
			`{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"x"}}`},
	}
}

// request returns the method and path of verb on t ("" when the verb
// does not apply to a subresource).
func (t target) request(verb string) (string, string) {
	if t.collection == "" && verb != "get" && verb != "update" && verb != "patch" {
		return "", ""
	}
	switch verb {
	case "get":
		return http.MethodGet, t.object
	case "list":
		return http.MethodGet, t.collection
	case "watch":
		return http.MethodGet, t.collection + "?watch=true&timeoutSeconds=1"
	case "create":
		return http.MethodPost, t.collection
	case "update":
		return http.MethodPut, t.object
	case "patch":
		return http.MethodPatch, t.object
	case "delete":
		return http.MethodDelete, t.object
	}
	return http.MethodDelete, t.collection
}

// devRole is what the table's users are granted in the namespace dev.
var devRole = &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "dev-worker", Namespace: "dev"}, Rules: []rbacv1.PolicyRule{
	{Verbs: []string{"get", "list", "watch"}, APIGroups: []string{""}, Resources: []string{"pods"}},
	{Verbs: []string{"create", "update", "patch", "delete"}, APIGroups: []string{"apps"}, Resources: []string{"deployments"}},
	{Verbs: []string{"get", "update"}, APIGroups: []string{"apps"}, Resources: []string{"deployments/scale"}},
	{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"x"}},
	// Cluster-scoped resources cannot be granted by a namespaced Role.
	{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"nodes", "namespaces"}},
}}

// devGranted is exactly what devRole grants in the table (the
// expectation, written out, not computed by the code under test).
var devGranted = map[string]bool{
	"get pods": true, "list pods": true, "watch pods": true,
	"create deployments": true, "update deployments": true, "patch deployments": true, "delete deployments": true,
	"get deployments/scale": true, "update deployments/scale": true,
	"get secrets": true,
}

// TestRBACVerbTable: every verb on every resource of the table, for a
// user bound to devRole, a service account bound to it, a user with no
// binding, and anonymous requests: only the granted combinations pass
// authorization; everything else is 403 (401 for anonymous).
func TestRBACVerbTable(t *testing.T) {
	users := map[string]*authn.User{
		"jane":   {Name: "jane", Groups: []string{"devs"}},
		"sa":     {Name: "system:serviceaccount:dev:builder", Groups: []string{authn.ServiceAccountsAll, authn.ServiceAccountGroup + "dev"}},
		"sa-ops": {Name: "system:serviceaccount:ops:builder", Groups: []string{authn.ServiceAccountsAll, authn.ServiceAccountGroup + "ops"}},
		"nobody": {Name: "nobody"},
	}
	rs := newRBACServer(t, startMember(t), users)
	a := rs.admin
	mustCreate(t, a.CoreV1().Namespaces().Create, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "dev"}})
	mustCreate(t, a.RbacV1().Roles("dev").Create, devRole)
	mustCreate(t, a.RbacV1().RoleBindings("dev").Create, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "workers"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "dev-worker"},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "jane"}, {Kind: "ServiceAccount", Name: "builder"}}})
	// The binding reaches the cache.
	eventually(t, 20*time.Second, func() error {
		if code, body := rs.do("jane", "GET", "/api/v1/namespaces/dev/pods", ""); code != 200 {
			return fmt.Errorf("%d %s", code, body)
		}
		return nil
	})

	for _, tc := range []struct {
		token   string
		granted map[string]bool
	}{{"jane", devGranted}, {"sa", devGranted}, {"sa-ops", nil}, {"nobody", nil}, {"", nil}} {
		for _, tg := range tableTargets() {
			for _, verb := range verbs {
				method, path := tg.request(verb)
				if method == "" {
					continue
				}
				body := ""
				if method == http.MethodPost || method == http.MethodPut {
					body = tg.body
				} else if method == http.MethodPatch {
					body = `{"metadata":{"labels":{"p":"q"}}}`
				}
				code, out := rs.do(tc.token, method, path, body)
				key := verb + " " + tg.name
				switch {
				case tc.token == "":
					if code != http.StatusUnauthorized {
						t.Errorf("anonymous %s: %d, want 401: %s", key, code, out)
					}
				case tc.granted[key]:
					if code == http.StatusForbidden || code == http.StatusUnauthorized {
						t.Errorf("%s %s (granted): %d %s", tc.token, key, code, out)
					}
				default:
					if code != http.StatusForbidden {
						t.Errorf("%s %s (not granted): %d, want 403: %s", tc.token, key, code, out)
					} else if !strings.Contains(out, "cannot "+verb) {
						t.Errorf("%s %s: 403 without kube-apiserver's message: %s", tc.token, key, out)
					}
				}
			}
		}
	}
	// The granted secret is that one only.
	if code, out := rs.do("jane", "GET", "/api/v1/namespaces/dev/secrets/other", ""); code != 403 {
		t.Errorf("jane get secrets/other: %d %s", code, out)
	}
	// Anonymous health and version are served; discovery is not.
	for _, p := range []string{"/healthz", "/readyz", "/version"} {
		if code, out := rs.do("", "GET", p, ""); code != 200 {
			t.Errorf("anonymous %s: %d %s", p, code, out)
		}
	}
	if code, _ := rs.do("", "GET", "/apis", ""); code != 401 {
		t.Errorf("anonymous /apis: %d, want 401", code)
	}
	// Any authenticated user reads discovery (system:discovery).
	if code, out := rs.do("nobody", "GET", "/apis", ""); code != 200 {
		t.Errorf("nobody /apis: %d %s", code, out)
	}
	if code, _ := rs.do("bad-token", "GET", "/api/v1/pods", ""); code != 401 {
		t.Errorf("unknown token: %d, want 401", code)
	}
	// The message names what was refused, as kube-apiserver's does.
	_, out := rs.do("jane", "DELETE", "/api/v1/namespaces/dev/pods/web", "")
	if !strings.Contains(out, `pods \"web\" is forbidden: User \"jane\" cannot delete resource \"pods\" in API group \"\" in the namespace \"dev\"`) {
		t.Errorf("403 message: %s", out)
	}
}

// TestNodeAuthorizerSecrets: a node reads the secret of a pod bound to
// it, not that of another node's pod, nor an unreferenced one.
func TestNodeAuthorizerSecrets(t *testing.T) {
	node := func(n string) *authn.User {
		return &authn.User{Name: authn.NodeUserPrefix + n, Groups: []string{authn.NodesGroup}}
	}
	rs := newRBACServer(t, startMember(t), map[string]*authn.User{"n1": node("n1"), "n2": node("n2")})
	a := rs.admin
	ctx := context.Background()
	for _, name := range []string{"s-web", "s-db", "s-none"} {
		mustCreate(t, a.CoreV1().Secrets("default").Create, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}})
	}
	pod := func(name, nodeName, secret string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{NodeName: nodeName,
			Containers: []corev1.Container{{Name: "c", Image: "i"}},
			Volumes:    []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret}}}}}}
	}
	mustCreate(t, a.CoreV1().Pods("default").Create, pod("web", "n1", "s-web"))
	mustCreate(t, a.CoreV1().Pods("default").Create, pod("db", "n2", "s-db"))
	n1 := rs.client("n1")
	eventually(t, 20*time.Second, func() error {
		_, err := n1.CoreV1().Secrets("default").Get(ctx, "s-web", metav1.GetOptions{})
		return err
	})
	for _, name := range []string{"s-db", "s-none"} {
		_, err := n1.CoreV1().Secrets("default").Get(ctx, name, metav1.GetOptions{})
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "no relationship found between node 'n1' and this object") {
			t.Errorf("n1 get secret %s: %v, want 403 no relationship", name, err)
		}
	}
	if _, err := rs.client("n2").CoreV1().Secrets("default").Get(ctx, "s-db", metav1.GetOptions{}); err != nil {
		t.Errorf("n2 get its pod's secret: %v", err)
	}
	if _, err := n1.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("n1 list secrets: %v, want 403", err)
	}
	// Its pods, by field selector only; the other node's pod's status not.
	if _, err := n1.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=n1"}); err != nil {
		t.Errorf("n1 list its pods: %v", err)
	}
	if _, err := n1.CoreV1().Pods("").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("n1 list all pods: %v, want 403", err)
	}
	db, err := a.CoreV1().Pods("default").Get(ctx, "db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n1.CoreV1().Pods("default").UpdateStatus(ctx, db, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("n1 update n2's pod status: %v, want 403", err)
	}
	if err := n1.CoreV1().Pods("default").Delete(ctx, "db", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("n1 delete n2's pod: %v, want 403", err)
	}
	if _, err := n1.RbacV1().ClusterRoles().List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("n1 list clusterroles: %v, want 403", err)
	}
}

// TestEscalationRefused: a user who may write roles and bindings in a
// namespace cannot grant more than it holds, unless it may escalate or
// bind.
func TestEscalationRefused(t *testing.T) {
	alice := &authn.User{Name: "alice", Groups: []string{"team"}}
	rs := newRBACServer(t, startMember(t), map[string]*authn.User{"alice": alice})
	a := rs.admin
	ctx := context.Background()
	mustCreate(t, a.CoreV1().Namespaces().Create, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "dev"}})
	mustCreate(t, a.RbacV1().Roles("dev").Create, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "rbac-manager"}, Rules: []rbacv1.PolicyRule{
		{Verbs: []string{"create", "update", "get"}, APIGroups: []string{rbacv1.GroupName}, Resources: []string{"roles", "rolebindings"}},
		{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods"}},
	}})
	mustCreate(t, a.RbacV1().RoleBindings("dev").Create, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "alice"},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "rbac-manager"}, Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "alice"}}})
	c := rs.client("alice")
	role := func(name string, rules ...rbacv1.PolicyRule) *rbacv1.Role {
		return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
	}
	podReader := rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}
	secretReader := rbacv1.PolicyRule{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"secrets"}}
	eventually(t, 20*time.Second, func() error {
		_, err := c.RbacV1().Roles("dev").Create(ctx, role("pod-reader", podReader), metav1.CreateOptions{})
		return err
	})
	_, err := c.RbacV1().Roles("dev").Create(ctx, role("secret-reader", secretReader), metav1.CreateOptions{})
	want := `roles.rbac.authorization.k8s.io "secret-reader" is forbidden: user "alice" (groups=["team" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:` +
		"\n" + `{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]}`
	if !apierrors.IsForbidden(err) || err.Error() != want {
		t.Fatalf("create secret-reader: %v\nwant %s", err, want)
	}
	// Nor by updating a role it made.
	pr, err := c.RbacV1().Roles("dev").Get(ctx, "pod-reader", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pr.Rules = append(pr.Rules, secretReader)
	if _, err := c.RbacV1().Roles("dev").Update(ctx, pr, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("update pod-reader with secrets: %v, want 403", err)
	}
	// Binding: itself to admin (more than it holds) is refused; to its own
	// pod-reader role allowed.
	binding := func(name, kind, roleName string) *rbacv1.RoleBinding {
		return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: roleName},
			Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "alice"}}}
	}
	if _, err := c.RbacV1().RoleBindings("dev").Create(ctx, binding("alice-admin", "ClusterRole", "admin"), metav1.CreateOptions{}); !apierrors.IsForbidden(err) ||
		!strings.Contains(err.Error(), "is attempting to grant RBAC permissions not currently held") {
		t.Fatalf("bind admin: %v, want 403", err)
	}
	if _, err := c.RbacV1().RoleBindings("dev").Create(ctx, binding("alice-pods", "Role", "pod-reader"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("bind pod-reader: %v", err)
	}
	if _, err := c.RbacV1().RoleBindings("dev").Create(ctx, binding("alice-missing", "Role", "no-such-role"), metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("bind a missing role: %v, want 403", err)
	}
	// Granted escalate on roles and bind on the ClusterRole view, both go.
	mustCreate(t, a.RbacV1().Roles("dev").Create, role("escalator",
		rbacv1.PolicyRule{Verbs: []string{"escalate"}, APIGroups: []string{rbacv1.GroupName}, Resources: []string{"roles"}},
		rbacv1.PolicyRule{Verbs: []string{"bind"}, APIGroups: []string{rbacv1.GroupName}, Resources: []string{"clusterroles"}, ResourceNames: []string{"view"}}))
	mustCreate(t, a.RbacV1().RoleBindings("dev").Create, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "alice-escalates"},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "escalator"}, Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "alice"}}})
	eventually(t, 20*time.Second, func() error {
		_, err := c.RbacV1().Roles("dev").Create(ctx, role("secret-reader", secretReader), metav1.CreateOptions{})
		return err
	})
	if _, err := c.RbacV1().RoleBindings("dev").Create(ctx, binding("alice-view", "ClusterRole", "view"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("bind view with the bind verb: %v", err)
	}
	if _, err := c.RbacV1().RoleBindings("dev").Create(ctx, binding("alice-edit", "ClusterRole", "edit"), metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("bind edit (bind granted on view only): %v, want 403", err)
	}
	// The admin may do anything.
	mustCreate(t, a.RbacV1().RoleBindings("dev").Create, binding("alice-admin", "ClusterRole", "admin"))
}

// TestDefaultPolicyReconciled: missing defaults come back at the next
// start, autoupdate roles get their rules back, others stay as edited.
func TestDefaultPolicyReconciled(t *testing.T) {
	st := startMember(t)
	rs := newRBACServer(t, st, map[string]*authn.User{})
	ctx := context.Background()
	a := rs.admin
	roles := a.RbacV1().ClusterRoles()
	if err := roles.Delete(ctx, "system:basic-user", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	disc, err := roles.Get(ctx, "system:discovery", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	disc.Rules = nil
	if _, err := roles.Update(ctx, disc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	piv, err := roles.Get(ctx, "system:public-info-viewer", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	piv.Rules, piv.Annotations[rbac.AutoUpdateAnnotation] = nil, "false"
	if _, err := roles.Update(ctx, piv, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	rs2 := newRBACServer(t, st, map[string]*authn.User{})
	roles = rs2.admin.RbacV1().ClusterRoles()
	eventually(t, 20*time.Second, func() error {
		if _, err := roles.Get(ctx, "system:basic-user", metav1.GetOptions{}); err != nil {
			return err
		}
		d, err := roles.Get(ctx, "system:discovery", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(d.Rules) == 0 {
			return fmt.Errorf("system:discovery's rules not restored")
		}
		return nil
	})
	p, err := roles.Get(ctx, "system:public-info-viewer", metav1.GetOptions{})
	if err != nil || len(p.Rules) != 0 {
		t.Fatalf("a role with autoupdate=false was changed: %v %v", err, p.Rules)
	}
}

// TestAggregation: a ClusterRole labelled aggregate-to-view adds its rules
// to view, edit and admin, and they go when it goes.
func TestAggregation(t *testing.T) {
	rs := newRBACServer(t, startMember(t), map[string]*authn.User{})
	ctx := context.Background()
	roles := rs.admin.RbacV1().ClusterRoles()
	extra := rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{"stable.example.com"}, Resources: []string{"crontabs"}}
	mustCreate(t, roles.Create, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "crontab-view",
		Labels: map[string]string{rbac.AggregateToView: "true"}}, Rules: []rbacv1.PolicyRule{extra}})
	has := func(name string) (bool, error) {
		r, err := roles.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, rule := range r.Rules {
			if len(rule.APIGroups) == 1 && rule.APIGroups[0] == "stable.example.com" {
				return true, nil
			}
		}
		return false, nil
	}
	eventually(t, 20*time.Second, func() error {
		for _, n := range []string{"view", "edit", "admin"} {
			if ok, err := has(n); !ok || err != nil {
				return fmt.Errorf("%s lacks the rule (%v)", n, err)
			}
		}
		return nil
	})
	if err := roles.Delete(ctx, "crontab-view", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() error {
		if ok, err := has("admin"); ok || err != nil {
			return fmt.Errorf("admin still has the rule (%v)", err)
		}
		return nil
	})
}

// TestKubectlAuthCanI drives kubectl auth can-i against a server with
// Node,RBAC: a user bound to devRole in dev.
func TestKubectlAuthCanI(t *testing.T) {
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Skip("kubectl is not on the PATH")
	}
	rs := newRBACServer(t, startMember(t), map[string]*authn.User{"jane": {Name: "jane"}})
	a := rs.admin
	mustCreate(t, a.CoreV1().Namespaces().Create, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "dev"}})
	mustCreate(t, a.RbacV1().Roles("dev").Create, devRole)
	mustCreate(t, a.RbacV1().RoleBindings("dev").Create, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "jane"},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "dev-worker"}, Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "jane"}}})
	dir := t.TempDir()
	kubectl := rs.kubectlAs(t, dir)
	eventually(t, 20*time.Second, func() error {
		if out := kubectl("admin", false, "auth", "can-i", "--as=x", "--help"); out == "" {
			return fmt.Errorf("no help")
		}
		if code, _ := rs.do("jane", "GET", "/api/v1/namespaces/dev/pods", ""); code != 200 {
			return fmt.Errorf("binding not in the cache yet")
		}
		return nil
	})
	mustContain(t, kubectl("jane", false, "auth", "can-i", "list", "pods"), "yes")
	mustContain(t, kubectl("jane", true, "auth", "can-i", "delete", "pods"), "no")
	mustContain(t, kubectl("jane", true, "auth", "can-i", "list", "pods", "-n", "default"), "no")
	mustContain(t, kubectl("jane", false, "auth", "can-i", "update", "deployments.apps", "--subresource=scale"), "yes")
	mustContain(t, kubectl("jane", false, "auth", "can-i", "get", "secrets/x"), "yes")
	mustContain(t, kubectl("jane", true, "auth", "can-i", "get", "secrets/y"), "no")
	mustContain(t, kubectl("admin", false, "auth", "can-i", "create", "pods"), "yes")
	mustContain(t, kubectl("admin", false, "auth", "can-i", "*", "*"), "yes")
	mustContain(t, kubectl("jane", false, "auth", "can-i", "get", "/version"), "yes")
	list := kubectl("jane", false, "auth", "can-i", "--list")
	mustContain(t, list, "pods", "[get list watch]", "deployments.apps", "selfsubjectaccessreviews.authorization.k8s.io", "/api/*")
	// Impersonation answers for jane (more in impersonation_test.go).
	mustContain(t, kubectl("admin", true, "auth", "can-i", "delete", "pods", "--as=jane"), "no")
	// The admin asks about jane with a SubjectAccessReview.
	code, out := rs.do("admin", "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews",
		`{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"user":"jane","resourceAttributes":{"namespace":"dev","verb":"watch","resource":"pods"}}}`)
	if code != 201 || !strings.Contains(out, `"allowed":true`) {
		t.Fatalf("SubjectAccessReview: %d %s", code, out)
	}
	code, out = rs.do("admin", "POST", "/apis/authorization.k8s.io/v1/namespaces/dev/localsubjectaccessreviews",
		`{"apiVersion":"authorization.k8s.io/v1","kind":"LocalSubjectAccessReview","spec":{"user":"jane","resourceAttributes":{"verb":"delete","resource":"pods"}}}`)
	if code != 201 || strings.Contains(out, `"allowed":true`) {
		t.Fatalf("LocalSubjectAccessReview: %d %s", code, out)
	}
	// jane may not ask about others.
	if code, _ := rs.do("jane", "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews",
		`{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"user":"x","resourceAttributes":{"verb":"get","resource":"pods"}}}`); code != 403 {
		t.Fatalf("jane's SubjectAccessReview: %d, want 403", code)
	}
	mustContain(t, kubectl("admin", false, "api-resources", "--api-group=authorization.k8s.io"), "selfsubjectaccessreviews", "localsubjectaccessreviews")
}

// kubectlAs returns a runner of the real kubectl against rs as the user of
// a bearer token (namespace dev), with its kubeconfigs and caches in dir;
// it fails the test unless kubectl fails exactly when wantErr.
func (rs *rbacServer) kubectlAs(t *testing.T, dir string) func(token string, wantErr bool, args ...string) string {
	return func(token string, wantErr bool, args ...string) string {
		t.Helper()
		kc := filepath.Join(dir, "kubeconfig-"+token)
		cfg := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: t\n  cluster: {server: %q, insecure-skip-tls-verify: true}\ncontexts:\n- name: t\n  context: {cluster: t, user: u, namespace: dev}\ncurrent-context: t\nusers:\n- name: u\n  user: {token: %q}\n", rs.url, token)
		if err := os.WriteFile(kc, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", kc}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+dir, "KUBECACHEDIR="+filepath.Join(dir, "cache-"+token))
		out, err := cmd.CombinedOutput()
		if (err != nil) != wantErr {
			t.Fatalf("kubectl %s: err=%v (wantErr %v)\n%s", strings.Join(args, " "), err, wantErr, out)
		}
		return string(out)
	}
}
