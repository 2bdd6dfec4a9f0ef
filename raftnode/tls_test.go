package raftnode

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/testpki"
	"github.com/kelson-dev/kelson/raftnode/tlsinfo"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

func TestValidateTLS(t *testing.T) {
	base := func() Config {
		return Config{Name: "a", DataDir: t.TempDir()}
	}
	for _, tc := range []struct {
		name  string
		tweak func(c *Config)
		want  string // "" = valid
	}{
		{"plain default", func(c *Config) {}, ""},
		{"cert without key", func(c *Config) { c.ClientTLS.CertFile = "a.crt" },
			"--cert-file and --key-file go together: KeyFile and CertFile must both be present[key: , cert: a.crt]"},
		{"peer key without cert", func(c *Config) { c.PeerTLS.KeyFile = "p.key" },
			"--peer-cert-file and --peer-key-file go together: KeyFile and CertFile must both be present[key: p.key, cert: ]"},
		{"https client URL without certs", func(c *Config) { c.ListenClientURLs = []string{"https://127.0.0.1:2379"} },
			"TLS key/cert (--cert-file, --key-file) must be provided for client url https://127.0.0.1:2379 with HTTPS scheme"},
		{"https client URL with certs", func(c *Config) {
			c.ListenClientURLs = []string{"https://127.0.0.1:2379"}
			c.ClientTLS = tlsinfo.Info{CertFile: "a.crt", KeyFile: "a.key"}
		}, ""},
		{"https client URL with auto TLS", func(c *Config) {
			c.ListenClientURLs = []string{"https://127.0.0.1:2379"}
			c.ClientTLS.AutoTLS = true
		}, ""},
		{"https peer URL without peer certs", func(c *Config) {
			c.ListenPeerURLs = []string{"https://127.0.0.1:2380"}
			c.ClientTLS = tlsinfo.Info{CertFile: "a.crt", KeyFile: "a.key"}
		}, "cannot listen on TLS for 127.0.0.1:2380: KeyFile and CertFile are not presented"},
		{"https peer URL with peer auto TLS", func(c *Config) {
			c.ListenPeerURLs = []string{"https://127.0.0.1:2380"}
			c.PeerTLS.AutoTLS = true
		}, ""},
		{"https metrics URL without client certs", func(c *Config) {
			c.ListenMetricsURLs = []string{"https://127.0.0.1:2381"}
		}, "client TLS key/cert (--cert-file, --key-file) must be provided for metrics secure url"},
		{"https initial cluster of others without own TLS", func(c *Config) {
			c.InitialCluster = "a=http://127.0.0.1:2380,b=https://10.0.0.2:2380"
		}, ""},
		{"bad min version", func(c *Config) { c.TLSMinVersion = "TLS1.1" },
			`--tls-min-version: unexpected TLS version "TLS1.1" (must be one of: TLS1.2, TLS1.3)`},
		{"min above max", func(c *Config) { c.TLSMinVersion, c.TLSMaxVersion = "TLS1.3", "TLS1.2" },
			"min version (TLS1.3) is greater than max version (TLS1.2)"},
		{"unknown cipher", func(c *Config) { c.CipherSuites = []string{"TLS_FOO"} },
			`unexpected TLS cipher suite "TLS_FOO"`},
		{"ciphers with TLS 1.3 only", func(c *Config) {
			c.TLSMinVersion = "TLS1.3"
			c.CipherSuites = []string{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"}
		}, "cipher suites cannot be configured when only TLS1.3 is enabled"},
		{"known ciphers", func(c *Config) {
			c.CipherSuites = []string{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305"}
		}, ""},
		{"ftp URL", func(c *Config) { c.ListenClientURLs = []string{"ftp://127.0.0.1:2379"} }, "must start with http:// or https://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.tweak(&c)
			err := c.validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrBadConfig) {
				t.Fatalf("validate: %v\nwant ErrBadConfig containing %q", err, tc.want)
			}
		})
	}
}

