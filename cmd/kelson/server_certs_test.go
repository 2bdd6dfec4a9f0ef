package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/pki"
	"k8s.io/client-go/tools/clientcmd"
)

// rotFixture is the API's TLS listener as runServer builds it
// (serverTLSConfig over a pki.Reloader), with a settable clock.
type rotFixture struct {
	dir   string
	clock atomic.Int64 // unix nanoseconds
	cfg   pki.Config
	rot   *pki.Reloader
	url   string
	pool  *x509.CertPool
}

func newRotFixture(t *testing.T) *rotFixture {
	t.Helper()
	f := &rotFixture{dir: t.TempDir()}
	f.clock.Store(time.Now().UnixNano())
	sans, err := pki.ServingSANs("", net.ParseIP("127.0.0.1"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = pki.Config{Dir: f.dir, SANs: sans, Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return time.Unix(0, f.clock.Load()) }}
	certs, err := pki.Ensure(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.rot = pki.NewReloader(f.cfg, certs)
	f.pool = certs.CAPool()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) }),
		TLSConfig: serverTLSConfig(f.rot), ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelDebug)}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	f.url = "https://" + ln.Addr().String()
	return f
}

// served makes a new connection, verifying the server against the
// cluster CA at the fixture's time, and returns the certificate it presented.
func (f *rotFixture) served(t *testing.T) *x509.Certificate {
	t.Helper()
	cl := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: f.pool, MinVersion: tls.VersionTLS12, Time: f.cfg.Now}}}
	defer cl.CloseIdleConnections()
	resp, err := cl.Get(f.url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.TLS.PeerCertificates[0]
}

func (f *rotFixture) intoRenewalWindow() {
	f.clock.Add(int64(pki.LeafValidity - pki.RenewBefore + time.Hour))
}

// TestServerServesRenewedCertificate: the API's listener serves the
// renewed serving certificate from the first handshake after a check
// renewed the files, with no restart; the API's client certificate
// towards agents (agentClientTLS) follows likewise.
func TestServerServesRenewedCertificate(t *testing.T) {
	f := newRotFixture(t)
	agentTLS := agentClientTLS(f.rot, f.rot.Bundle())
	kubeletCert := func() []byte {
		c, err := agentTLS.GetClientCertificate(&tls.CertificateRequestInfo{})
		if err != nil {
			t.Fatal(err)
		}
		return c.Certificate[0]
	}
	first, firstKubelet := f.served(t), kubeletCert()

	// Nothing due: a check keeps the certificate.
	if _, changed, err := f.rot.Check(); err != nil || changed != nil {
		t.Fatalf("nothing due: %v, %v", changed, err)
	}
	if !bytes.Equal(f.served(t).Raw, first.Raw) {
		t.Fatal("a check with nothing due changed the served certificate")
	}

	f.intoRenewalWindow()
	if _, _, err := f.rot.Check(); err != nil {
		t.Fatal(err)
	}
	got := f.served(t)
	if bytes.Equal(got.Raw, first.Raw) || !got.NotAfter.After(first.NotAfter) {
		t.Fatal("after the renewal the listener serves the old certificate")
	}
	onDisk, err := os.ReadFile(filepath.Join(f.dir, pki.ServingCertFile))
	if err != nil {
		t.Fatal(err)
	}
	if c, err := pki.ParseCertPEM(onDisk); err != nil || !bytes.Equal(c.Raw, got.Raw) {
		t.Errorf("the served certificate is not the renewed file: %v", err)
	}
	if bytes.Equal(kubeletCert(), firstKubelet) {
		t.Error("the API's client certificate towards agents was not renewed")
	}
}

// TestCertRenewalLoop: startCertRenewal's loop (a short interval here)
// renews what falls due, the listener serves it, and the admin
// kubeconfig is written again with the renewed admin certificate, which
// the cluster CA verifies; stop ends the loop.
func TestCertRenewalLoop(t *testing.T) {
	f := newRotFixture(t)
	kcPath := filepath.Join(t.TempDir(), "admin.kubeconfig")
	b := f.rot.Bundle()
	if err := pki.WriteKubeconfig(kcPath, pki.Kubeconfig(f.url, b.CAPEM, b.AdminCertPEM, b.AdminKeyPEM)); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(kcPath)
	first := f.served(t)

	stop := startCertRenewal(context.Background(), f.rot, 10*time.Millisecond, kcPath, f.url, slog.New(slog.DiscardHandler))
	defer stop()
	f.intoRenewalWindow()
	deadline := time.Now().Add(30 * time.Second)
	for bytes.Equal(f.served(t).Raw, first.Raw) {
		if time.Now().After(deadline) {
			t.Fatal("the loop did not renew the serving certificate within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The kubeconfig is written after the swap: wait for it as well.
	var after []byte
	for {
		after, _ = os.ReadFile(kcPath)
		if !bytes.Equal(after, before) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	rc, err := clientcmd.RESTConfigFromKubeConfig(after)
	if err != nil {
		t.Fatalf("rewritten kubeconfig: %v", err)
	}
	admin, err := pki.ParseCertPEM(rc.CertData)
	if err != nil {
		t.Fatal(err)
	}
	cur := f.rot.Bundle()
	if !bytes.Equal(rc.CertData, cur.AdminCertPEM) || !bytes.Equal(rc.KeyData, cur.AdminKeyPEM) || rc.Host != f.url {
		t.Fatal("the kubeconfig does not hold the renewed admin certificate")
	}
	now := time.Unix(0, f.clock.Load())
	if _, err := admin.Verify(x509.VerifyOptions{Roots: f.pool, CurrentTime: now.Add(pki.RenewBefore),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("renewed admin certificate, 90 days on: %v", err)
	}
}
