package apiserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/websocket"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/util/exec"
)

func TestPodContainer(t *testing.T) {
	pod := func(annot string, inits []string, names ...string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}}
		if annot != "" {
			p.Annotations = map[string]string{defaultContainerAnnotation: annot}
		}
		for _, n := range names {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: n})
		}
		for _, n := range inits {
			p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: n})
		}
		return p
	}
	for _, tc := range []struct {
		name    string
		pod     *corev1.Pod
		ask     string
		want    string
		wantErr string
	}{
		{"only container", pod("", nil, "httpd"), "", "httpd", ""},
		{"named", pod("", nil, "a", "b"), "b", "b", ""},
		{"named init", pod("", []string{"setup"}, "a", "b"), "setup", "setup", ""},
		{"annotation", pod("b", nil, "a", "b"), "", "b", ""},
		{"annotation naming nothing", pod("zz", nil, "a", "b"), "", "", "a container name must be specified for pod web, choose one of: [a b]"},
		{"must choose", pod("", nil, "a", "b"), "", "", "a container name must be specified for pod web, choose one of: [a b]"},
		{"must choose, with inits", pod("", []string{"setup"}, "a", "b"), "", "",
			"a container name must be specified for pod web, choose one of: [a b] or one of the init containers: [setup]"},
		{"not in pod", pod("", nil, "a"), "nope", "", "container nope is not valid for pod web"},
		{"no containers", pod("", nil), "", "", "pod web does not have a container"},
	} {
		got, err := podContainer(tc.pod, tc.ask)
		if tc.wantErr != "" {
			if !apierrors.IsBadRequest(err) || err.Error() != tc.wantErr {
				t.Errorf("%s: err %v, want 400 %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

func TestAgentURL(t *testing.T) {
	node := func(port int32, addrs ...corev1.NodeAddress) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
		n.Status.Addresses = addrs
		n.Status.DaemonEndpoints.KubeletEndpoint.Port = port
		return n
	}
	in := func(t corev1.NodeAddressType, a string) corev1.NodeAddress {
		return corev1.NodeAddress{Type: t, Address: a}
	}
	for _, tc := range []struct {
		node *corev1.Node
		want string
	}{
		{node(10250, in(corev1.NodeHostName, "n1"), in(corev1.NodeInternalIP, "10.0.0.1")), "https://10.0.0.1:10250"},
		{node(0, in(corev1.NodeInternalIP, "10.0.0.1")), "https://10.0.0.1:10250"},
		{node(4321, in(corev1.NodeExternalIP, "192.0.2.1"), in(corev1.NodeInternalIP, "10.0.0.1")), "https://10.0.0.1:4321"},
		{node(4321, in(corev1.NodeExternalIP, "192.0.2.1")), "https://192.0.2.1:4321"},
		{node(4321, in(corev1.NodeInternalIP, "fd00::1")), "https://[fd00::1]:4321"},
		{node(4321, in(corev1.NodeInternalIP, "not-an-ip")), ""},
		{node(4321, in(corev1.NodeHostName, "n1")), ""},
	} {
		got, err := agentURL(tc.node)
		if tc.want == "" {
			if !apierrors.IsServiceUnavailable(err) {
				t.Errorf("%v: %q, %v; want 503", tc.node.Status.Addresses, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%v: %q, %v; want %q", tc.node.Status.Addresses, got, err, tc.want)
		}
	}
}

// fakeAgent is a TLS server standing in for a node agent: logs answer
// from a script, exec echoes stdin over the v5 WebSocket protocol.
type fakeAgent struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
	more chan string // follow: lines sent after the first
}

func startFakeAgent(t *testing.T) *fakeAgent { return startFakeAgentTLS(t, nil) }

// startFakeAgentTLS is startFakeAgent serving tc (nil: httptest's
// self-signed certificate, no client authentication).
func startFakeAgentTLS(t *testing.T, tc *tls.Config) *fakeAgent {
	a := &fakeAgent{more: make(chan string, 10)}
	mux := http.NewServeMux()
	mux.HandleFunc("/containerLogs/", func(w http.ResponseWriter, r *http.Request) {
		a.record(r)
		switch r.URL.Path {
		case "/containerLogs/default/web/bad":
			http.Error(w, `previous terminated container "bad" in pod "web" not found`, http.StatusBadRequest)
			return
		case "/containerLogs/default/web/status":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
				Status: metav1.StatusFailure, Code: 404, Reason: metav1.StatusReasonNotFound, Message: "no such container here"})
			return
		}
		w.Write([]byte("line 1\n"))
		if r.URL.Query().Get("follow") != "true" {
			return
		}
		w.(http.Flusher).Flush()
		for {
			select {
			case l, ok := <-a.more:
				if !ok {
					return
				}
				w.Write([]byte(l))
				w.(http.Flusher).Flush()
			case <-r.Context().Done():
				return
			}
		}
	})
	ws := websocket.Server{
		Handshake: func(c *websocket.Config, r *http.Request) error {
			for _, p := range c.Protocol {
				if p == "v5.channel.k8s.io" {
					c.Protocol = []string{p}
					return nil
				}
			}
			return fmt.Errorf("no v5 in %v", c.Protocol)
		},
		Handler: func(c *websocket.Conn) {
			defer c.Close()
			code, _ := strconv.Atoi(c.Request().URL.Query().Get("command"))
			for {
				var msg []byte
				if err := websocket.Message.Receive(c, &msg); err != nil {
					return
				}
				if len(msg) == 2 && msg[0] == 255 && msg[1] == 0 { // stdin closed
					break
				}
				if len(msg) > 0 && msg[0] == 0 {
					websocket.Message.Send(c, append([]byte{1}, msg[1:]...))
				}
			}
			st := metav1.Status{Status: metav1.StatusSuccess}
			if code != 0 {
				st = metav1.Status{Status: metav1.StatusFailure, Reason: "NonZeroExitCode",
					Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: "ExitCode", Message: strconv.Itoa(code)}}}}
			}
			b, _ := json.Marshal(st)
			websocket.Message.Send(c, append([]byte{3}, b...))
		},
	}
	mux.HandleFunc("/exec/", func(w http.ResponseWriter, r *http.Request) {
		a.record(r)
		if r.URL.Path == "/exec/default/web/gone" {
			http.Error(w, `container "gone" in pod "web" is not running (Exited): exec needs a running container`, http.StatusBadRequest)
			return
		}
		ws.ServeHTTP(w, r)
	})
	a.srv = httptest.NewUnstartedServer(mux)
	if tc != nil {
		a.srv.TLS = tc
		a.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point
	}
	a.srv.StartTLS()
	t.Cleanup(a.srv.Close)
	return a
}

