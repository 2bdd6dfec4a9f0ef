package main

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/pki"
	"github.com/kelson-dev/kelson/internal/testcluster"
	"github.com/kelson-dev/kelson/internal/testpki"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

func tlsURL(port int) string { return "https://127.0.0.1:" + strconv.Itoa(port) }

// waitServing waits for a server's "export KUBECONFIG=" line and returns
// the path with the lines printed before it.
func (p *proc) waitServing(t *testing.T) (kubeconfig string, lines []string) {
	t.Helper()
	deadline := time.After(serverStartTimeout)
	for {
		select {
		case l := <-p.lines:
			if path, ok := strings.CutPrefix(strings.TrimSpace(l), "export KUBECONFIG="); ok {
				return path, lines
			}
			lines = append(lines, l)
		case <-p.done:
			t.Fatalf("server exited before serving: %v", p.err)
		case <-deadline:
			t.Fatalf("server printed no kubeconfig within %v", serverStartTimeout)
		}
	}
}

// etcdctl runs etcdctl with args (2 s to connect, 3 s per command; a
// hang past 30 s fails the test) and returns its
// combined output and error.
func etcdctl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("etcdctl")
	if err != nil {
		t.Skip("etcdctl is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--dial-timeout", "2s", "--command-timeout", "3s"}, args...)...)
	cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("etcdctl %q hung: %s", args, out)
	}
	return string(out), err
}

// tlsHandshake dials a member's port with cert (nil: none) trusting ca,
// and reports whether the member kept the connection: with
// TLS 1.3 a refused client certificate shows as an alert on the first
// read, so it reads until the member's first frame or a short deadline.
func tlsHandshake(addr string, ca *testpki.CA, t *testing.T, cert *testpki.Pair) error {
	cfg := ca.ClientTLS(t, cert)
	cfg.NextProtos = []string{"h2"}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	var b [1]byte
	_, err = c.Read(b[:])
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		return nil // a frame, or the member waits for the client's preface
	}
	return err
}

