package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestPprofFlagsNeedEachOther(t *testing.T) {
	for _, args := range [][]string{
		{"store", "--enable-pprof"},
		{"store", "--listen-metrics-urls", "http://127.0.0.1:0"},
		{"store", "--enable-pprof", "--listen-metrics-urls", "unix:///tmp/x"},
		{"store", "--enable-pprof", "--listen-metrics-urls", "http://127.0.0.1:0/metrics"},
	} {
		code, _, _, stderr := runCapture(t, args...)
		if code != 2 || !strings.Contains(stderr, "--") {
			t.Errorf("%q: exit %d, stderr %q; want a usage error (2)", args, code, stderr)
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