func (a *fakeAgent) record(r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reqs = append(a.reqs, r.Clone(context.Background()))
}

func (a *fakeAgent) last() *http.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.reqs) == 0 {
		return nil
	}
	return a.reqs[len(a.reqs)-1]
}

func (a *fakeAgent) port() int32 {
	_, p, _ := net.SplitHostPort(a.srv.Listener.Addr().String())
	n, _ := strconv.Atoi(p)
	return int32(n)
}

// createNode makes a Node whose agent is at 127.0.0.1:port.
func createNode(t *testing.T, ts *testServer, name string, port int32, addrs ...corev1.NodeAddress) {
	t.Helper()
	ctx := context.Background()
	n, err := ts.client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if addrs == nil {
		addrs = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	}
	n.Status.Addresses = addrs
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = port
	if _, err := ts.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func createPod(t *testing.T, ts *testServer, name, node string, annot map[string]string, containers ...string) {
	t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annot}, Spec: corev1.PodSpec{NodeName: node}}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: "httpd"})
	}
	if _, err := ts.client.CoreV1().Pods("default").Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestPodLogProxy(t *testing.T) {
	ts := newTestServer(t, startMember(t))
	a := startFakeAgent(t)
	createNode(t, ts, "n1", a.port())
	createNode(t, ts, "noaddr", a.port(), corev1.NodeAddress{Type: corev1.NodeHostName, Address: "noaddr"})
	createNode(t, ts, "down", 1) // nothing listens on 127.0.0.1:1
	createPod(t, ts, "web", "n1", nil, "httpd", "bad", "status")
	createPod(t, ts, "one", "n1", nil, "only")
	createPod(t, ts, "pending", "", nil, "httpd")
	createPod(t, ts, "orphan", "nonode", nil, "httpd")
	createPod(t, ts, "lost", "noaddr", nil, "httpd")
	createPod(t, ts, "unreachable", "down", nil, "httpd")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	logs := func(pod string, o *corev1.PodLogOptions) (string, error) {
		rc, err := ts.client.CoreV1().Pods("default").GetLogs(pod, o).Stream(ctx)
		if err != nil {
			return "", err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		return string(b), err
	}

	tail := int64(3)
	out, err := logs("web", &corev1.PodLogOptions{Container: "httpd", TailLines: &tail, Timestamps: true, Previous: true})
	if err != nil || out != "line 1\n" {
		t.Fatalf("logs: %q, %v", out, err)
	}
	r := a.last()
	if r.URL.Path != "/containerLogs/default/web/httpd" {
		t.Errorf("agent path %s", r.URL.Path)
	}
	if q := r.URL.Query(); q.Get("tailLines") != "3" || q.Get("timestamps") != "true" || q.Get("previous") != "true" || q.Has("container") {
		t.Errorf("agent query %s", r.URL.RawQuery)
	}
	if out, err := logs("one", &corev1.PodLogOptions{}); err != nil || out != "line 1\n" || a.last().URL.Path != "/containerLogs/default/one/only" {
		t.Errorf("default container: %q, %v, %s", out, err, a.last().URL.Path)
	}

	for _, tc := range []struct {
		pod, container string
		code           int
		msg            string
	}{
		{"nothere", "", 404, `pods "nothere" not found`},
		{"pending", "", 400, "pod pending does not have a host assigned"},
		{"orphan", "", 404, `nodes "nonode" not found`},
		{"lost", "", 503, "node noaddr reports no InternalIP or ExternalIP address"},
		{"unreachable", "", 503, "cannot reach the agent of node down at https://127.0.0.1:1"},
		{"web", "", 400, "a container name must be specified for pod web, choose one of: [httpd bad status]"},
		{"web", "nope", 400, "container nope is not valid for pod web"},
		{"web", "bad", 400, `previous terminated container "bad" in pod "web" not found`},
		{"web", "status", 404, "no such container here"},
	} {
		_, err := logs(tc.pod, &corev1.PodLogOptions{Container: tc.container})
		var se *apierrors.StatusError
		if !errors.As(err, &se) || se.ErrStatus.Code != int32(tc.code) || !strings.Contains(se.ErrStatus.Message, tc.msg) {
			t.Errorf("%s/%s: %v, want %d %q", tc.pod, tc.container, err, tc.code, tc.msg)
		}
	}

	// follow: lines arrive as the agent sends them.
	rc, err := ts.client.CoreV1().Pods("default").GetLogs("web", &corev1.PodLogOptions{Container: "httpd", Follow: true}).Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	br := bufio.NewReader(rc)
	for i, want := range []string{"line 1\n", "line 2\n", "line 3\n"} {
		if i > 0 {
			a.more <- want
		}
		got, err := br.ReadString('\n')
		if err != nil || got != want {
			t.Fatalf("follow: %q, %v; want %q", got, err, want)
		}
	}
	close(a.more)
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Fatalf("after the agent ended: %q, %v", rest, err)
	}
}

