package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

func mustCIDR(t *testing.T, s string) *net.IPNet {
	t.Helper()
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestServingSANs(t *testing.T) {
	s, err := ServingSANs("MyHost", net.ParseIP("10.0.0.5"), mustCIDR(t, "10.43.0.0/16"), []string{"api.example.com", "192.168.1.9", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	wantDNS := []string{"api.example.com", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
		"kubernetes.default.svc.cluster.local", "localhost", "myhost"}
	if !slices.Equal(s.DNS, wantDNS) {
		t.Errorf("DNS %q, want %q", s.DNS, wantDNS)
	}
	wantIPs := SANs{IPs: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1"), net.ParseIP("10.0.0.5"),
		net.ParseIP("10.43.0.1"), net.ParseIP("192.168.1.9")}}
	if !(SANs{DNS: wantDNS, IPs: wantIPs.IPs}).Equal(s) {
		t.Errorf("IPs %v, want %v", s.IPs, wantIPs.IPs)
	}

	// 0.0.0.0 is not a name; an IPv6 service CIDR gives its first address.
	s, err = ServingSANs("", net.IPv4zero, mustCIDR(t, "fd00:43::/112"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, ip := range s.IPs {
		if ip.IsUnspecified() {
			t.Errorf("unspecified address in %v", s.IPs)
		}
	}
	if !slices.ContainsFunc(s.IPs, net.ParseIP("fd00:43::1").Equal) {
		t.Errorf("IPs %v lack fd00:43::1", s.IPs)
	}

	for _, bad := range []string{"", "a b", "-x.com", "x..y", "http://x"} {
		if _, err := ServingSANs("h", nil, nil, []string{bad}); err == nil {
			t.Errorf("--tls-san %q accepted", bad)
		}
	}
	if _, err := ServingSANs("h", nil, mustCIDR(t, "10.0.0.0/32"), nil); err == nil {
		t.Error("a /32 service CIDR accepted")
	}
}

func TestFirstIP(t *testing.T) {
	for cidr, want := range map[string]string{
		"10.43.0.0/16": "10.43.0.1", "10.43.7.9/16": "10.43.0.1", "10.96.0.0/12": "10.96.0.1", "fd00::/108": "fd00::1",
	} {
		ip, err := FirstIP(mustCIDR(t, cidr))
		if err != nil || ip.String() != want {
			t.Errorf("FirstIP(%s) = %v, %v; want %s", cidr, ip, err, want)
		}
	}
}

func ensure(t *testing.T, dir string, sans SANs, now time.Time) *Bundle {
	t.Helper()
	b, err := Ensure(Config{Dir: dir, SANs: sans, Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func defaultSANs(t *testing.T, extra ...string) SANs {
	t.Helper()
	s, err := ServingSANs("testhost", net.ParseIP("127.0.0.1"), mustCIDR(t, "10.43.0.0/16"), extra)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestEnsureCertificates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	now := time.Now()
	b := ensure(t, dir, defaultSANs(t), now)
	if len(b.Written) != 13 {
		t.Fatalf("first start wrote %v, want all 13 files", b.Written)
	}
	roots := b.CAPool()
	if b.CA.NotAfter.Sub(now) < CAValidity-time.Minute || b.CA.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("CA valid until %v (%v)", b.CA.NotAfter, b.CA.PublicKeyAlgorithm)
	}

	serving := b.Serving.Leaf
	for _, name := range []string{"localhost", "testhost", "kubernetes.default.svc.cluster.local", "127.0.0.1", "::1", "10.43.0.1"} {
		if _, err := serving.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("serving certificate for %s: %v", name, err)
		}
	}
	if _, err := serving.Verify(x509.VerifyOptions{DNSName: "elsewhere.example", Roots: roots}); err == nil {
		t.Error("serving certificate verifies for a name it should not carry")
	}
	if d := serving.NotAfter.Sub(now); d < LeafValidity-time.Minute || d > LeafValidity {
		t.Errorf("serving certificate valid for %v", d)
	}

	admin, err := tls.X509KeyPair(b.AdminCertPEM, b.AdminKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if admin.Leaf.Subject.CommonName != AdminUser || !slices.Equal(admin.Leaf.Subject.Organization, []string{AdminGroup}) {
		t.Errorf("admin subject %v", admin.Leaf.Subject)
	}
	if _, err := admin.Leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("admin certificate as a client: %v", err)
	}
	if _, err := admin.Leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("admin certificate verifies as a server certificate")
	}

	for _, c := range []struct {
		pair        PEMPair
		user, group string
	}{
		{b.ControllerManager, ControllerManagerUser, ""},
		{b.Scheduler, SchedulerUser, ""},
		{PEMPair{b.AdminCertPEM, b.AdminKeyPEM}, AdminUser, AdminGroup},
	} {
		kp, err := tls.X509KeyPair(c.pair.CertPEM, c.pair.KeyPEM)
		if err != nil {
			t.Fatalf("%s: %v", c.user, err)
		}
		if kp.Leaf.Subject.CommonName != c.user || (c.group == "") != (len(kp.Leaf.Subject.Organization) == 0) {
			t.Errorf("client certificate %v, want CN %s O %q", kp.Leaf.Subject, c.user, c.group)
		}
		if _, err := kp.Leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("%s as a client: %v", c.user, err)
		}
	}
	if kc := b.KubeletClient.Leaf; kc.Subject.CommonName != KubeletClientUser || !slices.Equal(kc.Subject.Organization, []string{AdminGroup}) {
		t.Errorf("kubelet client certificate %v", kc.Subject)
	}
	if b.ServiceAccountKey == nil || !strings.Contains(string(b.ServiceAccountKeyPEM), "EC PRIVATE KEY") {
		t.Errorf("service account key %T %q", b.ServiceAccountKey, b.ServiceAccountKeyPEM)
	}
	if k, err := ParseServiceAccountKey(b.ServiceAccountKeyPEM); err != nil || k.Curve.Params().Name != "P-256" {
		t.Errorf("service account key: %v", err)
	}

	for file, mode := range map[string]os.FileMode{CACertFile: 0o644, CAKeyFile: 0o600, ServingCertFile: 0o644,
		ServingKeyFile: 0o600, AdminCertFile: 0o644, AdminKeyFile: 0o600, ServiceAccountKeyFile: 0o600,
		SchedulerKeyFile: 0o600, ControllerManagerKeyFile: 0o600, KubeletClientKeyFile: 0o600} {
		st, err := os.Stat(filepath.Join(dir, file))
		if err != nil {
			t.Errorf("%s: %v", file, err)
		} else if st.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", file, st.Mode().Perm(), mode)
		}
	}
}

func TestEnsureReusesAndRenews(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	first := ensure(t, dir, defaultSANs(t), now)

	again := ensure(t, dir, defaultSANs(t), now.Add(time.Hour))
	if len(again.Written) != 0 || !again.CA.Equal(first.CA) || !again.Serving.Leaf.Equal(first.Serving.Leaf) ||
		string(again.AdminCertPEM) != string(first.AdminCertPEM) {
		t.Fatalf("restart rewrote %v", again.Written)
	}

	// A new --tls-san replaces the serving certificate only.
	more := ensure(t, dir, defaultSANs(t, "api.example.com"), now)
	if !slices.Equal(more.Written, []string{ServingCertFile, ServingKeyFile}) {
		t.Fatalf("new SAN rewrote %v", more.Written)
	}
	if !slices.Contains(more.Serving.Leaf.DNSNames, "api.example.com") || !more.CA.Equal(first.CA) {
		t.Fatalf("new SAN: names %v", more.Serving.Leaf.DNSNames)
	}

	// Within 90 days of the end, every leaf is made again; the CA and the
	// service account key stay.
	lateNow := now.Add(LeafValidity - RenewBefore + time.Hour)
	late := ensure(t, dir, defaultSANs(t, "api.example.com"), lateNow)
	if len(late.Written) != 10 || !late.CA.Equal(first.CA) || slices.Contains(late.Written, ServiceAccountKeyFile) {
		t.Fatalf("renewal wrote %v", late.Written)
	}
	if string(late.ServiceAccountKeyPEM) != string(first.ServiceAccountKeyPEM) {
		t.Fatal("renewal replaced the service account key")
	}

	// A client certificate whose subject was changed (a file copied over
	// another) is made again.
	os.WriteFile(filepath.Join(dir, SchedulerCertFile), late.ControllerManager.CertPEM, 0o644)
	os.WriteFile(filepath.Join(dir, SchedulerKeyFile), late.ControllerManager.KeyPEM, 0o600)
	if b := ensure(t, dir, defaultSANs(t, "api.example.com"), lateNow); !slices.Equal(b.Written, []string{SchedulerCertFile, SchedulerKeyFile}) {
		t.Fatalf("swapped scheduler certificate: wrote %v", b.Written)
	}

	// A lost key of a leaf: made again.
	os.Remove(filepath.Join(dir, AdminKeyFile))
	if b := ensure(t, dir, defaultSANs(t, "api.example.com"), lateNow); !slices.Equal(b.Written, []string{AdminCertFile, AdminKeyFile}) {
		t.Fatalf("missing admin key: wrote %v", b.Written)
	}
}

func TestEnsureRefusesBrokenCA(t *testing.T) {
	dir := t.TempDir()
	ensure(t, dir, defaultSANs(t), time.Now())
	os.Remove(filepath.Join(dir, CAKeyFile))
	_, err := Ensure(Config{Dir: dir, SANs: defaultSANs(t)})
	if err == nil || !errors.Is(err, ErrCA) {
		t.Fatalf("CA without key: %v", err)
	}
	// A broken service account key is an error, never replaced.
	dir = t.TempDir()
	ensure(t, dir, defaultSANs(t), time.Now())
	os.WriteFile(filepath.Join(dir, ServiceAccountKeyFile), []byte("garbage"), 0o600)
	if _, err := Ensure(Config{Dir: dir, SANs: defaultSANs(t)}); !errors.Is(err, ErrServiceAccountKey) {
		t.Fatalf("broken service account key: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, ServiceAccountKeyFile)); string(b) != "garbage" {
		t.Fatal("the broken service account key was replaced")
	}
	// A directory that cannot be made.
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	if _, err := Ensure(Config{Dir: filepath.Join(file, "tls")}); err == nil {
		t.Fatal("Ensure under a file succeeded")
	}
}

// TestKubeconfigLoads: clientcmd reads the kubeconfig, and the rest.Config
// it yields trusts the serving certificate and presents the admin one.
func TestKubeconfigLoads(t *testing.T) {
	dir := t.TempDir()
	b := ensure(t, dir, defaultSANs(t), time.Now())
	path := filepath.Join(dir, "sub", "admin.kubeconfig")
	if err := WriteKubeconfig(path, Kubeconfig(ServerURL(nil, 6443), b.CAPEM, b.AdminCertPEM, b.AdminKeyPEM)); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil {
		t.Fatal(err)
	} else if st.Mode().Perm() != 0o600 {
		t.Fatalf("kubeconfig mode %v, want 0600", st.Mode().Perm())
	}
	raw, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if raw.CurrentContext != "default" || raw.Clusters["default"] == nil || raw.AuthInfos["default"] == nil {
		t.Fatalf("kubeconfig: %+v", raw)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://127.0.0.1:6443" {
		t.Errorf("host %q", cfg.Host)
	}
	tlsCfg, err := rest.TLSConfigFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Serving.Leaf.Verify(x509.VerifyOptions{DNSName: "127.0.0.1", Roots: tlsCfg.RootCAs}); err != nil {
		t.Errorf("kubeconfig's CA does not verify the serving certificate: %v", err)
	}

	// A real TLS handshake: the server asks for client certificates signed
	// by the CA, as `kelson server` does.
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{b.Serving},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: b.CAPool()})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(r.TLS.PeerCertificates[0].Subject.CommonName))
	})}
	go srv.Serve(ln)
	defer srv.Close()
	cfg.Host = "https://" + ln.Addr().String()
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Get(cfg.Host + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := make([]byte, 64)
	n, _ := resp.Body.Read(body)
	if string(body[:n]) != AdminUser {
		t.Errorf("server saw client %q", body[:n])
	}
}

func TestServerURL(t *testing.T) {
	for _, c := range []struct {
		bind net.IP
		want string
	}{
		{nil, "https://127.0.0.1:6443"},
		{net.IPv4zero, "https://127.0.0.1:6443"},
		{net.IPv6unspecified, "https://127.0.0.1:6443"},
		{net.ParseIP("10.0.0.5"), "https://10.0.0.5:6443"},
		{net.ParseIP("fd00::5"), "https://[fd00::5]:6443"},
	} {
		if got := ServerURL(c.bind, 6443); got != c.want {
			t.Errorf("ServerURL(%v) = %s, want %s", c.bind, got, c.want)
		}
	}
}