// tlsCluster starts size members whose client and peer URLs are https://,
// with client-cert-auth on both sides, all certificates from ca.
func tlsCluster(t *testing.T, size int, ca *testpki.CA, tweak func(i int, c *Config)) *testCluster {
	t.Helper()
	srv := ca.Issue(t, "member", "127.0.0.1", "localhost")
	return newTestCluster(t, size, func(i int, c *Config) {
		toHTTPS := func(l []string) []string {
			var out []string
			for _, u := range l {
				out = append(out, strings.Replace(u, "http://", "https://", 1))
			}
			return out
		}
		c.ListenClientURLs = toHTTPS(c.ListenClientURLs)
		c.ListenPeerURLs = toHTTPS(c.ListenPeerURLs)
		c.InitialCluster = strings.ReplaceAll(c.InitialCluster, "http://", "https://")
		c.ClientTLS = tlsinfo.Info{CertFile: srv.CertFile, KeyFile: srv.KeyFile, TrustedCAFile: ca.CertFile, ClientCertAuth: true}
		c.PeerTLS = tlsinfo.Info{CertFile: srv.CertFile, KeyFile: srv.KeyFile, TrustedCAFile: ca.CertFile, ClientCertAuth: true}
		if tweak != nil {
			tweak(i, c)
		}
	})
}

func tlsClient(t *testing.T, cfg *tls.Config, dial time.Duration, eps ...string) (*clientv3.Client, error) {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: eps, TLS: cfg, DialTimeout: dial, Logger: zap.NewNop()})
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func TestTLSClusterClientAndPeer(t *testing.T) {
	ca := testpki.NewCA(t, t.TempDir(), "ca")
	tc := tlsCluster(t, 3, ca, nil)
	tc.leader()
	user := ca.Issue(t, "alice")
	cfg := ca.ClientTLS(t, &user)

	// Writes on one member are read on another: raft runs over peer TLS.
	cli, err := tlsClient(t, cfg, 5*time.Second, tc.endpoints()[0])
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	other, err := tlsClient(t, cfg, 5*time.Second, tc.endpoints()[2])
	if err != nil {
		t.Fatal(err)
	}
	resp, err := other.Get(ctx, "k")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("get on another member: %v %v", resp, err)
	}
	ml, err := other.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ml.Members {
		if !strings.HasPrefix(m.PeerURLs[0], "https://") {
			t.Errorf("member %s peer URLs %v", m.Name, m.PeerURLs)
		}
	}
	// A lease keep-alive on a follower is forwarded to the leader over the
	// peer port: TLS too.
	follower := (tc.leader() + 1) % 3
	fcli, err := tlsClient(t, cfg, 5*time.Second, tc.endpoints()[follower])
	if err != nil {
		t.Fatal(err)
	}
	lease, err := fcli.Grant(ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fcli.KeepAliveOnce(ctx, lease.ID); err != nil {
		t.Fatalf("keep-alive through a follower: %v", err)
	}

	// The RPC context carries the client's certificate (for auth's CN).
	// Checked through the HTTP side too: /health over the same port.
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
	r, err := hc.Get(tc.endpoints()[1] + "/health")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || !strings.Contains(string(body), `"health":"true"`) || r.Proto != "HTTP/1.1" {
		t.Fatalf("/health over https: %s %d %s", r.Proto, r.StatusCode, body)
	}
}

// errWithin runs f and fails the test if it takes longer than d (a hang)
// or succeeds; it returns f's error.
func errWithin(t *testing.T, d time.Duration, what string, f func() error) error {
	t.Helper()
	start := time.Now()
	err := f()
	if err == nil {
		t.Fatalf("%s: succeeded, want a failure", what)
	}
	if took := time.Since(start); took > d {
		t.Fatalf("%s: failed after %v (want within %v): %v", what, took, d, err)
	}
	t.Logf("%s: %v (after %v)", what, err, time.Since(start).Round(time.Millisecond))
	return err
}

