package kvstore

import (
	"fmt"

	"github.com/cockroachdb/pebble"
)

// Auxiliary records: a table of opaque key/value records beside the key
// space, for state that must live and die with the store — applied at a
// raft index, carried by Snapshot and Restore, rebuilt on Open by its owner
// — but that kvstore does not interpret. raftnode keeps etcd's auth state
// (users, roles, the auth revision) there.
//
// They are not in the revision history: no revision, no watch event, not
// in HashKV, and compaction leaves them alone.
//
//	'a' key -> value

// prefixAux is the table of auxiliary records.
const prefixAux = 'a'

// AuxWrite is one change to the auxiliary records: Value is set under Key,
// or Key is removed when Delete is set.
type AuxWrite struct {
	Key    []byte
	Value  []byte
	Delete bool
}

// ApplyAux commits writes to the auxiliary records together with the
// applied raft index, in one Pebble batch (synced if sync is set). As Apply,
// it is idempotent by index: when 0 < index <= AppliedIndex() nothing is
// written and it returns false. index 0 writes without touching the
// applied index. It returns true when the writes were committed.
func (s *Store) ApplyAux(index uint64, writes []AuxWrite, sync bool) (bool, error) {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	if index != 0 && index <= s.appliedIndex.Load() {
		return false, nil
	}
	if err := s.writableLocked(); err != nil {
		return false, err
	}
	b := s.db.NewBatch()
	defer b.Close()
	for _, w := range writes {
		if len(w.Key) == 0 {
			return false, fmt.Errorf("%w: empty auxiliary key", ErrInvalidRequest)
		}
		k := append([]byte{prefixAux}, w.Key...)
		if w.Delete {
			b.Delete(k, nil)
		} else {
			b.Set(k, w.Value, nil)
		}
	}
	if index != 0 {
		b.Set(metaAppliedIndex, appendInt64(nil, int64(index)), nil)
	}
	if b.Empty() {
		return true, nil
	}
	opt := pebble.NoSync
	if sync {
		opt = pebble.Sync
	}
	if err := b.Commit(opt); err != nil {
		s.setFailedLocked(fmt.Errorf("%w: commit failed, reopen the store: %v", ErrCorrupt, err))
		s.log.Error("kvstore: commit failed; refusing further writes until reopen", "err", err)
		return false, s.failed
	}
	if index != 0 {
		s.appliedIndex.Store(index)
	}
	return true, nil
}

// AuxScan calls fn with every auxiliary record whose key starts with
// prefix, in key order (the keys without the table byte). key and value are
// valid only during the call. An error from fn stops the scan and is
// returned.
func (s *Store) AuxScan(prefix []byte, fn func(key, value []byte) error) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	lower := append([]byte{prefixAux}, prefix...)
	upper := prefixEnd(lower)
	it, err := s.newReaderIterLocked(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	s.mu.RUnlock()
	if err != nil {
		return fmt.Errorf("kvstore: scan auxiliary records: %w", err)
	}
	defer s.closeReaderIter(it)
	for it.First(); it.Valid(); it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("kvstore: scan auxiliary records: %w", err)
		}
		if err := fn(it.Key()[1:], v); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("kvstore: scan auxiliary records: %w", err)
	}
	return nil
}

// prefixEnd is the smallest key after every key starting with p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
