package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/pki"
	"github.com/kelson-dev/kelson/internal/testbin"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// These tests run the kelson binary as a process, as a user does.

const (
	serverStartTimeout = 60 * time.Second // generous: a busy CI machine
	serverStopTimeout  = 20 * time.Second
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// kelsonBin builds the binary once per test run.
func kelsonBin(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the kelson binary; skipped with -short")
	}
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kelson-server-test-")
		if err != nil {
			binErr = err
			return
		}
		binPath, binErr = testbin.Build(dir)
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// proc is one kelson process; its stdout lines arrive on lines.
type proc struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *syncBuffer
	done   chan struct{}
	err    error
}

// startProc starts kelson with args. A server runs without its node
// agent (--disable-agent added) unless args choose: an agent on the
// test's own network namespace would make a bridge and firewall rules
// there; the agent's tests run servers inside namespaces they made.
func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	if len(args) > 0 && args[0] == "server" && !slices.Contains(args, "--disable-agent") && !slices.Contains(args, "--disable-agent=false") {
		args = append(slices.Clip(args), "--disable-agent")
	}
	return startCmd(t, exec.Command(kelsonBin(t), args...), strings.Join(args, " "))
}

// startCmd starts a kelson command (what names it in the test's log).
func startCmd(t *testing.T, cmd *exec.Cmd, what string) *proc {
	t.Helper()
	p := &proc{cmd: cmd, lines: make(chan string, 100), stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Stderr = p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			default: // nobody reads any more
			}
		}
		io.Copy(io.Discard, out)
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("kelson %s stderr:\n%s", what, tail(p.stderr.String(), 40))
		}
	})
	return p
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitKubeconfig waits for the "export KUBECONFIG=" line a server prints
// once it serves, and returns the path.
func (p *proc) waitKubeconfig(t *testing.T) string {
	t.Helper()
	deadline := time.After(serverStartTimeout)
	for {
		select {
		case l := <-p.lines:
			if path, ok := strings.CutPrefix(strings.TrimSpace(l), "export KUBECONFIG="); ok {
				return path
			}
		case <-p.done:
			t.Fatalf("server exited before serving: %v", p.err)
		case <-deadline:
			t.Fatalf("server printed no kubeconfig within %v", serverStartTimeout)
		}
	}
}

// stop sends SIGTERM and expects a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			t.Fatalf("exit after SIGTERM: %v", p.err)
		}
	case <-time.After(serverStopTimeout):
		t.Fatalf("no exit within %v of SIGTERM", serverStopTimeout)
	}
}

// waitExit waits for a process expected to fail and returns its exit code.
func (p *proc) waitExit(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(serverStartTimeout):
		t.Fatal("process did not exit")
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	return 0
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports, err := testbin.FreePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return ports
}

func localURL(port int) string { return "http://127.0.0.1:" + strconv.Itoa(port) }

// checkAPI talks to the server with client-go through the kubeconfig:
// /version (kubectl's first call) and /healthz, over HTTP/2 with the CA
// verifying the server.
func checkAPI(t *testing.T, kubeconfig string) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Insecure || len(cfg.CAData) == 0 || len(cfg.CertData) == 0 {
		t.Fatalf("kubeconfig's TLS settings: insecure %v, CA %d bytes, cert %d bytes", cfg.Insecure, len(cfg.CAData), len(cfg.CertData))
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(cfg.Host + "/version")
	if err != nil {
		t.Fatalf("GET /version: %v", err)
	}
	var v version.Info
	err = json.NewDecoder(resp.Body).Decode(&v)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || v.GitVersion != "v1.37.2" {
		t.Errorf("GET /version: %s, %v, gitVersion %q, want v1.37.2", resp.Status, err, v.GitVersion)
	}
	resp, err = hc.Get(cfg.Host + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ok" || resp.ProtoMajor != 2 {
		t.Errorf("GET /healthz: %s %s %q, want 200 over HTTP/2 and ok", resp.Proto, resp.Status, body)
	}
	// Without the cluster CA the server is not trusted.
	if _, err := http.Get(cfg.Host + "/healthz"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a client without the cluster CA: %v, want a certificate error", err)
	}
}

