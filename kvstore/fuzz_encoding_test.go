package kvstore

// Fuzz targets for the on-disk encodings: revision keys, kv and lease
// records, and snapshot streams. Decoders see whatever a disk or a peer
// hands them, so on any input they must return a value or an error that
// wraps the package's sentinel, never panic.
//
//	go test -run XXX -fuzz FuzzRevKey ./kvstore/
//	go test -run XXX -fuzz FuzzKVRecord ./kvstore/
//	go test -run XXX -fuzz FuzzSnapshotRestore ./kvstore/

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

func FuzzRevKey(f *testing.F) {
	f.Add(int64(0), int64(0), int64(1), int64(0), []byte{}, []byte("r"))
	f.Add(int64(1), int64(0), int64(1), int64(1), []byte("prefix"), appendRevKey(nil, revision{Main: 7, Sub: 3}))
	f.Add(int64(255), int64(256), int64(256), int64(0), []byte{0xff}, []byte("r\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00"))
	f.Add(int64(math.MaxInt64), int64(math.MaxInt64), int64(-1), int64(math.MinInt64), []byte{}, bytes.Repeat([]byte{0xff}, 17))
	f.Add(int64(1)<<32, int64(5), int64(1)<<31, int64(1)<<40, []byte("m"), []byte("mcurrent_rev"))
	f.Fuzz(func(t *testing.T, main1, sub1, main2, sub2 int64, prefix, raw []byte) {
		// Round trip, also when appended after other bytes.
		a, b := revision{Main: main1, Sub: sub1}, revision{Main: main2, Sub: sub2}
		ka := appendRevKey(append([]byte(nil), prefix...), a)
		if !bytes.Equal(ka[:len(prefix)], prefix) || len(ka) != len(prefix)+revKeyLen {
			t.Fatalf("appendRevKey(%x, %v) = %x: prefix clobbered or wrong length", prefix, a, ka)
		}
		got, err := parseRevKey(ka[len(prefix):])
		if err != nil || got != a {
			t.Fatalf("parseRevKey(appendRevKey(%v)) = %v, %v", a, got, err)
		}
		// Key order is revision order, for the revisions the store makes.
		if a.Main >= 0 && a.Sub >= 0 && b.Main >= 0 && b.Sub >= 0 {
			kb := appendRevKey(nil, b)
			if c := bytes.Compare(ka[len(prefix):], kb); (c < 0) != a.less(b) || (c == 0) != (a == b) {
				t.Fatalf("key order %d of %v and %v disagrees with revision order", c, a, b)
			}
		}
		// Arbitrary bytes: a revision that encodes back to them, or ErrCorrupt.
		rev, err := parseRevKey(raw)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("parseRevKey(%x): error %v does not wrap ErrCorrupt", raw, err)
			}
			if len(raw) == revKeyLen && raw[0] == prefixRevision {
				t.Fatalf("parseRevKey(%x) rejected a well-formed key: %v", raw, err)
			}
			return
		}
		if re := appendRevKey(nil, rev); !bytes.Equal(re, raw) {
			t.Fatalf("parseRevKey(%x) = %v, which encodes as %x", raw, rev, re)
		}
	})
}

