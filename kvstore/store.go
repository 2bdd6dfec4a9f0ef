package kvstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/kelson-dev/kelson/internal/pebblelog"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// Store is a multi-version key-value store with etcd v3 semantics, on Pebble.
//
// Concurrency: any number of readers (Range, Lease, watch catch-up) run in
// parallel with one writer. Writers (Apply and each compaction step) are
// serialized by applyMu. Lock order: applyMu, then mu, then the watch hub's
// locks. mu is held only for in-memory work, never across a Pebble commit.
type Store struct {
	opts Options
	log  *slog.Logger
	db   *pebble.DB
	hub  *watchHub

	// applyMu serializes writers. The fields below it are owned by the
	// writer holding it.
	applyMu sync.Mutex
	// writeRev is the newest revision assigned by the writer; during an
	// Apply it runs ahead of currentRev by the not yet committed revisions.
	writeRev int64
	// pending holds the records written by the Apply in progress, so that
	// later requests of the same Apply read them before they are committed.
	pending map[revision]*mvccpb.KeyValue
	// failed is set when a commit failed: the in-memory state may then be
	// ahead of the disk, so every later write is refused until reopen.
	// Written with applyMu and mu both held; read under either.
	failed error

	// appliedIndex is the last raft index applied (atomic: read by anyone).
	appliedIndex atomic.Uint64
	// diskUsage is Pebble's disk usage, refreshed by the quota ticker.
	diskUsage atomic.Int64

	mu sync.RWMutex
	// Guarded by mu (writers also hold applyMu when changing them).
	index       *treeIndex
	leases      map[int64]*lease
	currentRev  int64 // newest committed revision: readers never look past it
	compactRev  int64 // reads below it fail with ErrCompacted
	compactDone int64
	compactCond *sync.Cond // signalled when compactDone changes, on failure or close
	closed      bool

	// readers counts reads holding Pebble iterators or snapshots outside
	// mu; Close waits for them before closing Pebble. Added to only under
	// mu (or applyMu) while !closed.
	readers sync.WaitGroup

	// stepCommitHook, when set (by tests, before the compactor runs), is
	// called by each compaction step after it has released applyMu and
	// before it commits its deletes.
	stepCommitHook func()

	compactKick chan struct{} // wakes the compactor (cap 1)
	stop        chan struct{} // closed by Close

	counters counters // Metrics

	wg sync.WaitGroup
}

// lease is the in-memory state of one lease; keys are the attached keys.
type lease struct {
	ttl, remaining int64
	keys           map[string]struct{}
}

// Open opens (or creates) the store in dir and rebuilds the key index from
// the history on disk. A compaction that was interrupted resumes in the
// background.
func Open(dir string, opts Options) (*Store, error) {
	opts.EnsureDefaults()
	if err := mkdirDurable(opts.FS, dir); err != nil {
		return nil, fmt.Errorf("kvstore: create %s: %w", dir, err)
	}
	cache := pebble.NewCache(opts.CacheBytes)
	defer cache.Unref()
	db, err := pebble.Open(dir, &pebble.Options{
		FS:                          opts.FS,
		Cache:                       cache,
		Logger:                      pebblelog.Logger{Log: opts.Logger, What: "store " + dir, Fatal: opts.Fatal},
		MemTableSize:                64 << 20,
		MemTableStopWritesThreshold: 4,
		L0CompactionThreshold:       4,
		L0StopWritesThreshold:       24,
		MaxConcurrentCompactions:    func() int { return 2 },
	})
	if err != nil {
		return nil, fmt.Errorf("kvstore: open %s: %w", dir, err)
	}
	s := &Store{
		opts:        opts,
		log:         opts.Logger,
		db:          db,
		index:       newTreeIndex(),
		leases:      make(map[int64]*lease),
		pending:     make(map[revision]*mvccpb.KeyValue),
		compactKick: make(chan struct{}, 1),
		stop:        make(chan struct{}),
	}
	s.compactCond = sync.NewCond(&s.mu)
	if err := s.load(); err != nil {
		db.Close()
		return nil, err
	}
	s.hub = newWatchHub(s, &s.opts)
	s.diskUsage.Store(int64(db.Metrics().DiskSpaceUsage()))
	s.wg.Add(2)
	go s.compactLoop()
	go s.quotaLoop()
	if s.compactDone < s.compactRev {
		s.kickCompactor()
	}
	return s, nil
}

