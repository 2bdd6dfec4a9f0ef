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
// --listen-metrics-urls, as etcd's --enable-pprof does on its client URLs.
// Kelson's client port speaks only gRPC, so the profiler needs its own
// listener. The server is owned by the store command's RunE: started before
// the member, closed after it returns.
type debugServer struct {
	srv *http.Server
	lns []net.Listener
}

// startDebugServer listens on every URL (http://host:port) and serves the
// profiler there. It listens on all of them before serving any, so a port in
// use fails the command before the member starts.
func startDebugServer(urls []string) (*debugServer, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	d := &debugServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "http" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			d.close()
			return nil, usagef("--listen-metrics-urls: want http://host:port, got %q", raw)
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

// metricsFlagsError checks the pair of flags: the profiler needs a URL.
func metricsFlagsError(enablePprof bool, urls []string) error {
	if enablePprof && len(urls) == 0 {
		return usagef("--enable-pprof needs --listen-metrics-urls (the client port speaks only gRPC), e.g. --listen-metrics-urls http://127.0.0.1:2381")
	}
	if !enablePprof && len(urls) > 0 {
		return usagef("--listen-metrics-urls %s serves only the profiler: add --enable-pprof", strings.Join(urls, ","))
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