// TestServersStoreTLSShareTheCA: three servers with https:// peer and
// client URLs and no certificate flags, b and c joining a with its token:
// their members talk TLS with certificates of the shared store CA (not the
// cluster CA) and form one store under the API of each; etcdctl reads the
// API's keys with the client certificate a server writes, and fails
// cleanly without one; certificates of the cluster CA (the admin's, a
// node's, a would-be member's) are refused by the client and peer ports,
// as is a member with a certificate of another CA.
func TestServersStoreTLSShareTheCA(t *testing.T) {
	names := []string{"a", "b", "c"}
	ports := freePorts(t, 3*len(names)+2)
	dir := t.TempDir()
	var cluster []string
	for i, name := range names {
		cluster = append(cluster, name+"="+tlsURL(ports[3*i+2]))
	}
	dataDir := func(i int) string { return filepath.Join(dir, names[i]+".kelson") }
	args := func(i int, extra ...string) []string {
		return append([]string{"server", "--name", names[i], "--data-dir", dataDir(i),
			"--https-listen-port", strconv.Itoa(ports[3*i]), "--listen-client-urls", tlsURL(ports[3*i+1]),
			"--listen-peer-urls", tlsURL(ports[3*i+2]), "--initial-cluster", strings.Join(cluster, ","), "--log-format", "text"}, extra...)
	}
	procs := []*proc{startProc(t, args(0)...)}
	var token string
	testcluster.Eventually(t, serverStartTimeout, func() error {
		b, err := os.ReadFile(filepath.Join(dataDir(0), "token"))
		token = strings.TrimSpace(string(b))
		return err
	})
	aURL := "https://127.0.0.1:" + strconv.Itoa(ports[0])
	for i := 1; i < 3; i++ {
		procs = append(procs, startProc(t, args(i, "--server", aURL, "--token", token)...))
	}
	var clients []kubernetes.Interface
	for i, p := range procs {
		kc, lines := p.waitServing(t)
		if !strings.Contains(strings.Join(lines, "\n"), "etcdctl --endpoints "+tlsURL(ports[3*i+1])+" --cacert ") {
			t.Errorf("server %s printed no etcdctl command line:\n%s", names[i], strings.Join(lines, "\n"))
		}
		cs := clientFor(t, kc)
		clients = append(clients, cs)
	}
	tlsDir := filepath.Join(dataDir(0), "tls")
	storeCAFile := filepath.Join(tlsDir, pki.StoreCACertFile)
	// One store CA, handed to b and c when they joined, and not the
	// cluster CA.
	aStoreCA, err := os.ReadFile(storeCAFile)
	if err != nil {
		t.Fatal(err)
	}
	if aCA, _ := os.ReadFile(filepath.Join(tlsDir, pki.CACertFile)); string(aCA) == string(aStoreCA) {
		t.Error("the store CA is the cluster CA")
	}
	for i := 1; i < 3; i++ {
		for _, f := range []string{pki.StoreCACertFile, pki.StoreCAKeyFile} {
			mine, _ := os.ReadFile(filepath.Join(tlsDir, f))
			theirs, err := os.ReadFile(filepath.Join(dataDir(i), "tls", f))
			if err != nil || string(theirs) != string(mine) {
				t.Errorf("%s's %s is not a's: %v", names[i], f, err)
			}
		}
	}
	for _, f := range []string{pki.StorePeerCertFile, pki.StorePeerKeyFile, pki.StoreServerCertFile, pki.StoreClientCertFile, pki.StoreClientKeyFile} {
		if _, err := os.Stat(filepath.Join(tlsDir, f)); err != nil {
			t.Errorf("a's %s: %v", f, err)
		}
	}

	// One store under three APIs: written through a (once the namespace
	// controller has made "default"), read through b and c.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "over-tls-peers"}, Data: map[string]string{"k": "v"}}
	testcluster.Eventually(t, serverStartTimeout, func() error {
		_, err := clients[0].CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{})
		return err
	})
	for i, cs := range clients[1:] {
		got, err := cs.CoreV1().ConfigMaps("default").Get(ctx, cm.Name, metav1.GetOptions{})
		if err != nil || got.Data["k"] != "v" {
			t.Errorf("read through %s: %v %v", names[i+1], got, err)
		}
	}

	clusterCA := testpki.LoadCA(t, filepath.Join(tlsDir, pki.CACertFile), filepath.Join(tlsDir, pki.CAKeyFile), t.TempDir())
	storeCA := testpki.LoadCA(t, storeCAFile, filepath.Join(tlsDir, pki.StoreCAKeyFile), t.TempDir())

	// etcdctl with a's client certificate against c's member (one CA).
	withCert := []string{"--endpoints", tlsURL(ports[3*2+1]), "--cacert", storeCAFile,
		"--cert", filepath.Join(tlsDir, pki.StoreClientCertFile), "--key", filepath.Join(tlsDir, pki.StoreClientKeyFile)}
	out, err := etcdctl(t, append(withCert, "get", "/registry/configmaps/default/", "--prefix", "--keys-only")...)
	if err != nil || !strings.Contains(out, "/registry/configmaps/default/over-tls-peers") {
		t.Errorf("etcdctl with the client certificate: %v\n%s", err, out)
	}
	// Without a certificate, or in plain text: a clean failure, no hang.
	out, err = etcdctl(t, "--endpoints", tlsURL(ports[1]), "--cacert", storeCAFile, "get", "/registry/", "--prefix", "--keys-only")
	if err == nil || strings.Contains(out, "/registry/") {
		t.Errorf("etcdctl without a client certificate read the store: %s", out)
	}
	t.Logf("etcdctl without a client certificate: %v: %s", err, tail(out, 2))
	// In the handshake, the member says why: TLS's "certificate required".
	if err := tlsHandshake("127.0.0.1:"+strconv.Itoa(ports[1]), storeCA, t, nil); err == nil ||
		!strings.Contains(err.Error(), "certificate required") {
		t.Errorf("a client without a certificate: %v, want the TLS alert \"certificate required\"", err)
	}
	out, err = etcdctl(t, "--endpoints", localURL(ports[1]), "get", "/registry/", "--prefix", "--keys-only")
	if err == nil || strings.Contains(out, "/registry/") {
		t.Errorf("etcdctl in plain text read the store: %s", out)
	}

	// The cluster CA opens nothing of the store: the admin's certificate
	// (system:masters), a node agent's, or any other it signs is refused
	// by the client port (etcdctl, and in the handshake) and by the peer
	// port.
	admin := testpki.Pair{CertFile: filepath.Join(tlsDir, pki.AdminCertFile), KeyFile: filepath.Join(tlsDir, pki.AdminKeyFile)}
	node := clusterCA.IssueUser(t, "system:node:n1", false, "system:nodes")
	out, err = etcdctl(t, "--endpoints", tlsURL(ports[1]), "--cacert", storeCAFile, "--cert", admin.CertFile, "--key", admin.KeyFile,
		"get", "/registry/", "--prefix", "--keys-only")
	if err == nil || strings.Contains(out, "/registry/") {
		t.Errorf("etcdctl with the admin's certificate of the cluster CA read the store: %s", out)
	}
	peerAddr := "127.0.0.1:" + strconv.Itoa(ports[2])
	for what, cert := range map[string]*testpki.Pair{"the admin's certificate": &admin, "a node's certificate": &node} {
		for _, addr := range []string{"127.0.0.1:" + strconv.Itoa(ports[1]), "127.0.0.1:" + strconv.Itoa(ports[3*1+1]), peerAddr} {
			if err := tlsHandshake(addr, storeCA, t, cert); err == nil || !strings.Contains(err.Error(), "tls") {
				t.Errorf("%s of the cluster CA at %s: %v, want a TLS refusal", what, addr, err)
			}
		}
	}

	// The peer ports: a certificate of the store CA is let in; another
	// CA's (the cluster CA's too), or none, is refused in the handshake.
	otherCA := testpki.NewCA(t, t.TempDir(), "other-cluster")
	ours := storeCA.Issue(t, "d", "127.0.0.1")
	theirs := otherCA.Issue(t, "d", "127.0.0.1")
	clusters := clusterCA.Issue(t, "d", "127.0.0.1")
	if err := tlsHandshake(peerAddr, storeCA, t, &ours); err != nil {
		t.Errorf("a peer certificate of the store CA: %v", err)
	}
	for what, cert := range map[string]*testpki.Pair{"another CA's certificate": &theirs, "the cluster CA's certificate": &clusters, "no certificate": nil} {
		if err := tlsHandshake(peerAddr, storeCA, t, cert); err == nil || !strings.Contains(err.Error(), "tls") {
			t.Errorf("a peer with %s: %v, want a TLS refusal", what, err)
		}
	}
	// A fourth member with another CA's certificate cannot join: the
	// running members refuse it when it asks for the membership. The same
	// member with a certificate of the cluster CA gets through to the
	// membership (and is told to be added first).
	join := func(pair testpki.Pair, name string) (int, string) {
		d := startProc(t, "store", "--name", "d", "--data-dir", filepath.Join(dir, name),
			"--listen-client-urls", localURL(ports[9]), "--listen-peer-urls", tlsURL(ports[10]),
			"--initial-cluster", strings.Join(append(cluster, "d="+tlsURL(ports[10])), ","), "--initial-cluster-state", "existing",
			"--peer-cert-file", pair.CertFile, "--peer-key-file", pair.KeyFile,
			"--peer-trusted-ca-file", storeCAFile, "--peer-client-cert-auth", "--log-format", "text")
		return d.waitExit(t), d.stderr.String()
	}
	for what, pair := range map[string]testpki.Pair{"another CA": theirs, "the cluster CA": clusters} {
		if code, stderr := join(pair, "d-"+strings.ReplaceAll(what, " ", "-")+".kelson"); code == 0 ||
			!strings.Contains(stderr, "no running member answered") || !strings.Contains(stderr, "tls") {
			t.Errorf("a member with a certificate of %s: exit %d, stderr:\n%s", what, code, tail(stderr, 10))
		}
	}
	if code, stderr := join(ours, "d-ours.kelson"); code == 0 || !strings.Contains(stderr, "add it first") {
		t.Errorf("a member of the store CA, not added: exit %d, stderr:\n%s", code, tail(stderr, 10))
	}

	for _, p := range procs {
		p.stop(t)
	}
}

