package raftlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"

	"github.com/cockroachdb/pebble"
	"github.com/kelson-dev/kelson/internal/pebblelog"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Log is a durable raft log in its own Pebble database. It implements
// raft.Storage; Save persists one raft Ready in one synced batch.
//
// All methods are safe for concurrent use. Writers (Save, Compact,
// CreateSnapshot) run one at a time, in call order of acquiring the writer
// slot; readers never wait for a writer's fsync unless they need entries from
// disk that the writer is rewriting.
type Log struct {
	db   *pebble.DB
	opts Options
	log  *slog.Logger

	metrics metrics

	mu struct {
		sync.Mutex
		// cond is broadcast whenever writer, dirty*, ops or closed change.
		cond *sync.Cond
		// st mirrors the durable state. It changes only after a batch has
		// been committed.
		st state
		// cache holds the newest entries (a suffix of the log).
		cache tailCache
		// writer is true while a writer holds the writer slot.
		writer bool
		// dirtyLo..dirtyHi (exclusive) are the entry indexes whose keys the
		// batch being committed rewrites or deletes; readers that need those
		// keys from disk wait. dirtyLo == dirtyHi means none.
		dirtyLo, dirtyHi uint64
		// ops counts readers and writers that are using db; Close waits for
		// zero.
		ops int
		// closed is set by Close.
		closed bool
		// failed is the sticky error of a failed commit.
		failed error
	}
}

// state is what the log holds, as of the last committed batch.
type state struct {
	hardState *raftpb.HardState // never nil
	snapshot  *raftpb.Snapshot  // never nil; index 0 means none
	trunc     trunc             // the dummy entry; FirstIndex is trunc.index+1
	lastIndex uint64            // == trunc.index when the log has no entries
}

// Open opens the raft log in dir, creating it if needed, and loads its state.
// A log reopened after a crash holds exactly what the acknowledged writes
// left, plus possibly the one write that was in flight.
func Open(dir string, opts Options) (*Log, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	db, err := pebble.Open(dir, &pebble.Options{
		FS:     opts.FS,
		Logger: pebblelog.Logger{Log: opts.Logger, What: "raft log " + dir, Fatal: opts.Fatal},
		// Entries live briefly: the log is compacted every SnapshotCount
		// entries (10,000 by default, ~4 MB of 256-byte puts). A memtable
		// holding several such spans is flushed when most of it is already
		// deleted, so few entries are ever written to (and compacted out
		// of) sstables; Pebble's default of 4 MB flushed them all.
		MemTableSize: 16 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("raftlog: open %s: %w", dir, err)
	}
	l := &Log{db: db, opts: opts, log: opts.Logger}
	l.mu.cond = sync.NewCond(&l.mu)
	l.mu.cache.budget = opts.CacheBytes
	st, err := l.load()
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("raftlog: open %s: %w", dir, err)
	}
	l.mu.st = st
	if err := l.warmCache(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("raftlog: open %s: %w", dir, err)
	}
	l.log.Debug("raft log opened", "dir", dir,
		"first", st.trunc.index+1, "last", st.lastIndex,
		"snapshot", st.snapshot.GetMetadata().GetIndex(),
		"term", st.hardState.GetTerm(), "commit", st.hardState.GetCommit())
	return l, nil
}

