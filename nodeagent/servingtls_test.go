package nodeagent

import (
	"crypto/tls"
	"crypto/x509"
	"net/netip"
	"testing"

	"github.com/kelson-dev/kelson/internal/testpki"
	"k8s.io/client-go/rest"
)

// TestServingTLS: the agent port serves Config.ServingCert when given,
// else a self-signed certificate for the node's name and address.
func TestServingTLS(t *testing.T) {
	ca := testpki.NewCA(t, t.TempDir(), "cluster-ca")
	p := ca.Issue(t, "n1", "10.0.0.5", "n1")
	cert, err := tls.LoadX509KeyPair(p.CertFile, p.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("10.0.0.5")
	a, err := New(Config{NodeName: "n1", API: &rest.Config{}, DataDir: t.TempDir(), ServingCert: &cert, ClientCAs: ca.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	tc, err := a.servingTLS(ip)
	if err != nil {
		t.Fatal(err)
	}
	if len(tc.Certificates) != 1 || string(tc.Certificates[0].Certificate[0]) != string(cert.Certificate[0]) {
		t.Error("the configured serving certificate is not served")
	}
	a, err = New(Config{NodeName: "n1", API: &rest.Config{}, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if tc, err = a.servingTLS(ip); err != nil || len(tc.Certificates) != 1 {
		t.Fatalf("self-signed: %v", err)
	}
	leaf, err := x509.ParseCertificate(tc.Certificates[0].Certificate[0])
	if err != nil || leaf.VerifyHostname("10.0.0.5") != nil || leaf.VerifyHostname("n1") != nil {
		t.Errorf("self-signed certificate does not name the node: %+v", leaf)
	}
}