func readFiles(t *testing.T, dir string, names ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		out[n] = string(b)
	}
	return out
}

func TestServerServesAPI(t *testing.T) {
	ports := freePorts(t, 3)
	data := filepath.Join(t.TempDir(), "srv.kelson")
	args := []string{"server", "--data-dir", data, "--https-listen-port", strconv.Itoa(ports[0]),
		"--listen-client-urls", localURL(ports[1]), "--listen-peer-urls", localURL(ports[2]),
		"--tls-san", "api.example.test", "--log-format", "text"}
	p := startProc(t, args...)
	kc := p.waitKubeconfig(t)
	if kc != filepath.Join(data, "admin.kubeconfig") {
		t.Errorf("kubeconfig at %s", kc)
	}
	if st, err := os.Stat(kc); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("kubeconfig: %v %v", st, err)
	}
	checkAPI(t, kc)
	t.Run("kubectl", func(t *testing.T) { checkKubectl(t, kc) })

	tlsDir := filepath.Join(data, "tls")
	files := []string{pki.CACertFile, pki.CAKeyFile, pki.ServingCertFile, pki.ServingKeyFile, pki.AdminCertFile, pki.AdminKeyFile}
	before := readFiles(t, tlsDir, files...)
	if _, err := os.Stat(filepath.Join(data, "store", "raft")); err != nil {
		t.Errorf("the member's data is not in DATA_DIR/store: %v", err)
	}
	p.stop(t)

	// A restart reuses every certificate, and the old kubeconfig still works.
	p = startProc(t, args...)
	p.waitKubeconfig(t)
	after := readFiles(t, tlsDir, files...)
	for _, f := range files {
		if before[f] != after[f] {
			t.Errorf("restart rewrote %s", f)
		}
	}
	checkAPI(t, kc)

	// While it runs, a second server on the same port fails clearly.
	ports2 := freePorts(t, 2)
	q := startProc(t, "server", "--data-dir", filepath.Join(t.TempDir(), "other"), "--https-listen-port", strconv.Itoa(ports[0]),
		"--listen-client-urls", localURL(ports2[0]), "--listen-peer-urls", localURL(ports2[1]))
	if code := q.waitExit(t); code == 0 || !strings.Contains(q.stderr.String(), "--https-listen-port") {
		t.Errorf("port in use: exit %d, stderr:\n%s", code, q.stderr.String())
	}
	p.stop(t)
}

