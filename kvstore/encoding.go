package kvstore

import (
	"encoding/binary"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// On-disk layout (one Pebble DB; the first byte of a key is its table):
//
//	'm' name                 -> meta value (see meta* below)
//	'r' main(8 BE) sub(8 BE) -> kv record of that revision (history)
//	'l' id(8 BE)             -> lease record
//
// Revision keys sort by (main, sub), so history is one ordered range and
// compaction and catch-up read it sequentially.
const (
	prefixMeta     = 'm'
	prefixRevision = 'r'
	prefixLease    = 'l'

	revKeyLen   = 17
	leaseKeyLen = 9
)

var (
	metaCurrentRev   = []byte("mcurrent_rev")   // int64: last committed main revision
	metaCompactRev   = []byte("mcompact_rev")   // int64: compacted revision (reads below fail)
	metaCompactDone  = []byte("mcompact_done")  // int64: compaction whose space reclamation finished
	metaAppliedIndex = []byte("mapplied_index") // uint64: last raft index applied
)

// revision identifies one change: Main is the transaction's revision, Sub
// the change's position inside it.
type revision struct {
	Main int64
	Sub  int64
}

func (a revision) less(b revision) bool {
	return a.Main < b.Main || (a.Main == b.Main && a.Sub < b.Sub)
}

// appendRevKey appends the Pebble key of rev to dst.
func appendRevKey(dst []byte, rev revision) []byte {
	dst = append(dst, prefixRevision)
	dst = binary.BigEndian.AppendUint64(dst, uint64(rev.Main))
	return binary.BigEndian.AppendUint64(dst, uint64(rev.Sub))
}

// parseRevKey decodes a key made by appendRevKey.
func parseRevKey(k []byte) (revision, error) {
	if len(k) != revKeyLen || k[0] != prefixRevision {
		return revision{}, fmt.Errorf("%w: revision key %x", ErrCorrupt, k)
	}
	return revision{
		Main: int64(binary.BigEndian.Uint64(k[1:9])),
		Sub:  int64(binary.BigEndian.Uint64(k[9:17])),
	}, nil
}

func leaseKey(id int64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefixLease}, uint64(id))
}

// kv record: flags(1) | uvarint len(key) | key | varint create | varint
// version | varint lease | value (rest). The mod revision is the record's
// own Pebble key. flagTombstone marks a delete; its record holds only the key.
const flagTombstone = 1

// appendKVRecord encodes a put of kv (its ModRevision is not stored).
func appendKVRecord(dst []byte, kv *mvccpb.KeyValue) []byte {
	dst = append(dst, 0)
	dst = binary.AppendUvarint(dst, uint64(len(kv.Key)))
	dst = append(dst, kv.Key...)
	dst = binary.AppendVarint(dst, kv.CreateRevision)
	dst = binary.AppendVarint(dst, kv.Version)
	dst = binary.AppendVarint(dst, kv.Lease)
	return append(dst, kv.Value...)
}

// appendTombstoneRecord encodes a delete of key.
func appendTombstoneRecord(dst []byte, key []byte) []byte {
	dst = append(dst, flagTombstone)
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	return append(dst, key...)
}

// decodedRecord is a kv record with its revision.
type decodedRecord struct {
	rev                      revision
	tombstone                bool
	key, value               []byte // alias the record bytes
	create, version, leaseID int64
}

// decodeKVRecord decodes rec stored under rev. Key and Value alias rec: copy
// them if rec is not owned by the caller (Pebble iterator memory is not).
func decodeKVRecord(rev revision, rec []byte) (decodedRecord, error) {
	d := decodedRecord{rev: rev}
	bad := func(what string) (decodedRecord, error) {
		return decodedRecord{}, fmt.Errorf("%w: record at revision %d/%d: %s", ErrCorrupt, rev.Main, rev.Sub, what)
	}
	if len(rec) < 1 || rec[0]&^flagTombstone != 0 {
		return bad("bad flags")
	}
	d.tombstone = rec[0]&flagTombstone != 0
	p := rec[1:]
	n, w := binary.Uvarint(p)
	if w <= 0 || n > uint64(len(p)-w) {
		return bad("bad key length")
	}
	p = p[w:]
	d.key = p[:n:n]
	p = p[n:]
	if d.tombstone {
		if len(p) != 0 {
			return bad("trailing bytes after tombstone")
		}
		return d, nil
	}
	for _, f := range []*int64{&d.create, &d.version, &d.leaseID} {
		v, w := binary.Varint(p)
		if w <= 0 {
			return bad("bad varint")
		}
		*f = v
		p = p[w:]
	}
	d.value = p
	return d, nil
}

// lease record: varint TTL | varint remaining TTL (0 = never checkpointed).
func appendLeaseRecord(dst []byte, ttl, remaining int64) []byte {
	dst = binary.AppendVarint(dst, ttl)
	return binary.AppendVarint(dst, remaining)
}

func decodeLeaseRecord(id int64, rec []byte) (ttl, remaining int64, err error) {
	ttl, w := binary.Varint(rec)
	if w <= 0 {
		return 0, 0, fmt.Errorf("%w: lease %d record", ErrCorrupt, id)
	}
	remaining, w2 := binary.Varint(rec[w:])
	if w2 <= 0 || w+w2 != len(rec) {
		return 0, 0, fmt.Errorf("%w: lease %d record", ErrCorrupt, id)
	}
	return ttl, remaining, nil
}

func appendInt64(dst []byte, v int64) []byte { return binary.BigEndian.AppendUint64(dst, uint64(v)) }

func decodeInt64(name, v []byte) (int64, error) {
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: meta %q has %d bytes", ErrCorrupt, name, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}
