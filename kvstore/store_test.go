package kvstore

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// openMem opens a store on an in-memory filesystem; reopen with the same fs.
func openMem(t testing.TB, fs vfs.FS) *Store {
	t.Helper()
	s, err := Open("db", Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustPut(t testing.TB, s *Store, k, v string) *pb.PutResponse {
	t.Helper()
	r, err := s.Put(&pb.PutRequest{Key: []byte(k), Value: []byte(v)})
	if err != nil {
		t.Fatalf("put %q: %v", k, err)
	}
	return r
}

func get(t testing.TB, s *Store, k string, rev int64) *pb.RangeResponse {
	t.Helper()
	r, err := s.Range(&pb.RangeRequest{Key: []byte(k), Revision: rev})
	if err != nil {
		t.Fatalf("get %q@%d: %v", k, rev, err)
	}
	return r
}

func TestPutGetDeleteRevisions(t *testing.T) {
	s := openMem(t, vfs.NewMem())
	if s.Rev() != 1 {
		t.Fatalf("fresh store at rev %d, want 1", s.Rev())
	}
	if r := mustPut(t, s, "a", "1"); r.Header.Revision != 2 {
		t.Fatalf("first put rev %d", r.Header.Revision)
	}
	mustPut(t, s, "a", "2")
	r := get(t, s, "a", 0)
	kv := r.Kvs[0]
	if string(kv.Value) != "2" || kv.Version != 2 || kv.CreateRevision != 2 || kv.ModRevision != 3 || r.Header.Revision != 3 {
		t.Fatalf("got %v", r)
	}
	if r := get(t, s, "a", 2); string(r.Kvs[0].Value) != "1" {
		t.Fatalf("old rev: %v", r)
	}
	d, err := s.DeleteRange(&pb.DeleteRangeRequest{Key: []byte("a"), PrevKv: true})
	if err != nil || d.Deleted != 1 || string(d.PrevKvs[0].Value) != "2" || d.Header.Revision != 4 {
		t.Fatalf("delete: %v %v", d, err)
	}
	if d, _ := s.DeleteRange(&pb.DeleteRangeRequest{Key: []byte("a")}); d.Deleted != 0 || d.Header.Revision != 4 {
		t.Fatalf("delete of nothing bumped the revision: %v", d)
	}
	mustPut(t, s, "a", "3")
	r = get(t, s, "a", 0)
	if r.Kvs[0].Version != 1 || r.Kvs[0].CreateRevision != 5 {
		t.Fatalf("re-create: %v", r)
	}
	if _, err := s.Range(&pb.RangeRequest{Key: []byte("a"), Revision: 99}); !errors.Is(err, ErrFutureRev) {
		t.Fatalf("future rev: %v", err)
	}
}

func TestCompactAndReopen(t *testing.T) {
	fs := vfs.NewMem()
	s, err := Open("db", Options{FS: fs, CompactionBatch: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		mustPut(t, s, fmt.Sprintf("k%02d", i%10), fmt.Sprint(i))
		if i%7 == 0 {
			s.DeleteRange(&pb.DeleteRangeRequest{Key: []byte(fmt.Sprintf("k%02d", i%10))})
		}
	}
	rev := s.Rev()
	before, _ := s.Range(&pb.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l"), Revision: rev - 5})
	if err := s.Compact(rev - 5); err != nil {
		t.Fatal(err)
	}
	s.WaitCompaction()
	if _, err := s.Range(&pb.RangeRequest{Key: []byte("k00"), Revision: rev - 6}); !errors.Is(err, ErrCompacted) {
		t.Fatalf("read below compaction: %v", err)
	}
	after, err := s.Range(&pb.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l"), Revision: rev - 5})
	if err != nil {
		t.Fatal(err)
	}
	after.Header = before.Header
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("compaction changed a read at the compacted revision:\n%v\n%v", before, after)
	}
	if err := s.Compact(rev - 5); !errors.Is(err, ErrCompacted) {
		t.Fatalf("re-compact: %v", err)
	}
	if err := s.Compact(rev + 1); !errors.Is(err, ErrCompactFuture) {
		t.Fatalf("future compact: %v", err)
	}
	h1, _, err := s.HashKV(0)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := openMem(t, fs)
	if s2.Rev() != rev || s2.CompactRev() != rev-5 {
		t.Fatalf("reopen: rev %d compact %d", s2.Rev(), s2.CompactRev())
	}
	h2, _, _ := s2.HashKV(0)
	if h1 != h2 {
		t.Fatalf("hash changed across reopen")
	}
	after2, _ := s2.Range(&pb.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l"), Revision: rev - 5})
	after2.Header = before.Header
	if fmt.Sprint(before) != fmt.Sprint(after2) {
		t.Fatalf("reopen changed a read")
	}
}

func TestLeaseRevokeDeletesKeysInOneRevision(t *testing.T) {
	fs := vfs.NewMem()
	s := openMem(t, fs)
	if err := s.LeaseGrant(7, 10); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"x", "y", "z"} {
		if _, err := s.Put(&pb.PutRequest{Key: []byte(k), Lease: 7}); err != nil {
			t.Fatal(err)
		}
	}
	mustPut(t, s, "z", "unleased") // detaches z
	info, err := s.Lease(7)
	if err != nil || len(info.Keys) != 2 {
		t.Fatalf("lease info %v %v", info, err)
	}
	s.Close()
	s = openMem(t, fs)
	rev := s.Rev()
	if err := s.LeaseRevoke(7); err != nil {
		t.Fatal(err)
	}
	if s.Rev() != rev+1 {
		t.Fatalf("revoke took %d revisions", s.Rev()-rev)
	}
	if r := get(t, s, "x", 0); len(r.Kvs) != 0 {
		t.Fatal("x survived revoke")
	}
	if r := get(t, s, "z", 0); len(r.Kvs) != 1 {
		t.Fatal("z was deleted")
	}
	if err := s.LeaseRevoke(7); !errors.Is(err, ErrLeaseNotFound) {
		t.Fatalf("second revoke: %v", err)
	}
	if _, err := s.Put(&pb.PutRequest{Key: []byte("q"), Lease: 7}); !errors.Is(err, ErrLeaseNotFound) {
		t.Fatalf("put with revoked lease: %v", err)
	}
}

func TestApplyIsIdempotent(t *testing.T) {
	s := openMem(t, vfs.NewMem())
	req := []*pb.InternalRaftRequest{{Put: &pb.PutRequest{Key: []byte("a"), Value: []byte("1")}}}
	if res := s.Apply(5, req, true); res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	if res := s.Apply(5, req, true); res != nil {
		t.Fatal("replayed entry applied again")
	}
	if s.Rev() != 2 || s.AppliedIndex() != 5 {
		t.Fatalf("rev %d applied %d", s.Rev(), s.AppliedIndex())
	}
}

func TestSnapshotRestore(t *testing.T) {
	fs := vfs.NewMem()
	s := openMem(t, fs)
	for i := 0; i < 100; i++ {
		mustPut(t, s, fmt.Sprintf("k%d", i%13), fmt.Sprint(i))
	}
	s.LeaseGrant(3, 30)
	var buf bytes.Buffer
	if err := s.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	h1, _, _ := s.HashKV(0)
	if err := Restore("copy", bytes.NewReader(buf.Bytes()), Options{FS: fs}); err != nil {
		t.Fatal(err)
	}
	c, err := Open("copy", Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h2, _, _ := c.HashKV(0)
	if h1 != h2 || c.Rev() != s.Rev() || len(c.Leases()) != 1 {
		t.Fatalf("restored copy differs")
	}
	bad := append([]byte(nil), buf.Bytes()...)
	bad[len(bad)/2] ^= 1
	if err := Restore("bad", bytes.NewReader(bad), Options{FS: fs}); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("corrupt snapshot: %v", err)
	}
	if err := Restore("bad2", bytes.NewReader(buf.Bytes()[:len(buf.Bytes())-3]), Options{FS: fs}); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("truncated snapshot: %v", err)
	}
}

func TestTxnDuplicateAndPath(t *testing.T) {
	s := openMem(t, vfs.NewMem())
	put := func(k string) *pb.RequestOp {
		return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(k)}}}
	}
	if _, err := s.Txn(&pb.TxnRequest{Success: []*pb.RequestOp{put("a"), put("a")}}); !errors.Is(err, ErrDuplicateKey) {
		t.Fatalf("dup: %v", err)
	}
	nested := &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{Success: []*pb.RequestOp{put("b")}, Failure: []*pb.RequestOp{put("b")}}}}
	r, err := s.Txn(&pb.TxnRequest{Success: []*pb.RequestOp{put("a"), nested}})
	if err != nil || r.Header.Revision != 2 {
		t.Fatalf("then/else may write one key: %v %v", r, err)
	}
	if g := get(t, s, "b", 0); g.Kvs[0].ModRevision != 2 || g.Kvs[0].Version != 1 {
		t.Fatalf("b: %v", g)
	}
}

