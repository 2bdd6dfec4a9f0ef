package main

import "testing"

// --token-auth-file reaches the server's configuration (the API server
// reads and checks the file at start: apiserver.Config.TokenAuthFile).
func TestServerTokenAuthFileFlag(t *testing.T) {
	code, cfg, stderr := runServerCapture(t, "server", "--token-auth-file", "/etc/kelson/tokens.csv")
	if code != 0 || cfg.TokenAuthFile != "/etc/kelson/tokens.csv" {
		t.Fatalf("exit %d, TokenAuthFile %q: %s", code, cfg.TokenAuthFile, stderr)
	}
	if _, cfg, _ := runServerCapture(t, "server"); cfg.TokenAuthFile != "" {
		t.Fatalf("default TokenAuthFile %q, want none", cfg.TokenAuthFile)
	}
}
