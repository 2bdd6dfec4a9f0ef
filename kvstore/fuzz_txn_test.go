package kvstore

// Fuzz targets for the apply path. The fuzzer's bytes are decoded as a
// protobuf request (bytes that do not decode are skipped) and applied to a
// small store on an in-memory filesystem. Whatever the bytes, the store must
// not panic, every error must be one of the package's sentinels, and the
// store must stay usable (reads work, it closes and reopens at the same
// revision). When the request is well formed in the model's sense
// (fuzzModelDomain) the answer must also match the reference model.
//
//	go test -run '^$' -fuzz FuzzApplyRequest -fuzztime 60s ./kvstore/
//	go test -run '^$' -fuzz FuzzTxnRequest   -fuzztime 60s ./kvstore/
//
// Without -fuzz, `go test` runs the seed corpus below (and testdata/fuzz/
// if a failure was ever saved there).

import (
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
)

// fuzzSentinels are the errors a request may fail with.
var fuzzSentinels = []error{
	ErrCompacted, ErrFutureRev, ErrCompactFuture, ErrNoSpace, ErrKeyNotFound,
	ErrEmptyKey, ErrValueProvided, ErrLeaseProvided, ErrDuplicateKey,
	ErrTooManyOps, ErrLeaseNotFound, ErrLeaseExists, ErrLeaseInvalid,
	ErrInvalidRequest, ErrClosed, ErrCorrupt, ErrWatcherNotFound,
	ErrWatchIDExists, ErrInvalidSortOption,
}

func fuzzIsSentinel(err error) bool {
	for _, s := range fuzzSentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// fuzzSetup is the history every fuzz input starts from, applied to the
// store and the model alike: a few keys (one re-created, one under a lease),
// a second lease, and a compaction, so that reads at compacted, old, current
// and future revisions, compares and lease checks all have something to hit.
// Revisions: 2 a, 3 b, 4 a/1 (lease 1), 5 del b, 6 b, 7 c; compacted at 3.
var fuzzSetup = []*pb.InternalRaftRequest{
	{LeaseGrant: &pb.LeaseGrantRequest{ID: 1, TTL: 60}},
	{LeaseGrant: &pb.LeaseGrantRequest{ID: 2, TTL: 30}},
	{Put: &pb.PutRequest{Key: []byte("a"), Value: []byte("x")}},
	{Put: &pb.PutRequest{Key: []byte("b"), Value: []byte("y")}},
	{Put: &pb.PutRequest{Key: []byte("a/1"), Value: []byte("z"), Lease: 1}},
	{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("b")}},
	{Put: &pb.PutRequest{Key: []byte("b"), Value: []byte("yy")}},
	{Put: &pb.PutRequest{Key: []byte("c"), Value: nil}},
	{Compaction: &pb.CompactionRequest{Revision: 3}},
}

// fuzzOpen opens a store on a fresh MemFS and applies fuzzSetup to it and
// to a model.
func fuzzOpen(t *testing.T) (*refHarness, *refModel) {
	t.Helper()
	h := &refHarness{fs: vfs.NewMem(), dir: "/kvstore-fuzz"}
	h.opts = Options{FS: h.fs, CompactionBatch: 2}
	s, err := Open(h.dir, h.opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	h.s = s
	m := newRefModel(0)
	want, _ := m.Apply(1, fuzzSetup)
	got := s.Apply(1, fuzzSetup, false)
	for i := range want {
		if msg := refCheck(want[i], got[i].Resp, got[i].Err); msg != "" {
			h.close()
			t.Fatalf("setup request %d: %s", i, msg)
		}
	}
	return h, m
}

// fuzzCheckUsable: after any request the store still answers reads, its
// counters did not go backwards, and it reopens at the same revision.
func fuzzCheckUsable(t *testing.T, h *refHarness, revBefore int64) {
	t.Helper()
	rev := h.s.Rev()
	if rev < revBefore {
		t.Fatalf("Rev() went back from %d to %d", revBefore, rev)
	}
	all := &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}
	before, err := h.s.Range(all)
	if err != nil {
		t.Fatalf("Range(all) after the request: %v", err)
	}
	compact := h.s.CompactRev()
	if err := h.reopen(); err != nil {
		t.Fatalf("%v", err)
	}
	if got := h.s.Rev(); got != rev {
		t.Fatalf("Rev() = %d after reopen, was %d", got, rev)
	}
	if got := h.s.CompactRev(); got != compact {
		t.Fatalf("CompactRev() = %d after reopen, was %d", got, compact)
	}
	after, err := h.s.Range(all)
	if err != nil {
		t.Fatalf("Range(all) after reopen: %v", err)
	}
	if !proto.Equal(before, after) {
		t.Fatalf("reopen changed the data:\n%s", refDiff(refMultiline(before), refMultiline(after)))
	}
}

