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
