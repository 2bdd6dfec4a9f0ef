package v3rpc

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func checkHeader(t *testing.T, what string, h *pb.ResponseHeader, rev int64) {
	t.Helper()
	if h.GetClusterId() != testClusterID || h.GetMemberId() != testMemberID || h.GetRaftTerm() != testTerm {
		t.Fatalf("%s: header %v lacks the backend's cluster/member/term", what, h)
	}
	if rev != 0 && h.GetRevision() != rev {
		t.Fatalf("%s: header revision %d, want %d", what, h.GetRevision(), rev)
	}
}

func TestKVPutGetDelete(t *testing.T) {
	ts := startServer(t, Options{})
	ctx, cli := testCtx(t), ts.cli

	var revs []int64
	for i, kv := range [][2]string{{"k/a", "3"}, {"k/b", "1"}, {"k/c", "2"}, {"other", "x"}} {
		resp, err := cli.Put(ctx, kv[0], kv[1])
		if err != nil {
			t.Fatal(err)
		}
		checkHeader(t, "put", resp.Header, int64(i+2))
		revs = append(revs, resp.Header.Revision)
	}
	keys := func(r *clientv3.GetResponse) string {
		var ks []string
		for _, kv := range r.Kvs {
			ks = append(ks, string(kv.Key)+"="+string(kv.Value))
		}
		return strings.Join(ks, ",")
	}
	get := func(key string, opts ...clientv3.OpOption) *clientv3.GetResponse {
		t.Helper()
		r, err := cli.Get(ctx, key, opts...)
		if err != nil {
			t.Fatalf("get %q: %v", key, err)
		}
		checkHeader(t, "get", r.Header, revs[len(revs)-1])
		return r
	}
	if got := keys(get("k/", clientv3.WithPrefix())); got != "k/a=3,k/b=1,k/c=2" {
		t.Fatalf("prefix: %s", got)
	}
	r := get("k/", clientv3.WithPrefix(), clientv3.WithLimit(2))
	if keys(r) != "k/a=3,k/b=1" || !r.More || r.Count != 3 {
		t.Fatalf("limit: %s more=%v count=%d", keys(r), r.More, r.Count)
	}
	if got := keys(get("k/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))); got != "k/c=2,k/b=1,k/a=3" {
		t.Fatalf("sort by key desc: %s", got)
	}
	if got := keys(get("k/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByValue, clientv3.SortAscend))); got != "k/b=1,k/c=2,k/a=3" {
		t.Fatalf("sort by value: %s", got)
	}
	if got := keys(get("k/", clientv3.WithPrefix(), clientv3.WithRev(revs[1]))); got != "k/a=3,k/b=1" {
		t.Fatalf("at rev %d: %s", revs[1], got)
	}
	if r := get("k/", clientv3.WithPrefix(), clientv3.WithCountOnly()); r.Count != 3 || len(r.Kvs) != 0 {
		t.Fatalf("count only: %v", r)
	}
	r = get("k/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if len(r.Kvs) != 3 || len(r.Kvs[0].Value) != 0 {
		t.Fatalf("keys only: %v", r.Kvs)
	}
	if got := keys(get("k/b", clientv3.WithFromKey())); got != "k/b=1,k/c=2,other=x" {
		t.Fatalf("from key: %s", got)
	}
	if got := keys(get("k/a", clientv3.WithRange("k/c"), clientv3.WithSerializable())); got != "k/a=3,k/b=1" {
		t.Fatalf("range: %s", got)
	}

	p, err := cli.Put(ctx, "k/a", "4", clientv3.WithPrevKV())
	if err != nil || p.PrevKv == nil || string(p.PrevKv.Value) != "3" {
		t.Fatalf("put prev_kv: %v %v", p, err)
	}
	revs = append(revs, p.Header.Revision)
	d, err := cli.Delete(ctx, "k/", clientv3.WithPrefix(), clientv3.WithPrevKV())
	if err != nil {
		t.Fatal(err)
	}
	checkHeader(t, "delete", d.Header, p.Header.Revision+1)
	if d.Deleted != 3 || len(d.PrevKvs) != 3 || string(d.PrevKvs[0].Value) != "4" {
		t.Fatalf("delete: %v", d)
	}
	revs = append(revs, d.Header.Revision)
	if r := get("k/", clientv3.WithPrefix()); len(r.Kvs) != 0 {
		t.Fatalf("after delete: %s", keys(r))
	}
}

func TestKVTxn(t *testing.T) {
	ts := startServer(t, Options{})
	ctx, cli := testCtx(t), ts.cli
	if _, err := cli.Put(ctx, "x", "1"); err != nil {
		t.Fatal(err)
	}
	tr, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.Value("x"), "=", "1"), clientv3.Compare(clientv3.Version("y"), "=", 0)).
		Then(clientv3.OpPut("y", "2"), clientv3.OpGet("x"),
			clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision("x"), ">", 0)},
				[]clientv3.Op{clientv3.OpPut("z", "3")}, nil)).
		Else(clientv3.OpGet("y")).
		Commit()
	if err != nil {
		t.Fatal(err)
	}
	checkHeader(t, "txn", tr.Header, 3)
	if !tr.Succeeded || len(tr.Responses) != 3 {
		t.Fatalf("txn: %v", tr)
	}
	if kvs := tr.Responses[1].GetResponseRange().Kvs; len(kvs) != 1 || string(kvs[0].Value) != "1" {
		t.Fatalf("txn get: %v", tr.Responses[1])
	}
	if !tr.Responses[2].GetResponseTxn().Succeeded {
		t.Fatalf("nested txn: %v", tr.Responses[2])
	}
	tr, err = cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision("x"), "<", 2)).Then(clientv3.OpPut("y", "no")).
		Else(clientv3.OpGet("y"), clientv3.OpGet("z")).Commit()
	if err != nil || tr.Succeeded || string(tr.Responses[0].GetResponseRange().Kvs[0].Value) != "2" ||
		string(tr.Responses[1].GetResponseRange().Kvs[0].Value) != "3" {
		t.Fatalf("failed txn: %v %v", tr, err)
	}
	checkHeader(t, "read-only txn", tr.Header, 3)
}

