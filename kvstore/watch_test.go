package kvstore

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

func TestWatchLiveRanges(t *testing.T) {
	f, h := newFakeHub(nil)
	defer h.close()
	f.write(put("pre", "0")) // rev 1, before the watchers
	ws := h.newStream()
	defer ws.Close()
	reqs := map[string]WatchRequest{
		"single":   {Key: []byte("a")},
		"range":    {Key: []byte("a"), End: []byte("c")},
		"fromB":    {Key: []byte("b"), End: []byte{0}},
		"all":      {Key: []byte{0}, End: []byte{0}},
		"allEmpty": {Key: nil, End: []byte{0}},
		"prefix":   {Key: []byte("b/"), End: []byte("b0")},
	}
	ids := map[string]int64{}
	for name, req := range reqs {
		ids[name] = mustWatch(t, ws, 0, req)
	}
	f.write(put("a", "1"))                  // 2
	f.write(put("b/x", "2"), put("c", "3")) // 3
	f.write(del("a"))                       // 4
	f.write(put("b", "4"))                  // 5
	rs := barrier(t, f, ws)
	want := map[string]string{
		"single":   "2:PUT:a=1 4:DELETE:a",
		"range":    "2:PUT:a=1 3:PUT:b/x=2 4:DELETE:a 5:PUT:b=4",
		"fromB":    "3:PUT:b/x=2 3:PUT:c=3 5:PUT:b=4",
		"all":      "2:PUT:a=1 3:PUT:b/x=2 3:PUT:c=3 4:DELETE:a 5:PUT:b=4",
		"allEmpty": "2:PUT:a=1 3:PUT:b/x=2 3:PUT:c=3 4:DELETE:a 5:PUT:b=4",
		"prefix":   "3:PUT:b/x=2",
	}
	for name, id := range ids {
		if got := evString(eventsOf(rs, id)); got != want[name] {
			t.Errorf("%s: got %q, want %q", name, got, want[name])
		}
	}
	created := 0
	for _, r := range rs {
		if r.Created {
			created++
			if r.Revision != 1 {
				t.Errorf("Created revision %d, want 1", r.Revision)
			}
		}
	}
	if created != len(reqs) {
		t.Errorf("%d Created responses, want %d", created, len(reqs))
	}
}

func TestWatchHistoryBatches(t *testing.T) {
	f, h := newFakeHub(&Options{WatchBatchEvents: 2})
	defer h.close()
	for i := range 10 {
		f.write(put("k", fmt.Sprint(i)), put(fmt.Sprintf("k%d", i), "x"))
	}
	ws := h.newStream()
	defer ws.Close()
	id := mustWatch(t, ws, 0, WatchRequest{Key: []byte("k"), End: []byte("l"), StartRev: 3})
	expectCreated(t, ws, id)
	f.write(put("k", "live")) // 11
	rs := barrier(t, f, ws)
	var want []string
	for rev := 3; rev <= 10; rev++ {
		want = append(want, fmt.Sprintf("%d:PUT:k=%d %d:PUT:k%d=x", rev, rev-1, rev, rev-1))
	}
	want = append(want, "11:PUT:k=live")
	if got, w := evString(eventsOf(rs, id)), joinStrings(want); got != w {
		t.Fatalf("got %q\nwant %q", got, w)
	}
	// Batches of two events: whole revisions, one revision per response
	// while catching up.
	for _, r := range rs {
		if len(r.Events) == 0 {
			continue
		}
		last := r.Events[len(r.Events)-1].Kv.ModRevision
		if r.Events[0].Kv.ModRevision != last || r.Revision < last {
			t.Fatalf("response %s with revision %d is not one whole revision", evString(r.Events), r.Revision)
		}
	}
}

