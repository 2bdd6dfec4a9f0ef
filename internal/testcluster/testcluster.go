package testcluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/apiserver"
	"github.com/kelson-dev/kelson/apiserver/authn"
	"github.com/kelson-dev/kelson/apiserver/storage"
	"github.com/kelson-dev/kelson/internal/testbin"
	"github.com/kelson-dev/kelson/raftnode"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Cluster is a running API server; t.Cleanup stops it.
type Cluster struct {
	// Config reaches the API (plain HTTP on 127.0.0.1, no rate limit).
	Config *rest.Config
	// Client is a clientset over Config.
	Client *kubernetes.Clientset
	// URL of the API, e.g. http://127.0.0.1:41234.
	URL string
	// Kubeconfig is a file for kubectl (--kubeconfig) pointing at URL.
	Kubeconfig string
}

// Logger is the tests' logger: silent unless KELSON_TEST_LOG is set.
func Logger() *slog.Logger {
	if os.Getenv("KELSON_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// Start starts a store member and an API server over it, and waits until
// the API is ready (system namespaces exist, caches loaded).
func Start(t testing.TB) *Cluster {
	t.Helper()
	ports, err := testbin.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	m, err := raftnode.Start(context.Background(), raftnode.Config{
		Name:              "a",
		DataDir:           filepath.Join(dir, "store"),
		ListenClientURLs:  []string{fmt.Sprintf("http://127.0.0.1:%d", ports[0])},
		ListenPeerURLs:    []string{fmt.Sprintf("http://127.0.0.1:%d", ports[1])},
		InitialCluster:    fmt.Sprintf("a=http://127.0.0.1:%d", ports[1]),
		HeartbeatInterval: 20 * time.Millisecond,
		ElectionTimeout:   200 * time.Millisecond,
		Logger:            Logger(),
	})
	if err != nil {
		t.Fatalf("testcluster: start member: %v", err)
	}
	t.Cleanup(m.Stop)
	s, err := apiserver.New(apiserver.Config{Store: &storage.Member{Node: m.Node}, Logger: Logger(),
		// Every request is the admin's: tests of controllers and agents
		// drive the API over plain HTTP without credentials.
		Authenticators:     []authn.Authenticator{authn.Fixed(&authn.User{Name: "system:admin", Groups: []string{authn.SystemPrivileged}})},
		AuthorizationModes: []string{"AlwaysAllow"},
		// Admission without the plugins that need what a test cluster
		// lacks: ServiceAccount refuses pods until the serviceaccount
		// controller (not running here) has made the namespace's
		// "default" account, and mounts a token no test agent projects;
		// ResourceQuota refuses pods a quota's controller has not seen
		// (and the resourcequota controller's tests create pods that
		// admission would refuse, to test counting alone).
		DisableAdmissionPlugins: []string{"ServiceAccount", "ResourceQuota"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() { hs.Close(); cancel(); <-done })

	cfg := &rest.Config{Host: hs.URL, QPS: -1}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, []byte(kubeconfig(hs.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &Cluster{Config: cfg, Client: cs, URL: hs.URL, Kubeconfig: kc}
	c.waitReady(t)
	return c
}

func kubeconfig(url string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
users:
- name: test
contexts:
- name: test
  context: {cluster: test, user: test}
current-context: test
`, url)
}

// waitReady waits for /readyz and the default namespace.
func (c *Cluster) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").Do(context.Background()).Error()
		if err == nil {
			_, err = c.Client.CoreV1().Namespaces().Get(context.Background(), "default", getOptions)
		}
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testcluster: the API never became ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Eventually polls cond every 20 ms until it returns nil or timeout passes,
// then fails the test with cond's last error. Conditions state what the
// system converges to; the timeout is a generous bound for a loaded
// machine, not a performance claim.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
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

var getOptions = metav1.GetOptions{}
