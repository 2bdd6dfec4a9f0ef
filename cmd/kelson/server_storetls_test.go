package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/kelson-dev/kelson/apiserver/storage"
	"github.com/kelson-dev/kelson/internal/pki"
	"github.com/kelson-dev/kelson/raftnode"
	"github.com/kelson-dev/kelson/raftnode/tlsinfo"
)

func TestPlanStoreTLS(t *testing.T) {
	for _, c := range []struct {
		name             string
		m                raftnode.Config
		wantPeer         string // the names, "" for none
		wantClient       string
		wantErrSubstring string
	}{
		{name: "defaults: plain text", m: raftnode.Config{}},
		{name: "http:// everywhere", m: raftnode.Config{ListenPeerURLs: []string{"http://10.0.0.1:2380"},
			ListenClientURLs: []string{"http://10.0.0.1:2379"}, InitialCluster: "a=http://10.0.0.1:2380"}},
		{name: "https:// peers: listen and advertise names",
			m:        raftnode.Config{ListenPeerURLs: []string{"https://0.0.0.0:2380"}, InitialAdvertisePeerURLs: []string{"https://node-a.example:2380", "https://10.0.0.1:2380"}},
			wantPeer: "localhost,node-a.example,10.0.0.1,127.0.0.1,::1"},
		{name: "https:// in --initial-cluster only",
			m:        raftnode.Config{InitialCluster: "a=http://127.0.0.1:2380,b=https://127.0.0.1:22380"},
			wantPeer: "localhost,127.0.0.1,::1"},
		{name: "https:// clients and metrics",
			m: raftnode.Config{ListenClientURLs: []string{"https://10.0.0.1:2379"}, AdvertiseClientURLs: []string{"https://db.example:2379"},
				ListenMetricsURLs: []string{"https://10.0.0.2:2381"}},
			wantClient: "db.example,localhost,10.0.0.1,10.0.0.2,127.0.0.1,::1"},
		{name: "https:// metrics alone take the client side",
			m:          raftnode.Config{ListenMetricsURLs: []string{"https://127.0.0.1:2381"}},
			wantClient: "localhost,127.0.0.1,::1"},
		{name: "given certificates win",
			m: raftnode.Config{ListenPeerURLs: []string{"https://127.0.0.1:2380"}, ListenClientURLs: []string{"https://127.0.0.1:2379"},
				PeerTLS: tlsinfo.Info{CertFile: "p.crt", KeyFile: "p.key"}, ClientTLS: tlsinfo.Info{CertFile: "c.crt", KeyFile: "c.key"}}},
		{name: "--auto-tls and --peer-auto-tls win",
			m: raftnode.Config{ListenPeerURLs: []string{"https://127.0.0.1:2380"}, ListenClientURLs: []string{"https://127.0.0.1:2379"},
				PeerTLS: tlsinfo.Info{AutoTLS: true}, ClientTLS: tlsinfo.Info{AutoTLS: true}}},
		{name: "half a certificate is the member's error to report",
			m: raftnode.Config{ListenPeerURLs: []string{"https://127.0.0.1:2380"}, PeerTLS: tlsinfo.Info{CertFile: "p.crt"}}},
		{name: "a host that is no name", m: raftnode.Config{ListenPeerURLs: []string{"https://bad_host!:2380"}}, wantErrSubstring: "the peer URLs"},
	} {
		t.Run(c.name, func(t *testing.T) {
			plan, err := planStoreTLS(c.m)
			if c.wantErrSubstring != "" {
				var ue usageError
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.wantErrSubstring) {
					t.Fatalf("got %v, want a usage error with %q", err, c.wantErrSubstring)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := sansString(plan.Peer); got != c.wantPeer {
				t.Errorf("peer %q, want %q", got, c.wantPeer)
			}
			if got := sansString(plan.Client); got != c.wantClient {
				t.Errorf("client %q, want %q", got, c.wantClient)
			}
		})
	}
}

func sansString(s *pki.SANs) string {
	if s == nil {
		return ""
	}
	return s.String()
}

func TestApplyStoreTLS(t *testing.T) {
	f := pki.StoreFiles{CAFile: "tls/etcd-ca.crt", PeerCert: "tls/etcd-peer.crt", PeerKey: "tls/etcd-peer.key",
		ServerCert: "tls/etcd-server.crt", ServerKey: "tls/etcd-server.key"}
	sans := pki.SANs{DNS: []string{"localhost"}}

	var m raftnode.Config
	applyStoreTLS(&m, storeTLSPlan{Peer: &sans, Client: &sans}, f)
	if want := (tlsinfo.Info{CertFile: f.PeerCert, KeyFile: f.PeerKey, TrustedCAFile: f.CAFile, ClientCertAuth: true}); m.PeerTLS != want {
		t.Errorf("peer %+v, want %+v", m.PeerTLS, want)
	}
	if want := (tlsinfo.Info{CertFile: f.ServerCert, KeyFile: f.ServerKey, TrustedCAFile: f.CAFile, ClientCertAuth: true}); m.ClientTLS != want {
		t.Errorf("client %+v, want %+v", m.ClientTLS, want)
	}
	// Checked as raftnode checks them.
	if err := m.PeerTLS.Check(tlsinfo.Peer); err != nil {
		t.Error(err)
	}

	// A given trusted CA is kept; a side not planned is left alone.
	m = raftnode.Config{PeerTLS: tlsinfo.Info{TrustedCAFile: "mine.crt"}, ClientTLS: tlsinfo.Info{CertFile: "c.crt", KeyFile: "c.key"}}
	applyStoreTLS(&m, storeTLSPlan{Peer: &sans}, f)
	if m.PeerTLS.TrustedCAFile != "mine.crt" || !m.PeerTLS.ClientCertAuth || m.PeerTLS.CertFile != f.PeerCert {
		t.Errorf("peer %+v", m.PeerTLS)
	}
	if (m.ClientTLS != tlsinfo.Info{CertFile: "c.crt", KeyFile: "c.key"}) {
		t.Errorf("client changed: %+v", m.ClientTLS)
	}
}

func TestCheckEtcdServers(t *testing.T) {
	ca := etcdTLSFlags{storage.RemoteTLS{CAFile: "ca.crt"}}
	full := etcdTLSFlags{storage.RemoteTLS{CAFile: "ca.crt", CertFile: "c.crt", KeyFile: "c.key"}}
	for _, c := range []struct {
		name    string
		servers []string
		tls     etcdTLSFlags
		want    string // "" accepted
	}{
		{"no store, no flags", nil, etcdTLSFlags{}, ""},
		{"plain", []string{"http://127.0.0.1:2379", "127.0.0.1:22379"}, etcdTLSFlags{}, ""},
		{"https with every file", []string{"https://127.0.0.1:2379", "https://[::1]:22379"}, full, ""},
		{"https with the CA only (no client certificate)", []string{"https://127.0.0.1:2379"}, ca, ""},
		{"https with the system roots", []string{"https://127.0.0.1:2379"}, etcdTLSFlags{}, ""},
		{"flags without --etcd-servers", nil, full, "--etcd-cafile, --etcd-certfile, --etcd-keyfile: these flags are for TLS to --etcd-servers"},
		{"flags with http://", []string{"http://127.0.0.1:2379"}, ca, "are not https://"},
		{"mixed", []string{"https://127.0.0.1:2379", "http://127.0.0.1:22379"}, ca, "mixes https:// and plain endpoints"},
		{"cert without key", []string{"https://127.0.0.1:2379"}, etcdTLSFlags{storage.RemoteTLS{CertFile: "c.crt"}}, "go together"},
		{"key without cert", []string{"https://127.0.0.1:2379"}, etcdTLSFlags{storage.RemoteTLS{KeyFile: "c.key"}}, "go together"},
		{"no port", []string{"https://127.0.0.1"}, etcdTLSFlags{}, "the port is required"},
		{"another scheme", []string{"unix://x:1"}, etcdTLSFlags{}, "want http://host:port or https://host:port"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := checkEtcdServers(c.servers, c.tls)
			var ue usageError
			switch {
			case c.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case c.want != "" && (!errors.As(err, &ue) || !strings.Contains(err.Error(), c.want)):
				t.Errorf("got %v, want a usage error with %q", err, c.want)
			}
		})
	}
}

