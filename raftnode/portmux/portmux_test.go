package portmux

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Kind
	}{
		{"", Undecided},
		{"P", Undecided},
		{"PRI * HTTP/2.0\r\n", Undecided},
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", GRPC},
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nextra", GRPC},
		{"G", HTTP},
		{"GET / HTTP/1.1\r\n", HTTP},
		{"POST /v3/kv/range HTTP/1.1\r\n", HTTP},
		{"PRX", HTTP},
	} {
		if got := Classify([]byte(tc.in)); got != tc.want {
			t.Errorf("Classify(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestGRPCAndHTTPOnOnePort serves both on one loopback port and talks to
// each with its real client.
func TestGRPCAndHTTPOnOnePort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := New(ln, Options{SniffTimeout: time.Second})
	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, health.NewServer())
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello "+r.URL.Path) })}
	go gs.Serve(m.GRPC())
	go hs.Serve(m.HTTP())
	served := make(chan error, 1)
	go func() { served <- m.Serve() }()
	defer func() {
		gs.Stop()
		hs.Close()
		m.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()

	resp, err := http.Get("http://" + ln.Addr().String() + "/x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hello /x" {
		t.Fatalf("HTTP got %q", b)
	}

	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hr, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || hr.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("gRPC health: %v %v", hr, err)
	}

	// A short HTTP/1.0 request that is a prefix of nothing gRPC still works,
	// and a silent connection is closed after SniffTimeout.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /y HTTP/1.0\r\n\r\n")
	b, _ = io.ReadAll(c)
	c.Close()
	if !strings.Contains(string(b), "hello /y") {
		t.Fatalf("HTTP/1.0 got %q", b)
	}
	silent, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silent.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("a silent connection: read gave %v, want io.EOF (closed by the mux)", err)
	}
}
