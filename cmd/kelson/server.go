package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kelson-dev/kelson/apiserver"
	"github.com/kelson-dev/kelson/apiserver/audit"
	"github.com/kelson-dev/kelson/apiserver/authn"
	"github.com/kelson-dev/kelson/apiserver/storage"
	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/controllers/manager"
	"github.com/kelson-dev/kelson/internal/pki"
	"github.com/kelson-dev/kelson/nodeagent"
	"github.com/kelson-dev/kelson/raftnode"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
)

const serverLong = `Run a Kelson server: a store member (as "kelson store") and the Kubernetes API
over it, served over HTTPS. Flags take k3s's names and defaults where k3s has
them; the store member takes the etcd flags of "kelson store" (all but
--data-dir), so three servers with the clustering flags of three store
members form one highly available control plane.

The server's state lives in --data-dir:

  DATA_DIR/store             the store member's data (raft log and store)
  DATA_DIR/tls               the cluster CA, the API's serving certificate, the
                             client certificates of the admin and the
                             components, the service account signing key;
                             made on first start and reused after (a
                             certificate is made again when its names change
                             or it nears its end: at start, and every 12 h
                             while the server runs; the CA never is)
  DATA_DIR/admin.kubeconfig  an admin kubeconfig (or --write-kubeconfig)
  DATA_DIR/token             the join token of "kelson agent" on other machines
  DATA_DIR/agent             the node agent's state (containerd, pod networks,
                             volumes, logs)

With --etcd-servers no member runs: the API keeps its objects in that store
(Kelson's or etcd's), and the member flags are refused. Over https://
endpoints the server takes kube-apiserver's --etcd-cafile, --etcd-certfile
and --etcd-keyfile.

The member's https:// URLs need no certificate flags: when its peer URLs
are https:// and no --peer-cert-file or --peer-auto-tls is given, it serves
and dials its peers with DATA_DIR/tls/etcd-peer.crt from the cluster CA and
accepts only peers with a certificate of that CA (the servers sharing it
through their token); likewise https:// client URLs without --cert-file or
--auto-tls serve DATA_DIR/tls/etcd-server.crt and require a client
certificate of the cluster CA, such as DATA_DIR/tls/etcd-client.crt (CN
root), written for etcdctl (the command is printed at start). These
certificates are renewed as the API's. http:// URLs are plain text: for one
machine or a trusted network.

The server also runs the controllers and the scheduler, each under its own
Lease in kube-system (kube-controller-manager, kube-scheduler): with three
servers each runs on one of them at a time, and another takes over when that
one dies. --disable turns parts off (scheduler, controller-manager, or one
controller by name).

And it runs a node agent, as "kelson agent" (its flags are listed below; it
needs root, containerd and runc): this machine is a node whose pods run in
containers. --disable-agent runs a control plane only — as the servers of one
machine must all but one.

The API listens on 127.0.0.1 unless --bind-address says otherwise. Every
component has its own certificate from the cluster CA: the controllers
(system:kube-controller-manager), the scheduler (system:kube-scheduler), the
API calling agents (kube-apiserver-kubelet-client) and each node's agent
(system:node:<name>), which gets its certificates when it joins with a token
(the server's DATA_DIR/token, or a bootstrap token from "kelson token
create"). Every request is authenticated (401 otherwise; health and version
are public) and authorized by the Node authorizer and RBAC (403 otherwise);
writes pass the admission plugins.`

const serverExample = `  # one server on localhost; kubectl through the kubeconfig it writes
  kelson server
  export KUBECONFIG=$PWD/default.kelson/admin.kubeconfig; kubectl version

  # the first of three servers on one machine (b and c likewise, each with its own ports)
  kelson server --name a --data-dir a.kelson --https-listen-port 6443 --disable-agent \
    --listen-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
    --initial-cluster a=http://127.0.0.1:2380,b=http://127.0.0.1:22380,c=http://127.0.0.1:32380

  # three servers sharing one CA: b and c take a's CA with a's token (and the
  # clustering flags above)
  kelson server --name b ... --server https://127.0.0.1:6443 --token "$(cat a.kelson/token)"

  # the store's peers and clients over TLS with certificates of the cluster CA
  kelson server --listen-peer-urls https://10.0.0.1:2380 --listen-client-urls https://10.0.0.1:2379 \
    --initial-cluster a=https://10.0.0.1:2380,b=https://10.0.0.2:2380,c=https://10.0.0.3:2380 --name a

  # the API over a store that runs elsewhere
  kelson server --etcd-servers http://127.0.0.1:2379
  kelson server --etcd-servers https://10.0.0.1:2379 --etcd-cafile ca.crt --etcd-certfile client.crt --etcd-keyfile client.key`

