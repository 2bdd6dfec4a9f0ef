package pki

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/apiserver/authn"
)

func testAuthority(t *testing.T) *Authority {
	t.Helper()
	b := ensure(t, t.TempDir(), defaultSANs(t), time.Now())
	return b.Authority
}

func mustParse(t *testing.T, p []byte) *x509.Certificate {
	t.Helper()
	c, err := ParseCertPEM(p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSignNodeCertificates(t *testing.T) {
	ca := testAuthority(t)
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	key, _, err := NewKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	clientPEM, err := ca.SignNodeClient("node-b", &key.PublicKey, now)
	if err != nil {
		t.Fatal(err)
	}
	client := mustParse(t, clientPEM)
	if client.Subject.CommonName != "system:node:node-b" || !slices.Equal(client.Subject.Organization, []string{"system:nodes"}) {
		t.Errorf("client subject %v", client.Subject)
	}
	if d := client.NotAfter.Sub(now); d < LeafValidity-time.Minute || d > LeafValidity {
		t.Errorf("client certificate valid for %v", d)
	}
	// The API's X509 authenticator reads it as the node.
	u, ok, err := authn.X509{Roots: roots}.Authenticate(&http.Request{TLS: tlsState(client)})
	if err != nil || !ok || u.Name != "system:node:node-b" || !slices.Equal(u.Groups, []string{"system:nodes"}) {
		t.Errorf("authenticated as %+v, %v, %v", u, ok, err)
	}

	sans, err := NodeServingSANs("node-b", []string{"Host-B"}, []net.IP{net.ParseIP("192.168.1.3"), net.ParseIP("fd00::3")})
	if err != nil {
		t.Fatal(err)
	}
	servingPEM, err := ca.SignNodeServing("node-b", sans, &key.PublicKey, now)
	if err != nil {
		t.Fatal(err)
	}
	serving := mustParse(t, servingPEM)
	for _, name := range []string{"node-b", "host-b", "192.168.1.3", "fd00::3"} {
		if _, err := serving.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("serving certificate for %s: %v", name, err)
		}
	}
	for _, name := range []string{"kubernetes.default.svc", "localhost", "127.0.0.1", "node-c"} {
		if _, err := serving.Verify(x509.VerifyOptions{DNSName: name, Roots: roots}); err == nil {
			t.Errorf("serving certificate verifies for %s", name)
		}
	}
	// A serving certificate is no client certificate: the API refuses it.
	if _, _, err := (authn.X509{Roots: roots}).Authenticate(&http.Request{TLS: tlsState(serving)}); err == nil {
		t.Error("the serving certificate authenticates as a client")
	}
	// Nor is a client certificate a serving one.
	if _, err := client.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("the client certificate verifies as a serving one")
	}

	// What is refused.
	ed, _, _ := ed25519.GenerateKey(rand.Reader)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	for _, c := range []struct {
		name string
		pub  any
	}{
		{"Node-B", &key.PublicKey}, {"node_b", &key.PublicKey}, {"", &key.PublicKey}, {strings.Repeat("a", 254), &key.PublicKey},
		{"system:node:x", &key.PublicKey},
		{"node-b", ed}, {"node-b", &small.PublicKey}, {"node-b", &p224.PublicKey}, {"node-b", nil},
	} {
		if _, err := ca.SignNodeClient(c.name, c.pub, now); !errors.Is(err, ErrNodeRequest) {
			t.Errorf("SignNodeClient(%q, %T): %v, want ErrNodeRequest", c.name, c.pub, err)
		}
	}
}

func tlsState(c *x509.Certificate) *tls.ConnectionState {
	return &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}}
}

