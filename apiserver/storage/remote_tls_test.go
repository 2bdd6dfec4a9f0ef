package storage

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/testpki"
)

func TestRemoteTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "ca")
	a := ca.Issue(t, "a")
	b := ca.Issue(t, "b")
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.crt")
	for _, c := range []struct {
		name string
		in   RemoteTLS
		want string
	}{
		{"missing CA", RemoteTLS{CAFile: missing}, "--etcd-cafile: open " + missing},
		{"CA not PEM", RemoteTLS{CAFile: notPEM}, "--etcd-cafile " + notPEM + " holds no PEM certificate"},
		{"cert without key", RemoteTLS{CertFile: a.CertFile}, "--etcd-certfile and --etcd-keyfile go together"},
		{"key without cert", RemoteTLS{KeyFile: a.KeyFile}, "--etcd-certfile and --etcd-keyfile go together"},
		{"missing cert", RemoteTLS{CertFile: missing, KeyFile: a.KeyFile}, "--etcd-certfile: stat " + missing},
		{"missing key", RemoteTLS{CertFile: a.CertFile, KeyFile: missing}, "--etcd-keyfile: stat " + missing},
		{"key of another cert", RemoteTLS{CertFile: a.CertFile, KeyFile: b.KeyFile}, "private key does not match public key"},
		{"cert not PEM", RemoteTLS{CertFile: notPEM, KeyFile: a.KeyFile}, "--etcd-certfile " + notPEM},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.in.Config()
			if !errors.Is(err, ErrRemoteTLS) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want ErrRemoteTLS with %q", err, c.want)
			}
		})
	}
}

// TestRemoteTLSConfigHandshake: the configuration verifies the server
// against the CA file and presents the client certificate; a server of
// another CA is refused.
func TestRemoteTLSConfigHandshake(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "ca")
	other := testpki.NewCA(t, dir, "other")
	srv := ca.Issue(t, "srv", "127.0.0.1")
	cli := ca.Issue(t, "root")
	serve := func(t *testing.T, pair testpki.Pair) string {
		cert, err := tls.LoadX509KeyPair(pair.CertFile, pair.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert},
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool(), MinVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					c.SetDeadline(time.Now().Add(10 * time.Second))
					if c.(*tls.Conn).Handshake() == nil {
						c.Write([]byte("ok"))
					}
				}()
			}
		}()
		return ln.Addr().String()
	}
	dial := func(addr string, in RemoteTLS) error {
		cfg, err := in.Config()
		if err != nil {
			return err
		}
		cfg.ServerName = "127.0.0.1"
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		b, err := io.ReadAll(c)
		if err == nil && string(b) != "ok" {
			err = errors.New("no answer")
		}
		return err
	}
	addr := serve(t, srv)
	if err := dial(addr, RemoteTLS{CAFile: ca.CertFile, CertFile: cli.CertFile, KeyFile: cli.KeyFile}); err != nil {
		t.Fatalf("with the CA and a client certificate: %v", err)
	}
	if err := dial(addr, RemoteTLS{CAFile: ca.CertFile}); err == nil {
		t.Error("without a client certificate: the server let it in")
	}
	if err := dial(addr, RemoteTLS{CAFile: other.CertFile, CertFile: cli.CertFile, KeyFile: cli.KeyFile}); err == nil ||
		!strings.Contains(err.Error(), "certificate") {
		t.Errorf("trusting another CA: %v, want a certificate error", err)
	}
}