func TestWatchFutureStart(t *testing.T) {
	f, h := newFakeHub(nil)
	defer h.close()
	ws := h.newStream()
	defer ws.Close()
	id := mustWatch(t, ws, 0, WatchRequest{Key: []byte("a"), StartRev: 3})
	f.write(put("a", "1"))
	f.write(put("a", "2"))
	f.write(put("a", "3"))
	f.write(put("a", "4"))
	if got := evString(eventsOf(barrier(t, f, ws), id)); got != "3:PUT:a=3 4:PUT:a=4" {
		t.Fatalf("got %q", got)
	}
}

func TestWatchCompactedStart(t *testing.T) {
	f, h := newFakeHub(nil)
	defer h.close()
	for i := range 8 {
		f.write(put("a", fmt.Sprint(i)))
	}
	f.compact(5)
	ws := h.newStream()
	defer ws.Close()
	for _, start := range []int64{3, 5} {
		id := mustWatch(t, ws, 0, WatchRequest{Key: []byte("a"), StartRev: start})
		expectCreated(t, ws, id)
		r := recv(t, ws)
		if !r.Canceled || r.CompactRevision != 5 || r.WatchID != id || len(r.Events) != 0 {
			t.Fatalf("start %d: want compacted cancel at 5, got %+v", start, r)
		}
		if err := ws.Cancel(id); !errors.Is(err, ErrWatcherNotFound) {
			t.Fatalf("Cancel of a compacted watcher: %v", err)
		}
	}
	id := mustWatch(t, ws, 0, WatchRequest{Key: []byte("a"), StartRev: 6})
	if got := evString(eventsOf(barrier(t, f, ws), id)); got != "6:PUT:a=5 7:PUT:a=6 8:PUT:a=7" {
		t.Fatalf("got %q", got)
	}
	if m := h.metrics(); m.Watchers != 1 {
		t.Fatalf("metrics: %+v, want 1 watcher", m)
	}
}

func TestWatchFiltersAndPrevKV(t *testing.T) {
	f, h := newFakeHub(nil)
	defer h.close()
	f.write(put("a", "1")) // 1
	f.write(put("a", "2")) // 2
	ws := h.newStream()
	defer ws.Close()
	noPut := mustWatch(t, ws, 0, WatchRequest{Key: []byte("a"), NoPut: true, StartRev: 1})
	noDel := mustWatch(t, ws, 0, WatchRequest{Key: []byte("a"), NoDelete: true, StartRev: 1})
	prev := mustWatch(t, ws, 0, WatchRequest{Key: []byte("a"), PrevKV: true, StartRev: 1})
	plain := mustWatch(t, ws, 0, WatchRequest{Key: []byte("a"), StartRev: 1})
	both := mustWatch(t, ws, 0, WatchRequest{Key: []byte("a"), NoPut: true, NoDelete: true})
	rs := barrier(t, f, ws) // all caught up and live
	if !h.wantPrevKV() {
		t.Fatalf("wantPrevKV false with a PrevKV watcher")
	}
	f.write(del("a"))      // 3
	f.write(put("a", "4")) // 4
	rs = append(rs, barrier(t, f, ws)...)
	for _, c := range []struct {
		id   int64
		want string
	}{
		{noPut, "3:DELETE:a"},
		{noDel, "1:PUT:a=1 2:PUT:a=2 4:PUT:a=4"},
		{prev, "1:PUT:a=1 2:PUT:a=2(1) 3:DELETE:a(2) 4:PUT:a=4"},
		{plain, "1:PUT:a=1 2:PUT:a=2 3:DELETE:a 4:PUT:a=4"},
		{both, ""},
	} {
		if got := evString(eventsOf(rs, c.id)); got != c.want {
			t.Errorf("watcher %d: got %q, want %q", c.id, got, c.want)
		}
	}
	if err := ws.Cancel(prev); err != nil {
		t.Fatal(err)
	}
	barrier(t, f, ws)
	if h.wantPrevKV() {
		t.Fatalf("wantPrevKV true after the PrevKV watcher was canceled")
	}
}

