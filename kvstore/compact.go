package kvstore

import (
	"fmt"

	"github.com/cockroachdb/pebble"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// Compaction happens in two parts.
//
//  1. Apply of a compaction request (fast, part of the replicated state):
//     checks the revision, records it under metaCompactRev in the Apply's
//     batch and, once committed, makes it the compacted revision: reads below
//     it fail with ErrCompacted from then on.
//  2. The compactor goroutine reclaims the space: it walks the key index in
//     steps of Options.CompactionBatch keys; each step holds applyMu (writers
//     read the index without mu, so it must exclude them) and mu while it
//     drops the superseded revisions from the index and gathers their Pebble
//     deletes in a batch, then releases both and commits the batch, unsynced.
//     Writers thus wait only for the in-memory part of a step, never for its
//     Pebble commit (a 1000-key step's commit took up to ~80ms on a busy
//     machine, and every put behind it waited that long). The last step
//     records metaCompactDone, after every step's batch has committed.
//
// Committing a step's deletes after releasing applyMu is safe: the deleted
// records are at revisions <= the compacted revision, which no writer
// writes again, and which nothing resolves once the index has dropped them
// (reads below the compacted revision fail with ErrCompacted). A Snapshot
// taken between a step's index change and its commit holds records the
// index no longer has; the store restored from it rebuilds its index from
// those records and, as compactDone < compactRev there, compacts again.
//
// A crash in between is harmless: on open the index is rebuilt from what is
// left on disk and, when compactDone < compactRev, the compactor runs again
// (keyIndex.compact is idempotent).

func (a *applier) compact(rev int64) Result {
	s := a.s
	compacted := a.compacted()
	switch {
	case rev > s.writeRev:
		return Result{Err: fmt.Errorf("%w: %d > current %d", ErrCompactFuture, rev, s.writeRev)}
	case rev <= compacted:
		return Result{Err: fmt.Errorf("%w: %d <= compacted %d", ErrCompacted, rev, compacted)}
	}
	a.compactTo = rev
	a.batch.Set(metaCompactRev, appendInt64(nil, rev), nil)
	return Result{Resp: &pb.CompactionResponse{Header: &pb.ResponseHeader{Revision: s.writeRev}}}
}

func (s *Store) kickCompactor() {
	select {
	case s.compactKick <- struct{}{}:
	default:
	}
}

// WaitCompaction blocks until the space of the latest compaction has been
// reclaimed, or the store is closed or failed (then compaction resumes only
// after a reopen).
func (s *Store) WaitCompaction() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.closed && s.failedErr == nil && s.compactDone < s.compactRev {
		s.compactCond.Wait()
	}
}

func (s *Store) compactLoop() {
	defer s.wg.Done()
	for {
		select {
		case <-s.stop:
			return
		case <-s.compactKick:
		}
		if err := s.runCompaction(); err != nil {
			s.log.Error("kvstore: compaction failed; it resumes on the next compaction or reopen", "err", err)
		}
	}
}

// runCompaction reclaims the space up to the compacted revision current at
// its start; a newer compaction kicks it again.
func (s *Store) runCompaction() error {
	s.mu.RLock()
	target, done := s.compactRev, s.compactDone
	s.mu.RUnlock()
	if done >= target {
		return nil
	}
	var cursor []byte // first key of the next step; nil = start
	for {
		select {
		case <-s.stop:
			return nil
		default:
		}
		next, err := s.compactStep(target, cursor)
		if err != nil {
			return err
		}
		if next == nil {
			break
		}
		cursor = next
	}
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	if s.failed != nil {
		return s.failed
	}
	if err := s.db.Set(metaCompactDone, appendInt64(nil, target), pebble.NoSync); err != nil {
		s.setFailedLocked(fmt.Errorf("%w: record compaction done, reopen the store: %v", ErrCorrupt, err))
		return s.failed
	}
	s.mu.Lock()
	s.compactDone = target
	s.compactCond.Broadcast()
	s.mu.Unlock()
	return nil
}

// compactStep compacts up to CompactionBatch keys from cursor and returns
// the key to continue from, or nil when the index is done.
func (s *Store) compactStep(target int64, cursor []byte) ([]byte, error) {
	b := s.db.NewBatch()
	defer b.Close()
	next, err := s.compactIndexStep(b, target, cursor)
	if err != nil {
		return nil, err
	}
	// applyMu is released: writers go on while the deletes are committed.
	if s.stepCommitHook != nil {
		s.stepCommitHook()
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		s.applyMu.Lock()
		defer s.applyMu.Unlock()
		s.setFailedLocked(fmt.Errorf("%w: compaction commit failed, reopen the store: %v", ErrCorrupt, err))
		return nil, s.failed
	}
	return next, nil
}

// compactIndexStep drops the revisions below target of up to
// CompactionBatch keys from cursor from the index, with applyMu and mu
// held, and adds their Pebble deletes to b. It returns the key to continue
// from, or nil when the index is done.
func (s *Store) compactIndexStep(b *pebble.Batch, target int64, cursor []byte) ([]byte, error) {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	if s.failed != nil {
		return nil, s.failed
	}
	var (
		keyBuf []byte
		empty  []*keyIndex
		next   []byte
		n      int
	)
	drop := func(r revision) {
		keyBuf = appendRevKey(keyBuf[:0], r)
		b.Delete(keyBuf, nil)
	}
	s.mu.Lock()
	visit := func(ki *keyIndex) bool {
		if n == s.opts.CompactionBatch {
			next = ki.key
			return false
		}
		n++
		if ki.compact(target, drop) {
			empty = append(empty, ki)
		}
		return true
	}
	if cursor == nil {
		s.index.tree.Ascend(visit)
	} else {
		s.index.tree.AscendGreaterOrEqual(&keyIndex{key: cursor}, visit)
	}
	for _, ki := range empty {
		s.index.delete(ki)
	}
	s.mu.Unlock()
	// The index no longer points at the dropped revisions, and readers
	// opened their Pebble iterators before this point or resolve only
	// revisions still indexed, so deleting them from now on is safe.
	if next != nil {
		next = append([]byte(nil), next...)
	}
	return next, nil
}
