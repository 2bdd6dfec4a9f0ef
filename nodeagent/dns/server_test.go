package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/testcluster"
	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func startServer(t *testing.T, s *Server) {
	t.Helper()
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
	})
}

func query(net, addr, name string, qtype uint16) (*mdns.Msg, error) {
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), qtype)
	c := &mdns.Client{Net: net, Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, addr)
	return r, err
}

// TestServerWithAPI creates Services through a real API server and asks
// the DNS server over UDP and TCP on loopback.
func TestServerWithAPI(t *testing.T) {
	c := testcluster.Start(t)
	ctx := context.Background()
	web, err := c.Client.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec:       corev1.ServiceSpec{ClusterIP: "None", Ports: []corev1.ServicePort{{Name: "sql", Port: 5432}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	es, err := c.Client.DiscoveryV1().EndpointSlices("default").Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "db-1", Labels: map[string]string{discoveryv1.LabelServiceName: "db"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("sql"), Port: ptr(int32(5432))}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.244.0.7"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	s := New(c.Client, Config{Listen: "127.0.0.1:0", Logger: testcluster.Logger()})
	startServer(t, s)
	addr := s.Addr()

	expectA := func(name, want string) func() error {
		return func() error {
			for _, net := range []string{"udp", "tcp"} {
				r, err := query(net, addr, name, mdns.TypeA)
				if err != nil {
					return err
				}
				if r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 1 {
					return fmt.Errorf("%s %s: %s %v", net, name, mdns.RcodeToString[r.Rcode], r.Answer)
				}
				if got := r.Answer[0].(*mdns.A).A.String(); got != want {
					return fmt.Errorf("%s %s: A %s, want %s", net, name, got, want)
				}
			}
			return nil
		}
	}
	testcluster.Eventually(t, 30*time.Second, expectA("web.default.svc.cluster.local", web.Spec.ClusterIP))
	testcluster.Eventually(t, 30*time.Second, expectA("db.default.svc.cluster.local", "10.244.0.7"))

	r, err := query("udp", addr, "_http._tcp.web.default.svc.cluster.local", mdns.TypeSRV)
	if err != nil || r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*mdns.SRV).Port != 80 {
		t.Fatalf("SRV: %v %v", r, err)
	}
	rev, _ := mdns.ReverseAddr(web.Spec.ClusterIP)
	r, err = query("udp", addr, rev, mdns.TypePTR)
	if err != nil || len(r.Answer) != 1 || r.Answer[0].(*mdns.PTR).Ptr != "web.default.svc.cluster.local." {
		t.Fatalf("PTR: %v %v", r, err)
	}
	r, err = query("udp", addr, "missing.default.svc.cluster.local", mdns.TypeA)
	if err != nil || r.Rcode != mdns.RcodeNameError || !r.Authoritative {
		t.Fatalf("unknown name: %v %v", r, err)
	}
	r, err = query("udp", addr, "example.org", mdns.TypeA)
	if err != nil || r.Rcode != mdns.RcodeRefused {
		t.Fatalf("no upstreams: want REFUSED, got %v %v", r, err)
	}

	// An endpoint change reaches the answers.
	es.Endpoints = []discoveryv1.Endpoint{{Addresses: []string{"10.244.0.8"}}}
	if _, err := c.Client.DiscoveryV1().EndpointSlices("default").Update(ctx, es, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, 30*time.Second, expectA("db.default.svc.cluster.local", "10.244.0.8"))

	// Queries per second on loopback: 4 clients, UDP, a fixed count.
	const workers, perWorker = 4, 500
	var failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &mdns.Client{Net: "udp", Timeout: 5 * time.Second}
			m := new(mdns.Msg)
			m.SetQuestion("web.default.svc.cluster.local.", mdns.TypeA)
			for i := 0; i < perWorker; i++ {
				if r, _, err := c.Exchange(m, addr); err != nil || len(r.Answer) != 1 {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	if failed.Load() != 0 {
		t.Fatalf("%d of %d queries failed", failed.Load(), workers*perWorker)
	}
	t.Logf("%d UDP queries by %d clients in %s: %.0f queries/s", workers*perWorker, workers, took.Round(time.Millisecond), float64(workers*perWorker)/took.Seconds())
}

// TestForward sends names outside the cluster domain to an upstream named
// in a resolv.conf: a server of the test's own on loopback.
func TestForward(t *testing.T) {
	up := New(nil, Config{Listen: "127.0.0.1:0", Domain: "upstream.test"})
	up.SetTable(Build("upstream.test", 30, []*corev1.Service{{
		ObjectMeta: metav1.ObjectMeta{Namespace: "x", Name: "y"},
		Spec:       corev1.ServiceSpec{ClusterIP: "10.1.2.3"},
	}}, nil))
	startServer(t, up)
	host, port, _ := splitHostPort(up.Addr())
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver "+host+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := New(nil, Config{Listen: "127.0.0.1:0", Upstreams: resolv, UpstreamPort: port})
	startServer(t, s)
	for _, net := range []string{"udp", "tcp"} {
		r, err := query(net, s.Addr(), "y.x.svc.upstream.test", mdns.TypeA)
		if err != nil || r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*mdns.A).A.String() != "10.1.2.3" {
			t.Fatalf("%s forwarded: %v %v", net, r, err)
		}
		r, err = query(net, s.Addr(), "nothing.svc.upstream.test", mdns.TypeA)
		if err != nil || r.Rcode != mdns.RcodeNameError {
			t.Fatalf("%s forwarded NXDOMAIN: %v %v", net, r, err)
		}
	}
	// The cluster domain is still answered locally.
	r, err := query("udp", s.Addr(), "nope.default.svc.cluster.local", mdns.TypeA)
	if err != nil || r.Rcode != mdns.RcodeNameError {
		t.Fatalf("local: %v %v", r, err)
	}
}

func splitHostPort(addr string) (string, string, error) { return net.SplitHostPort(addr) }
