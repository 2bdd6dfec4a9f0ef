package apiserver

// What authentication and authorization cost per request: the
// authorizers alone over the watch caches (BenchmarkAuthorizeCache), and
// a GET of one pod through HTTP with each server configuration
// (BenchmarkRequestAuth). Both share one store seeded with the default
// policy + 200 RoleBindings (10 namespaces) + 50 ClusterRoleBindings.
//
//	go test ./apiserver -run XXX -bench 'AuthorizeCache|RequestAuth' -benchmem

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/apiserver/authn"
	"github.com/kelson-dev/kelson/apiserver/authz"
	"github.com/kelson-dev/kelson/apiserver/authz/rbac"
	"github.com/kelson-dev/kelson/apiserver/storage"
	"github.com/kelson-dev/kelson/internal/testbin"
	"github.com/kelson-dev/kelson/internal/testpki"
	"github.com/kelson-dev/kelson/raftnode"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// benchStore is startMember for benchmarks.
func benchStore(b *testing.B) storage.Store {
	ports, err := testbin.FreePorts(2)
	if err != nil {
		b.Fatal(err)
	}
	cfg := raftnode.Config{
		Name: "a", DataDir: filepath.Join(b.TempDir(), "a"),
		ListenClientURLs:  []string{fmt.Sprintf("http://127.0.0.1:%d", ports[0])},
		ListenPeerURLs:    []string{fmt.Sprintf("http://127.0.0.1:%d", ports[1])},
		InitialCluster:    fmt.Sprintf("a=http://127.0.0.1:%d", ports[1]),
		HeartbeatInterval: 20 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
		Logger: testLogger(),
	}
	m, err := raftnode.Start(context.Background(), cfg)
	if err != nil {
		b.Fatalf("start member: %v", err)
	}
	b.Cleanup(m.Stop)
	return &storage.Member{Node: m.Node}
}

// benchServer runs a server over st behind hs (started here, TLS or not).
// scan: its RBAC authorizer scans the bindings per request (no index), as
// before the index, for comparison.
func benchServer(b *testing.B, cfg Config, hs *httptest.Server, tlsOn, scan bool) *Server {
	cfg.Logger = testLogger()
	cfg.DisableAdmissionPlugins = testDisabledPlugins
	s, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if scan {
		s.authz = scanAuthorizer(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	hs.Config.Handler = s.Handler()
	if tlsOn {
		hs.StartTLS()
	} else {
		hs.Start()
	}
	b.Cleanup(func() { hs.Close(); cancel(); <-done })
	return s
}

// seedBenchPolicy writes what the benchmarks read, as the admin.
func seedBenchPolicy(b *testing.B, cs *kubernetes.Clientset) {
	ctx := context.Background()
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < 10; i++ {
		ns := fmt.Sprintf("ns-%d", i)
		_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		must(err)
		_, err = cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "pod-reader"},
			Rules: []rbacv1.PolicyRule{{Verbs: []string{"get", "list", "watch"}, APIGroups: []string{""}, Resources: []string{"pods", "pods/log"}}}}, metav1.CreateOptions{})
		must(err)
	}
	for i := 0; i < 200; i++ {
		ns := fmt.Sprintf("ns-%d", i%10)
		ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"}
		if i%2 == 1 {
			ref = rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"}
		}
		_, err := cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("rb-%d", i)}, RoleRef: ref,
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: fmt.Sprintf("user-%d", i)},
				{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: fmt.Sprintf("group-%d", i%7)},
				{Kind: rbacv1.ServiceAccountKind, Name: fmt.Sprintf("sa-%d", i), Namespace: ns}}}, metav1.CreateOptions{})
		must(err)
	}
	for i := 0; i < 50; i++ {
		_, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("crb-%d", i)},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: fmt.Sprintf("crb-user-%d", i)}}}, metav1.CreateOptions{})
		must(err)
	}
	_, err := cs.CoreV1().Pods("ns-2").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{})
	must(err)
}

// The benchmarks' users: user-42's RoleBinding rb-42 (ns-2) binds edit;
// the pod ns-2/web is on node n1; mallory is bound to nothing.
var (
	benchAdmin      = &authn.User{Name: "system:admin", Groups: []string{authn.SystemPrivileged, authn.AllAuthenticated}}
	benchNamespaced = &authn.User{Name: "user-42", Groups: []string{"group-3", authn.AllAuthenticated}}
	benchNode       = &authn.User{Name: "system:node:n1", Groups: []string{authn.NodesGroup, authn.AllAuthenticated}}
	benchDenied     = &authn.User{Name: "mallory", Groups: []string{"outsiders", authn.AllAuthenticated}}
)

