package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"runtime/debug"
	"strings"
	"time"
)

// debugServer serves Go's profiler (/debug/pprof/) on the
// --listen-metrics-urls of a `kelson server --etcd-servers`, which runs no
// member. With a member, the member serves the profiler itself on its
// client and metrics URLs, as etcd's --enable-pprof (pprofHandlers). The
// server is owned by the command's RunE: started before the API, closed
// after it returns.
type debugServer struct {
	srv *http.Server
	lns []net.Listener
}

// startDebugServer listens on every URL (http://host:port) and serves the
// profiler there. It listens on all of them before serving any, so a port in
// use fails the command before the member starts.
func startDebugServer(urls []string) (*debugServer, error) {
	mux := http.NewServeMux()
	for pattern, h := range pprofHandlers() {
		mux.Handle(pattern, h)
	}
	d := &debugServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	for _, raw := range urls {
		if err := checkMetricsURL(raw); err != nil {
			d.close()
			return nil, err
		}
		u, _ := url.Parse(raw)
		if u.Scheme == "https" {
			d.close()
			return nil, usagef("--listen-metrics-urls %s: https:// needs a store member's --cert-file and --key-file, and none runs in this process: use http://", raw)
		}
		ln, err := net.Listen("tcp", u.Host)
		if err != nil {
			d.close()
			return nil, fmt.Errorf("--listen-metrics-urls %s: %w", raw, err)
		}
		d.lns = append(d.lns, ln)
	}
	for _, ln := range d.lns {
		go func() {
			if err := d.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				// A failed profiler listener does not stop the member.
				fmt.Fprintf(os.Stderr, "kelson: profiler on %s stopped: %v\n", ln.Addr(), err)
			}
		}()
	}
	return d, nil
}

func (d *debugServer) close() {
	if d == nil {
		return
	}
	_ = d.srv.Close()
	for _, ln := range d.lns {
		_ = ln.Close()
	}
}

// pprofHandlers are Go's profiler handlers by pattern, as etcd's
// --enable-pprof serves them.
func pprofHandlers() map[string]http.Handler {
	return map[string]http.Handler{
		"/debug/pprof/":        http.HandlerFunc(pprof.Index),
		"/debug/pprof/cmdline": http.HandlerFunc(pprof.Cmdline),
		"/debug/pprof/profile": http.HandlerFunc(pprof.Profile),
		"/debug/pprof/symbol":  http.HandlerFunc(pprof.Symbol),
		"/debug/pprof/trace":   http.HandlerFunc(pprof.Trace),
	}
}

// checkMetricsURL accepts http://host:port only.
func checkMetricsURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return usagef("--listen-metrics-urls: want http://host:port or https://host:port, got %q", raw)
	}
	return nil
}

// noMemberMetricsError: without a member (`kelson sim`, `kelson server
// --etcd-servers`) the metrics URLs serve only the profiler.
func noMemberMetricsError(enablePprof bool, urls []string) error {
	if !enablePprof && len(urls) > 0 {
		return usagef("--listen-metrics-urls %s: no store member runs in this process (kelson sim, kelson server --etcd-servers), so it has no store metrics or health to serve: add --enable-pprof to serve the profiler there, or drop the flag", strings.Join(urls, ","))
	}
	if enablePprof && len(urls) == 0 {
		return usagef("--enable-pprof needs --listen-metrics-urls when no store member runs in this process (kelson sim, kelson server --etcd-servers), e.g. --listen-metrics-urls http://127.0.0.1:2381")
	}
	return nil
}

// storeGCPercent is the member's GOGC unless the environment sets one: a
// member allocates per request (gRPC, raft entries, events) against a
// small live heap, so Go's default of 100 collects very often. 200 cut the
// members' CPU per put by about 12% for 15% more RSS: three members started
// with GOGC=100 and then 200, CPU-seconds from /proc/PID/stat around
// `kelson bench put --clients 1000 --conns 100 --total 150000
// --key-space-size 100000 --val-size 256` (10.6 s against 12.1 s).
const storeGCPercent = 200

func setDefaultGCPercent() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(storeGCPercent)
	}
}
