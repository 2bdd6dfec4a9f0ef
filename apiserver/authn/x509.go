package authn

import (
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// X509 authenticates requests by their TLS client certificate: a chain
// to one of roots, valid now, for client authentication. The user is the
// certificate's Common Name, its groups the Organizations — as
// kube-apiserver's --client-ca-file.
//
// The TLS listener asks for client certificates without checking them
// (tls.RequestClientCert), so token clients still connect and a bad
// certificate gets a 401 here rather than a failed handshake.
//
// The zero cache verifies the chain on every request; NewX509 keeps the
// users of chains verified before (bounded), so a client's requests after
// its first cost a hash, not a signature check.
type X509 struct {
	Roots *x509.CertPool
	cache *verifiedChains
}

// NewX509 is X509 over roots with a cache of verified chains.
func NewX509(roots *x509.CertPool) X509 {
	return X509{Roots: roots, cache: &verifiedChains{byChain: map[[32]byte]verifiedChain{}}}
}

// Authenticate implements Authenticator.
func (x X509) Authenticate(r *http.Request) (*User, bool, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, false, nil
	}
	now := time.Now()
	key := chainKey(r.TLS.PeerCertificates)
	if u, ok := x.cache.get(key, now); ok {
		return u, true, nil
	}
	leaf := r.TLS.PeerCertificates[0]
	opts := x509.VerifyOptions{
		Roots:         x.Roots,
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		CurrentTime:   now,
	}
	for _, c := range r.TLS.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	chains, err := leaf.Verify(opts)
	if err != nil {
		return nil, false, fmt.Errorf("authn: client certificate %q: %w", leaf.Subject.CommonName, err)
	}
	if leaf.Subject.CommonName == "" {
		return nil, false, fmt.Errorf("authn: client certificate without a common name")
	}
	u := &User{Name: leaf.Subject.CommonName, Groups: append([]string(nil), leaf.Subject.Organization...)}
	x.cache.put(key, u, chains[0])
	return u, true, nil
}

// chainKey identifies the certificates a client presented.
func chainKey(certs []*x509.Certificate) [32]byte {
	h := sha256.New()
	for _, c := range certs {
		h.Write(c.Raw)
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// maxVerifiedChains bounds the cache: past it, the cache starts afresh.
const maxVerifiedChains = 4096

// verifiedChains remembers the users of chains that verified, and until
// when every certificate of the chain is valid. A nil cache remembers
// nothing. Safe for concurrent use.
type verifiedChains struct {
	mu      sync.Mutex
	byChain map[[32]byte]verifiedChain // guarded by mu
}

type verifiedChain struct {
	user                *User
	notBefore, notAfter time.Time
}

func (c *verifiedChains) get(key [32]byte, now time.Time) (*User, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.byChain[key]
	if !ok {
		return nil, false
	}
	if now.Before(v.notBefore) || now.After(v.notAfter) {
		delete(c.byChain, key)
		return nil, false
	}
	return v.user, true
}

func (c *verifiedChains) put(key [32]byte, u *User, chain []*x509.Certificate) {
	if c == nil {
		return
	}
	v := verifiedChain{user: u, notBefore: chain[0].NotBefore, notAfter: chain[0].NotAfter}
	for _, cert := range chain[1:] {
		if cert.NotBefore.After(v.notBefore) {
			v.notBefore = cert.NotBefore
		}
		if cert.NotAfter.Before(v.notAfter) {
			v.notAfter = cert.NotAfter
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.byChain) >= maxVerifiedChains {
		c.byChain = map[[32]byte]verifiedChain{}
	}
	c.byChain[key] = v
}