// checkKubectl runs `kubectl version` when kubectl is installed. (kubectl
// get waits for the API's resources, which are not served yet.)
func checkKubectl(t *testing.T, kubeconfig string) {
	t.Helper()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not on the PATH: install it to check `kubectl version` against the server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, kubectl, "--kubeconfig", kubeconfig, "version", "-o", "json")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl version: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	var v struct {
		ServerVersion struct{ GitVersion string } `json:"serverVersion"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &v); err != nil || v.ServerVersion.GitVersion != "v1.37.2" {
		t.Errorf("kubectl version: %v, serverVersion %q, want v1.37.2\n%s", err, v.ServerVersion.GitVersion, stdout.String())
	}
}

// TestServerOnEtcdServers: with --etcd-servers the API runs over a store of
// another process, and no member runs here.
func TestServerOnEtcdServers(t *testing.T) {
	ports := freePorts(t, 3)
	dir := t.TempDir()
	store := startProc(t, "store", "--data-dir", filepath.Join(dir, "store.kelson"),
		"--listen-client-urls", localURL(ports[0]), "--listen-peer-urls", localURL(ports[1]), "--log-format", "text")
	srv := startProc(t, "server", "--etcd-servers", localURL(ports[0]), "--data-dir", filepath.Join(dir, "api.kelson"),
		"--https-listen-port", strconv.Itoa(ports[2]), "--log-format", "text")
	checkAPI(t, srv.waitKubeconfig(t))
	if _, err := os.Stat(filepath.Join(dir, "api.kelson", "store")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a member's data dir exists with --etcd-servers: %v", err)
	}
	srv.stop(t)
	store.stop(t)
}

// TestServerStartErrors: what a user can get wrong fails with exit status
// 2 (flags) or 1 (the machine), a message that says what to do, no panic.
func TestServerStartErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	old := filepath.Join(dir, "old.kelson")
	os.MkdirAll(filepath.Join(old, "raft"), 0o700)
	ports := freePorts(t, 4)
	member := []string{"--https-listen-port", strconv.Itoa(ports[0]),
		"--listen-client-urls", localURL(ports[1]), "--listen-peer-urls", localURL(ports[2])}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"server", "--service-cidr", "10.43.0.0/33"}, 2, "--service-cidr"},
		{[]string{"server", "--service-node-port-range", "3-2"}, 2, "--service-node-port-range"},
		{[]string{"server", "--etcd-servers", "http://127.0.0.1:1", "--initial-cluster", "a=http://x:1"}, 2, "--initial-cluster"},
		{append([]string{"server", "--data-dir", filepath.Join(file, "sub")}, member...), 1, "--data-dir"},
		{append([]string{"server", "--data-dir", old}, member...), 1, "kelson store"},
		{[]string{"server", "--data-dir", filepath.Join(dir, "remote"), "--https-listen-port", strconv.Itoa(ports[3]),
			"--etcd-servers", localURL(ports[1])}, 1, "start the store first"},
	} {
		p := startProc(t, c.args...)
		code := p.waitExit(t)
		out := p.stderr.String()
		if code != c.code || !strings.Contains(out, c.want) || strings.Contains(out, "panic") {
			t.Errorf("%q: exit %d, stderr:\n%s\nwant exit %d and a message naming %q", c.args, code, out, c.code, c.want)
		}
	}
	if _, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ports[0])); err == nil {
		t.Error("a failed server left its port open")
	}
}

// TestThreeServers: three servers with the clustering flags of three store
// members form one store, and each serves the API.
// startServers starts one kelson server per name, clustered, and returns
// them with their kubeconfigs and store client URLs once all serve.
func startServers(t *testing.T, names []string, extra ...string) (procs []*proc, kubeconfigs, clientURLs []string) {
	t.Helper()
	ports := freePorts(t, 3*len(names))
	dir := t.TempDir()
	var cluster []string
	for i, name := range names {
		cluster = append(cluster, name+"="+localURL(ports[3*i+2]))
	}
	for i, name := range names {
		args := append([]string{"server", "--name", name, "--data-dir", filepath.Join(dir, name+".kelson"),
			"--https-listen-port", strconv.Itoa(ports[3*i]), "--listen-client-urls", localURL(ports[3*i+1]),
			"--listen-peer-urls", localURL(ports[3*i+2]), "--initial-cluster", strings.Join(cluster, ","), "--log-format", "text"}, extra...)
		procs = append(procs, startProc(t, args...))
		clientURLs = append(clientURLs, localURL(ports[3*i+1]))
	}
	for _, p := range procs {
		kubeconfigs = append(kubeconfigs, p.waitKubeconfig(t))
	}
	return procs, kubeconfigs, clientURLs
}

func TestThreeServers(t *testing.T) {
	procs, kubeconfigs, clientURLs := startServers(t, []string{"a", "b", "c"})
	for _, kc := range kubeconfigs {
		checkAPI(t, kc)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: clientURLs[:1], DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ml, err := cli.MemberList(ctx)
	if err != nil || len(ml.Members) != 3 {
		t.Fatalf("member list: %v, %v", ml, err)
	}
	for _, p := range procs {
		p.stop(t)
	}
}