// A watcher asking for PrevKv joins live between the store's wantPrevKV
// (false) and its write: it must get PrevKv anyway (from history).
func TestWatchPrevKVStaleAnswer(t *testing.T) {
	f, h := newFakeHub(nil)
	defer h.close()
	f.write(put("a", "1"))
	ws := h.newStream()
	defer ws.Close()
	plain := mustWatch(t, ws, 0, WatchRequest{Key: []byte("a")})
	barrier(t, f, ws)
	f.write(put("a", "2")) // wantPrevKV false
	prev := mustWatch(t, ws, 0, WatchRequest{Key: []byte("a"), PrevKV: true})
	barrier(t, f, ws)           // prev is live now
	f.writeStale(put("a", "3")) // written with the stale "false"
	f.write(put("a", "4"))      // PrevKv filled
	rs := barrier(t, f, ws)
	if got := evString(eventsOf(rs, prev)); got != "3:PUT:a=3(2) 4:PUT:a=4(3)" {
		t.Errorf("prev watcher: got %q", got)
	}
	if got := evString(eventsOf(rs, plain)); got != "3:PUT:a=3 4:PUT:a=4" {
		t.Errorf("plain watcher: got %q", got)
	}
}

func TestWatchIDsAndCancel(t *testing.T) {
	f, h := newFakeHub(nil)
	defer h.close()
	ws := h.newStream()
	defer ws.Close()
	req := WatchRequest{Key: []byte("a")}
	for want := int64(0); want < 3; want++ {
		if id := mustWatch(t, ws, 0, req); id != want {
			t.Fatalf("auto ID %d, want %d", id, want)
		}
	}
	if id := mustWatch(t, ws, 4, req); id != 4 {
		t.Fatalf("explicit ID %d", id)
	}
	if _, err := ws.Watch(4, req); !errors.Is(err, ErrWatchIDExists) {
		t.Fatalf("duplicate ID: %v", err)
	}
	if id := mustWatch(t, ws, 0, req); id != 3 {
		t.Fatalf("auto ID %d, want 3", id)
	}
	if id := mustWatch(t, ws, 0, req); id != 5 {
		t.Fatalf("auto ID %d, want 5 (4 is taken)", id)
	}
	for _, bad := range []WatchRequest{
		{Key: []byte("b"), End: []byte("a")},
		{Key: []byte("a"), End: []byte("a")},
		{Key: []byte("a"), StartRev: -1},
	} {
		if _, err := ws.Watch(0, bad); !errors.Is(err, ErrInvalidRequest) {
			t.Fatalf("Watch(%+v): %v, want ErrInvalidRequest", bad, err)
		}
	}
	if _, err := ws.Watch(-3, req); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("negative ID: %v", err)
	}
	if err := ws.Cancel(42); !errors.Is(err, ErrWatcherNotFound) {
		t.Fatalf("Cancel(42): %v", err)
	}
	f.write(put("a", "1"))
	if err := ws.Cancel(1); err != nil {
		t.Fatal(err)
	}
	f.write(put("a", "2"))
	rs := barrier(t, f, ws)
	canceled := false
	for _, r := range rs {
		if r.WatchID != 1 {
			continue
		}
		if canceled {
			t.Fatalf("response after Canceled: %+v", r)
		}
		canceled = r.Canceled
	}
	if !canceled {
		t.Fatalf("no Canceled response for 1")
	}
	if got := evString(eventsOf(rs, 0)); got != "1:PUT:a=1 2:PUT:a=2" {
		t.Fatalf("watcher 0: %q", got)
	}
	// The ID is free again.
	if id := mustWatch(t, ws, 1, req); id != 1 {
		t.Fatalf("reuse ID: %d", id)
	}
}

