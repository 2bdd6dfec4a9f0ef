package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/testbin"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Deadlines of liveness waits. They are generous on purpose: a busy CI
// machine (two cores, the race detector on in the test process, other
// packages testing in parallel) must not turn them into failures.
const (
	startTimeout  = 30 * time.Second // a member answers Status
	leaderTimeout = 30 * time.Second // a cluster has an agreed leader
	stopTimeout   = 20 * time.Second // a member exits after SIGTERM
	rpcTimeout    = 10 * time.Second // one client call that should succeed
	logTailLines  = 60               // lines of each member log printed on failure
)

// member is one `kelson store` process: its command line, data directory
// and log file stay the same across restarts.
type member struct {
	t         testing.TB
	Name      string
	ClientURL string // http://127.0.0.1:port (https:// with clusterOptions.https)
	PeerURL   string
	// clientTLS is the TLS configuration of this test's clients of the
	// member (nil: plain text).
	clientTLS *tls.Config
	DataDir   string
	Args      []string // arguments after the binary path
	LogPath   string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when the current process has exited
	exitErr error         // the current process's Wait error, once done
	starts  int
	cli     *clientv3.Client
	cleanup bool
}

// Endpoint is the member's client address as etcdctl takes it.
func (m *member) Endpoint() string {
	return strings.TrimPrefix(strings.TrimPrefix(m.ClientURL, "http://"), "https://")
}

// Start starts the process with m.Args; it does not wait for it to serve.
func (m *member) Start() {
	m.t.Helper()
	if err := m.start(); err != nil {
		m.t.Fatalf("start member %s: %v", m.Name, err)
	}
}

