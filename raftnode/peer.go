package raftnode

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/kelson-dev/kelson/kvstore"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/membershippb"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func jsonMember(m *Member) ([]byte, error) { return json.Marshal(m) }

// The transport hands what it receives from peers to the node through these
// methods (transport.Handler).

// Process steps a message from a peer into raft.
func (n *Node) Process(ctx context.Context, m *raftpb.Message) error {
	n.inst.rtt.received(m, time.Now())
	if !n.do(func() { n.rn.Step(m) }) {
		return ErrStopped
	}
	return nil
}

// ReceiveSnapshot restores the leader's store stream into a staging
// directory, then steps the snapshot message; the raft loop installs the
// staged store when raft accepts the snapshot (installSnapshot).
func (n *Node) ReceiveSnapshot(ctx context.Context, m *raftpb.Message, body io.Reader) error {
	idx := m.GetSnapshot().GetMetadata().GetIndex()
	// Each receive restores into a directory of its own: two leaders may
	// stream the same index at once (one of them deposed meanwhile).
	dir, err := os.MkdirTemp(n.cfg.DataDir, fmt.Sprintf("store.snap-%d-*", idx))
	if err != nil {
		return fmt.Errorf("raftnode: snapshot %d: %w", idx, err)
	}
	os.Remove(dir) // Restore wants to create it
	start := time.Now()
	if err := kvstore.Restore(dir, body, n.storeOpts); err != nil {
		return fmt.Errorf("raftnode: restore snapshot %d: %w", idx, err)
	}
	// Read the stream to its end so the transport verifies its trailer
	// before the snapshot is used (and reports the transfer complete).
	if _, err := io.Copy(io.Discard, body); err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("raftnode: snapshot %d stream: %w", idx, err)
	}
	n.stagedMu.Lock()
	if old, ok := n.staged[idx]; ok {
		os.RemoveAll(old)
	}
	n.staged[idx] = dir
	n.stagedMu.Unlock()
	n.log.Info("received snapshot", "index", idx, "from", fmt.Sprintf("%x", m.GetFrom()), "took", time.Since(start))
	return n.Process(ctx, m)
}

// ReportRemoved: a peer refused this member because it was removed from
// the cluster (while cut off, it never applied its own removal). It stops.
func (n *Node) ReportRemoved() {
	err := fmt.Errorf("%w: this member was removed from the cluster", ErrStopped)
	if n.failure.CompareAndSwap(nil, &err) {
		n.log.Error("this member was removed from the cluster; stopping")
	}
	n.Stop()
}

// isRemoved tells the transport which senders to refuse. Removal is for
// good, so the newest list known at boot counts too: while the log replays,
// the applied membership may not have reached the removal yet.
func (n *Node) isRemoved(id uint64) bool {
	return n.membersSnapshot().Removed[id] || (n.bootPeers != nil && n.bootPeers.Removed[id])
}

func (n *Node) ReportUnreachable(id uint64) { n.do(func() { n.rn.ReportUnreachable(id) }) }

func (n *Node) ReportSnapshot(id uint64, status raft.SnapshotStatus) {
	n.do(func() { n.rn.ReportSnapshot(id, status) })
}

// The membership service on the peer port lets a member started with
// --initial-cluster-state existing learn the cluster ID, its own ID and its
// peers. A restarting member answers once it has replayed the entries it
// had committed before (else its list may lack the very member asking).
const membershipMethod = "/kelson.raft.Membership/Get"

func registerMembershipService(s *grpc.Server, n *Node) {
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: "kelson.raft.Membership",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Get",
			Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				if err := dec(new(wrapperspb.BytesValue)); err != nil {
					return nil, err
				}
				select {
				case <-n.appliedWait.wait(n.bootCommit):
				case <-ctx.Done():
					return nil, ctx.Err()
				}
				return wrapperspb.Bytes(n.membersSnapshot().encode()), nil
			},
		}},
	}, n)
}

func fetchMembership(ctx context.Context, peerURL string, creds grpc.DialOption) (*membership, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := grpc.NewClient(hostPort(peerURL), creds)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	out := new(wrapperspb.BytesValue)
	if err := conn.Invoke(ctx, membershipMethod, wrapperspb.Bytes(nil), out, grpc.WaitForReady(true)); err != nil {
		return nil, fmt.Errorf("ask %s for the member list: %w", peerURL, err)
	}
	ms, err := decodeMembership(out.GetValue())
	if err != nil {
		return nil, err
	}
	if ms.ClusterID == 0 || len(ms.Members) == 0 {
		// A member that joined itself moments ago has applied nothing yet.
		return nil, fmt.Errorf("%s does not know its cluster yet", peerURL)
	}
	return ms, nil
}