// serverConfig is what `kelson server` runs: its flags checked and with
// their defaults filled in.
type serverConfig struct {
	// DataDir holds the server's state [--data-dir]; default "<name>.kelson".
	DataDir string
	// BindAddress and HTTPSPort: where the API listens [--bind-address,
	// --https-listen-port]. Default 127.0.0.1:6443.
	BindAddress net.IP
	HTTPSPort   int
	// KubeconfigPath: where the admin kubeconfig goes [--write-kubeconfig];
	// absolute. Default DATA_DIR/admin.kubeconfig.
	KubeconfigPath string
	// TLSSANs: more names of the serving certificate [--tls-san].
	TLSSANs []string
	// TokenAuthFile: static bearer tokens, kube-apiserver's CSV
	// (token,user,uid,"group1,group2") [--token-auth-file]. Default none.
	TokenAuthFile string
	// DisableAdmissionPlugins: admission plugins not to run
	// [--disable-admission-plugins].
	DisableAdmissionPlugins []string
	// ServiceCIDR [--service-cidr], default 10.43.0.0/16; ClusterCIDR
	// [--cluster-cidr], default 10.42.0.0/16, kept for the controllers and
	// the node agent (not used yet).
	ServiceCIDR, ClusterCIDR *net.IPNet
	// NodePortMin, NodePortMax [--service-node-port-range], default
	// 30000-32767.
	NodePortMin, NodePortMax int
	// Disabled names components not to run [--disable]: "scheduler",
	// "controller-manager", or one controller.
	Disabled []string
	// EtcdServers: the store to use instead of a member [--etcd-servers];
	// EtcdTLS its TLS files [--etcd-cafile, --etcd-certfile,
	// --etcd-keyfile] (server_storetls.go).
	EtcdServers []string
	EtcdTLS     storage.RemoteTLS
	// JoinURL and JoinToken: a running server of the cluster and its
	// server token [--server, --token]: this server fetches the cluster CA
	// and the service account key from it on first start.
	JoinURL, JoinToken string
	// Agent is the node agent the server runs (nil with --disable-agent);
	// its API and data dir are filled in at start.
	Agent *nodeagent.Config
	// Member is the store member's configuration (unused with EtcdServers);
	// its DataDir is DATA_DIR/store.
	Member raftnode.Config
	// Logger for the server and its member.
	Logger *slog.Logger
	// Out receives the start-up lines for the user (the kubeconfig path).
	Out io.Writer
	// EncAudit: encryption at rest and the audit log (server_encaudit.go).
	EncAudit encAudit
}

// serverFlags are the flags of `kelson server` besides the member's.
type serverFlags struct {
	dataDir, bindAddress, kubeconfig    string
	tokenAuthFile                       string
	disableAdmission                    []string
	httpsPort                           int
	tlsSANs, etcdServers, disable       []string
	serviceCIDR, clusterCIDR, nodePorts string
	joinURL, joinToken                  string
	disableAgent                        bool
	etcdTLS                             etcdTLSFlags
	agent                               agentFlags
	encAudit                            encAuditFlags
}

