package transport

import (
	"sync"
	"sync/atomic"
)

// counters are the transport-wide metrics.
type counters struct {
	sent, received, dropped, filtered              atomic.Uint64
	snapshotsSent, snapshotsFailed, snapshotsRecvd atomic.Uint64
	streamsRejected                                atomic.Uint64

	// recvBytes counts message bytes received per sending member; entries
	// are added (under mu) and never removed.
	recvMu    sync.Mutex
	recvBytes map[uint64]*atomic.Uint64
}

// receivedFrom returns the received-bytes counter of member from.
func (c *counters) receivedFrom(from uint64) *atomic.Uint64 {
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	if c.recvBytes == nil {
		c.recvBytes = map[uint64]*atomic.Uint64{}
	}
	r := c.recvBytes[from]
	if r == nil {
		r = new(atomic.Uint64)
		c.recvBytes[from] = r
	}
	return r
}

// Metrics are the transport's counters since New.
type Metrics struct {
	// Sent and Received count raft messages written to and read from
	// streams (not counting snapshots).
	Sent, Received uint64
	// Dropped counts messages dropped because a peer's queue was full, the
	// peer was down or unknown; Filtered those dropped by Config.Filter.
	Dropped, Filtered uint64
	// SnapshotsSent, SnapshotsFailed and SnapshotsReceived count snapshot
	// streams.
	SnapshotsSent, SnapshotsFailed, SnapshotsReceived uint64
	// StreamsRejected counts incoming streams refused (wrong cluster or
	// member, bad metadata, stopped).
	StreamsRejected uint64
	// Peers describes each peer.
	Peers map[uint64]PeerMetrics
	// ReceivedBytes counts the bytes of raft messages received from each
	// member that ever sent one (removed members stay).
	ReceivedBytes map[uint64]uint64
}

// PeerMetrics describes the link to one peer.
type PeerMetrics struct {
	URLs []string
	// Connected is true while a message stream to the peer is open.
	Connected bool
	// Queued is the number of messages waiting.
	Queued int
	// Sent and Dropped count this peer's messages.
	Sent, Dropped uint64
	// SentBytes counts the bytes of the message batches written to it.
	SentBytes uint64
	// LastError is the last connection or stream error ("" if none).
	LastError string
}

// Metrics returns a snapshot of the counters.
func (t *Transport) Metrics() Metrics {
	t.mu.Lock()
	peers := make([]*peer, 0, len(t.mu.peers))
	for _, p := range t.mu.peers {
		peers = append(peers, p)
	}
	t.mu.Unlock()
	m := Metrics{
		Sent:              t.metrics.sent.Load(),
		Received:          t.metrics.received.Load(),
		Dropped:           t.metrics.dropped.Load(),
		Filtered:          t.metrics.filtered.Load(),
		SnapshotsSent:     t.metrics.snapshotsSent.Load(),
		SnapshotsFailed:   t.metrics.snapshotsFailed.Load(),
		SnapshotsReceived: t.metrics.snapshotsRecvd.Load(),
		StreamsRejected:   t.metrics.streamsRejected.Load(),
		Peers:             make(map[uint64]PeerMetrics, len(peers)),
	}
	for _, p := range peers {
		m.Peers[p.id] = p.metrics()
	}
	t.metrics.recvMu.Lock()
	m.ReceivedBytes = make(map[uint64]uint64, len(t.metrics.recvBytes))
	for id, c := range t.metrics.recvBytes {
		m.ReceivedBytes[id] = c.Load()
	}
	t.metrics.recvMu.Unlock()
	return m
}
