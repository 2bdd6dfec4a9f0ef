package raftnode

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/kelson-dev/kelson/internal/histogram"
	"github.com/kelson-dev/kelson/kvstore"
	"github.com/kelson-dev/kelson/raftnode/raftlog"
	"github.com/kelson-dev/kelson/raftnode/v3rpc"
	"go.etcd.io/raft/v3/raftpb"
)

// Metrics describe a member at one moment, as a plain value: what the
// member's /metrics exposes under etcd's names (prometheus.go), and what a
// test or a benchmark reads directly.
type Metrics struct {
	// ID is the member's ID.
	ID uint64
	// HasLeader: a leader is known; IsLeader: this member is it.
	HasLeader, IsLeader bool
	// IsLearner: this member is a learner.
	IsLearner bool
	// LeaderChanges counts the times this member saw a new leader.
	LeaderChanges uint64
	// ProposalsCommitted and ProposalsApplied are the raft commit and
	// applied indexes (etcd exports them as such, as gauges).
	ProposalsCommitted, ProposalsApplied uint64
	// ProposalsPending is the number of this member's proposals waiting to
	// be applied; ProposalsFailed counts those that failed (timeout, lost
	// leader, cancelled, dropped).
	ProposalsPending int64
	ProposalsFailed  uint64
	// WALFsync times the synced raft log writes, one per Ready
	// (etcd_disk_wal_fsync_duration_seconds); BackendCommit the store's
	// batches of applied entries, applied and committed
	// (etcd_disk_backend_commit_duration_seconds).
	WALFsync, BackendCommit histogram.Snapshot
	// PeerRTT times heartbeat round trips to each peer, as seen by the
	// leader (etcd_network_peer_round_trip_time_seconds).
	PeerRTT map[uint64]histogram.Snapshot
	// PeerSentBytes and PeerReceivedBytes count raft message bytes per peer.
	PeerSentBytes, PeerReceivedBytes map[uint64]uint64
	// AutoCompactions counts compactions started by --auto-compaction-mode.
	AutoCompactions uint64
	// Store, RaftLog and RPC are the store's, the raft log's and the client
	// gRPC server's own metrics.
	Store   kvstore.Metrics
	RaftLog raftlog.Metrics
	RPC     []v3rpc.MethodMetrics
}

// instruments are the member's recorders, owned by the Node.
type instruments struct {
	leaderChanges    atomic.Uint64
	commit           atomic.Uint64 // raft commit index, from Ready
	proposalsPending atomic.Int64
	proposalsFailed  atomic.Uint64
	autoCompactions  atomic.Uint64
	walFsync         *histogram.Histogram
	backendCommit    *histogram.Histogram
	rtt              rttProbe
	rpc              v3rpc.RPCMetrics
}

func newInstruments() *instruments {
	return &instruments{
		// etcd's buckets: 1ms .. 8s.
		walFsync:      histogram.New(histogram.ExponentialBuckets(0.001, 2, 14)),
		backendCommit: histogram.New(histogram.ExponentialBuckets(0.001, 2, 14)),
	}
}

// Metrics returns the member's metrics now. Safe to call at any time,
// also after Stop (the store's part is then zero).
func (n *Node) Metrics() Metrics {
	in := n.inst
	m := Metrics{
		ID:                 n.id,
		HasLeader:          n.leader.Load() != 0,
		IsLeader:           n.isLead.Load(),
		IsLearner:          n.selfIsLearner(),
		LeaderChanges:      in.leaderChanges.Load(),
		ProposalsCommitted: in.commit.Load(),
		ProposalsApplied:   n.applied.Load(),
		ProposalsPending:   in.proposalsPending.Load(),
		ProposalsFailed:    in.proposalsFailed.Load(),
		AutoCompactions:    in.autoCompactions.Load(),
		WALFsync:           in.walFsync.Snapshot(),
		BackendCommit:      in.backendCommit.Snapshot(),
		PeerRTT:            in.rtt.snapshot(),
		RaftLog:            n.rlog.Metrics(),
		RPC:                in.rpc.Snapshot(),
	}
	if n.stopped() == nil {
		m.Store = n.store.Load().Metrics()
	}
	if n.tr != nil {
		tm := n.tr.Metrics()
		m.PeerSentBytes = make(map[uint64]uint64, len(tm.Peers))
		for id, p := range tm.Peers {
			m.PeerSentBytes[id] = p.SentBytes
		}
		m.PeerReceivedBytes = tm.ReceivedBytes
	}
	return m
}

// rttProbe times heartbeats: the leader's MsgHeartbeat to a peer and the
// peer's MsgHeartbeatResp. One heartbeat per peer is timed at a time; one
// whose answer was lost is replaced after rttStale.
type rttProbe struct {
	mu   sync.Mutex
	sent map[uint64]time.Time
	hist map[uint64]*histogram.Histogram
}

const rttStale = 5 * time.Second

// sending notes the heartbeats among msgs (called on the raft loop).
func (p *rttProbe) sending(msgs []*raftpb.Message, now time.Time) {
	for _, m := range msgs {
		if m.GetType() != raftpb.MessageType_MsgHeartbeat {
			continue
		}
		p.mu.Lock()
		if p.sent == nil {
			p.sent = map[uint64]time.Time{}
		}
		if t, ok := p.sent[m.GetTo()]; !ok || now.Sub(t) > rttStale {
			p.sent[m.GetTo()] = now
		}
		p.mu.Unlock()
	}
}

// received times a heartbeat response (called by the transport).
func (p *rttProbe) received(m *raftpb.Message, now time.Time) {
	if m.GetType() != raftpb.MessageType_MsgHeartbeatResp {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.sent[m.GetFrom()]
	if !ok {
		return
	}
	delete(p.sent, m.GetFrom())
	if p.hist == nil {
		p.hist = map[uint64]*histogram.Histogram{}
	}
	h := p.hist[m.GetFrom()]
	if h == nil {
		// etcd's buckets: 0.1ms .. 0.8s.
		h = histogram.New(histogram.ExponentialBuckets(0.0001, 2, 14))
		p.hist[m.GetFrom()] = h
	}
	h.ObserveDuration(now.Sub(t))
}

func (p *rttProbe) snapshot() map[uint64]histogram.Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[uint64]histogram.Snapshot, len(p.hist))
	for id, h := range p.hist {
		out[id] = h.Snapshot()
	}
	return out
}
