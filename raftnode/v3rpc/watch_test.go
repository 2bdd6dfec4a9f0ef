package v3rpc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"
)

// nextWatch returns the next response of ch, failing after a while.
func nextWatch(t *testing.T, ch clientv3.WatchChan) clientv3.WatchResponse {
	t.Helper()
	select {
	case r, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no watch response in 10s")
	}
	panic("unreachable")
}

// collectEvents reads responses of ch until n events arrived.
func collectEvents(t *testing.T, ch clientv3.WatchChan, n int) []*clientv3.Event {
	t.Helper()
	var evs []*clientv3.Event
	for len(evs) < n {
		r := nextWatch(t, ch)
		if err := r.Err(); err != nil {
			t.Fatalf("watch error: %v", err)
		}
		checkHeader(t, "watch", r.Header, 0)
		evs = append(evs, r.Events...)
	}
	if len(evs) != n {
		t.Fatalf("got %d events, want %d", len(evs), n)
	}
	return evs
}

func describe(evs []*clientv3.Event) string {
	var out []string
	for _, e := range evs {
		s := fmt.Sprintf("%s %s=%s@%d", e.Type, e.Kv.Key, e.Kv.Value, e.Kv.ModRevision)
		if e.PrevKv != nil {
			s += fmt.Sprintf(" prev=%s", e.PrevKv.Value)
		}
		out = append(out, s)
	}
	return strings.Join(out, "; ")
}

func TestWatchBasics(t *testing.T) {
	ts := startServer(t, Options{})
	ctx, cli := testCtx(t), ts.cli

	all := cli.Watch(ctx, "w/", clientv3.WithPrefix(), clientv3.WithPrevKV(), clientv3.WithCreatedNotify())
	if r := nextWatch(t, all); !r.Created || r.Header.Revision != 1 {
		t.Fatalf("created: %+v", r)
	}
	noPut := cli.Watch(ctx, "w/", clientv3.WithPrefix(), clientv3.WithFilterPut())
	noDel := cli.Watch(ctx, "w/a", clientv3.WithFilterDelete())

	must(t)(cli.Put(ctx, "w/a", "1")) // rev 2
	must(t)(cli.Put(ctx, "w/a", "2")) // rev 3
	must(t)(cli.Put(ctx, "x", "1"))   // rev 4, outside
	must(t)(cli.Delete(ctx, "w/", clientv3.WithPrefix()))

	if got, want := describe(collectEvents(t, all, 3)), "PUT w/a=1@2; PUT w/a=2@3 prev=1; DELETE w/a=@5 prev=2"; got != want {
		t.Fatalf("prefix watch:\n got %s\nwant %s", got, want)
	}
	if got, want := describe(collectEvents(t, noPut, 1)), "DELETE w/a=@5"; got != want {
		t.Fatalf("no-put watch: %s", got)
	}
	if got, want := describe(collectEvents(t, noDel, 2)), "PUT w/a=1@2; PUT w/a=2@3"; got != want {
		t.Fatalf("no-delete watch: %s", got)
	}

	// From an old revision: the history first.
	old := cli.Watch(ctx, "w/a", clientv3.WithRev(3))
	if got, want := describe(collectEvents(t, old, 2)), "PUT w/a=2@3; DELETE w/a=@5"; got != want {
		t.Fatalf("watch from rev 3: %s", got)
	}
}

