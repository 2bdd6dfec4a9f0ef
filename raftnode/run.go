package raftnode

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/kelson-dev/kelson/raftnode/transport"
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
type Server struct {
	Node       *Node
	clientSrv  *grpc.Server
	peerSrv    *grpc.Server
	listeners  []net.Listener
	shutdown   chan struct{} // closed by Stop: ends watch and keep-alive streams
	stopOnce   sync.Once
	ClientAddr []string // bound client addresses (host:port)
	PeerAddr   []string // bound peer addresses
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
	n, err := newNode(cfg)
	if err != nil {
		return fail(err)
	}
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
		Filter: cfg.transportFilter, IsRemoved: n.isRemoved}, n)
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
	// The peer port carries raft traffic, the membership service for
	// joiners, and the etcd services for requests forwarded to the leader.
	m.peerSrv = grpc.NewServer(append(v3rpc.ServerOptions(rpcOpts), grpc.MaxRecvMsgSize(16<<20))...)
	tr.Register(m.peerSrv)
	registerMembershipService(m.peerSrv, n)
	v3rpc.Register(m.peerSrv, n, rpcOpts)
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
	m.clientSrv = grpc.NewServer(v3rpc.ServerOptions(rpcOpts)...)
	v3rpc.Register(m.clientSrv, n, rpcOpts)
	for _, l := range clientLns {
		go m.clientSrv.Serve(l)
	}
	go n.publishAttributes(context.Background())
	cfg.Logger.Info("serving", "name", cfg.Name, "id", fmt.Sprintf("%x", n.id),
		"client_urls", strings.Join(cfg.AdvertiseClientURLs, ","), "peer_urls", strings.Join(cfg.InitialAdvertisePeerURLs, ","),
		"data_dir", cfg.DataDir)
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
	close(m.shutdown)
	done := make(chan struct{})
	go func() { m.clientSrv.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		m.clientSrv.Stop()
	}
	m.peerSrv.Stop() // forwarded requests too, before the node goes
	m.Node.Stop()
	m.Node.fwd.closeAll()
}