// fuzzKVSeeds are records of every kind, for the corpus.
func fuzzKVSeeds() [][]byte {
	return [][]byte{
		appendKVRecord(nil, &mvccpb.KeyValue{Key: []byte("a"), Value: []byte("1"), CreateRevision: 2, Version: 1}),
		appendKVRecord(nil, &mvccpb.KeyValue{Key: []byte("/registry/pods/default/web-0"), Value: bytes.Repeat([]byte{0xab}, 300), CreateRevision: 1 << 40, Version: 1 << 20, Lease: -1}),
		appendKVRecord(nil, &mvccpb.KeyValue{Key: []byte("k")}),
		appendTombstoneRecord(nil, []byte("a")),
		appendTombstoneRecord(nil, bytes.Repeat([]byte("x"), 200)),
		appendLeaseRecord(nil, 60, 0),
		appendLeaseRecord(nil, math.MaxInt64, math.MinInt64),
		{}, {0}, {1}, {2}, {0, 0x80}, {0, 5, 'a'}, {1, 1, 'a', 0}, {0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	}
}

func FuzzKVRecord(f *testing.F) {
	for i, raw := range fuzzKVSeeds() {
		f.Add(raw, []byte("key"), []byte("value"), int64(i), int64(i+1), int64(i*7), int64(i)-3, int64(i+2), uint8(i))
	}
	f.Add([]byte{}, []byte{}, []byte{}, int64(0), int64(0), int64(0), int64(0), int64(0), uint8(0))
	f.Add([]byte{0}, []byte("\x00\xff"), []byte(nil), int64(math.MinInt64), int64(math.MaxInt64), int64(-1), int64(1), int64(-1), uint8(255))
	f.Fuzz(func(t *testing.T, raw, key, value []byte, create, version, lease, ttl, remaining int64, prefixLen uint8) {
		rev := revision{Main: create + 1, Sub: version}
		prefix := bytes.Repeat([]byte{0xee}, int(prefixLen%16))

		// Arbitrary bytes: no panic; errors wrap ErrCorrupt; what decodes
		// re-encodes to a record that decodes the same.
		fuzzDecodeArbitrary(t, rev, raw)

		// Put round trip (the mod revision is the Pebble key, not stored).
		kv := &mvccpb.KeyValue{Key: key, Value: value, CreateRevision: create, Version: version, Lease: lease, ModRevision: rev.Main}
		rec := appendKVRecord(append([]byte(nil), prefix...), kv)
		if !bytes.Equal(rec[:len(prefix)], prefix) {
			t.Fatalf("appendKVRecord clobbered its dst prefix")
		}
		d, err := decodeKVRecord(rev, rec[len(prefix):])
		if err != nil || d.tombstone || d.rev != rev || !bytes.Equal(d.key, key) || !bytes.Equal(d.value, value) ||
			d.create != create || d.version != version || d.leaseID != lease {
			t.Fatalf("put %v: decoded %+v, %v", kv, d, err)
		}
		owned, err := decodeOwnedKV(rev, rec[len(prefix):])
		if err != nil || !bytes.Equal(owned.Key, key) || !bytes.Equal(owned.Value, value) || owned.CreateRevision != create ||
			owned.Version != version || owned.Lease != lease || owned.ModRevision != rev.Main {
			t.Fatalf("put %v: decodeOwnedKV %v, %v", kv, owned, err)
		}
		// The owned copy does not alias the record.
		for i := range rec {
			rec[i] ^= 0xff
		}
		if !bytes.Equal(owned.Key, key) || !bytes.Equal(owned.Value, value) {
			t.Fatalf("decodeOwnedKV aliases the record bytes")
		}

		// Tombstone round trip.
		rec = appendTombstoneRecord(append([]byte(nil), prefix...), key)
		d, err = decodeKVRecord(rev, rec[len(prefix):])
		if err != nil || !d.tombstone || !bytes.Equal(d.key, key) || d.value != nil {
			t.Fatalf("tombstone of %q: decoded %+v, %v", key, d, err)
		}
		if _, err := decodeOwnedKV(rev, rec[len(prefix):]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("decodeOwnedKV of a tombstone: %v, want ErrCorrupt", err)
		}
		if _, err := decodeKVRecord(rev, append(rec[len(prefix):], 0)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("tombstone with a trailing byte: %v, want ErrCorrupt", err)
		}

		// Lease round trip; a trailing byte or a truncation is corrupt.
		lrec := appendLeaseRecord(append([]byte(nil), prefix...), ttl, remaining)[len(prefix):]
		gotTTL, gotRem, err := decodeLeaseRecord(lease, lrec)
		if err != nil || gotTTL != ttl || gotRem != remaining {
			t.Fatalf("lease record (%d, %d): decoded (%d, %d), %v", ttl, remaining, gotTTL, gotRem, err)
		}
		if _, _, err := decodeLeaseRecord(lease, append(lrec, 0)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("lease record with a trailing byte: %v, want ErrCorrupt", err)
		}
		if _, _, err := decodeLeaseRecord(lease, lrec[:len(lrec)-1]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated lease record: %v, want ErrCorrupt", err)
		}
	})
}

// fuzzDecodeArbitrary checks the decoders on bytes from nowhere.
func fuzzDecodeArbitrary(t *testing.T, rev revision, raw []byte) {
	t.Helper()
	orig := append([]byte(nil), raw...)
	d, err := decodeKVRecord(rev, raw)
	if !bytes.Equal(raw, orig) {
		t.Fatalf("decodeKVRecord modified its input")
	}
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("decodeKVRecord(%x): error %v does not wrap ErrCorrupt", raw, err)
		}
	} else {
		// Key and value alias raw, so they must not be able to grow into
		// the bytes after them.
		if cap(d.key) != len(d.key) {
			t.Fatalf("decodeKVRecord(%x): key has spare capacity %d", raw, cap(d.key)-len(d.key))
		}
		var re []byte
		if d.tombstone {
			re = appendTombstoneRecord(nil, d.key)
		} else {
			re = appendKVRecord(nil, &mvccpb.KeyValue{Key: d.key, Value: d.value, CreateRevision: d.create, Version: d.version, Lease: d.leaseID})
		}
		d2, err := decodeKVRecord(rev, re)
		if err != nil || d2.tombstone != d.tombstone || !bytes.Equal(d2.key, d.key) || !bytes.Equal(d2.value, d.value) ||
			d2.create != d.create || d2.version != d.version || d2.leaseID != d.leaseID {
			t.Fatalf("decodeKVRecord(%x) = %+v re-encodes as %x, which decodes as %+v, %v", raw, d, re, d2, err)
		}
		if len(re) > len(raw) {
			t.Fatalf("decodeKVRecord(%x) = %+v re-encodes longer (%x): the decoder invented bytes", raw, d, re)
		}
	}
	if _, err := decodeOwnedKV(rev, raw); err != nil && !errors.Is(err, ErrCorrupt) {
		t.Fatalf("decodeOwnedKV(%x): error %v does not wrap ErrCorrupt", raw, err)
	}
	if _, _, err := decodeLeaseRecord(1, raw); err != nil && !errors.Is(err, ErrCorrupt) {
		t.Fatalf("decodeLeaseRecord(%x): error %v does not wrap ErrCorrupt", raw, err)
	}
}

