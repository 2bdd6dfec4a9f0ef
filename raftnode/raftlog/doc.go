// Package raftlog is Kelson's durable raft log: a go.etcd.io/raft/v3
// Storage kept in its own Pebble database.
//
// # Model
//
// The log is the durable half of raft's log: a compaction point (the "dummy
// entry": an index and its term, kept after the entry itself is gone), the
// entries after it, the latest HardState, the latest snapshot's metadata (plus
// optional small data), and a few opaque meta records (cluster ID, member ID,
// membership) set by the application.
//
//	      compacted         |            stored entries
//	... 5  6  7  [8 term 2] | 9 t2  10 t3  11 t3  12 t3
//	               dummy    | FirstIndex=9        LastIndex=12
//
// Term(8) is 2 even though entry 8 is gone; Entries(8, ...) is
// raft.ErrCompacted; Term(13) and Entries(.., 14, ..) are raft.ErrUnavailable.
//
// # Writes: one Ready, one synced batch
//
// Save(hs, ents, snap) persists everything one raft Ready asks to be durable
// in a single synced Pebble batch: the snapshot (which resets the log to its
// index and term), then the entries (which replace any conflicting suffix),
// then the hard state. Empty parts are not written. Compact and
// CreateSnapshot are separate synced batches. Writers take a writer slot one
// at a time; the in-memory state changes only after the batch is durable.
//
// Worked example (terms after the colon):
//
//	Save(nil, [1:1 2:1 3:1], nil)       log 1..3, all term 1
//	Save({term 2}, [3:2 4:2], nil)      entry 3 replaced, log 1..4
//	Save(nil, [2:3], nil)               conflict at 2: log 1..2, LastIndex 2
//	Compact(2)                          dummy 2:3, FirstIndex 3, no entries
//	Save(nil, nil, snap{index 10:4})    dummy 10:4, snapshot 10, LastIndex 10
//	Save(nil, [11:4], nil)              log 11..11
//
// # Reads
//
// The newest entries (Options.CacheBytes of them) are kept in memory, so the
// hot path of raft (Term and Entries near the tail) never touches Pebble.
// Older entries are read from Pebble without holding the lock: a reader pins
// the committed state (a Pebble iterator) under the lock, and waits only when
// a batch being committed rewrites the entries it asks for.
//
// # Invariants
//
//   - FirstIndex() == compaction index + 1, LastIndex() >= compaction index,
//     and every index in [FirstIndex, LastIndex] has exactly one stored entry.
//   - What Open returns after a crash is the state after some prefix of the
//     writes, containing every write that returned nil.
//   - The raft.Storage methods return raft's sentinels unwrapped (raft
//     compares them with ==); other errors are this package's sentinels,
//     wrapped. Nothing on disk can make the log panic; a failed write makes
//     it refuse further work (ErrFailed) until reopened.
//
// # Lock order
//
// Log.mu is the only mutex. Disk IO happens outside it; the writer slot and
// the dirty range, both guarded by mu and waited for with mu's Cond, order
// writers and readers around a commit.
//
// # Example
//
//	l, err := raftlog.Open(filepath.Join(dataDir, "raft"), raftlog.Options{})
//	if err != nil { ... }
//	defer l.Close()
//	rn, err := raft.NewRawNode(&raft.Config{ID: id, Storage: l, ...})
//	for rn.HasReady() {
//		rd := rn.Ready()
//		if err := l.Save(rd.HardState, rd.Entries, rd.Snapshot); err != nil { ... }
//		send(rd.Messages)
//		apply(rd.CommittedEntries)
//		rn.Advance(rd)
//	}
package raftlog
