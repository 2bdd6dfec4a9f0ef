package authn

import (
	"crypto/x509"
	"fmt"
	"net/http"
)

// X509 authenticates requests by their TLS client certificate: a chain
// to one of roots, valid now, for client authentication. The user is the
// certificate's Common Name, its groups the Organizations — as
// kube-apiserver's --client-ca-file.
//
// The TLS listener should ask for client certificates without requiring
// them (tls.VerifyClientCertIfGiven), so token clients still connect; the
// chain is checked again here against roots.
type X509 struct {
	Roots *x509.CertPool
}

// Authenticate implements Authenticator.
func (x X509) Authenticate(r *http.Request) (*User, bool, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, false, nil
	}
	leaf := r.TLS.PeerCertificates[0]
	opts := x509.VerifyOptions{
		Roots:         x.Roots,
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	for _, c := range r.TLS.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := leaf.Verify(opts); err != nil {
		return nil, false, fmt.Errorf("authn: client certificate %q: %w", leaf.Subject.CommonName, err)
	}
	if leaf.Subject.CommonName == "" {
		return nil, false, fmt.Errorf("authn: client certificate without a common name")
	}
	return &User{Name: leaf.Subject.CommonName, Groups: append([]string(nil), leaf.Subject.Organization...)}, true, nil
}