// fuzzSnapshotOf returns a snapshot of a small store with history, a
// compaction, tombstones and leases.
func fuzzSnapshotOf(f *testing.F) []byte {
	s, err := Open("db", Options{FS: vfs.NewMem(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	reqs := []*pb.InternalRaftRequest{
		{LeaseGrant: &pb.LeaseGrantRequest{ID: 7, TTL: 30}},
		{Put: &pb.PutRequest{Key: []byte("a"), Value: []byte("1")}},
		{Put: &pb.PutRequest{Key: []byte("b"), Value: []byte("2"), Lease: 7}},
		{Put: &pb.PutRequest{Key: []byte("a"), Value: []byte("3")}},
		{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("a")}},
		{Compaction: &pb.CompactionRequest{Revision: 3}},
		{Put: &pb.PutRequest{Key: []byte("c"), Value: []byte("4")}},
		{LeaseCheckpoint: &pb.LeaseCheckpointRequest{Checkpoints: []*pb.LeaseCheckpoint{{ID: 7, Remaining_TTL: 12}}}},
	}
	for _, r := range s.Apply(1, reqs, false) {
		if r.Err != nil {
			f.Fatal(r.Err)
		}
	}
	s.WaitCompaction()
	var buf bytes.Buffer
	if err := s.Snapshot(&buf); err != nil {
		f.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzSnapshotRestore feeds Restore arbitrary streams. With framed set the
// input is the body of a snapshot (between the header and the checksum)
// and the target adds a valid header and checksum, so the fuzzer reaches
// past the checksum: Restore then stores arbitrary keys and values, and
// Open must either reject them with ErrCorrupt or serve reads.
func FuzzSnapshotRestore(f *testing.F) {
	snap := fuzzSnapshotOf(f)
	body := snap[len(snapshotMagic) : len(snap)-4]
	f.Add(snap, false)
	f.Add(body, true)
	f.Add(snap[:len(snap)-1], false)
	f.Add(snap[:len(snap)/2], false)
	f.Add(snapshotMagic, false)
	f.Add([]byte{}, false)
	f.Add([]byte{}, true)
	f.Add([]byte{0}, true)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, true)
	for _, kv := range [][2][]byte{
		{metaCurrentRev, []byte{1, 2, 3}},
		{metaCompactRev, appendInt64(nil, 5)},
		{appendRevKey(nil, revision{Main: 2}), []byte{7}},
		{appendRevKey(nil, revision{Main: 2}), appendTombstoneRecord(nil, []byte("a"))},
		{leaseKey(1), []byte{}},
		{[]byte("l\x00"), appendLeaseRecord(nil, 1, 1)},
		{[]byte("r\x01"), nil},
	} {
		rec := binary.AppendUvarint(nil, uint64(len(kv[0])))
		rec = append(rec, kv[0]...)
		rec = binary.AppendUvarint(rec, uint64(len(kv[1])))
		rec = append(rec, kv[1]...)
		f.Add(append(rec, 0), true)
		f.Add(append(append(append([]byte(nil), body[:len(body)-1]...), rec...), 0), true)
	}
	quiet := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, data []byte, framed bool) {
		if framed {
			stream := append(append([]byte(nil), snapshotMagic...), data...)
			data = binary.BigEndian.AppendUint32(stream, crc32.Checksum(stream, crcTable))
		}
		fs := vfs.NewMem()
		opts := Options{FS: fs, Logger: quiet}
		err := Restore("db", bytes.NewReader(data), opts)
		if err != nil {
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("Restore: error %v does not wrap ErrBadSnapshot", err)
			}
			if names, _ := fs.List("db"); len(names) > 0 {
				t.Fatalf("failed Restore left %v behind", names)
			}
			return
		}
		s, err := Open("db", opts)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open of a restored snapshot: error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		defer s.Close()
		// Whatever Open accepted must be readable without panics; reads
		// may report corruption it could not see while loading.
		if _, err := s.Range(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Range after restore: %v", err)
		}
		// And writable: the outcomes may be errors (a corrupt record is
		// only found when read), never panics or hangs.
		s.Apply(s.AppliedIndex()+1, []*pb.InternalRaftRequest{
			{Put: &pb.PutRequest{Key: []byte("a"), Value: []byte("x"), PrevKv: true}},
			{DeleteRange: &pb.DeleteRangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, PrevKv: true}},
			{LeaseRevoke: &pb.LeaseRevokeRequest{ID: 1}},
			{Compaction: &pb.CompactionRequest{Revision: s.Rev()}},
		}, false)
		if _, _, err := s.HashKV(0); err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrCompacted) && !errors.Is(err, ErrFutureRev) {
			t.Fatalf("HashKV after restore: %v", err)
		}
	})
}

