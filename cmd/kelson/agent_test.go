package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kelson-dev/kelson/nodeagent"
)

func TestParseToken(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	for _, c := range []struct {
		token string
		ok    bool
	}{
		{"K10" + hash + "::server:s3cret", true},
		{" K10" + hash + "::server:s3cret\n", true},
		{"K10" + hash + "::server:", false},
		{"K10" + hash[:10] + "::server:x", false},
		{"K10" + strings.Repeat("zz", 32) + "::server:x", false},
		{hash + "::server:x", false},
		{"", false},
	} {
		h, secret, err := parseToken(c.token)
		if (err == nil) != c.ok {
			t.Errorf("parseToken(%q): err %v, want ok=%v", c.token, err, c.ok)
		}
		if c.ok && (h != hash || secret != "s3cret") {
			t.Errorf("parseToken(%q) = %q, %q", c.token, h, secret)
		}
	}
}

func TestEnsureTokenKeepsItAndFollowsTheCA(t *testing.T) {
	dir := t.TempDir()
	ca := []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
	a, err := ensureToken(dir, ca)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := ensureToken(dir, ca); err != nil || b != a {
		t.Fatalf("second start: %q %v, want the same token %q", b, err, a)
	}
	if st, _ := os.Stat(filepath.Join(dir, "token")); st.Mode().Perm() != 0o600 {
		t.Fatalf("token mode %v, want 0600", st.Mode().Perm())
	}
	hash, _, err := parseToken(a)
	sum := sha256.Sum256(ca)
	if err != nil || hash != hex.EncodeToString(sum[:]) {
		t.Fatalf("token %q does not carry the CA's hash: %v", a, err)
	}
	if c, _ := ensureToken(dir, []byte("another CA")); c == a {
		t.Fatal("a new CA kept the old token")
	}
}

func TestJoinConfigChecksTheCA(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cacerts" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: nil}))
	}))
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: nil})
	sum := sha256.Sum256(ca)
	good := "K10" + hex.EncodeToString(sum[:]) + "::server:x"
	rc, err := joinConfig(context.Background(), srv.URL, good)
	if err != nil {
		t.Fatal(err)
	}
	if string(rc.TLSClientConfig.CAData) != string(ca) || rc.Host != srv.URL || rc.BearerToken != "x" {
		t.Fatalf("config %+v", rc)
	}
	bad := "K10" + strings.Repeat("00", 32) + "::server:x"
	if _, err := joinConfig(context.Background(), srv.URL, bad); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("a token of another cluster: %v, want a mismatch error", err)
	}
	if _, err := joinConfig(context.Background(), "http://127.0.0.1:1", good); err == nil {
		t.Fatal("http:// server accepted")
	}
}

func TestAgentFlagsConfig(t *testing.T) {
	svc := netip.MustParsePrefix("10.43.0.0/16")
	pods := netip.MustParsePrefix("10.42.0.0/16")
	for _, c := range []struct {
		flags agentFlags
		err   string
	}{
		{agentFlags{nodeName: "N1", port: 10250}, ""},
		{agentFlags{nodeName: "n", port: 0}, "--agent-port"},
		{agentFlags{nodeName: "n", port: 10250, nodeIPs: []string{"not-an-ip"}}, "--node-ip"},
		{agentFlags{nodeName: "n", port: 10250, clusterDNS: "10.44.0.10"}, "outside the service CIDR"},
		{agentFlags{nodeName: "n", port: 10250, taints: []string{"k=v:Sometimes"}}, "--node-taint"},
		{agentFlags{nodeName: "n", port: 10250, labels: []string{"=v"}}, "--node-label"},
	} {
		cfg, err := c.flags.config(pods, svc)
		if c.err == "" {
			if err != nil {
				t.Errorf("%+v: %v", c.flags, err)
			} else if cfg.NodeName != strings.ToLower(c.flags.nodeName) {
				t.Errorf("node name %q", cfg.NodeName)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%+v: error %v, want one naming %q", c.flags, err, c.err)
		}
	}
}

func TestAgentCommandNeedsTheAPI(t *testing.T) {
	var ran bool
	cmd := newAgentCommand(func(context.Context, nodeagent.Config) error { ran = true; return nil })
	cmd.SetArgs([]string{"--node-name", "n"})
	cmd.SetOut(&strings.Builder{})
	cmd.SetErr(&strings.Builder{})
	err := cmd.Execute()
	if err == nil || ran || !strings.Contains(err.Error(), "--server") {
		t.Fatalf("no API given: %v (ran %v), want an error naming --server", err, ran)
	}
}
