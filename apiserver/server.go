package apiserver

import (
	"context"
	"crypto"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kelson-dev/kelson/apiserver/admission"
	"github.com/kelson-dev/kelson/apiserver/audit"
	"github.com/kelson-dev/kelson/apiserver/authn"
	"github.com/kelson-dev/kelson/apiserver/authz"
	"github.com/kelson-dev/kelson/apiserver/authz/rbac"
	"github.com/kelson-dev/kelson/apiserver/encryption"
	"github.com/kelson-dev/kelson/apiserver/kinds"
	"github.com/kelson-dev/kelson/apiserver/openapi"
	"github.com/kelson-dev/kelson/apiserver/storage"
	apiextapply "k8s.io/apiextensions-apiserver/pkg/client/applyconfiguration"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/applyconfigurations"
	"k8s.io/kube-openapi/pkg/validation/spec"
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
	// ClusterDNS is the ClusterIP of kube-system/kube-dns, the Service
	// pods' resolv.conf names (answered by each node agent's DNS server).
	// Default the 10th address of ServiceCIDR (10.43.0.10; the 2nd in a
	// range smaller than 16 addresses); it must lie inside it.
	ClusterDNS net.IP
	// CompactionInterval is how often the store's history is compacted to
	// the revision of one interval before. Default 5 minutes, as
	// kube-apiserver; negative: never (someone else compacts).
	CompactionInterval time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
	// AgentTLS is the TLS client config for proxying pods/log and
	// pods/exec to node agents: the API server's client certificate (CN
	// kube-apiserver-kubelet-client, O system:masters) and RootCAs = the
	// cluster CA. Each connection verifies the agent's certificate for
	// the node address it dials (ServerName is set per connection).
	// nil: InsecureAgentTLS() — nothing verified, no client certificate:
	// for tests only.
	AgentTLS *tls.Config
	// Authenticators find each request's user, tried in order before the
	// server's own (bootstrap and service account tokens). Required: a
	// server with none authenticates no one. `kelson server` passes its
	// x509 authenticator (the cluster CA); tests pass authn.Fixed.
	// A request no authenticator claims gets 401, except health and
	// version, which anonymous requests may read (filters.go).
	Authenticators []authn.Authenticator
	// TokenAuthFile is kube-apiserver's --token-auth-file: a CSV file of
	// static bearer tokens (token,user,uid,"group1,group2"), read once
	// at New (an unreadable or malformed file fails New, naming the
	// line). Default none.
	TokenAuthFile string
	// ServiceAccountSigningKey signs and verifies service account tokens
	// (ES256: an ECDSA P-256 key; `kelson server` passes
	// DATA_DIR/tls/service-account.key, the same on every server).
	// Default nil: a key generated at New, so tokens do not survive a
	// restart and other servers refuse them (tests only).
	ServiceAccountSigningKey crypto.Signer
	// ServiceAccountIssuer is the iss of service account tokens, and the
	// only issuer whose tokens the server verifies (other JWTs are left
	// to the other authenticators). Default
	// https://kubernetes.default.svc.cluster.local.
	ServiceAccountIssuer string
	// APIAudiences are the audiences a token must name to authenticate
	// to this server (--api-audiences), and TokenRequest's default.
	// Default [ServiceAccountIssuer].
	APIAudiences []string
	// ServiceAccountMaxTokenExpiration caps a TokenRequest's lifetime
	// (longer requests get this). Default 48h; at least 10 minutes.
	ServiceAccountMaxTokenExpiration time.Duration
	// AuthorizationModes are the authorizers, in order, as
	// kube-apiserver's --authorization-mode: Node, RBAC, AlwaysAllow,
	// AlwaysDeny. Default Node,RBAC.
	AuthorizationModes []string
	// DisableAdmissionPlugins turns admission plugins off by name, as
	// kube-apiserver's --disable-admission-plugins: NamespaceLifecycle,
	// LimitRanger, ServiceAccount, NodeRestriction, PodSecurity,
	// ResourceQuota. Default none: every plugin runs (admission.go).
	DisableAdmissionPlugins []string
	// Encryption encrypts the values of the resources it names before
	// they are stored and decrypts them when read (kube-apiserver's
	// --encryption-provider-config: encryption.Load). Nil: values are
	// stored as they are.
	Encryption *encryption.Config
	// AuditPolicy decides which requests are audited, and at what level
	// (kube-apiserver's --audit-policy-file: audit.LoadPolicy). Nil: no
	// audit. AuditSink receives the events (audit.NewLog: JSON lines);
	// required with AuditPolicy. The Server does not close it.
	AuditPolicy *audit.Policy
	AuditSink   audit.Sink
}

