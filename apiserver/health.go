package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

func goVersion() string { return runtime.Version() }
func platform() string  { return runtime.GOOS + "/" + runtime.GOARCH }

// serveHealth answers /healthz, /livez and /readyz: "ok", or with
// ?verbose one line per check, as kube-apiserver does. Checks: the store
// answers a read (all three), and every watch cache has loaded (readyz).
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	type check struct {
		name string
		err  error
	}
	checks := []check{{name: "ping"}, {name: "etcd", err: s.storeHealthy(r.Context())}}
	if r.URL.Path == "/readyz" {
		checks = append(checks, check{name: "informer-sync", err: s.cachesReady()}, check{name: "poststarthook/bootstrap", err: s.bootstrapDone()})
	}
	var b strings.Builder
	failed := false
	for _, c := range checks {
		if c.err != nil {
			failed = true
			fmt.Fprintf(&b, "[-]%s failed: %v\n", c.name, c.err)
		} else {
			fmt.Fprintf(&b, "[+]%s ok\n", c.name)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	name := strings.TrimPrefix(r.URL.Path, "/")
	if failed {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "%s%s check failed\n", b.String(), name)
		return
	}
	if _, verbose := r.URL.Query()["verbose"]; verbose {
		fmt.Fprintf(w, "%s%s check passed\n", b.String(), name)
		return
	}
	w.Write([]byte("ok"))
}

func (s *Server) storeHealthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := s.cfg.Store.Range(ctx, &pb.RangeRequest{Key: []byte("/registry/health"), CountOnly: true})
	return err
}

// cachesReady checks the built-in resources' caches (a custom resource's
// cache, started when its CRD appears, does not make the server unready).
func (s *Server) cachesReady() error {
	for _, r := range s.builtin {
		if r.cache.Rev() == 0 {
			return fmt.Errorf("the %s cache has not loaded yet", r.kind.Resource)
		}
	}
	return nil
}

// bootstrapDone is nil once the system namespaces and Services exist.
func (s *Server) bootstrapDone() error {
	if !s.bootstrapped.Load() {
		return fmt.Errorf("the system namespaces and the kubernetes and kube-dns Services are not created yet")
	}
	return nil
}