// TestServerEtcdServersTLS: `kelson server --etcd-servers https://...`
// with kube-apiserver's --etcd-cafile, --etcd-certfile and --etcd-keyfile
// serves the API over a `kelson store` that requires client certificates;
// a missing file is a usage error that names its flag.
func TestServerEtcdServersTLS(t *testing.T) {
	ports := freePorts(t, 4)
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "store-ca")
	member := ca.Issue(t, "member", "127.0.0.1", "localhost")
	apiClient := ca.Issue(t, "kube-apiserver-etcd-client")
	storeURL := tlsURL(ports[0])
	store := startProc(t, "store", "--name", "s", "--data-dir", filepath.Join(dir, "s.kelson"),
		"--listen-client-urls", storeURL, "--listen-peer-urls", localURL(ports[1]),
		"--cert-file", member.CertFile, "--key-file", member.KeyFile, "--trusted-ca-file", ca.CertFile, "--client-cert-auth",
		"--log-format", "text")

	missing := filepath.Join(dir, "missing.crt")
	bad := startProc(t, "server", "--data-dir", filepath.Join(dir, "bad.kelson"), "--https-listen-port", strconv.Itoa(ports[3]),
		"--etcd-servers", storeURL, "--etcd-cafile", missing)
	if code := bad.waitExit(t); code != 2 || !strings.Contains(bad.stderr.String(), "--etcd-cafile: open "+missing) {
		t.Errorf("a missing --etcd-cafile: exit %d, stderr:\n%s", code, tail(bad.stderr.String(), 10))
	}

	srv := startProc(t, "server", "--data-dir", filepath.Join(dir, "api.kelson"), "--https-listen-port", strconv.Itoa(ports[2]),
		"--etcd-servers", storeURL, "--etcd-cafile", ca.CertFile, "--etcd-certfile", apiClient.CertFile, "--etcd-keyfile", apiClient.KeyFile,
		"--log-format", "text")
	kc := srv.waitKubeconfig(t)
	cs := clientFor(t, kc)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "over-tls-store"}}
	testcluster.Eventually(t, serverStartTimeout, func() error {
		_, err := cs.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{})
		return err
	})
	root := ca.Issue(t, "root")
	out, err := etcdctl(t, "--endpoints", storeURL, "--cacert", ca.CertFile, "--cert", root.CertFile, "--key", root.KeyFile,
		"get", "/registry/configmaps/default/over-tls-store", "--keys-only")
	if err != nil || !strings.Contains(out, "/registry/configmaps/default/over-tls-store") {
		t.Errorf("the object in the store: %v\n%s", err, out)
	}
	srv.stop(t)
	store.stop(t)
}