func (s *serverFlags) bind(f *pflag.FlagSet) {
	f.StringVar(&s.dataDir, "data-dir", "", `directory of the server's state: the store member (DATA_DIR/store), certificates (DATA_DIR/tls), the kubeconfig (default "<name>.kelson")`)
	f.IntVar(&s.httpsPort, "https-listen-port", 6443, "port of the HTTPS API")
	f.StringVar(&s.bindAddress, "bind-address", "127.0.0.1", "IP address the API listens on (0.0.0.0 for every address)")
	f.StringVar(&s.kubeconfig, "write-kubeconfig", "", `write the admin kubeconfig to this file, mode 0600 (default "DATA_DIR/admin.kubeconfig")`)
	f.StringSliceVar(&s.disableAdmission, "disable-admission-plugins", nil, "admission plugins not to run, as kube-apiserver's: NamespaceLifecycle, LimitRanger, ServiceAccount, NodeRestriction, PodSecurity, ResourceQuota (comma-separated or repeated)")
	f.StringVar(&s.tokenAuthFile, "token-auth-file", "", `CSV file of static bearer tokens, as kube-apiserver's: token,user,uid,"group1,group2" (read at start; a bad line stops the server)`)
	f.StringSliceVar(&s.tlsSANs, "tls-san", nil, "more host names or IP addresses for the API's serving certificate (comma-separated or repeated)")
	f.StringVar(&s.serviceCIDR, "service-cidr", "10.43.0.0/16", "IP range of Service ClusterIPs; its first address is the kubernetes Service's")
	f.StringVar(&s.nodePorts, "service-node-port-range", "30000-32767", "port range of NodePort Services")
	f.StringVar(&s.clusterCIDR, "cluster-cidr", "10.42.0.0/16", "IP range of pod addresses (kept for the node agent; must not overlap --service-cidr)")
	f.StringSliceVar(&s.disable, "disable", nil, "components not to run (comma-separated or repeated): "+strings.Join(manager.Names(), ", "))
	f.StringSliceVar(&s.etcdServers, "etcd-servers", nil, "etcd v3 endpoints (http://host:port,... or https://host:port,...) of a store to use instead of running a member here")
	s.etcdTLS.bind(f)
	f.StringVar(&s.joinURL, "server", "", "URL of a running server of this cluster (https://HOST:PORT): on first start, take its cluster CA, store CA and service account key (with --token)")
	f.StringVar(&s.joinToken, "token", "", "with --server: the cluster's server token (the first server's DATA_DIR/token); $KELSON_TOKEN when unset")
	f.BoolVar(&s.disableAgent, "disable-agent", false, "do not run a node agent in this server (no pods run on this machine)")
	s.agent.bind(f, false)
	s.encAudit.bind(f)
}