// load reads the meta keys, leases and history into memory.
func (s *Store) load() error {
	metas := []struct {
		key []byte
		dst *int64
	}{{metaCurrentRev, &s.currentRev}, {metaCompactRev, &s.compactRev}, {metaCompactDone, &s.compactDone}}
	for _, m := range metas {
		v, err := s.getMeta(m.key)
		if err != nil {
			return err
		}
		*m.dst = v
	}
	applied, err := s.getMeta(metaAppliedIndex)
	if err != nil {
		return err
	}
	s.appliedIndex.Store(uint64(applied))
	if s.currentRev == 0 {
		s.currentRev = 1 // as etcd: a new store is at revision 1
	}
	s.writeRev = s.currentRev

	// Leases first: the history replay attaches keys to them.
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixLease}, UpperBound: []byte{prefixLease + 1}})
	if err != nil {
		return fmt.Errorf("kvstore: load leases: %w", err)
	}
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		if len(k) != leaseKeyLen {
			it.Close()
			return fmt.Errorf("%w: lease key %x", ErrCorrupt, k)
		}
		id := int64(binary.BigEndian.Uint64(k[1:]))
		ttl, rem, err := decodeLeaseRecord(id, it.Value())
		if err != nil {
			it.Close()
			return err
		}
		s.leases[id] = &lease{ttl: ttl, remaining: rem, keys: make(map[string]struct{})}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("kvstore: load leases: %w", err)
	}

	// History, in revision order.
	it, err = s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixRevision}, UpperBound: []byte{prefixRevision + 1}})
	if err != nil {
		return fmt.Errorf("kvstore: load history: %w", err)
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		rev, err := parseRevKey(it.Key())
		if err != nil {
			return err
		}
		if rev.Main > s.currentRev {
			// Written by a batch that also moved currentRev; cannot happen
			// unless the meta key was lost.
			return fmt.Errorf("%w: revision %d beyond current revision %d", ErrCorrupt, rev.Main, s.currentRev)
		}
		rec, err := decodeKVRecord(rev, it.Value())
		if err != nil {
			return err
		}
		ki := s.index.getOrCreate(rec.key)
		if rec.tombstone {
			ki.tombstone(rev)
			continue
		}
		ki.restore(rev, rec.create, rec.version, rec.leaseID)
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("kvstore: load history: %w", err)
	}
	// Count live keys and attach them to their leases.
	var live int64
	s.index.tree.Ascend(func(ki *keyIndex) bool {
		if ki.live() {
			live++
		}
		if ki.lease != 0 && ki.live() {
			if l := s.leases[ki.lease]; l != nil {
				l.keys[string(ki.key)] = struct{}{}
			}
		}
		return true
	})
	s.counters.liveKeys.Store(live)
	return nil
}

func (s *Store) getMeta(key []byte) (int64, error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("kvstore: read meta %s: %w", key[1:], err)
	}
	defer closer.Close()
	return decodeInt64(key, v)
}

// Close stops background work, ends every watch stream and closes Pebble.
// New calls fail with ErrClosed; in-flight readers and writers finish first
// (a Snapshot being streamed included). Close is idempotent.
func (s *Store) Close() error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.compactCond.Broadcast()
	s.mu.Unlock()
	close(s.stop)
	s.hub.close()
	// The compactor takes applyMu for each step; release it while waiting.
	s.applyMu.Unlock()
	s.wg.Wait()
	s.applyMu.Lock()
	s.readers.Wait()
	return s.db.Close()
}

// newReaderIterLocked opens an iterator for a read that continues after mu
// is released (mu held, store open); release it with closeReaderIter.
func (s *Store) newReaderIterLocked(o *pebble.IterOptions) (*pebble.Iterator, error) {
	it, err := s.db.NewIter(o)
	if err == nil {
		s.readers.Add(1)
	}
	return it, err
}

func (s *Store) closeReaderIter(it *pebble.Iterator) {
	it.Close()
	s.readers.Done()
}

// Rev returns the current (newest committed) revision.
func (s *Store) Rev() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.currentRev
}

// CompactRev returns the compacted revision (0 if never compacted).
func (s *Store) CompactRev() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.compactRev
}

// revisions implements historySource for the watch hub.
func (s *Store) revisions() (current, compacted int64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.currentRev, s.compactRev
}

// AppliedIndex returns the last raft index given to Apply and committed.
func (s *Store) AppliedIndex() uint64 { return s.appliedIndex.Load() }

// Size returns the store's disk usage in bytes, as last measured (refreshed
// about every 250ms).
func (s *Store) Size() int64 { return s.diskUsage.Load() }

// quotaLoop refreshes diskUsage until Close.
func (s *Store) quotaLoop() {
	defer s.wg.Done()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.diskUsage.Store(int64(s.db.Metrics().DiskSpaceUsage()))
		}
	}
}

func vfsExists(fs vfs.FS, path string) (bool, error) {
	_, err := fs.Stat(path)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return false, err
}

// Sync makes every write applied so far durable (Apply with sync=false
// leaves the latest ones in Pebble's unsynced WAL). raftnode calls it before
// dropping raft log entries that the store is then the only holder of.
func (s *Store) Sync() error {
	if err := s.db.LogData(nil, pebble.Sync); err != nil {
		return fmt.Errorf("kvstore: sync: %w", err)
	}
	return nil
}

// mkdirDurable creates dir if missing and syncs its parent, so that the new
// directory entry survives a power cut (Pebble syncs what is inside dir).
func mkdirDurable(fs vfs.FS, dir string) error {
	if ok, err := vfsExists(fs, dir); err != nil || ok {
		return err
	}
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	parent, err := fs.OpenDir(fs.PathDir(dir))
	if err != nil {
		return err
	}
	defer parent.Close()
	return parent.Sync()
}

// setFailedLocked records a fatal write-path error (applyMu held): writes are
// refused from now on, and waiters for compaction are released.
func (s *Store) setFailedLocked(err error) {
	s.mu.Lock()
	s.failed = err
	s.compactCond.Broadcast()
	s.mu.Unlock()
}