// fuzzModelDomain reports whether the model speaks for req: every oneof
// set, enums known, a compare's operand matching its target, no negative
// revision, limit or filter. Outside it the store may reject the request
// (ErrInvalidRequest) or read it as etcd would; only the generic properties
// are checked.
func fuzzModelDomain(req *pb.InternalRaftRequest) bool {
	n := 0
	for _, set := range []bool{req.Range != nil, req.Put != nil, req.DeleteRange != nil, req.Txn != nil, req.Compaction != nil,
		req.LeaseGrant != nil, req.LeaseRevoke != nil, req.LeaseCheckpoint != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return false
	}
	if !proto.Equal(req, &pb.InternalRaftRequest{Range: req.Range, Put: req.Put, DeleteRange: req.DeleteRange, Txn: req.Txn,
		Compaction: req.Compaction, LeaseGrant: req.LeaseGrant, LeaseRevoke: req.LeaseRevoke, LeaseCheckpoint: req.LeaseCheckpoint}) {
		return false // other fields (auth, membership, header...) set
	}
	switch {
	case req.Txn != nil:
		return fuzzTxnDomain(req.Txn)
	case req.Range != nil:
		return fuzzRangeDomain(req.Range)
	case req.LeaseCheckpoint != nil:
		for _, cp := range req.LeaseCheckpoint.Checkpoints {
			if cp == nil {
				return false
			}
		}
	}
	return true
}

func fuzzRangeDomain(r *pb.RangeRequest) bool {
	if r == nil || r.Revision < 0 || r.Limit < 0 || r.MinModRevision < 0 || r.MaxModRevision < 0 ||
		r.MinCreateRevision < 0 || r.MaxCreateRevision < 0 {
		return false
	}
	_, okOrder := pb.RangeRequest_SortOrder_name[int32(r.SortOrder)]
	_, okTarget := pb.RangeRequest_SortTarget_name[int32(r.SortTarget)]
	return okOrder && okTarget
}

func fuzzTxnDomain(t *pb.TxnRequest) bool {
	for _, c := range t.Compare {
		if c == nil {
			return false
		}
		var ok bool
		switch c.TargetUnion.(type) {
		case *pb.Compare_Version:
			ok = c.Target == pb.Compare_VERSION
		case *pb.Compare_CreateRevision:
			ok = c.Target == pb.Compare_CREATE
		case *pb.Compare_ModRevision:
			ok = c.Target == pb.Compare_MOD
		case *pb.Compare_Value:
			ok = c.Target == pb.Compare_VALUE
		case *pb.Compare_Lease:
			ok = c.Target == pb.Compare_LEASE
		}
		if _, known := pb.Compare_CompareResult_name[int32(c.Result)]; !ok || !known {
			return false
		}
	}
	for _, ops := range [][]*pb.RequestOp{t.Success, t.Failure} {
		for _, op := range ops {
			switch r := op.GetRequest().(type) {
			case *pb.RequestOp_RequestRange:
				if !fuzzRangeDomain(r.RequestRange) {
					return false
				}
			case *pb.RequestOp_RequestPut:
				if r.RequestPut == nil {
					return false
				}
			case *pb.RequestOp_RequestDeleteRange:
				if r.RequestDeleteRange == nil {
					return false
				}
			case *pb.RequestOp_RequestTxn:
				if r.RequestTxn == nil || !fuzzTxnDomain(r.RequestTxn) {
					return false
				}
			default:
				return false
			}
		}
	}
	return true
}

