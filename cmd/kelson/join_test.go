package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/bootstraptoken"
	"github.com/kelson-dev/kelson/internal/pki"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// joinFixture is a join endpoint over TLS as `kelson server` serves it,
// with bootstrap token Secrets in a map.
type joinFixture struct {
	certs   *pki.Bundle
	token   string // the server token
	srv     *httptest.Server
	mu      sync.Mutex
	secrets map[string]*corev1.Secret
	// seen records the Authorization header and client certificate CN
	// of each request.
	seen []string
}

const serverSecret = "0011223344556677889900aabbccddee"

func newJoinFixture(t *testing.T) *joinFixture {
	t.Helper()
	sans, err := pki.ServingSANs("apihost", net.ParseIP("127.0.0.1"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pki.Ensure(pki.Config{Dir: t.TempDir(), SANs: sans, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	f := &joinFixture{certs: certs, token: "K10" + caHashOf(certs.CAPEM) + "::server:" + serverSecret, secrets: map[string]*corev1.Secret{}}
	get := func(_ context.Context, id string) (*corev1.Secret, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if s, ok := f.secrets[id]; ok {
			return s.DeepCopy(), nil
		}
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, bootstraptoken.SecretPrefix+id)
	}
	join := newJoinServer(certs.Authority, f.token, get, sans, slog.New(slog.DiscardHandler))
	record := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cn := ""
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			cn = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		f.mu.Lock()
		f.seen = append(f.seen, r.Header.Get("Authorization")+"|"+cn)
		f.mu.Unlock()
		withJoin(http.NotFoundHandler(), certs.CAPEM, join, nil).ServeHTTP(w, r)
	})
	f.srv = httptest.NewUnstartedServer(record)
	f.srv.TLS = serverTLSConfig(certs)
	f.srv.TLS.Certificates = []tls.Certificate{certs.Serving} // else httptest adds its own, served to IP clients before GetCertificate
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

// addToken stores a bootstrap token Secret and returns the token.
func (f *joinFixture) addToken(t *testing.T, o bootstraptoken.Options, edit func(*corev1.Secret)) bootstraptoken.Token {
	t.Helper()
	tok, err := bootstraptoken.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	s, err := bootstraptoken.Secret(tok, o)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(s)
	}
	f.mu.Lock()
	f.secrets[tok.ID] = s
	f.mu.Unlock()
	return tok
}

// client is an HTTPS client trusting the cluster CA, presenting certs.
func (f *joinFixture) client(certs ...tls.Certificate) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: f.certs.CAPool(), Certificates: certs}}}
}