// A reader that stalls makes its stream overflow; publish never blocks, the
// other stream is unaffected, and the stalled one still gets every event
// once it reads, through history, then live again.
func TestWatchSlowConsumer(t *testing.T) {
	f, h := newFakeHub(&Options{WatchQueueLen: 4, WatchBatchEvents: 16})
	defer h.close()
	slow, fast := h.newStream(), h.newStream()
	defer slow.Close()
	defer fast.Close()
	var slowIDs []int64
	for i := range 10 {
		slowIDs = append(slowIDs, mustWatch(t, slow, 0, WatchRequest{Key: []byte(fmt.Sprint("k", i%3))}))
	}
	fastID := mustWatch(t, fast, 0, WatchRequest{Key: []byte("k"), End: []byte("l")})
	expectCreated(t, fast, fastID)
	waitLive(t, h, slow, "k0", "k1", "k2") // so that the writes overflow its queue

	var fastEvents []*mvccpb.Event
	fastDone := make(chan struct{})
	const n = 600
	go func() {
		defer close(fastDone)
		for len(fastEvents) < n {
			r := <-fast.Chan()
			fastEvents = append(fastEvents, r.Events...)
		}
	}()
	for i := range n {
		f.write(put(fmt.Sprint("k", i%3), fmt.Sprint(i)))
	}
	<-fastDone
	slow.mu.Lock()
	queued := len(slow.recs)
	slow.mu.Unlock()
	if queued > 4 {
		t.Fatalf("stalled stream holds %d revisions, more than WatchQueueLen 4", queued)
	}
	if len(fastEvents) != n {
		t.Fatalf("fast stream got %d events, want %d", len(fastEvents), n)
	}
	if m := h.metrics(); m.Overflows == 0 {
		t.Fatalf("the stalled stream never overflowed: %+v", m)
	}
	rs := barrier(t, f, slow)
	f.write(put("k0", "after"))
	rs = append(rs, barrier(t, f, slow)...)
	for i, id := range slowIDs {
		key := fmt.Sprint("k", i%3)
		var want []string
		for rev := 1; rev <= n; rev++ {
			if (rev-1)%3 == i%3 {
				want = append(want, fmt.Sprintf("%d:PUT:%s=%d", rev, key, rev-1))
			}
		}
		if key == "k0" {
			want = append(want, fmt.Sprintf("%d:PUT:k0=after", n+1))
		}
		if got := evString(eventsOf(rs, id)); got != joinStrings(want) {
			t.Fatalf("watcher %d: got %q\nwant %q", id, got, joinStrings(want))
		}
	}
}

// A stalled stream whose history is compacted meanwhile gets compacted
// cancels for its watchers.
func TestWatchSlowConsumerCompacted(t *testing.T) {
	// Live, a drain takes at most WatchQueueLen revisions; catching up, a
	// batch is one revision: either way 20 watchers fill the channel
	// buffer long before n revisions, and the stream stalls.
	f, h := newFakeHub(&Options{WatchQueueLen: 2, WatchBatchEvents: 1})
	defer h.close()
	ws := h.newStream()
	defer ws.Close()
	const nw = 20
	for range nw {
		mustWatch(t, ws, 0, WatchRequest{Key: []byte("a")})
	}
	barrier(t, f, ws)
	waitLive(t, h, ws, "a")
	const n = 300
	for i := range n {
		f.write(put("a", fmt.Sprint(i)))
	}
	f.compact(n)
	f.write(put("a", "after"))
	seen := map[int64][]*mvccpb.Event{}
	canceled := 0
	for canceled < nw {
		r := recv(t, ws)
		if r.Created {
			continue
		}
		if r.Canceled {
			if r.CompactRevision != n {
				t.Fatalf("cancel %+v, want CompactRevision %d", r, n)
			}
			canceled++
			continue
		}
		seen[r.WatchID] = append(seen[r.WatchID], r.Events...)
	}
	for id, evs := range seen {
		for i, e := range evs {
			if e.Kv.ModRevision != int64(i+1) {
				t.Fatalf("watcher %d: event %d has revision %d: not a gapless prefix", id, i, e.Kv.ModRevision)
			}
		}
	}
	if m := h.metrics(); m.Watchers != 0 {
		t.Fatalf("metrics after all canceled: %+v", m)
	}
}

