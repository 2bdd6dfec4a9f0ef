package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// Without a member (sim, server --etcd-servers) the metrics URLs serve the
// profiler alone; with one they serve the member's /metrics and health.
func TestPprofFlagsNeedEachOther(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in the error
	}{
		{[]string{"server", "--etcd-servers", "http://127.0.0.1:1", "--enable-pprof"}, "--enable-pprof needs --listen-metrics-urls"},
		{[]string{"server", "--etcd-servers", "http://127.0.0.1:1", "--listen-metrics-urls", "http://127.0.0.1:0"}, "add --enable-pprof"},
		{[]string{"store", "--enable-pprof", "--listen-metrics-urls", "unix:///tmp/x"}, `want http://host:port or https://host:port, got "unix:///tmp/x"`},
		{[]string{"store", "--enable-pprof", "--listen-metrics-urls", "http://127.0.0.1:0/metrics"}, `want http://host:port or https://host:port, got "http://127.0.0.1:0/metrics"`},
	} {
		code, _, _, stderr := runCapture(t, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want a usage error (2) saying %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestStoreServesPprof(t *testing.T) {
	d, err := startDebugServer([]string{"http://127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	resp, err := http.Get("http://" + d.lns[0].Addr().String() + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine") {
		t.Fatalf("GET /debug/pprof/: %d %.200q", resp.StatusCode, body)
	}
	if _, err := startDebugServer([]string{"http://" + d.lns[0].Addr().String()}); err == nil {
		t.Fatal("a second server on the same port started")
	}
}
