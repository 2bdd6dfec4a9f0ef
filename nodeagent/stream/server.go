package stream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/kelson-dev/kelson/nodeagent/runtime"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Config configures a Server. Zero values mean the documented defaults.
type Config struct {
	// Runtime finds container instances and runs exec. Required.
	Runtime runtime.Runtime
	// LogRoot is the root of the pods' log directories (runtime.LogPath's
	// layout); used for instances whose status has no LogPath. Required.
	LogRoot string
	// Logger; default slog.Default().
	Logger *slog.Logger
	// TLS is the certificate Serve presents (see SelfSigned). nil: Serve
	// speaks plain HTTP, for tests only.
	TLS *tls.Config
	// ClientCAs, when set, authenticates callers: Serve requires a client
	// certificate verified against them (tls.RequireAndVerifyClientCert,
	// whatever TLS says), and every request is served only to a caller
	// AuthorizeCaller allows (the API server's client certificate, or
	// group system:masters), else 403. nil: callers are not authenticated
	// (tests).
	ClientCAs *x509.CertPool
	// PollInterval is how often a followed log file is checked for new
	// lines. Default 250 ms.
	PollInterval time.Duration
	// StatusEvery: a follow with no new lines asks the runtime whether the
	// instance still runs every StatusEvery polls. Default 4 (1 s).
	StatusEvery int
}

// ErrBadConfig wraps every configuration error of New.
var ErrBadConfig = errors.New("stream: bad config")

// Server is the agent's HTTPS API: it implements http.Handler. It holds
// no state between requests; every method is safe for concurrent use.
type Server struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux
}

// New checks cfg and returns the Server.
func New(cfg Config) (*Server, error) {
	if cfg.Runtime == nil {
		return nil, fmt.Errorf("%w: no runtime", ErrBadConfig)
	}
	if cfg.LogRoot == "" {
		return nil, fmt.Errorf("%w: no log root (the pods' log directory)", ErrBadConfig)
	}
	if cfg.ClientCAs != nil && cfg.TLS == nil {
		return nil, fmt.Errorf("%w: client CAs without a serving certificate (Config.TLS): callers can only be authenticated over TLS", ErrBadConfig)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 250 * time.Millisecond
	}
	if cfg.StatusEvery <= 0 {
		cfg.StatusEvery = 4
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}
	s.mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok"))
	})
	s.mux.HandleFunc("/containerLogs/", s.serveLogs)
	s.mux.HandleFunc("/exec/", s.serveExec)
	s.mux.HandleFunc("/attach/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, kindErrorf(ErrBadRequest, "attach is not supported yet by the Kelson agent: use exec"))
	})
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, fmt.Sprintf("404 page not found: %s (this agent serves /containerLogs/, /exec/ and /healthz)", r.URL.Path), http.StatusNotFound)
	})
	return s, nil
}

// ServeHTTP authorizes the caller (when Config.ClientCAs is set), then
// routes the request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := s.authorize(r); err != nil {
		s.log.Info("caller refused", "caller", callerName(r), "remote", r.RemoteAddr, "path", r.URL.Path)
		if strings.HasPrefix(r.URL.Path, "/exec/") {
			writeStatus(w, err) // what the exec clients decode
		} else {
			writeError(w, err)
		}
		return
	}
	s.mux.ServeHTTP(w, r)
}

// Serve serves the API on l (TLS when Config.TLS is set) until ctx ends,
// then closes l and every connection, exec sessions included. It returns
// nil after ctx ended, else the server's error.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		// HTTP/1.1 only: exec upgrades the connection to a WebSocket,
		// which HTTP/2 cannot hijack.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		BaseContext:  func(net.Listener) context.Context { return ctx },
		ErrorLog:     slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	if s.cfg.TLS != nil {
		tc := s.cfg.TLS.Clone()
		tc.NextProtos = []string{"http/1.1"}
		if s.cfg.ClientCAs != nil {
			tc.ClientAuth = tls.RequireAndVerifyClientCert
			tc.ClientCAs = s.cfg.ClientCAs
		}
		l = tls.NewListener(l, tc)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("stream: serve: %w", err)
	case <-ctx.Done():
	}
	// Follows and exec sessions see ctx (BaseContext) end and return;
	// Shutdown waits a little for them, Close ends the rest.
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	<-errc
	return nil
}

// writeError answers err as kubelet does: plain text, the status code of
// its kind.
func writeError(w http.ResponseWriter, err error) {
	http.Error(w, err.Error(), statusOf(err))
}

// writeStatus answers err as a JSON metav1.Status, which the exec
// clients (client-go's WebSocket and SPDY executors) decode and print;
// plain text with a ": " in it reads to them as YAML.
func writeStatus(w http.ResponseWriter, err error) {
	code := statusOf(err)
	reason := metav1.StatusReasonInternalError
	switch code {
	case http.StatusBadRequest:
		reason = metav1.StatusReasonBadRequest
	case http.StatusNotFound:
		reason = metav1.StatusReasonNotFound
	case http.StatusForbidden:
		reason = metav1.StatusReasonForbidden
	}
	b, _ := json.Marshal(metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status: metav1.StatusFailure, Message: err.Error(), Reason: reason, Code: int32(code)})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(b)
}

func trimPrefix(path, prefix string) string { return strings.TrimPrefix(path, prefix) }
