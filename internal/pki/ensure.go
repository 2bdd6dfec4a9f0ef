package pki

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// File names in Config.Dir.
const (
	CACertFile      = "ca.crt"
	CAKeyFile       = "ca.key"
	ServingCertFile = "serving-kube-apiserver.crt"
	ServingKeyFile  = "serving-kube-apiserver.key"
	AdminCertFile   = "client-admin.crt"
	AdminKeyFile    = "client-admin.key"
	// The controllers' and the scheduler's client certificates.
	ControllerManagerCertFile = "client-controller-manager.crt"
	ControllerManagerKeyFile  = "client-controller-manager.key"
	SchedulerCertFile         = "client-scheduler.crt"
	SchedulerKeyFile          = "client-scheduler.key"
	// The API server's client certificate towards node agents.
	KubeletClientCertFile = "client-kube-apiserver-kubelet-client.crt"
	KubeletClientKeyFile  = "client-kube-apiserver-kubelet-client.key"
	// ServiceAccountKeyFile signs service account tokens.
	ServiceAccountKeyFile = "service-account.key"
)

// Users of the components' client certificates, as Kubernetes names them.
const (
	ControllerManagerUser = "system:kube-controller-manager"
	SchedulerUser         = "system:kube-scheduler"
	KubeletClientUser     = "kube-apiserver-kubelet-client"
)

// ErrCA is returned when the cluster CA on disk cannot be used; Ensure does
// not replace a CA by itself.
var ErrCA = errors.New("pki: cluster CA unusable")

// Config says where the certificates live and what the serving
// certificate must name.
type Config struct {
	// Dir holds the files; created (0700) when missing. Required.
	Dir string
	// SANs of the serving certificate, usually from ServingSANs.
	SANs SANs
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger reports certificates made; default slog.Default().
	Logger *slog.Logger
}

// Bundle is what a server needs from its certificates.
type Bundle struct {
	// CA is the cluster CA's certificate; CAPEM the same in PEM.
	CA    *x509.Certificate
	CAPEM []byte
	// Serving is the API's serving certificate with its key.
	Serving tls.Certificate
	// AdminCertPEM and AdminKeyPEM are the admin client certificate.
	AdminCertPEM, AdminKeyPEM []byte
	// ControllerManager and Scheduler are the client certificates of the
	// controllers (CN system:kube-controller-manager) and the scheduler
	// (CN system:kube-scheduler).
	ControllerManager, Scheduler PEMPair
	// KubeletClient is the API server's client certificate towards node
	// agents (CN kube-apiserver-kubelet-client, O system:masters).
	KubeletClient tls.Certificate
	// Authority signs node certificates with the cluster CA's key.
	Authority *Authority
	// ServiceAccountKey signs service account tokens (ECDSA P-256, the
	// same on every server); ServiceAccountKeyPEM is its file's content.
	ServiceAccountKey    crypto.Signer
	ServiceAccountKeyPEM []byte
	// Written lists the certificate files written by this call (empty when
	// everything on disk was reused).
	Written []string
}

// PEMPair is a certificate and its key, in PEM.
type PEMPair struct {
	CertPEM, KeyPEM []byte
}

// CAPool returns a pool holding only the cluster CA.
func (b *Bundle) CAPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(b.CA)
	return p
}

