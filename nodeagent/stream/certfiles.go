package stream

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"os"
	"sync"
)

// CertFiles is a serving certificate kept in two files (PEM certificate,
// PEM key) that are replaced while the agent runs — its renewal writes new
// ones. Every Get reads both files (they are small, and handshakes on the
// agent's port are few) and parses them again when their content changed:
// the next handshake presents the renewed certificate, with no restart.
//
// A pair that does not load — the key already replaced, the certificate
// not yet, or a file missing for a moment — leaves the last good one in
// use, and is tried again at the next Get. Safe for concurrent use.
type CertFiles struct {
	certFile, keyFile string

	mu              sync.Mutex
	certPEM, keyPEM []byte // the content cert was loaded from
	cert            *tls.Certificate
}

// LoadCertFiles reads certFile and keyFile; both must load now.
func LoadCertFiles(certFile, keyFile string) (*CertFiles, error) {
	c := &CertFiles{certFile: certFile, keyFile: keyFile}
	if _, err := c.Get(); err != nil {
		return nil, err
	}
	return c, nil
}

// Get returns the current certificate, parsing the files again when
// their content changed since the last load.
func (c *CertFiles) Get() (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	certPEM, err := os.ReadFile(c.certFile)
	var keyPEM []byte
	if err == nil {
		keyPEM, err = os.ReadFile(c.keyFile)
	}
	if err == nil && c.cert != nil && bytes.Equal(certPEM, c.certPEM) && bytes.Equal(keyPEM, c.keyPEM) {
		return c.cert, nil
	}
	if err == nil {
		var kp tls.Certificate
		if kp, err = tls.X509KeyPair(certPEM, keyPEM); err == nil {
			c.cert, c.certPEM, c.keyPEM = &kp, certPEM, keyPEM
			return c.cert, nil
		}
	}
	if c.cert != nil {
		return c.cert, nil // the last good pair: the files are being replaced
	}
	return nil, fmt.Errorf("stream: the serving certificate %s with its key %s: %w", c.certFile, c.keyFile, err)
}

// GetCertificate is Get for tls.Config.GetCertificate.
func (c *CertFiles) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.Get() }
