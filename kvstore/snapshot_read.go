package kvstore

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
)

// SnapshotInfo describes a snapshot stream (see Snapshot for the format):
// what `kelson snapshot status` prints and what a restore found.
type SnapshotInfo struct {
	// Hash is the stream's CRC-32C checksum, its last 4 bytes.
	Hash uint32
	// Revision is the store's current revision when the snapshot was taken.
	Revision int64
	// CompactRevision is the store's compacted revision then.
	CompactRevision int64
	// AppliedIndex is the last raft index the store had applied, in the
	// log of the cluster it was taken from.
	AppliedIndex uint64
	// Records counts every record: meta, history and lease records (as
	// etcd's snapshot status counts every bbolt key).
	Records int
	// Revisions counts the history records (one per change kept), Leases
	// the lease records.
	Revisions, Leases int
	// Size is the stream's length in bytes, checksum included.
	Size int64
}

// ScanSnapshot reads a snapshot stream to its checksum without storing it,
// verifies the checksum and describes the stream. It stops at the end of the
// snapshot's own format: bytes that follow (the padding and sha256 of a file
// saved by etcdctl) are not read. A truncated or corrupt stream gives an
// error wrapping ErrBadSnapshot.
func ScanSnapshot(r io.Reader) (SnapshotInfo, error) {
	return scanSnapshot(r, func(_, _ []byte) error { return nil })
}

// scanSnapshot reads the stream record by record, calling fn with each
// record (key and val are valid only during the call), then verifies the
// checksum. fn may have been called for records of a stream that turns out
// to be corrupt: the caller must discard what it did with them on error.
func scanSnapshot(r io.Reader, fn func(key, val []byte) error) (SnapshotInfo, error) {
	var info SnapshotInfo
	crc := crc32.New(crcTable)
	br := &crcReader{r: bufio.NewReaderSize(r, 256<<10), crc: crc}
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != string(snapshotMagic) {
		return info, fmt.Errorf("%w: missing header: not a Kelson snapshot (a snapshot saved from etcd is a bbolt file, which Kelson cannot read)", ErrBadSnapshot)
	}
	// Meta values are decoded only once the checksum vouches for them.
	metas := map[string][]byte{}
	var key, val []byte
	for {
		klen, err := binary.ReadUvarint(br)
		if err != nil {
			return info, fmt.Errorf("%w: truncated: %v", ErrBadSnapshot, err)
		}
		if klen == 0 {
			break
		}
		if key, err = readN(br, key, klen); err != nil {
			return info, err
		}
		vlen, err := binary.ReadUvarint(br)
		if err != nil {
			return info, fmt.Errorf("%w: truncated: %v", ErrBadSnapshot, err)
		}
		if val, err = readN(br, val, vlen); err != nil {
			return info, err
		}
		info.Records++
		switch key[0] {
		case prefixRevision:
			info.Revisions++
		case prefixLease:
			info.Leases++
		case prefixMeta:
			for _, m := range [][]byte{metaCurrentRev, metaCompactRev, metaAppliedIndex} {
				if bytes.Equal(key, m) {
					metas[string(m)] = bytes.Clone(val)
				}
			}
		}
		if err := fn(key, val); err != nil {
			return info, err
		}
	}
	want := crc.Sum32()
	var sum [4]byte
	if _, err := io.ReadFull(br.r, sum[:]); err != nil {
		return info, fmt.Errorf("%w: missing checksum (truncated)", ErrBadSnapshot)
	}
	if binary.BigEndian.Uint32(sum[:]) != want {
		return info, fmt.Errorf("%w: checksum mismatch", ErrBadSnapshot)
	}
	info.Hash = want
	info.Size = br.n + int64(len(sum))
	for name, dst := range map[string]*int64{string(metaCurrentRev): &info.Revision, string(metaCompactRev): &info.CompactRevision} {
		if v, ok := metas[name]; ok {
			d, err := decodeInt64([]byte(name), v)
			if err != nil {
				return info, fmt.Errorf("%w: %v", ErrBadSnapshot, err)
			}
			*dst = d
		}
	}
	if v, ok := metas[string(metaAppliedIndex)]; ok {
		d, err := decodeInt64(metaAppliedIndex, v)
		if err != nil {
			return info, fmt.Errorf("%w: %v", ErrBadSnapshot, err)
		}
		info.AppliedIndex = uint64(d)
	}
	if info.Revision == 0 {
		info.Revision = 1 // as Open: a store without writes is at revision 1
	}
	return info, nil
}

// maxSnapshotField bounds one key or value so a corrupt length cannot make
// Restore allocate without limit.
const maxSnapshotField = 1 << 30

// readN reads a record field of n bytes (n > 0 for keys: a zero length ends
// the records) into buf, reusing its memory.
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

// crcReader feeds what it reads into crc and counts it.
type crcReader struct {
	r   *bufio.Reader
	crc hash.Hash32
	n   int64
}

func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.crc.Write(p[:n])
	c.n += int64(n)
	return n, err
}

func (c *crcReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.crc.Write([]byte{b})
		c.n++
	}
	return b, err
}