// must(t)(call()) fails the test if call returned an error.
func must(t *testing.T) func(any, error) {
	return func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestWatchCompacted(t *testing.T) {
	ts := startServer(t, Options{})
	ctx, cli := testCtx(t), ts.cli
	for i := range 5 {
		must(t)(cli.Put(ctx, "c", fmt.Sprint(i)))
	}
	must(t)(cli.Compact(ctx, 4, clientv3.WithCompactPhysical()))
	ch := cli.Watch(ctx, "c", clientv3.WithRev(2))
	r := nextWatch(t, ch)
	if !r.Canceled || r.CompactRevision != 4 || !errors.Is(r.Err(), rpctypes.ErrCompacted) {
		t.Fatalf("compacted watch: %+v err %v", r, r.Err())
	}
	if _, ok := <-ch; ok {
		t.Fatal("channel not closed after the compacted cancel")
	}
	// At the compacted revision itself: fine.
	ch = cli.Watch(ctx, "c", clientv3.WithRev(4))
	if got := describe(collectEvents(t, ch, 3)); got != "PUT c=2@4; PUT c=3@5; PUT c=4@6" {
		t.Fatalf("watch from compact rev: %s", got)
	}
}

func TestWatchProgressAndMany(t *testing.T) {
	ts := startServer(t, Options{})
	ctx, cli := testCtx(t), ts.cli
	must(t)(cli.Put(ctx, "p", "0"))

	// Many watchers share one stream (one context); each gets its key.
	const n = 50
	chans := make([]clientv3.WatchChan, n)
	for i := range chans {
		chans[i] = cli.Watch(ctx, fmt.Sprintf("m/%02d", i))
	}
	for i := range chans {
		must(t)(cli.Put(ctx, fmt.Sprintf("m/%02d", i), fmt.Sprint(i)))
	}
	for i, ch := range chans {
		if got, want := describe(collectEvents(t, ch, 1)), fmt.Sprintf("PUT m/%02d=%d@%d", i, i, i+3); got != want {
			t.Fatalf("watcher %d: %s, want %s", i, got, want)
		}
	}

	// A progress request reaches every watcher of the stream.
	gr, err := cli.Get(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	rev := gr.Header.Revision
	if err := cli.RequestProgress(ctx); err != nil {
		t.Fatal(err)
	}
	for i, ch := range chans[:3] {
		r := nextWatch(t, ch)
		if !r.IsProgressNotify() || r.Header.Revision != rev {
			t.Fatalf("watcher %d: progress %+v, want revision %d", i, r, rev)
		}
	}

	// Cancel one watcher (its context): its channel closes, the others live on.
	wctx, cancel := context.WithCancel(ctx)
	gone := cli.Watch(wctx, "m/00")
	cancel()
	for range gone {
	}
	must(t)(cli.Put(ctx, "m/00", "again"))
	if got := describe(collectEvents(t, chans[0], 1)); !strings.HasPrefix(got, "PUT m/00=again") {
		t.Fatalf("after cancel: %s", got)
	}
}

// TestWatchBadCreate: a create the store refuses gets created+canceled
// with the reason, which clientv3 reports as the channel's error.
func TestWatchBadCreate(t *testing.T) {
	ts := startServer(t, Options{})
	ctx, cli := testCtx(t), ts.cli
	ch := cli.Watch(ctx, "b", clientv3.WithRange("a"))
	r := nextWatch(t, ch)
	if !r.Canceled || r.Err() == nil || !strings.Contains(r.Err().Error(), "range end") {
		t.Fatalf("bad range: %+v err %v", r, r.Err())
	}

	// On the wire: watch_id -1, created and canceled; then the stream goes on.
	ws, err := pb.NewWatchClient(ts.conn).Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	send := func(c *pb.WatchCreateRequest) *pb.WatchResponse {
		t.Helper()
		if err := ws.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: c}}); err != nil {
			t.Fatal(err)
		}
		resp, err := ws.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if resp := send(&pb.WatchCreateRequest{Key: []byte("z"), RangeEnd: []byte("a")}); resp.WatchId != -1 || !resp.Created || !resp.Canceled || resp.CancelReason == "" {
		t.Fatalf("bad range on the wire: %v", resp)
	}
	if resp := send(&pb.WatchCreateRequest{Key: []byte("k"), WatchId: 7}); resp.WatchId != 7 || !resp.Created || resp.Canceled {
		t.Fatalf("explicit id: %v", resp)
	}
	if resp := send(&pb.WatchCreateRequest{Key: []byte("k"), WatchId: 7}); resp.WatchId != -1 || !resp.Canceled {
		t.Fatalf("duplicate id: %v", resp)
	}
	if resp := send(&pb.WatchCreateRequest{Key: []byte("k"), StartRevision: -5}); resp.WatchId != -1 || !resp.Canceled {
		t.Fatalf("negative revision: %v", resp)
	}
	// Cancel of an unknown ID is ignored; of a known one, answered.
	for _, id := range []int64{99, 7} {
		if err := ws.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CancelRequest{CancelRequest: &pb.WatchCancelRequest{WatchId: id}}}); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := ws.Recv()
	if err != nil || resp.WatchId != 7 || !resp.Canceled {
		t.Fatalf("cancel: %v %v", resp, err)
	}
	// Empty requests must not hurt.
	if err := ws.Send(&pb.WatchRequest{}); err != nil {
		t.Fatal(err)
	}
	if err := ws.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{}}); err != nil {
		t.Fatal(err)
	}
	if err := ws.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_ProgressRequest{ProgressRequest: &pb.WatchProgressRequest{}}}); err != nil {
		t.Fatal(err)
	}
	// The empty create request arrives as an empty message: a watch on
	// key "" (as etcd), then the progress answer.
	if resp, err := ws.Recv(); err != nil || !resp.Created || resp.Canceled {
		t.Fatalf("empty create: %v %v", resp, err)
	}
	if resp, err := ws.Recv(); err != nil || resp.WatchId != -1 || resp.Created || resp.Header.GetRevision() != 1 {
		t.Fatalf("progress on the wire: %v %v", resp, err)
	}
	ws.CloseSend()
}

