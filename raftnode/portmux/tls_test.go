package portmux

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/testpki"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestLooksLikeHTTP1(t *testing.T) {
	for in, want := range map[string]bool{"GET /": true, "POST ": true, "PRI *": false, "\x16\x03\x01\x02\x00": false, "DELET": true} {
		if got := LooksLikeHTTP1([]byte(in)); got != want {
			t.Errorf("%q: %v", in, got)
		}
	}
}

// passCreds hands grpc the connection as it is (the member uses
// tlsinfo.ServerCredentials, which also reports the TLS state).
type passCreds struct {
	credentials.TransportCredentials
}

func (passCreds) ServerHandshake(c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return c, credentials.TLSInfo{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}, nil
}
func (passCreds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "tls"}
}
func (p passCreds) Clone() credentials.TransportCredentials { return p }

// TestTLSPort: with Options.TLS the handshake comes first, then the sniff:
// gRPC (h2) and HTTP/1.1 clients share the port over TLS; a plain-text
// HTTP request gets a plain-text 400; a plain-text gRPC client is closed
// on at once.
func TestTLSPort(t *testing.T) {
	ca := testpki.NewCA(t, t.TempDir(), "ca")
	pair := ca.Issue(t, "srv", "127.0.0.1")
	cert, err := tls.LoadX509KeyPair(pair.CertFile, pair.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := New(ln, Options{SniffTimeout: 2 * time.Second, TLS: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1", "h2"}}})
	gs := grpc.NewServer(grpc.Creds(passCreds{}))
	healthpb.RegisterHealthServer(gs, health.NewServer())
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello "+r.Proto) })}
	go gs.Serve(m.GRPC())
	go hs.Serve(m.HTTP())
	go m.Serve()
	defer func() { gs.Stop(); hs.Close(); m.Close() }()
	addr := ln.Addr().String()

	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(ca.ClientTLS(t, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("gRPC over TLS: %v", err)
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: ca.ClientTLS(t, nil), ForceAttemptHTTP2: true}}
	resp, err := hc.Get("https://" + addr + "/x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hello HTTP/1.1" {
		t.Fatalf("HTTP over TLS: %q", b)
	}
	resp, err = http.Get("http://" + addr + "/x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), "HTTP request to an HTTPS server") {
		t.Fatalf("plain HTTP: %d %q", resp.StatusCode, b)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, string(preface))
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if n, err := c.Read(make([]byte, 64)); err == nil {
		t.Fatalf("plain gRPC preface: read %d bytes, want the connection closed", n)
	} else if time.Since(start) > 3*time.Second {
		t.Fatalf("plain gRPC preface: closed after %v: %v", time.Since(start), err)
	}
}
