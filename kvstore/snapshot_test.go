package kvstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// snapshotOf applies a lease, 20 puts over 5 keys (revisions 2..21) and a
// compaction at revision 16, at raft index 40; it returns the store and its
// snapshot.
func snapshotOf(t *testing.T, fs vfs.FS) (*Store, []byte) {
	t.Helper()
	s := openMem(t, fs)
	reqs := []*pb.InternalRaftRequest{{LeaseGrant: &pb.LeaseGrantRequest{ID: 9, TTL: 60}}}
	for i := 0; i < 20; i++ {
		reqs = append(reqs, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(fmt.Sprintf("k%d", i%5)), Value: []byte(fmt.Sprint(i))}})
	}
	reqs = append(reqs, &pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: 16}})
	for _, r := range s.Apply(40, reqs, false) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	s.WaitCompaction()
	var buf bytes.Buffer
	if err := s.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	return s, buf.Bytes()
}

func TestScanSnapshotDescribesTheStream(t *testing.T) {
	s, snap := snapshotOf(t, vfs.NewMem())
	// What follows the stream (etcdctl's padding and sha256) is not read.
	info, err := ScanSnapshot(bytes.NewReader(append(append([]byte(nil), snap...), make([]byte, 100)...)))
	if err != nil {
		t.Fatal(err)
	}
	want := SnapshotInfo{
		Hash:            binary.BigEndian.Uint32(snap[len(snap)-4:]),
		Revision:        s.Rev(),
		CompactRevision: 16,
		AppliedIndex:    40,
		Revisions:       10, // revisions 2..21; compacting at 16 keeps one of each key's three at or below it
		Leases:          1,
		Size:            int64(len(snap)),
	}
	// Records: the history, the lease and the meta records.
	if info.Records <= info.Revisions+info.Leases {
		t.Fatalf("records %d: want more than history and leases (the meta records)", info.Records)
	}
	want.Records = info.Records
	if info.Revision != 21 {
		t.Fatalf("revision %d, want 21 (20 puts after the initial revision 1)", info.Revision)
	}
	if info != want {
		t.Fatalf("ScanSnapshot:\n got %+v\nwant %+v", info, want)
	}
}

func TestScanSnapshotRefusesDamage(t *testing.T) {
	_, snap := snapshotOf(t, vfs.NewMem())
	for name, data := range map[string][]byte{
		"empty":       nil,
		"not a snap":  []byte("bbolt db, not Kelson"),
		"truncated":   snap[:len(snap)/2],
		"no checksum": snap[:len(snap)-4],
		"flipped bit": func() []byte { b := bytes.Clone(snap); b[len(b)/2] ^= 0x10; return b }(),
	} {
		if _, err := ScanSnapshot(bytes.NewReader(data)); !errors.Is(err, ErrBadSnapshot) {
			t.Errorf("%s: error %v, want ErrBadSnapshot", name, err)
		}
	}
}

func TestRestoreAtIndexReplacesTheAppliedIndex(t *testing.T) {
	fs := vfs.NewMem()
	s, snap := snapshotOf(t, fs)
	info, err := RestoreAtIndex("copy", bytes.NewReader(snap), 3, Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	if info.AppliedIndex != 40 || info.Revision != s.Rev() {
		t.Fatalf("info %+v: want the stream's applied index 40 and revision %d", info, s.Rev())
	}
	c, err := Open("copy", Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.AppliedIndex() != 3 {
		t.Fatalf("restored store's applied index %d, want 3", c.AppliedIndex())
	}
	h1, _, _ := s.HashKV(0)
	h2, _, _ := c.HashKV(0)
	if h1 != h2 || c.Rev() != s.Rev() || c.CompactRev() != s.CompactRev() || len(c.Leases()) != 1 {
		t.Fatalf("restored copy differs: rev %d/%d compact %d/%d", c.Rev(), s.Rev(), c.CompactRev(), s.CompactRev())
	}
	// The new log's entries after index 3 are applied, not skipped.
	res := c.Apply(4, []*pb.InternalRaftRequest{{Put: &pb.PutRequest{Key: []byte("new"), Value: []byte("v")}}}, false)
	if len(res) != 1 || res[0].Err != nil || c.Rev() != s.Rev()+1 {
		t.Fatalf("apply after restore: %v, rev %d", res, c.Rev())
	}

	if _, err := RestoreAtIndex("bad", bytes.NewReader(snap[:len(snap)-1]), 3, Options{FS: fs}); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("truncated: %v", err)
	}
	if ok, _ := vfsExists(fs, "bad"); ok {
		t.Fatal("a failed restore left its directory behind")
	}
}