// TestWatchFragment: a revision larger than MaxRequestBytes reaches a
// watcher that asked for fragments in several messages, which clientv3
// joins; on the wire every message but the last is marked fragment.
func TestWatchFragment(t *testing.T) {
	const limit = 4 << 10
	ts := startServer(t, Options{MaxRequestBytes: limit})
	ctx, cli := testCtx(t), ts.cli

	raw, err := pb.NewWatchClient(ts.conn).Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{
		Key: []byte("f/"), RangeEnd: []byte("f0"), Fragment: true}}}); err != nil {
		t.Fatal(err)
	}
	if resp, err := raw.Recv(); err != nil || !resp.Created {
		t.Fatalf("create: %v %v", resp, err)
	}
	joined := cli.Watch(ctx, "f/", clientv3.WithPrefix(), clientv3.WithFragment(), clientv3.WithCreatedNotify())
	nextWatch(t, joined)
	whole := cli.Watch(ctx, "f/", clientv3.WithPrefix(), clientv3.WithCreatedNotify())
	nextWatch(t, whole)

	// One revision of 10 events of ~1 KiB, written past the service (whose
	// request limit it exceeds).
	const n = 10
	txn := &pb.TxnRequest{}
	for i := range n {
		txn.Success = append(txn.Success, &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{
			Key: fmt.Appendf(nil, "f/%02d", i), Value: []byte(strings.Repeat("v", 1000))}}})
	}
	if _, err := ts.b.st.Txn(txn); err != nil {
		t.Fatal(err)
	}

	var msgs, evs int
	for evs < n {
		resp, err := raw.Recv()
		if err != nil {
			t.Fatal(err)
		}
		msgs++
		evs += len(resp.Events)
		if size := proto.Size(resp); size > limit {
			t.Fatalf("fragment of %d bytes > %d", size, limit)
		}
		if resp.Fragment != (evs < n) {
			t.Fatalf("message %d (%d events so far): fragment=%v", msgs, evs, resp.Fragment)
		}
	}
	if msgs < 3 {
		t.Fatalf("%d messages for %d KiB of events with a %d-byte limit", msgs, n, limit)
	}
	if r := nextWatch(t, joined); len(r.Events) != n {
		t.Fatalf("clientv3 joined %d events, want %d", len(r.Events), n)
	}
	if r := nextWatch(t, whole); len(r.Events) != n {
		t.Fatalf("unfragmented watcher got %d events, want %d", len(r.Events), n)
	}
}

func TestFragmentResponse(t *testing.T) {
	ev := func(size int) *mvccpb.Event {
		return &mvccpb.Event{Kv: &mvccpb.KeyValue{Key: []byte("k"), Value: make([]byte, size)}}
	}
	resp := &pb.WatchResponse{Header: &pb.ResponseHeader{Revision: 9}, WatchId: 3,
		Events: []*mvccpb.Event{ev(100), ev(5000), ev(100), ev(100), ev(100)}}
	parts := fragmentResponse(resp, 400)
	var sizes []int
	for i, p := range parts {
		sizes = append(sizes, len(p.Events))
		if p.Fragment != (i < len(parts)-1) || p.WatchId != 3 || p.Header.Revision != 9 {
			t.Fatalf("part %d: %v", i, p)
		}
	}
	if fmt.Sprint(sizes) != "[1 1 3]" {
		t.Fatalf("split %v, want [1 1 3]", sizes)
	}
	if parts := fragmentResponse(resp, 1<<20); len(parts) != 1 || parts[0] != resp {
		t.Fatal("small response split")
	}
}