// Ensure loads the CA and certificates from cfg.Dir, making what is missing
// or no longer fits (see the package doc), and returns them.
func Ensure(cfg Config) (*Bundle, error) {
	if cfg.Dir == "" {
		return nil, errors.New("pki: no certificate directory")
	}
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: create %s: %w (check the permissions of the data dir, or choose another --data-dir)", cfg.Dir, err)
	}
	b := &Bundle{}
	ca, err := ensureCA(cfg.Dir, now(), b, log)
	if err != nil {
		return nil, err
	}
	b.CA, b.CAPEM = ca.cert, ca.certPEM
	b.Authority = &Authority{Cert: ca.cert, CertPEM: ca.certPEM, key: ca.key}
	sans := cfg.SANs.normalized()
	serving, err := ensureLeaf(cfg.Dir, leafSpec{ServingCertFile, ServingKeyFile, x509.ExtKeyUsageServerAuth, nil, &sans,
		func(serial *big.Int) *x509.Certificate { return servingTemplate(serial, now(), sans) }}, ca, now(), b, log)
	if err != nil {
		return nil, err
	}
	b.Serving = serving.tlsCertificate()
	clients := []struct {
		cert, key string
		subject   pkix.Name
		out       *keyPair
	}{
		{AdminCertFile, AdminKeyFile, pkix.Name{CommonName: AdminUser, Organization: []string{AdminGroup}}, new(keyPair)},
		{ControllerManagerCertFile, ControllerManagerKeyFile, pkix.Name{CommonName: ControllerManagerUser}, new(keyPair)},
		{SchedulerCertFile, SchedulerKeyFile, pkix.Name{CommonName: SchedulerUser}, new(keyPair)},
		{KubeletClientCertFile, KubeletClientKeyFile, pkix.Name{CommonName: KubeletClientUser, Organization: []string{AdminGroup}}, new(keyPair)},
	}
	for _, c := range clients {
		kp, err := ensureLeaf(cfg.Dir, leafSpec{c.cert, c.key, x509.ExtKeyUsageClientAuth, &c.subject, nil,
			func(serial *big.Int) *x509.Certificate { return clientTemplate(serial, now(), c.subject) }}, ca, now(), b, log)
		if err != nil {
			return nil, err
		}
		*c.out = kp
	}
	b.AdminCertPEM, b.AdminKeyPEM = clients[0].out.certPEM, clients[0].out.keyPEM
	b.ControllerManager = PEMPair{clients[1].out.certPEM, clients[1].out.keyPEM}
	b.Scheduler = PEMPair{clients[2].out.certPEM, clients[2].out.keyPEM}
	b.KubeletClient = clients[3].out.tlsCertificate()
	if b.ServiceAccountKey, b.ServiceAccountKeyPEM, err = ensureServiceAccountKey(cfg.Dir, b, log); err != nil {
		return nil, err
	}
	return b, nil
}

// ensureCA loads the cluster CA, or makes one when neither of its files
// exists.
func ensureCA(dir string, now time.Time, b *Bundle, log *slog.Logger) (keyPair, error) {
	return loadOrMakeCA(clusterCA, dir, now, b, log)
}

// caKind names one CA's files and what to say about it.
type caKind struct {
	certFile, keyFile string
	// cnPrefix starts the CN of a new CA (then @<Unix seconds>).
	cnPrefix string
	// what names it in logs ("the cluster CA"); err wraps its errors.
	what string
	err  error
	// removed says what removing it costs, after "remove both to make a
	// new CA".
	removed string
}

var (
	clusterCA = caKind{CACertFile, CAKeyFile, "kelson-ca", "the cluster CA", ErrCA,
		"every kubeconfig of the old one then stops working"}
	storeCA = caKind{StoreCACertFile, StoreCAKeyFile, "kelson-store-ca", "the store CA", ErrStoreCA,
		"on every server of the cluster, then join the others again from the first: the members of one store need one store CA"}
)

