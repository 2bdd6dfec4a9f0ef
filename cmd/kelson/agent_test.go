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
		token          string
		ok             bool
		server, bearer string
	}{
		{"K10" + hash + "::server:s3cret", true, "s3cret", "s3cret"},
		{" K10" + hash + "::server:s3cret\n", true, "s3cret", "s3cret"},
		{"K10" + hash + "::abc123.0123456789abcdef", true, "", "abc123.0123456789abcdef"},
		{"K10" + strings.ToUpper(hash) + "::abc123.0123456789abcdef", true, "", "abc123.0123456789abcdef"},
		{"K10" + hash + "::abc123.0123456789ABCDEF", false, "", ""},
		{"K10" + hash + "::abc123.short", false, "", ""},
		{"K10" + hash + "::s3cret", false, "", ""},
		{"K10" + hash + "::server:", false, "", ""},
		{"K10" + hash[:10] + "::server:x", false, "", ""},
		{"K10" + strings.Repeat("zz", 32) + "::server:x", false, "", ""},
		{hash + "::server:x", false, "", ""},
		{"abc123.0123456789abcdef", false, "", ""},
		{"", false, "", ""},
	} {
		tok, err := parseToken(c.token)
		if (err == nil) != c.ok {
			t.Errorf("parseToken(%q): err %v, want ok=%v", c.token, err, c.ok)
		}
		if c.ok && (tok.CAHash != hash || tok.ServerSecret != c.server || tok.bearer() != c.bearer) {
			t.Errorf("parseToken(%q) = %+v", c.token, tok)
		}
		if err != nil && strings.Contains(err.Error(), "0123456789") {
			t.Errorf("parseToken(%q): the error shows the secret: %v", c.token, err)
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
	tok, err := parseToken(a)
	sum := sha256.Sum256(ca)
	if err != nil || tok.CAHash != hex.EncodeToString(sum[:]) {
		t.Fatalf("token %q does not carry the CA's hash: %v", a, err)
	}
	if c, _ := ensureToken(dir, []byte("another CA")); c == a {
		t.Fatal("a new CA kept the old token")
	}
}

func TestFetchCAChecksTheHash(t *testing.T) {
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("a CA")})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cacerts" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(ca)
	}))
	defer srv.Close()
	dir := t.TempDir()
	got, err := fetchCA(context.Background(), srv.URL, caHashOf(ca), dir)
	if err != nil || string(got) != string(ca) {
		t.Fatalf("fetchCA: %q, %v", got, err)
	}
	if _, err := fetchCA(context.Background(), srv.URL, strings.Repeat("00", 32), dir); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("a token of another cluster: %v, want a mismatch error", err)
	}
	// A CA kept on disk whose hash is the token's is used without asking.
	other := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("kept")})
	os.WriteFile(filepath.Join(dir, nodeCAFile), other, 0o644)
	if got, err := fetchCA(context.Background(), "https://127.0.0.1:1", caHashOf(other), dir); err != nil || string(got) != string(other) {
		t.Fatalf("kept CA: %q, %v", got, err)
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
