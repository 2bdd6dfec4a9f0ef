package pki

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestStoreSANs(t *testing.T) {
	for _, c := range []struct {
		name    string
		urls    [][]string
		wantDNS []string
		wantIPs []string
	}{
		{"none: the loopback names", nil, []string{"localhost"}, []string{"127.0.0.1", "::1"}},
		{"listen and advertise, duplicates once",
			[][]string{{"https://10.0.0.1:2380", "https://127.0.0.1:2380"}, {"https://10.0.0.1:2380", "https://Node-A.example:2380"}},
			[]string{"localhost", "node-a.example"}, []string{"127.0.0.1", "10.0.0.1", "::1"}},
		{"unspecified addresses are not names",
			[][]string{{"https://0.0.0.0:2380", "https://[::]:2380"}, {"https://192.168.1.5:2380"}},
			[]string{"localhost"}, []string{"127.0.0.1", "192.168.1.5", "::1"}},
		{"IPv6 and http:// alike (the scheme does not matter)",
			[][]string{{"http://[fd00::5]:2379", "https://localhost:2379"}},
			[]string{"localhost"}, []string{"127.0.0.1", "::1", "fd00::5"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := StoreSANs(c.urls...)
			if err != nil {
				t.Fatal(err)
			}
			want := SANs{DNS: c.wantDNS}
			for _, ip := range c.wantIPs {
				want.IPs = append(want.IPs, net.ParseIP(ip))
			}
			if !got.Equal(want) || !slices.Equal(got.DNS, c.wantDNS) {
				t.Errorf("got %s, want %s", got, want.normalized())
			}
		})
	}
	for _, bad := range []string{"127.0.0.1:2380", "https://", "https://bad_host!:2380", "://x"} {
		if _, err := StoreSANs([]string{bad}); !errors.Is(err, ErrStoreURL) {
			t.Errorf("%q: %v, want ErrStoreURL", bad, err)
		}
	}
}