// nodeRequest is a request for node name with fresh keys.
func nodeRequest(t *testing.T, name string, addrs ...string) nodeCredentialsRequest {
	t.Helper()
	req := nodeCredentialsRequest{NodeName: name, Addresses: addrs, Hostnames: []string{name + ".lan"}}
	for _, p := range []*string{&req.ClientPublicKey, &req.ServingPublicKey} {
		k, _, err := pki.NewKeyPEM()
		if err != nil {
			t.Fatal(err)
		}
		b, err := pki.PublicKeyPEM(&k.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		*p = string(b)
	}
	return req
}

// nodeClientCert is a client certificate of node name from ca (or an
// admin certificate for name "").
func nodeClientCert(t *testing.T, ca *pki.Authority, name string) tls.Certificate {
	t.Helper()
	k, keyPEM, err := pki.NewKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := ca.SignNodeClient(name, &k.PublicKey, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNodeCredentialsEndpoint(t *testing.T) {
	f := newJoinFixture(t)
	valid := f.addToken(t, bootstraptoken.Options{TTL: time.Hour}, nil)
	forever := f.addToken(t, bootstraptoken.Options{}, nil)
	expired := f.addToken(t, bootstraptoken.Options{TTL: time.Minute, Now: time.Now().Add(-time.Hour)}, nil)
	noUsage := f.addToken(t, bootstraptoken.Options{TTL: time.Hour}, func(s *corev1.Secret) { delete(s.Data, bootstraptoken.KeyUsageAuthn) })
	other := newJoinFixture(t) // another cluster's CA
	admin, err := tls.X509KeyPair(f.certs.AdminCertPEM, f.certs.AdminKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	n1 := nodeClientCert(t, f.certs.Authority, "n1")

	big := nodeRequest(t, "n1")
	big.Hostnames = []string{strings.Repeat("a", maxJoinBody)}
	badKey := nodeRequest(t, "n1")
	badKey.ClientPublicKey = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
	sameKeyTwice := nodeRequest(t, "n1")
	sameKeyTwice.ServingPublicKey = "garbage"

	for _, c := range []struct {
		what   string
		method string
		auth   string
		certs  []tls.Certificate
		req    any
		code   int
		// wantUser is the client certificate's CN on success.
		wantUser string
	}{
		{what: "server token", auth: "Bearer " + serverSecret, req: nodeRequest(t, "n1", "192.168.1.3"), code: 200, wantUser: "system:node:n1"},
		{what: "bootstrap token", auth: "Bearer " + valid.String(), req: nodeRequest(t, "n2"), code: 200, wantUser: "system:node:n2"},
		{what: "bootstrap token without expiration", auth: "Bearer " + forever.String(), req: nodeRequest(t, "n2"), code: 200, wantUser: "system:node:n2"},
		{what: "node renewing itself", certs: []tls.Certificate{n1}, req: nodeRequest(t, "n1"), code: 200, wantUser: "system:node:n1"},
		{what: "expired bootstrap token", auth: "Bearer " + expired.String(), req: nodeRequest(t, "n1"), code: 401},
		{what: "wrong bootstrap secret", auth: "Bearer " + valid.ID + ".0000000000000000", req: nodeRequest(t, "n1"), code: 401},
		{what: "bootstrap token without the authentication usage", auth: "Bearer " + noUsage.String(), req: nodeRequest(t, "n1"), code: 401},
		{what: "unknown bootstrap token", auth: "Bearer zzzzzz.0123456789abcdef", req: nodeRequest(t, "n1"), code: 401},
		{what: "wrong server secret", auth: "Bearer " + strings.Repeat("0", 32), req: nodeRequest(t, "n1"), code: 401},
		{what: "whole server token as bearer", auth: "Bearer " + f.token, req: nodeRequest(t, "n1"), code: 401},
		{what: "garbage bearer", auth: "Bearer garbage!!/==", req: nodeRequest(t, "n1"), code: 401},
		{what: "basic auth", auth: "Basic " + serverSecret, req: nodeRequest(t, "n1"), code: 401},
		{what: "no credential", req: nodeRequest(t, "n1"), code: 401},
		{what: "node renewing another node", certs: []tls.Certificate{n1}, req: nodeRequest(t, "n2"), code: 403},
		{what: "admin certificate", certs: []tls.Certificate{admin}, req: nodeRequest(t, "n1"), code: 403},
		{what: "oversize body", auth: "Bearer " + serverSecret, req: big, code: 413},
		{what: "bad public key", auth: "Bearer " + serverSecret, req: badKey, code: 400},
		{what: "garbage serving key", auth: "Bearer " + serverSecret, req: sameKeyTwice, code: 400},
		{what: "bad node name", auth: "Bearer " + serverSecret, req: nodeRequest(t, "Node_1"), code: 400},
		{what: "subject in the node name", auth: "Bearer " + serverSecret, req: nodeRequest(t, "system:masters"), code: 400},
		{what: "bad address", auth: "Bearer " + serverSecret, req: nodeRequest(t, "n1", "not-an-ip"), code: 400},
		{what: "not JSON", auth: "Bearer " + serverSecret, req: "{", code: 400},
		{what: "only the API server's names", auth: "Bearer " + serverSecret,
			req: nodeCredentialsRequest{NodeName: "localhost", ClientPublicKey: nodeRequest(t, "x").ClientPublicKey,
				ServingPublicKey: nodeRequest(t, "x").ServingPublicKey, Addresses: []string{"127.0.0.1"}}, code: 403},
		{what: "GET", method: http.MethodGet, auth: "Bearer " + serverSecret, code: 405},
		// Unauthenticated before anything is read: no 400 for a bad body.
		{what: "bad body without credential", req: "{", code: 401},
	} {
		t.Run(c.what, func(t *testing.T) {
			var body []byte
			switch r := c.req.(type) {
			case string:
				body = []byte(r)
			case nil:
			default:
				body, _ = json.Marshal(r)
			}
			method := c.method
			if method == "" {
				method = http.MethodPost
			}
			hr, _ := http.NewRequest(method, f.srv.URL+nodeCredentialsPath, bytes.NewReader(body))
			if c.auth != "" {
				hr.Header.Set("Authorization", c.auth)
			}
			resp, err := f.client(c.certs...).Do(hr)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.code {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, b, c.code)
			}
			for _, secret := range []string{serverSecret, valid.Secret, expired.Secret, noUsage.Secret} {
				if c.code != 200 && strings.Contains(string(b), secret) {
					t.Errorf("the answer shows a secret: %s", b)
				}
			}
			if c.code != 200 {
				return
			}
			var out nodeCredentialsResponse
			if err := json.Unmarshal(b, &out); err != nil {
				t.Fatal(err)
			}
			cert, err := pki.ParseCertPEM([]byte(out.ClientCertificate))
			if err != nil || cert.Subject.CommonName != c.wantUser || !slices.Equal(cert.Subject.Organization, []string{"system:nodes"}) {
				t.Fatalf("client certificate %v, %v; want CN %s O system:nodes", cert.Subject, err, c.wantUser)
			}
			if out.CA != string(f.certs.CAPEM) {
				t.Error("the answer's CA is not the cluster CA")
			}
		})
	}

	// A client certificate of another cluster's CA, or an expired one, does
	// not get through the TLS handshake (and would get 401 after it).
	foreign := nodeClientCert(t, other.certs.Authority, "n1")
	body, _ := json.Marshal(nodeRequest(t, "n1"))
	if resp, err := f.client(foreign).Post(f.srv.URL+nodeCredentialsPath, "application/json", bytes.NewReader(body)); err == nil {
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("another CA's node certificate: %s", resp.Status)
		}
	}
}

// TestNodeServingCertificateNames: the serving certificate carries the
// node's name, host names and addresses, without the API server's.
func TestNodeServingCertificateNames(t *testing.T) {
	f := newJoinFixture(t)
	req := nodeRequest(t, "n1", "192.168.1.3", "127.0.0.1")
	req.Hostnames = []string{"n1.lan", "apihost"}
	resp, err := signNodeCredentials(f.certs.Authority, req, pki.SANs{DNS: []string{"apihost"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.ParseCertPEM([]byte(resp.ServingCertificate))
	if err != nil {
		t.Fatal(err)
	}
	roots := f.certs.CAPool()
	for _, name := range []string{"n1", "n1.lan", "192.168.1.3"} {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("serving certificate for %s: %v", name, err)
		}
	}
	for _, name := range []string{"apihost", "127.0.0.1"} {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: name, Roots: roots}); err == nil {
			t.Errorf("serving certificate verifies for the API server's %s", name)
		}
	}
	if !slices.Equal(resp.Dropped, []string{"apihost", "127.0.0.1"}) {
		t.Errorf("dropped %q", resp.Dropped)
	}
}

func TestDecideCredentials(t *testing.T) {
	K, R, U := pki.CertKeep, pki.CertRenew, pki.CertUnusable
	for _, c := range []struct {
		client, serving pki.CertState
		want            credentialsAction
	}{
		{K, K, credsKeep}, {R, K, credsRenew}, {K, R, credsRenew}, {K, U, credsRenew}, {R, U, credsRenew},
		{U, K, credsJoin}, {U, R, credsJoin}, {U, U, credsJoin},
	} {
		if got := decideCredentials(c.client, c.serving); got != c.want {
			t.Errorf("client %v serving %v: %v, want %v", c.client, c.serving, got, c.want)
		}
	}
}

// TestNodeCredentialsLifecycle: an agent's credentials against a real
// join endpoint — join with a bootstrap token, keep on restart, renew with
// the client certificate in the last third, join again when expired, and
// fail clearly when the token is gone.
func TestNodeCredentialsLifecycle(t *testing.T) {
	f := newJoinFixture(t)
	tok := f.addToken(t, bootstraptoken.Options{TTL: time.Hour}, nil)
	dir := filepath.Join(t.TempDir(), "tls")
	now := time.Now()
	creds := func(bearer string, ips ...string) *nodeCredentials {
		n := &nodeCredentials{dir: dir, name: "node-b", hostnames: []string{"host-b"}, ca: f.certs.CA, caPEM: f.certs.CAPEM,
			iss: httpIssuer{server: f.srv.URL, caPEM: f.certs.CAPEM, bearer: bearer, certFile: filepath.Join(dir, nodeClientCertFile),
				keyFile: filepath.Join(dir, nodeClientKeyFile)},
			now: func() time.Time { return now }, log: slog.New(slog.DiscardHandler)}
		for _, ip := range ips {
			n.ips = append(n.ips, net.ParseIP(ip))
		}
		return n
	}
	requests := func() []string {
		f.mu.Lock()
		defer f.mu.Unlock()
		out := f.seen
		f.seen = nil
		return out
	}
	ctx := context.Background()

	act, err := creds(tok.String(), "192.168.1.3").ensure(ctx)
	if err != nil || act != credsJoin {
		t.Fatalf("first start: %v, %v; want join", act, err)
	}
	if r := requests(); len(r) != 1 || r[0] != "Bearer "+tok.String()+"|" {
		t.Fatalf("first start sent %q", r)
	}
	for file, mode := range map[string]os.FileMode{nodeClientKeyFile: 0o600, nodeServingKeyFile: 0o600, nodeClientCertFile: 0o644, nodeCAFile: 0o644} {
		st, err := os.Stat(filepath.Join(dir, file))
		if err != nil || st.Mode().Perm() != mode {
			t.Errorf("%s: %v %v, want mode %v", file, st, err, mode)
		}
	}
	first, _ := os.ReadFile(filepath.Join(dir, nodeClientCertFile))
	c, _ := pki.ParseCertPEM(first)
	if c.Subject.CommonName != "system:node:node-b" {
		t.Fatalf("client certificate of %q", c.Subject.CommonName)
	}
	rc := creds("").restConfig("https://api")
	if rc.BearerToken != "" || rc.CertFile == "" || rc.KeyFile == "" {
		t.Errorf("rest config %+v: want the client certificate files and no bearer", rc)
	}
	serving, pool, err := creds("").serving()
	if err != nil || pool == nil {
		t.Fatalf("serving: %v", err)
	}
	firstServing, err := serving.Get()
	if err != nil || firstServing.Leaf == nil {
		t.Fatalf("serving: %v", err)
	}

	// A restart keeps them, with or without the token: no request.
	if act, err := creds("", "192.168.1.3").ensure(ctx); err != nil || act != credsKeep {
		t.Fatalf("restart: %v, %v", act, err)
	}
	if r := requests(); len(r) != 0 {
		t.Fatalf("restart sent %q", r)
	}

	// A new address: renewed with the client certificate, no token sent.
	if act, err := creds(tok.String(), "192.168.1.4").ensure(ctx); err != nil || act != credsRenew {
		t.Fatalf("new address: %v, %v", act, err)
	}
	if r := requests(); len(r) != 1 || r[0] != "|system:node:node-b" {
		t.Fatalf("renewal sent %q, want the node's certificate and no bearer", r)
	}

	// In the last third of the lifetime: renewed likewise.
	now = time.Now().Add(pki.LeafValidity * 7 / 10)
	if act, err := creds("", "192.168.1.4").ensure(ctx); err != nil || act != credsRenew {
		t.Fatalf("last third: %v, %v", act, err)
	}
	if r := requests(); len(r) != 1 || r[0] != "|system:node:node-b" {
		t.Fatalf("renewal sent %q", r)
	}
	renewed, _ := os.ReadFile(filepath.Join(dir, nodeClientCertFile))
	if bytes.Equal(renewed, first) {
		t.Fatal("renewal kept the old certificate")
	}
	// The running agent's port serves the renewed serving certificate.
	if c, err := serving.Get(); err != nil || bytes.Equal(c.Certificate[0], firstServing.Certificate[0]) {
		t.Fatalf("after the renewal the agent's port serves the old certificate (%v)", err)
	}

	// Expired: join again with the token; without one, a clear error.
	now = time.Now()
	k, keyPEM, _ := pki.NewKeyPEM()
	old, err := f.certs.Authority.SignNodeClient("node-b", &k.PublicKey, now.Add(-2*pki.LeafValidity))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, nodeClientKeyFile), keyPEM, 0o600)
	os.WriteFile(filepath.Join(dir, nodeClientCertFile), old, 0o644)
	if _, err := creds("", "192.168.1.4").ensure(ctx); !errors.Is(err, errJoinRefused) || !strings.Contains(err.Error(), "--token") {
		t.Fatalf("expired without a token: %v", err)
	}
	tok2 := f.addToken(t, bootstraptoken.Options{}, nil)
	requests()
	if act, err := creds(tok2.String(), "192.168.1.4").ensure(ctx); err != nil || act != credsJoin {
		t.Fatalf("expired with a token: %v, %v", act, err)
	}

	// A deleted token cannot join.
	f.mu.Lock()
	delete(f.secrets, tok2.ID)
	f.mu.Unlock()
	os.Remove(filepath.Join(dir, nodeClientCertFile))
	_, err = creds(tok2.String(), "192.168.1.4").ensure(ctx)
	if !errors.Is(err, errJoinRefused) || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), tok2.Secret) {
		t.Fatalf("deleted token: %v", err)
	}
}