// TestCorruptRecordDuringApply: a record that cannot be read while
// applying (bit rot here; an EIO takes the same path) must fail the request
// with ErrCorrupt and commit nothing of that Apply — apply.go's fail says
// "this Apply's batch is discarded" — so that a reopen replays the entry
// from the raft log. (Both cases committed the wrong writes before
// 7369650: the put wrote an empty value; the compare silently took the
// else branch and the store went on.)
func TestCorruptRecordDuringApply(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  *pb.InternalRaftRequest
	}{
		// The put needs the previous value (mustRead in the execution phase).
		{"put-ignore-value", &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("a"), IgnoreValue: true}}},
		// The compare needs the value (read in the path phase).
		{"txn-compare-value", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{
			Compare: []*pb.Compare{{Key: []byte("a"), Target: pb.Compare_VALUE, Result: pb.Compare_EQUAL, TargetUnion: &pb.Compare_Value{Value: []byte("old")}}},
			Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("b"), Value: []byte("then")}}}},
			Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("b"), Value: []byte("else")}}}},
		}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open("db", Options{FS: vfs.NewMem(), Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if r := s.Apply(1, []*pb.InternalRaftRequest{{Put: &pb.PutRequest{Key: []byte("a"), Value: []byte("old")}}}, true); r[0].Err != nil {
				t.Fatal(r[0].Err)
			}
			// Rot the record of a@2 behind the index's back.
			if err := s.db.Set(appendRevKey(nil, revision{Main: 2}), []byte{0xff}, pebble.Sync); err != nil {
				t.Fatal(err)
			}
			res := s.Apply(2, []*pb.InternalRaftRequest{tc.req}, true)
			if len(res) != 1 || !errors.Is(res[0].Err, ErrCorrupt) {
				t.Errorf("request reading a corrupt record: got %v, want an error wrapping ErrCorrupt", res)
			}
			if got := s.AppliedIndex(); got != 1 {
				t.Errorf("applied index %d after the failed Apply, want 1: the entry was recorded as applied, so no reopen will replay it", got)
			}
			if v, closer, err := s.db.Get(appendRevKey(nil, revision{Main: 3})); err == nil {
				t.Errorf("the failed Apply committed record %x at revision 3", v)
				closer.Close()
			}
		})
	}
}