// TestStoreLeafProblem: the renewal decision, table-driven over
// certificates signed here.
func TestStoreLeafProblem(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	ca, err := newCA(now.Add(-24 * time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	other, err := newCA(now.Add(-24 * time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	sans, _ := StoreSANs([]string{"https://10.0.0.1:2380"})
	peer := pkix.Name{CommonName: StorePeerCN}
	leaf := func(signer keyPair, issued time.Time, subject pkix.Name, usages []x509.ExtKeyUsage, s *SANs) *x509.Certificate {
		kp, err := newLeaf(signer, func(serial *big.Int) *x509.Certificate { return storeTemplate(serial, issued, subject, usages, s) })
		if err != nil {
			t.Fatal(err)
		}
		return kp.cert
	}
	moved, _ := StoreSANs([]string{"https://10.0.0.2:2380"})
	for _, c := range []struct {
		name string
		cert *x509.Certificate
		want string // "" keeps it; else a part of the reason
	}{
		{"fresh", leaf(ca, now, peer, storeUsages, &sans), ""},
		{"270 days old: more than 90 days left", leaf(ca, now.Add(-270*24*time.Hour), peer, storeUsages, &sans), ""},
		{"within RenewBefore of its end", leaf(ca, now.Add(-280*24*time.Hour), peer, storeUsages, &sans), "within 90 days"},
		{"expired", leaf(ca, now.Add(-400*24*time.Hour), peer, storeUsages, &sans), "within 90 days"},
		{"another CA", leaf(other, now, peer, storeUsages, &sans), "not signed by the cluster CA"},
		{"the names changed", leaf(ca, now, peer, storeUsages, &moved), "names changed"},
		{"server usage only", leaf(ca, now, peer, storeUsages[:1], &sans), "wrong key usage"},
		{"client usage only", leaf(ca, now, peer, storeUsages[1:], &sans), "wrong key usage"},
		{"another subject", leaf(ca, now, pkix.Name{CommonName: "x"}, storeUsages, &sans), "subject"},
		{"not valid yet", leaf(ca, now.Add(48*time.Hour), peer, storeUsages, &sans), "not valid yet"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := StoreLeafProblem(c.cert, ca.cert, peer, storeUsages, &sans, now)
			if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
				t.Errorf("problem %q, want %q", got, c.want)
			}
		})
	}
	// The client certificate: no names checked.
	cl := leaf(ca, now, pkix.Name{CommonName: StoreClientUser}, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil)
	if p := StoreLeafProblem(cl, ca.cert, pkix.Name{CommonName: StoreClientUser}, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil, now); p != "" {
		t.Errorf("client certificate: %q", p)
	}
}

// TestEnsureStore: the files are made, reused, made again when the names
// change, and verify against the cluster CA for the wanted names.
func TestEnsureStore(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	b, err := Ensure(Config{Dir: dir, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	peer, _ := StoreSANs([]string{"https://127.0.0.2:2380"})
	server, _ := StoreSANs([]string{"https://127.0.0.3:2379"})
	f, err := b.Authority.EnsureStore(StoreConfig{Dir: dir, Peer: &peer, Server: &server, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Written) != 6 || f.CAFile != filepath.Join(dir, CACertFile) {
		t.Fatalf("first call: %+v", f)
	}
	verify := func(certFile, keyFile string, usage x509.ExtKeyUsage, host string) *x509.Certificate {
		t.Helper()
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(pair.Certificate[0])
		if _, err := c.Verify(x509.VerifyOptions{Roots: b.CAPool(), DNSName: host, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("%s for %q: %v", certFile, host, err)
		}
		return c
	}
	for _, host := range []string{"127.0.0.2", "localhost", "127.0.0.1"} {
		verify(f.PeerCert, f.PeerKey, x509.ExtKeyUsageServerAuth, host)
		verify(f.PeerCert, f.PeerKey, x509.ExtKeyUsageClientAuth, "")
	}
	verify(f.ServerCert, f.ServerKey, x509.ExtKeyUsageServerAuth, "127.0.0.3")
	if c := verify(f.ClientCert, f.ClientKey, x509.ExtKeyUsageClientAuth, ""); c.Subject.CommonName != StoreClientUser {
		t.Errorf("client CN %q", c.Subject.CommonName)
	}
	if st, err := os.Stat(f.PeerKey); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("peer key mode: %v %v", st.Mode(), err)
	}

	// Reused as they are; only the peer certificate follows new names.
	again, err := b.Authority.EnsureStore(StoreConfig{Dir: dir, Peer: &peer, Server: &server, Logger: log})
	if err != nil || len(again.Written) != 0 {
		t.Fatalf("second call wrote %v, %v", again.Written, err)
	}
	moved, _ := StoreSANs([]string{"https://127.0.0.4:2380"})
	again, err = b.Authority.EnsureStore(StoreConfig{Dir: dir, Peer: &moved, Server: &server, Logger: log})
	if err != nil || !slices.Equal(again.Written, []string{StorePeerCertFile, StorePeerKeyFile}) {
		t.Fatalf("new peer names wrote %v, %v", again.Written, err)
	}
	verify(again.PeerCert, again.PeerKey, x509.ExtKeyUsageServerAuth, "127.0.0.4")

	// Near its end, a certificate is made again.
	later := time.Now().Add(LeafValidity - RenewBefore + time.Hour)
	again, err = b.Authority.EnsureStore(StoreConfig{Dir: dir, Server: &server, Logger: log, Now: func() time.Time { return later }})
	if err != nil || len(again.Written) != 4 || again.PeerCert != "" {
		t.Fatalf("renewal wrote %v (peer %q), %v", again.Written, again.PeerCert, err)
	}

	// A certificate of another CA on disk is replaced.
	otherDir := t.TempDir()
	ob, err := Ensure(Config{Dir: otherDir, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ob.Authority.EnsureStore(StoreConfig{Dir: otherDir, Peer: &peer, Logger: log}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{StorePeerCertFile, StorePeerKeyFile} {
		data, _ := os.ReadFile(filepath.Join(otherDir, n))
		if err := os.WriteFile(filepath.Join(dir, n), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	again, err = b.Authority.EnsureStore(StoreConfig{Dir: dir, Peer: &peer, Logger: log})
	if err != nil || len(again.Written) != 2 {
		t.Fatalf("another CA's peer certificate: wrote %v, %v", again.Written, err)
	}
	verify(again.PeerCert, again.PeerKey, x509.ExtKeyUsageServerAuth, "127.0.0.2")
}
