package tlsinfo

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
)

// ErrConfig marks a TLS setting that cannot work; the message names the
// flags and says what to do. Test with errors.Is.
var ErrConfig = errors.New("tlsinfo: bad TLS configuration")

// configError is an ErrConfig whose message is the detail alone, so that a
// caller wrapping it in its own sentinel does not repeat the prefix.
type configError struct{ msg string }

func (e *configError) Error() string        { return e.msg }
func (e *configError) Is(target error) bool { return target == ErrConfig }

func configErrorf(format string, args ...any) error {
	return &configError{msg: fmt.Sprintf(format, args...)}
}

// Side is which of a member's two TLS settings an Info is: the client side
// (client URLs, metrics URLs) or the peer side (peer URLs, and the member
// dialling its peers). It only names the flags in messages.
type Side int

const (
	// Client: --cert-file --key-file --trusted-ca-file --client-cert-auth --auto-tls.
	Client Side = iota
	// Peer: --peer-cert-file --peer-key-file --peer-trusted-ca-file
	// --peer-client-cert-auth --peer-auto-tls.
	Peer
)

// Flag returns the flag of this side named as on the client side:
// Peer.Flag("cert-file") is "--peer-cert-file"; Peer.Flag("client-cert-auth")
// is "--peer-client-cert-auth".
func (s Side) Flag(name string) string {
	if s == Peer {
		return "--peer-" + name
	}
	return "--" + name
}

func (s Side) String() string {
	if s == Peer {
		return "peer"
	}
	return "client"
}

// Info is one side's TLS settings, etcd's TLSInfo as its flags fill it.
// The zero value is no TLS.
type Info struct {
	// CertFile and KeyFile: this member's certificate and key, in PEM
	// [--cert-file --key-file]. The peer side also presents them as its
	// client certificate when it dials a peer. Both or neither.
	CertFile, KeyFile string
	// TrustedCAFile: CA certificates (PEM) that sign the certificates of
	// the other end [--trusted-ca-file]: clients' on a server, and on the
	// peer side also the servers' this member dials. Given on a server, it
	// makes client certificates required, as in etcd.
	TrustedCAFile string
	// ClientCertAuth requires a client certificate signed by TrustedCAFile
	// (the system roots without it) [--client-cert-auth].
	ClientCertAuth bool
	// AutoTLS: without CertFile and KeyFile, use a self-signed certificate
	// made at start (SelfCert) [--auto-tls].
	AutoTLS bool
	// SelfSigned is set by SelfCert: the certificate is self-signed, so the
	// client side skips verification and client certificates cannot be
	// verified.
	SelfSigned bool
}

// Empty reports whether no certificate is given (etcd's TLSInfo.Empty): an
// https:// URL of this side cannot be served.
func (i Info) Empty() bool { return i.CertFile == "" && i.KeyFile == "" }

// Check reports settings that cannot go together on side s. It reads no
// file (Load does).
func (i Info) Check(s Side) error {
	if (i.CertFile == "") != (i.KeyFile == "") {
		return configErrorf("%s and %s go together: KeyFile and CertFile must both be present[key: %v, cert: %v]",
			s.Flag("cert-file"), s.Flag("key-file"), i.KeyFile, i.CertFile)
	}
	return nil
}

// Warnings lists what will be ignored, as etcd warns at start: auto TLS
// beside given certificates, client certificate checks with auto TLS.
func (i Info) Warnings(s Side) []string {
	var w []string
	if i.AutoTLS && !i.Empty() {
		w = append(w, fmt.Sprintf("ignoring %s auto TLS since certs given (%s)", s, s.Flag("auto-tls")))
	}
	if i.AutoTLS && i.Empty() && (i.ClientCertAuth || i.TrustedCAFile != "") {
		w = append(w, fmt.Sprintf("%s and %s are ignored with %s: a self-signed certificate cannot authenticate the other end",
			s.Flag("client-cert-auth"), s.Flag("trusted-ca-file"), s.Flag("auto-tls")))
	}
	return w
}

// Params are the settings both sides share.
type Params struct {
	// CipherSuites for TLS 1.2 in order of preference [--cipher-suites].
	// Default: Go's.
	CipherSuites []uint16
	// MinVersion [--tls-min-version]. Default TLS 1.2.
	MinVersion uint16
	// MaxVersion [--tls-max-version]. Default 0: Go's highest.
	MaxVersion uint16
}

// ParseParams parses etcd's --cipher-suites names (IANA names, as
// crypto/tls spells them, plus etcd's short CHACHA20 names),
// --tls-min-version and --tls-max-version ("TLS1.2", "TLS1.3"; max may be
// "" for Go's highest), with etcd's messages.
func ParseParams(suites []string, minVersion, maxVersion string) (Params, error) {
	var p Params
	var err error
	if minVersion == "" {
		minVersion = "TLS1.2"
	}
	if p.MinVersion, err = parseVersion(minVersion); err != nil {
		return p, fmt.Errorf("--tls-min-version: %w", err)
	}
	if p.MaxVersion, err = parseVersion(maxVersion); err != nil {
		return p, fmt.Errorf("--tls-max-version: %w", err)
	}
	if p.MaxVersion != 0 && p.MinVersion > p.MaxVersion {
		return p, configErrorf("min version (%s) is greater than max version (%s)", minVersion, maxVersion)
	}
	for _, s := range suites {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		id, ok := cipherSuite(s)
		if !ok {
			return p, configErrorf("--cipher-suites: unexpected TLS cipher suite %q (want names such as TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)", s)
		}
		p.CipherSuites = append(p.CipherSuites, id)
	}
	if p.MinVersion == tls.VersionTLS13 && len(p.CipherSuites) > 0 {
		return p, configErrorf("cipher suites cannot be configured when only TLS1.3 is enabled")
	}
	return p, nil
}

func parseVersion(v string) (uint16, error) {
	switch v {
	case "":
		return 0, nil
	case "TLS1.2":
		return tls.VersionTLS12, nil
	case "TLS1.3":
		return tls.VersionTLS13, nil
	}
	return 0, configErrorf("unexpected TLS version %q (must be one of: TLS1.2, TLS1.3)", v)
}

func cipherSuite(name string) (uint16, bool) {
	for _, c := range tls.CipherSuites() {
		if c.Name == name {
			return c.ID, true
		}
	}
	for _, c := range tls.InsecureCipherSuites() {
		if c.Name == name {
			return c.ID, true
		}
	}
	switch name { // etcd's older names
	case "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305":
		return tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, true
	case "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305":
		return tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, true
	}
	return 0, false
}