// The store bumps its revision before publishing it: a catching-up watcher
// reads that revision from history and must not get it again live; a
// progress request must wait for the publish.
func TestWatchRevisionBeforePublish(t *testing.T) {
	f, h := newFakeHub(nil)
	defer h.close()
	f.write(put("a", "1"))
	ws := h.newStream()
	defer ws.Close()
	f.gate = make(chan struct{})
	wrote := make(chan int64)
	go func() { wrote <- f.write(put("a", "2")) }()
	for { // wait until revision 2 is visible but not published
		if cur, _ := f.revisions(); cur == 2 {
			break
		}
		runtime.Gosched()
	}
	id := mustWatch(t, ws, 0, WatchRequest{Key: []byte("a"), StartRev: 1})
	expectCreated(t, ws, id)
	var got []*mvccpb.Event
	for len(got) < 2 {
		got = append(got, recv(t, ws).Events...)
	}
	ws.RequestProgress() // for revision 2, published only after the gate opens
	close(f.gate)
	<-wrote
	f.gate = nil
	f.write(put("a", "3"))
	rs := barrier(t, f, ws)
	got = append(got, eventsOf(rs, id)...)
	if s := evString(got); s != "1:PUT:a=1 2:PUT:a=2 3:PUT:a=3" {
		t.Fatalf("got %q", s)
	}
}

func TestWatchProgressWaitsForCatchUp(t *testing.T) {
	f, h := newFakeHub(&Options{WatchBatchEvents: 1})
	defer h.close()
	for i := range 50 {
		f.write(put("a", fmt.Sprint(i)))
	}
	ws := h.newStream()
	defer ws.Close()
	// No watchers: answered at once.
	if rs := barrier(t, f, ws); len(rs) != 0 {
		t.Fatalf("responses without watchers: %+v", rs)
	}
	id := mustWatch(t, ws, 0, WatchRequest{Key: []byte("a"), StartRev: 1})
	rs := barrier(t, f, ws) // must come after all 50 historical events
	if n := len(eventsOf(rs, id)); n != 50 {
		t.Fatalf("%d events before the progress response, want 50", n)
	}
}

// A progress request whose revision is stale by the time the pump sees it
// (events of later revisions were sent meanwhile) is answered with the
// newest revision sent, never one older than an event already delivered.
func TestWatchProgressNotBehindEvents(t *testing.T) {
	f, h := newFakeHub(nil)
	defer h.close()
	f.write(put("a", "1"))
	ws := h.newStream()
	defer ws.Close()
	id := mustWatch(t, ws, 0, WatchRequest{Key: []byte("a")})
	expectCreated(t, ws, id)
	waitLive(t, h, ws, "a") // the pump no longer calls revisions
	stalled, release := make(chan struct{}), make(chan struct{})
	hook := func() { close(stalled); <-release }
	f.revHook.Store(&hook)
	requested := make(chan struct{})
	go func() { ws.RequestProgress(); close(requested) }() // reads revision 1
	<-stalled
	f.write(put("a", "2"))
	f.write(put("a", "3"))
	var got []*mvccpb.Event
	for len(got) < 2 {
		got = append(got, recv(t, ws).Events...)
	}
	close(release)
	<-requested
	if r := recv(t, ws); r.WatchID != -1 || r.Revision != 3 {
		t.Fatalf("progress answer %+v, want revision 3 (events up to 3 were sent)", r)
	}
}

func TestWatchProgressNotify(t *testing.T) {
	f, h := newFakeHub(nil)
	defer h.close()
	f.write(put("a", "1"))
	ws := h.newStream()
	defer ws.Close()
	ws.SetProgressInterval(time.Millisecond)
	id := mustWatch(t, ws, 0, WatchRequest{Key: []byte("a"), ProgressNotify: true})
	other := mustWatch(t, ws, 0, WatchRequest{Key: []byte("b")})
	for {
		r := recv(t, ws)
		if r.Created {
			continue
		}
		if r.WatchID == other {
			t.Fatalf("progress notification for a watcher that did not ask: %+v", r)
		}
		if r.WatchID == id && len(r.Events) == 0 && r.Revision == 1 {
			return
		}
		t.Fatalf("unexpected response %+v", r)
	}
}

