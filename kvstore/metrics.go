package kvstore

import "sync/atomic"

// counters are the store's operation counters (Metrics). Atomic: bumped by
// the writer and by readers without locks.
type counters struct {
	puts, deletes, ranges, txns atomic.Uint64
	liveKeys                    atomic.Int64
}

// Metrics are the store's counters since Open, as a plain value.
type Metrics struct {
	// Keys is the number of keys that exist now (deleted ones excluded).
	Keys int64
	// Puts, Deletes and Ranges count operations, also those inside
	// transactions; Txns counts transactions (read-only ones too). Applied
	// writes are counted on every member, reads where they are served.
	Puts, Deletes, Ranges, Txns uint64
	// SizeBytes is the store's disk usage (Size).
	SizeBytes int64
	// CurrentRev and CompactRev are the current and compacted revisions.
	CurrentRev, CompactRev int64
	// Watch describes the watch hub.
	Watch WatchMetrics
}

// Metrics returns the store's counters now.
func (s *Store) Metrics() Metrics {
	s.mu.RLock()
	cur, comp := s.currentRev, s.compactRev
	s.mu.RUnlock()
	return Metrics{
		Keys:       s.counters.liveKeys.Load(),
		Puts:       s.counters.puts.Load(),
		Deletes:    s.counters.deletes.Load(),
		Ranges:     s.counters.ranges.Load(),
		Txns:       s.counters.txns.Load(),
		SizeBytes:  s.Size(),
		CurrentRev: cur,
		CompactRev: comp,
		Watch:      s.WatchMetrics(),
	}
}