// TestFailedStoreDoesNotBlockHashKV: once a failed read has stopped the
// store (it refuses writes until reopened, and so does the compactor),
// HashKV and WaitCompaction must not wait for a space reclamation that
// cannot finish before the reopen. The bound below is a liveness check
// for what takes milliseconds, not a timing assertion.
func TestFailedStoreDoesNotBlockHashKV(t *testing.T) {
	s, err := Open("db", Options{FS: vfs.NewMem(), Logger: slog.New(slog.DiscardHandler), CompactionBatch: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Many keys, one per compaction step: the compaction below is still
	// running when the next Apply fails the store.
	puts := make([]*pb.InternalRaftRequest, 5000)
	for i := range puts {
		puts[i] = &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: fmt.Appendf(nil, "k%05d", i), Value: []byte("v")}}
	}
	puts = append(puts, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("k00000"), Value: []byte("w")}})
	if r := s.Apply(1, puts, false); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	if err := s.db.Set(appendRevKey(nil, revision{Main: s.Rev()}), []byte{0xff}, pebble.NoSync); err != nil {
		t.Fatal(err)
	}
	r := s.Apply(2, []*pb.InternalRaftRequest{{Compaction: &pb.CompactionRequest{Revision: s.Rev()}}}, false)
	if r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	r = s.Apply(3, []*pb.InternalRaftRequest{{Put: &pb.PutRequest{Key: []byte("k00000"), IgnoreValue: true}}}, false)
	if !errors.Is(r[0].Err, ErrCorrupt) {
		t.Fatalf("put over a corrupt record: %v, want ErrCorrupt", r[0].Err)
	}
	s.mu.RLock()
	pending := s.compactDone < s.compactRev
	s.mu.RUnlock()
	if !pending {
		t.Skip("the compactor finished before the store failed; nothing to check")
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := s.HashKV(0)
		done <- err
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("HashKV on a failed store with an unfinished compaction did not return in 10s (WaitCompaction waits for a compactor that stopped)")
	}
}
