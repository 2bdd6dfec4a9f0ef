package apiserver

import (
	"context"
	"fmt"
	"github.com/kelson-dev/kelson/apiserver/authn"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/apiserver/storage"
	"github.com/kelson-dev/kelson/internal/testbin"
	"github.com/kelson-dev/kelson/raftnode"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// backend is a store the API test suite runs on.
type backend struct {
	name  string
	start func(t *testing.T) storage.Store
}

// backends are the in-process Kelson member, always, and a real etcd when
// an etcd binary is on the PATH (or in $ETCD_BIN): the same suite over
// both proves the storage interface.
func backends(t *testing.T) []backend {
	bs := []backend{{name: "member", start: startMember}}
	if bin := etcdBinary(); bin != "" {
		bs = append(bs, backend{name: "etcd", start: func(t *testing.T) storage.Store { return startEtcd(t, bin) }})
	} else {
		t.Log("no etcd binary (install etcd-server or set ETCD_BIN): the suite runs on the Kelson member only")
	}
	return bs
}

func etcdBinary() string {
	if b := os.Getenv("ETCD_BIN"); b != "" {
		return b
	}
	if b, err := exec.LookPath("etcd"); err == nil {
		return b
	}
	return ""
}

func testLogger() *slog.Logger {
	if os.Getenv("KELSON_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func startMember(t *testing.T) storage.Store {
	t.Helper()
	ports, err := testbin.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	cfg := raftnode.Config{
		Name:              "a",
		DataDir:           filepath.Join(t.TempDir(), "a"),
		ListenClientURLs:  []string{fmt.Sprintf("http://127.0.0.1:%d", ports[0])},
		ListenPeerURLs:    []string{fmt.Sprintf("http://127.0.0.1:%d", ports[1])},
		InitialCluster:    fmt.Sprintf("a=http://127.0.0.1:%d", ports[1]),
		HeartbeatInterval: 20 * time.Millisecond,
		ElectionTimeout:   200 * time.Millisecond,
		Logger:            testLogger(),
	}
	m, err := raftnode.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start member: %v", err)
	}
	t.Cleanup(m.Stop)
	return &storage.Member{Node: m.Node}
}

func startEtcd(t *testing.T, bin string) storage.Store {
	t.Helper()
	ports, err := testbin.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	client := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peer := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	cmd := exec.Command(bin, "--name", "e", "--data-dir", filepath.Join(t.TempDir(), "etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "e="+peer, "--log-level", "error")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	st, err := storage.NewRemote(clientv3.Config{Endpoints: []string{client}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// testServer is an API server over a store, served over plain HTTP on
// loopback (TLS is the command's business).
type testServer struct {
	srv    *Server
	http   *httptest.Server
	config *rest.Config
	client *kubernetes.Clientset // JSON
	proto  *kubernetes.Clientset // protobuf both ways
}

func newTestServer(t *testing.T, st storage.Store) *testServer {
	t.Helper()
	return startServerWith(t, Config{Store: st})
}

// startServerWith runs an API server with cfg over plain HTTP, ready (its
// bootstrap done). Unset fields get the tests' defaults: the test logger,
// every request the admin's (testAdmin), AlwaysAllow, and
// testDisabledPlugins off (an empty, non-nil list runs every plugin).
func startServerWith(t *testing.T, cfg Config) *testServer {
	t.Helper()
	ts := startServerNoWait(t, cfg)
	ts.waitNamespace(t, "default")
	ts.waitReady(t)
	return ts
}

// startServerNoWait is startServerWith without waiting for the bootstrap
// (a server that forbids everything never looks ready). Its clients send
// the bearer token "admin-token"; ts.proto speaks protobuf both ways.
func startServerNoWait(t *testing.T, cfg Config) *testServer {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	if cfg.Authenticators == nil {
		cfg.Authenticators = testAdmin
	}
	if cfg.AuthorizationModes == nil {
		cfg.AuthorizationModes = []string{"AlwaysAllow"}
	}
	if cfg.DisableAdmissionPlugins == nil {
		cfg.DisableAdmissionPlugins = testDisabledPlugins
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() { hs.Close(); cancel(); <-done })
	rc := &rest.Config{Host: hs.URL, QPS: -1, BearerToken: "admin-token"}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	pcfg := rest.CopyConfig(rc)
	pcfg.ContentType = "application/vnd.kubernetes.protobuf"
	pcfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	pcs, err := kubernetes.NewForConfig(pcfg)
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{srv: s, http: hs, config: rc, client: cs, proto: pcs}
}

// waitNamespace waits for the bootstrap to have created a namespace.
func (ts *testServer) waitNamespace(t *testing.T, name string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := ts.client.CoreV1().Namespaces().Get(context.Background(), name, metav1GetOptions)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("namespace %s never appeared: %v", name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// forEachBackend runs f as a subtest on every backend, each with its own
// store and server.
func forEachBackend(t *testing.T, f func(t *testing.T, ts *testServer)) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) { f(t, newTestServer(t, b.start(t))) })
	}
}

// waitReady waits for /readyz: every watch cache has loaded.
func (ts *testServer) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := ts.client.Discovery().RESTClient().Get().AbsPath("/readyz").Do(context.Background()).Error()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testAdmin authenticates every request of the tests' plain-HTTP clients
// as the admin.
var testAdmin = []authn.Authenticator{authn.Fixed(&authn.User{Name: "system:admin", Groups: []string{authn.SystemPrivileged}})}

// testDisabledPlugins are the admission plugins the API tests run
// without: ServiceAccount needs the controller that creates each
// namespace's "default" service account, which these tests do not run
// (every pod create would wait for it, then be refused). The tests of
// admission itself (admission_test.go) build servers with every plugin.
var testDisabledPlugins = []string{"ServiceAccount"}
