package raftlog

import (
	"encoding/binary"
	"fmt"
)

// On-disk layout. Every key starts with a one-byte tag so that the entries
// form one contiguous, index-ordered span:
//
//	'e' | index (8 bytes, big endian)  -> proto-encoded raftpb.Entry
//	's' | "version"                    -> format version (8 bytes, big endian)
//	's' | "hardstate"                  -> proto-encoded raftpb.HardState
//	's' | "snapshot"                   -> proto-encoded raftpb.Snapshot (metadata + small data)
//	's' | "trunc"                      -> index, term (8+8 bytes): the dummy entry
//	'u' | user key                     -> opaque value set by SetMeta
const (
	tagEntry = 'e'
	tagState = 's'
	tagMeta  = 'u'

	// formatVersion is written when a log is created and checked on open.
	formatVersion = 1
)

var (
	keyVersion   = []byte("sversion")
	keyHardState = []byte("shardstate")
	keySnapshot  = []byte("ssnapshot")
	keyTrunc     = []byte("strunc")

	// entriesLower and entriesUpper bound every entry key.
	entriesLower = []byte{tagEntry}
	entriesUpper = []byte{tagEntry + 1}
)

// entryKey is the key of the entry at index i.
func entryKey(i uint64) []byte {
	k := make([]byte, 9)
	k[0] = tagEntry
	binary.BigEndian.PutUint64(k[1:], i)
	return k
}

// entryKeyEnd is the exclusive upper bound of entry keys up to and including
// index i; it is valid for i == math.MaxUint64 too.
func entryKeyEnd(i uint64) []byte {
	if i == ^uint64(0) {
		return entriesUpper
	}
	return entryKey(i + 1)
}

// parseEntryKey returns the index of an entry key.
func parseEntryKey(k []byte) (uint64, error) {
	if len(k) != 9 || k[0] != tagEntry {
		return 0, fmt.Errorf("%w: malformed entry key %x", ErrCorrupt, k)
	}
	return binary.BigEndian.Uint64(k[1:]), nil
}

// metaKey is the key of the user meta key name.
func metaKey(name string) []byte {
	k := make([]byte, 1+len(name))
	k[0] = tagMeta
	copy(k[1:], name)
	return k
}

// trunc is the dummy entry at the compaction point: the last index that is no
// longer in the log, and its term. FirstIndex is index+1.
type trunc struct {
	index, term uint64
}

func (t trunc) encode() []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, t.index)
	binary.BigEndian.PutUint64(b[8:], t.term)
	return b
}

func decodeTrunc(b []byte) (trunc, error) {
	if len(b) != 16 {
		return trunc{}, fmt.Errorf("%w: truncation record has %d bytes, want 16", ErrCorrupt, len(b))
	}
	return trunc{index: binary.BigEndian.Uint64(b), term: binary.BigEndian.Uint64(b[8:])}, nil
}

func encodeUint64(v uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, v)
}
