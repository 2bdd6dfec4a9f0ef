package raftlog

import (
	"fmt"
	"math"

	"github.com/cockroachdb/pebble"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Save persists what one raft Ready asks to be made durable, in one synced
// batch, applied in this order:
//
//  1. snap, unless empty (index 0): it becomes the latest snapshot, the log
//     is cut to the snapshot's index and term, and every stored entry is
//     dropped (raft restores a snapshot only when its log does not match
//     it). raft.ErrSnapOutOfDate if it is not newer than the current one.
//  2. ents, unless empty: entries at or below the compaction point are
//     skipped; the rest are written and every stored entry after the last
//     of them (a conflicting suffix) is dropped. They must be contiguous and
//     must not leave a gap after the last index (ErrInvalidEntries).
//  3. hs, unless empty (raft.IsEmptyHardState).
//
// Either all of it is durable when Save returns nil (except a hard state
// whose only change is the commit index, which is written but not synced,
// as raft.MustSync allows), or (on error) none of it
// is visible. A failed commit leaves the log unusable (ErrFailed): reopen it.
//
// Save keeps references to the entries for its cache; as raft requires, the
// caller must not modify them afterwards.
func (l *Log) Save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot) error {
	hasHS := !raft.IsEmptyHardState(hs)
	hasSnap := !raft.IsEmptySnap(snap)
	if !hasHS && !hasSnap && len(ents) == 0 {
		return nil
	}
	if err := checkContiguous(ents); err != nil {
		return err
	}
	// Encode before taking the writer slot.
	// All entries go into one buffer (one allocation per Save, not per
	// entry); vals[i] is entry i's part of it.
	vals := make([][]byte, len(ents))
	sizes := make([]uint64, len(ents))
	total := 0
	for i, e := range ents {
		sizes[i] = uint64(proto.Size(e))
		total += int(sizes[i])
	}
	buf := make([]byte, total)
	off := 0
	for i, e := range ents {
		end := off + int(sizes[i])
		v, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(buf[off:off:end], e)
		if err != nil {
			return fmt.Errorf("raftlog: encode entry %d: %w", e.GetIndex(), err)
		}
		if len(v) != end-off {
			// Marshal appended past the reserved room (the entry changed
			// since Size): v is a copy, still correct on its own.
			sizes[i] = uint64(len(v))
		}
		vals[i], off = v, end
	}
	var hsVal, snapVal []byte
	var err error
	if hasHS {
		if hsVal, err = proto.Marshal(hs); err != nil {
			return fmt.Errorf("raftlog: encode hard state: %w", err)
		}
	}
	if hasSnap {
		snap = proto.Clone(snap).(*raftpb.Snapshot)
		snap = raftpb.EnsureSnapshot(snap)
		if snapVal, err = proto.Marshal(snap); err != nil {
			return fmt.Errorf("raftlog: encode snapshot: %w", err)
		}
	}

	cur, err := l.acquireWriter()
	if err != nil {
		return err
	}
	next := cur
	b := l.db.NewBatch()
	defer b.Close()
	var dirtyLo, dirtyHi uint64
	if hasSnap {
		md := snap.GetMetadata()
		if ci := cur.snapshot.GetMetadata().GetIndex(); ci != 0 && ci >= md.GetIndex() {
			l.releaseWriter()
			return raft.ErrSnapOutOfDate
		}
		t := trunc{index: md.GetIndex(), term: md.GetTerm()}
		if err := firstErr(
			b.Set(keySnapshot, snapVal, nil),
			b.Set(keyTrunc, t.encode(), nil),
			b.DeleteRange(entriesLower, entriesUpper, nil),
		); err != nil {
			l.releaseWriter()
			return fmt.Errorf("raftlog: build batch: %w", err)
		}
		next.snapshot, next.trunc, next.lastIndex = snap, t, t.index
		dirtyLo, dirtyHi = 0, math.MaxUint64
	}
	// Skip what is already compacted.
	skip := 0
	for skip < len(ents) && ents[skip].GetIndex() <= next.trunc.index {
		skip++
	}
	ents, vals, sizes = ents[skip:], vals[skip:], sizes[skip:]
	if len(ents) > 0 {
		first := ents[0].GetIndex()
		if first > next.lastIndex+1 {
			l.releaseWriter()
			return fmt.Errorf("%w: entries start at %d but the log ends at %d", ErrInvalidEntries, first, next.lastIndex)
		}
		for i, e := range ents {
			if err := b.Set(entryKey(e.GetIndex()), vals[i], nil); err != nil {
				l.releaseWriter()
				return fmt.Errorf("raftlog: build batch: %w", err)
			}
		}
		last := ents[len(ents)-1].GetIndex()
		if next.lastIndex > last {
			if err := b.DeleteRange(entryKey(last+1), entryKeyEnd(next.lastIndex), nil); err != nil {
				l.releaseWriter()
				return fmt.Errorf("raftlog: build batch: %w", err)
			}
		}
		next.lastIndex = last
		if dirtyLo == dirtyHi {
			dirtyLo, dirtyHi = first, math.MaxUint64
		}
	}
	if hasHS {
		if err := b.Set(keyHardState, hsVal, nil); err != nil {
			l.releaseWriter()
			return fmt.Errorf("raftlog: build batch: %w", err)
		}
		next.hardState = proto.Clone(hs).(*raftpb.HardState)
	}
	// A Ready that only moves the commit index needs no fsync (raft.MustSync):
	// after a crash raft learns the commit index again from the leader.
	// Pebble's WAL keeps order, so the next synced write covers it anyway.
	wo := l.writeOpts()
	if !hasSnap && len(ents) == 0 && !raft.MustSync(hs, cur.hardState, 0) {
		wo = pebble.NoSync
	}
	n := uint64(b.Len())
	err = l.commit(b, next, wo, dirtyLo, dirtyHi, func(c *tailCache) {
		if hasSnap {
			c.reset()
		}
		if len(ents) > 0 {
			c.truncateFrom(ents[0].GetIndex())
			c.append(ents, sizes)
		}
	})
	if err != nil {
		return err
	}
	l.metrics.saves.Add(1)
	l.metrics.savedEntries.Add(uint64(len(ents)))
	l.metrics.savedBytes.Add(n)
	return nil
}