func TestQuotaRefusesPutsButNotDeletes(t *testing.T) {
	fs := vfs.NewMem()
	s, err := Open("db", Options{FS: fs, QuotaBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.diskUsage.Store(2) // past the quota, without waiting for the ticker
	if _, err := s.Put(&pb.PutRequest{Key: []byte("a")}); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("put past quota: %v", err)
	}
	if _, err := s.DeleteRange(&pb.DeleteRangeRequest{Key: []byte("a")}); err != nil {
		t.Fatalf("delete past quota: %v", err)
	}
	// Replicated entries are applied regardless: the proposer checked.
	if res := s.Apply(1, []*pb.InternalRaftRequest{{Put: &pb.PutRequest{Key: []byte("a")}}}, false); res[0].Err != nil {
		t.Fatalf("replicated put: %v", res[0].Err)
	}
}

func TestValidateRequestSentinels(t *testing.T) {
	rng := func(r *pb.RangeRequest) *pb.InternalRaftRequest { return &pb.InternalRaftRequest{Range: r} }
	inTxn := func(r *pb.RangeRequest) *pb.InternalRaftRequest {
		return &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: r}}}}}
	}
	for _, c := range []struct {
		name string
		req  *pb.InternalRaftRequest
		want error
	}{
		{"sort order", rng(&pb.RangeRequest{Key: []byte("a"), SortOrder: 7}), ErrInvalidSortOption},
		{"sort target in txn", inTxn(&pb.RangeRequest{Key: []byte("a"), SortTarget: -1}), ErrInvalidSortOption},
		{"empty key", rng(&pb.RangeRequest{}), ErrEmptyKey},
		{"nil", nil, ErrInvalidRequest},
		{"no operation", &pb.InternalRaftRequest{}, ErrInvalidRequest},
		{"too many ops", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Compare: make([]*pb.Compare, 3)}}, ErrTooManyOps},
	} {
		if err := ValidateRequest(c.req, 2); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	s := openMem(t, vfs.NewMem())
	if _, err := s.Range(&pb.RangeRequest{Key: []byte("a"), SortOrder: 7}); !errors.Is(err, ErrInvalidSortOption) {
		t.Errorf("Range with an unknown sort order: %v", err)
	}
}
