package tlsinfo

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/testpki"
	"google.golang.org/grpc/credentials"
)

func TestParseParams(t *testing.T) {
	for _, tc := range []struct {
		suites   []string
		min, max string
		want     Params
		err      string
	}{
		{nil, "", "", Params{MinVersion: tls.VersionTLS12}, ""},
		{nil, "TLS1.3", "", Params{MinVersion: tls.VersionTLS13}, ""},
		{nil, "TLS1.2", "TLS1.2", Params{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12}, ""},
		{[]string{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", " TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305"}, "", "",
			Params{MinVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}}, ""},
		{nil, "TLS1.0", "", Params{}, `--tls-min-version: unexpected TLS version "TLS1.0" (must be one of: TLS1.2, TLS1.3)`},
		{nil, "", "SSL3", Params{}, `--tls-max-version: unexpected TLS version "SSL3"`},
		{nil, "TLS1.3", "TLS1.2", Params{}, "min version (TLS1.3) is greater than max version (TLS1.2)"},
		{[]string{"RC4"}, "", "", Params{}, `unexpected TLS cipher suite "RC4"`},
		{[]string{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"}, "TLS1.3", "", Params{}, "cipher suites cannot be configured when only TLS1.3 is enabled"},
	} {
		got, err := ParseParams(tc.suites, tc.min, tc.max)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrConfig) {
				t.Errorf("%v %q %q: err %v, want ErrConfig with %q", tc.suites, tc.min, tc.max, err, tc.err)
			}
			continue
		}
		if err != nil || got.MinVersion != tc.want.MinVersion || got.MaxVersion != tc.want.MaxVersion || len(got.CipherSuites) != len(tc.want.CipherSuites) {
			t.Errorf("%v %q %q: %+v %v, want %+v", tc.suites, tc.min, tc.max, got, err, tc.want)
			continue
		}
		for i := range got.CipherSuites {
			if got.CipherSuites[i] != tc.want.CipherSuites[i] {
				t.Errorf("%v: suite %d = %x", tc.suites, i, got.CipherSuites[i])
			}
		}
	}
}

func TestCheckAndWarnings(t *testing.T) {
	for _, tc := range []struct {
		side Side
		info Info
		err  string
		warn []string
	}{
		{Client, Info{}, "", nil},
		{Client, Info{CertFile: "c", KeyFile: "k"}, "", nil},
		{Client, Info{CertFile: "c"}, "--cert-file and --key-file go together: KeyFile and CertFile must both be present[key: , cert: c]", nil},
		{Peer, Info{KeyFile: "k"}, "--peer-cert-file and --peer-key-file go together", nil},
		{Client, Info{CertFile: "c", KeyFile: "k", AutoTLS: true}, "", []string{"ignoring client auto TLS since certs given"}},
		{Peer, Info{AutoTLS: true, ClientCertAuth: true}, "", []string{"--peer-client-cert-auth and --peer-trusted-ca-file are ignored with --peer-auto-tls"}},
	} {
		err := tc.info.Check(tc.side)
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%v %+v: Check = %v, want %q", tc.side, tc.info, err, tc.err)
		}
		w := tc.info.Warnings(tc.side)
		if len(w) != len(tc.warn) {
			t.Errorf("%v %+v: warnings %q, want %q", tc.side, tc.info, w, tc.warn)
			continue
		}
		for i := range w {
			if !strings.Contains(w[i], tc.warn[i]) {
				t.Errorf("%v %+v: warning %q, want %q", tc.side, tc.info, w[i], tc.warn[i])
			}
		}
	}
}

func TestSelfCertNames(t *testing.T) {
	ips, dns := SelfCertNames([]string{"127.0.0.1:2379", "node-1:2379", "0.0.0.0:2379", "[::]:2381", "127.0.0.1:2381"})
	var got []string
	for _, ip := range ips {
		got = append(got, ip.String())
	}
	if strings.Join(got, ",") != "127.0.0.1,::1" || strings.Join(dns, ",") != "node-1,localhost" {
		t.Fatalf("ips %v dns %v", got, dns)
	}
}

