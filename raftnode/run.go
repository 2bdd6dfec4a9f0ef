package raftnode

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/kelson-dev/kelson/raftnode/autocompact"
	"github.com/kelson-dev/kelson/raftnode/portmux"
	"github.com/kelson-dev/kelson/raftnode/tlsinfo"
	"github.com/kelson-dev/kelson/raftnode/transport"
	"github.com/kelson-dev/kelson/raftnode/v3http"
	"github.com/kelson-dev/kelson/raftnode/v3rpc"
	"google.golang.org/grpc"
)

// Run starts a member as configured, serves clients and peers until ctx is
// done, then stops gracefully. It returns an error wrapping ErrBadConfig for
// a configuration that cannot start.
func Run(ctx context.Context, cfg Config) error {
	m, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-m.Node.done:
	}
	failure := m.Node.stopped()
	m.Stop()
	if ctx.Err() != nil {
		return nil
	}
	return failure
}

// Server is a running member: its node and its client and peer servers.
// Each client port serves gRPC and, beside it, HTTP/1 (etcd's endpoints
// and JSON gateway): raftnode/portmux splits connections by their first
// bytes.
type Server struct {
	Node       *Node
	clientSrv  *grpc.Server
	clientHTTP *http.Server
	metricsSrv *http.Server // nil without ListenMetricsURLs
	muxes      []*portmux.Mux
	peerSrv    *grpc.Server
	listeners  []net.Listener
	shutdown   chan struct{} // closed by Stop: ends watch and keep-alive streams
	stopOnce   sync.Once
	ClientAddr []string // bound client addresses (host:port)
	PeerAddr   []string // bound peer addresses
	// MetricsAddr are the bound --listen-metrics-urls addresses.
	MetricsAddr []string
}