// newServerCommand is `kelson server`: flags -> serverConfig -> run.
func newServerCommand(run func(context.Context, serverConfig) error) *cobra.Command {
	var (
		srv    serverFlags
		member memberFlags
		proc   processFlags
	)
	cmd := &cobra.Command{
		Use:     "server [flags]",
		Short:   "Run a store member and the Kubernetes API over it (HTTPS)",
		Long:    serverLong,
		Example: serverExample,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("kelson server takes no arguments, got %q (flags are --flag value or --flag=value)", args)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := srv.config(&member, member.changed(cmd.Flags()))
			if err != nil {
				return err
			}
			var member *raftnode.Config
			if len(cfg.EtcdServers) == 0 {
				member = &cfg.Member
			}
			log, stop, err := proc.start(cmd.ErrOrStderr(), member)
			if err != nil {
				return err
			}
			defer stop()
			cfg.Logger, cfg.Member.Logger = log, log
			cfg.Out = cmd.OutOrStdout()
			return run(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	srv.bind(f)
	member.bind(f, false)
	proc.bind(f)
	return cmd
}

// config checks the flags and builds the serverConfig; memberSet lists the
// member flags given on the command line.
func (s *serverFlags) config(member *memberFlags, memberSet []string) (serverConfig, error) {
	var cfg serverConfig
	var err error
	if cfg.Member, err = member.config(); err != nil {
		return cfg, err
	}
	if len(s.etcdServers) > 0 && len(memberSet) > 0 {
		return cfg, usagef("%s: these flags configure a store member, and none runs with --etcd-servers: drop them, or drop --etcd-servers to run a member here",
			strings.Join(memberSet, ", "))
	}
	if err := checkEtcdServers(s.etcdServers, s.etcdTLS); err != nil {
		return cfg, err
	}
	cfg.EtcdServers, cfg.EtcdTLS = s.etcdServers, s.etcdTLS.RemoteTLS
	if s.joinURL != "" {
		cfg.JoinURL, cfg.JoinToken = strings.TrimRight(s.joinURL, "/"), s.joinToken
		if cfg.JoinToken == "" {
			cfg.JoinToken = os.Getenv("KELSON_TOKEN")
		}
		if !strings.HasPrefix(cfg.JoinURL, "https://") {
			return cfg, usagef("--server %q: want https://HOST:PORT of a running kelson server", s.joinURL)
		}
		tok, err := parseToken(cfg.JoinToken)
		if err != nil {
			return cfg, usagef("--server needs --token, the first server's DATA_DIR/token: %v", err)
		}
		if tok.ServerSecret == "" {
			return cfg, usagef("--token: a server joins with the server token (K10...::server:...), not a bootstrap token")
		}
	} else if s.joinToken != "" {
		return cfg, usagef("--token needs --server, the URL of a running server of the cluster")
	}
	if err := manager.CheckDisabled(s.disable); err != nil {
		return cfg, usageError{err}
	}
	cfg.Disabled = s.disable

	if s.httpsPort < 1 || s.httpsPort > 65535 {
		return cfg, usagef("--https-listen-port %d: want a port from 1 to 65535", s.httpsPort)
	}
	cfg.HTTPSPort = s.httpsPort
	if cfg.BindAddress = net.ParseIP(s.bindAddress); cfg.BindAddress == nil {
		return cfg, usagef("--bind-address %q: want an IP address, like 127.0.0.1 or 0.0.0.0", s.bindAddress)
	}
	if cfg.ServiceCIDR, err = parseCIDRFlag("--service-cidr", s.serviceCIDR); err != nil {
		return cfg, err
	}
	if _, err := pki.FirstIP(cfg.ServiceCIDR); err != nil {
		return cfg, usagef("--service-cidr %s is too small: it needs at least the kubernetes Service's address (a /30 or wider)", s.serviceCIDR)
	}
	if cfg.ClusterCIDR, err = parseCIDRFlag("--cluster-cidr", s.clusterCIDR); err != nil {
		return cfg, err
	}
	if cfg.ServiceCIDR.Contains(cfg.ClusterCIDR.IP) || cfg.ClusterCIDR.Contains(cfg.ServiceCIDR.IP) {
		return cfg, usagef("--cluster-cidr %s and --service-cidr %s overlap: pods and Services need separate ranges", cfg.ClusterCIDR, cfg.ServiceCIDR)
	}
	if cfg.NodePortMin, cfg.NodePortMax, err = parsePortRange(s.nodePorts); err != nil {
		return cfg, err
	}
	if _, err := pki.ServingSANs("", nil, nil, s.tlsSANs); err != nil {
		return cfg, usageError{err}
	}
	cfg.TLSSANs = s.tlsSANs
	cfg.TokenAuthFile = s.tokenAuthFile
	cfg.DisableAdmissionPlugins = s.disableAdmission
	if cfg.EncAudit, err = s.encAudit.config(); err != nil {
		return cfg, err
	}
	if !s.disableAgent {
		ac, err := s.agent.config(prefixOf(cfg.ClusterCIDR), prefixOf(cfg.ServiceCIDR))
		if err != nil {
			return cfg, err
		}
		cfg.Agent = &ac
	}

	name := cfg.Member.Name
	if name == "" {
		name = "default"
	}
	cfg.DataDir = s.dataDir
	if cfg.DataDir == "" {
		cfg.DataDir = name + ".kelson"
	}
	cfg.Member.DataDir = filepath.Join(cfg.DataDir, "store")
	cfg.KubeconfigPath = s.kubeconfig
	if cfg.KubeconfigPath == "" {
		cfg.KubeconfigPath = filepath.Join(cfg.DataDir, "admin.kubeconfig")
	}
	if cfg.KubeconfigPath, err = filepath.Abs(cfg.KubeconfigPath); err != nil {
		return cfg, fmt.Errorf("--write-kubeconfig %s: %w", s.kubeconfig, err)
	}
	return cfg, nil
}

// parseCIDRFlag parses a CIDR flag's value into its network (10.43.0.0/16).
func parseCIDRFlag(flag, v string) (*net.IPNet, error) {
	ip, n, err := net.ParseCIDR(strings.TrimSpace(v))
	if err != nil {
		return nil, usagef("%s %q: want an IP range in CIDR notation, like 10.43.0.0/16", flag, v)
	}
	if !ip.Equal(n.IP) {
		return nil, usagef("%s %q has host bits set: did you mean %s?", flag, v, n)
	}
	return n, nil
}

// parsePortRange parses --service-node-port-range, "30000-32767".
func parsePortRange(v string) (lo, hi int, err error) {
	a, b, ok := strings.Cut(strings.TrimSpace(v), "-")
	lo, errLo := strconv.Atoi(strings.TrimSpace(a))
	hi, errHi := strconv.Atoi(strings.TrimSpace(b))
	if !ok || errLo != nil || errHi != nil || lo < 1 || hi > 65535 || lo > hi {
		return 0, 0, usagef("--service-node-port-range %q: want MIN-MAX with 1 <= MIN <= MAX <= 65535, like 30000-32767", v)
	}
	return lo, hi, nil
}

// checkEtcdServer accepts an etcd endpoint as etcd's clients take it:
// http://host:port, https://host:port or host:port.
func checkEtcdServer(e string) error {
	host := e
	if strings.Contains(e, "://") {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return usagef("--etcd-servers %q: want http://host:port or https://host:port", e)
		}
		host = u.Host
	}
	if _, port, err := net.SplitHostPort(host); err != nil || port == "" {
		return usagef("--etcd-servers %q: want http://host:port or https://host:port (the port is required, usually 2379)", e)
	}
	return nil
}

// errOldLayout marks a data dir that holds a `kelson store` member directly.
var errOldLayout = errors.New("a `kelson store` member's data dir")

// prepareDataDir creates the data dir (0700) and checks that it can be
// read, and that it is not a `kelson store` member's own data dir (an
// earlier `make run` kept its member in ./default.kelson directly).
func prepareDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir %s: %w: check its permissions, or choose another --data-dir", dir, err)
	}
	if _, err := os.ReadDir(dir); err != nil {
		return fmt.Errorf("data dir %s is not readable: %w: check its permissions, or choose another --data-dir", dir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "raft")); err == nil {
		if _, err := os.Stat(filepath.Join(dir, "store", "raft")); errors.Is(err, fs.ErrNotExist) {
			store := filepath.Join(dir, "store")
			return fmt.Errorf("data dir %s is %w (it has raft/ at its top), but `kelson server` keeps its member in %s: "+
				"to keep the data run `mv %s %s.member && mkdir %s && mv %s.member %s`, or choose another --data-dir",
				dir, errOldLayout, store, dir, dir, dir, dir, store)
		}
	}
	return nil
}