// load reads the state records and the bounds of the entry span.
func (l *Log) load() (state, error) {
	st := state{hardState: &raftpb.HardState{}, snapshot: raftpb.EnsureSnapshot(nil)}
	v, ok, err := l.get(keyVersion)
	if err != nil {
		return st, err
	}
	if !ok {
		empty, err := l.isEmpty()
		if err != nil {
			return st, err
		}
		if !empty {
			return st, fmt.Errorf("%w: directory holds data but no format version; is it a raft log?", ErrCorrupt)
		}
		if err := l.db.Set(keyVersion, encodeUint64(formatVersion), l.writeOpts()); err != nil {
			return st, err
		}
	} else if len(v) != 8 || binary.BigEndian.Uint64(v) != formatVersion {
		return st, fmt.Errorf("%w: version %x, this binary reads version %d", ErrIncompatible, v, formatVersion)
	}

	if v, ok, err := l.get(keyHardState); err != nil {
		return st, err
	} else if ok {
		if err := proto.Unmarshal(v, st.hardState); err != nil {
			return st, fmt.Errorf("%w: hard state: %v", ErrCorrupt, err)
		}
	}
	if v, ok, err := l.get(keySnapshot); err != nil {
		return st, err
	} else if ok {
		snap := &raftpb.Snapshot{}
		if err := proto.Unmarshal(v, snap); err != nil {
			return st, fmt.Errorf("%w: snapshot: %v", ErrCorrupt, err)
		}
		st.snapshot = raftpb.EnsureSnapshot(snap)
	}
	if v, ok, err := l.get(keyTrunc); err != nil {
		return st, err
	} else if ok {
		if st.trunc, err = decodeTrunc(v); err != nil {
			return st, err
		}
	}

	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: entriesLower, UpperBound: entriesUpper})
	if err != nil {
		return st, err
	}
	defer it.Close()
	st.lastIndex = st.trunc.index
	if it.First() {
		first, err := parseEntryKey(it.Key())
		if err != nil {
			return st, err
		}
		if first != st.trunc.index+1 {
			return st, fmt.Errorf("%w: first entry is %d but the log was compacted to %d", ErrCorrupt, first, st.trunc.index)
		}
		if !it.Last() {
			return st, fmt.Errorf("%w: entry span vanished while opening: %v", ErrCorrupt, it.Error())
		}
		if st.lastIndex, err = parseEntryKey(it.Key()); err != nil {
			return st, err
		}
	}
	if err := it.Error(); err != nil {
		return st, err
	}
	return st, nil
}

// warmCache loads the newest entries, up to the cache budget.
func (l *Log) warmCache() error {
	st := l.mu.st
	if l.opts.CacheBytes <= 0 || st.lastIndex == st.trunc.index {
		return nil
	}
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: entryKey(st.trunc.index + 1), UpperBound: entryKeyEnd(st.lastIndex)})
	if err != nil {
		return err
	}
	defer it.Close()
	var ents []*raftpb.Entry
	var sizes []uint64
	var total int64
	want := st.lastIndex
	for ok := it.Last(); ok && total < l.opts.CacheBytes; ok = it.Prev() {
		e, err := decodeEntry(it.Key(), it.Value(), want)
		if err != nil {
			return err
		}
		ents = append(ents, e)
		sizes = append(sizes, uint64(len(it.Value())))
		total += int64(len(it.Value()))
		want--
	}
	if err := it.Error(); err != nil {
		return err
	}
	if total < l.opts.CacheBytes && want != st.trunc.index {
		return fmt.Errorf("%w: entries before %d are missing; log compacted to %d", ErrCorrupt, want+1, st.trunc.index)
	}
	// Reverse into index order.
	for i, j := 0, len(ents)-1; i < j; i, j = i+1, j-1 {
		ents[i], ents[j] = ents[j], ents[i]
		sizes[i], sizes[j] = sizes[j], sizes[i]
	}
	l.mu.cache.append(ents, sizes)
	return nil
}

// Close waits for the calls in progress, then closes the database. Calls
// after Close return ErrClosed. Close is idempotent.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return nil
	}
	l.mu.closed = true
	for l.mu.ops > 0 || l.mu.writer {
		l.mu.cond.Wait()
	}
	l.mu.cache.reset()
	l.mu.Unlock()
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("raftlog: close: %w", err)
	}
	return nil
}

// usableLocked reports why the log cannot serve a call, if it cannot.
func (l *Log) usableLocked() error {
	if l.mu.closed {
		return ErrClosed
	}
	if l.mu.failed != nil {
		return fmt.Errorf("%w: %v", ErrFailed, l.mu.failed)
	}
	return nil
}

// InitialState implements raft.Storage. The ConfState is the one of the
// latest snapshot (empty when there is none).
func (l *Log) InitialState() (*raftpb.HardState, *raftpb.ConfState, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(); err != nil {
		return nil, nil, err
	}
	hs := proto.Clone(l.mu.st.hardState).(*raftpb.HardState)
	cs := proto.Clone(raftpb.EnsureConfState(l.mu.st.snapshot.GetMetadata().GetConfState())).(*raftpb.ConfState)
	return hs, cs, nil
}

// FirstIndex implements raft.Storage.
func (l *Log) FirstIndex() (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(); err != nil {
		return 0, err
	}
	return l.mu.st.trunc.index + 1, nil
}

