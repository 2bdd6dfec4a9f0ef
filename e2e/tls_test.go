package e2e

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/testpki"
)

// tlsFlags are the `kelson store` flags of a member whose client and peer
// URLs are https://, with client certificate authentication on both.
func tlsFlags(ca *testpki.CA, srv testpki.Pair) []string {
	return []string{
		"--cert-file", srv.CertFile, "--key-file", srv.KeyFile,
		"--trusted-ca-file", ca.CertFile, "--client-cert-auth",
		"--peer-cert-file", srv.CertFile, "--peer-key-file", srv.KeyFile,
		"--peer-trusted-ca-file", ca.CertFile, "--peer-client-cert-auth",
	}
}

// httpsEndpoints is etcdctl's --endpoints with https:// URLs.
func httpsEndpoints(c *cluster) string { return strings.Join(c.Endpoints(), ",") }

// failsWithin runs etcdctl, wants it to fail within d (a clean failure,
// not a hang), and returns its output.
func failsWithin(t *testing.T, e etcdctl, d time.Duration, args ...string) string {
	t.Helper()
	start := time.Now()
	out, errOut, err := e.run("", args...)
	took := time.Since(start)
	if err == nil {
		t.Fatalf("etcdctl %s succeeded, want a failure; stdout %q", strings.Join(args, " "), out)
	}
	if took > d {
		t.Fatalf("etcdctl %s failed only after %v (want within %v): %s", strings.Join(args, " "), took, d, errOut)
	}
	t.Logf("etcdctl %s: failed after %v: %s", strings.Join(args, " "), took.Round(time.Millisecond), strings.TrimSpace(errOut))
	return out + errOut
}

