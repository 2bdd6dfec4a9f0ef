package stream

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/testcluster"
	"github.com/kelson-dev/kelson/nodeagent/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/util/exec"
)

// agent is a stream Server serving TLS on a loopback port.
type agent struct {
	rt     *fakeRuntime
	root   string
	url    string // https://127.0.0.1:PORT
	port   int
	client *http.Client
}

func startAgent(t *testing.T) *agent {
	t.Helper()
	a := &agent{rt: &fakeRuntime{}, root: t.TempDir()}
	tc, err := SelfSigned("127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Runtime: a.rt, LogRoot: a.root, Logger: testcluster.Logger(), TLS: tc,
		PollInterval: 20 * time.Millisecond, StatusEvery: 2})
	if err != nil {
		t.Fatal(err)
	}
	l := serveOnLoopback(t, srv)
	a.port = l.Addr().(*net.TCPAddr).Port
	a.url = "https://" + l.Addr().String()
	a.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	return a
}

func (a *agent) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := a.client.Get(a.url + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

func TestNewChecksConfig(t *testing.T) {
	if _, err := New(Config{LogRoot: "/x"}); !errors.Is(err, ErrBadConfig) {
		t.Errorf("no runtime: %v", err)
	}
	if _, err := New(Config{Runtime: &fakeRuntime{}}); !errors.Is(err, ErrBadConfig) {
		t.Errorf("no log root: %v", err)
	}
}

func TestLogs(t *testing.T) {
	a := startAgent(t)
	t0 := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	old := instance(a.root, "default", "web", "u1", "httpd", 0, runtime.StateExited, t0)
	cur := instance(a.root, "default", "web", "u1", "httpd", 1, runtime.StateRunning, t0.Add(time.Minute))
	side := instance(a.root, "default", "web", "u1", "sidecar", 0, runtime.StateRunning, t0)
	side.LogPath = "" // found through LogRoot
	for _, c := range []runtime.ContainerStatus{old, cur, side} {
		a.rt.add(c)
	}
	newLogWriter(t, old.LogPath, t0).write("stdout F old line")
	w := newLogWriter(t, cur.LogPath, t0.Add(time.Minute))
	w.write("stdout F one", "stdout P tw", "stderr F err", "stdout F o", "stdout F three")
	newLogWriter(t, runtime.LogPath(a.root, "default", "web", "u1", "sidecar", 0), t0).write("stdout F side")

	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{"/healthz", 200, "ok"},
		{"/containerLogs/default/web/httpd", 200, "one\nerr\ntwo\nthree\n"},
		{"/containerLogs/default/web/httpd?previous=true", 200, "old line\n"},
		{"/containerLogs/default/web/httpd?tailLines=2", 200, "two\nthree\n"},
		{"/containerLogs/default/web/httpd?limitBytes=6", 200, "one\ner"},
		{"/containerLogs/default/web/httpd?previous=1&timestamps=true", 200, "2024-05-01T10:00:00.001000000Z old line\n"},
		{"/containerLogs/default/web/httpd?sinceTime=2024-05-01T10:01:00Z&tailLines=1", 200, "three\n"},
		{"/containerLogs/default/web/httpd?sinceTime=2024-05-01T11:00:00Z", 200, ""},
		{"/containerLogs/default/web/sidecar", 200, "side\n"},
		{"/containerLogs/default/web/sidecar?previous=true", 400, "previous terminated container \"sidecar\" in pod \"web\" not found\n"},
		{"/containerLogs/default/web/nope", 404, "container \"nope\" in pod \"web\" not found (not started yet, or not a container of this pod)\n"},
		{"/containerLogs/default/gone/httpd", 404, "pod \"gone\" in namespace \"default\" has no containers on this node (not scheduled here, or not started yet)\n"},
		{"/containerLogs/default/web/httpd?tailLines=-3", 400, "tailLines \"-3\": must be an integer greater than or equal to 0\n"},
		{"/containerLogs/default/web", 400, "the path must be /<prefix>/<namespace>/<pod>/<container>\n"},
		{"/attach/default/web/httpd", 400, "attach is not supported yet by the Kelson agent: use exec\n"},
	} {
		code, body := a.get(t, tc.path)
		if code != tc.code || body != tc.body {
			t.Errorf("GET %s: %d %q, want %d %q", tc.path, code, body, tc.code, tc.body)
		}
	}
	if code, body := a.get(t, "/nothing"); code != 404 || !strings.Contains(body, "/containerLogs/") {
		t.Errorf("GET /nothing: %d %q", code, body)
	}
}