// Compact drops the entries up to and including index, keeping index's term
// as the term of the compaction point (FirstIndex becomes index+1). Call it
// after a snapshot covering index has been made. It returns raft.ErrCompacted
// if index is at or below the current compaction point and wraps
// raft.ErrUnavailable if index is past the last entry.
func (l *Log) Compact(index uint64) error {
	cur, err := l.acquireWriter()
	if err != nil {
		return err
	}
	switch {
	case index <= cur.trunc.index:
		l.releaseWriter()
		return raft.ErrCompacted
	case index > cur.lastIndex:
		l.releaseWriter()
		return fmt.Errorf("raftlog: compact %d: past the last index %d: %w", index, cur.lastIndex, raft.ErrUnavailable)
	}
	// Term does not wait for the writer slot, only for dirty ranges, and
	// none is set while we hold the slot without committing.
	term, err := l.Term(index)
	if err != nil {
		l.releaseWriter()
		return err
	}
	t := trunc{index: index, term: term}
	b := l.db.NewBatch()
	defer b.Close()
	if err := firstErr(
		b.DeleteRange(entriesLower, entryKeyEnd(index), nil),
		b.Set(keyTrunc, t.encode(), nil),
	); err != nil {
		l.releaseWriter()
		return fmt.Errorf("raftlog: build batch: %w", err)
	}
	next := cur
	next.trunc = t
	return l.commit(b, next, l.writeOpts(), 0, index+1, func(c *tailCache) { c.dropBefore(index + 1) })
}

// CreateSnapshot records a snapshot of the applied state at index: its
// metadata (index, the term of index, cs) and data, which should be small (a
// descriptor: Kelson streams snapshot bodies separately). A nil cs keeps the
// ConfState of the previous snapshot. It returns raft.ErrSnapOutOfDate if
// index is not newer than the current snapshot, raft.ErrCompacted if index
// has been compacted away and wraps raft.ErrUnavailable if it is past the
// last entry. The log is not compacted: call Compact for that.
func (l *Log) CreateSnapshot(index uint64, cs *raftpb.ConfState, data []byte) (*raftpb.Snapshot, error) {
	cur, err := l.acquireWriter()
	if err != nil {
		return nil, err
	}
	switch {
	case index <= cur.snapshot.GetMetadata().GetIndex():
		l.releaseWriter()
		return nil, raft.ErrSnapOutOfDate
	case index > cur.lastIndex:
		l.releaseWriter()
		return nil, fmt.Errorf("raftlog: snapshot at %d: past the last index %d: %w", index, cur.lastIndex, raft.ErrUnavailable)
	case index < cur.trunc.index:
		l.releaseWriter()
		return nil, raft.ErrCompacted
	}
	term, err := l.Term(index)
	if err != nil {
		l.releaseWriter()
		return nil, err
	}
	if cs == nil {
		cs = cur.snapshot.GetMetadata().GetConfState()
	}
	snap := raftpb.EnsureSnapshot(&raftpb.Snapshot{
		Data: append([]byte(nil), data...),
		Metadata: &raftpb.SnapshotMetadata{
			Index:     new(index),
			Term:      new(term),
			ConfState: proto.Clone(raftpb.EnsureConfState(cs)).(*raftpb.ConfState),
		},
	})
	v, err := proto.Marshal(snap)
	if err != nil {
		l.releaseWriter()
		return nil, fmt.Errorf("raftlog: encode snapshot: %w", err)
	}
	b := l.db.NewBatch()
	defer b.Close()
	if err := b.Set(keySnapshot, v, nil); err != nil {
		l.releaseWriter()
		return nil, fmt.Errorf("raftlog: build batch: %w", err)
	}
	next := cur
	next.snapshot = snap
	if err := l.commit(b, next, l.writeOpts(), 0, 0, nil); err != nil {
		return nil, err
	}
	return proto.Clone(snap).(*raftpb.Snapshot), nil
}