// LastIndex implements raft.Storage.
func (l *Log) LastIndex() (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(); err != nil {
		return 0, err
	}
	return l.mu.st.lastIndex, nil
}

// Snapshot implements raft.Storage. It returns the latest snapshot saved by
// Save or made by CreateSnapshot; its index is 0 when there is none. The
// caller owns the returned value.
func (l *Log) Snapshot() (*raftpb.Snapshot, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(); err != nil {
		return nil, err
	}
	return proto.Clone(l.mu.st.snapshot).(*raftpb.Snapshot), nil
}

// Term implements raft.Storage: the term of entry i, for i in
// [FirstIndex()-1, LastIndex()]. Below that range it returns
// raft.ErrCompacted, above it raft.ErrUnavailable.
func (l *Log) Term(i uint64) (uint64, error) {
	l.mu.Lock()
	for {
		if err := l.usableLocked(); err != nil {
			l.mu.Unlock()
			return 0, err
		}
		st := &l.mu.st
		switch {
		case i < st.trunc.index:
			l.mu.Unlock()
			return 0, raft.ErrCompacted
		case i > st.lastIndex:
			l.mu.Unlock()
			return 0, raft.ErrUnavailable
		case i == st.trunc.index:
			t := st.trunc.term
			l.mu.Unlock()
			return t, nil
		}
		if ce := l.mu.cache.get(i); ce != nil {
			t := ce.e.GetTerm()
			l.mu.Unlock()
			l.metrics.cacheHits.Add(1)
			return t, nil
		}
		if l.dirtyLocked(i, i+1) {
			l.mu.cond.Wait()
			continue
		}
		break
	}
	it, err := l.newIterLocked(i, i+1)
	l.mu.Unlock()
	if err != nil {
		return 0, err
	}
	defer l.doneIter(it)
	l.metrics.diskReads.Add(1)
	if !it.First() {
		if err := it.Error(); err != nil {
			return 0, fmt.Errorf("raftlog: read entry %d: %w", i, err)
		}
		return 0, fmt.Errorf("%w: entry %d is missing", ErrCorrupt, i)
	}
	e, err := decodeEntry(it.Key(), it.Value(), i)
	if err != nil {
		return 0, err
	}
	return e.GetTerm(), nil
}

// Entries implements raft.Storage: the entries in [lo, hi), at least one if
// any, and then only as many as fit in maxSize bytes (counted as encoded
// entries, like raft). It returns raft.ErrCompacted if lo has been compacted
// and raft.ErrUnavailable if hi is past the last index + 1 or the log holds
// no entries. The caller owns the returned slice but must not modify the
// entries.
func (l *Log) Entries(lo, hi, maxSize uint64) ([]*raftpb.Entry, error) {
	var (
		res    []*raftpb.Entry
		size   uint64
		diskHi uint64
		tail   []cachedEntry
	)
	l.mu.Lock()
	for {
		if err := l.usableLocked(); err != nil {
			l.mu.Unlock()
			return nil, err
		}
		st := &l.mu.st
		switch {
		case lo <= st.trunc.index:
			l.mu.Unlock()
			return nil, raft.ErrCompacted
		case hi > st.lastIndex+1:
			l.mu.Unlock()
			return nil, raft.ErrUnavailable
		case st.lastIndex == st.trunc.index:
			l.mu.Unlock()
			return nil, raft.ErrUnavailable
		case lo > hi:
			l.mu.Unlock()
			return nil, fmt.Errorf("raftlog: invalid range [%d, %d)", lo, hi)
		case lo == hi:
			l.mu.Unlock()
			return nil, nil
		}
		n := hi - lo
		if n > 1024 {
			n = 1024 // grow as needed; do not trust a huge range for the allocation
		}
		res = make([]*raftpb.Entry, 0, n)
		diskHi = hi
		if first, ok := l.mu.cache.first(); ok && first < hi {
			diskHi = max(first, lo)
			for i := diskHi; i < hi; i++ {
				tail = append(tail, *l.mu.cache.get(i))
			}
		}
		if diskHi == lo {
			l.mu.Unlock()
			l.metrics.cacheHits.Add(1)
			return appendLimited(res, size, maxSize, tail), nil
		}
		if l.dirtyLocked(lo, diskHi) {
			tail = tail[:0]
			l.mu.cond.Wait()
			continue
		}
		break
	}
	it, err := l.newIterLocked(lo, diskHi)
	l.mu.Unlock()
	if err != nil {
		return nil, err
	}
	defer l.doneIter(it)
	l.metrics.diskReads.Add(1)
	want := lo
	for ok := it.First(); ok; ok = it.Next() {
		e, err := decodeEntry(it.Key(), it.Value(), want)
		if err != nil {
			return nil, err
		}
		s := uint64(len(it.Value()))
		if len(res) > 0 && (size+s > maxSize || size+s < size) {
			return res, nil
		}
		res = append(res, e)
		size += s
		want++
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("raftlog: read entries [%d, %d): %w", lo, diskHi, err)
	}
	if want != diskHi {
		return nil, fmt.Errorf("%w: entry %d is missing", ErrCorrupt, want)
	}
	return appendLimited(res, size, maxSize, tail), nil
}