// loadOrMakeCA loads the CA of kind from dir, or makes one when neither of
// its files exists. A half present, unreadable, non-CA or expired CA is an
// error wrapping kind.err: a CA is never replaced automatically.
func loadOrMakeCA(kind caKind, dir string, now time.Time, b *Bundle, log *slog.Logger) (keyPair, error) {
	certPath, keyPath := filepath.Join(dir, kind.certFile), filepath.Join(dir, kind.keyFile)
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	switch {
	case errors.Is(certErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist):
		ca, err := newCANamed(now, kind.cnPrefix)
		if err != nil {
			return keyPair{}, err
		}
		if err := writePair(dir, kind.certFile, kind.keyFile, ca, b); err != nil {
			return keyPair{}, err
		}
		log.Info("created "+kind.what, "cert", certPath, "not_after", ca.cert.NotAfter.UTC())
		return ca, nil
	case certErr != nil || keyErr != nil:
		return keyPair{}, fmt.Errorf("%w: %s and %s must both exist or both be absent (%v; %v): restore the missing file, "+
			"or remove both to make a new CA (%s)",
			kind.err, certPath, keyPath, certErr, keyErr, kind.removed)
	}
	ca, err := parseKeyPair(certPEM, keyPEM)
	if err != nil {
		return keyPair{}, fmt.Errorf("%w: %s with %s: %v: restore them, or remove both to make a new CA (%s)", kind.err, certPath, keyPath, err, kind.removed)
	}
	if !ca.cert.IsCA {
		return keyPair{}, fmt.Errorf("%w: %s is not a CA certificate: remove %s and %s to make a new CA (%s)", kind.err, certPath, certPath, keyPath, kind.removed)
	}
	if now.After(ca.cert.NotAfter) {
		if kind.certFile == CACertFile {
			return keyPair{}, fmt.Errorf("%w: %s expired on %s: remove the directory %s to make a new CA and certificates",
				kind.err, certPath, ca.cert.NotAfter.UTC().Format(time.RFC3339), dir)
		}
		return keyPair{}, fmt.Errorf("%w: %s expired on %s: remove %s and %s to make a new CA (%s)",
			kind.err, certPath, ca.cert.NotAfter.UTC().Format(time.RFC3339), certPath, keyPath, kind.removed)
	}
	return ca, nil
}

// leafSpec says what one leaf certificate must be.
type leafSpec struct {
	certFile, keyFile string
	usage             x509.ExtKeyUsage
	subject           *pkix.Name // nil: not checked
	sans              *SANs      // nil: not checked
	tmpl              func(*big.Int) *x509.Certificate
}

// ensureLeaf loads a leaf key pair, or makes a new one from spec.tmpl when
// it is missing, unreadable or no longer fits.
func ensureLeaf(dir string, spec leafSpec, ca keyPair, now time.Time, b *Bundle, log *slog.Logger) (keyPair, error) {
	reason := "missing"
	certPEM, certErr := os.ReadFile(filepath.Join(dir, spec.certFile))
	keyPEM, keyErr := os.ReadFile(filepath.Join(dir, spec.keyFile))
	if certErr == nil && keyErr == nil {
		kp, err := parseKeyPair(certPEM, keyPEM)
		if err == nil {
			if reason = leafProblem(kp.cert, ca.cert, spec.usage, spec.subject, spec.sans, now); reason == "" {
				return kp, nil
			}
		} else {
			reason = "unreadable: " + err.Error()
		}
	}
	kp, err := newLeaf(ca, spec.tmpl)
	if err != nil {
		return keyPair{}, err
	}
	if err := writePair(dir, spec.certFile, spec.keyFile, kp, b); err != nil {
		return keyPair{}, err
	}
	log.Info("wrote a certificate", "cert", filepath.Join(dir, spec.certFile), "reason", reason,
		"subject", kp.cert.Subject.String(), "not_after", kp.cert.NotAfter.UTC())
	return kp, nil
}

// writePair writes the key (0600) before the certificate (0644), so a crash
// between them leaves a pair that does not match, which is made again.
func writePair(dir, certFile, keyFile string, kp keyPair, b *Bundle) error {
	if err := WriteFileAtomic(filepath.Join(dir, keyFile), kp.keyPEM, 0o600); err != nil {
		return err
	}
	if err := WriteFileAtomic(filepath.Join(dir, certFile), kp.certPEM, 0o644); err != nil {
		return err
	}
	b.Written = append(b.Written, certFile, keyFile)
	return nil
}

// WriteFileAtomic writes data to path with mode perm through a temp file in
// the same directory, synced and renamed over path: a reader sees the old
// file or the new one, whole. The parent directory must exist.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if err := f.Chmod(perm); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	return nil
}