func (m *member) start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil && !isDone(m.done) {
		return fmt.Errorf("member %s is already running (pid %d)", m.Name, m.cmd.Process.Pid)
	}
	if !m.cleanup {
		m.cleanup = true
		m.t.Cleanup(m.finish)
	}
	logf, err := os.OpenFile(m.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	m.starts++
	fmt.Fprintf(logf, "=== e2e: start #%d: kelson %s\n", m.starts, strings.Join(m.Args, " "))
	cmd := exec.Command(kelsonBin, m.Args...)
	var out io.Writer = logf
	if *verboseFlag {
		out = io.MultiWriter(logf, prefixWriter{w: os.Stderr, prefix: "[" + m.Name + "] "})
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	done := make(chan struct{})
	m.cmd, m.done, m.exitErr = cmd, done, nil
	go func() {
		err := cmd.Wait()
		logf.Close()
		m.mu.Lock()
		m.exitErr = err
		m.mu.Unlock()
		close(done)
	}()
	return nil
}

// running reports whether the member's process is alive (as far as Wait
// has noticed), and its done channel.
func (m *member) running() (bool, chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cmd != nil && !isDone(m.done), m.done
}

func isDone(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Kill sends SIGKILL and waits for the process to exit.
func (m *member) Kill() {
	m.t.Helper()
	m.signalAndWait(syscall.SIGKILL, stopTimeout)
}

// Term sends SIGTERM (a graceful stop) and waits for the process to exit;
// the test fails if it does not exit in time or exits with an error.
func (m *member) Term() {
	m.t.Helper()
	if err := m.signalAndWait(syscall.SIGTERM, stopTimeout); err != nil {
		m.t.Errorf("member %s: exit after SIGTERM: %v (want a clean exit)", m.Name, err)
	}
}

func (m *member) signalAndWait(sig syscall.Signal, timeout time.Duration) error {
	m.t.Helper()
	m.mu.Lock()
	cmd, done := m.cmd, m.done
	m.mu.Unlock()
	if cmd == nil || isDone(done) {
		return nil
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		m.t.Errorf("member %s did not exit within %v of %v; killed it", m.Name, timeout, sig)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.exitErr
}

// Restart starts the member again with the same command line and data
// directory, and waits until it answers.
func (m *member) Restart() {
	m.t.Helper()
	m.Start()
	m.WaitServing()
}

// WaitServing waits until the member answers a Status call. It fails the
// test at once if the process exits meanwhile.
func (m *member) WaitServing() {
	m.t.Helper()
	if err := m.waitServing(); err != nil {
		m.t.Fatal(err)
	}
}

func (m *member) waitServing() error {
	_, done := m.running()
	deadline := time.Now().Add(startTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		if done == nil || isDone(done) {
			m.mu.Lock()
			err := m.exitErr
			m.mu.Unlock()
			return fmt.Errorf("member %s exited before serving (%v); see its log %s", m.Name, err, m.LogPath)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := m.Client().Status(ctx, m.ClientURL)
		cancel()
		if err == nil || isAuthRefusal(err) {
			return nil // with auth on, an anonymous Status is refused: it answers
		}
		lastErr = err
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("member %s does not answer Status after %v: %v", m.Name, startTimeout, lastErr)
}

// Status asks this member for its status, with a short deadline.
func (m *member) Status() (*clientv3.StatusResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return m.Client().Status(ctx, m.ClientURL)
}

// Client is a client of this member only (closed when the test ends).
func (m *member) Client() *clientv3.Client {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cli == nil {
		m.cli = newTLSClient(m.t, m.clientTLS, m.ClientURL)
	}
	return m.cli
}

// finish kills the process and, if the test failed, prints its log's tail.
func (m *member) finish() {
	m.mu.Lock()
	cmd, done := m.cmd, m.done
	m.mu.Unlock()
	if cmd != nil && !isDone(done) {
		_ = cmd.Process.Kill()
		<-done
	}
	if m.t.Failed() {
		m.t.Logf("--- last %d lines of %s (%s):\n%s", logTailLines, m.Name, m.LogPath, tail(m.LogPath, logTailLines))
	}
}

// Log returns the member's whole log (all of its runs).
func (m *member) Log() string {
	b, _ := os.ReadFile(m.LogPath)
	return string(b)
}

// LastRunLog returns the log of the member's current (or last) run.
func (m *member) LastRunLog() string {
	s := m.Log()
	if i := strings.LastIndex(s, "=== e2e: start #"); i >= 0 {
		return s[i:]
	}
	return s
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// prefixWriter prefixes each write (member logs are written a line at a
// time) with the member's name.
type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p prefixWriter) Write(b []byte) (int, error) {
	_, err := p.w.Write(append([]byte(p.prefix), b...))
	return len(b), err
}

// newClient is an etcd client of the given endpoints that logs nothing and
// is closed when the test ends.
func newClient(t testing.TB, endpoints ...string) *clientv3.Client {
	t.Helper()
	return newTLSClient(t, nil, endpoints...)
}

// newTLSClient is newClient over TLS with cfg (nil: plain text).
func newTLSClient(t testing.TB, cfg *tls.Config, endpoints ...string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		TLS:                  cfg,
		Endpoints:            endpoints,
		DialTimeout:          5 * time.Second,
		DialKeepAliveTime:    2 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		Logger:               zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("client of %v: %v", endpoints, err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// cluster is a set of members started together with one --initial-cluster.
type cluster struct {
	t       testing.TB
	Members []*member
}

// clusterOptions are the flags the tests tune; every member gets them.
type clusterOptions struct {
	size  int
	extra []string // more `kelson store` flags, e.g. --snapshot-count
	// restoreFrom, if set, is a snapshot file: before its first start each
	// member's data dir is made with `kelson snapshot restore` and the
	// member's own flags (token "restored-cluster").
	restoreFrom string
	// https makes the client and peer URLs https:// (give the TLS flags in
	// extra); clientTLS is then what the test's clients use.
	https     bool
	clientTLS *tls.Config
}

// newCluster starts size members on free loopback ports and waits until
// they agree on a leader. Ports are picked by binding :0 and closing, so
// another process may take one before the member binds it; a start that
// fails with "address already in use" is retried with fresh ports.
func newCluster(t testing.TB, opts clusterOptions) *cluster {
	t.Helper()
	base := t.TempDir()
	for attempt := 1; ; attempt++ {
		c, err := startCluster(t, filepath.Join(base, fmt.Sprintf("try%d", attempt)), opts)
		if err == nil {
			c.WaitLeader(nil)
			return c
		}
		if attempt < 3 && errors.Is(err, errPortTaken) {
			t.Logf("attempt %d: %v; retrying with other ports", attempt, err)
			continue
		}
		t.Fatal(err)
	}
}

var errPortTaken = errors.New("a port was taken before the member bound it")

func startCluster(t testing.TB, dir string, opts clusterOptions) (*cluster, error) {
	ports, err := testbin.FreePorts(2 * opts.size)
	if err != nil {
		return nil, err
	}
	c := &cluster{t: t}
	var initial []string
	scheme := "http"
	if opts.https {
		scheme = "https"
	}
	for i := 0; i < opts.size; i++ {
		name := string(rune('a' + i))
		m := &member{
			t:         t,
			Name:      name,
			ClientURL: fmt.Sprintf("%s://127.0.0.1:%d", scheme, ports[2*i]),
			PeerURL:   fmt.Sprintf("%s://127.0.0.1:%d", scheme, ports[2*i+1]),
			clientTLS: opts.clientTLS,
			DataDir:   filepath.Join(dir, name+".kelson"),
			LogPath:   filepath.Join(dir, name+".log"),
		}
		initial = append(initial, m.Name+"="+m.PeerURL)
		c.Members = append(c.Members, m)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for _, m := range c.Members {
		m.Args = append([]string{"store",
			"--name", m.Name,
			"--data-dir", m.DataDir,
			"--listen-client-urls", m.ClientURL, "--advertise-client-urls", m.ClientURL,
			"--listen-peer-urls", m.PeerURL, "--initial-advertise-peer-urls", m.PeerURL,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new",
			"--log-format", "text",
		}, opts.extra...)
		if opts.restoreFrom != "" {
			if err := restoreMember(m, opts.restoreFrom, strings.Join(initial, ",")); err != nil {
				return nil, err
			}
		}
		if err := m.start(); err != nil {
			return nil, err
		}
	}
	for _, m := range c.Members {
		if err := m.waitServing(); err != nil {
			if strings.Contains(m.Log(), "address already in use") {
				for _, m := range c.Members {
					m.signalAndWait(syscall.SIGKILL, stopTimeout)
				}
				return nil, fmt.Errorf("%w: %v", errPortTaken, err)
			}
			return nil, err
		}
	}
	return c, nil
}

// restoreMember runs `kelson snapshot restore` for m.
func restoreMember(m *member, file, initialCluster string) error {
	cmd := exec.Command(kelsonBin, "snapshot", "restore", file,
		"--name", m.Name, "--data-dir", m.DataDir,
		"--initial-cluster", initialCluster, "--initial-cluster-token", "restored-cluster",
		"--initial-advertise-peer-urls", m.PeerURL)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v\n%s", cmd, err, out)
	}
	return nil
}

// Endpoints are the members' client URLs.
func (c *cluster) Endpoints() []string {
	var eps []string
	for _, m := range c.Members {
		eps = append(eps, m.ClientURL)
	}
	return eps
}

// EtcdctlEndpoints is --endpoints for etcdctl: host:port of every member.
func (c *cluster) EtcdctlEndpoints() string {
	var eps []string
	for _, m := range c.Members {
		eps = append(eps, m.Endpoint())
	}
	return strings.Join(eps, ",")
}

// Client is a client of all members.
func (c *cluster) Client() *clientv3.Client {
	c.t.Helper()
	return newTLSClient(c.t, c.Members[0].clientTLS, c.Endpoints()...)
}

// WaitLeader waits until every member of among (nil: all members) answers
// Status naming the same leader, which is one of among and says so itself.
// It returns the leader.
func (c *cluster) WaitLeader(among []*member) *member {
	c.t.Helper()
	if among == nil {
		among = c.Members
	}
	deadline := time.Now().Add(leaderTimeout)
	var last string
	for time.Now().Before(deadline) {
		leader, why := agreedLeader(among)
		if leader != nil {
			return leader
		}
		last = why
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("no agreed leader among %s after %v: %s", names(among), leaderTimeout, last)
	return nil
}

// agreedLeader returns the member of among that all of among name as
// leader, or nil and why not.
func agreedLeader(among []*member) (*member, string) {
	var leaderID uint64
	var leader *member
	for _, m := range among {
		st, err := m.Status()
		if err != nil {
			return nil, fmt.Sprintf("%s: %v", m.Name, err)
		}
		if st.Leader == 0 {
			return nil, fmt.Sprintf("%s has no leader", m.Name)
		}
		if leaderID != 0 && st.Leader != leaderID {
			return nil, fmt.Sprintf("%s says leader %x, another says %x", m.Name, st.Leader, leaderID)
		}
		leaderID = st.Leader
		if st.Header.MemberId == st.Leader {
			leader = m
		}
	}
	if leader == nil {
		return nil, fmt.Sprintf("leader %x is not among %s", leaderID, names(among))
	}
	return leader, ""
}

// Leader returns the current leader (waiting for one).
func (c *cluster) Leader() *member { return c.WaitLeader(nil) }

// Others returns the members other than m.
func (c *cluster) Others(m *member) []*member {
	var out []*member
	for _, o := range c.Members {
		if o != m {
			out = append(out, o)
		}
	}
	return out
}

func names(ms []*member) string {
	var s []string
	for _, m := range ms {
		s = append(s, m.Name)
	}
	return "[" + strings.Join(s, " ") + "]"
}

// memberID returns m's raft member ID as Status reports it (retrying
// for a while: a busy member may be slow to answer).
func memberID(t testing.TB, m *member) uint64 {
	t.Helper()
	deadline := time.Now().Add(rpcTimeout)
	for {
		st, err := m.Status()
		if err == nil {
			return st.Header.MemberId
		}
		if time.Now().After(deadline) {
			t.Fatalf("status of %s: %v", m.Name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// bgProcess is a long-running child (etcdctl watch, lock, elect) whose
// stdout is read line by line.
type bgProcess struct {
	t     testing.TB
	name  string
	cmd   *exec.Cmd
	lines chan string
	done  chan struct{}
	mu    sync.Mutex
	out   bytes.Buffer // everything read so far, for failure messages
	err   error        // Wait's error once done
}

// startBackground starts cmd and reads its stdout. The process is killed
// when the test ends.
func startBackground(t testing.TB, name string, cmd *exec.Cmd) *bgProcess {
	t.Helper()
	p := &bgProcess{t: t, name: name, cmd: cmd, lines: make(chan string, 1024), done: make(chan struct{})}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			p.lines <- sc.Text()
		}
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		if stderr.Len() > 0 {
			p.out.WriteString("[stderr] " + stderr.String())
		}
		p.mu.Unlock()
		close(p.lines)
		close(p.done)
	}()
	t.Cleanup(func() {
		if !isDone(p.done) {
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("--- output of %s (%s):\n%s", name, cmd, p.Output())
		}
	})
	return p
}

// Output is everything the process printed so far.
func (p *bgProcess) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// NextLine returns the next line of output; the test fails if none comes
// within the timeout or the process ends first.
func (p *bgProcess) NextLine(timeout time.Duration) string {
	p.t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			p.t.Fatalf("%s ended (%v) before printing the expected line; output:\n%s", p.name, p.exitErr(), p.Output())
		}
		return l
	case <-time.After(timeout):
		p.t.Fatalf("%s printed no line within %v; output so far:\n%s", p.name, timeout, p.Output())
	}
	return ""
}

// Signal sends sig to the process.
func (p *bgProcess) Signal(sig os.Signal) { _ = p.cmd.Process.Signal(sig) }

// Wait waits for the process to exit and returns its exit error.
func (p *bgProcess) Wait(timeout time.Duration) error {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("%s did not exit within %v; output:\n%s", p.name, timeout, p.Output())
	}
	return p.exitErr()
}

func (p *bgProcess) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// isAuthRefusal reports etcd's answer to a call without credentials while
// auth is enabled: the member is serving.
func isAuthRefusal(err error) bool {
	return err != nil && strings.Contains(err.Error(), "user name is empty")
}
