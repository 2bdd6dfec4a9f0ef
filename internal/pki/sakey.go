package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// ErrServiceAccountKey is returned when the service account signing key on
// disk cannot be used; Ensure never replaces it by itself (every token it
// signed would stop working, and every server must hold the same key).
var ErrServiceAccountKey = errors.New("pki: service account key unusable")

// ensureServiceAccountKey loads DIR/service-account.key, or makes it
// (ECDSA P-256, PEM "EC PRIVATE KEY", 0600) when it does not exist.
func ensureServiceAccountKey(dir string, b *Bundle, log *slog.Logger) (crypto.Signer, []byte, error) {
	path := filepath.Join(dir, ServiceAccountKeyFile)
	keyPEM, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		keyPEM, err = NewServiceAccountKeyPEM()
		if err != nil {
			return nil, nil, err
		}
		if err := WriteFileAtomic(path, keyPEM, 0o600); err != nil {
			return nil, nil, err
		}
		b.Written = append(b.Written, ServiceAccountKeyFile)
		log.Info("created the service account signing key", "key", path)
	case err != nil:
		return nil, nil, fmt.Errorf("%w: %s: %v: check its permissions", ErrServiceAccountKey, path, err)
	}
	key, err := ParseServiceAccountKey(keyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v: restore it from another server, or remove it to make a new one "+
			"(every service account token issued so far then stops working)", ErrServiceAccountKey, path, err)
	}
	return key, keyPEM, nil
}

// NewServiceAccountKeyPEM makes a service account signing key: ECDSA
// P-256 in PEM ("EC PRIVATE KEY").
func NewServiceAccountKeyPEM() ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generate the service account key: %w", err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: encode the service account key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// ParseServiceAccountKey reads a PEM ECDSA P-256 private key ("EC PRIVATE
// KEY" or PKCS#8 "PRIVATE KEY").
func ParseServiceAccountKey(keyPEM []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q, want EC PRIVATE KEY", block.Type)
	}
	if err != nil {
		return nil, err
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("not an ECDSA P-256 key (ES256 needs one)")
	}
	return ec, nil
}
