package nodeagent

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net/netip"
	"testing"

	"github.com/kelson-dev/kelson/internal/testpki"
	"github.com/kelson-dev/kelson/nodeagent/stream"
	"k8s.io/client-go/rest"
)

// TestServingTLSReloads: with Config.GetServingCert the agent port's TLS
// asks for the certificate at every handshake, so renewed files are
// served without a restart; a getter that fails at start stops the start.
func TestServingTLSReloads(t *testing.T) {
	ca := testpki.NewCA(t, t.TempDir(), "cluster-ca")
	p := ca.Issue(t, "n1", "10.0.0.5", "n1")
	cf, err := stream.LoadCertFiles(p.CertFile, p.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{NodeName: "n1", API: &rest.Config{}, DataDir: t.TempDir(), GetServingCert: cf.Get, ClientCAs: ca.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	tc, err := a.servingTLS(netip.MustParseAddr("10.0.0.5"))
	if err != nil {
		t.Fatal(err)
	}
	if tc.GetCertificate == nil || len(tc.Certificates) != 0 {
		t.Fatal("the port's TLS does not ask for its certificate at each handshake")
	}
	served := func() []byte {
		c, err := tc.GetCertificate(&tls.ClientHelloInfo{})
		if err != nil {
			t.Fatal(err)
		}
		return c.Certificate[0]
	}
	before := served()
	ca.Issue(t, "n1", "10.0.0.5", "n1") // renewal: the same files
	if after := served(); bytes.Equal(before, after) {
		t.Error("renewed files: the old certificate is still served")
	}

	broken := errors.New("no certificate")
	a, err = New(Config{NodeName: "n1", API: &rest.Config{}, DataDir: t.TempDir(),
		GetServingCert: func() (*tls.Certificate, error) { return nil, broken }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.servingTLS(netip.MustParseAddr("10.0.0.5")); !errors.Is(err, broken) {
		t.Errorf("a failing getter at start: %v", err)
	}
	cert, err := tls.LoadX509KeyPair(p.CertFile, p.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{NodeName: "n1", API: &rest.Config{}, DataDir: t.TempDir(), ServingCert: &cert, GetServingCert: cf.Get}); !errors.Is(err, ErrConfig) {
		t.Errorf("ServingCert and GetServingCert both set: %v, want ErrConfig", err)
	}
}
