package apiserver

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/apiserver/authn"
	"github.com/kelson-dev/kelson/internal/bootstraptoken"
	"github.com/kelson-dev/kelson/internal/testpki"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// The server's authentication over real TLS: client certificates (the
// X509 authenticator, as `kelson server` configures it), bearer tokens of
// every kind, TokenRequest, TokenReview and SelfSubjectReview, through
// client-go, plain HTTP and kubectl. Authorization allows everything
// (RBAC is tested elsewhere): every refusal here is authentication's.

// handCA is a second CA the server trusts, for certificates testpki does
// not make: with Organizations (groups) and server-auth-only.
type handCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	dir  string
}

func newHandCA(t *testing.T, dir string) *handCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hand-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &handCA{cert: cert, key: key, dir: dir}
}

// issue writes a client certificate for cn in orgs with the given usages.
func (ca *handCA) issue(t *testing.T, cn string, orgs []string, usage x509.ExtKeyUsage) testpki.Pair {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	name := strings.ReplaceAll(cn, ":", "_")
	p := testpki.Pair{CertFile: filepath.Join(ca.dir, name+".crt"), KeyFile: filepath.Join(ca.dir, name+".key")}
	os.WriteFile(p.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(p.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return p
}

// authTestServer is an API server behind TLS with the X509 authenticator.
type authTestServer struct {
	srv    *Server
	url    string
	dir    string
	ca     *testpki.CA
	hand   *handCA
	admin  testpki.Pair // CN system:admin, O system:masters (hand CA)
	caFile string       // the server's CA, for clients
	key    crypto.Signer
	client *kubernetes.Clientset // as admin
}

func newAuthTestServer(t *testing.T, clientAuth tls.ClientAuthType, edit func(*Config)) *authTestServer {
	t.Helper()
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "cluster-ca")
	hand := newHandCA(t, dir)
	roots := ca.Pool()
	roots.AddCert(hand.cert)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cfg := Config{Store: startMember(t), Logger: testLogger(),
		Authenticators:           []authn.Authenticator{authn.NewX509(roots)},
		AuthorizationModes:       []string{"AlwaysAllow"},
		ServiceAccountSigningKey: key}
	if edit != nil {
		edit(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	servingPair := ca.Issue(t, "apiserver", "127.0.0.1", "localhost")
	serving, err := tls.LoadX509KeyPair(servingPair.CertFile, servingPair.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(s.Handler())
	hs.TLS = &tls.Config{Certificates: []tls.Certificate{serving}, ClientAuth: clientAuth, ClientCAs: roots, MinVersion: tls.VersionTLS12}
	hs.StartTLS()
	t.Cleanup(func() { hs.Close(); cancel(); <-done })
	a := &authTestServer{srv: s, url: hs.URL, dir: dir, ca: ca, hand: hand, caFile: ca.CertFile, key: key,
		admin: hand.issue(t, "system:admin", []string{authn.SystemPrivileged}, x509.ExtKeyUsageClientAuth)}
	a.client = kubernetes.NewForConfigOrDie(a.restConfig(&a.admin, ""))
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := a.client.CoreV1().Namespaces().Get(context.Background(), "default", metav1.GetOptions{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("namespace default never appeared: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Ready: the bootstrap (namespaces, then Services) is done.
	for code := 0; code != http.StatusOK; {
		code, _, _ = a.do(t, nil, "", "GET", "/readyz", nil)
		if time.Now().After(deadline) {
			t.Fatalf("/readyz: %d", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return a
}

func (a *authTestServer) restConfig(cert *testpki.Pair, token string) *rest.Config {
	cfg := &rest.Config{Host: a.url, QPS: -1, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAFile: a.caFile}}
	if cert != nil {
		cfg.TLSClientConfig.CertFile, cfg.TLSClientConfig.KeyFile = cert.CertFile, cert.KeyFile
	}
	return cfg
}

// do sends one request with an optional client certificate and bearer
// token; err is a transport failure (a refused TLS handshake).
func (a *authTestServer) do(t *testing.T, cert *testpki.Pair, token, method, path string, body any) (int, []byte, error) {
	t.Helper()
	tlsCfg := a.ca.ClientTLS(t, nil)
	if cert != nil {
		c, err := tls.LoadX509KeyPair(cert.CertFile, cert.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		tlsCfg.Certificates = []tls.Certificate{c}
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.url+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, nil
}

// want401 asserts a 401 with kube-apiserver's Status.
func want401(t *testing.T, what string, code int, body []byte, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: transport error %v, want 401", what, err)
	}
	var st metav1.Status
	json.Unmarshal(body, &st)
	if code != http.StatusUnauthorized || st.Reason != metav1.StatusReasonUnauthorized || st.Message != "Unauthorized" {
		t.Fatalf("%s: %d %s, want 401 Unauthorized", what, code, body)
	}
}

const podsPath = "/api/v1/namespaces/default/pods"

// whoami is the SelfSubjectReview of a token.
func (a *authTestServer) whoami(t *testing.T, token string) (authenticationv1.UserInfo, int) {
	t.Helper()
	code, body, err := a.do(t, nil, token, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
		map[string]any{"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
	if err != nil {
		t.Fatal(err)
	}
	var r authenticationv1.SelfSubjectReview
	json.Unmarshal(body, &r)
	return r.Status.UserInfo, code
}

func (a *authTestServer) createToken(t *testing.T, ns, sa string, spec authenticationv1.TokenRequestSpec) (*authenticationv1.TokenRequest, error) {
	t.Helper()
	return a.client.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), sa,
		&authenticationv1.TokenRequest{Spec: spec}, metav1.CreateOptions{})
}

func (a *authTestServer) mustToken(t *testing.T, ns, sa string, spec authenticationv1.TokenRequestSpec) string {
	t.Helper()
	tr, err := a.createToken(t, ns, sa, spec)
	if err != nil {
		t.Fatalf("TokenRequest %s/%s: %v", ns, sa, err)
	}
	return tr.Status.Token
}

// eventually401 waits (the watch cache may still hold a deleted object
// for a moment) until token gets 401 on a resource path.
func (a *authTestServer) eventually401(t *testing.T, what, token string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body, err := a.do(t, nil, token, "GET", podsPath, nil)
		if err == nil && code == http.StatusUnauthorized {
			want401(t, what, code, body, err)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %d %s (err %v), want 401", what, code, body, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (a *authTestServer) createSA(t *testing.T, ns, name string) *corev1.ServiceAccount {
	t.Helper()
	sa, err := a.client.CoreV1().ServiceAccounts(ns).Create(context.Background(),
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return sa
}

func (a *authTestServer) createPod(t *testing.T, ns, name, sa string) *corev1.Pod {
	t.Helper()
	p, err := a.client.CoreV1().Pods(ns).Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{ServiceAccountName: sa,
			Containers: []corev1.Container{{Name: "c", Image: "registry.example/app:1"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (a *authTestServer) createBootstrapSecret(t *testing.T, id, secret string, data map[string]string) {
	t.Helper()
	d := map[string]string{"token-id": id, "token-secret": secret, "usage-bootstrap-authentication": "true",
		"expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}
	for k, v := range data {
		if v == "" {
			delete(d, k)
		} else {
			d[k] = v
		}
	}
	_, err := a.client.CoreV1().Secrets("kube-system").Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "bootstrap-token-" + id},
		Type:       bootstraptoken.SecretType, StringData: d}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// tamper rewrites the middle segment of a JWT (the signature kept).
func tamper(t *testing.T, tok string, edit func(map[string]any)) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	p, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	json.Unmarshal(p, &c)
	edit(c)
	nb, _ := json.Marshal(c)
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(nb) + "." + parts[2]
}

func TestAuthnRefusals(t *testing.T) {
	a := newAuthTestServer(t, tls.VerifyClientCertIfGiven, nil)
	ctx := context.Background()

	// Anonymous: 401 on resources and discovery; health and version open.
	for _, p := range []string{podsPath, "/api/v1/namespaces", "/api", "/apis", "/openapi/v3", "/.well-known/openid-configuration"} {
		code, body, err := a.do(t, nil, "", "GET", p, nil)
		want401(t, "anonymous GET "+p, code, body, err)
	}
	for _, p := range []string{"/healthz", "/livez", "/readyz", "/version"} {
		if code, body, err := a.do(t, nil, "", "GET", p, nil); err != nil || code != http.StatusOK {
			t.Fatalf("anonymous GET %s: %d %s %v", p, code, body, err)
		}
	}
	if code, _, err := a.do(t, &a.admin, "", "GET", podsPath, nil); err != nil || code != http.StatusOK {
		t.Fatalf("admin certificate: %d %v", code, err)
	}

	a.createSA(t, "default", "robot")
	valid := a.mustToken(t, "default", "robot", authenticationv1.TokenRequestSpec{})
	if code, body, err := a.do(t, nil, valid, "GET", podsPath, nil); err != nil || code != http.StatusOK {
		t.Fatalf("valid service account token: %d %s %v", code, body, err)
	}
	vault := a.mustToken(t, "default", "robot", authenticationv1.TokenRequestSpec{Audiences: []string{"vault"}})
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sign := func(key crypto.Signer, now time.Time, issuer string) string {
		sa, err := a.client.CoreV1().ServiceAccounts("default").Get(ctx, "robot", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		iss, err := authn.NewServiceAccountTokens(authn.ServiceAccountConfig{Key: key, Issuer: issuer,
			Lookup: serverLookup{a.srv}, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := iss.Issue(authn.TokenSpec{Namespace: "default", ServiceAccount: authn.ObjectRef{Name: "robot", UID: string(sa.UID)}, Lifetime: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	parts := strings.Split(valid, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sig[0] ^= 0x80

	a.createBootstrapSecret(t, "aaaaaa", "0123456789abcdef", map[string]string{"expiration": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)})
	a.createBootstrapSecret(t, "bbbbbb", "0123456789abcdef", nil)
	a.createBootstrapSecret(t, "cccccc", "0123456789abcdef", map[string]string{"usage-bootstrap-authentication": ""})

	for _, tc := range []struct{ name, token string }{
		{"garbage bearer", "garbage"},
		{"a JWT-shaped garbage bearer", "eyJhbGciOiJFUzI1NiJ9.e30.AAAA"},
		{"tampered signature", parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)},
		{"tampered payload", tamper(t, valid, func(c map[string]any) { c["sub"] = "system:serviceaccount:kube-system:robot" })},
		{"tampered expiry", tamper(t, valid, func(c map[string]any) { c["exp"] = time.Now().Add(1000 * time.Hour).Unix() })},
		{"alg none", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + "."},
		{"signed by another key", sign(otherKey, time.Now(), "")},
		{"another issuer", sign(otherKey, time.Now(), "https://issuer.example")},
		{"expired", sign(a.key, time.Now().Add(-3*time.Hour), "")},
		{"wrong audience", vault},
		{"bootstrap token expired", "aaaaaa.0123456789abcdef"},
		{"bootstrap token wrong secret", "bbbbbb.0123456789abcdee"},
		{"bootstrap token without usage", "cccccc.0123456789abcdef"},
		{"bootstrap token without secret", "dddddd.0123456789abcdef"},
	} {
		code, body, err := a.do(t, nil, tc.token, "GET", podsPath, nil)
		want401(t, tc.name, code, body, err)
	}
	// A valid bootstrap token passes.
	if u, code := a.whoami(t, "bbbbbb.0123456789abcdef"); code != http.StatusCreated || u.Username != "system:bootstrap:bbbbbb" ||
		!slices.Contains(u.Groups, "system:bootstrappers") || !slices.Contains(u.Groups, "system:authenticated") {
		t.Fatalf("bootstrap token: %d %+v", code, u)
	}

	// The service account deleted, or recreated with a new UID.
	a.createSA(t, "default", "gone")
	gone := a.mustToken(t, "default", "gone", authenticationv1.TokenRequestSpec{})
	if u, code := a.whoami(t, gone); code != http.StatusCreated || u.Username != "system:serviceaccount:default:gone" {
		t.Fatalf("before deletion: %d %+v", code, u)
	}
	if err := a.client.CoreV1().ServiceAccounts("default").Delete(ctx, "gone", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	a.eventually401(t, "service account deleted", gone)
	a.createSA(t, "default", "gone")
	a.eventually401(t, "service account recreated", gone)

	// A token bound to a pod dies with the pod.
	pod := a.createPod(t, "default", "web", "robot")
	bound := a.mustToken(t, "default", "robot", authenticationv1.TokenRequestSpec{
		BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "web"}})
	u, code := a.whoami(t, bound)
	if code != http.StatusCreated || !slices.Equal(u.Extra[authn.ExtraPodName], []string{"web"}) ||
		!slices.Equal(u.Extra[authn.ExtraPodUID], []string{string(pod.UID)}) || len(u.Extra[authn.ExtraCredentialID]) != 1 {
		t.Fatalf("pod-bound token: %d %+v", code, u)
	}
	if err := a.client.CoreV1().Pods("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	a.eventually401(t, "bound pod deleted", bound)
	a.createPod(t, "default", "web", "robot")
	a.eventually401(t, "bound pod recreated", bound)

	// A token bound to a secret dies with the secret.
	if _, err := a.client.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sbound := a.mustToken(t, "default", "robot", authenticationv1.TokenRequestSpec{
		BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Secret", Name: "s"}})
	if _, code := a.whoami(t, sbound); code != http.StatusCreated {
		t.Fatalf("secret-bound token: %d", code)
	}
	a.client.CoreV1().Secrets("default").Delete(ctx, "s", metav1.DeleteOptions{})
	a.eventually401(t, "bound secret deleted", sbound)
}

// Client certificates that do not authenticate: another CA, expired, for
// servers only. A listener that verifies certificates itself
// (VerifyClientCertIfGiven, as `kelson server`) fails the handshake (or
// the client sends no certificate: 401); one
// that only requests them (kube-apiserver's RequestClientCert) leaves it
// to the X509 authenticator, which answers 401.
func TestAuthnClientCertificates(t *testing.T) {
	for _, mode := range []tls.ClientAuthType{tls.VerifyClientCertIfGiven, tls.RequestClientCert} {
		t.Run(mode.String(), func(t *testing.T) {
			a := newAuthTestServer(t, mode, nil)
			other := testpki.NewCA(t, t.TempDir(), "other-ca")
			cases := map[string]testpki.Pair{
				"another CA":  other.Issue(t, "system:admin"),
				"expired":     a.ca.Expired(t, "expired-admin"),
				"server-only": a.hand.issue(t, "server-only", []string{authn.SystemPrivileged}, x509.ExtKeyUsageServerAuth),
			}
			for name, pair := range cases {
				code, body, err := a.do(t, &pair, "", "GET", podsPath, nil)
				if mode == tls.RequestClientCert {
					want401(t, name, code, body, err)
					continue
				}
				// Go's client sends no certificate the server's CA list
				// does not name (then: anonymous, 401); otherwise the
				// handshake fails.
				if err == nil {
					want401(t, name, code, body, err)
				}
			}
			plain := a.ca.Issue(t, "alice")
			if u, code := whoamiCert(t, a, &plain); code != http.StatusCreated || u.Username != "alice" {
				t.Fatalf("valid certificate: %d %+v", code, u)
			}
		})
	}
}

func whoamiCert(t *testing.T, a *authTestServer, cert *testpki.Pair) (authenticationv1.UserInfo, int) {
	t.Helper()
	code, body, err := a.do(t, cert, "", "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
		map[string]any{"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
	if err != nil {
		t.Fatal(err)
	}
	var r authenticationv1.SelfSubjectReview
	json.Unmarshal(body, &r)
	return r.Status.UserInfo, code
}

func TestTokenRequest(t *testing.T) {
	a := newAuthTestServer(t, tls.VerifyClientCertIfGiven, func(c *Config) { c.ServiceAccountMaxTokenExpiration = 24 * time.Hour })
	ctx := context.Background()
	a.createSA(t, "default", "robot")
	a.createSA(t, "default", "other")
	a.createPod(t, "default", "web", "robot")
	a.createPod(t, "default", "elsewhere", "other")

	tr, err := a.createToken(t, "default", "robot", authenticationv1.TokenRequestSpec{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Name != "robot" || tr.Namespace != "default" || tr.Status.Token == "" ||
		*tr.Spec.ExpirationSeconds != 3600 || !slices.Equal(tr.Spec.Audiences, []string{authn.DefaultIssuer}) {
		t.Fatalf("defaults: %+v", tr)
	}
	if d := time.Until(tr.Status.ExpirationTimestamp.Time); d < 50*time.Minute || d > 61*time.Minute {
		t.Fatalf("expiration in %s, want an hour", d)
	}
	long := int64(100 * 24 * 3600)
	tr, err = a.createToken(t, "default", "robot", authenticationv1.TokenRequestSpec{ExpirationSeconds: &long})
	if err != nil || *tr.Spec.ExpirationSeconds != 24*3600 {
		t.Fatalf("a 100-day request is cut to the maximum: %v %+v", err, tr)
	}
	tr, err = a.createToken(t, "default", "robot", authenticationv1.TokenRequestSpec{
		BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", Name: "web"}})
	if err != nil || tr.Spec.BoundObjectRef.UID == "" {
		t.Fatalf("pod-bound: %v %+v", err, tr)
	}

	short := int64(300)
	huge := int64(1<<32 + 1)
	for _, tc := range []struct {
		name  string
		sa    string
		spec  authenticationv1.TokenRequestSpec
		check func(error) bool
		msg   string
	}{
		{"too short", "robot", authenticationv1.TokenRequestSpec{ExpirationSeconds: &short}, apierrors.IsInvalid, "may not specify a duration less than 10 minutes"},
		{"too long", "robot", authenticationv1.TokenRequestSpec{ExpirationSeconds: &huge}, apierrors.IsInvalid, "larger than 2^32"},
		{"no such service account", "nobody", authenticationv1.TokenRequestSpec{}, apierrors.IsNotFound, "not found"},
		{"pod of another service account", "robot", authenticationv1.TokenRequestSpec{
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", Name: "elsewhere"}}, apierrors.IsBadRequest, "different serviceaccount"},
		{"bound pod missing", "robot", authenticationv1.TokenRequestSpec{
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", Name: "nope"}}, apierrors.IsNotFound, "not found"},
		{"bound UID mismatch", "robot", authenticationv1.TokenRequestSpec{
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", Name: "web", UID: "0000"}}, apierrors.IsConflict, "does not match the UID in record"},
		{"bound to a ConfigMap", "robot", authenticationv1.TokenRequestSpec{
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "ConfigMap", Name: "x"}}, apierrors.IsBadRequest, "cannot bind token"},
		{"bound to apps/v1", "robot", authenticationv1.TokenRequestSpec{
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "apps/v1", Name: "web"}}, apierrors.IsBadRequest, "cannot bind token"},
	} {
		_, err := a.createToken(t, "default", tc.sa, tc.spec)
		if err == nil || !tc.check(err) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: err %v, want one with %q", tc.name, err, tc.msg)
		}
	}
	// GET of the subresource is not served.
	if code, _, _ := a.do(t, &a.admin, "", "GET", "/api/v1/namespaces/default/serviceaccounts/robot/token", nil); code != http.StatusMethodNotAllowed {
		t.Errorf("GET serviceaccounts/token: %d, want 405", code)
	}
	// Dry run issues nothing.
	tr, err = a.client.CoreV1().ServiceAccounts("default").CreateToken(ctx, "robot", &authenticationv1.TokenRequest{},
		metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil || tr.Status.Token != "" {
		t.Fatalf("dry run: %v %q", err, tr.Status.Token)
	}
}

func TestTokenReviewAndSelfSubjectReview(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "tokens.csv")
	os.WriteFile(tokenFile, []byte("static-secret-token,carol,c-1,\"dev,ops\"\n"), 0o600)
	a := newAuthTestServer(t, tls.VerifyClientCertIfGiven, func(c *Config) {
		c.TokenAuthFile = tokenFile
		c.APIAudiences = []string{authn.DefaultIssuer, "https://api.example"}
	})
	ctx := context.Background()
	sa := a.createSA(t, "default", "robot")
	tok := a.mustToken(t, "default", "robot", authenticationv1.TokenRequestSpec{})
	vault := a.mustToken(t, "default", "robot", authenticationv1.TokenRequestSpec{Audiences: []string{"vault"}})
	review := func(token string, auds ...string) authenticationv1.TokenReviewStatus {
		t.Helper()
		r, err := a.client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
			Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: auds}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Spec.Token != "" {
			t.Fatal("the token is echoed back")
		}
		return r.Status
	}
	st := review(tok)
	if !st.Authenticated || st.User.Username != "system:serviceaccount:default:robot" || st.User.UID != string(sa.UID) ||
		!slices.Contains(st.User.Groups, "system:serviceaccounts:default") || !slices.Equal(st.Audiences, []string{authn.DefaultIssuer, "https://api.example"}) {
		t.Fatalf("valid token: %+v", st)
	}
	if st := review(vault); st.Authenticated || !strings.Contains(st.Error, "audiences") {
		t.Fatalf("a vault token for the API: %+v", st)
	}
	if st := review(vault, "vault", "x"); !st.Authenticated || !slices.Equal(st.Audiences, []string{"vault"}) {
		t.Fatalf("a vault token for vault: %+v", st)
	}
	if st := review("garbage"); st.Authenticated || st.Error == "" || st.User.Username != "" {
		t.Fatalf("garbage: %+v", st)
	}
	if st := review(tamper(t, tok, func(c map[string]any) { c["jti"] = "x" })); st.Authenticated || !strings.Contains(st.Error, "signature") {
		t.Fatalf("tampered: %+v", st)
	}
	st = review("static-secret-token")
	if !st.Authenticated || st.User.Username != "carol" || !slices.Contains(st.User.Groups, "ops") ||
		!slices.Equal(st.Audiences, []string{authn.DefaultIssuer, "https://api.example"}) {
		t.Fatalf("static token: %+v", st)
	}
	if st := review("static-secret-token", "vault"); st.Authenticated {
		t.Fatalf("a static token for another audience: %+v", st)
	}
	if _, err := a.client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{}, metav1.CreateOptions{}); !apierrors.IsBadRequest(err) {
		t.Fatalf("empty token: %v", err)
	}

	// The static token authenticates requests too.
	if u, code := a.whoami(t, "static-secret-token"); code != http.StatusCreated || u.Username != "carol" || u.UID != "c-1" {
		t.Fatalf("static token whoami: %d %+v", code, u)
	}
	if code, body, err := a.do(t, nil, "static-secret-tokeN", "GET", podsPath, nil); true {
		want401(t, "wrong static token", code, body, err)
	}
	ssr, err := a.client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil || ssr.Status.UserInfo.Username != "system:admin" || !slices.Contains(ssr.Status.UserInfo.Groups, "system:masters") {
		t.Fatalf("admin SelfSubjectReview: %v %+v", err, ssr)
	}
	// Other verbs and paths.
	for _, tc := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/apis/authentication.k8s.io/v1/tokenreviews", http.StatusMethodNotAllowed},
		{"DELETE", "/apis/authentication.k8s.io/v1/selfsubjectreviews/x", http.StatusMethodNotAllowed},
		{"POST", "/apis/authentication.k8s.io/v1/namespaces/default/tokenreviews", http.StatusNotFound},
		{"POST", "/apis/authentication.k8s.io/v1/widgets", http.StatusNotFound},
		{"POST", "/apis/authentication.k8s.io/v1beta1/selfsubjectreviews", http.StatusNotFound},
	} {
		if code, body, _ := a.do(t, &a.admin, "", tc.method, tc.path, map[string]any{}); code != tc.code {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, code, body, tc.code)
		}
	}
}

func TestBadTokenFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tokens.csv")
	os.WriteFile(p, []byte("ok,alice,1\nsecret-two,bob\n"), 0o600)
	_, err := New(Config{Store: startMember(t), Authenticators: testAdmin, AuthorizationModes: []string{"AlwaysAllow"}, TokenAuthFile: p})
	if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), "line 2") || strings.Contains(err.Error(), "secret-two") {
		t.Fatalf("bad token file: %v", err)
	}
}

func TestAuthenticationDiscoveryAndIssuer(t *testing.T) {
	a := newAuthTestServer(t, tls.VerifyClientCertIfGiven, nil)
	_, lists, err := a.client.Discovery().ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]metav1.APIResource{}
	for _, l := range lists {
		for _, r := range l.APIResources {
			found[l.GroupVersion+" "+r.Name] = r
		}
	}
	tok := found["v1 serviceaccounts/token"]
	if tok.Kind != "TokenRequest" || tok.Group != "authentication.k8s.io" || tok.Version != "v1" || !slices.Equal(tok.Verbs, []string{"create"}) {
		t.Fatalf("serviceaccounts/token: %+v", tok)
	}
	for _, n := range []string{"tokenreviews", "selfsubjectreviews"} {
		r, ok := found["authentication.k8s.io/v1 "+n]
		if !ok || r.Namespaced || !slices.Equal(r.Verbs, []string{"create"}) {
			t.Fatalf("%s: %+v", n, r)
		}
	}
	// Legacy discovery too.
	code, body, _ := a.do(t, &a.admin, "", "GET", "/apis/authentication.k8s.io/v1", nil)
	if code != http.StatusOK || !strings.Contains(string(body), "selfsubjectreviews") {
		t.Fatalf("legacy discovery: %d %s", code, body)
	}

	// The issuer's JWKS verifies an issued token.
	code, body, _ = a.do(t, &a.admin, "", "GET", "/.well-known/openid-configuration", nil)
	if code != http.StatusOK || !strings.Contains(string(body), `"issuer":"`+authn.DefaultIssuer+`"`) {
		t.Fatalf("openid-configuration: %d %s", code, body)
	}
	code, body, _ = a.do(t, &a.admin, "", "GET", "/openid/v1/jwks", nil)
	var set struct {
		Keys []struct{ Kty, Crv, X, Y, Kid string }
	}
	if err := json.Unmarshal(body, &set); code != http.StatusOK || err != nil || len(set.Keys) != 1 {
		t.Fatalf("jwks: %d %s", code, body)
	}
	x, _ := base64.RawURLEncoding.DecodeString(set.Keys[0].X)
	y, _ := base64.RawURLEncoding.DecodeString(set.Keys[0].Y)
	want := a.key.Public().(*ecdsa.PublicKey)
	if !bytes.Equal(x, want.X.FillBytes(make([]byte, 32))) || !bytes.Equal(y, want.Y.FillBytes(make([]byte, 32))) || set.Keys[0].Kty != "EC" {
		t.Fatalf("jwks key differs from the signing key: %s", body)
	}
}

// kubectl create token, kubectl --token and kubectl auth whoami, with the
// real kubectl over TLS.
func TestKubectlTokens(t *testing.T) {
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Skip("kubectl is not on the PATH")
	}
	a := newAuthTestServer(t, tls.VerifyClientCertIfGiven, nil)
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: %q, certificate-authority: %q}
users:
- name: admin
  user: {client-certificate: %q, client-key: %q}
- name: bearer
  user: {}
contexts:
- name: admin
  context: {cluster: test, user: admin, namespace: default}
- name: bearer
  context: {cluster: test, user: bearer, namespace: default}
current-context: admin
`, a.url, a.caFile, a.admin.CertFile, a.admin.KeyFile)
	if err := os.WriteFile(kc, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	k := &kubectl{t: t, kubeconfig: kc, dir: dir}

	out := k.run(false, "auth", "whoami")
	mustContain(t, out, "ATTRIBUTE", "Username", "system:admin", "Groups", "system:masters", "system:authenticated")

	k.run(false, "create", "serviceaccount", "robot")
	tok := strings.TrimSpace(k.run(false, "create", "token", "robot", "--duration", "20m"))
	if strings.Count(tok, ".") != 2 || strings.ContainsAny(tok, " \n") {
		t.Fatalf("kubectl create token printed %q", tok)
	}
	out = k.run(false, "--context", "bearer", "--token", tok, "auth", "whoami")
	mustContain(t, out, "system:serviceaccount:default:robot", "system:serviceaccounts:default", "authentication.kubernetes.io/credential-id")
	k.run(false, "--context", "bearer", "--token", tok, "get", "pods")

	// Bound to a pod, for another audience.
	pod := k.file("pod.yaml", `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  serviceAccountName: robot
  containers: [{name: c, image: registry.example/app:1}]
`)
	k.run(false, "apply", "-f", pod)
	bound := strings.TrimSpace(k.run(false, "create", "token", "robot", "--bound-object-kind", "Pod", "--bound-object-name", "web",
		"--audience", authn.DefaultIssuer, "--audience", "vault"))
	out = k.run(false, "--context", "bearer", "--token", bound, "auth", "whoami")
	mustContain(t, out, "authentication.kubernetes.io/pod-name", "[web]")
	k.run(false, "delete", "pod", "web")
	deadline := time.Now().Add(20 * time.Second)
	for {
		out = k.run(true, "--context", "bearer", "--token", bound, "get", "pods")
		if strings.Contains(out, "Unauthorized") || strings.Contains(out, "must be logged in") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a token bound to a deleted pod still works:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Refusals kubectl shows.
	mustContain(t, k.run(true, "create", "token", "robot", "--duration", "5m"), "may not specify a duration less than 10 minutes")
	mustContain(t, k.run(true, "create", "token", "nobody"), `serviceaccounts "nobody" not found`)
	out = k.run(true, "--context", "bearer", "--token", tok+"x", "get", "pods")
	mustContain(t, out, "Unauthorized")
	// No credentials: kubectl fails (after asking for a user name on the
	// 401, which its closed stdin cannot give).
	k.run(true, "--context", "bearer", "get", "pods")
}