func TestRemoteStoreHint(t *testing.T) {
	for msg, tlsHint := range map[string]bool{
		`connection error: desc = "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"`: true,
		`remote error: tls: certificate required`: true,
		`connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused"`: false,
		`context deadline exceeded`: false,
	} {
		got := remoteStoreHint(errors.New(msg))
		if strings.Contains(got, "--etcd-cafile") != tlsHint {
			t.Errorf("%q: hint %q", msg, got)
		}
	}
}

func TestEtcdctlCommand(t *testing.T) {
	got := etcdctlCommand([]string{"https://127.0.0.1:2379", "https://10.0.0.1:2379"},
		pki.StoreFiles{CAFile: "d/tls/etcd-ca.crt", ClientCert: "d/tls/etcd-client.crt", ClientKey: "d/tls/etcd-client.key"})
	want := "etcdctl --endpoints https://127.0.0.1:2379,https://10.0.0.1:2379 --cacert d/tls/etcd-ca.crt --cert d/tls/etcd-client.crt --key d/tls/etcd-client.key get /registry/ --prefix --keys-only"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	m := raftnode.Config{ListenClientURLs: []string{"https://0.0.0.0:2379"}, AdvertiseClientURLs: []string{"https://10.0.0.1:2379"}}
	if e := storeClientEndpoints(m); len(e) != 1 || e[0] != "https://10.0.0.1:2379" {
		t.Errorf("endpoints %v", e)
	}
}

// TestServerEtcdTLSFlags: the flags reach the serverConfig.
func TestServerEtcdTLSFlags(t *testing.T) {
	code, cfg, stderr := runServerCapture(t, "server", "--etcd-servers", "https://127.0.0.1:2379",
		"--etcd-cafile", "ca.crt", "--etcd-certfile", "c.crt", "--etcd-keyfile", "c.key")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if want := (storage.RemoteTLS{CAFile: "ca.crt", CertFile: "c.crt", KeyFile: "c.key"}); cfg.EtcdTLS != want {
		t.Errorf("EtcdTLS %+v, want %+v", cfg.EtcdTLS, want)
	}
	// They are not member flags: refused with neither --etcd-servers nor a member.
	if code, _, stderr := runServerCapture(t, "server", "--etcd-cafile", "ca.crt"); code != 2 || !strings.Contains(stderr, "--etcd-servers") {
		t.Errorf("--etcd-cafile alone: exit %d, %s", code, stderr)
	}
}
