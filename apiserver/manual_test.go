package apiserver

import (
	"os"
	"testing"
	"time"
)

// TestServeForever is for poking at a server by hand:
// KELSON_SERVE_FOREVER=/tmp/url go test -run TestServeForever ./apiserver/
func TestServeForever(t *testing.T) {
	f := os.Getenv("KELSON_SERVE_FOREVER")
	if f == "" {
		t.Skip("set KELSON_SERVE_FOREVER=file to run a server until killed")
	}
	ts := newTestServer(t, startMember(t))
	os.WriteFile(f, []byte(ts.http.URL), 0o644)
	time.Sleep(time.Hour)
}
