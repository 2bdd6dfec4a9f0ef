package v3http

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/kelson-dev/kelson/raftnode/v3rpc"
)

// Member is what the health checks need from the member besides its
// services.
type Member interface {
	// Leader is the member's view of the raft leader's ID; 0 for none.
	Leader() uint64
	// IsLearner reports whether this member is a learner (not voting).
	IsLearner() bool
}

// Config configures the handlers. Services and Member are required; zero
// fields otherwise mean their documented defaults.
type Config struct {
	// Services are the member's etcd services (v3rpc.NewServices).
	Services *v3rpc.Services
	// Member answers the leader and learner checks.
	Member Member
	// Metrics serves /metrics. Default: nil, /metrics is 404.
	Metrics http.Handler
	// Extra handlers by pattern (http.ServeMux's), served on both the client
	// and the metrics listener, as etcd's UserHandlers (the profiler).
	Extra map[string]http.Handler
	// ServerVersion, ClusterVersion and StorageVersion are /version's.
	// Default: "3.6.0" each.
	ServerVersion, ClusterVersion, StorageVersion string
	// ReadTimeout bounds the read of a health check. Default 5s.
	ReadTimeout time.Duration
	// MaxRequestBytes is the member's request limit (the gateway accepts
	// JSON bodies up to about twice it). Default 1.5 MiB.
	MaxRequestBytes int
	// Logger; default slog.Default().
	Logger *slog.Logger
}

func (c *Config) ensureDefaults() {
	for _, v := range []*string{&c.ServerVersion, &c.ClusterVersion, &c.StorageVersion} {
		if *v == "" {
			*v = "3.6.0"
		}
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = defaultReadTimeout
	}
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = 3 << 19
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// NewClientHandler is the client port's HTTP: health, /version, /metrics,
// the JSON gateway under /v3/ (and /v3beta/), and cfg.Extra. Anything else
// is 404.
func NewClientHandler(cfg Config) http.Handler {
	cfg.ensureDefaults()
	mux := newBaseMux(&cfg)
	mux.HandleFunc("/version", versionHandler(&cfg))
	gw := newGateway(cfg.Services, cfg.Logger, cfg.MaxRequestBytes)
	mux.Handle("/v3/", gw)
	mux.Handle("/v3beta/", gw)
	return mux
}

// NewMetricsHandler is the --listen-metrics-urls listener's HTTP: /metrics,
// the health endpoints and cfg.Extra, as etcd's metrics listener.
func NewMetricsHandler(cfg Config) http.Handler {
	cfg.ensureDefaults()
	return newBaseMux(&cfg)
}

func newBaseMux(cfg *Config) *http.ServeMux {
	mux := http.NewServeMux()
	h := &healthServer{cfg: cfg}
	mux.HandleFunc("/health", h.serveHealth)
	h.installChecks(mux, "/livez", h.livezChecks())
	h.installChecks(mux, "/readyz", h.readyzChecks())
	if cfg.Metrics != nil {
		mux.Handle("/metrics", cfg.Metrics)
	}
	for pattern, hd := range cfg.Extra {
		mux.Handle(pattern, hd)
	}
	return mux
}

// versions is /version's body (etcd's version.Versions).
type versions struct {
	Server  string `json:"etcdserver"`
	Cluster string `json:"etcdcluster"`
	Storage string `json:"storage"`
}

func versionHandler(cfg *Config) http.HandlerFunc {
	b, _ := json.Marshal(versions{Server: cfg.ServerVersion, Cluster: cfg.ClusterVersion, Storage: cfg.StorageVersion})
	return func(w http.ResponseWriter, r *http.Request) {
		if !allowGet(w, r) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	}
}