func TestSelfCertReusesAndRenews(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fixtures", "client")
	info, err := SelfCert(dir, []string{"127.0.0.1:2379"}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !info.SelfSigned || !info.AutoTLS {
		t.Fatalf("info %+v", info)
	}
	if fi, err := os.Stat(info.KeyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	first, _ := os.ReadFile(info.CertFile)
	if _, err := SelfCert(dir, []string{"127.0.0.1:2379"}, 1, nil); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(info.CertFile); string(again) != string(first) {
		t.Fatal("a restart with the same hosts made a new certificate")
	}
	if _, err := SelfCert(dir, []string{"127.0.0.1:2379", "10.1.2.3:2379"}, 1, nil); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(info.CertFile); string(again) == string(first) {
		t.Fatal("a new listen host kept the old certificate")
	}
	if _, err := SelfCert(dir, nil, 0, nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("validity 0: %v", err)
	}
}

// handshake runs a TLS handshake over a pipe and returns both ends' states.
func handshake(t *testing.T, srv, cli *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	sc := tls.Server(a, srv)
	done := make(chan error, 1)
	go func() { done <- sc.Handshake(); a.Close() }()
	cc := tls.Client(b, cli)
	_ = cc.SetDeadline(time.Now().Add(5 * time.Second))
	err := cc.Handshake()
	if err == nil {
		// TLS 1.3 reports a refused client certificate on the first read.
		_ = cc.SetReadDeadline(time.Now().Add(time.Second))
		_, rerr := cc.Read(make([]byte, 1))
		if rerr != nil && !errors.Is(rerr, os.ErrDeadlineExceeded) && !strings.Contains(rerr.Error(), "closed") && rerr.Error() != "EOF" {
			err = rerr
		}
	}
	serr := <-done
	if err == nil {
		err = serr
	}
	return cc.ConnectionState(), err
}

func TestServerAndClientConfigs(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "ca")
	srv := ca.Issue(t, "member", "127.0.0.1")
	user := ca.Issue(t, "alice")
	p, _ := ParseParams(nil, "", "")
	withAuth, err := Load(Client, Info{CertFile: srv.CertFile, KeyFile: srv.KeyFile, TrustedCAFile: ca.CertFile, ClientCertAuth: true}, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	noAuth, err := Load(Client, Info{CertFile: srv.CertFile, KeyFile: srv.KeyFile}, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	caOnly, _ := Load(Client, Info{CertFile: srv.CertFile, KeyFile: srv.KeyFile, TrustedCAFile: ca.CertFile}, p, nil)
	if !caOnly.ClientCertRequired() || noAuth.ClientCertRequired() {
		t.Fatal("--trusted-ca-file alone must require client certificates, as etcd")
	}
	cli := func(pair *testpki.Pair, protos ...string) *tls.Config {
		c := ca.ClientTLS(t, pair)
		c.ServerName = "127.0.0.1"
		c.NextProtos = protos
		return c
	}
	for _, tc := range []struct {
		name     string
		srv      *Set
		cli      *tls.Config
		wantALPN string
		fail     bool
	}{
		{"grpc client gets h2", noAuth, cli(nil, "h2"), "h2", false},
		{"http client gets http/1.1", noAuth, cli(nil, "h2", "http/1.1"), "http/1.1", false},
		{"no ALPN", noAuth, cli(nil), "", false},
		{"client cert given", withAuth, cli(&user, "h2"), "h2", false},
		{"client cert missing", withAuth, cli(nil, "h2"), "", true},
	} {
		st, err := handshake(t, tc.srv.ServerConfig("http/1.1", "h2"), tc.cli)
		if tc.fail != (err != nil) {
			t.Errorf("%s: handshake err %v, want failure %v", tc.name, err, tc.fail)
			continue
		}
		if err == nil && st.NegotiatedProtocol != tc.wantALPN {
			t.Errorf("%s: ALPN %q, want %q", tc.name, st.NegotiatedProtocol, tc.wantALPN)
		}
	}
	// A peer dials with its certificate as the client certificate.
	peer, _ := Load(Peer, Info{CertFile: srv.CertFile, KeyFile: srv.KeyFile, TrustedCAFile: ca.CertFile, ClientCertAuth: true}, p, nil)
	pc := peer.ClientConfig()
	pc.ServerName = "127.0.0.1"
	pc.NextProtos = []string{"h2"}
	if _, err := handshake(t, peer.ServerConfig("h2"), pc); err != nil {
		t.Fatalf("peer to peer: %v", err)
	}
	// Bad files fail Load with the flag's name.
	if _, err := Load(Peer, Info{CertFile: "/nonexistent.crt", KeyFile: srv.KeyFile}, p, nil); err == nil || !strings.Contains(err.Error(), "--peer-cert-file /nonexistent.crt") {
		t.Fatalf("missing cert: %v", err)
	}
	if _, err := Load(Client, Info{CertFile: srv.CertFile, KeyFile: srv.KeyFile, TrustedCAFile: srv.KeyFile}, p, nil); err == nil || !strings.Contains(err.Error(), "--trusted-ca-file") {
		t.Fatalf("CA file without a certificate: %v", err)
	}
	if _, err := Load(Client, Info{CertFile: user.CertFile, KeyFile: srv.KeyFile}, p, nil); err == nil {
		t.Fatal("mismatched key pair loaded")
	}
}

func TestKeyPairReloadsChangedFiles(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "ca")
	first := ca.Issue(t, "first", "127.0.0.1")
	second := ca.Issue(t, "second", "127.0.0.1")
	certFile, keyFile := filepath.Join(dir, "srv.crt"), filepath.Join(dir, "srv.key")
	cp := func(from, to string) {
		b, _ := os.ReadFile(from)
		if err := os.WriteFile(to, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cp(first.CertFile, certFile)
	cp(first.KeyFile, keyFile)
	set, err := Load(Client, Info{CertFile: certFile, KeyFile: keyFile}, Params{MinVersion: tls.VersionTLS12}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cn := func() string {
		c, err := set.pair.get()
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.Subject.CommonName
	}
	if got := cn(); got != "first" {
		t.Fatalf("CN %q", got)
	}
	// Rotated: the next handshake serves the new certificate.
	cp(second.CertFile, certFile)
	cp(second.KeyFile, keyFile)
	future := time.Now().Add(time.Minute)
	_ = os.Chtimes(certFile, future, future)
	_ = os.Chtimes(keyFile, future, future)
	if got := cn(); got != "second" {
		t.Fatalf("after rotation CN %q", got)
	}
	// Half written (a key that does not match): the previous one stays.
	cp(first.KeyFile, keyFile)
	later := future.Add(time.Minute)
	_ = os.Chtimes(keyFile, later, later)
	if got := cn(); got != "second" {
		t.Fatalf("after a broken rotation CN %q", got)
	}
}

func TestServerCredentialsUnwrap(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "ca")
	srv := ca.Issue(t, "member", "127.0.0.1")
	user := ca.Issue(t, "alice")
	set, _ := Load(Client, Info{CertFile: srv.CertFile, KeyFile: srv.KeyFile, TrustedCAFile: ca.CertFile}, Params{MinVersion: tls.VersionTLS12}, nil)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	sc := tls.Server(a, set.ServerConfig("h2"))
	go func() {
		c := ca.ClientTLS(t, &user)
		c.ServerName = "127.0.0.1"
		cc := tls.Client(b, c)
		_ = cc.Handshake()
		_, _ = cc.Write([]byte("x"))
	}()
	wrapped := wrapConn{sc}
	conn, auth, err := ServerCredentials().ServerHandshake(wrapped)
	if err != nil {
		t.Fatal(err)
	}
	if conn != net.Conn(wrapped) {
		t.Fatal("ServerHandshake must hand back the connection it got")
	}
	ti, ok := auth.(credentials.TLSInfo)
	if !ok || len(ti.State.PeerCertificates) == 0 || ti.State.PeerCertificates[0].Subject.CommonName != "alice" {
		t.Fatalf("auth info %#v", auth)
	}
	// A plain connection passes with no security.
	x, y := net.Pipe()
	defer x.Close()
	defer y.Close()
	if _, auth, err := ServerCredentials().ServerHandshake(x); err != nil || auth.AuthType() != "insecure" {
		t.Fatalf("plain: %v %v", auth, err)
	}
}

// wrapConn wraps a connection as portmux's sniffed connection does.
type wrapConn struct{ net.Conn }

func (w wrapConn) NetConn() net.Conn { return w.Conn }
