package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"os"
	"strings"
	"testing"
	"time"
)

// LoadCA reads a CA's certificate and EC private key from PEM files (a
// kelson server's DATA_DIR/tls/ca.crt and ca.key), so that a test can
// issue certificates a running server trusts. Issued files go to dir.
func LoadCA(t testing.TB, certFile, keyFile, dir string) *CA {
	t.Helper()
	cb, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	cblock, _ := pem.Decode(cb)
	kblock, _ := pem.Decode(kb)
	if cblock == nil || kblock == nil {
		t.Fatalf("testpki: %s or %s is not PEM", certFile, keyFile)
	}
	cert, err := x509.ParseCertificate(cblock.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.ParseECPrivateKey(kblock.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Name: cert.Subject.CommonName, CertFile: certFile, cert: cert, key: key, dir: dir}
}

// IssueUser signs a client certificate for the API user cn in groups (its
// Organizations), valid for a day, or ended an hour ago when expired.
// The files are named after cn with ':' replaced by '_'.
func (ca *CA) IssueUser(t testing.TB, cn string, expired bool, groups ...string) Pair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	notAfter := time.Now().Add(24 * time.Hour)
	if expired {
		notAfter = time.Now().Add(-time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: cn, Organization: groups},
		NotBefore:    time.Now().Add(-2 * time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return ca.sign(t, strings.ReplaceAll(cn, ":", "_"), key, tmpl)
}
