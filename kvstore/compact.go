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
//     machine, and every put behind it waited that long). After the last
//     step, metaCompactDone is recorded; then, when the compaction deleted
//     many revisions, Pebble is asked to compact their key range (reclaim),
//     and only then is the compaction done for WaitCompaction.
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
	for !s.closed && s.failed == nil && s.compactDone < s.compactRev {
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
	var (
		cursor  []byte // first key of the next step; nil = start
		dropped droppedRange
	)
	for {
		select {
		case <-s.stop:
			return nil
		default:
		}
		next, err := s.compactStep(target, cursor, &dropped)
		if err != nil {
			return err
		}
		if next == nil {
			break
		}
		cursor = next
	}
	if err := s.recordCompactDone(target); err != nil {
		return err
	}
	// Done only once Pebble has freed the space too: WaitCompaction (and a
	// client's physical Compact) return after this.
	s.reclaim(dropped)
	s.mu.Lock()
	s.compactDone = target
	s.compactCond.Broadcast()
	s.mu.Unlock()
	return nil
}

// recordCompactDone records on disk that the revisions below target are
// deleted: a reopen does not compact again (it does not reclaim again
// either; Pebble then frees the space in its own time).
func (s *Store) recordCompactDone(target int64) error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	if s.failed != nil {
		return s.failed
	}
	if err := s.db.Set(metaCompactDone, appendInt64(nil, target), pebble.NoSync); err != nil {
		s.setFailedLocked(fmt.Errorf("%w: record compaction done, reopen the store: %v", ErrCorrupt, err))
		return s.failed
	}
	return nil
}

// droppedRange is what one compaction deleted from Pebble: how many
// revisions, the lowest and the highest.
type droppedRange struct {
	n      int64
	lo, hi revision
}

func (d *droppedRange) add(r revision) {
	if d.n == 0 || r.less(d.lo) {
		d.lo = r
	}
	if d.n == 0 || d.hi.less(r) {
		d.hi = r
	}
	d.n++
}

// reclaimMinRevisions is how many revisions a compaction must delete for
// reclaim to ask Pebble to compact their range.
const reclaimMinRevisions = 10000

// reclaim asks Pebble to compact the key range of the revisions a
// compaction deleted, once every step has committed. The deletes are point
// tombstones: left alone, they reach the data they delete (and free its
// space) only when Pebble's own compactions, driven by level sizes, happen
// to carry them down; with no further writes that may be never. A manual
// compaction of the range drops tombstones and data together now. It runs
// in the compactor goroutine, holding no lock: writers and readers go on.
// Pebble's manual compactions cannot be cancelled, so the range is compacted
// in reclaimSlices slices by revision, and Close (which waits for the
// compactor) waits for one slice at most, not for the whole range.
func (s *Store) reclaim(d droppedRange) {
	if d.n < reclaimMinRevisions {
		return
	}
	lo, hi := d.lo.Main, d.hi.Main+1 // compact [lo, hi) main revisions
	step := max((hi-lo+reclaimSlices-1)/reclaimSlices, 1)
	for from := lo; from < hi; from += step {
		select {
		case <-s.stop:
			return // Pebble reclaims the rest in its own time
		default:
		}
		start := appendRevKey(nil, revision{Main: from})
		end := appendRevKey(nil, revision{Main: min(from+step, hi)})
		if err := s.db.Compact(start, end, false); err != nil {
			s.log.Warn("kvstore: compacting the reclaimed range failed; Pebble reclaims it later by itself", "err", err)
			return
		}
	}
}

// reclaimSlices is how many pieces reclaim compacts the range in.
const reclaimSlices = 16

// compactStep compacts up to CompactionBatch keys from cursor and returns
// the key to continue from, or nil when the index is done.
func (s *Store) compactStep(target int64, cursor []byte, dropped *droppedRange) ([]byte, error) {
	b := s.db.NewBatch()
	defer b.Close()
	next, err := s.compactIndexStep(b, target, cursor, dropped)
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
func (s *Store) compactIndexStep(b *pebble.Batch, target int64, cursor []byte, dropped *droppedRange) ([]byte, error) {
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
		dropped.add(r)
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
