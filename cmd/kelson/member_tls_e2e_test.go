package main

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/testpki"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestServerMemberTLS: `kelson server` takes the member's TLS flags; its
// API reaches the member in process (no dial), so the API works while the
// member's client and peer ports are TLS with client certificates.
func TestServerMemberTLS(t *testing.T) {
	ports := freePorts(t, 3)
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "ca")
	srv := ca.Issue(t, "member", "127.0.0.1")
	root := ca.Issue(t, "root")
	clientURL := "https://127.0.0.1:" + strconv.Itoa(ports[1])
	p := startProc(t, "server", "--data-dir", filepath.Join(dir, "srv.kelson"), "--https-listen-port", strconv.Itoa(ports[0]),
		"--disable-agent", "--log-format", "text",
		"--listen-client-urls", clientURL, "--listen-peer-urls", "https://127.0.0.1:"+strconv.Itoa(ports[2]),
		"--cert-file", srv.CertFile, "--key-file", srv.KeyFile, "--trusted-ca-file", ca.CertFile, "--client-cert-auth",
		"--peer-cert-file", srv.CertFile, "--peer-key-file", srv.KeyFile, "--peer-trusted-ca-file", ca.CertFile, "--peer-client-cert-auth")
	kc := p.waitKubeconfig(t)
	cs := clientFor(t, kc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("the API over its TLS member: %v", err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{clientURL}, TLS: ca.ClientTLS(t, &root), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	resp, err := cli.Get(ctx, "/registry/namespaces/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count == 0 {
		t.Fatalf("the member over TLS: %v %v", resp, err)
	}
	plain, err := clientv3.New(clientv3.Config{Endpoints: []string{clientURL}, TLS: ca.ClientTLS(t, nil), DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err == nil {
		defer plain.Close()
		sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
		_, err = plain.Get(sctx, "x")
		scancel()
	}
	if err == nil {
		t.Fatal("a client without a certificate reached the member")
	}
	p.stop(t)
}
