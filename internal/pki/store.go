package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Store certificates: the files a `kelson server`'s store member uses when
// its peer or client URLs are https:// and no certificate was given on the
// command line. All are signed by the store CA (etcd-ca.crt, etcd-ca.key),
// a CA of their own — never the cluster CA, which also signs node agents'
// and users' client certificates: a certificate of the cluster CA must not
// open the store (with etcd auth off, it would read and write every key,
// past RBAC). The servers of one cluster share the store CA (joining
// servers fetch it with the cluster CA), so their members trust each
// other, and a member or client of another CA is refused.
//
//	etcd-ca.crt, .key       the store CA, ECDSA P-256, 10 years; made once
//	                        (EnsureStoreCA), never replaced automatically
//	etcd-peer.crt, .key     the member's peer certificate: server and client
//	                        authentication (it serves the peer URLs and is
//	                        presented when dialling peers); names from the
//	                        peer URLs plus localhost, 127.0.0.1, ::1
//	etcd-server.crt, .key   the member's serving certificate of its client
//	                        URLs; names from the client and metrics URLs
//	                        plus the loopback names
//	etcd-client.crt, .key   a client certificate for etcdctl, CN root (the
//	                        store's root user once etcd auth is enabled;
//	                        with auth disabled any certificate of the store
//	                        CA is accepted)
const (
	StoreCACertFile     = "etcd-ca.crt"
	StoreCAKeyFile      = "etcd-ca.key"
	StorePeerCertFile   = "etcd-peer.crt"
	StorePeerKeyFile    = "etcd-peer.key"
	StoreServerCertFile = "etcd-server.crt"
	StoreServerKeyFile  = "etcd-server.key"
	StoreClientCertFile = "etcd-client.crt"
	StoreClientKeyFile  = "etcd-client.key"
)

// Subjects of the store certificates. StoreClientUser is the etcd user of
// the etcdctl certificate when etcd auth is enabled (the CN is the user
// with client certificate authentication).
const (
	StorePeerCN     = "kelson-store-peer"
	StoreServerCN   = "kelson-store-server"
	StoreClientUser = "root"
)

// storeUsages are the key usages of the peer and serving certificates:
// both, as etcd's own docs advise for member certificates (a peer dials
// with the certificate it serves with).
var storeUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}

// ErrStoreCA is returned when the store CA on disk cannot be used;
// EnsureStoreCA does not replace a CA by itself.
var ErrStoreCA = errors.New("pki: store CA unusable")

// StoreAuthority signs the store certificates with the store CA's key.
// Its fields are never modified.
type StoreAuthority struct {
	// Cert is the store CA's certificate; CertPEM the same in PEM.
	Cert    *x509.Certificate
	CertPEM []byte
	key     *ecdsa.PrivateKey
}

// EnsureStoreCA loads the store CA from dir (DATA_DIR/tls), or makes one
// when neither etcd-ca.crt nor etcd-ca.key exists, with the cluster CA's
// rules: a half present, unreadable, non-CA or expired store CA is an
// error (ErrStoreCA) naming the files, never replaced. dir must exist. A
// running server calls it once, at start; its renewals use the returned
// authority (EnsureStore), never a CA made later.
func EnsureStoreCA(dir string, now time.Time, log *slog.Logger) (*StoreAuthority, error) {
	if dir == "" {
		return nil, errors.New("pki: no certificate directory")
	}
	if log == nil {
		log = slog.Default()
	}
	kp, err := loadOrMakeCA(storeCA, dir, now, &Bundle{}, log)
	if err != nil {
		return nil, err
	}
	return &StoreAuthority{Cert: kp.cert, CertPEM: kp.certPEM, key: kp.key}, nil
}

// NewStoreAuthority reads a store CA's certificate and key, both PEM (as a
// joining server receives them).
func NewStoreAuthority(certPEM, keyPEM []byte) (*StoreAuthority, error) {
	kp, err := parseKeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStoreCA, err)
	}
	if !kp.cert.IsCA {
		return nil, fmt.Errorf("%w: not a CA certificate", ErrStoreCA)
	}
	return &StoreAuthority{Cert: kp.cert, CertPEM: kp.certPEM, key: kp.key}, nil
}

