package watchcache

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/apiserver/storage"
	"go.etcd.io/etcd/api/v3/mvccpb"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

func TestNewValidates(t *testing.T) {
	for _, cfg := range []Config{
		{Prefix: prefix, Decode: decodeCM},
		{Store: &storage.Member{}, Decode: decodeCM},
		{Store: &storage.Member{}, Prefix: prefix},
		{Store: &storage.Member{}, Prefix: prefix, Decode: decodeCM, History: -1},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrBadConfig) {
			t.Errorf("New(%+v): %v, want ErrBadConfig", cfg, err)
		}
	}
}

func TestListAfterWrites(t *testing.T) {
	st := startMember(t)
	// Some objects exist before the cache starts, some come after.
	for i := 0; i < 30; i++ {
		put(t, st, "a", fmt.Sprintf("cm%02d", i), nil, "x")
	}
	txn(t, st, putOp("/registry/configmapsX/a/b", []byte("{}")), putOp("/registry/secrets/a/b", []byte("{}")))
	c := startCache(t, st, func(c *Config) { c.PageSize = 7 })
	var last int64
	for i := 0; i < 20; i++ {
		last = put(t, st, "b", fmt.Sprintf("cm%02d", i), nil, "y")
	}
	put(t, st, "a", "cm05", nil, "changed")
	del(t, st, "a", "cm06")
	rev := fresh(t, c)
	if rev <= last {
		t.Fatalf("WaitFresh returned %d, before the last write at %d", rev, last)
	}

	all, lrev := c.List(prefix)
	if lrev < rev || len(all) != 49 {
		t.Fatalf("List: %d objects at %d, want 49 at >= %d", len(all), lrev, rev)
	}
	if !sort.SliceIsSorted(all, func(i, j int) bool { return all[i].Key < all[j].Key }) {
		t.Fatal("List not sorted by key")
	}
	ns, _ := c.List(prefix + "b/")
	if len(ns) != 20 || ns[0].Key != cmKey("b", "cm00") {
		t.Fatalf("List of namespace b: %d objects, first %q", len(ns), ns[0].Key)
	}
	o, ok, _ := c.Get(cmKey("a", "cm05"))
	if !ok || o.Obj.(*corev1.ConfigMap).Data["v"] != "changed" || o.Obj.(*corev1.ConfigMap).ResourceVersion != fmt.Sprint(o.Rev) {
		t.Fatalf("Get cm05: %+v %v", o, ok)
	}
	if _, ok, _ := c.Get(cmKey("a", "cm06")); ok {
		t.Fatal("deleted cm06 still cached")
	}
	if s := c.Stats(); s.Objects != 49 || s.Relists != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// WaitFresh must see a write made just before it, even when nothing under
// the prefix changes afterwards (the cache learns the store's revision
// through a progress request), and when the last write was elsewhere.
func TestWaitFreshConsistentRead(t *testing.T) {
	st := startMember(t)
	c := startCache(t, st, nil)
	for i := 0; i < 20; i++ {
		rev := put(t, st, "a", fmt.Sprintf("cm%d", i), nil, "x")
		got := fresh(t, c)
		if got < rev {
			t.Fatalf("WaitFresh %d < write %d", got, rev)
		}
		if _, ok, r := c.Get(cmKey("a", fmt.Sprintf("cm%d", i))); !ok || r < rev {
			t.Fatalf("write at %d not visible after WaitFresh (cache at %d)", rev, r)
		}
		other := txn(t, st, putOp(fmt.Sprintf("/registry/secrets/a/s%d", i), []byte("{}")))
		if got := fresh(t, c); got < other || c.Rev() < other {
			t.Fatalf("after a write elsewhere at %d: WaitFresh %d, cache %d", other, got, c.Rev())
		}
	}
}

func TestWatchFromRev(t *testing.T) {
	st := startMember(t)
	c := startCache(t, st, nil)
	put(t, st, "a", "x", nil, "1")
	from := put(t, st, "a", "y", nil, "1")
	// Events after from: some before the watch, some after it starts.
	want := []summary{
		{"MODIFIED", cmKey("a", "x"), put(t, st, "a", "x", nil, "2"), "2"},
		{"ADDED", cmKey("b", "z"), put(t, st, "b", "z", nil, "1"), "1"},
		{"DELETED", cmKey("a", "y"), del(t, st, "a", "y"), "1"},
	}
	fresh(t, c)
	w, err := c.Watch(prefix, from, nil, false, false)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	wa, err := c.Watch(prefix+"a/", from, nil, false, false)
	if err != nil {
		t.Fatal(err)
	}
	defer wa.Stop()
	// Two changes in one revision: both, in the txn's order.
	r := txn(t, st, putOp(cmKey("a", "x"), cmValue("a", "x", nil, "3")), putOp(cmKey("b", "w"), cmValue("b", "w", nil, "1")))
	want = append(want, summary{"MODIFIED", cmKey("a", "x"), r, "3"}, summary{"ADDED", cmKey("b", "w"), r, "1"})
	want = append(want, summary{"DELETED", cmKey("b", "z"), del(t, st, "b", "z"), "1"})

	if got := recvN(t, w, len(want)); !reflect.DeepEqual(got, want) {
		t.Fatalf("whole-resource watch from %d:\n got %+v\nwant %+v", from, got, want)
	}
	expectQuiet(t, w)
	var wantA []summary
	for _, s := range want {
		if s.Key[len(prefix)] == 'a' {
			wantA = append(wantA, s)
		}
	}
	if got := recvN(t, wa, len(wantA)); !reflect.DeepEqual(got, wantA) {
		t.Fatalf("namespace watch from %d:\n got %+v\nwant %+v", from, got, wantA)
	}
	expectQuiet(t, wa)

	// fromRev 0: from now.
	wn, err := c.Watch(prefix, 0, nil, false, false)
	if err != nil {
		t.Fatal(err)
	}
	defer wn.Stop()
	rn := put(t, st, "c", "n", nil, "1")
	if got := recvN(t, wn, 1); got[0] != (summary{"ADDED", cmKey("c", "n"), rn, "1"}) {
		t.Fatalf("watch from now: %+v", got)
	}

	// A fromRev beyond the cache: only the events after it.
	wf, err := c.Watch(prefix, rn+2, nil, false, false)
	if err != nil {
		t.Fatal(err)
	}
	defer wf.Stop()
	put(t, st, "c", "n", nil, "2")
	put(t, st, "c", "n", nil, "3")
	r4 := put(t, st, "c", "n", nil, "4")
	if got := recvN(t, wf, 1); got[0] != (summary{"MODIFIED", cmKey("c", "n"), r4, "4"}) {
		t.Fatalf("watch from the future %d: %+v", rn+2, got)
	}
}

func TestWatchInitialEvents(t *testing.T) {
	st := startMember(t)
	put(t, st, "a", "x", nil, "1")
	put(t, st, "b", "y", nil, "1")
	c := startCache(t, st, nil)
	put(t, st, "a", "z", nil, "1")
	rev := fresh(t, c)
	w, err := c.Watch(prefix, 1, nil, true, true)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	got := recvN(t, w, 3)
	for i, k := range []string{cmKey("a", "x"), cmKey("a", "z"), cmKey("b", "y")} {
		if got[i].Type != "ADDED" || got[i].Key != k {
			t.Fatalf("initial event %d: %+v, want ADDED %s", i, got[i], k)
		}
	}
	ev, _ := recv(t, w)
	if ev.Type != watch.Bookmark || !ev.InitialEventsEnd || ev.Rev != rev || ev.Obj != nil {
		t.Fatalf("after the initial events: %+v, want the InitialEventsEnd bookmark at %d", ev, rev)
	}
	r := put(t, st, "b", "y", nil, "2")
	if got := recvN(t, w, 1); got[0] != (summary{"MODIFIED", cmKey("b", "y"), r, "2"}) {
		t.Fatalf("after the bookmark: %+v", got)
	}

	// Without bookmarks: the state, then the new events, no bookmark.
	wn, err := c.Watch(prefix+"a/", 0, nil, true, false)
	if err != nil {
		t.Fatal(err)
	}
	defer wn.Stop()
	r = put(t, st, "a", "x", nil, "2")
	got = recvN(t, wn, 3)
	if got[0].Key != cmKey("a", "x") || got[1].Key != cmKey("a", "z") || got[2] != (summary{"MODIFIED", cmKey("a", "x"), r, "2"}) {
		t.Fatalf("initial without bookmark: %+v", got)
	}
}

func TestTooOldAfterHistory(t *testing.T) {
	st := startMember(t)
	c := startCache(t, st, func(c *Config) { c.History = 5 })
	var revs []int64
	for i := 0; i < 10; i++ {
		revs = append(revs, put(t, st, "a", fmt.Sprintf("cm%d", i), nil, "x"))
	}
	fresh(t, c)
	// The ring holds the last 5 events: revs[5..9]. Resuming from
	// revs[4] is exact; from revs[3] needs revs[4], dropped.
	if _, err := c.Watch(prefix, revs[3], nil, false, false); !errors.Is(err, ErrTooOld) {
		t.Fatalf("watch from %d: %v, want ErrTooOld", revs[3], err)
	}
	w, err := c.Watch(prefix, revs[4], nil, false, false)
	if err != nil {
		t.Fatalf("watch from %d: %v", revs[4], err)
	}
	defer w.Stop()
	got := recvN(t, w, 5)
	for i, s := range got {
		if s.Rev != revs[5+i] {
			t.Fatalf("event %d at %d, want %d", i, s.Rev, revs[5+i])
		}
	}
}

// A failed store watch (here: compacted history) makes the cache list
// again: every watcher ends, older revisions are too old, and the state
// after the re-list is right.
func TestRelistAfterCompaction(t *testing.T) {
	fs := &faultStore{Store: startMember(t)}
	c := startCache(t, fs, nil)
	r1 := put(t, fs, "a", "x", nil, "1")
	fresh(t, c)
	w, err := c.Watch(prefix, r1, nil, false, false)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	r2 := put(t, fs, "a", "x", nil, "2")
	if got := recvN(t, w, 1); got[0].Rev != r2 {
		t.Fatalf("got %+v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := fs.Compact(ctx, r2); err != nil {
		t.Fatal(err)
	}
	// Writes while the store watch is down and the cache re-lists.
	fs.breakWatch(fmt.Errorf("%w (%w)", storage.ErrCompacted, errInjected))
	put(t, fs, "a", "y", nil, "1")
	del(t, fs, "a", "x")
	if _, ok := recv(t, w); ok {
		t.Fatal("watcher not ended by the re-list")
	}
	rev := fresh(t, c)
	if s := c.Stats(); s.Relists != 2 || fs.nWatches() != 2 {
		t.Fatalf("stats %+v, %d store watches; want 2 lists and 2 watches", s, fs.nWatches())
	}
	// r1 was served before the re-list; the re-list was at r2 or later.
	if _, err := c.Watch(prefix, r1, nil, false, false); !errors.Is(err, ErrTooOld) {
		t.Fatalf("watch from %d (before the re-list): %v, want ErrTooOld", r1, err)
	}
	objs, _ := c.List(prefix)
	if len(objs) != 1 || objs[0].Key != cmKey("a", "y") {
		t.Fatalf("after the re-list: %+v", objs)
	}
	w2, err := c.Watch(prefix, rev, nil, false, false)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Stop()
	r4 := put(t, fs, "a", "y", nil, "2")
	if got := recvN(t, w2, 1); got[0] != (summary{"MODIFIED", cmKey("a", "y"), r4, "2"}) {
		t.Fatalf("after the re-list: %+v", got)
	}
}

func TestFilterTransitions(t *testing.T) {
	st := startMember(t)
	c := startCache(t, st, nil)
	blue := func(o runtime.Object) bool { return o.(*corev1.ConfigMap).Labels["color"] == "blue" }
	w, err := c.Watch(prefix, 0, blue, false, false)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	blueL, redL := map[string]string{"color": "blue"}, map[string]string{"color": "red"}
	put(t, st, "a", "x", redL, "1")        // not matching: nothing
	r1 := put(t, st, "a", "x", blueL, "2") // starts matching: Added
	r2 := put(t, st, "a", "x", blueL, "3") // still matching: Modified
	r3 := put(t, st, "a", "x", redL, "4")  // stops: Deleted, last matching state
	put(t, st, "a", "x", redL, "5")        // nothing
	r4 := put(t, st, "a", "y", blueL, "1") // Added
	r5 := del(t, st, "a", "y")             // Deleted, last state
	put(t, st, "a", "z", redL, "1")        // nothing
	del(t, st, "a", "z")                   // nothing
	r6 := put(t, st, "a", "x", blueL, "6") // Added again
	want := []summary{
		{"ADDED", cmKey("a", "x"), r1, "2"},
		{"MODIFIED", cmKey("a", "x"), r2, "3"},
		{"DELETED", cmKey("a", "x"), r3, "3"},
		{"ADDED", cmKey("a", "y"), r4, "1"},
		{"DELETED", cmKey("a", "y"), r5, "1"},
		{"ADDED", cmKey("a", "x"), r6, "6"},
	}
	if got := recvN(t, w, len(want)); !reflect.DeepEqual(got, want) {
		t.Fatalf("\n got %+v\nwant %+v", got, want)
	}
	expectQuiet(t, w)
	// The initial events are filtered too.
	wi, err := c.Watch(prefix, 0, blue, true, true)
	if err != nil {
		t.Fatal(err)
	}
	defer wi.Stop()
	if got := recvN(t, wi, 2); got[0] != (summary{"ADDED", cmKey("a", "x"), r6, "6"}) || got[1].Type != "BOOKMARK" {
		t.Fatalf("initial filtered: %+v", got)
	}
}

// A watcher nobody reads is terminated when its buffer fills; the others
// and the feeder go on.
func TestStalledWatcherTerminated(t *testing.T) {
	st := startMember(t)
	const buf = 5
	c := startCache(t, st, func(c *Config) { c.WatcherBuffer = buf })
	stalled, err := c.Watch(prefix, 0, nil, false, false)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Stop()
	reader, err := c.Watch(prefix, 0, nil, false, false)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Stop()
	const n = 30
	var revs []int64
	for i := 0; i < n; i++ {
		revs = append(revs, put(t, st, "a", fmt.Sprintf("cm%d", i), nil, "x"))
		if got := recvN(t, reader, 1); got[0].Rev != revs[i] {
			t.Fatalf("reader got %+v, want rev %d", got, revs[i])
		}
	}
	// The stalled watcher delivers what its buffer (and its goroutine's
	// hand) held, in order, then ends.
	var got []int64
	for {
		ev, ok := recv(t, stalled)
		if !ok {
			break
		}
		got = append(got, ev.Rev)
	}
	if len(got) == 0 || len(got) > buf+1 || !reflect.DeepEqual(got, revs[:len(got)]) {
		t.Fatalf("stalled watcher delivered %v; want a prefix of %v of at most %d", got, revs, buf+1)
	}
	if s := c.Stats(); s.Terminated != 1 || s.Watchers != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestWaitRevTooLarge(t *testing.T) {
	st := startMember(t)
	c := startCache(t, st, func(c *Config) { c.TooLargeWait = 200 * time.Millisecond })
	rev := fresh(t, c)
	ctx := context.Background()
	if err := c.WaitRev(ctx, rev); err != nil {
		t.Fatalf("WaitRev(current): %v", err)
	}
	start := time.Now()
	if err := c.WaitRev(ctx, rev+1000); !errors.Is(err, ErrTooLargeRV) {
		t.Fatalf("WaitRev(future): %v, want ErrTooLargeRV", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("ErrTooLargeRV after %v, before the configured wait", d)
	}
	// A revision the store reaches meanwhile, even through writes outside
	// the prefix, is waited for (by a cache that waits long enough for a
	// busy machine).
	patient := startCache(t, st, func(c *Config) { c.TooLargeWait = time.Minute })
	done := make(chan error, 1)
	go func() { done <- patient.WaitRev(ctx, rev+3) }()
	for i := 0; i < 3; i++ {
		txn(t, st, putOp(fmt.Sprintf("/registry/secrets/s%d", i), []byte("{}")))
	}
	if err := <-done; err != nil {
		t.Fatalf("WaitRev(soon): %v", err)
	}
}

func TestBookmarks(t *testing.T) {
	st := startMember(t)
	c := startCache(t, st, func(c *Config) { c.BookmarkInterval = 20 * time.Millisecond })
	w, err := c.Watch(prefix, 0, nil, false, true)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	r := put(t, st, "a", "x", nil, "1")
	var seen int64
	for {
		ev, ok := recv(t, w)
		if !ok {
			t.Fatal("closed")
		}
		switch ev.Type {
		case watch.Added:
			seen = ev.Rev
		case watch.Bookmark:
			if ev.Rev < seen || ev.InitialEventsEnd {
				t.Fatalf("bookmark %+v after an event at %d", ev, seen)
			}
			if seen == r && ev.Rev >= r {
				return
			}
		}
	}
}

func TestDecodeErrorSkipsKey(t *testing.T) {
	st := startMember(t)
	txn(t, st, putOp(cmKey("a", "bad"), []byte("not json")))
	c := startCache(t, st, func(c *Config) {
		c.Decode = func(kv *mvccpb.KeyValue) (runtime.Object, error) {
			if string(kv.Value) == "panic" {
				panic("a decoder bug")
			}
			return decodeCM(kv)
		}
	})
	txn(t, st, putOp(cmKey("a", "bad2"), []byte("panic")))
	r := put(t, st, "a", "good", nil, "1")
	fresh(t, c)
	objs, _ := c.List(prefix)
	if len(objs) != 1 || objs[0].Rev != r {
		t.Fatalf("list %+v", objs)
	}
	del(t, st, "a", "bad") // unknown to the cache: skipped
	fresh(t, c)
	if s := c.Stats(); s.Skipped != 3 {
		t.Fatalf("stats %+v, want 3 skipped", s)
	}
}

func TestClosed(t *testing.T) {
	st := startMember(t)
	c, err := New(Config{Store: st, Prefix: prefix, Decode: decodeCM, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Watch(prefix, 0, nil, false, false); !errors.Is(err, ErrNotReady) {
		t.Fatalf("watch before ready: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	w, err := c.Watch(prefix, 0, nil, false, false)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	if _, ok := recv(t, w); ok {
		t.Fatal("watcher open after Run returned")
	}
	w.Stop()
	if _, err := c.Watch(prefix, 0, nil, false, false); !errors.Is(err, ErrClosed) {
		t.Fatalf("watch after close: %v", err)
	}
	if _, err := c.WaitFresh(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitFresh after close: %v", err)
	}
}
