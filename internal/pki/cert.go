package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"time"
)

// Lifetimes of the certificates, and how long before its end a leaf
// certificate is replaced.
const (
	CAValidity   = 10 * 365 * 24 * time.Hour
	LeafValidity = 365 * 24 * time.Hour
	RenewBefore  = 90 * 24 * time.Hour
	// backdate starts every certificate an hour early, so a client whose
	// clock is a little behind accepts it.
	backdate = time.Hour
)

// Subject of the admin client certificate: Kubernetes reads the CN as the
// user and O as its groups; system:masters is the group every RBAC setup
// lets do anything (as k3s's admin kubeconfig).
const (
	AdminUser  = "system:admin"
	AdminGroup = "system:masters"
)

// keyPair is a certificate with its private key, parsed and in PEM.
type keyPair struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	keyPEM  []byte
}

func (k keyPair) tlsCertificate() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{k.cert.Raw}, PrivateKey: k.key, Leaf: k.cert}
}

// caTemplate is the cluster CA's certificate, valid from now-backdate for
// CAValidity. The CN carries the creation time, as k3s's does, so CAs of
// different clusters are told apart.
func caTemplate(serial *big.Int, now time.Time) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "kelson-ca@" + strconv.FormatInt(now.Unix(), 10)},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
}

// servingTemplate is the API's serving certificate for the given names.
func servingTemplate(serial *big.Int, now time.Time, sans SANs) *x509.Certificate {
	sans = sans.normalized()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now.Add(-backdate),
		NotAfter:     now.Add(LeafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     sans.DNS,
		IPAddresses:  sans.IPs,
	}
}

// adminTemplate is the admin client certificate.
func adminTemplate(serial *big.Int, now time.Time) *x509.Certificate {
	return clientTemplate(serial, now, pkix.Name{CommonName: AdminUser, Organization: []string{AdminGroup}})
}

// clientTemplate is a client certificate for subject (CN the user, O the
// groups), valid for LeafValidity.
func clientTemplate(serial *big.Int, now time.Time, subject pkix.Name) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      subject,
		NotBefore:    now.Add(-backdate),
		NotAfter:     now.Add(LeafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

// leafProblem says why leaf cannot be kept, or "" if it can: it must be
// signed by ca, for usage, valid at now and for more than RenewBefore after
// it, name subject (when not nil) and — when want is not nil — carry
// exactly those names.
func leafProblem(leaf, ca *x509.Certificate, usage x509.ExtKeyUsage, subject *pkix.Name, want *SANs, now time.Time) string {
	if err := leaf.CheckSignatureFrom(ca); err != nil {
		return "not signed by the cluster CA"
	}
	if subject != nil && !sameSubject(leaf.Subject, *subject) {
		return fmt.Sprintf("subject %q, want %q", leaf.Subject.String(), subject.String())
	}
	if now.Before(leaf.NotBefore) {
		return "not valid yet (" + leaf.NotBefore.UTC().Format(time.RFC3339) + ")"
	}
	if now.Add(RenewBefore).After(leaf.NotAfter) {
		return "expires " + leaf.NotAfter.UTC().Format(time.RFC3339) + ", within 90 days"
	}
	hasUsage := false
	for _, u := range leaf.ExtKeyUsage {
		hasUsage = hasUsage || u == usage
	}
	if !hasUsage {
		return "wrong key usage"
	}
	if want != nil {
		have := SANs{DNS: leaf.DNSNames, IPs: leaf.IPAddresses}
		if !have.Equal(*want) {
			return fmt.Sprintf("names changed (had %s, want %s)", have.normalized(), want.normalized())
		}
	}
	return ""
}

// sameSubject compares the parts of a subject Kubernetes reads: the
// common name (user) and the organizations (groups).
func sameSubject(a, b pkix.Name) bool {
	return a.CommonName == b.CommonName && slices.Equal(a.Organization, b.Organization)
}

// newCA makes a CA key pair.
func newCA(now time.Time) (keyPair, error) {
	return newCANamed(now, "kelson-ca")
}

// newCANamed makes a CA key pair whose CN is prefix@<now in Unix seconds>.
func newCANamed(now time.Time, prefix string) (keyPair, error) {
	serial, err := newSerial()
	if err != nil {
		return keyPair{}, err
	}
	t := caTemplate(serial, now)
	t.Subject.CommonName = prefix + "@" + strconv.FormatInt(now.Unix(), 10)
	return sign(t, nil)
}

// newLeaf makes a key pair from tmpl (its serial is filled in) signed by ca.
func newLeaf(ca keyPair, tmpl func(serial *big.Int) *x509.Certificate) (keyPair, error) {
	serial, err := newSerial()
	if err != nil {
		return keyPair{}, err
	}
	return sign(tmpl(serial), &ca)
}

// sign makes a P-256 key and a certificate for it from tmpl, signed by
// parent (self-signed when parent is nil).
func sign(tmpl *x509.Certificate, parent *keyPair) (keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return keyPair{}, fmt.Errorf("pki: generate key: %w", err)
	}
	issuer, signer := tmpl, key
	if parent != nil {
		issuer, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &key.PublicKey, signer)
	if err != nil {
		return keyPair{}, fmt.Errorf("pki: sign certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return keyPair{}, fmt.Errorf("pki: parse new certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return keyPair{}, fmt.Errorf("pki: encode key: %w", err)
	}
	return keyPair{
		cert:    cert,
		key:     key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// parseKeyPair reads a PEM certificate and its PEM ECDSA key and checks
// that they belong together.
func parseKeyPair(certPEM, keyPEM []byte) (keyPair, error) {
	tc, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return keyPair{}, err
	}
	key, ok := tc.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return keyPair{}, fmt.Errorf("key is %T, not ECDSA", tc.PrivateKey)
	}
	cert, err := x509.ParseCertificate(tc.Certificate[0])
	if err != nil {
		return keyPair{}, err
	}
	return keyPair{cert: cert, key: key, certPEM: certPEM, keyPEM: keyPEM}, nil
}

// newSerial is a random positive 127-bit serial number.
func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("pki: serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}