// fuzzCheckResult checks one store answer: a sentinel error, or a response
// of the type the request asks for; and the model's answer when in domain.
func fuzzCheckResult(t *testing.T, req proto.Message, res Result, want *refResult) {
	t.Helper()
	if res.Err != nil {
		if !fuzzIsSentinel(res.Err) {
			t.Fatalf("error %q (%T) is not a kvstore sentinel\nrequest: %s", res.Err, res.Err, refText(req))
		}
	} else if res.Resp == nil {
		t.Fatalf("neither Resp nor Err set\nrequest: %s", refText(req))
	}
	if want != nil {
		if msg := refCheck(*want, res.Resp, res.Err); msg != "" {
			t.Fatalf("store and model disagree\nrequest: %s\n%s", refText(req), msg)
		}
	}
}

func fuzzMarshal(f *testing.F, m proto.Message) {
	b, err := proto.Marshal(m)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
}

func fuzzSeedTxn() *pb.TxnRequest {
	nested := &pb.TxnRequest{
		Compare: []*pb.Compare{{Key: []byte("a"), Target: pb.Compare_MOD, Result: pb.Compare_LESS, TargetUnion: &pb.Compare_ModRevision{ModRevision: 5}}},
		Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("n"), Value: []byte("1"), Lease: 2}}}},
		Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte("n"), RangeEnd: []byte{0}, PrevKv: true}}}},
	}
	return &pb.TxnRequest{
		Compare: []*pb.Compare{
			{Key: []byte("b"), Target: pb.Compare_VERSION, Result: pb.Compare_EQUAL, TargetUnion: &pb.Compare_Version{Version: 1}},
			{Key: []byte("a"), RangeEnd: []byte("b"), Target: pb.Compare_VALUE, Result: pb.Compare_NOT_EQUAL, TargetUnion: &pb.Compare_Value{Value: []byte("q")}},
		},
		Success: []*pb.RequestOp{
			{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("a"), PrevKv: true, IgnoreValue: true}}},
			{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, SortOrder: pb.RangeRequest_DESCEND, SortTarget: pb.RangeRequest_MOD, Limit: 2}}},
			{Request: &pb.RequestOp_RequestTxn{RequestTxn: nested}},
		},
		Failure: []*pb.RequestOp{
			{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("b"), Revision: 4}}},
			{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte("a"), RangeEnd: []byte("c")}}},
		},
	}
}