// ErrBadConfig wraps every configuration error of New.
var ErrBadConfig = errors.New("apiserver: bad config")

// Server is the API server: an http.Handler plus the watch caches behind
// it. Start it with Run; it serves requests before Run has made the caches
// ready (lists and watches wait for them).
type Server struct {
	cfg     Config
	log     *slog.Logger
	codecs  *codecs
	mux     *http.ServeMux
	openapi *openapi.Service

	typeConverter, apiextTypeConverter managedfields.TypeConverter

	// cacheConsistent: the store's watch progress is exact, so consistent
	// reads (resourceVersion "") and reads at a given N are served from the
	// watch caches; false until Run has asked the store, and for old etcd
	// versions: then they read the store (only "0" reads the caches).
	cacheConsistent atomic.Bool
	// bootstrapped: the system namespaces and Services exist (set once
	// by runNamespaceCleaner, which then closes bootstrapCh); /readyz
	// fails until then.
	bootstrapped atomic.Bool
	bootstrapCh  chan struct{}

	// builtin are the resources of kinds.All(), fixed at New, in
	// discovery order.
	builtin []*resource
	// table is the current resource table (resources.go): the built-in
	// resources and those of the established CRDs.
	table atomic.Pointer[resourceTable]
	// customs is the CRD registrar's state, by CRD name; only the
	// registrar goroutine touches it (customresources.go).
	customs map[string]*customState

	// authn and authz decide who sent a request and whether it may
	// proceed (filters.go); fixed at New.
	authn authn.Authenticator
	authz authz.Authorizer
	// tokens are the server's own token authenticators and the service
	// account token issuer (authentication.go); fixed at New.
	tokens *authentication
	// rbac is the RBAC authorizer when the RBAC mode is on (nil
	// otherwise): rules reviews and escalation checks (authorization.go).
	rbac *rbac.Authorizer
	// admission is the chain every write goes through (admission.go);
	// fixed at New.
	admission *admission.Chain
	// audit records requests (audit.go); nil without Config.AuditPolicy.
	audit *auditor

	// agents carries pods/log and pods/exec to node agents (podproxy.go).
	agents *http.Transport

	// meta holds meta/v1's OpenAPI schemas for custom resources' type
	// converters, computed on first need (metaSchemas).
	metaOnce sync.Once
	meta     map[string]*spec.Schema
	metaErr  error
}