// ErrStoreURL is returned for a store URL whose host cannot be named in a
// certificate.
var ErrStoreURL = errors.New("pki: bad store URL")

// StoreSANs returns the names a store member's certificate must carry for
// the given URLs (peer URLs, or client and metrics URLs): each URL's host,
// an IP address or a DNS name, except the unspecified addresses (0.0.0.0,
// ::), which no client dials; plus localhost, 127.0.0.1 and ::1. Sorted
// and without duplicates, so two lists compare with Equal. Pure.
func StoreSANs(urls ...[]string) (SANs, error) {
	s := SANs{DNS: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}}
	for _, list := range urls {
		for _, raw := range list {
			u, err := url.Parse(strings.TrimSpace(raw))
			if err != nil || u.Host == "" {
				return SANs{}, fmt.Errorf("%w: %q: want scheme://host:port", ErrStoreURL, raw)
			}
			host := u.Hostname()
			if ip := net.ParseIP(host); ip != nil {
				if !ip.IsUnspecified() {
					s.IPs = append(s.IPs, ip)
				}
				continue
			}
			if !validDNSName(host) {
				return SANs{}, fmt.Errorf("%w: %q: its host %q is neither an IP address nor a DNS name", ErrStoreURL, raw, host)
			}
			s.DNS = append(s.DNS, strings.ToLower(host))
		}
	}
	return s.normalized(), nil
}

// StoreConfig says which store certificates to keep and for which names.
type StoreConfig struct {
	// Dir holds the files (DATA_DIR/tls); it must exist.
	Dir string
	// Peer: the names of the peer certificate; nil makes none.
	Peer *SANs
	// Server: the names of the client URLs' serving certificate; nil makes
	// neither it nor the etcdctl client certificate.
	Server *SANs
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger reports certificates made; default slog.Default().
	Logger *slog.Logger
}

// StoreFiles are the paths of the store certificates EnsureStore kept or
// made ("" for those not asked for).
type StoreFiles struct {
	// CAFile is the store CA's certificate (etcd-ca.crt): the only CA
	// trusted by both sides.
	CAFile                string
	PeerCert, PeerKey     string
	ServerCert, ServerKey string
	ClientCert, ClientKey string
	// Written lists the files written by this call (empty when everything
	// on disk was reused).
	Written []string
}

// EnsureStore keeps the store certificates cfg asks for, signed by the
// store CA a:
// each is made again when missing or unreadable, not signed by a, within
// RenewBefore of its end, of another subject or usage, or — peer and
// serving certificates — naming other hosts than wanted (see
// StoreLeafProblem). Safe to call again while a member serves the files:
// each file is replaced atomically, the key before the certificate, and
// the member reads a pair again when its files change. The store CA file
// in cfg.Dir must be a's: one removed or replaced under a running server
// is refused (ErrStoreCA) rather than trusted or signed for.
func (a *StoreAuthority) EnsureStore(cfg StoreConfig) (StoreFiles, error) {
	if cfg.Dir == "" {
		return StoreFiles{}, errors.New("pki: no certificate directory")
	}
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if a == nil || a.key == nil {
		return StoreFiles{}, fmt.Errorf("%w: no store CA", ErrStoreCA)
	}
	ca := keyPair{cert: a.Cert, key: a.key, certPEM: a.CertPEM}
	out := StoreFiles{CAFile: filepath.Join(cfg.Dir, StoreCACertFile)}
	if onDisk, err := os.ReadFile(out.CAFile); err != nil || !bytes.Equal(onDisk, a.CertPEM) {
		return StoreFiles{}, fmt.Errorf("%w: %s is gone or not the store CA this server started with (%v): restore it, "+
			"or restart the server to use another store CA", ErrStoreCA, out.CAFile, err)
	}
	var b Bundle // collects Written
	path := func(f string) string { return filepath.Join(cfg.Dir, f) }
	if cfg.Peer != nil {
		sans := cfg.Peer.normalized()
		if err := ensureStoreLeaf(cfg.Dir, StorePeerCertFile, StorePeerKeyFile, pkix.Name{CommonName: StorePeerCN}, storeUsages, &sans, ca, now(), &b, log); err != nil {
			return StoreFiles{}, err
		}
		out.PeerCert, out.PeerKey = path(StorePeerCertFile), path(StorePeerKeyFile)
	}
	if cfg.Server != nil {
		sans := cfg.Server.normalized()
		if err := ensureStoreLeaf(cfg.Dir, StoreServerCertFile, StoreServerKeyFile, pkix.Name{CommonName: StoreServerCN}, storeUsages, &sans, ca, now(), &b, log); err != nil {
			return StoreFiles{}, err
		}
		out.ServerCert, out.ServerKey = path(StoreServerCertFile), path(StoreServerKeyFile)
		if err := ensureStoreLeaf(cfg.Dir, StoreClientCertFile, StoreClientKeyFile, pkix.Name{CommonName: StoreClientUser},
			[]x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil, ca, now(), &b, log); err != nil {
			return StoreFiles{}, err
		}
		out.ClientCert, out.ClientKey = path(StoreClientCertFile), path(StoreClientKeyFile)
	}
	out.Written = b.Written
	return out, nil
}

