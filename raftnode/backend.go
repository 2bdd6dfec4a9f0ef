package raftnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/kelson-dev/kelson/kvstore"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// This file implements v3rpc.Backend: the etcd v3 API over the node.

// serverVersion is the etcd API version Kelson speaks, reported by Status
// (clients use it to decide which features they may use).
const serverVersion = "3.6.0"

// clusterVersion is the cluster version etcd reports for serverVersion
// (major.minor.0), in /version and etcd_cluster_version.
const clusterVersion = "3.6.0"

func (n *Node) Header() (clusterID, memberID, raftTerm uint64) {
	return n.clusterIDValue(), n.id, n.term.Load()
}

func (n *Node) Rev() int64 { return n.store.Load().Rev() }

func (n *Node) Range(ctx context.Context, req *pb.RangeRequest) (*pb.RangeResponse, error) {
	if !req.Serializable {
		if err := n.linearizable(ctx); err != nil {
			return nil, err
		}
	}
	return n.store.Load().Range(req)
}

func (n *Node) Put(ctx context.Context, req *pb.PutRequest) (*pb.PutResponse, error) {
	r, err := n.propose(ctx, &pb.InternalRaftRequest{Put: req})
	if err != nil {
		return nil, err
	}
	return r.(*pb.PutResponse), nil
}

func (n *Node) DeleteRange(ctx context.Context, req *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	r, err := n.propose(ctx, &pb.InternalRaftRequest{DeleteRange: req})
	if err != nil {
		return nil, err
	}
	return r.(*pb.DeleteRangeResponse), nil
}

func (n *Node) Txn(ctx context.Context, req *pb.TxnRequest) (*pb.TxnResponse, error) {
	if txnReadOnly(req) {
		if err := n.linearizable(ctx); err != nil {
			return nil, err
		}
		return n.store.Load().Txn(req) // changes nothing: served locally
	}
	r, err := n.propose(ctx, &pb.InternalRaftRequest{Txn: req})
	if err != nil {
		return nil, err
	}
	return r.(*pb.TxnResponse), nil
}

// txnReadOnly reports whether no branch of req writes.
func txnReadOnly(req *pb.TxnRequest) bool {
	for _, branch := range [][]*pb.RequestOp{req.Success, req.Failure} {
		for _, op := range branch {
			switch r := op.GetRequest().(type) {
			case *pb.RequestOp_RequestPut, *pb.RequestOp_RequestDeleteRange:
				return false
			case *pb.RequestOp_RequestTxn:
				if r.RequestTxn == nil || !txnReadOnly(r.RequestTxn) {
					return false
				}
			}
		}
	}
	return true
}

