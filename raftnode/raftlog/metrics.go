package raftlog

import "sync/atomic"

// Metrics are the log's counters since Open.
type Metrics struct {
	// Saves counts Save calls that wrote a batch.
	Saves uint64
	// SavedEntries counts the entries written by Save.
	SavedEntries uint64
	// SavedBytes counts the bytes of the batches written by Save.
	SavedBytes uint64
	// CacheHits counts Term and Entries calls served from memory only.
	CacheHits uint64
	// DiskReads counts Term and Entries calls that read Pebble.
	DiskReads uint64
	// CachedEntries and CachedBytes describe the tail cache now.
	CachedEntries int
	CachedBytes   int64
}

type metrics struct {
	saves, savedEntries, savedBytes atomic.Uint64
	cacheHits, diskReads            atomic.Uint64
}

// Metrics returns a snapshot of the log's counters.
func (l *Log) Metrics() Metrics {
	l.mu.Lock()
	n, b := len(l.mu.cache.ents), l.mu.cache.bytes
	l.mu.Unlock()
	return Metrics{
		Saves:         l.metrics.saves.Load(),
		SavedEntries:  l.metrics.savedEntries.Load(),
		SavedBytes:    l.metrics.savedBytes.Load(),
		CacheHits:     l.metrics.cacheHits.Load(),
		DiskReads:     l.metrics.diskReads.Load(),
		CachedEntries: n,
		CachedBytes:   b,
	}
}