// shutdownTimeout bounds how long open API requests get to finish on a
// graceful stop.
const shutdownTimeout = 5 * time.Second

// bootstrapWait bounds how long the kubeconfig waits for the API's
// bootstrap (a store that does not answer keeps it from finishing).
const bootstrapWait = 30 * time.Second

// runServer runs a server until ctx is done: the data dir and certificates,
// the API's listener, the store (a member or --etcd-servers), the API over
// HTTPS, then the kubeconfig. It returns nil after a graceful stop.
func runServer(ctx context.Context, cfg serverConfig) error {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := prepareDataDir(cfg.DataDir); err != nil {
		return err
	}
	// Listen first: a port in use fails before anything else starts.
	addr := net.JoinHostPort(cfg.BindAddress.String(), strconv.Itoa(cfg.HTTPSPort))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s for the API: %w: is another kelson server (or k3s) running? Stop it or choose another --https-listen-port", addr, err)
	}
	defer ln.Close()

	hostname, _ := os.Hostname()
	sans, err := pki.ServingSANs(hostname, cfg.BindAddress, cfg.ServiceCIDR, cfg.TLSSANs)
	if err != nil {
		return usageError{err}
	}
	if cfg.JoinURL != "" {
		if err := fetchServerSecrets(ctx, cfg.JoinURL, cfg.JoinToken, cfg.DataDir, log); err != nil {
			if ctx.Err() != nil {
				return nil // stopped while starting
			}
			return err
		}
	}
	pkiCfg := pki.Config{Dir: filepath.Join(cfg.DataDir, "tls"), SANs: sans, Logger: log}
	certs, err := pki.Ensure(pkiCfg)
	if err != nil {
		return err
	}
	rot := pki.NewReloader(pkiCfg, certs) // server_certs.go
	// The store's own CA (server_storetls.go), made at the first start
	// whatever the store URLs, so that joining servers receive it.
	storeCA, err := pki.EnsureStoreCA(pkiCfg.Dir, time.Now(), log)
	if err != nil {
		return err
	}

	st, memberDone, stopStore, err := openStore(ctx, cfg, storeCA, log)
	if err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return nil // stopped while starting
		}
		return err
	}
	defer stopStore()

	token, err := ensureToken(cfg.DataDir, certs.CAPEM)
	if err != nil {
		return err
	}
	auditLog, err := openAuditLog(cfg.EncAudit, log)
	if err != nil {
		return err
	}
	var auditSink audit.Sink
	if auditLog != nil {
		defer auditLog.Close() // after the API has stopped (deferred earlier than its stop)
		auditSink = auditLog
	}
	apiURL := pki.ServerURL(cfg.BindAddress, cfg.HTTPSPort)
	kc := pki.Kubeconfig(apiURL, certs.CAPEM, certs.AdminCertPEM, certs.AdminKeyPEM)
	api, err := apiserver.New(apiserver.Config{Store: st, ServiceCIDR: cfg.ServiceCIDR, ClusterDNS: clusterDNS(cfg),
		NodePortMin: cfg.NodePortMin, NodePortMax: cfg.NodePortMax, Logger: log.With("component", "apiserver"),
		Authenticators:           []authn.Authenticator{authn.NewX509(certs.CAPool())},
		TokenAuthFile:            cfg.TokenAuthFile,
		DisableAdmissionPlugins:  cfg.DisableAdmissionPlugins,
		ServiceAccountSigningKey: certs.ServiceAccountKey,
		AuthorizationModes:       []string{"Node", "RBAC"},
		AgentTLS:                 agentClientTLS(rot, certs),
		Encryption:               cfg.EncAudit.Encryption, AuditPolicy: cfg.EncAudit.AuditPolicy, AuditSink: auditSink})
	if err != nil {
		return err
	}
	tokenSecrets, err := bootstrapTokenReader(apiURL, certs.CAPEM, componentCertFiles(cfg.DataDir, pki.AdminCertFile, pki.AdminKeyFile))
	if err != nil {
		return err
	}
	join := newJoinServer(certs.Authority, token, tokenSecrets, sans, log.With("component", "node-credentials"))
	apiCtx, stopAPI := context.WithCancel(ctx)
	defer stopAPI()
	apiDone := make(chan error, 1)
	go func() { apiDone <- api.Run(apiCtx) }()

	httpSrv := &http.Server{
		Handler: withJoin(api.Handler(), certs.CAPEM, join,
			newServerSecretsHandler(filepath.Join(cfg.DataDir, "tls"), token, log.With("component", "server-secrets"))),
		TLSConfig:         serverTLSConfig(rot),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// Informers keep one watch per resource open on one HTTP/2
		// connection: allow as many streams as kube-apiserver (1000).
		HTTP2: &http.HTTP2Config{MaxConcurrentStreams: 1000},
		// TLS handshake failures (a client without the CA) are not the
		// server's errors: debug level.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	serveDone := make(chan error, 1)
	go func() { serveDone <- httpSrv.ServeTLS(ln, "", "") }()

	// The kubeconfig appears once the API has its system namespaces and
	// Services: whoever waits for the file (a script, `kelson token
	// create`) can use the API at once.
	select {
	case <-api.Bootstrapped():
	case <-ctx.Done():
	case <-time.After(bootstrapWait):
		log.Warn("the API has not created its system namespaces yet; writing the kubeconfig anyway", "waited", bootstrapWait)
	}
	if err := pki.WriteKubeconfig(cfg.KubeconfigPath, kc); err != nil {
		httpSrv.Close()
		return fmt.Errorf("%w: choose a writable --write-kubeconfig", err)
	}
	defer startCertRenewal(ctx, rot, pki.CheckInterval, cfg.KubeconfigPath, apiURL, log)()
	log.Info("serving the Kubernetes API", "url", apiURL, "kubeconfig", cfg.KubeconfigPath, "data_dir", cfg.DataDir)
	if cfg.Out != nil {
		fmt.Fprintf(cfg.Out, "kelson server: the Kubernetes API is on %s\nkelson server: admin kubeconfig in %s; try:\n  export KUBECONFIG=%s\n  kubectl version\n"+
			"kelson server: other machines join with: kelson agent --server https://<this host>:%d --token \"$(cat %s)\"\n",
			apiURL, cfg.KubeconfigPath, cfg.KubeconfigPath, cfg.HTTPSPort, filepath.Join(cfg.DataDir, "token"))
	}

	ctrlCtx, stopControllers := context.WithCancel(ctx)
	defer stopControllers()
	ctrlDone := make(chan error, 1)
	go func() { ctrlDone <- runControllers(ctrlCtx, cfg, apiURL, certs, log) }()
	agentCtx, stopAgent := context.WithCancel(ctx)
	defer stopAgent()
	agentDone := make(chan error, 1)
	if cfg.Agent != nil {
		go func() { agentDone <- runServerAgent(agentCtx, cfg, apiURL, certs, log) }()
	}

	var failure error
	select {
	case <-ctx.Done():
	case err := <-serveDone:
		failure = fmt.Errorf("the API's HTTPS server stopped: %w", err)
		serveDone <- nil
	case err := <-apiDone:
		failure = fmt.Errorf("the API server stopped: %w", err)
		apiDone <- nil
	case err := <-memberDone:
		failure = fmt.Errorf("the store member stopped: %w", err)
	}
	// The agent and the controllers first: they release their Leases
	// through the API.
	stopAgent()
	if cfg.Agent != nil {
		<-agentDone
	}
	stopControllers()
	if err := <-ctrlDone; err != nil && failure == nil {
		failure = err
	}
	stopAPI()
	shutCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := httpSrv.Shutdown(shutCtx); err != nil {
		httpSrv.Close()
	}
	<-serveDone
	<-apiDone
	return failure
}

