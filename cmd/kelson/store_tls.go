package main

import (
	"github.com/kelson-dev/kelson/raftnode"
	"github.com/spf13/pflag"
)

// bindTLSFlags adds etcd's TLS flags of a member onto c (part of
// memberFlags, so `kelson store` and `kelson server` both take them).
func bindTLSFlags(f *pflag.FlagSet, c *raftnode.Config) {
	f.StringVar(&c.ClientTLS.CertFile, "cert-file", "", "path to the client server TLS cert file (serves https:// client and metrics URLs)")
	f.StringVar(&c.ClientTLS.KeyFile, "key-file", "", "path to the client server TLS key file")
	f.StringVar(&c.ClientTLS.TrustedCAFile, "trusted-ca-file", "", "path to the client server TLS trusted CA cert file (clients then need a certificate it signed)")
	f.BoolVar(&c.ClientTLS.ClientCertAuth, "client-cert-auth", false, "require client certificates signed by --trusted-ca-file on https:// client URLs")
	f.BoolVar(&c.ClientTLS.AutoTLS, "auto-tls", false, "client TLS using a generated self-signed certificate (clients skip verification: etcdctl --insecure-skip-tls-verify)")
	f.StringVar(&c.PeerTLS.CertFile, "peer-cert-file", "", "path to the peer server TLS cert file (also presented when dialling peers)")
	f.StringVar(&c.PeerTLS.KeyFile, "peer-key-file", "", "path to the peer server TLS key file")
	f.StringVar(&c.PeerTLS.TrustedCAFile, "peer-trusted-ca-file", "", "path to the peer server TLS trusted CA file (verifies peers both ways)")
	f.BoolVar(&c.PeerTLS.ClientCertAuth, "peer-client-cert-auth", false, "require peer certificates signed by --peer-trusted-ca-file on https:// peer URLs")
	f.BoolVar(&c.PeerTLS.AutoTLS, "peer-auto-tls", false, "peer TLS using generated self-signed certificates (peers are not verified)")
	f.UintVar(&c.SelfSignedCertValidity, "self-signed-cert-validity", 0, "validity of the --auto-tls and --peer-auto-tls certificates, in years (default 1)")
	f.StringSliceVar(&c.CipherSuites, "cipher-suites", nil, "comma-separated TLS 1.2 cipher suites by IANA name, in order of preference (default: Go's)")
	f.StringVar(&c.TLSMinVersion, "tls-min-version", "", "minimum TLS version: TLS1.2 or TLS1.3 (default TLS1.2)")
	f.StringVar(&c.TLSMaxVersion, "tls-max-version", "", "maximum TLS version: TLS1.2 or TLS1.3 (default: Go's highest)")
}