// TestLogsFollow follows an instance whose log file appears after the
// request, gets lines as they are written, and ends when the instance
// exits (with the partial line it left).
func TestLogsFollow(t *testing.T) {
	a := startAgent(t)
	t0 := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	c := instance(a.root, "default", "web", "u1", "httpd", 0, runtime.StateCreated, t0)
	a.rt.add(c)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", a.url+"/containerLogs/default/web/httpd?follow=true", nil)
	resp, err := a.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	br := bufio.NewReader(resp.Body)
	readLine := func() string {
		t.Helper()
		s, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the followed log: %v (got %q)", err, s)
		}
		return s
	}
	a.rt.setState(c.ID, runtime.StateRunning)
	w := newLogWriter(t, c.LogPath, t0) // the file appears now
	w.write("stdout F first")
	if got := readLine(); got != "first\n" {
		t.Fatalf("got %q", got)
	}
	w.write("stdout F second", "stdout P unfini")
	if got := readLine(); got != "second\n" {
		t.Fatalf("got %q", got)
	}
	w.write("stdout F shed")
	if got := readLine(); got != "unfinished\n" {
		t.Fatalf("got %q", got)
	}
	w.write("stderr P left over")
	a.rt.setState(c.ID, runtime.StateExited)
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "left over\n" {
		t.Fatalf("after exit: %q, %v", rest, err)
	}
}

// TestLogsFollowClientGoes: the follow of a running instance ends when
// the client goes away (the server shuts down cleanly in Cleanup).
func TestLogsFollowClientGoes(t *testing.T) {
	a := startAgent(t)
	c := instance(a.root, "default", "web", "u1", "httpd", 0, runtime.StateRunning, time.Now())
	a.rt.add(c)
	newLogWriter(t, c.LogPath, time.Now()).write("stdout F hi")
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", a.url+"/containerLogs/default/web/httpd?follow=1&tailLines=5", nil)
	resp, err := a.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if line != "hi\n" || err != nil {
		t.Fatalf("got %q, %v", line, err)
	}
	cancel()
	resp.Body.Close()
}

