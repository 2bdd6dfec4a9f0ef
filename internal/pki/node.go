package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Node identities, as Kubernetes names them: a node agent is the user
// system:node:<node name> in the group system:nodes.
const (
	NodeUserPrefix = "system:node:"
	NodesGroup     = "system:nodes"
)

// ErrNodeRequest marks a node certificate request that cannot be signed:
// a bad node name, address or public key.
var ErrNodeRequest = errors.New("pki: bad node certificate request")

// Authority signs certificates with the cluster CA's key. It is safe for
// concurrent use; its fields are never modified.
type Authority struct {
	// Cert is the CA's certificate; CertPEM the same in PEM.
	Cert    *x509.Certificate
	CertPEM []byte
	key     crypto.Signer
}

// NewAuthority reads the CA's certificate and key, both PEM.
func NewAuthority(certPEM, keyPEM []byte) (*Authority, error) {
	kp, err := parseKeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCA, err)
	}
	if !kp.cert.IsCA {
		return nil, fmt.Errorf("%w: not a CA certificate", ErrCA)
	}
	return &Authority{Cert: kp.cert, CertPEM: kp.certPEM, key: kp.key}, nil
}

// NodeUser is the user name of node name's agent.
func NodeUser(name string) string { return NodeUserPrefix + name }

// CheckNodeName accepts a Node's name: a DNS-1123 subdomain (lower case
// letters, digits, '-' and '.', at most 253 characters), as the API
// server accepts for metadata.name of a Node.
func CheckNodeName(name string) error {
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return fmt.Errorf("%w: node name %q: %s", ErrNodeRequest, name, strings.Join(errs, "; "))
	}
	return nil
}

// CheckPublicKey accepts the keys Kelson signs: ECDSA P-256 or P-384, RSA
// of 2048 to 8192 bits.
func CheckPublicKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() || k.Curve == elliptic.P384() {
			return nil
		}
		return fmt.Errorf("%w: ECDSA key on %s, want P-256 or P-384", ErrNodeRequest, k.Curve.Params().Name)
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n >= 2048 && n <= 8192 {
			return nil
		}
		return fmt.Errorf("%w: RSA key of %d bits, want 2048 to 8192", ErrNodeRequest, k.N.BitLen())
	default:
		return fmt.Errorf("%w: public key of type %T, want ECDSA (P-256, P-384) or RSA", ErrNodeRequest, pub)
	}
}