// ensureStoreLeaf keeps or makes one store certificate.
func ensureStoreLeaf(dir, certFile, keyFile string, subject pkix.Name, usages []x509.ExtKeyUsage, sans *SANs,
	ca keyPair, now time.Time, b *Bundle, log *slog.Logger) error {
	reason := "missing"
	certPEM, certErr := os.ReadFile(filepath.Join(dir, certFile))
	keyPEM, keyErr := os.ReadFile(filepath.Join(dir, keyFile))
	if certErr == nil && keyErr == nil {
		kp, err := parseKeyPair(certPEM, keyPEM)
		if err == nil {
			if reason = StoreLeafProblem(kp.cert, ca.cert, subject, usages, sans, now); reason == "" {
				return nil
			}
		} else {
			reason = "unreadable: " + err.Error()
		}
	}
	kp, err := newLeaf(ca, func(serial *big.Int) *x509.Certificate { return storeTemplate(serial, now, subject, usages, sans) })
	if err != nil {
		return err
	}
	if err := writePair(dir, certFile, keyFile, kp, b); err != nil {
		return err
	}
	log.Info("wrote a store certificate", "cert", filepath.Join(dir, certFile), "reason", reason,
		"subject", kp.cert.Subject.String(), "not_after", kp.cert.NotAfter.UTC())
	return nil
}

// StoreLeafProblem says why a store certificate cannot be kept, or "" if
// it can: it must be signed by ca, of subject, valid at now and for more
// than RenewBefore after it, carry every one of usages and — when sans is
// not nil — exactly those names. Pure.
func StoreLeafProblem(leaf, ca *x509.Certificate, subject pkix.Name, usages []x509.ExtKeyUsage, sans *SANs, now time.Time) string {
	if len(usages) == 0 {
		return "no key usage wanted"
	}
	if p := leafProblem(leaf, ca, usages[0], &subject, sans, now); p != "" {
		return p
	}
	for _, u := range usages[1:] {
		found := false
		for _, have := range leaf.ExtKeyUsage {
			found = found || have == u
		}
		if !found {
			return "wrong key usage"
		}
	}
	return ""
}

// storeTemplate is a store certificate valid for LeafValidity.
func storeTemplate(serial *big.Int, now time.Time, subject pkix.Name, usages []x509.ExtKeyUsage, sans *SANs) *x509.Certificate {
	t := &x509.Certificate{
		SerialNumber: serial,
		Subject:      subject,
		NotBefore:    now.Add(-backdate),
		NotAfter:     now.Add(LeafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usages,
	}
	if sans != nil {
		n := sans.normalized()
		t.DNSNames, t.IPAddresses = n.DNS, n.IPs
	}
	return t
}