// execute runs a command through client-go's WebSocket executor for
// protocol, the one kubectl uses, or its SPDY executor ("spdy").
func (a *agent) execute(t *testing.T, ctx context.Context, protocol, path string, q url.Values, stdin io.Reader, tty bool, sizes remotecommand.TerminalSizeQueue) (string, string, error) {
	t.Helper()
	cfg := &rest.Config{Host: a.url, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
	u := a.url + path + "?" + q.Encode()
	var ex remotecommand.Executor
	var err error
	if protocol == "spdy" {
		pu, _ := url.Parse(u)
		ex, err = remotecommand.NewSPDYExecutor(cfg, "POST", pu)
	} else {
		ex, err = remotecommand.NewWebSocketExecutorForProtocols(cfg, "GET", u, protocol)
	}
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	opts := remotecommand.StreamOptions{Stdin: stdin, Stdout: &out, Tty: tty, TerminalSizeQueue: sizes}
	if !tty {
		opts.Stderr = &errb
	}
	err = ex.StreamWithContext(ctx, opts)
	if ctx.Err() != nil {
		return "", "", err // the executor's copies may still run: leave the buffers
	}
	return out.String(), errb.String(), err
}

func execQuery(stdin, tty bool, command ...string) url.Values {
	q := url.Values{"command": command, "stdout": {"true"}}
	if !tty {
		q.Set("stderr", "true")
	}
	if stdin {
		q.Set("stdin", "true")
	}
	if tty {
		q.Set("tty", "true")
	}
	return q
}

type sizeQueue chan *remotecommand.TerminalSize

func (q sizeQueue) Next() *remotecommand.TerminalSize { return <-q }

func TestExec(t *testing.T) {
	a := startAgent(t)
	a.rt.add(instance(a.root, "default", "web", "u1", "httpd", 0, runtime.StateRunning, time.Now()))
	a.rt.add(instance(a.root, "default", "done", "u2", "job", 0, runtime.StateExited, time.Now()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const path = "/exec/default/web/httpd"
	for _, proto := range []string{"v5.channel.k8s.io", "v4.channel.k8s.io", "spdy"} {
		out, _, err := a.execute(t, ctx, proto, path, execQuery(false, false, "echo", "hello", "world"), nil, false, nil)
		if err != nil || out != "hello world\n" {
			t.Errorf("%s echo: %q, %v", proto, out, err)
		}
		_, errOut, err := a.execute(t, ctx, proto, path, execQuery(false, false, "err", "oops"), nil, false, nil)
		if err != nil || errOut != "oops\n" {
			t.Errorf("%s stderr: %q, %v", proto, errOut, err)
		}
		_, _, err = a.execute(t, ctx, proto, path, execQuery(false, false, "exit", "3"), nil, false, nil)
		var ee exec.CodeExitError
		if !errors.As(err, &ee) || ee.Code != 3 {
			t.Errorf("%s exit 3: %v (%T)", proto, err, err)
		}
		_, _, err = a.execute(t, ctx, proto, path, execQuery(false, false, "fail"), nil, false, nil)
		if err == nil || !strings.Contains(err.Error(), "no such binary") {
			t.Errorf("%s fail: %v", proto, err)
		}
	}
	for _, proto := range []string{"v5.channel.k8s.io", "spdy"} {
		// v5 (and SPDY) close stdin at its end, so cat ends.
		in := strings.Repeat("a line of stdin\n", 5000)
		out, _, err := a.execute(t, ctx, proto, path, execQuery(true, false, "cat"), strings.NewReader(in), false, nil)
		if err != nil || out != in {
			t.Errorf("%s cat: %d bytes back of %d, %v", proto, len(out), len(in), err)
		}
		// A TTY session gets the terminal's size.
		sizes := make(sizeQueue, 1)
		sizes <- &remotecommand.TerminalSize{Width: 120, Height: 40}
		out, _, err = a.execute(t, ctx, proto, path, execQuery(false, true, "size"), nil, true, sizes)
		if err != nil || out != "120x40\n" {
			t.Errorf("%s size: %q, %v", proto, out, err)
		}
		close(sizes)
	}

	// Errors before the upgrade.
	for _, tc := range []struct {
		path string
		q    url.Values
		want string
	}{
		{"/exec/default/done/job", execQuery(false, false, "echo"), `container "job" in pod "done" is not running (Exited)`},
		{"/exec/default/web/nope", execQuery(false, false, "echo"), `container "nope" in pod "web" not found`},
		{path, url.Values{"stdout": {"1"}}, "at least one command"},
	} {
		_, _, err := a.execute(t, ctx, "v5.channel.k8s.io", tc.path, tc.q, nil, false, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s?%s: %v, want %q", tc.path, tc.q.Encode(), err, tc.want)
		}
	}
	resp, err := a.client.Post(a.url+path+"?command=echo&stdout=1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "exec needs a connection upgrade") {
		t.Errorf("SPDY/plain POST: %d %q", resp.StatusCode, body)
	}
}

// TestExecClientGoes: when the client goes away, the command's context
// ends.
func TestExecClientGoes(t *testing.T) {
	for _, proto := range []string{"v5.channel.k8s.io", "spdy"} {
		t.Run(proto, func(t *testing.T) {
			a := startAgent(t)
			a.rt.add(instance(a.root, "default", "web", "u1", "httpd", 0, runtime.StateRunning, time.Now()))
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() {
				_, _, err := a.execute(t, ctx, proto, "/exec/default/web/httpd", execQuery(false, false, "sleep"), nil, false, nil)
				errc <- err
			}()
			testcluster.Eventually(t, 30*time.Second, func() error {
				a.rt.mu.Lock()
				defer a.rt.mu.Unlock()
				if a.rt.execs == 0 {
					return errors.New("the exec has not started")
				}
				return nil
			})
			cancel()
			<-errc
			testcluster.Eventually(t, 30*time.Second, func() error {
				a.rt.mu.Lock()
				defer a.rt.mu.Unlock()
				if a.rt.cancel == 0 {
					return errors.New("the command still runs after the client left")
				}
				return nil
			})
		})
	}
}

// serveOnLoopback serves srv on a free loopback port until the test ends
// (a Serve error fails it) and returns the listener.
func serveOnLoopback(t *testing.T, srv *Server) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return l
}