// ParsePublicKeyPEM reads one PEM "PUBLIC KEY" block (PKIX) and checks it
// with CheckPublicKey.
func ParsePublicKeyPEM(b []byte) (crypto.PublicKey, error) {
	block, rest := pem.Decode(b)
	if block == nil || block.Type != "PUBLIC KEY" || len(strings.TrimSpace(string(rest))) > 0 {
		return nil, fmt.Errorf("%w: want one PEM block PUBLIC KEY", ErrNodeRequest)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: public key: %v", ErrNodeRequest, err)
	}
	if err := CheckPublicKey(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// PublicKeyPEM encodes pub as a PEM "PUBLIC KEY" block.
func PublicKeyPEM(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("pki: encode public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// NodeServingSANs returns the names of node name's serving certificate:
// the node name, hostnames and ips. Each name must be a DNS name (no
// wildcard), each address a unicast one; at most 16 of each.
func NodeServingSANs(name string, hostnames []string, ips []net.IP) (SANs, error) {
	if err := CheckNodeName(name); err != nil {
		return SANs{}, err
	}
	if len(hostnames) > 16 || len(ips) > 16 {
		return SANs{}, fmt.Errorf("%w: %d host names and %d addresses, want at most 16 of each", ErrNodeRequest, len(hostnames), len(ips))
	}
	s := SANs{DNS: []string{name}}
	for _, h := range hostnames {
		h = strings.ToLower(strings.TrimSpace(h))
		if strings.HasPrefix(h, "*") || !validDNSName(h) {
			return SANs{}, fmt.Errorf("%w: host name %q is not a DNS name", ErrNodeRequest, h)
		}
		s.DNS = append(s.DNS, h)
	}
	for _, ip := range ips {
		if ip == nil || ip.IsUnspecified() || ip.IsMulticast() || (ip.To4() != nil && ip.To4().Equal(net.IPv4bcast)) {
			return SANs{}, fmt.Errorf("%w: address %v is not a node's unicast address", ErrNodeRequest, ip)
		}
		s.IPs = append(s.IPs, ip)
	}
	return s.normalized(), nil
}

// nodeSubject is the subject of both certificates of node name.
func nodeSubject(name string) pkix.Name {
	return pkix.Name{CommonName: NodeUser(name), Organization: []string{NodesGroup}}
}

// SignNodeClient signs pub as node name's client certificate (CN
// system:node:<name>, O system:nodes, client authentication only), valid
// from now-1h for LeafValidity. It returns the certificate in PEM.
func (a *Authority) SignNodeClient(name string, pub crypto.PublicKey, now time.Time) ([]byte, error) {
	if err := CheckNodeName(name); err != nil {
		return nil, err
	}
	return a.signLeaf(pub, func(serial *big.Int) *x509.Certificate {
		return clientTemplate(serial, now, nodeSubject(name))
	})
}

// SignNodeServing signs pub as node name's serving certificate (the
// same subject, server authentication only) for sans (from
// NodeServingSANs), valid from now-1h for LeafValidity.
func (a *Authority) SignNodeServing(name string, sans SANs, pub crypto.PublicKey, now time.Time) ([]byte, error) {
	if err := CheckNodeName(name); err != nil {
		return nil, err
	}
	sans = sans.normalized()
	if len(sans.DNS) == 0 && len(sans.IPs) == 0 {
		return nil, fmt.Errorf("%w: a serving certificate needs at least one name", ErrNodeRequest)
	}
	return a.signLeaf(pub, func(serial *big.Int) *x509.Certificate {
		t := servingTemplate(serial, now, sans)
		t.Subject = nodeSubject(name)
		return t
	})
}

func (a *Authority) signLeaf(pub crypto.PublicKey, tmpl func(*big.Int) *x509.Certificate) ([]byte, error) {
	if err := CheckPublicKey(pub); err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	t := tmpl(serial)
	der, err := x509.CreateCertificate(rand.Reader, t, a.Cert, pub, a.key)
	if err != nil {
		return nil, fmt.Errorf("pki: sign certificate %q: %w", t.Subject.CommonName, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// NodeCertKind is which of a node's two certificates is checked.
type NodeCertKind int

const (
	// NodeClient is the agent's client certificate towards the API.
	NodeClient NodeCertKind = iota
	// NodeServing is the certificate the agent's port serves.
	NodeServing
)

func (k NodeCertKind) String() string {
	if k == NodeServing {
		return "serving"
	}
	return "client"
}

// CertState is what to do with a certificate a node holds.
type CertState int

const (
	// CertKeep: the certificate fits and has more than a third of its
	// lifetime left.
	CertKeep CertState = iota
	// CertRenew: the certificate is valid now but is in the last third of
	// its lifetime (or, for a serving certificate, names other addresses):
	// get a new one, authenticating with the client certificate.
	CertRenew
	// CertUnusable: missing, expired, not yet valid, from another CA or
	// for another node: get a new one with the join token.
	CertUnusable
)

func (s CertState) String() string {
	return [...]string{"keep", "renew", "unusable"}[s]
}

// RenewalDue reports whether less than a third of cert's lifetime is left
// at now (for a one-year certificate: about four months before its end).
func RenewalDue(cert *x509.Certificate, now time.Time) bool {
	lifetime := cert.NotAfter.Sub(cert.NotBefore)
	return !now.Before(cert.NotAfter.Add(-lifetime / 3))
}

// CheckNodeCert decides what node name does with cert (nil: none on
// disk), the kind certificate issued by ca; for a serving certificate,
// want (when not nil) are the names it must carry. The reason is for logs.
func CheckNodeCert(cert, ca *x509.Certificate, kind NodeCertKind, name string, want *SANs, now time.Time) (CertState, string) {
	usage := x509.ExtKeyUsageClientAuth
	if kind == NodeServing {
		usage = x509.ExtKeyUsageServerAuth
	}
	switch {
	case cert == nil:
		return CertUnusable, "missing"
	case cert.CheckSignatureFrom(ca) != nil:
		return CertUnusable, "not signed by the cluster CA"
	case now.Before(cert.NotBefore):
		return CertUnusable, "not valid until " + cert.NotBefore.UTC().Format(time.RFC3339)
	case !now.Before(cert.NotAfter):
		return CertUnusable, "expired " + cert.NotAfter.UTC().Format(time.RFC3339)
	case !sameSubject(cert.Subject, nodeSubject(name)):
		return CertUnusable, fmt.Sprintf("subject %q is not node %s's", cert.Subject.String(), name)
	}
	hasUsage := false
	for _, u := range cert.ExtKeyUsage {
		hasUsage = hasUsage || u == usage
	}
	if !hasUsage {
		return CertUnusable, "not for " + kind.String() + " authentication"
	}
	if want != nil {
		if have := (SANs{DNS: cert.DNSNames, IPs: cert.IPAddresses}); !have.Equal(*want) {
			return CertRenew, fmt.Sprintf("names changed (had %s, want %s)", have.normalized(), want.normalized())
		}
	}
	if RenewalDue(cert, now) {
		return CertRenew, "less than a third of its lifetime left (expires " + cert.NotAfter.UTC().Format(time.RFC3339) + ")"
	}
	return CertKeep, ""
}

// ParseCertPEM reads the first certificate of a PEM file.
func ParseCertPEM(b []byte) (*x509.Certificate, error) {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return nil, errors.New("pki: no PEM certificate")
		}
		if block.Type == "CERTIFICATE" {
			return x509.ParseCertificate(block.Bytes)
		}
	}
}

// NewKeyPEM makes a P-256 private key, returned with its PEM ("EC
// PRIVATE KEY"), for a node to keep and have signed.
func NewKeyPEM() (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: generate key: %w", err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: encode key: %w", err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}
