package main

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/kelson-dev/kelson/raftnode"
	"github.com/kelson-dev/kelson/raftnode/tlsinfo"
)

func TestStoreTLSFlags(t *testing.T) {
	code, cfg, _, stderr := runCapture(t, "store",
		"--listen-client-urls", "https://127.0.0.1:2379",
		"--cert-file", "s.crt", "--key-file", "s.key", "--trusted-ca-file", "ca.crt", "--client-cert-auth",
		"--listen-peer-urls", "https://127.0.0.1:2380",
		"--peer-cert-file", "p.crt", "--peer-key-file", "p.key", "--peer-trusted-ca-file", "pca.crt", "--peer-client-cert-auth",
		"--auto-tls", "--peer-auto-tls", "--self-signed-cert-validity", "3",
		"--cipher-suites", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
		"--tls-min-version", "TLS1.2", "--tls-max-version", "TLS1.3",
	)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if want := (tlsinfo.Info{CertFile: "s.crt", KeyFile: "s.key", TrustedCAFile: "ca.crt", ClientCertAuth: true, AutoTLS: true}); cfg.ClientTLS != want {
		t.Errorf("client TLS %+v", cfg.ClientTLS)
	}
	if want := (tlsinfo.Info{CertFile: "p.crt", KeyFile: "p.key", TrustedCAFile: "pca.crt", ClientCertAuth: true, AutoTLS: true}); cfg.PeerTLS != want {
		t.Errorf("peer TLS %+v", cfg.PeerTLS)
	}
	if cfg.SelfSignedCertValidity != 3 || cfg.TLSMinVersion != "TLS1.2" || cfg.TLSMaxVersion != "TLS1.3" ||
		!reflect.DeepEqual(cfg.CipherSuites, []string{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}) {
		t.Errorf("params: %d %q %q %q", cfg.SelfSignedCertValidity, cfg.TLSMinVersion, cfg.TLSMaxVersion, cfg.CipherSuites)
	}
}

// TestStoreTLSFlagErrors runs `kelson store` with the real runner: the
// TLS flags are checked before anything listens or touches the disk, and
// refused with etcd's messages and the usage exit code.
func TestStoreTLSFlagErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--cert-file", "s.crt"}, "KeyFile and CertFile must both be present[key: , cert: s.crt]"},
		{[]string{"--peer-key-file", "p.key"}, "--peer-cert-file and --peer-key-file go together"},
		{[]string{"--listen-client-urls", "https://127.0.0.1:2379"},
			"TLS key/cert (--cert-file, --key-file) must be provided for client url https://127.0.0.1:2379 with HTTPS scheme"},
		{[]string{"--listen-peer-urls", "https://127.0.0.1:2380"}, "cannot listen on TLS for 127.0.0.1:2380: KeyFile and CertFile are not presented"},
		{[]string{"--listen-metrics-urls", "https://127.0.0.1:2381"}, "client TLS key/cert (--cert-file, --key-file) must be provided for metrics secure url"},
		{[]string{"--tls-min-version", "TLS1.1"}, `unexpected TLS version "TLS1.1" (must be one of: TLS1.2, TLS1.3)`},
		{[]string{"--tls-min-version", "TLS1.3", "--cipher-suites", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"}, "cipher suites cannot be configured when only TLS1.3 is enabled"},
		{[]string{"--cipher-suites", "TLS_NOPE"}, `unexpected TLS cipher suite "TLS_NOPE"`},
		{[]string{"--listen-metrics-urls", "ftp://127.0.0.1:2381"}, "want http://host:port or https://host:port"},
		{[]string{"--listen-client-urls", "https://127.0.0.1:0", "--cert-file", dir + "/missing.crt", "--key-file", dir + "/missing.key"}, "--cert-file " + dir + "/missing.crt"},
	} {
		var out, errOut bytes.Buffer
		args := append([]string{"store", "--data-dir", dir + "/d", "--listen-peer-urls", "http://127.0.0.1:0"}, c.args...)
		code := execute(context.Background(), args, &out, &errOut, runners{store: raftnode.Run})
		if code != 2 || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", c.args, code, errOut.String(), c.want)
		}
	}
}
