package chaos

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestWatchFromFutureRevision: a watch from a revision in the future gets
// only the events at and after that revision, all of them.
func TestWatchFromFutureRevision(t *testing.T) {
	c := startTestCluster(t, 1)
	cli := c.Members[0].Client()
	var rev int64
	for i := 0; i < 3; i++ {
		r, err := cli.Put(ctxT(t, 10*time.Second), fmt.Sprintf("fut/%d", i), "x")
		if err != nil {
			t.Fatal(err)
		}
		rev = r.Header.Revision
	}
	from := rev + 5
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wch := cli.Watch(ctx, "fut/", clientv3.WithPrefix(), clientv3.WithRev(from))
	for i := 0; i < 10; i++ {
		if _, err := cli.Put(ctxT(t, 10*time.Second), fmt.Sprintf("fut/%d", i%4), fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	want := from
	timeout := time.After(20 * time.Second)
	for want <= rev+10 {
		select {
		case wr, ok := <-wch:
			if !ok || wr.Err() != nil {
				t.Fatalf("watch ended: %v", wr.Err())
			}
			for _, ev := range wr.Events {
				if ev.Kv.ModRevision != want {
					t.Fatalf("watch from future revision %d: got an event at revision %d, want %d", from, ev.Kv.ModRevision, want)
				}
				want++
			}
		case <-timeout:
			t.Fatalf("watch from %d: events up to %d only", from, want-1)
		}
	}
}

// TestDeleteEventAtCompactedRevision: a key deleted at revision D, history
// compacted at D: a watch from D still gets the delete.
func TestDeleteEventAtCompactedRevision(t *testing.T) {
	c := startTestCluster(t, 1)
	cli := c.Members[0].Client()
	if _, err := cli.Put(ctxT(t, 10*time.Second), "del/k", "v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctxT(t, 10*time.Second), "del/k", "v2"); err != nil {
		t.Fatal(err)
	}
	d, err := cli.Delete(ctxT(t, 10*time.Second), "del/k")
	if err != nil || d.Deleted != 1 {
		t.Fatalf("delete: %v %v", d, err)
	}
	del := d.Header.Revision
	if _, err := cli.Put(ctxT(t, 10*time.Second), "del/other", "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctxT(t, 10*time.Second), del, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		key  string
		opts []clientv3.OpOption
	}{
		{"del/k", []clientv3.OpOption{clientv3.WithRev(del)}},
		{"del/", []clientv3.OpOption{clientv3.WithRev(del), clientv3.WithPrefix()}},
		{"del/k", []clientv3.OpOption{clientv3.WithRev(del), clientv3.WithPrevKV()}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		wr := <-cli.Watch(ctx, w.key, w.opts...)
		cancel()
		if wr.Err() != nil {
			t.Fatalf("watch %s from the compacted revision %d: %v", w.key, del, wr.Err())
		}
		if len(wr.Events) == 0 || wr.Events[0].Type != mvccpb.DELETE || wr.Events[0].Kv.ModRevision != del || string(wr.Events[0].Kv.Key) != "del/k" {
			t.Errorf("watch %s from the compacted revision %d: first events %v, want the delete of del/k at %d", w.key, del, wr.Events, del)
		}
	}
	// One revision below the compaction is gone.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wr := <-cli.Watch(ctx, "del/k", clientv3.WithRev(del-1))
	if wr.CompactRevision != del {
		t.Errorf("watch from %d after compaction at %d: compact revision %d, err %v", del-1, del, wr.CompactRevision, wr.Err())
	}
}

// TestProgressNotifyOrdering: on one watch stream, progress notifications
// requested while puts go on are ordered with the events: each names a
// revision at or above the last event received, and no later event has a
// revision at or below it.
func TestProgressNotifyOrdering(t *testing.T) {
	c := startTestCluster(t, 1)
	m := c.Members[0]
	cli := testClient(t, m.ClientURL)
	wcli := testClient(t, m.ClientURL)
	st, err := m.Status(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wch := wcli.Watch(ctx, "pn/", clientv3.WithPrefix(), clientv3.WithRev(st.Header.Revision+1))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var puts atomic.Int64
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := cli.Put(context.Background(), fmt.Sprintf("pn/%d", w), fmt.Sprint(i)); err == nil {
					puts.Add(1)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
				_ = wcli.RequestProgress(ctx)
			}
		}
	}()
	dur := 3 * time.Second
	if longRun() {
		dur = 20 * time.Second
	}
	end := time.After(dur)
	var lastEvent, lastProgress int64
	progress, events := 0, 0
	bad := 0
loop:
	for {
		select {
		case wr, ok := <-wch:
			if !ok || wr.Err() != nil {
				t.Fatalf("watch ended: %v", wr.Err())
			}
			if wr.IsProgressNotify() {
				progress++
				if wr.Header.Revision < lastEvent {
					bad++
					if bad < 10 {
						t.Errorf("progress notification at revision %d after an event at revision %d", wr.Header.Revision, lastEvent)
					}
				}
				lastProgress = max(lastProgress, wr.Header.Revision)
			}
			for _, ev := range wr.Events {
				events++
				if ev.Kv.ModRevision <= lastProgress {
					bad++
					if bad < 10 {
						t.Errorf("event at revision %d after a progress notification at revision %d", ev.Kv.ModRevision, lastProgress)
					}
				}
				if ev.Kv.ModRevision <= lastEvent {
					t.Errorf("event at revision %d after one at %d", ev.Kv.ModRevision, lastEvent)
				}
				lastEvent = ev.Kv.ModRevision
			}
		case <-end:
			break loop
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d puts, %d events, %d progress notifications", puts.Load(), events, progress)
	if progress == 0 {
		t.Errorf("no progress notification in %v of RequestProgress every 2ms", dur)
	}
}

// TestSlowWatcherAndCompaction: a watcher that does not read (its gRPC
// flow-control window is small, so the member cannot push events to it)
// falls behind while thousands of revisions are written, and history is
// compacted past its position. When it reads again it must get its events
// in order with no gap, then either the rest or a compaction notice whose
// revision lies above what it received — never a silent jump.
func TestSlowWatcherAndCompaction(t *testing.T) {
	for _, compact := range []bool{false, true} {
		t.Run(fmt.Sprintf("compact=%v", compact), func(t *testing.T) {
			c := startTestCluster(t, 1)
			m := c.Members[0]
			cli := testClient(t, m.ClientURL)
			st, err := m.Status(5 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			start := st.Header.Revision + 1
			cc, err := grpc.NewClient(m.Endpoint(), grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ws, err := pb.NewWatchClient(cc).Watch(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := ws.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{
				Key: []byte("slow/"), RangeEnd: []byte("slow0"), StartRevision: start}}}); err != nil {
				t.Fatal(err)
			}
			created, err := ws.Recv()
			if err != nil || !created.Created {
				t.Fatalf("watch create: %v %v", created, err)
			}
			const n = 3000
			val := strings.Repeat("v", 2048)
			var mid int64
			for i := 0; i < n; i++ {
				r, err := cli.Put(ctxT(t, 10*time.Second), fmt.Sprintf("slow/k%03d", i%300), fmt.Sprintf("%d-%s", i, val))
				if err != nil {
					t.Fatal(err)
				}
				if i == n/2 {
					mid = r.Header.Revision
				}
			}
			if compact {
				if _, err := cli.Compact(ctxT(t, 30*time.Second), mid, clientv3.WithCompactPhysical()); err != nil {
					t.Fatal(err)
				}
			}
			next := start
			for next < start+n {
				rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
				resp, err := recvWithContext(rctx, ws)
				rcancel()
				if err != nil {
					t.Fatalf("watch after %d of %d events: %v", next-start, n, err)
				}
				if resp.CompactRevision != 0 {
					if !compact {
						t.Fatalf("compaction notice (revision %d) without a compaction", resp.CompactRevision)
					}
					if resp.CompactRevision < next {
						t.Fatalf("compaction notice at revision %d, but the watcher has every event below %d: nothing was lost to compaction", resp.CompactRevision, next)
					}
					t.Logf("compacted at %d after %d events in order (watcher at %d, compaction at %d)", resp.CompactRevision, next-start, next, mid)
					return
				}
				for _, ev := range resp.Events {
					if ev.Kv.ModRevision != next {
						t.Fatalf("event at revision %d, want %d (after %d in order)", ev.Kv.ModRevision, next, next-start)
					}
					if want := fmt.Sprintf("%d-", next-start); !strings.HasPrefix(string(ev.Kv.Value), want) {
						t.Fatalf("event at revision %d holds %.10q, want %q...", next, ev.Kv.Value, want)
					}
					next++
				}
			}
			t.Logf("all %d events in order", n)
		})
	}
}

func recvWithContext(ctx context.Context, ws pb.Watch_WatchClient) (*pb.WatchResponse, error) {
	type res struct {
		r   *pb.WatchResponse
		err error
	}
	ch := make(chan res, 1)
	go func() { r, err := ws.Recv(); ch <- res{r, err} }()
	select {
	case r := <-ch:
		return r.r, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// TestWatchLargeRevision: one revision deleting 20000 keys of 1 KiB (about
// 20 MiB of events with their previous values) reaches a plain watcher, a
// watcher with previous values and a fragmenting watcher as one response
// (clientv3 reassembles fragments), complete and correct.
func TestWatchLargeRevision(t *testing.T) {
	c := startTestCluster(t, 1)
	m := c.Members[0]
	cli := testClient(t, m.ClientURL)
	const keys = 20000
	val := strings.Repeat("z", 1024)
	for i := 0; i < keys; i += 100 {
		ops := make([]clientv3.Op, 0, 100)
		for j := i; j < i+100; j++ {
			ops = append(ops, clientv3.OpPut(fmt.Sprintf("big/%05d", j), val))
		}
		if _, err := cli.Txn(ctxT(t, 30*time.Second)).Then(ops...).Commit(); err != nil {
			t.Fatal(err)
		}
	}
	st, err := m.Status(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	type watcher struct {
		name string
		ch   clientv3.WatchChan
	}
	var ws []watcher
	for _, w := range []struct {
		name string
		opts []clientv3.OpOption
	}{
		{"plain", nil},
		{"prevKV", []clientv3.OpOption{clientv3.WithPrevKV()}},
		{"fragment+prevKV", []clientv3.OpOption{clientv3.WithPrevKV(), clientv3.WithFragment()}},
	} {
		wc := testClient(t, m.ClientURL)
		opts := append([]clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithRev(st.Header.Revision + 1)}, w.opts...)
		ws = append(ws, watcher{w.name, wc.Watch(ctxT(t, time.Minute), "big/", opts...)})
	}
	d, err := cli.Delete(ctxT(t, time.Minute), "big/", clientv3.WithPrefix())
	if err != nil || d.Deleted != keys {
		t.Fatalf("delete: %v, %v", d, err)
	}
	for _, w := range ws {
		select {
		case wr := <-w.ch:
			if wr.Err() != nil {
				t.Fatalf("%s: %v", w.name, wr.Err())
			}
			if len(wr.Events) != keys {
				t.Errorf("%s: first response holds %d events, want all %d of revision %d", w.name, len(wr.Events), keys, d.Header.Revision)
				continue
			}
			for i, ev := range wr.Events {
				if ev.Type != mvccpb.DELETE || ev.Kv.ModRevision != d.Header.Revision || string(ev.Kv.Key) != fmt.Sprintf("big/%05d", i) {
					t.Errorf("%s: event %d is %v %s at %d", w.name, i, ev.Type, ev.Kv.Key, ev.Kv.ModRevision)
					break
				}
				if w.name != "plain" && (ev.PrevKv == nil || string(ev.PrevKv.Value) != val) {
					t.Errorf("%s: event %d has previous value %v", w.name, i, ev.PrevKv)
					break
				}
			}
		case <-time.After(time.Minute):
			t.Fatalf("%s: no events within a minute", w.name)
		}
	}
}