type benchEnv struct {
	rbacSrv *Server // Fixed admin, Node,RBAC over plain HTTP
	urls    map[string]string
	clients map[string]*http.Client
	tokens  map[string]string
}

// startBenchEnv: one store; servers (a) Fixed admin + AlwaysAllow, (b)
// Fixed admin + Node,RBAC, (c) TLS, X509 + a token file + Node,RBAC (the
// default auth of kelson server), (d) TLS, Fixed admin + AlwaysAllow (c's
// baseline: the same TLS cost without authentication).
func startBenchEnv(b *testing.B) *benchEnv {
	st := benchStore(b)
	dir := b.TempDir()
	ca := testpki.NewCA(b, dir, "bench-ca")
	tokenFile := filepath.Join(dir, "tokens.csv")
	tokens := map[string]string{"namespaced": "tok-user-42", "node": "tok-node-n1", "denied": "tok-mallory"}
	if err := os.WriteFile(tokenFile, []byte(`tok-user-42,user-42,u42,"group-3"
tok-node-n1,system:node:n1,n1,"system:nodes"
tok-mallory,mallory,m,"outsiders"
`), 0o600); err != nil {
		b.Fatal(err)
	}
	fixed := []authn.Authenticator{authn.Fixed(benchAdmin)}
	env := &benchEnv{urls: map[string]string{}, clients: map[string]*http.Client{}, tokens: tokens}
	plain := func(name string, cfg Config) *Server {
		hs := httptest.NewUnstartedServer(nil)
		s := benchServer(b, cfg, hs, false, false)
		env.urls[name], env.clients[name] = hs.URL, &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
		return s
	}
	serving := ca.Issue(b, "127.0.0.1", "127.0.0.1")
	servingCert, err := tls.LoadX509KeyPair(serving.CertFile, serving.KeyFile)
	if err != nil {
		b.Fatal(err)
	}
	withTLS := func(name string, cfg Config, client *tls.Config, scan bool) {
		hs := httptest.NewUnstartedServer(nil)
		hs.TLS = &tls.Config{Certificates: []tls.Certificate{servingCert}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
		benchServer(b, cfg, hs, true, scan)
		env.urls[name], env.clients[name] = hs.URL, &http.Client{Transport: &http.Transport{TLSClientConfig: client, MaxIdleConnsPerHost: 4}}
	}
	plain("fixed+AlwaysAllow", Config{Store: st, Authenticators: fixed, AuthorizationModes: []string{"AlwaysAllow"}})
	env.rbacSrv = plain("fixed+Node,RBAC", Config{Store: st, Authenticators: fixed, AuthorizationModes: []string{"Node", "RBAC"}})
	adminPair := ca.IssueUser(b, "system:admin", false, authn.SystemPrivileged)
	for _, scan := range []bool{false, true} {
		name := "tls+x509/token+Node,RBAC"
		if scan {
			name += "(scan)"
		}
		withTLS(name, Config{Store: st, Authenticators: []authn.Authenticator{authn.X509{Roots: ca.Pool()}},
			TokenAuthFile: tokenFile, AuthorizationModes: []string{"Node", "RBAC"}}, ca.ClientTLS(b, &adminPair), scan)
	}
	withTLS("tls+fixed+AlwaysAllow", Config{Store: st, Authenticators: fixed, AuthorizationModes: []string{"AlwaysAllow"}}, ca.ClientTLS(b, nil), false)
	// A client without a client certificate, for the token users.
	env.clients["tls-token"] = &http.Client{Transport: &http.Transport{TLSClientConfig: ca.ClientTLS(b, nil), MaxIdleConnsPerHost: 4}}

	cs, err := kubernetes.NewForConfig(&rest.Config{Host: env.urls["fixed+AlwaysAllow"], QPS: -1})
	if err != nil {
		b.Fatal(err)
	}
	benchWait(b, func() error {
		_, err := cs.CoreV1().Namespaces().Get(context.Background(), "default", metav1.GetOptions{})
		return err
	})
	seedBenchPolicy(b, cs)
	return env
}

func benchWait(b *testing.B, f func() error) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("gave up waiting: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// get GETs path with client (and a bearer token), reading the body.
func benchGet(client *http.Client, url, token string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, err
}

const benchPodPath = "/api/v1/namespaces/ns-2/pods/web"

// BenchmarkRequestAuth: one GET of a pod through HTTP per op, by server
// configuration and user.
func BenchmarkRequestAuth(b *testing.B) {
	env := startBenchEnv(b)
	type run struct {
		name, server, client, token string
		want                        int
	}
	runs := []run{
		{"fixed+AlwaysAllow/admin", "fixed+AlwaysAllow", "fixed+AlwaysAllow", "", 200},
		{"fixed+Node,RBAC/admin", "fixed+Node,RBAC", "fixed+Node,RBAC", "", 200},
		{"tls+fixed+AlwaysAllow/admin", "tls+fixed+AlwaysAllow", "tls+fixed+AlwaysAllow", "", 200},
		{"tls+x509+Node,RBAC/admin", "tls+x509/token+Node,RBAC", "tls+x509/token+Node,RBAC", "", 200},
		{"tls+token+Node,RBAC/namespaced", "tls+x509/token+Node,RBAC", "tls-token", env.tokens["namespaced"], 200},
		{"tls+token+Node,RBAC/node", "tls+x509/token+Node,RBAC", "tls-token", env.tokens["node"], 200},
		{"tls+token+Node,RBAC/denied", "tls+x509/token+Node,RBAC", "tls-token", env.tokens["denied"], 403},
		{"tls+token+Node,RBAC(scan)/namespaced", "tls+x509/token+Node,RBAC(scan)", "tls-token", env.tokens["namespaced"], 200},
		{"tls+token+Node,RBAC(scan)/denied", "tls+x509/token+Node,RBAC(scan)", "tls-token", env.tokens["denied"], 403},
	}
	for _, r := range runs {
		url, client := env.urls[r.server]+benchPodPath, env.clients[r.client]
		// The RBAC servers' caches (aggregation, the seeded bindings)
		// catch up asynchronously.
		benchWait(b, func() error {
			code, err := benchGet(client, url, r.token)
			if err == nil && code != r.want {
				err = fmt.Errorf("%s: status %d, want %d", r.name, code, r.want)
			}
			return err
		})
		b.Run(r.name, func(b *testing.B) {
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				code, err := benchGet(client, url, r.token)
				if err != nil || code != r.want {
					b.Fatalf("status %d, %v", code, err)
				}
			}
		})
	}
}

// scanAuthorizer is Node then RBAC as buildAuthorizer makes them, but
// with RBAC reading the caches binding by binding (no index).
func scanAuthorizer(s *Server) authz.Authorizer {
	return authz.Union(s.nodeAuthorizer(), authz.Union(privilegedGroups, rbac.New(cacheRBAC{s: s})))
}

// BenchmarkAuthorizeCache: the server's authorizers (Node then RBAC, as
// built from AuthorizationModes) over its watch caches, one decision per
// op; "scan" without the RBAC index.
func BenchmarkAuthorizeCache(b *testing.B) {
	env := startBenchEnv(b)
	ctx := context.Background()
	get := func(u *authn.User, resource, ns, name string) authz.Attributes {
		return authz.Attributes{User: u, Verb: "get", ResourceRequest: true, Version: "v1", Resource: resource, Namespace: ns, Name: name}
	}
	cases := []struct {
		name string
		a    authz.Attributes
		want authz.Decision
	}{
		{"masters", get(benchAdmin, "pods", "ns-2", "web"), authz.Allow},
		{"namespaced", get(benchNamespaced, "pods", "ns-2", "web"), authz.Allow},
		{"node", get(benchNode, "pods", "ns-2", "web"), authz.Allow},
		{"node-secret", get(benchNode, "secrets", "ns-2", "db"), authz.NoOpinion},
		{"denied", get(benchDenied, "secrets", "ns-2", "db"), authz.NoOpinion},
	}
	for _, impl := range []struct {
		name string
		z    authz.Authorizer
	}{{"scan", scanAuthorizer(env.rbacSrv)}, {"indexed", env.rbacSrv.authz}} {
		z := impl.z
		for _, c := range cases {
			benchWait(b, func() error {
				if d, reason, err := z.Authorize(ctx, c.a); d != c.want || err != nil {
					return fmt.Errorf("%s: %v (%q, %v), want %v", c.name, d, reason, err, c.want)
				}
				return nil
			})
			b.Run(impl.name+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					z.Authorize(ctx, c.a)
				}
			})
		}
	}
}
