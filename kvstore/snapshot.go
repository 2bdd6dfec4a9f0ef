package kvstore

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"

	"github.com/cockroachdb/pebble"
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
func Restore(dir string, r io.Reader, opts Options) (err error) {
	opts.EnsureDefaults()
	if ok, _ := vfsExists(opts.FS, dir); ok {
		if names, _ := opts.FS.List(dir); len(names) > 0 {
			return fmt.Errorf("kvstore: restore: %s is not empty; restore into a new directory", dir)
		}
	}
	if err := mkdirDurable(opts.FS, dir); err != nil {
		return fmt.Errorf("kvstore: restore: %w", err)
	}
	db, err := pebble.Open(dir, &pebble.Options{FS: opts.FS, Logger: pebbleLogger{opts.Logger}})
	if err != nil {
		opts.FS.RemoveAll(dir)
		return fmt.Errorf("kvstore: restore: %w", err)
	}
	defer func() {
		if cerr := db.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("kvstore: restore: %w", cerr)
		}
		if err != nil {
			opts.FS.RemoveAll(dir)
		}
	}()
	crc := crc32.New(crcTable)
	br := &crcReader{r: bufio.NewReaderSize(r, 256<<10), crc: crc}
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != string(snapshotMagic) {
		return fmt.Errorf("%w: missing header", ErrBadSnapshot)
	}
	b := db.NewBatch()
	defer func() { b.Close() }()
	var key, val []byte
	for {
		klen, err := binary.ReadUvarint(br)
		if err != nil {
			return fmt.Errorf("%w: truncated: %v", ErrBadSnapshot, err)
		}
		if klen == 0 {
			break
		}
		if key, err = readN(br, key, klen); err != nil {
			return err
		}
		vlen, err := binary.ReadUvarint(br)
		if err != nil {
			return fmt.Errorf("%w: truncated: %v", ErrBadSnapshot, err)
		}
		if val, err = readN(br, val, vlen); err != nil {
			return err
		}
		b.Set(key, val, nil)
		if b.Len() >= restoreBatchBytes {
			if err := b.Commit(pebble.NoSync); err != nil {
				return fmt.Errorf("kvstore: restore: %w", err)
			}
			b.Close()
			b = db.NewBatch()
		}
	}
	want := crc.Sum32()
	var sum [4]byte
	if _, err := io.ReadFull(br.r, sum[:]); err != nil {
		return fmt.Errorf("%w: missing checksum", ErrBadSnapshot)
	}
	if binary.BigEndian.Uint32(sum[:]) != want {
		return fmt.Errorf("%w: checksum mismatch", ErrBadSnapshot)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("kvstore: restore: %w", err)
	}
	return db.Flush()
}

// maxSnapshotField bounds one key or value so a corrupt length cannot make
// Restore allocate without limit.
const maxSnapshotField = 1 << 30

func readN(r io.Reader, buf []byte, n uint64) ([]byte, error) {
	if n > maxSnapshotField {
		return nil, fmt.Errorf("%w: record of %d bytes", ErrBadSnapshot, n)
	}
	if uint64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("%w: truncated: %v", ErrBadSnapshot, err)
	}
	return buf, nil
}

// crcReader feeds what it reads into crc.
type crcReader struct {
	r   *bufio.Reader
	crc hash.Hash32
}

func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.crc.Write(p[:n])
	return n, err
}

func (c *crcReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.crc.Write([]byte{b})
	}
	return b, err
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
	if s.failedErr != nil {
		err := s.failedErr
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