// leaderConns caches one connection per leader peer URL, used to forward
// the requests etcd serves on the leader only (lease keep-alive and
// time-to-live, learner promotion). They go over the peer port, where the
// etcd services are served too, because a member always knows the leader's
// peer URLs (from the conf changes) but may not have applied its client URLs.
type leaderConns struct {
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

func (n *Node) leaderConn(ctx context.Context) (*grpc.ClientConn, error) {
	lead := n.leader.Load()
	if lead == 0 {
		return nil, ErrNoLeader
	}
	m, ok := n.membersSnapshot().Members[lead]
	if !ok && n.bootPeers != nil {
		m, ok = n.bootPeers.Members[lead]
	}
	if !ok || len(m.PeerURLs) == 0 {
		return nil, ErrNoLeader
	}
	peerURL := m.PeerURLs[0]
	target := hostPort(peerURL)
	n.fwd.mu.Lock()
	defer n.fwd.mu.Unlock()
	if c, ok := n.fwd.conns[target]; ok {
		return c, nil
	}
	c, err := grpc.NewClient(target, n.tls.peerDialOption(peerURL))
	if err != nil {
		return nil, err
	}
	if n.fwd.conns == nil {
		n.fwd.conns = map[string]*grpc.ClientConn{}
	}
	n.fwd.conns[target] = c
	return c, nil
}

func (lc *leaderConns) closeAll() {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	for k, c := range lc.conns {
		c.Close()
		delete(lc.conns, k)
	}
}

func forwardRenew(ctx context.Context, conn *grpc.ClientConn, id int64) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := pb.NewLeaseClient(conn).LeaseKeepAlive(ctx)
	if err != nil {
		return 0, err
	}
	if err := stream.Send(&pb.LeaseKeepAliveRequest{ID: id}); err != nil {
		return 0, err
	}
	resp, err := stream.Recv()
	if err != nil {
		return 0, err
	}
	if resp.TTL <= 0 {
		return 0, kvstore.ErrLeaseNotFound
	}
	return resp.TTL, nil
}

// publishAttributes replicates this member's name and client URLs, retrying
// until it succeeds (it needs a leader).
func (n *Node) publishAttributes(ctx context.Context) {
	req := &pb.InternalRaftRequest{ClusterMemberAttrSet: &membershippb.ClusterMemberAttrSetRequest{
		Member_ID:        n.id,
		MemberAttributes: &membershippb.Attributes{Name: n.cfg.Name, ClientUrls: n.cfg.AdvertiseClientURLs},
	}}
	for {
		if err := n.proposeRaw(ctx, req); err == nil {
			n.log.Info("published member attributes", "name", n.cfg.Name, "client_urls", n.cfg.AdvertiseClientURLs)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-n.done:
			return
		case <-time.After(n.cfg.ElectionTimeout):
		}
	}
}

// proposeRaw replicates a request the store does not handle (member
// attributes) and waits until it is applied here.
func (n *Node) proposeRaw(ctx context.Context, req *pb.InternalRaftRequest) error {
	id := n.nextReqID()
	req.Header = &pb.RequestHeader{ID: id}
	data, err := marshalRequest(req)
	if err != nil {
		return err
	}
	r, err := n.wait(ctx, id, func() error { return n.proposeEntry(data) })
	if err != nil {
		return err
	}
	return r.Err
}

// raftLogger adapts slog to raft's Logger.
type raftLogger struct{ l *slog.Logger }

func (r raftLogger) Debug(v ...any)                 { r.l.Debug(fmt.Sprint(v...)) }
func (r raftLogger) Debugf(format string, v ...any) { r.l.Debug(fmt.Sprintf(format, v...)) }
func (r raftLogger) Error(v ...any)                 { r.l.Error(fmt.Sprint(v...)) }
func (r raftLogger) Errorf(format string, v ...any) { r.l.Error(fmt.Sprintf(format, v...)) }
func (r raftLogger) Info(v ...any)                  { r.l.Info(fmt.Sprint(v...)) }
func (r raftLogger) Infof(format string, v ...any)  { r.l.Info(fmt.Sprintf(format, v...)) }
func (r raftLogger) Warning(v ...any)               { r.l.Warn(fmt.Sprint(v...)) }
func (r raftLogger) Warningf(format string, v ...any) {
	r.l.Warn(fmt.Sprintf(format, v...))
}
func (r raftLogger) Fatal(v ...any) { r.l.Error(fmt.Sprint(v...)); panic(fmt.Sprint(v...)) }
func (r raftLogger) Fatalf(format string, v ...any) {
	r.l.Error(fmt.Sprintf(format, v...))
	panic(fmt.Sprintf(format, v...))
}
func (r raftLogger) Panic(v ...any) { panic(fmt.Sprint(v...)) }
func (r raftLogger) Panicf(format string, v ...any) {
	panic(fmt.Sprintf(format, v...))
}
