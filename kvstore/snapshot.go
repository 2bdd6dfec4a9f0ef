package kvstore

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/cockroachdb/pebble"
	"github.com/kelson-dev/kelson/internal/pebblelog"
)

// Snapshot format, a stream:
//
//	"KELSNAP1"
//	repeated: uvarint len(key) > 0 | key | uvarint len(value) | value
//	uvarint 0                      (end of records)
//	crc32c of every byte before it, 4 bytes big endian
//
// The records are every Pebble key of the store (meta, history, leases) as
// of one point in time, in key order. The stream is produced from a Pebble
// snapshot while writers continue, and restored record by record in
// bounded batches: neither side holds the store in memory.

var snapshotMagic = []byte("KELSNAP1")

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// restoreBatchBytes is how much a restore buffers before committing.
const restoreBatchBytes = 4 << 20

// Snapshot writes a consistent point-in-time copy of the whole store to w.
func (s *Store) Snapshot(w io.Writer) error {
	s.applyMu.Lock() // a point between two Applies
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		s.applyMu.Unlock()
		return ErrClosed
	}
	snap := s.db.NewSnapshot()
	s.readers.Add(1) // closed is false and applyMu is held: Close waits
	s.applyMu.Unlock()
	defer s.readers.Done()
	defer snap.Close()

	it, err := snap.NewIter(nil)
	if err != nil {
		return fmt.Errorf("kvstore: snapshot: %w", err)
	}
	defer it.Close()
	crc := crc32.New(crcTable)
	bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 256<<10)
	var hdr []byte
	if _, err := bw.Write(snapshotMagic); err != nil {
		return fmt.Errorf("kvstore: snapshot: %w", err)
	}
	for it.First(); it.Valid(); it.Next() {
		hdr = binary.AppendUvarint(hdr[:0], uint64(len(it.Key())))
		bw.Write(hdr)
		bw.Write(it.Key())
		v, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("kvstore: snapshot: %w", err)
		}
		hdr = binary.AppendUvarint(hdr[:0], uint64(len(v)))
		bw.Write(hdr)
		if _, err := bw.Write(v); err != nil {
			return fmt.Errorf("kvstore: snapshot: %w", err)
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("kvstore: snapshot: %w", err)
	}
	bw.WriteByte(0)
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("kvstore: snapshot: %w", err)
	}
	_, err = w.Write(binary.BigEndian.AppendUint32(nil, crc.Sum32()))
	if err != nil {
		return fmt.Errorf("kvstore: snapshot: %w", err)
	}
	return nil
}

// ErrBadSnapshot: a snapshot stream is truncated, corrupt or not a snapshot.
var ErrBadSnapshot = errors.New("kvstore: bad snapshot")

// Restore creates a store in dir (which must not hold a store) from a stream
// written by Snapshot. On any error the partial store is removed. Open the
// store afterwards.
func Restore(dir string, r io.Reader, opts Options) error {
	_, err := restore(dir, r, opts, nil)
	return err
}

// RestoreAtIndex is Restore for a store that will run under a new raft log
// (a backup restored into a new cluster): the store records appliedIndex as
// its last applied raft index instead of the one in the stream, which
// belongs to the old cluster's log. It returns what the stream held.
func RestoreAtIndex(dir string, r io.Reader, appliedIndex uint64, opts Options) (SnapshotInfo, error) {
	return restore(dir, r, opts, &appliedIndex)
}

// restore writes the records of the stream into a new Pebble DB in dir, in
// batches of restoreBatchBytes; the last batch is committed (synced) only
// once the stream's checksum is verified. appliedIndex, if not nil,
// replaces the stream's applied index.
func restore(dir string, r io.Reader, opts Options, appliedIndex *uint64) (info SnapshotInfo, err error) {
	opts.EnsureDefaults()
	if ok, _ := vfsExists(opts.FS, dir); ok {
		if names, _ := opts.FS.List(dir); len(names) > 0 {
			return info, fmt.Errorf("kvstore: restore: %s is not empty; restore into a new directory", dir)
		}
	}
	if err := mkdirDurable(opts.FS, dir); err != nil {
		return info, fmt.Errorf("kvstore: restore: %w", err)
	}
	db, err := pebble.Open(dir, &pebble.Options{FS: opts.FS, Logger: pebblelog.Logger{Log: opts.Logger, What: "store " + dir, Fatal: opts.Fatal}})
	if err != nil {
		opts.FS.RemoveAll(dir)
		return info, fmt.Errorf("kvstore: restore: %w", err)
	}
	defer func() {
		if cerr := db.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("kvstore: restore: %w", cerr)
		}
		if err != nil {
			opts.FS.RemoveAll(dir)
		}
	}()
	b := db.NewBatch()
	defer func() { b.Close() }()
	info, err = scanSnapshot(r, func(key, val []byte) error {
		if appliedIndex != nil && bytes.Equal(key, metaAppliedIndex) {
			return nil // replaced below
		}
		b.Set(key, val, nil)
		if b.Len() >= restoreBatchBytes {
			if err := b.Commit(pebble.NoSync); err != nil {
				return fmt.Errorf("kvstore: restore: %w", err)
			}
			b.Close()
			b = db.NewBatch()
		}
		return nil
	})
	if err != nil {
		return info, err
	}
	if appliedIndex != nil {
		b.Set(metaAppliedIndex, appendInt64(nil, int64(*appliedIndex)), nil)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return info, fmt.Errorf("kvstore: restore: %w", err)
	}
	return info, db.Flush()
}

// HashKV returns a checksum of the history at revisions <= rev (0 = current)
// and the compacted revision it was computed under. Replicas that applied the
// same entries return the same hash for the same rev. It waits for pending
// space reclamation first, so that every replica hashes the same records.
func (s *Store) HashKV(rev int64) (hash uint32, compactRev int64, err error) {
	s.WaitCompaction()
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return 0, 0, ErrClosed
	}
	if s.failed != nil {
		err := s.failed
		s.mu.RUnlock()
		return 0, 0, err
	}
	rev, err = s.checkRevLocked(rev, s.currentRev)
	compactRev = s.compactRev
	var it *pebble.Iterator
	if err == nil {
		it, err = s.newReaderIterLocked(&pebble.IterOptions{
			LowerBound: []byte{prefixRevision},
			UpperBound: appendRevKey(nil, revision{Main: rev + 1}),
		})
	}
	s.mu.RUnlock()
	if err != nil {
		return 0, 0, err
	}
	defer s.closeReaderIter(it)
	h := crc32.New(crcTable)
	for it.First(); it.Valid(); it.Next() {
		h.Write(it.Key())
		h.Write(it.Value())
	}
	if err := it.Error(); err != nil {
		return 0, 0, fmt.Errorf("kvstore: hash: %w", err)
	}
	return h.Sum32(), compactRev, nil
}
