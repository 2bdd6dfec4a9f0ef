package authn

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/testpki"
)

func requestWith(t *testing.T, p testpki.Pair) *http.Request {
	t.Helper()
	c, err := tls.LoadX509KeyPair(p.CertFile, p.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	r, _ := http.NewRequest(http.MethodGet, "https://api/", nil)
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}
	return r
}

// The cache answers only for chains that verified, and only while every
// certificate of the chain is valid.
func TestX509CachesVerifiedChains(t *testing.T) {
	dir := t.TempDir()
	ca, other := testpki.NewCA(t, dir, "ca"), testpki.NewCA(t, dir, "other")
	x := NewX509(ca.Pool())
	jane := requestWith(t, ca.IssueUser(t, "jane", false, "devs"))
	for i := 0; i < 2; i++ {
		u, ok, err := x.Authenticate(jane)
		if err != nil || !ok || u.Name != "jane" || len(u.Groups) != 1 || u.Groups[0] != "devs" {
			t.Fatalf("request %d: %+v %v %v", i, u, ok, err)
		}
	}
	if len(x.cache.byChain) != 1 {
		t.Fatalf("cache holds %d chains, want 1", len(x.cache.byChain))
	}
	for name, r := range map[string]*http.Request{
		"another CA's": requestWith(t, other.IssueUser(t, "eve", false, "system:masters")),
		"expired":      requestWith(t, ca.IssueUser(t, "old", true, "system:masters")),
	} {
		for i := 0; i < 2; i++ {
			if _, ok, err := x.Authenticate(r); err == nil || ok {
				t.Errorf("%s certificate, request %d: ok %v err %v, want refused", name, i, ok, err)
			}
		}
	}
	if len(x.cache.byChain) != 1 {
		t.Fatalf("refused chains were cached: %d entries", len(x.cache.byChain))
	}
	key := chainKey(jane.TLS.PeerCertificates)
	if _, ok := x.cache.get(key, time.Now().Add(48*time.Hour)); ok {
		t.Error("a cached chain answered after its certificate ended")
	}
	if _, ok := x.cache.get(key, time.Now()); ok {
		t.Error("an ended entry was not dropped")
	}
}
