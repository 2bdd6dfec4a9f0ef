package kvstore

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// TestCompactStepCommitOutsideApplyMu: while a compaction step commits its
// Pebble deletes, writers are not held up — a put completes while the
// step's commit is blocked. (The commit used to run under applyMu: every
// put waited for it.) Once released, the compaction finishes and its
// result is what it was before.
func TestCompactStepCommitOutsideApplyMu(t *testing.T) {
	fs := vfs.NewMem()
	s, err := Open("db", Options{FS: fs, CompactionBatch: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 40; i++ {
		mustPut(t, s, fmt.Sprintf("k%02d", i%10), fmt.Sprint(i))
	}
	rev := s.Rev()

	entered, release := make(chan struct{}), make(chan struct{})
	first := true
	s.stepCommitHook = func() { // compactor goroutine only
		if first {
			first = false
			close(entered)
			<-release
		}
	}
	if err := s.Compact(rev); err != nil {
		t.Fatal(err)
	}
	<-entered
	put := make(chan error, 1)
	go func() {
		_, err := s.Put(&pb.PutRequest{Key: []byte("k00"), Value: []byte("during")})
		put <- err
	}()
	select {
	case err := <-put:
		if err != nil {
			t.Fatalf("put during the compaction step's commit: %v", err)
		}
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("a put waited for a compaction step's Pebble commit (the step holds applyMu across it)")
	}
	close(release)
	s.WaitCompaction()

	if _, err := s.Range(&pb.RangeRequest{Key: []byte("k00"), Revision: rev - 1}); !errors.Is(err, ErrCompacted) {
		t.Fatalf("read below the compaction: %v, want ErrCompacted", err)
	}
	r, err := s.Range(&pb.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l")})
	if err != nil || r.Count != 10 || string(r.Kvs[0].Value) != "during" || string(r.Kvs[9].Value) != "39" {
		t.Fatalf("after the compaction: %v, %v", r, err)
	}
	// Every superseded revision is gone from Pebble, not only the index:
	// 10 live keys at or below rev, plus the put made during the step.
	it, err := s.db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for it.First(); it.Valid(); it.Next() {
		if it.Key()[0] == prefixRevision {
			n++
		}
	}
	it.Close()
	if n != 11 {
		t.Fatalf("%d revision records in Pebble after the compaction, want 11", n)
	}
}

// TestCompactReclaimsPebbleSpace: a compaction that deletes many revisions
// leaves no table space to them once WaitCompaction returns — Pebble was
// asked to compact their range — rather than point tombstones sitting
// above the data until Pebble's own compactions get to it.
func TestCompactReclaimsPebbleSpace(t *testing.T) {
	s, err := Open("db", Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	val := string(make([]byte, 100))
	for i := 0; i < 2*reclaimMinRevisions; i++ {
		mustPut(t, s, fmt.Sprintf("k%03d", i%100), val)
	}
	if err := s.db.Flush(); err != nil { // the history into tables
		t.Fatal(err)
	}
	tables := func() (n int64) {
		for _, l := range s.db.Metrics().Levels {
			n += l.Size
		}
		return n
	}
	before := tables()
	if err := s.Compact(s.Rev()); err != nil {
		t.Fatal(err)
	}
	s.WaitCompaction()
	// 100 live records of ~120 bytes remain of 20,000.
	if after := tables(); after > before/20 {
		t.Fatalf("tables hold %d bytes after the compaction, %d before: the deleted history's space was not reclaimed", after, before)
	}
	if r := get(t, s, "k000", 0); r.Count != 1 || len(r.Kvs[0].Value) != 100 {
		t.Fatalf("live key after the compaction: %v", r)
	}
}

func TestDroppedRange(t *testing.T) {
	var d droppedRange
	for _, r := range []revision{{5, 1}, {3, 0}, {9, 2}, {3, 1}, {9, 0}} {
		d.add(r)
	}
	if d.n != 5 || d.lo != (revision{3, 0}) || d.hi != (revision{9, 2}) {
		t.Fatalf("droppedRange %+v", d)
	}
}