func TestNodeServingSANs(t *testing.T) {
	for _, c := range []struct {
		hosts []string
		ips   []string
		ok    bool
	}{
		{nil, nil, true},
		{[]string{"host.example"}, []string{"10.0.0.1", "fd00::1"}, true},
		{[]string{"*.example"}, nil, false},
		{[]string{"a b"}, nil, false},
		{nil, []string{"0.0.0.0"}, false},
		{nil, []string{"224.0.0.1"}, false},
		{nil, []string{"255.255.255.255"}, false},
		{slices.Repeat([]string{"h"}, 17), nil, false},
	} {
		var ips []net.IP
		for _, s := range c.ips {
			ips = append(ips, net.ParseIP(s))
		}
		s, err := NodeServingSANs("n1", c.hosts, ips)
		if (err == nil) != c.ok {
			t.Errorf("NodeServingSANs(%q, %q): %v, want ok %v", c.hosts, c.ips, err, c.ok)
		}
		if err == nil && !slices.Contains(s.DNS, "n1") {
			t.Errorf("SANs %v lack the node name", s)
		}
	}
}

func TestCheckNodeCert(t *testing.T) {
	ca := testAuthority(t)
	other := testAuthority(t)
	key, _, _ := NewKeyPEM()
	issued := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	sign := func(a *Authority, name string, serving bool) *x509.Certificate {
		var p []byte
		var err error
		if serving {
			p, err = a.SignNodeServing(name, SANs{DNS: []string{name}}, &key.PublicKey, issued)
		} else {
			p, err = a.SignNodeClient(name, &key.PublicKey, issued)
		}
		if err != nil {
			t.Fatal(err)
		}
		return mustParse(t, p)
	}
	client, serving := sign(ca, "n1", false), sign(ca, "n1", true)
	sans := SANs{DNS: []string{"n1"}}
	moved := SANs{DNS: []string{"n1"}, IPs: []net.IP{net.ParseIP("10.0.0.9")}}
	lifetime := client.NotAfter.Sub(client.NotBefore)
	for _, c := range []struct {
		what string
		cert *x509.Certificate
		kind NodeCertKind
		want *SANs
		now  time.Time
		out  CertState
	}{
		{"fresh client", client, NodeClient, nil, issued, CertKeep},
		{"fresh serving", serving, NodeServing, &sans, issued, CertKeep},
		{"just before the last third", client, NodeClient, nil, client.NotAfter.Add(-lifetime/3 - time.Minute), CertKeep},
		{"in the last third", client, NodeClient, nil, client.NotAfter.Add(-lifetime/3 + time.Minute), CertRenew},
		{"a minute before the end", client, NodeClient, nil, client.NotAfter.Add(-time.Minute), CertRenew},
		{"expired", client, NodeClient, nil, client.NotAfter, CertUnusable},
		{"not valid yet", client, NodeClient, nil, client.NotBefore.Add(-time.Minute), CertUnusable},
		{"missing", nil, NodeClient, nil, issued, CertUnusable},
		{"another CA", sign(other, "n1", false), NodeClient, nil, issued, CertUnusable},
		{"another node", sign(ca, "n2", false), NodeClient, nil, issued, CertUnusable},
		{"serving as client", serving, NodeClient, nil, issued, CertUnusable},
		{"client as serving", client, NodeServing, &sans, issued, CertUnusable},
		{"serving, new address", serving, NodeServing, &moved, issued, CertRenew},
	} {
		got, reason := CheckNodeCert(c.cert, ca.Cert, c.kind, "n1", c.want, c.now)
		if got != c.out {
			t.Errorf("%s: %v (%s), want %v", c.what, got, reason, c.out)
		}
		if got != CertKeep && reason == "" {
			t.Errorf("%s: no reason", c.what)
		}
	}
}

func TestPublicKeyPEM(t *testing.T) {
	key, _, _ := NewKeyPEM()
	p, err := PublicKeyPEM(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicKeyPEM(p)
	if err != nil || !key.PublicKey.Equal(pub) {
		t.Fatalf("round trip: %v", err)
	}
	ed, _, _ := ed25519.GenerateKey(rand.Reader)
	edPEM, _ := PublicKeyPEM(ed)
	for _, bad := range [][]byte{nil, []byte("garbage"), append(p, p...), edPEM,
		[]byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")} {
		if _, err := ParsePublicKeyPEM(bad); !errors.Is(err, ErrNodeRequest) {
			t.Errorf("ParsePublicKeyPEM(%.30q): %v", bad, err)
		}
	}
}
