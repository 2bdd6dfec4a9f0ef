package transport

import "sync/atomic"

// counters are the transport-wide metrics.
type counters struct {
	sent, received, dropped, filtered              atomic.Uint64
	snapshotsSent, snapshotsFailed, snapshotsRecvd atomic.Uint64
	streamsRejected                                atomic.Uint64
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
	return m
}