func TestTLSRefusals(t *testing.T) {
	ca := testpki.NewCA(t, t.TempDir(), "ca")
	tc := tlsCluster(t, 1, ca, nil)
	tc.leader()
	ep := tc.endpoints()[0]
	hostport := strings.TrimPrefix(ep, "https://")
	user := ca.Issue(t, "alice")

	put := func(cfg *tls.Config, ep string) error {
		cli, err := tlsClient(t, cfg, 2*time.Second, ep)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err = cli.Put(ctx, "k", "v")
		return err
	}
	// Each within the dial timeout plus slack: a failure, never a hang.
	errWithin(t, 6*time.Second, "no client certificate", func() error { return put(ca.ClientTLS(t, nil), ep) })
	other := testpki.NewCA(t, t.TempDir(), "other")
	stranger := other.Issue(t, "mallory")
	strangerCfg := other.ClientTLS(t, &stranger)
	strangerCfg.RootCAs = ca.Pool()
	errWithin(t, 6*time.Second, "client certificate of another CA", func() error { return put(strangerCfg, ep) })
	expired := ca.Expired(t, "late")
	errWithin(t, 6*time.Second, "expired client certificate", func() error { return put(ca.ClientTLS(t, &expired), ep) })
	errWithin(t, 6*time.Second, "server not verified (no CA)", func() error {
		cfg := ca.ClientTLS(t, &user)
		cfg.RootCAs = other.Pool()
		return put(cfg, ep)
	})
	errWithin(t, 6*time.Second, "plain-text client against TLS member", func() error { return put(nil, hostport) })

	// HTTP: a plain request gets a plain-text 400 that says why.
	resp, err := http.Get("http://" + hostport + "/health")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), "HTTP request to an HTTPS server") {
		t.Fatalf("plain GET on the TLS port: %d %q", resp.StatusCode, b)
	}
	// Without a client certificate the handshake fails.
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: ca.ClientTLS(t, nil)}}
	errWithin(t, 6*time.Second, "/health without a client certificate", func() error {
		r, err := hc.Get(ep + "/health")
		if err == nil {
			r.Body.Close()
			return fmt.Errorf("status %d", r.StatusCode)
		}
		return err
	})
}

func TestTLSClientAgainstPlainMember(t *testing.T) {
	ca := testpki.NewCA(t, t.TempDir(), "ca")
	tc := newTestCluster(t, 1, nil)
	tc.leader()
	user := ca.Issue(t, "alice")
	hostport := strings.TrimPrefix(tc.endpoints()[0], "http://")
	errWithin(t, 6*time.Second, "TLS client against plain member", func() error {
		cli, err := tlsClient(t, ca.ClientTLS(t, &user), 2*time.Second, hostport)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err = cli.Put(ctx, "k", "v")
		return err
	})
}

func TestAutoTLS(t *testing.T) {
	tc := newTestCluster(t, 3, func(i int, c *Config) {
		c.ListenClientURLs = []string{strings.Replace(c.ListenClientURLs[0], "http://", "https://", 1)}
		c.ListenPeerURLs = []string{strings.Replace(c.ListenPeerURLs[0], "http://", "https://", 1)}
		c.InitialCluster = strings.ReplaceAll(c.InitialCluster, "http://", "https://")
		c.ClientTLS.AutoTLS = true
		c.ClientTLS.ClientCertAuth = true // ignored with auto TLS, as etcd
		c.PeerTLS.AutoTLS = true
	})
	tc.leader()
	cli, err := tlsClient(t, &tls.Config{InsecureSkipVerify: true}, 5*time.Second, tc.endpoints()[0])
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	cli2, err := tlsClient(t, &tls.Config{InsecureSkipVerify: true}, 5*time.Second, tc.endpoints()[2])
	if err != nil {
		t.Fatal(err)
	}
	if r, err := cli2.Get(ctx, "k"); err != nil || len(r.Kvs) != 1 {
		t.Fatalf("get through another member: %v %v", r, err)
	}
	errWithin(t, 6*time.Second, "verifying client against auto TLS", func() error {
		_, err := tlsClient(t, &tls.Config{}, 2*time.Second, tc.endpoints()[1])
		if err != nil {
			return err
		}
		c, _ := tlsClient(t, &tls.Config{}, 2*time.Second, tc.endpoints()[1])
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err = c.Get(ctx, "k")
		return err
	})
	// A restart reuses the certificate.
	tc.stop(0)
	tc.start(0)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel2()
	if _, err := putThroughElections(ctx2, cli, "k", "v2"); err != nil {
		t.Fatal(err)
	}
}

func TestTLSMetricsURL(t *testing.T) {
	ca := testpki.NewCA(t, t.TempDir(), "ca")
	ports := freePorts(t, 1)
	tc := tlsCluster(t, 1, ca, func(i int, c *Config) {
		c.ListenMetricsURLs = []string{fmt.Sprintf("https://127.0.0.1:%d", ports[0])}
	})
	tc.leader()
	user := ca.Issue(t, "prometheus")
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: ca.ClientTLS(t, &user), ForceAttemptHTTP2: true}}
	for _, u := range []string{tc.endpoints()[0] + "/metrics", "https://" + tc.servers[0].MetricsAddr[0] + "/metrics"} {
		r, err := hc.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != 200 || !strings.Contains(string(b), "etcd_server_has_leader") {
			t.Fatalf("%s: %d %.200s", u, r.StatusCode, b)
		}
	}
}