// Start starts a member and returns once it serves (it may not have a
// leader yet).
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m := &Server{}
	fail := func(err error) (*Server, error) {
		for _, l := range m.listeners {
			l.Close()
		}
		return nil, err
	}
	// Listen first: a port in use fails before anything touches the disk.
	var peerLns, clientLns []net.Listener
	for _, u := range cfg.ListenPeerURLs {
		l, err := net.Listen("tcp", hostPort(u))
		if err != nil {
			return fail(fmt.Errorf("%w: listen on peer URL %s: %v", ErrBadConfig, u, err))
		}
		m.listeners = append(m.listeners, l)
		peerLns = append(peerLns, l)
		m.PeerAddr = append(m.PeerAddr, l.Addr().String())
	}
	for _, u := range cfg.ListenClientURLs {
		l, err := net.Listen("tcp", hostPort(u))
		if err != nil {
			return fail(fmt.Errorf("%w: listen on client URL %s: %v", ErrBadConfig, u, err))
		}
		m.listeners = append(m.listeners, l)
		clientLns = append(clientLns, l)
		m.ClientAddr = append(m.ClientAddr, l.Addr().String())
	}
	var metricsLns []net.Listener
	for _, u := range cfg.ListenMetricsURLs {
		l, err := net.Listen("tcp", hostPort(u))
		if err != nil {
			return fail(fmt.Errorf("%w: listen on metrics URL %s: %v", ErrBadConfig, u, err))
		}
		m.listeners = append(m.listeners, l)
		metricsLns = append(metricsLns, l)
		m.MetricsAddr = append(m.MetricsAddr, l.Addr().String())
	}
	mtls, err := setupTLS(&cfg)
	if err != nil {
		return fail(err)
	}
	for i, u := range cfg.ListenPeerURLs {
		if isHTTPS(u) {
			peerLns[i] = tls.NewListener(peerLns[i], mtls.peer.ServerConfig(peerALPN...))
		}
	}
	for i, u := range cfg.ListenMetricsURLs {
		if isHTTPS(u) {
			metricsLns[i] = tls.NewListener(metricsLns[i], mtls.client.ServerConfig(metricsALPN...))
		}
	}
	n, err := newNode(cfg)
	if err != nil {
		return fail(err)
	}
	n.tls = mtls
	m.Node = n
	closeEarly := func(err error) (*Server, error) {
		n.store.Load().Close()
		n.rlog.Close()
		return fail(err)
	}
	if err := n.boot(ctx); err != nil {
		return closeEarly(err)
	}
	n.initReqIDs()
	tr, err := transport.New(transport.Config{ID: n.id, ClusterID: n.clusterIDValue(), Logger: cfg.Logger.With("component", "transport"),
		Filter: cfg.transportFilter, IsRemoved: n.isRemoved, TLS: mtls.peerClientConfig()}, n)
	if err != nil {
		return closeEarly(err)
	}
	n.tr = tr
	peers := n.membersSnapshot()
	if n.bootPeers != nil {
		peers = n.bootPeers
	}
	n.syncPeers(peers)
	m.shutdown = make(chan struct{})
	rpcOpts := v3rpc.Options{MaxTxnOps: cfg.MaxTxnOps, MaxRequestBytes: cfg.MaxRequestBytes, Logger: cfg.Logger, Shutdown: m.shutdown}
	services := v3rpc.NewServices(n, rpcOpts)
	// The peer port carries raft traffic, the membership service for
	// joiners, and the etcd services for requests forwarded to the leader.
	// tlsinfo.ServerCredentials: https:// peer listeners hand over TLS
	// connections (tls.NewListener), http:// ones plain connections.
	m.peerSrv = grpc.NewServer(append(v3rpc.ServerOptions(rpcOpts), grpc.MaxRecvMsgSize(16<<20), grpc.Creds(tlsinfo.ServerCredentials()))...)
	tr.Register(m.peerSrv)
	registerMembershipService(m.peerSrv, n)
	v3rpc.RegisterServices(m.peerSrv, services)
	for _, l := range peerLns {
		go m.peerSrv.Serve(l)
	}
	n.reads = newReadIndexer(n)
	n.lessor = newLessor(n, cfg.LeaseCheckpointInterval)
	go n.run()

	// Serve clients only once the entries committed before a restart are
	// applied again (store applies are not synced, so a crash may have lost
	// some): a client must not see this member older than it once was.
	if n.bootCommit > 0 {
		select {
		case <-n.appliedWait.wait(n.bootCommit):
		case <-time.After(n.requestTimeout):
			cfg.Logger.Warn("replaying the raft log takes long; serving anyway", "commit", n.bootCommit, "applied", n.applied.Load())
		}
	}
	clientOpts := rpcOpts
	clientOpts.Metrics = &n.inst.rpc // grpc_server_*: client calls only
	// Client certificates name users on the client port only (a peer's
	// certificate is a member's, never a user's).
	clientOpts.ClientCertAuth = clientCertAuth(cfg)
	clientServices := v3rpc.NewServices(n, clientOpts)
	m.clientSrv = grpc.NewServer(append(v3rpc.ServerOptions(clientOpts), grpc.Creds(tlsinfo.ServerCredentials()))...)
	v3rpc.RegisterServices(m.clientSrv, clientServices)
	httpCfg := v3http.Config{
		Services: clientServices, Member: n, Metrics: metricsHandler(n), Extra: cfg.HTTPHandlers,
		ServerVersion: serverVersion, ClusterVersion: clusterVersion, StorageVersion: serverVersion,
		ReadTimeout: n.requestTimeout, MaxRequestBytes: cfg.MaxRequestBytes, Logger: cfg.Logger.With("component", "http"),
	}
	httpLog := slog.NewLogLogger(cfg.Logger.With("component", "http").Handler(), slog.LevelDebug)
	m.clientHTTP = &http.Server{Handler: v3http.NewClientHandler(httpCfg), ReadHeaderTimeout: 30 * time.Second, ErrorLog: httpLog,
		ConnContext: tlsinfo.WithConnState}
	for i, l := range clientLns {
		// On an https:// URL TLS comes first, then the sniff of the
		// decrypted bytes: gRPC and HTTP share the port as in plain text.
		var tlsCfg *tls.Config
		if isHTTPS(cfg.ListenClientURLs[i]) {
			tlsCfg = mtls.client.ServerConfig(clientALPN...)
		}
		pm := portmux.New(l, portmux.Options{TLS: tlsCfg, Logger: cfg.Logger.With("component", "client-port")})
		m.muxes = append(m.muxes, pm)
		go m.clientSrv.Serve(pm.GRPC())
		go m.clientHTTP.Serve(pm.HTTP())
		go pm.Serve()
	}
	if len(metricsLns) > 0 {
		m.metricsSrv = &http.Server{Handler: v3http.NewMetricsHandler(httpCfg), ReadHeaderTimeout: 30 * time.Second, ErrorLog: httpLog}
		for _, l := range metricsLns {
			go m.metricsSrv.Serve(l)
		}
	}
	if p := cfg.autoCompaction; p.Mode != autocompact.Off {
		go n.runAutoCompaction(p)
	}
	go n.publishAttributes(context.Background())
	cfg.Logger.Info("serving", "name", cfg.Name, "id", fmt.Sprintf("%x", n.id),
		"client_urls", strings.Join(cfg.AdvertiseClientURLs, ","), "peer_urls", strings.Join(cfg.InitialAdvertisePeerURLs, ","),
		"metrics_urls", strings.Join(cfg.ListenMetricsURLs, ","), "data_dir", cfg.DataDir,
		"auto_compaction", autoCompactionString(cfg.autoCompaction))
	return m, nil
}

// Done is closed when the member stops serving: after Stop, or when the
// node fails (a storage error). Err then says why.
func (m *Server) Done() <-chan struct{} { return m.Node.done }

// Err returns why the member no longer serves (wrapping ErrStopped), or nil
// while it serves.
func (m *Server) Err() error { return m.Node.stopped() }

// Stop stops serving: clients get a few seconds to finish, then the node
// and its store stop.
func (m *Server) Stop() { m.stopOnce.Do(m.stop) }

func (m *Server) stop() {
	close(m.shutdown) // ends watch and keep-alive streams, gRPC and JSON alike
	done := make(chan struct{})
	go func() {
		m.clientSrv.GracefulStop()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = m.clientHTTP.Shutdown(ctx)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		m.clientSrv.Stop()
	}
	_ = m.clientHTTP.Close()
	for _, pm := range m.muxes {
		_ = pm.Close()
	}
	if m.metricsSrv != nil {
		_ = m.metricsSrv.Close()
	}
	m.peerSrv.Stop() // forwarded requests too, before the node goes
	m.Node.Stop()
	m.Node.fwd.closeAll()
}

// clientCertAuth reports whether a client's verified certificate names its
// user when it sends no token (etcd's --client-cert-auth with auth
// enabled): whenever the client port verifies client certificates, which
// --trusted-ca-file alone already makes it do, as etcd.
func clientCertAuth(cfg Config) bool {
	return cfg.ClientTLS.ClientCertAuth || cfg.ClientTLS.TrustedCAFile != ""
}