func TestWatchClose(t *testing.T) {
	f, h := newFakeHub(nil)
	ws := h.newStream()
	mustWatch(t, ws, 0, WatchRequest{Key: []byte("a"), PrevKV: true})
	mustWatch(t, ws, 0, WatchRequest{Key: []byte("a"), StartRev: 1})
	f.write(put("a", "1"))
	ws.Close()
	ws.Close()
	for range ws.Chan() {
	}
	if _, err := ws.Watch(0, WatchRequest{Key: []byte("a")}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Watch after Close: %v", err)
	}
	if err := ws.Cancel(0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Cancel after Close: %v", err)
	}
	ws.RequestProgress()
	if h.wantPrevKV() {
		t.Fatalf("wantPrevKV after Close")
	}

	ws2 := h.newStream()
	mustWatch(t, ws2, 0, WatchRequest{Key: []byte("a")})
	h.close()
	for range ws2.Chan() {
	}
	select {
	case <-h.notifierDone:
	default:
		t.Fatalf("notifier goroutine still running after close")
	}
	h.close() // idempotent
	ws3 := h.newStream()
	if _, ok := <-ws3.Chan(); ok {
		t.Fatalf("stream of a closed hub is open")
	}
	ws3.Close()
	f.write(put("a", "2")) // publish after close: ignored
	if m := h.metrics(); m.Streams != 0 || m.Watchers != 0 {
		t.Fatalf("metrics after close: %+v", m)
	}
}

// A stream whose history reads fail because the store is closing ends,
// without canceling its watchers one by one.
func TestWatchStoreClosing(t *testing.T) {
	f, h := newFakeHub(nil)
	defer h.close()
	f.write(put("a", "1"))
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	ws := h.newStream()
	defer ws.Close()
	mustWatch(t, ws, 0, WatchRequest{Key: []byte("a"), StartRev: 1})
	for r := range ws.Chan() {
		if !r.Created {
			t.Fatalf("response %+v from a stream whose store is closing", r)
		}
	}
	if _, err := ws.Watch(0, WatchRequest{Key: []byte("a")}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Watch on the ended stream: %v", err)
	}
}

// Watch must not deadlock with a store that publishes under the lock its
// revisions and history take.
func TestWatchStrictLocking(t *testing.T) {
	f, h := newFakeHub(&Options{WatchQueueLen: 2, WatchBatchEvents: 3})
	defer h.close()
	f.strict = true
	ws := h.newStream()
	defer ws.Close()
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; !stop.Load() || i < 50; i++ {
			f.write(put(fmt.Sprint("k", i%5), fmt.Sprint(i)))
		}
	}()
	ids := []int64{}
	for i := range 20 {
		ids = append(ids, mustWatch(t, ws, 0, WatchRequest{Key: []byte("k"), End: []byte("l"), StartRev: int64(i + 1), PrevKV: i%2 == 0}))
		ws.RequestProgress()
	}
	stop.Store(true)
	<-done
	cur, _ := f.revisions()
	// Earlier progress requests may be answered with cur already: a write
	// outside the watched range makes the barrier's answer unambiguous.
	f.write(put("z", "marker"))
	rs := barrier(t, f, ws)
	for i, id := range ids {
		evs := eventsOf(rs, id)
		if int64(len(evs)) != cur-int64(i) {
			var trace []string
			for j, r := range rs {
				if r.WatchID == id || r.WatchID == -1 {
					trace = append(trace, fmt.Sprintf("#%d id=%d created=%v canceled=%v rev=%d n=%d %s", j, r.WatchID, r.Created, r.Canceled, r.Revision, len(r.Events), r.CancelReason))
				}
			}
			t.Fatalf("watcher %d got %d events, want %d; %d responses; cur %d\n%s", id, len(evs), cur-int64(i), len(rs), cur, joinStrings(trace))
		}
	}
}