// New checks cfg and builds a Server; nothing runs until Run.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, fmt.Errorf("%w: no store", ErrBadConfig)
	}
	if cfg.ServiceCIDR == nil {
		_, cfg.ServiceCIDR, _ = net.ParseCIDR("10.43.0.0/16")
	}
	if ones, bits := cfg.ServiceCIDR.Mask.Size(); bits-ones < 2 || bits-ones > 20 {
		return nil, fmt.Errorf("%w: service CIDR %s must hold between 4 and 2^20 addresses", ErrBadConfig, cfg.ServiceCIDR)
	}
	if cfg.ClusterDNS == nil {
		// The 10th address, or the 2nd in a range too small for it (the
		// node agent's default is the same).
		base := new(big.Int).SetBytes(cfg.ServiceCIDR.IP.Mask(cfg.ServiceCIDR.Mask))
		v4 := cfg.ServiceCIDR.IP.To4() != nil
		cfg.ClusterDNS = net.ParseIP(ipAt(base, 10, v4))
		if !cfg.ServiceCIDR.Contains(cfg.ClusterDNS) {
			cfg.ClusterDNS = net.ParseIP(ipAt(base, 2, v4))
		}
	}
	if !cfg.ServiceCIDR.Contains(cfg.ClusterDNS) {
		return nil, fmt.Errorf("%w: cluster DNS address %s is outside the service CIDR %s", ErrBadConfig, cfg.ClusterDNS, cfg.ServiceCIDR)
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
	if cfg.CompactionInterval == 0 {
		cfg.CompactionInterval = 5 * time.Minute
	}
	c, err := newCodecs()
	if err != nil {
		return nil, fmt.Errorf("apiserver: scheme: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, codecs: c, mux: http.NewServeMux(),
		typeConverter:       applyconfigurations.NewTypeConverter(c.scheme),
		apiextTypeConverter: apiextapply.NewTypeConverter(c.scheme),
		customs:             map[string]*customState{}, agents: agentTransport(cfg.AgentTLS),
		bootstrapCh: make(chan struct{})}
	var specs []openapi.Resource
	for _, k := range kinds.All() {
		r, err := s.newResource(k)
		if err != nil {
			return nil, err
		}
		s.builtin = append(s.builtin, r)
		if k.JSON {
			continue // no generated schema to publish
		}
		specs = append(specs, openapi.Resource{GVK: k.GVK, Resource: k.Resource, Namespaced: k.Namespaced,
			Subresources: subresourcesOf(k), ListKind: k.GVK.Kind + "List"})
	}
	s.table.Store(newResourceTable(s.builtin))
	if len(cfg.Authenticators) == 0 {
		return nil, fmt.Errorf("%w: no authenticators: every request would be refused (tests: authn.Fixed)", ErrBadConfig)
	}
	if s.authn, err = s.newAuthentication(&cfg); err != nil {
		return nil, err
	}
	if len(cfg.AuthorizationModes) == 0 {
		cfg.AuthorizationModes = []string{"Node", "RBAC"}
	}
	if s.authz, err = s.buildAuthorizer(cfg.AuthorizationModes); err != nil {
		return nil, err
	}
	if s.admission, err = s.buildAdmission(cfg.DisableAdmissionPlugins); err != nil {
		return nil, err
	}
	if cfg.AuditPolicy != nil {
		if cfg.AuditSink == nil {
			return nil, fmt.Errorf("%w: an audit policy needs an AuditSink (audit.NewLog)", ErrBadConfig)
		}
		s.audit = &auditor{policy: cfg.AuditPolicy, sink: cfg.AuditSink}
	}
	s.openapi = openapi.New(specs)
	s.routes()
	return s, nil
}

func subresourcesOf(k *kinds.Kind) []string {
	var subs []string
	if k.HasStatus {
		subs = append(subs, "status")
	}
	if k.Scale != nil {
		subs = append(subs, "scale")
	}
	return subs
}

func (s *Server) routes() {
	s.mux.HandleFunc("/version", s.serveVersion)
	s.mux.HandleFunc("/healthz", s.serveHealth)
	s.mux.HandleFunc("/livez", s.serveHealth)
	s.mux.HandleFunc("/readyz", s.serveHealth)
	s.mux.Handle("/openapi/", s.openapi)
	s.mux.HandleFunc("/.well-known/openid-configuration", s.serveOIDCDiscovery)
	s.mux.HandleFunc("/openid/v1/jwks", s.serveJWKS)
	s.mux.HandleFunc("/api", s.serveAPI)
	s.mux.HandleFunc("/api/", s.serveAPI)
	s.mux.HandleFunc("/apis", s.serveAPI)
	s.mux.HandleFunc("/apis/", s.serveAPI)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, notFoundPath(r.URL.Path))
	})
}

// Bootstrapped is closed once the system namespaces and the kubernetes
// and kube-dns Services exist (Run creates them when missing).
func (s *Server) Bootstrapped() <-chan struct{} { return s.bootstrapCh }

// Handler returns the HTTP handler of the whole API.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Run starts the watch caches and the server's own loops (namespace
// cleanup, the default RBAC policy and ClusterRole aggregation) and keeps
// them going until ctx is done.
func (s *Server) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ok := storage.ProgressConsistent(ctx, s.cfg.Store)
		s.cacheConsistent.Store(ok)
		if !ok && ctx.Err() == nil {
			s.log.Warn("the store's watch progress reports are not exact (etcd before 3.4.31 or 3.5.13?): consistent reads go to the store, not the watch caches")
		}
	}()
	for _, r := range s.builtin {
		wg.Add(1)
		go func() { defer wg.Done(); r.cache.Run(ctx) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); s.runCRDs(ctx, &wg) }()
	wg.Add(1)
	go func() { defer wg.Done(); s.runNamespaceCleaner(ctx) }()
	wg.Add(1)
	go func() { defer wg.Done(); s.runCompactor(ctx) }()
	wg.Add(1)
	go func() { defer wg.Done(); s.runRBAC(ctx) }()
	wg.Wait()
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
		"gitCommit": "", "gitTreeState": "clean", "buildDate": "",
		"goVersion": goVersion(), "compiler": "gc", "platform": platform(),
	})
}
