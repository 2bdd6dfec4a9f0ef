package main

import (
	"crypto/tls"
	"crypto/x509"
	"os"

	"github.com/spf13/pflag"
)

// benchTLS are the TLS flags of `kelson bench`, as etcd's benchmark tool
// and etcdctl name them, for https:// endpoints.
type benchTLS struct {
	cacert, cert, key  string
	insecureSkipVerify bool
}

func (b *benchTLS) bind(f *pflag.FlagSet) {
	f.StringVar(&b.cacert, "cacert", "", "verify the members' certificates with this CA bundle (https:// endpoints)")
	f.StringVar(&b.cert, "cert", "", "identify the client with this certificate (a member with --client-cert-auth)")
	f.StringVar(&b.key, "key", "", "the key of --cert")
	f.BoolVar(&b.insecureSkipVerify, "insecure-skip-tls-verify", false, "do not verify the members' certificates (members with --auto-tls)")
}

// config returns the client TLS configuration the flags describe, or nil
// when none is given (plain text).
func (b *benchTLS) config() (*tls.Config, error) {
	if b.cacert == "" && b.cert == "" && b.key == "" && !b.insecureSkipVerify {
		return nil, nil
	}
	if (b.cert == "") != (b.key == "") {
		return nil, usagef("--cert and --key go together")
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: b.insecureSkipVerify}
	if b.cacert != "" {
		pem, err := os.ReadFile(b.cacert)
		if err != nil {
			return nil, usagef("--cacert: %v", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, usagef("--cacert %s holds no PEM certificate", b.cacert)
		}
	}
	if b.cert != "" {
		c, err := tls.LoadX509KeyPair(b.cert, b.key)
		if err != nil {
			return nil, usagef("--cert %s and --key %s: %v", b.cert, b.key, err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return cfg, nil
}