// TestKVErrors: the client sees etcd's errors, as rpctypes values.
func TestKVErrors(t *testing.T) {
	ts := startServer(t, Options{})
	ctx, cli := testCtx(t), ts.cli
	kv := pb.NewKVClient(ts.conn)
	for i := range 5 {
		if _, err := cli.Put(ctx, "a", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Store at rev 6.
	if _, err := cli.Compact(ctx, 4, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	manyOps := make([]clientv3.Op, 129)
	for i := range manyOps {
		manyOps[i] = clientv3.OpPut(fmt.Sprintf("k%d", i), "v")
	}
	rawSort := func() error {
		_, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte("a"), SortOrder: 7})
		return err
	}
	rawTxnSort := func() error {
		_, err := kv.Txn(ctx, &pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{
			RequestRange: &pb.RangeRequest{Key: []byte("a"), SortTarget: 9}}}}})
		return err
	}
	rawTxn := func(req *pb.TxnRequest) error {
		_, err := kv.Txn(ctx, req)
		return err
	}
	put := func(k string) *pb.RequestOp {
		return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(k)}}}
	}
	nested := func(ops ...*pb.RequestOp) *pb.RequestOp {
		return &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{Success: ops}}}
	}
	deep := put("deep")
	for range 70 {
		deep = nested(deep)
	}
	invalid := func(msg string) error { return status.Error(codes.InvalidArgument, msg) }
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"empty key in compare", rawTxn(&pb.TxnRequest{Compare: []*pb.Compare{{Target: pb.Compare_VERSION}}}), rpctypes.ErrEmptyKey},
		{"duplicate key in nested txn", rawTxn(&pb.TxnRequest{Success: []*pb.RequestOp{put("n"), nested(put("n"))}}), rpctypes.ErrDuplicateKey},
		{"nil txn operation", rawTxn(&pb.TxnRequest{Success: []*pb.RequestOp{{}}}), invalid("kvstore: invalid request: txn operation without a request")},
		{"txn nested too deep", rawTxn(&pb.TxnRequest{Success: []*pb.RequestOp{deep}}), invalid("kvstore: invalid request: txn nested deeper than 64")},
		{"compacted", errOf(cli.Get(ctx, "a", clientv3.WithRev(3))), rpctypes.ErrCompacted},
		{"future rev", errOf(cli.Get(ctx, "a", clientv3.WithRev(100))), rpctypes.ErrFutureRev},
		{"compact again", errOf(cli.Compact(ctx, 3)), rpctypes.ErrCompacted},
		{"compact future", errOf(cli.Compact(ctx, 100)), rpctypes.ErrFutureRev},
		{"empty key put", errOf(cli.Put(ctx, "", "v")), rpctypes.ErrEmptyKey},
		{"empty key get", errOf(cli.Get(ctx, "")), rpctypes.ErrEmptyKey},
		{"empty key delete", errOf(cli.Delete(ctx, "")), rpctypes.ErrEmptyKey},
		{"value provided", errOf(cli.Put(ctx, "a", "v", clientv3.WithIgnoreValue())), rpctypes.ErrValueProvided},
		{"lease provided", errOf(cli.Put(ctx, "a", "", clientv3.WithIgnoreLease(), clientv3.WithLease(5))), rpctypes.ErrLeaseProvided},
		{"key not found", errOf(cli.Put(ctx, "missing", "", clientv3.WithIgnoreValue())), rpctypes.ErrKeyNotFound},
		{"lease not found", errOf(cli.Put(ctx, "a", "v", clientv3.WithLease(12345))), rpctypes.ErrLeaseNotFound},
		{"duplicate key", errOf(cli.Txn(ctx).Then(clientv3.OpPut("d", "1"), clientv3.OpPut("d", "2")).Commit()), rpctypes.ErrDuplicateKey},
		{"too many ops", errOf(cli.Txn(ctx).Then(manyOps...).Commit()), rpctypes.ErrTooManyOps},
		{"empty key in txn", errOf(cli.Txn(ctx).Then(clientv3.OpPut("", "1")).Commit()), rpctypes.ErrEmptyKey},
		{"sort option", rawSort(), rpctypes.ErrGRPCInvalidSortOption},
		{"sort option in txn", rawTxnSort(), rpctypes.ErrGRPCInvalidSortOption},
		{"too large", errOf(cli.Put(ctx, "big", strings.Repeat("x", 3<<19+1))), rpctypes.ErrRequestTooLarge},
	}
	for _, c := range cases {
		if _, ok := status.FromError(c.want); ok && status.Code(c.want) == codes.InvalidArgument {
			// Not an etcd error: the code and the store's message.
			if gs, ws := status.Convert(c.err), status.Convert(c.want); gs.Code() != ws.Code() || gs.Message() != ws.Message() {
				t.Errorf("%s: got %v, want %v", c.name, c.err, c.want)
			}
			continue
		}
		want := c.want
		if ge := rpctypes.Error(want); ge != want {
			want = ge
		}
		if got := rpctypes.Error(c.err); !errors.Is(got, want) {
			t.Errorf("%s: got %v, want %v", c.name, c.err, want)
		}
	}
	// The store still works after all that.
	if r, err := cli.Get(ctx, "a"); err != nil || string(r.Kvs[0].Value) != "4" {
		t.Fatalf("get after errors: %v %v", r, err)
	}
}

func errOf[T any](_ T, err error) error { return err }

// TestRangeStream: chunks merge into the Range answer.
func TestRangeStream(t *testing.T) {
	ts := startServer(t, Options{MaxRequestBytes: 4 << 10})
	ctx, cli := testCtx(t), ts.cli
	val := strings.Repeat("v", 1000)
	for i := range 20 {
		if _, err := cli.Put(ctx, fmt.Sprintf("r/%02d", i), val); err != nil {
			t.Fatal(err)
		}
	}
	ch, err := cli.GetStream(ctx, "r/", clientv3.WithPrefix(), clientv3.WithLimit(15))
	if err != nil {
		t.Fatal(err)
	}
	chunks, n := 0, 0
	var last *pb.RangeResponse
	for r := range ch {
		if r.Err() != nil {
			t.Fatal(r.Err())
		}
		chunks++
		n += len(r.Kvs)
		last = r.RangeResponse
	}
	if chunks < 3 || n != 15 || !last.More || last.Count != 20 {
		t.Fatalf("range stream: %d chunks, %d kvs, last %v", chunks, n, last.GetHeader())
	}
	checkHeader(t, "range stream", last.Header, 21)
}
