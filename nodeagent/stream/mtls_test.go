package stream

import (
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/testcluster"
	"github.com/kelson-dev/kelson/internal/testpki"
	"github.com/kelson-dev/kelson/nodeagent/runtime"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestAuthorizeCaller(t *testing.T) {
	for _, tc := range []struct {
		name string
		subj pkix.Name
		ok   bool
	}{
		{"the API server", pkix.Name{CommonName: "kube-apiserver-kubelet-client"}, true},
		{"the API server with a group", pkix.Name{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}}, true},
		{"an admin", pkix.Name{CommonName: "system:admin", Organization: []string{"system:masters"}}, true},
		{"masters among other groups", pkix.Name{CommonName: "ops", Organization: []string{"devs", "system:masters"}}, true},
		{"someone", pkix.Name{CommonName: "someone"}, false},
		{"a node", pkix.Name{CommonName: "system:node:n2", Organization: []string{"system:nodes"}}, false},
		{"a near miss", pkix.Name{CommonName: "kube-apiserver-kubelet-client-x", Organization: []string{"system:master"}}, false},
		{"the name as a group", pkix.Name{CommonName: "x", Organization: []string{"kube-apiserver-kubelet-client"}}, false},
		{"empty", pkix.Name{}, false},
	} {
		err := AuthorizeCaller(tc.subj)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v, want allowed=%v", tc.name, err, tc.ok)
		}
		if err != nil && (!errors.Is(err, ErrForbidden) || statusOf(err) != http.StatusForbidden || !strings.Contains(err.Error(), `"`+tc.subj.CommonName+`"`)) {
			t.Errorf("%s: %v (status %d): want a 403 naming the user", tc.name, err, statusOf(err))
		}
	}
}

func TestNewRefusesClientCAsWithoutTLS(t *testing.T) {
	ca := testpki.NewCA(t, t.TempDir(), "cluster-ca")
	if _, err := New(Config{Runtime: &fakeRuntime{}, LogRoot: "/x", ClientCAs: ca.Pool()}); !errors.Is(err, ErrBadConfig) {
		t.Errorf("ClientCAs without TLS: %v", err)
	}
}

// TestMutualTLS: with ClientCAs the port refuses a handshake without a
// client certificate or with one from another CA, answers 403 to a valid
// certificate of a user it does not serve, and serves the API server's.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "cluster-ca")
	other := testpki.NewCA(t, t.TempDir(), "other-ca")
	serving := ca.Issue(t, "n1", "127.0.0.1")
	cert, err := tls.LoadX509KeyPair(serving.CertFile, serving.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	rt := &fakeRuntime{}
	root := t.TempDir()
	t0 := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	c := instance(root, "default", "web", "u1", "httpd", 0, runtime.StateRunning, t0)
	rt.add(c)
	newLogWriter(t, c.LogPath, t0).write("stdout F hello")
	srv, err := New(Config{Runtime: rt, LogRoot: root, Logger: testcluster.Logger(),
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, ClientCAs: ca.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	l := serveOnLoopback(t, srv)
	url := "https://" + l.Addr().String()

	get := func(tc *tls.Config, path string) (int, string, error) {
		cl := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
		defer cl.CloseIdleConnections()
		resp, err := cl.Get(url + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	const logs = "/containerLogs/default/web/httpd"

	// No client certificate: the handshake is refused.
	if code, body, err := get(ca.ClientTLS(t, nil), logs); err == nil {
		t.Errorf("no client certificate: %d %q, want a refused handshake", code, body)
	} else if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("no client certificate: %v, want a TLS certificate error", err)
	}
	// A certificate from another CA: refused.
	stranger := other.Issue(t, "kube-apiserver-kubelet-client")
	tc := ca.ClientTLS(t, nil)
	sc, err := tls.LoadX509KeyPair(stranger.CertFile, stranger.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	tc.Certificates = []tls.Certificate{sc}
	if code, body, err := get(tc, logs); err == nil {
		t.Errorf("client certificate from another CA: %d %q, want a refused handshake", code, body)
	}
	// An expired certificate of the right CA: refused.
	expired := ca.Expired(t, "kube-apiserver-kubelet-client-old")
	if code, body, err := get(ca.ClientTLS(t, &expired), logs); err == nil {
		t.Errorf("expired client certificate: %d %q, want a refused handshake", code, body)
	}
	// The right CA, a user the agent does not serve: 403 naming it.
	someone := ca.Issue(t, "someone")
	code, body, err := get(ca.ClientTLS(t, &someone), logs)
	if err != nil || code != http.StatusForbidden || !strings.Contains(body, `user "someone"`) || !strings.Contains(body, "kube-apiserver-kubelet-client") {
		t.Errorf("CN someone: %d %q %v, want 403 naming the user", code, body, err)
	}
	if code, _, err := get(ca.ClientTLS(t, &someone), "/healthz"); err != nil || code != http.StatusForbidden {
		t.Errorf("CN someone, /healthz: %d %v, want 403", code, err)
	}
	// exec answers a JSON Status (what kubectl decodes).
	code, body, err = get(ca.ClientTLS(t, &someone), "/exec/default/web/httpd?command=true&stdout=1")
	var st metav1.Status
	if err != nil || code != http.StatusForbidden || json.Unmarshal([]byte(body), &st) != nil || st.Reason != metav1.StatusReasonForbidden {
		t.Errorf("CN someone, exec: %d %q %v, want a 403 Status", code, body, err)
	}
	// The API server's client certificate: served.
	apiserver := ca.Issue(t, "kube-apiserver-kubelet-client")
	code, body, err = get(ca.ClientTLS(t, &apiserver), logs)
	if err != nil || code != http.StatusOK || body != "hello\n" {
		t.Errorf("kube-apiserver-kubelet-client: %d %q %v, want the logs", code, body, err)
	}
}