// TestEtcdctlTLSCluster: three members with client and peer TLS and
// client certificate authentication, driven with etcdctl --cacert --cert
// --key; clients without what it takes fail promptly.
func TestEtcdctlTLSCluster(t *testing.T) {
	needEtcdctl(t)
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "ca")
	srv := ca.Issue(t, "member", "127.0.0.1", "localhost")
	root := ca.Issue(t, "root")
	c := newCluster(t, clusterOptions{size: 3, https: true, extra: tlsFlags(ca, srv), clientTLS: ca.ClientTLS(t, &root)})
	ctl := etcdctl{endpoints: httpsEndpoints(c)}
	auth := []string{"--cacert", ca.CertFile, "--cert", root.CertFile, "--key", root.KeyFile}
	with := func(args ...string) []string { return append(append([]string{}, auth...), args...) }

	ctl.ok(t, with("put", "greeting", "hello")...)
	one := etcdctl{endpoints: c.Members[2].ClientURL}
	if got := one.ok(t, with("get", "greeting", "--print-value-only")...); got != "hello" {
		t.Fatalf("get on member c: %q", got)
	}
	// (Each member publishes its client URLs once it runs: wait for all.)
	for deadline := time.Now().Add(rpcTimeout); ; time.Sleep(100 * time.Millisecond) {
		list := ctl.ok(t, with("member", "list")...)
		if strings.Count(list, "https://127.0.0.1:") == 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("member list should show https peer and client URLs:\n%s", list)
		}
	}
	// etcdctl 3.4 prints health on stderr.
	if out, errOut, err := ctl.run("", with("endpoint", "health")...); err != nil || strings.Count(out+errOut, "is healthy") != 3 {
		t.Fatalf("endpoint health: %v\n%s%s", err, out, errOut)
	}

	// /health over https on the client port, with a client certificate.
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: ca.ClientTLS(t, &root)}}
	resp, err := hc.Get(c.Members[0].ClientURL + "/health")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"health":"true"`) {
		t.Fatalf("/health: %d %s", resp.StatusCode, b)
	}

	// Refusals, each prompt (etcdctl's --dial-timeout is 2s here).
	const prompt = 10 * time.Second
	fast := func(args ...string) []string {
		return append([]string{"--dial-timeout=2s", "--command-timeout=3s"}, args...)
	}
	failsWithin(t, ctl, prompt, fast("--cert", root.CertFile, "--key", root.KeyFile, "get", "greeting")...) // no --cacert: server not trusted
	failsWithin(t, ctl, prompt, fast("--cacert", ca.CertFile, "get", "greeting")...)                        // no client certificate
	failsWithin(t, etcdctl{endpoints: c.Members[0].Endpoint()}, prompt, fast("get", "greeting")...)         // plain text against TLS
	other := testpki.NewCA(t, t.TempDir(), "other")
	mallory := other.Issue(t, "mallory")
	failsWithin(t, ctl, prompt, fast("--cacert", ca.CertFile, "--cert", mallory.CertFile, "--key", mallory.KeyFile, "get", "greeting")...) // another CA's certificate

	// Peer TLS: a member restarted rejoins over TLS and catches up.
	c.Members[1].Term()
	c.WaitLeader(c.Others(c.Members[1]))
	// (etcdctl does not retry a put on a connection that broke: not b's.)
	etcdctl{endpoints: c.Members[0].ClientURL}.ok(t, with("put", "while-b-was-down", "x")...)
	c.Members[1].Restart()
	b1 := etcdctl{endpoints: c.Members[1].ClientURL}
	deadline := time.Now().Add(rpcTimeout)
	for {
		if got := b1.ok(t, with("get", "while-b-was-down", "--print-value-only", "--consistency=s")...); got == "x" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("member b did not catch up over peer TLS")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestEtcdctlTLSClientAgainstPlainMember: etcdctl speaking TLS to a plain
// member fails promptly.
func TestEtcdctlTLSClientAgainstPlainMember(t *testing.T) {
	needEtcdctl(t)
	ca := testpki.NewCA(t, t.TempDir(), "ca")
	root := ca.Issue(t, "root")
	c := newCluster(t, clusterOptions{size: 1})
	ctl := etcdctl{endpoints: "https://" + c.Members[0].Endpoint()}
	failsWithin(t, ctl, 10*time.Second, "--dial-timeout=2s", "--command-timeout=3s",
		"--cacert", ca.CertFile, "--cert", root.CertFile, "--key", root.KeyFile, "get", "k")
	// And the plain member still serves plain clients.
	etcdctl{endpoints: c.Members[0].Endpoint()}.ok(t, "put", "k", "v")
}

// TestEtcdctlAutoTLS: --auto-tls and --peer-auto-tls make self-signed
// certificates; etcdctl works with --insecure-skip-tls-verify and not
// without (etcdctl 3.4 also wants --insecure-transport=false to use TLS
// with no certificate flag).
func TestEtcdctlAutoTLS(t *testing.T) {
	needEtcdctl(t)
	c := newCluster(t, clusterOptions{size: 3, https: true, extra: []string{"--auto-tls", "--peer-auto-tls"},
		clientTLS: insecureTLS()})
	ctl := etcdctl{endpoints: httpsEndpoints(c)}
	ctl.ok(t, "--insecure-transport=false", "--insecure-skip-tls-verify", "put", "k", "v")
	if got := (etcdctl{endpoints: c.Members[2].ClientURL}).ok(t, "--insecure-transport=false", "--insecure-skip-tls-verify", "get", "k", "--print-value-only"); got != "v" {
		t.Fatalf("get on member c: %q", got)
	}
	failsWithin(t, ctl, 10*time.Second, "--dial-timeout=2s", "--command-timeout=3s", "--insecure-transport=false", "get", "k")
	for _, m := range c.Members {
		for _, side := range []string{"client", "peer"} {
			if _, err := os.Stat(fmt.Sprintf("%s/fixtures/%s/cert.pem", m.DataDir, side)); err != nil {
				t.Errorf("member %s: %v", m.Name, err)
			}
		}
	}
}

func insecureTLS() *tls.Config { return &tls.Config{InsecureSkipVerify: true} }
