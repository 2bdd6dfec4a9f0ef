package stream

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/testcluster"
	"github.com/kelson-dev/kelson/internal/testpki"
)

func certDER(t *testing.T, file string) []byte {
	t.Helper()
	kp, err := tls.LoadX509KeyPair(file, file[:len(file)-len(".crt")]+".key")
	if err != nil {
		t.Fatal(err)
	}
	return kp.Certificate[0]
}

// TestServeRenewedCertificate: a running stream server whose TLS takes
// its certificate from CertFiles serves the files' new certificate as
// soon as they are replaced, without a restart; a half-replaced pair
// leaves the last good one in use.
func TestServeRenewedCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "cluster-ca")
	serving := ca.Issue(t, "n1", "127.0.0.1")
	first := certDER(t, serving.CertFile)
	cf, err := LoadCertFiles(serving.CertFile, serving.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Runtime: &fakeRuntime{}, LogRoot: t.TempDir(), Logger: testcluster.Logger(),
		TLS: &tls.Config{GetCertificate: cf.GetCertificate, MinVersion: tls.VersionTLS12}, ClientCAs: ca.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	l := serveOnLoopback(t, srv)
	apiServer := ca.Issue(t, "kube-apiserver-kubelet-client")
	// served makes a new connection (a new transport) and returns the
	// certificate the agent presented.
	served := func() []byte {
		t.Helper()
		cl := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: ca.ClientTLS(t, &apiServer)}}
		defer cl.CloseIdleConnections()
		resp, err := cl.Get("https://" + l.Addr().String() + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/healthz: %s", resp.Status)
		}
		return resp.TLS.PeerCertificates[0].Raw
	}
	if !bytes.Equal(served(), first) {
		t.Fatal("the agent does not serve its certificate")
	}

	// Renewed: the same files, a new certificate and key.
	ca.Issue(t, "n1", "127.0.0.1")
	renewed := certDER(t, serving.CertFile)
	if bytes.Equal(renewed, first) {
		t.Fatal("test setup: the certificate was not replaced")
	}
	if got := served(); !bytes.Equal(got, renewed) {
		t.Fatal("after the files were replaced, the agent still serves the old certificate")
	}

	// Half replaced (a key that is not the certificate's): the last good
	// pair stays; handshakes keep working.
	other := ca.Issue(t, "n1-other", "127.0.0.1")
	key, err := os.ReadFile(other.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(serving.KeyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := served(); !bytes.Equal(got, renewed) {
		t.Fatal("a mismatched pair on disk: the last good certificate is not served")
	}
	// Missing files likewise.
	os.Remove(serving.CertFile)
	if got := served(); !bytes.Equal(got, renewed) {
		t.Fatal("the certificate file gone: the last good certificate is not served")
	}
	leaf, err := x509.ParseCertificate(renewed)
	if err != nil || leaf.Subject.CommonName != "n1" {
		t.Fatalf("served %v, %v", leaf, err)
	}
}

func TestLoadCertFilesRefusesBadPair(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "cluster-ca")
	a, b := ca.Issue(t, "a", "127.0.0.1"), ca.Issue(t, "b", "127.0.0.1")
	if _, err := LoadCertFiles(a.CertFile, b.KeyFile); err == nil {
		t.Error("a certificate with another's key loaded")
	}
	if _, err := LoadCertFiles(dir+"/missing.crt", a.KeyFile); err == nil {
		t.Error("a missing certificate loaded")
	}
}