func (n *Node) Compact(ctx context.Context, req *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	r, err := n.propose(ctx, &pb.InternalRaftRequest{Compaction: req})
	if err != nil {
		return nil, err
	}
	if req.Physical {
		done := make(chan struct{})
		go func() { n.store.Load().WaitCompaction(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return r.(*pb.CompactionResponse), nil
}

func (n *Node) NewWatchStream() *kvstore.WatchStream { return n.store.Load().NewWatchStream() }

// minLeaseTTL is the shortest TTL granted: shorter leases could expire
// during a normal election (etcd's rule: 1.5 election timeouts, rounded up).
func (n *Node) minLeaseTTL() int64 {
	return int64((3*n.cfg.ElectionTimeout/2 + time.Second - 1) / time.Second)
}

func (n *Node) LeaseGrant(ctx context.Context, req *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	if req.TTL > maxLeaseTTL {
		return nil, ErrLeaseTTLTooLarge
	}
	g := &pb.LeaseGrantRequest{ID: req.ID, TTL: max(req.TTL, n.minLeaseTTL())}
	if g.ID == 0 {
		g.ID = rand.Int64N(1<<62) + 1
	}
	r, err := n.propose(ctx, &pb.InternalRaftRequest{LeaseGrant: g})
	if err != nil {
		return nil, err
	}
	return r.(*pb.LeaseGrantResponse), nil
}

func (n *Node) LeaseRevoke(ctx context.Context, req *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error) {
	r, err := n.propose(ctx, &pb.InternalRaftRequest{LeaseRevoke: req})
	if err != nil {
		return nil, err
	}
	return r.(*pb.LeaseRevokeResponse), nil
}

// LeaseRenew refreshes the lease on the leader, forwarding when needed.
func (n *Node) LeaseRenew(ctx context.Context, id int64) (int64, error) {
	for {
		if err := n.stopped(); err != nil {
			return 0, err
		}
		if n.isLead.Load() {
			// Confirm the leadership (a ReadIndex round, which also waits
			// for what was committed to be applied) before renewing, as
			// etcd does since 3.5: a leader cut off from the others keeps
			// its role until CheckQuorum demotes it, while a new leader
			// counts the lease from its own promotion, which may be before
			// this keep-alive's call — acknowledging it would promise a TTL
			// the real leader does not grant.
			if err := n.linearizable(ctx); err != nil {
				return 0, err
			}
			ttl, err := n.lessor.renew(id)
			if !errors.Is(err, ErrNotLeader) {
				return ttl, err
			}
		} else if conn, err := n.leaderConn(ctx); err == nil {
			return forwardRenew(forwardCredentials(ctx), conn, id)
		} else if !errors.Is(err, ErrNoLeader) {
			return 0, err
		}
		select { // no leader yet: wait for an election
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(n.cfg.HeartbeatInterval):
		}
	}
}

func (n *Node) LeaseTimeToLive(ctx context.Context, req *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	if !n.isLead.Load() {
		conn, err := n.leaderConn(ctx)
		if err != nil {
			return nil, err
		}
		return pb.NewLeaseClient(conn).LeaseTimeToLive(forwardCredentials(ctx), req)
	}
	if err := n.appliedCommitted(ctx); err != nil {
		return nil, err
	}
	le, err := n.store.Load().Lease(req.ID)
	if err != nil {
		return nil, err
	}
	rem, err := n.lessor.remaining(req.ID, le.TTL)
	if err != nil {
		return nil, err
	}
	resp := &pb.LeaseTimeToLiveResponse{Header: &pb.ResponseHeader{Revision: n.Rev()}, ID: req.ID, TTL: rem, GrantedTTL: le.TTL}
	if req.Keys {
		resp.Keys = le.Keys
	}
	return resp, nil
}

func (n *Node) LeaseLeases(ctx context.Context) (*pb.LeaseLeasesResponse, error) {
	resp := &pb.LeaseLeasesResponse{Header: &pb.ResponseHeader{Revision: n.Rev()}}
	for _, le := range n.store.Load().Leases() {
		resp.Leases = append(resp.Leases, &pb.LeaseStatus{ID: le.ID})
	}
	return resp, nil
}

func (n *Node) membersSnapshot() *membership {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.members
}

func (n *Node) MemberAdd(ctx context.Context, peerURLs []string, learner bool) (*pb.Member, []*pb.Member, error) {
	if len(peerURLs) == 0 {
		return nil, nil, ErrMemberBadURLs
	}
	for _, u := range peerURLs {
		if checkURL(u) != nil {
			return nil, nil, ErrMemberBadURLs
		}
	}
	if err := n.linearizable(ctx); err != nil { // see every committed change
		return nil, nil, err
	}
	ms := n.membersSnapshot()
	learners := 0
	for _, m := range ms.Members {
		for _, u := range m.PeerURLs {
			if slices.Contains(peerURLs, u) {
				return nil, nil, ErrPeerURLExists
			}
		}
		if m.IsLearner {
			learners++
		}
	}
	if learner && learners >= 1 {
		return nil, nil, ErrTooManyLearners
	}
	id := memberID(peerURLs, ms.Token)
	if _, taken := ms.Members[id]; taken || ms.Removed[id] {
		id = memberID(peerURLs, fmt.Sprintf("%s|%d", ms.Token, time.Now().UnixNano()))
	}
	m := &Member{ID: id, PeerURLs: peerURLs, IsLearner: learner}
	ctxJSON, _ := jsonMember(m)
	typ := raftpb.ConfChangeType_ConfChangeAddNode
	if learner {
		typ = raftpb.ConfChangeType_ConfChangeAddLearnerNode
	}
	if err := n.proposeConfChange(ctx, &raftpb.ConfChange{Type: typ.Enum(), NodeId: new(id), Context: ctxJSON}); err != nil {
		return nil, nil, err
	}
	return m.toPB(), n.membersSnapshot().pbMembers(), nil
}

func (n *Node) MemberRemove(ctx context.Context, id uint64) ([]*pb.Member, error) {
	if err := n.linearizable(ctx); err != nil {
		return nil, err
	}
	if _, ok := n.membersSnapshot().Members[id]; !ok {
		return nil, ErrMemberNotFound
	}
	cc := &raftpb.ConfChange{Type: raftpb.ConfChangeType_ConfChangeRemoveNode.Enum(), NodeId: new(id)}
	if err := n.proposeConfChange(ctx, cc); err != nil {
		return nil, err
	}
	return n.membersSnapshot().pbMembers(), nil
}

func (n *Node) MemberUpdate(ctx context.Context, id uint64, peerURLs []string) ([]*pb.Member, error) {
	if err := n.linearizable(ctx); err != nil {
		return nil, err
	}
	ms := n.membersSnapshot()
	old, ok := ms.Members[id]
	if !ok {
		return nil, ErrMemberNotFound
	}
	for _, u := range peerURLs {
		if checkURL(u) != nil {
			return nil, ErrMemberBadURLs
		}
	}
	m := *old
	m.PeerURLs = peerURLs
	ctxJSON, _ := jsonMember(&m)
	cc := &raftpb.ConfChange{Type: raftpb.ConfChangeType_ConfChangeUpdateNode.Enum(), NodeId: new(id), Context: ctxJSON}
	if err := n.proposeConfChange(ctx, cc); err != nil {
		return nil, err
	}
	return n.membersSnapshot().pbMembers(), nil
}

// MemberPromote makes a learner a voter once it has caught up (its log
// within 90% of the leader's); the check runs on the leader.
func (n *Node) MemberPromote(ctx context.Context, id uint64) ([]*pb.Member, error) {
	if !n.isLead.Load() {
		conn, err := n.leaderConn(ctx)
		if err != nil {
			return nil, err
		}
		resp, err := pb.NewClusterClient(conn).MemberPromote(forwardCredentials(ctx), &pb.MemberPromoteRequest{ID: id})
		if err != nil {
			return nil, err
		}
		return resp.Members, nil
	}
	if err := n.linearizable(ctx); err != nil {
		return nil, err
	}
	m, ok := n.membersSnapshot().Members[id]
	if !ok {
		return nil, ErrMemberNotFound
	}
	if !m.IsLearner {
		return nil, ErrMemberNotLearner
	}
	ready := make(chan bool, 1)
	if !n.do(func() {
		st := n.rn.Status()
		pr, ok := st.Progress[id]
		ready <- ok && pr.Match*10 >= st.GetCommit()*9
	}) {
		return nil, n.stopped()
	}
	if !<-ready {
		return nil, ErrLearnerNotReady
	}
	ctxJSON, _ := jsonMember(&Member{ID: id, PeerURLs: m.PeerURLs, Name: m.Name, ClientURLs: m.ClientURLs})
	cc := &raftpb.ConfChange{Type: raftpb.ConfChangeType_ConfChangeAddNode.Enum(), NodeId: new(id), Context: ctxJSON}
	if err := n.proposeConfChange(ctx, cc); err != nil {
		return nil, err
	}
	return n.membersSnapshot().pbMembers(), nil
}

func (n *Node) MemberList(ctx context.Context, linearizable bool) ([]*pb.Member, error) {
	if linearizable {
		if err := n.linearizable(ctx); err != nil {
			return nil, err
		}
	}
	return n.membersSnapshot().pbMembers(), nil
}

func (n *Node) Status(ctx context.Context) (*pb.StatusResponse, error) {
	if err := n.stopped(); err != nil {
		return nil, err
	}
	st := make(chan raft.BasicStatus, 1)
	if !n.do(func() { st <- n.rn.BasicStatus() }) {
		return nil, n.stopped()
	}
	bs := <-st
	store := n.store.Load()
	resp := &pb.StatusResponse{
		Header:           &pb.ResponseHeader{Revision: store.Rev()},
		Version:          serverVersion,
		DbSize:           store.Size(),
		DbSizeInUse:      store.Size(),
		Leader:           bs.Lead,
		RaftIndex:        bs.GetCommit(),
		RaftTerm:         bs.GetTerm(),
		RaftAppliedIndex: n.applied.Load(),
		IsLearner:        n.selfIsLearner(),
		StorageVersion:   serverVersion,
	}
	if store.QuotaExceeded() {
		resp.Errors = append(resp.Errors, "memberID:"+fmt.Sprintf("%d", n.id)+" alarm:NOSPACE ")
	}
	return resp, nil
}

func (n *Node) HashKV(ctx context.Context, rev int64) (*pb.HashKVResponse, error) {
	store := n.store.Load()
	if rev == 0 {
		rev = store.Rev() // resolve first: the hash is of exactly this revision
	}
	h, compact, err := store.HashKV(rev)
	if err != nil {
		return nil, err
	}
	return &pb.HashKVResponse{Header: &pb.ResponseHeader{Revision: store.Rev()}, Hash: h, CompactRevision: compact, HashRevision: rev}, nil
}

func (n *Node) Snapshot(ctx context.Context, w io.Writer) error { return n.store.Load().Snapshot(w) }

// Alarm reports NOSPACE while this member's store is past its quota.
// Activating or deactivating alarms by hand changes nothing: the alarm
// follows the store's size (compact to get below the quota).
func (n *Node) Alarm(ctx context.Context, req *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	resp := &pb.AlarmResponse{Header: &pb.ResponseHeader{Revision: n.Rev()}}
	if n.store.Load().QuotaExceeded() {
		resp.Alarms = append(resp.Alarms, &pb.AlarmMember{MemberID: n.id, Alarm: pb.AlarmType_NOSPACE})
	}
	return resp, nil
}

func (n *Node) MoveLeader(ctx context.Context, target uint64) error {
	if !n.isLead.Load() {
		return ErrNotLeader
	}
	m, ok := n.membersSnapshot().Members[target]
	if !ok || m.IsLearner {
		return ErrBadTransferee
	}
	if !n.do(func() { n.rn.TransferLeader(target) }) {
		return n.stopped()
	}
	deadline := time.NewTimer(n.requestTimeout)
	defer deadline.Stop()
	for n.leader.Load() != target {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return ErrTimeout
		case <-time.After(n.cfg.HeartbeatInterval):
		}
	}
	return nil
}

func (n *Node) selfIsLearner() bool {
	m, ok := n.membersSnapshot().Members[n.id]
	return ok && m.IsLearner
}

// Leader is the ID of the leader this member knows; 0 for none.
func (n *Node) Leader() uint64 { return n.leader.Load() }

// IsLearner reports whether this member is a learner.
func (n *Node) IsLearner() bool { return n.selfIsLearner() }
