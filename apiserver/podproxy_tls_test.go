package apiserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/testpki"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
)

// newTestServerAgentTLS is newTestServer with Config.AgentTLS.
func newTestServerAgentTLS(t *testing.T, agentTLS *tls.Config) *testServer {
	t.Helper()
	return startServerWith(t, Config{Store: startMember(t), AgentTLS: agentTLS})
}

func keyPair(t *testing.T, p testpki.Pair) tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(p.CertFile, p.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// agentServing is an agent port's TLS: cert, and callers verified
// against clients.
func agentServing(cert tls.Certificate, clients *testpki.CA) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clients.Pool(), MinVersion: tls.VersionTLS12}
}

// TestPodProxyAgentTLS: with AgentTLS (a client certificate and the
// cluster CA) the proxy reaches an agent serving a cluster-CA certificate
// for the node's address (logs and exec), and answers 502 saying why for
// an agent whose certificate is from another CA or for another address,
// and for an agent that refuses the API server's client certificate.
func TestPodProxyAgentTLS(t *testing.T) {
	ca := testpki.NewCA(t, t.TempDir(), "cluster-ca")
	other := testpki.NewCA(t, t.TempDir(), "other-ca")
	client := ca.Issue(t, "kube-apiserver-kubelet-client")
	agentTLS := ca.ClientTLS(t, &client)

	good := startFakeAgentTLS(t, agentServing(keyPair(t, ca.Issue(t, "n-good", "127.0.0.1")), ca))
	stranger := startFakeAgentTLS(t, agentServing(keyPair(t, other.Issue(t, "n-other", "127.0.0.1")), ca))
	elsewhere := startFakeAgentTLS(t, agentServing(keyPair(t, ca.Issue(t, "n-elsewhere", "10.9.9.9", "n-elsewhere")), ca))

	ts := newTestServerAgentTLS(t, agentTLS)
	createNode(t, ts, "n-good", good.port())
	createNode(t, ts, "n-other", stranger.port())
	createNode(t, ts, "n-elsewhere", elsewhere.port())
	createPod(t, ts, "web", "n-good", nil, "httpd")
	createPod(t, ts, "other", "n-other", nil, "httpd")
	createPod(t, ts, "elsewhere", "n-elsewhere", nil, "httpd")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	logs := func(pod string) (string, error) {
		rc, err := ts.client.CoreV1().Pods("default").GetLogs(pod, &corev1.PodLogOptions{}).Stream(ctx)
		if err != nil {
			return "", err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		return string(b), err
	}

	if out, err := logs("web"); err != nil || out != "line 1\n" {
		t.Fatalf("logs through a verified agent: %q, %v", out, err)
	}
	if r := good.last(); r == nil || r.TLS == nil || len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != "kube-apiserver-kubelet-client" {
		t.Errorf("the agent did not see the API server's client certificate: %+v", r)
	}
	for _, tc := range []struct {
		pod, want string
	}{
		{"other", "presented a certificate this API server does not trust"},
		{"elsewhere", "presented a certificate this API server does not trust"},
	} {
		_, err := logs(tc.pod)
		t.Logf("%s: %v", tc.pod, err)
		var se *apierrors.StatusError
		if !errors.As(err, &se) || se.ErrStatus.Code != http.StatusBadGateway || !strings.Contains(se.ErrStatus.Message, tc.want) {
			t.Errorf("logs of %s: %v, want 502 %q", tc.pod, err, tc.want)
		}
	}
	if r := stranger.last(); r != nil {
		t.Errorf("the other-CA agent got a request: %s", r.URL)
	}
	if r := elsewhere.last(); r != nil {
		t.Errorf("the agent with another address's certificate got a request: %s", r.URL)
	}

	// exec through the verified agent.
	cfg := rest.CopyConfig(ts.config)
	q := url.Values{"command": {"0"}, "stdin": {"true"}, "stdout": {"true"}}
	ex, err := remotecommand.NewWebSocketExecutor(cfg, "GET", ts.http.URL+"/api/v1/namespaces/default/pods/web/exec?"+q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: strings.NewReader("over mTLS\n"), Stdout: &out})
	if err != nil || out.String() != "over mTLS\n" {
		t.Errorf("exec through a verified agent: %q, %v", out.String(), err)
	}

	// An API server without a client certificate: the agent refuses it,
	// and the proxy says so.
	noClient := &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
	tr := agentTransport(noClient)
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, good.srv.URL+"/containerLogs/default/web/httpd", nil)
	resp, err := tr.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("an agent requiring client certificates answered %s to none", resp.Status)
	}
	pod := &corev1.Pod{Spec: corev1.PodSpec{NodeName: "n-good"}}
	perr := unreachableAgent(pod, good.srv.URL, err)
	t.Logf("no client certificate: %v", perr)
	var se *apierrors.StatusError
	if !errors.As(perr, &se) || se.ErrStatus.Code != http.StatusBadGateway || !strings.Contains(se.ErrStatus.Message, "refused this API server's client certificate") {
		t.Errorf("no client certificate: %v (from %v), want 502 naming the refusal", perr, err)
	}
	// A plain connection failure stays 503.
	if e := unreachableAgent(pod, "https://127.0.0.1:1", errors.New("dial tcp 127.0.0.1:1: connect: connection refused")); !apierrors.IsServiceUnavailable(e) {
		t.Errorf("connection refused: %v, want 503", e)
	}
}