func FuzzApplyRequest(f *testing.F) {
	txn := fuzzSeedTxn()
	for _, r := range []*pb.InternalRaftRequest{
		{Txn: txn},
		{Put: &pb.PutRequest{Key: []byte("a"), Value: []byte("v"), Lease: 1, PrevKv: true}},
		{Put: &pb.PutRequest{Key: []byte("c"), IgnoreValue: true, IgnoreLease: true}},
		{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, PrevKv: true}},
		{Compaction: &pb.CompactionRequest{Revision: 5}},
		{Compaction: &pb.CompactionRequest{Revision: 2}},
		{LeaseGrant: &pb.LeaseGrantRequest{ID: 3, TTL: 10}},
		{LeaseRevoke: &pb.LeaseRevokeRequest{ID: 1}},
		{LeaseCheckpoint: &pb.LeaseCheckpointRequest{Checkpoints: []*pb.LeaseCheckpoint{{ID: 2, Remaining_TTL: 7}}}},
		{Range: &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: 4}},
		{Txn: &pb.TxnRequest{Success: []*pb.RequestOp{{}}}}, // empty op
		{Put: &pb.PutRequest{Key: []byte("x")}, DeleteRange: &pb.DeleteRangeRequest{Key: []byte("x")}},
		{},
	} {
		fuzzMarshal(f, r)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req := &pb.InternalRaftRequest{}
		if err := proto.Unmarshal(data, req); err != nil {
			return
		}
		h, m := fuzzOpen(t)
		defer h.close()
		revBefore := h.s.Rev()
		var want *refResult
		if fuzzModelDomain(req) {
			w, _ := m.Apply(2, []*pb.InternalRaftRequest{req})
			want = &w[0]
		}
		res := h.s.Apply(2, []*pb.InternalRaftRequest{proto.Clone(req).(*pb.InternalRaftRequest)}, false)
		if len(res) != 1 {
			t.Fatalf("Apply returned %d results for 1 request\nrequest: %s", len(res), refText(req))
		}
		fuzzCheckResult(t, req, res[0], want)
		if want != nil {
			if msg := refCheckCounters(h, m); msg != "" {
				t.Fatalf("request: %s\n%s", refText(req), msg)
			}
		}
		// Applying index 2 again is a replay: nothing happens.
		rev := h.s.Rev()
		if again := h.s.Apply(2, []*pb.InternalRaftRequest{req}, false); again != nil {
			t.Fatalf("replayed index 2 returned %d results, want nil", len(again))
		}
		if h.s.Rev() != rev {
			t.Fatalf("replayed index 2 changed Rev() from %d to %d", rev, h.s.Rev())
		}
		fuzzCheckUsable(t, h, revBefore)
		if want != nil {
			if msg := refCheckAll(h, m); msg != "" {
				t.Fatalf("after reopen\nrequest: %s\n%s", refText(req), msg)
			}
		}
	})
}

func FuzzTxnRequest(f *testing.F) {
	fuzzMarshal(f, fuzzSeedTxn())
	fuzzMarshal(f, &pb.TxnRequest{})
	fuzzMarshal(f, &pb.TxnRequest{ // duplicate key across nesting levels
		Success: []*pb.RequestOp{
			{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("k")}}},
			{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{Failure: []*pb.RequestOp{
				{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte("a"), RangeEnd: []byte("z")}}},
			}}}},
		},
	})
	fuzzMarshal(f, &pb.TxnRequest{ // then/else of one nested txn may write the same key
		Success: []*pb.RequestOp{
			{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{
				Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("k"), Value: []byte("s")}}}},
				Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("k"), Value: []byte("f")}}}},
			}}},
		},
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		req := &pb.TxnRequest{}
		if err := proto.Unmarshal(data, req); err != nil {
			return
		}
		h, m := fuzzOpen(t)
		defer h.close()
		revBefore := h.s.Rev()
		var want *refResult
		if fuzzTxnDomain(req) {
			w := m.Txn(req)
			want = &w
		}
		resp, err := h.s.Txn(proto.Clone(req).(*pb.TxnRequest))
		res := Result{Err: err}
		if err == nil {
			res.Resp = resp
		}
		fuzzCheckResult(t, req, res, want)
		if err == nil && resp.Header.GetRevision() != h.s.Rev() {
			t.Fatalf("header revision %d, Rev() %d\nrequest: %s", resp.Header.GetRevision(), h.s.Rev(), refText(req))
		}
		if d := h.s.Rev() - revBefore; d != 0 && d != 1 {
			t.Fatalf("one txn moved Rev() by %d\nrequest: %s", d, refText(req))
		}
		fuzzCheckUsable(t, h, revBefore)
		if want != nil {
			if msg := refCheckAll(h, m); msg != "" {
				t.Fatalf("after reopen\nrequest: %s\n%s", refText(req), msg)
			}
		}
	})
}