// TestServerSecretsEndpoint: only the server token gets the CAs' keys.
func TestServerSecretsEndpoint(t *testing.T) {
	f := newJoinFixture(t)
	tlsDir := t.TempDir()
	for name, data := range map[string][]byte{pki.CACertFile: f.certs.CAPEM, pki.CAKeyFile: []byte("ca key"),
		pki.ServiceAccountKeyFile: f.certs.ServiceAccountKeyPEM, pki.StoreCACertFile: []byte("store ca"), pki.StoreCAKeyFile: []byte("store ca key")} {
		os.WriteFile(filepath.Join(tlsDir, name), data, 0o600)
	}
	tok := f.addToken(t, bootstraptoken.Options{TTL: time.Hour}, nil)
	h := withJoin(http.NotFoundHandler(), f.certs.CAPEM, nil, newServerSecretsHandler(tlsDir, f.token, slog.New(slog.DiscardHandler)))
	n1 := nodeClientCert(t, f.certs.Authority, "n1")
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = serverTLSConfig(f.certs)
	srv.TLS.Certificates = []tls.Certificate{f.certs.Serving}
	srv.StartTLS()
	defer srv.Close()
	for _, c := range []struct {
		what, method, auth string
		certs              []tls.Certificate
		code               int
	}{
		{"server token", "POST", "Bearer " + serverSecret, nil, 200},
		{"bootstrap token", "POST", "Bearer " + tok.String(), nil, 401},
		{"wrong secret", "POST", "Bearer " + strings.Repeat("0", 32), nil, 401},
		{"no credential", "POST", "", nil, 401},
		{"node certificate", "POST", "", []tls.Certificate{n1}, 401},
		{"GET", "GET", "Bearer " + serverSecret, nil, 405},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+serverSecretsPath, nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := f.client(c.certs...).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("%s: %d %s, want %d", c.what, resp.StatusCode, b, c.code)
		}
		if c.code != 200 && strings.Contains(string(b), "ca key") {
			t.Errorf("%s: the answer holds a CA key", c.what)
		}
		if c.code == 200 {
			var out serverSecrets
			if err := json.Unmarshal(b, &out); err != nil || out.CAKey != "ca key" || out.CA != string(f.certs.CAPEM) ||
				out.StoreCA != "store ca" || out.StoreCAKey != "store ca key" {
				t.Errorf("%s: %+v %v", c.what, out, err)
			}
		}
	}
}

