package tlsinfo

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Set is one side's settings loaded: the key pair (read again when its
// files change) and the trusted CAs. It hands out the tls.Configs of the
// side's servers and of its dialler. Safe for concurrent use.
type Set struct {
	side   Side
	info   Info
	params Params
	pair   *keyPair       // nil without a certificate
	pool   *x509.CertPool // nil without TrustedCAFile: the system roots
}

// Load reads the files of i (on side s) once, so that a missing or broken
// file fails the member's start with a message naming the flag. An Info
// without a certificate loads too: its ClientConfig dials https:// URLs
// verifying them against the trusted CAs or the system roots.
func Load(s Side, i Info, p Params, log *slog.Logger) (*Set, error) {
	if err := i.Check(s); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	set := &Set{side: s, info: i, params: p}
	if !i.Empty() {
		kp := &keyPair{certFile: i.CertFile, keyFile: i.KeyFile, log: log}
		if _, err := kp.load(); err != nil {
			return nil, configErrorf("%s %s and %s %s: %v", s.Flag("cert-file"), i.CertFile, s.Flag("key-file"), i.KeyFile, err)
		}
		set.pair = kp
	}
	if i.TrustedCAFile != "" && !i.SelfSigned {
		pem, err := os.ReadFile(i.TrustedCAFile)
		if err != nil {
			return nil, configErrorf("%s: %v", s.Flag("trusted-ca-file"), err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, configErrorf("%s %s holds no PEM certificate", s.Flag("trusted-ca-file"), i.TrustedCAFile)
		}
		set.pool = pool
	}
	return set, nil
}

// Info returns the settings the set was loaded from.
func (s *Set) Info() Info { return s.info }

// ClientCertRequired reports whether this side's servers require a client
// certificate: --trusted-ca-file or --client-cert-auth, unless the
// certificate is self-signed (--auto-tls).
func (s *Set) ClientCertRequired() bool {
	return !s.info.SelfSigned && (s.info.TrustedCAFile != "" || s.info.ClientCertAuth)
}

func (s *Set) base() *tls.Config {
	return &tls.Config{
		MinVersion:   s.params.MinVersion,
		MaxVersion:   s.params.MaxVersion,
		CipherSuites: s.params.CipherSuites,
	}
}

// ServerConfig is the configuration of a server of this side, offering the
// ALPN protocols in the given order of preference. It needs a certificate
// (Info.Empty is false).
func (s *Set) ServerConfig(protos ...string) *tls.Config {
	c := s.base()
	if s.pair != nil {
		c.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.pair.get() }
	}
	if s.ClientCertRequired() {
		c.ClientAuth = tls.RequireAndVerifyClientCert
		c.ClientCAs = s.pool // nil: the system roots
	}
	c.NextProtos = protos
	return c
}

// ClientConfig is the configuration of a connection this side dials (a
// member to its peers): the certificate, if any, as the client
// certificate; the server verified against the trusted CAs (the system
// roots without them), or not at all with a self-signed certificate. The
// caller sets ServerName (grpc's credentials take it from the address).
func (s *Set) ClientConfig() *tls.Config {
	c := s.base()
	if s.pair != nil {
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return s.pair.get() }
	}
	c.RootCAs = s.pool
	c.InsecureSkipVerify = s.info.SelfSigned
	return c
}

// keyPair is a certificate and key read from files, read again when
// either file's size or modification time changes.
type keyPair struct {
	certFile, keyFile string
	log               *slog.Logger

	mu struct {
		sync.Mutex
		cert              *tls.Certificate
		certStat, keyStat fileStamp
	}
}

type fileStamp struct {
	size int64
	mod  time.Time
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{size: fi.Size(), mod: fi.ModTime()}, nil
}

// get returns the current pair. If the files changed but cannot be read
// (half written during a rotation), the previous pair is kept and the
// problem logged.
func (k *keyPair) get() (*tls.Certificate, error) {
	cs, errC := stampOf(k.certFile)
	ks, errK := stampOf(k.keyFile)
	k.mu.Lock()
	cur := k.mu.cert
	same := errC == nil && errK == nil && cs == k.mu.certStat && ks == k.mu.keyStat
	k.mu.Unlock()
	if same && cur != nil {
		return cur, nil
	}
	c, err := k.load()
	if err != nil {
		if cur != nil {
			k.log.Warn("cannot read the changed certificate; serving the previous one", "cert_file", k.certFile, "key_file", k.keyFile, "err", err)
			return cur, nil
		}
		return nil, err
	}
	return c, nil
}

func (k *keyPair) load() (*tls.Certificate, error) {
	cs, err := stampOf(k.certFile)
	if err != nil {
		return nil, err
	}
	ks, err := stampOf(k.keyFile)
	if err != nil {
		return nil, err
	}
	c, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	k.mu.cert, k.mu.certStat, k.mu.keyStat = &c, cs, ks
	k.mu.Unlock()
	return &c, nil
}

// String describes the set for logs.
func (s *Set) String() string {
	return fmt.Sprintf("cert=%s key=%s trusted-ca=%s client-cert-auth=%v self-signed=%v",
		s.info.CertFile, s.info.KeyFile, s.info.TrustedCAFile, s.ClientCertRequired(), s.info.SelfSigned)
}