// runControllers runs the controllers and the scheduler against this
// server's own API, each elected through its Lease: the controllers as
// system:kube-controller-manager, the scheduler as system:kube-scheduler
// (their client certificates).
func runControllers(ctx context.Context, cfg serverConfig, apiURL string, certs *pki.Bundle, log *slog.Logger) error {
	// client-go logs through klog (leader election, informers): into this
	// server's log instead of bare stderr lines.
	klog.SetSlogLogger(log.With("component", "client-go"))
	client, err := componentClient(apiURL, certs.CAPEM, componentCertFiles(cfg.DataDir, pki.ControllerManagerCertFile, pki.ControllerManagerKeyFile), "kelson-controller-manager")
	if err != nil {
		return fmt.Errorf("controllers: %w", err)
	}
	schedClient, err := componentClient(apiURL, certs.CAPEM, componentCertFiles(cfg.DataDir, pki.SchedulerCertFile, pki.SchedulerKeyFile), "kelson-scheduler")
	if err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	host, _ := os.Hostname()
	if name := cfg.Member.Name; name != "" && len(cfg.EtcdServers) == 0 {
		host += "_" + name
	}
	return manager.Run(ctx, manager.Config{
		Client:          client,
		SchedulerClient: schedClient,
		IdentityPrefix:  host,
		Disabled:        cfg.Disabled,
		Cluster:         controllers.Cluster{ClusterCIDR: cfg.ClusterCIDR, NodeCIDRMaskSize: 24},
		Logger:          log,
	})
}