// TestServerSecretsJoin: a joining server receives the store CA with the
// cluster CA; one that joined before the store CA fetches it alone; a
// server that hands out no store CA (a kelson from before it) makes the
// join fail, naming the cause, and nothing is written.
func TestServerSecretsJoin(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	srcDir := t.TempDir()
	sans, _ := pki.ServingSANs("apihost", net.ParseIP("127.0.0.1"), nil, nil)
	b, err := pki.Ensure(pki.Config{Dir: srcDir, SANs: sans, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pki.EnsureStoreCA(srcDir, time.Now(), log); err != nil {
		t.Fatal(err)
	}
	token := "K10" + caHashOf(b.CAPEM) + "::server:" + serverSecret
	srv := httptest.NewUnstartedServer(withJoin(http.NotFoundHandler(), b.CAPEM, nil, newServerSecretsHandler(srcDir, token, log)))
	srv.TLS = serverTLSConfig(b)
	srv.TLS.Certificates = []tls.Certificate{b.Serving}
	srv.StartTLS()
	defer srv.Close()
	read := func(dir, name string) string {
		data, _ := os.ReadFile(filepath.Join(dir, name))
		return string(data)
	}
	all := []string{pki.CACertFile, pki.CAKeyFile, pki.ServiceAccountKeyFile, pki.StoreCACertFile, pki.StoreCAKeyFile}

	// A new server: everything, as the first server has it.
	joined := t.TempDir()
	if err := fetchServerSecrets(context.Background(), srv.URL, token, joined, log); err != nil {
		t.Fatal(err)
	}
	for _, name := range all {
		if got := read(filepath.Join(joined, "tls"), name); got == "" || got != read(srcDir, name) {
			t.Errorf("joined %s differs from the first server's", name)
		}
	}
	if st, err := os.Stat(filepath.Join(joined, "tls", pki.StoreCAKeyFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("store CA key mode: %v %v", st, err)
	}
	if a, err := pki.EnsureStoreCA(filepath.Join(joined, "tls"), time.Now(), log); err != nil || string(a.CertPEM) != read(srcDir, pki.StoreCACertFile) {
		t.Errorf("the joined server's store CA: %v", err)
	}

	// Joined before the store CA: the store CA alone is fetched; the rest
	// is left as it is.
	old := t.TempDir()
	oldTLS := filepath.Join(old, "tls")
	os.MkdirAll(oldTLS, 0o700)
	os.WriteFile(filepath.Join(oldTLS, pki.CACertFile), b.CAPEM, 0o644)
	os.WriteFile(filepath.Join(oldTLS, pki.CAKeyFile), []byte("kept"), 0o600)
	if err := fetchServerSecrets(context.Background(), srv.URL, token, old, log); err != nil {
		t.Fatal(err)
	}
	if read(oldTLS, pki.CAKeyFile) != "kept" || read(oldTLS, pki.StoreCACertFile) != read(srcDir, pki.StoreCACertFile) ||
		read(oldTLS, pki.StoreCAKeyFile) != read(srcDir, pki.StoreCAKeyFile) {
		t.Error("the store CA was not fetched alone")
	}

	// A first server from before the store CA: the join fails, clearly,
	// for a new server and for one joined before.
	for _, name := range []string{pki.StoreCACertFile, pki.StoreCAKeyFile} {
		os.Remove(filepath.Join(srcDir, name))
	}
	fresh := t.TempDir()
	err = fetchServerSecrets(context.Background(), srv.URL, token, fresh, log)
	if !errors.Is(err, errNoStoreCA) || !strings.Contains(err.Error(), "upgrade it") {
		t.Errorf("a server without a store CA: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(fresh, "tls")); len(entries) != 0 {
		t.Errorf("a failed join wrote %v", entries)
	}
	for _, name := range []string{pki.StoreCACertFile, pki.StoreCAKeyFile} {
		os.Remove(filepath.Join(oldTLS, name))
	}
	if err := fetchServerSecrets(context.Background(), srv.URL, token, old, log); !errors.Is(err, errNoStoreCA) {
		t.Errorf("joined before, a server without a store CA: %v", err)
	}
	if _, err := os.Stat(filepath.Join(oldTLS, pki.StoreCACertFile)); err == nil {
		t.Error("a store CA was written")
	}
}

// TestServerSecretsCheck: the answer's CAs and keys must read, the cluster
// CA must be the one of /cacerts, and a store CA must be there.
func TestServerSecretsCheck(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	b, err := pki.Ensure(pki.Config{Dir: dir, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	sca, err := pki.EnsureStoreCA(dir, time.Now(), log)
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		data, _ := os.ReadFile(filepath.Join(dir, name))
		return string(data)
	}
	good := serverSecrets{CA: string(b.CAPEM), CAKey: read(pki.CAKeyFile), ServiceAccountKey: string(b.ServiceAccountKeyPEM),
		StoreCA: string(sca.CertPEM), StoreCAKey: read(pki.StoreCAKeyFile)}
	for _, c := range []struct {
		name      string
		edit      func(*serverSecrets)
		storeOnly bool
		want      string // "" for no error
	}{
		{"complete", func(*serverSecrets) {}, false, ""},
		{"no store CA", func(s *serverSecrets) { s.StoreCA, s.StoreCAKey = "", "" }, false, "no store CA"},
		{"no store CA, store only", func(s *serverSecrets) { s.StoreCA, s.StoreCAKey = "", "" }, true, "no store CA"},
		{"store CA without key", func(s *serverSecrets) { s.StoreCAKey = "" }, false, "its store CA"},
		{"the cluster CA as store CA", func(s *serverSecrets) { s.StoreCA, s.StoreCAKey = s.CA, s.CAKey }, false, "is the cluster CA"},
		{"store CA with the cluster CA's key", func(s *serverSecrets) { s.StoreCAKey = s.CAKey }, false, "its store CA"},
		{"another cluster CA", func(s *serverSecrets) { s.CA = string(sca.CertPEM) }, false, "another CA than its /cacerts"},
		{"bad CA key", func(s *serverSecrets) { s.CAKey = "x" }, false, "its CA"},
		{"bad CA key, store only", func(s *serverSecrets) { s.CAKey = "x" }, true, ""},
		{"bad service account key", func(s *serverSecrets) { s.ServiceAccountKey = "x" }, false, "service account key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := good
			c.edit(&s)
			err := checkServerSecrets(&s, b.CAPEM, c.storeOnly)
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}
