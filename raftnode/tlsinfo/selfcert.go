package tlsinfo

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// SelfCertNames returns the names a self-signed certificate for the given
// listen hosts ("host:port") carries: each host as an IP or DNS name, and
// for an unspecified address (0.0.0.0, [::]) localhost, 127.0.0.1 and ::1,
// the names a local client uses. Pure.
func SelfCertNames(hosts []string) (ips []net.IP, dns []string) {
	addIP := func(ip net.IP) {
		if !slices.ContainsFunc(ips, ip.Equal) {
			ips = append(ips, ip)
		}
	}
	addDNS := func(n string) {
		if !slices.Contains(dns, n) {
			dns = append(dns, n)
		}
	}
	for _, hp := range hosts {
		h, _, err := net.SplitHostPort(hp)
		if err != nil {
			h = hp
		}
		ip := net.ParseIP(h)
		switch {
		case ip != nil && ip.IsUnspecified():
			addDNS("localhost")
			addIP(net.IPv4(127, 0, 0, 1))
			addIP(net.IPv6loopback)
		case ip != nil:
			addIP(ip)
		case h != "":
			addDNS(h)
		}
	}
	return ips, dns
}

// SelfCert returns an Info of a self-signed certificate for hosts in dir
// (cert.pem, key.pem), as etcd's --auto-tls: it reuses the files there when
// they load, have not expired and cover every host, and makes new ones
// (ECDSA P-256, valid validityYears) otherwise. The certificate serves and
// authenticates as a client (a peer presents it when it dials).
func SelfCert(dir string, hosts []string, validityYears uint, log *slog.Logger) (Info, error) {
	if log == nil {
		log = slog.Default()
	}
	if validityYears == 0 {
		return Info{}, configErrorf("--self-signed-cert-validity must be at least 1 (years)")
	}
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	info := Info{CertFile: certPath, KeyFile: keyPath, AutoTLS: true, SelfSigned: true}
	ips, dns := SelfCertNames(hosts)
	if why := reusable(certPath, keyPath, ips, dns, time.Now()); why == "" {
		return info, nil
	} else if !os.IsNotExist(statErr(certPath)) {
		log.Warn("making a new self-signed certificate", "dir", dir, "reason", why)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Info{}, fmt.Errorf("auto TLS: %w", err)
	}
	certPEM, keyPEM, err := newSelfSigned(ips, dns, time.Now(), validityYears)
	if err != nil {
		return Info{}, fmt.Errorf("auto TLS: %w", err)
	}
	if err := writeAtomic(keyPath, keyPEM, 0o600); err != nil {
		return Info{}, fmt.Errorf("auto TLS: %w", err)
	}
	if err := writeAtomic(certPath, certPEM, 0o644); err != nil {
		return Info{}, fmt.Errorf("auto TLS: %w", err)
	}
	log.Warn("automatically generated a self-signed certificate: clients must skip verification (etcdctl --insecure-skip-tls-verify)",
		"cert_file", certPath, "ips", ips, "dns", dns, "valid_years", validityYears)
	return info, nil
}

func statErr(p string) error { _, err := os.Stat(p); return err }

// reusable says why the pair in the files cannot be reused ("" if it can).
func reusable(certPath, keyPath string, ips []net.IP, dns []string, now time.Time) string {
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return err.Error()
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return err.Error()
		}
	}
	if now.After(leaf.NotAfter) {
		return "expired on " + leaf.NotAfter.Format(time.RFC3339)
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			return "does not name " + ip.String()
		}
	}
	for _, d := range dns {
		if !slices.Contains(leaf.DNSNames, d) {
			return "does not name " + d
		}
	}
	return ""
}

func newSelfSigned(ips []net.IP, dns []string, now time.Time, years uint) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"kelson"}, CommonName: "kelson auto TLS"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(int(years), 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // so a client may also pin it as its CA
		IPAddresses:           ips,
		DNSNames:              dns,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), nil
}

// writeAtomic writes data to a temporary file beside path and renames it
// over path.
func writeAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