// appendLimited appends the cached entries while they fit in maxSize, and at
// least one if res is empty.
func appendLimited(res []*raftpb.Entry, size, maxSize uint64, tail []cachedEntry) []*raftpb.Entry {
	for _, ce := range tail {
		if len(res) > 0 && (size+ce.size > maxSize || size+ce.size < size) {
			break
		}
		res = append(res, ce.e)
		size += ce.size
	}
	return res
}

// dirtyLocked reports whether the batch being committed rewrites any entry in
// [lo, hi).
func (l *Log) dirtyLocked(lo, hi uint64) bool {
	return l.mu.dirtyLo < l.mu.dirtyHi && lo < l.mu.dirtyHi && l.mu.dirtyLo < hi
}

// newIterLocked opens an iterator over the entries in [lo, hi) and counts it
// as an operation in progress. Opening a Pebble iterator does no IO; it pins
// the committed state, which matches l.mu.st for every key no writer is
// rewriting. The caller must call doneIter.
func (l *Log) newIterLocked(lo, hi uint64) (*pebble.Iterator, error) {
	upper := entriesUpper
	if hi != math.MaxUint64 {
		upper = entryKey(hi)
	}
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: entryKey(lo), UpperBound: upper})
	if err != nil {
		return nil, fmt.Errorf("raftlog: %w", err)
	}
	l.mu.ops++
	return it, nil
}

// doneIter closes an iterator from newIterLocked.
func (l *Log) doneIter(it *pebble.Iterator) {
	if err := it.Close(); err != nil {
		l.log.Warn("raft log: closing iterator", "err", err)
	}
	l.mu.Lock()
	l.mu.ops--
	l.mu.cond.Broadcast()
	l.mu.Unlock()
}

// decodeEntry decodes the entry stored under key k, which must be index want.
func decodeEntry(k, v []byte, want uint64) (*raftpb.Entry, error) {
	idx, err := parseEntryKey(k)
	if err != nil {
		return nil, err
	}
	if idx != want {
		return nil, fmt.Errorf("%w: expected entry %d, found %d", ErrCorrupt, want, idx)
	}
	e := &raftpb.Entry{}
	if err := proto.Unmarshal(v, e); err != nil {
		return nil, fmt.Errorf("%w: entry %d: %v", ErrCorrupt, idx, err)
	}
	if e.GetIndex() != idx {
		return nil, fmt.Errorf("%w: entry stored at %d says index %d", ErrCorrupt, idx, e.GetIndex())
	}
	return e, nil
}

// get reads one key. ok is false when it is absent.
func (l *Log) get(k []byte) (v []byte, ok bool, err error) {
	val, closer, err := l.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("raftlog: read %q: %w", k, err)
	}
	v = append([]byte(nil), val...)
	_ = closer.Close()
	return v, true, nil
}

// isEmpty reports whether the database holds no key at all.
func (l *Log) isEmpty() (bool, error) {
	it, err := l.db.NewIter(nil)
	if err != nil {
		return false, err
	}
	empty := !it.First()
	if err := it.Error(); err != nil {
		_ = it.Close()
		return false, err
	}
	return empty, it.Close()
}

func (l *Log) writeOpts() *pebble.WriteOptions {
	if l.opts.NoSync {
		return pebble.NoSync
	}
	return pebble.Sync
}