// SetMeta durably stores value under key, beside the log: small opaque
// records such as the cluster ID, the member ID or the membership. It is
// independent of the writer slot and of Save's batches.
func (l *Log) SetMeta(key string, value []byte) error {
	return l.writeMeta(key, func(b *pebble.Batch) error { return b.Set(metaKey(key), value, nil) })
}

// DeleteMeta durably removes key; removing an absent key is not an error.
func (l *Log) DeleteMeta(key string) error {
	return l.writeMeta(key, func(b *pebble.Batch) error { return b.Delete(metaKey(key), nil) })
}

// Meta returns a copy of the value stored under key, or ErrNotFound.
func (l *Log) Meta(key string) ([]byte, error) {
	if err := l.beginOp(); err != nil {
		return nil, err
	}
	defer l.endOp()
	v, ok, err := l.get(metaKey(key))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	return v, nil
}

func (l *Log) writeMeta(key string, op func(b *pebble.Batch) error) error {
	if err := l.beginOp(); err != nil {
		return err
	}
	defer l.endOp()
	b := l.db.NewBatch()
	defer b.Close()
	if err := op(b); err != nil {
		return fmt.Errorf("raftlog: meta %q: %w", key, err)
	}
	if err := b.Commit(l.writeOpts()); err != nil {
		l.mu.Lock()
		l.mu.failed = err
		l.mu.Unlock()
		return fmt.Errorf("raftlog: meta %q: %w", key, err)
	}
	return nil
}

// acquireWriter waits for the writer slot and returns the current state,
// which no one else can change until releaseWriter or commit.
func (l *Log) acquireWriter() (state, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		if err := l.usableLocked(); err != nil {
			return state{}, err
		}
		if !l.mu.writer {
			break
		}
		l.mu.cond.Wait()
	}
	l.mu.writer = true
	return l.mu.st, nil
}

// releaseWriter gives up the writer slot without writing.
func (l *Log) releaseWriter() {
	l.mu.Lock()
	l.mu.writer = false
	l.mu.cond.Broadcast()
	l.mu.Unlock()
}

// commit writes b (synced unless Options.NoSync) while readers of the entries
// in [dirtyLo, dirtyHi) wait, then installs next as the state, lets
// updateCache adjust the cache, and releases the writer slot. The lock is not
// held during the write.
func (l *Log) commit(b *pebble.Batch, next state, wo *pebble.WriteOptions, dirtyLo, dirtyHi uint64, updateCache func(*tailCache)) error {
	l.mu.Lock()
	l.mu.dirtyLo, l.mu.dirtyHi = dirtyLo, dirtyHi
	l.mu.Unlock()

	err := b.Commit(wo)

	l.mu.Lock()
	defer l.mu.Unlock()
	defer l.mu.cond.Broadcast()
	l.mu.dirtyLo, l.mu.dirtyHi = 0, 0
	l.mu.writer = false
	if err != nil {
		// Pebble may or may not have applied the batch: stop guessing.
		l.mu.failed = err
		l.mu.cache.reset()
		l.log.Error("raft log write failed; the log refuses further work until reopened", "err", err)
		return fmt.Errorf("raftlog: commit: %w", err)
	}
	l.mu.st = next
	if updateCache != nil {
		updateCache(&l.mu.cache)
	}
	return nil
}

// beginOp counts an operation that uses db, so Close waits for it.
func (l *Log) beginOp() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(); err != nil {
		return err
	}
	l.mu.ops++
	return nil
}

func (l *Log) endOp() {
	l.mu.Lock()
	l.mu.ops--
	l.mu.cond.Broadcast()
	l.mu.Unlock()
}

// checkContiguous rejects nil entries, index 0 and gaps within ents.
func checkContiguous(ents []*raftpb.Entry) error {
	for i, e := range ents {
		if e == nil {
			return fmt.Errorf("%w: entry %d of %d is nil", ErrInvalidEntries, i, len(ents))
		}
		if i == 0 {
			if e.GetIndex() == 0 {
				return fmt.Errorf("%w: entry index 0", ErrInvalidEntries)
			}
			continue
		}
		if prev := ents[i-1].GetIndex(); e.GetIndex() != prev+1 {
			return fmt.Errorf("%w: entry %d follows entry %d", ErrInvalidEntries, e.GetIndex(), prev)
		}
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
