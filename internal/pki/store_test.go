package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
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
// change, and verify against the store CA — and only against it, never the
// cluster CA — for the wanted names.
func TestEnsureStore(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	b, err := Ensure(Config{Dir: dir, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	sca, err := EnsureStoreCA(dir, time.Now(), log)
	if err != nil {
		t.Fatal(err)
	}
	storePool := x509.NewCertPool()
	storePool.AddCert(sca.Cert)
	peer, _ := StoreSANs([]string{"https://127.0.0.2:2380"})
	server, _ := StoreSANs([]string{"https://127.0.0.3:2379"})

	// Leaves of the cluster CA left by an older kelson are replaced.
	for _, n := range []struct{ from, to string }{{AdminCertFile, StoreClientCertFile}, {AdminKeyFile, StoreClientKeyFile}} {
		data, _ := os.ReadFile(filepath.Join(dir, n.from))
		if err := os.WriteFile(filepath.Join(dir, n.to), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f, err := sca.EnsureStore(StoreConfig{Dir: dir, Peer: &peer, Server: &server, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Written) != 6 || f.CAFile != filepath.Join(dir, StoreCACertFile) {
		t.Fatalf("first call: %+v", f)
	}
	verify := func(certFile, keyFile string, usage x509.ExtKeyUsage, host string) *x509.Certificate {
		t.Helper()
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(pair.Certificate[0])
		if _, err := c.Verify(x509.VerifyOptions{Roots: storePool, DNSName: host, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("%s for %q: %v", certFile, host, err)
		}
		if _, err := c.Verify(x509.VerifyOptions{Roots: b.CAPool(), KeyUsages: []x509.ExtKeyUsage{usage}}); err == nil {
			t.Errorf("%s verifies against the cluster CA", certFile)
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
	// The cluster CA's certificates (the admin's, a node's) do not verify
	// against the store CA.
	admin, _ := x509.ParseCertificate(mustPair(t, b.AdminCertPEM, b.AdminKeyPEM).Certificate[0])
	if _, err := admin.Verify(x509.VerifyOptions{Roots: storePool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("the admin's certificate of the cluster CA verifies against the store CA")
	}
	if st, err := os.Stat(f.PeerKey); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("peer key mode: %v %v", st.Mode(), err)
	}

	// Reused as they are; only the peer certificate follows new names.
	again, err := sca.EnsureStore(StoreConfig{Dir: dir, Peer: &peer, Server: &server, Logger: log})
	if err != nil || len(again.Written) != 0 {
		t.Fatalf("second call wrote %v, %v", again.Written, err)
	}
	moved, _ := StoreSANs([]string{"https://127.0.0.4:2380"})
	again, err = sca.EnsureStore(StoreConfig{Dir: dir, Peer: &moved, Server: &server, Logger: log})
	if err != nil || !slices.Equal(again.Written, []string{StorePeerCertFile, StorePeerKeyFile}) {
		t.Fatalf("new peer names wrote %v, %v", again.Written, err)
	}
	verify(again.PeerCert, again.PeerKey, x509.ExtKeyUsageServerAuth, "127.0.0.4")

	// Near its end, a certificate is made again.
	later := time.Now().Add(LeafValidity - RenewBefore + time.Hour)
	again, err = sca.EnsureStore(StoreConfig{Dir: dir, Server: &server, Logger: log, Now: func() time.Time { return later }})
	if err != nil || len(again.Written) != 4 || again.PeerCert != "" {
		t.Fatalf("renewal wrote %v (peer %q), %v", again.Written, again.PeerCert, err)
	}

	// A certificate of another store CA on disk is replaced.
	otherDir := t.TempDir()
	osca, err := EnsureStoreCA(otherDir, time.Now(), log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := osca.EnsureStore(StoreConfig{Dir: otherDir, Peer: &peer, Logger: log}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{StorePeerCertFile, StorePeerKeyFile} {
		data, _ := os.ReadFile(filepath.Join(otherDir, n))
		if err := os.WriteFile(filepath.Join(dir, n), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	again, err = sca.EnsureStore(StoreConfig{Dir: dir, Peer: &peer, Logger: log})
	if err != nil || len(again.Written) != 2 {
		t.Fatalf("another CA's peer certificate: wrote %v, %v", again.Written, err)
	}
	verify(again.PeerCert, again.PeerKey, x509.ExtKeyUsageServerAuth, "127.0.0.2")

	// A store CA replaced or removed under a running server: refused, and
	// nothing is signed with the other CA.
	otherCA, _ := os.ReadFile(filepath.Join(otherDir, StoreCACertFile))
	os.WriteFile(filepath.Join(dir, StoreCACertFile), otherCA, 0o644)
	os.Remove(filepath.Join(dir, StorePeerCertFile))
	if _, err := sca.EnsureStore(StoreConfig{Dir: dir, Peer: &peer, Logger: log}); !errors.Is(err, ErrStoreCA) {
		t.Errorf("replaced store CA: %v", err)
	}
	os.Remove(filepath.Join(dir, StoreCACertFile))
	if _, err := sca.EnsureStore(StoreConfig{Dir: dir, Peer: &peer, Logger: log}); !errors.Is(err, ErrStoreCA) {
		t.Errorf("removed store CA: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, StorePeerCertFile)); err == nil {
		t.Error("a peer certificate was written without the store CA")
	}
	var nilCA *StoreAuthority
	if _, err := nilCA.EnsureStore(StoreConfig{Dir: dir, Peer: &peer}); !errors.Is(err, ErrStoreCA) {
		t.Errorf("nil store CA: %v", err)
	}
}

func mustPair(t *testing.T, certPEM, keyPEM []byte) tls.Certificate {
	t.Helper()
	p, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEnsureStoreCA: the store CA is made once (ECDSA P-256, 10 years, a
// CA of its own, not the cluster CA), reused after, and — like the cluster
// CA — never replaced when broken.
func TestEnsureStoreCA(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	now := time.Now()
	dir := t.TempDir()
	b, err := Ensure(Config{Dir: dir, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	a, err := EnsureStoreCA(dir, now, log)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Cert.IsCA || a.Cert.Equal(b.CA) || a.Cert.Subject.CommonName == b.CA.Subject.CommonName ||
		!strings.HasPrefix(a.Cert.Subject.CommonName, "kelson-store-ca@") {
		t.Errorf("store CA %q (cluster CA %q)", a.Cert.Subject.CommonName, b.CA.Subject.CommonName)
	}
	if k, ok := a.Cert.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("store CA key %T", a.Cert.PublicKey)
	}
	if d := a.Cert.NotAfter.Sub(now); d < CAValidity-2*time.Hour || d > CAValidity+time.Hour {
		t.Errorf("store CA lasts %v", d)
	}
	for file, mode := range map[string]os.FileMode{StoreCAKeyFile: 0o600, StoreCACertFile: 0o644} {
		if st, err := os.Stat(filepath.Join(dir, file)); err != nil || st.Mode().Perm() != mode {
			t.Errorf("%s: %v %v", file, st, err)
		}
	}
	again, err := EnsureStoreCA(dir, now.Add(time.Hour), log)
	if err != nil || !again.Cert.Equal(a.Cert) {
		t.Fatalf("second call: %v (same: %v)", err, err == nil && again.Cert.Equal(a.Cert))
	}
	// What a joining server receives reads back as the same CA.
	keyPEM, _ := os.ReadFile(filepath.Join(dir, StoreCAKeyFile))
	if r, err := NewStoreAuthority(a.CertPEM, keyPEM); err != nil || !r.Cert.Equal(a.Cert) {
		t.Errorf("NewStoreAuthority: %v", err)
	}
	if _, err := NewStoreAuthority(b.AdminCertPEM, b.AdminKeyPEM); !errors.Is(err, ErrStoreCA) {
		t.Errorf("NewStoreAuthority of a leaf: %v", err)
	}
	if _, err := NewStoreAuthority(a.CertPEM, b.AdminKeyPEM); !errors.Is(err, ErrStoreCA) {
		t.Errorf("NewStoreAuthority with another key: %v", err)
	}

	// Refused, and left as found: half present, unreadable, not a CA,
	// expired.
	leafCert, leafKey := b.AdminCertPEM, b.AdminKeyPEM
	for _, c := range []struct {
		name      string
		cert, key []byte // nil: absent
		now       time.Time
		want      string
	}{
		{"key without certificate", nil, keyPEM, now, "must both exist or both be absent"},
		{"certificate without key", a.CertPEM, nil, now, "must both exist or both be absent"},
		{"unreadable", []byte("garbage"), keyPEM, now, "restore them"},
		{"another key", a.CertPEM, leafKey, now, "restore them"},
		{"not a CA", leafCert, leafKey, now, "is not a CA certificate"},
		{"expired", a.CertPEM, keyPEM, now.Add(CAValidity + time.Hour), "expired on"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := t.TempDir()
			for file, data := range map[string][]byte{StoreCACertFile: c.cert, StoreCAKeyFile: c.key} {
				if data != nil {
					os.WriteFile(filepath.Join(d, file), data, 0o600)
				}
			}
			_, err := EnsureStoreCA(d, c.now, log)
			if !errors.Is(err, ErrStoreCA) || errors.Is(err, ErrCA) || !strings.Contains(err.Error(), c.want) ||
				!strings.Contains(err.Error(), StoreCACertFile) {
				t.Fatalf("got %v, want ErrStoreCA with %q", err, c.want)
			}
			if strings.Contains(err.Error(), "BEGIN") {
				t.Errorf("the error shows key material: %v", err)
			}
			for file, data := range map[string][]byte{StoreCACertFile: c.cert, StoreCAKeyFile: c.key} {
				got, err := os.ReadFile(filepath.Join(d, file))
				if data == nil && err == nil || data != nil && string(got) != string(data) {
					t.Errorf("%s was changed", file)
				}
			}
		})
	}
	if _, err := EnsureStoreCA("", now, log); err == nil {
		t.Error("no directory: no error")
	}
}