func TestPodExecProxy(t *testing.T) {
	ts := newTestServer(t, startMember(t))
	a := startFakeAgent(t)
	createNode(t, ts, "n1", a.port())
	createPod(t, ts, "web", "n1", map[string]string{defaultContainerAnnotation: "app"}, "sidecar", "app", "gone")
	createPod(t, ts, "done", "n1", nil, "job")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := ts.client.CoreV1().Pods("default").Get(ctx, "done", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Status.Phase = corev1.PodSucceeded
	if _, err := ts.client.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	run := func(pod, sub string, q url.Values, stdin string) (string, error) {
		cfg := rest.CopyConfig(ts.config)
		cfg.BearerToken = "user-secret" // must not reach the agent
		u := ts.http.URL + "/api/v1/namespaces/default/pods/" + pod + "/" + sub + "?" + q.Encode()
		ex, err := remotecommand.NewWebSocketExecutor(cfg, "GET", u)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: io.Discard})
		return out.String(), err
	}
	q := url.Values{"command": {"0"}, "stdin": {"true"}, "stdout": {"true"}, "stderr": {"true"}}
	out, err := run("web", "exec", q, "hello through the proxy\n")
	if err != nil || out != "hello through the proxy\n" {
		t.Fatalf("exec: %q, %v", out, err)
	}
	r := a.last()
	if r.URL.Path != "/exec/default/web/app" || r.URL.Query()["command"][0] != "0" || r.Header.Get("Authorization") != "" {
		t.Errorf("agent got %s?%s Authorization=%q", r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"))
	}
	q.Set("command", "7")
	q.Set("container", "sidecar")
	_, err = run("web", "exec", q, "x")
	var ee exec.CodeExitError
	if !errors.As(err, &ee) || ee.Code != 7 || a.last().URL.Path != "/exec/default/web/sidecar" {
		t.Errorf("exit 7: %v", err)
	}
	for _, tc := range []struct {
		pod, sub, container, want string
	}{
		{"web", "exec", "gone", `container "gone" in pod "web" is not running (Exited): exec needs a running container`},
		{"done", "exec", "", "cannot exec into a container in a completed pod; current phase is Succeeded"},
		{"web", "attach", "app", "pods/attach is not supported yet by Kelson"},
		{"nothere", "exec", "", `pods "nothere" not found`},
	} {
		q := url.Values{"command": {"0"}, "stdout": {"true"}}
		if tc.container != "" {
			q.Set("container", tc.container)
		}
		_, err := run(tc.pod, tc.sub, q, "")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s/%s: %v, want %q", tc.sub, tc.pod, tc.container, err, tc.want)
		}
	}
}