// componentClient is a client of this server's API with a component's
// client certificate, from its files (reloaded when renewed).
func componentClient(apiURL string, caPEM []byte, cert certFiles, userAgent string) (kubernetes.Interface, error) {
	rc := &rest.Config{Host: apiURL, TLSClientConfig: clientTLSFromFiles(caPEM, cert)}
	// The controllers are part of the server: no client-side rate limit
	// (the API's own limits apply).
	rc.QPS, rc.Burst = -1, 0
	rc.UserAgent = userAgent
	// Protobuf both ways for the built-in kinds, as kube-controller-manager
	// (custom resources and metadata-only clients negotiate their own).
	rc.ContentType = "application/vnd.kubernetes.protobuf"
	rc.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	return kubernetes.NewForConfig(rc)
}

// agentClientTLS is how the API calls node agents (logs, exec): with the
// kube-apiserver-kubelet-client certificate (the current one of src at
// each handshake), verifying the agent's serving certificate against the
// cluster CA.
func agentClientTLS(src certSource, certs *pki.Bundle) *tls.Config {
	return &tls.Config{GetClientCertificate: src.GetKubeletClientCertificate, RootCAs: certs.CAPool(), MinVersion: tls.VersionTLS12}
}

// serverTLSConfig serves the API's certificate over TLS 1.2+, HTTP/2 first
// (kubectl and client-go use it). A client certificate is asked for but
// not checked in the handshake: the API's X509 authenticator checks it
// against the cluster CA and answers 401 for one it refuses (expired,
// another CA's), as kube-apiserver does; token clients send none.
func serverTLSConfig(certs certSource) *tls.Config {
	return &tls.Config{
		GetCertificate: certs.GetCertificate, // renewed ones from the next handshake on
		ClientAuth:     tls.RequestClientCert,
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}

// storeProbeTimeout bounds the wait for --etcd-servers to answer at start
// (they may be starting at the same time as the server).
const storeProbeTimeout = 15 * time.Second

// probeStore reads one key, retrying until the store answers or
// storeProbeTimeout passes; it returns the last error.
func probeStore(ctx context.Context, st storage.Store, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, storeProbeTimeout)
	defer cancel()
	for logged := false; ; logged = true {
		_, err := st.Range(ctx, &pb.RangeRequest{Key: []byte("/registry/"), Limit: 1, Serializable: true})
		if err == nil {
			return nil
		}
		if !logged {
			log.Info("waiting for --etcd-servers to answer", "error", err, "timeout", storeProbeTimeout)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// openStore starts the store member (with the cluster CA's store
// certificates where its https:// URLs need them, server_storetls.go), or
// connects to --etcd-servers. done yields why the member stopped serving
// (never, for a remote store); stop releases the store.
func openStore(ctx context.Context, cfg serverConfig, ca *pki.StoreAuthority, log *slog.Logger) (st storage.Store, done <-chan error, stop func(), err error) {
	memberDone := make(chan error, 1)
	if len(cfg.EtcdServers) > 0 {
		tlsCfg, err := remoteTLS(cfg.EtcdServers, cfg.EtcdTLS)
		if err != nil {
			return nil, nil, nil, err
		}
		remote, err := storage.NewRemote(clientv3.Config{Endpoints: cfg.EtcdServers, TLS: tlsCfg, DialTimeout: storeProbeTimeout, Logger: zap.NewNop()})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("--etcd-servers %s do not answer (%w): %s",
				strings.Join(cfg.EtcdServers, ","), err, remoteStoreHint(err))
		}
		if err := probeStore(ctx, remote, log); err != nil {
			remote.Close()
			if ctx.Err() != nil {
				return nil, nil, nil, ctx.Err()
			}
			return nil, nil, nil, fmt.Errorf("--etcd-servers %s do not answer (%v): %s",
				strings.Join(cfg.EtcdServers, ","), err, remoteStoreHint(err))
		}
		log.Info("using a remote store", "endpoints", strings.Join(cfg.EtcdServers, ","))
		return remote, memberDone, func() { remote.Close() }, nil
	}
	member, err := memberWithStoreTLS(ctx, cfg, ca, cfg.Out, log)
	if err != nil {
		return nil, nil, nil, err
	}
	setDefaultGCPercent()
	m, err := raftnode.Start(ctx, member)
	if err != nil {
		return nil, nil, nil, err
	}
	go func() {
		<-m.Done()
		memberDone <- m.Err()
	}()
	return &storage.Member{Node: m.Node}, memberDone, m.Stop, nil
}
