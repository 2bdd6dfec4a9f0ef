package kvstore

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// fakeHistory is an in-memory historySource: a log of revisions and the
// latest value of each key. It models the store's locking: applyMu is the
// apply lock, held around a write and its publish; mu guards the data and
// is taken by revisions and history. In strict mode a write publishes while
// still holding mu, so a hub that called the source under its own locks
// would deadlock; otherwise mu is released before publish, which lets
// history see a revision before it is published (the race the hub handles).
type fakeHistory struct {
	applyMu sync.Mutex
	hub     *watchHub
	strict  bool
	// gate, if set, is waited on between bumping the revision and publish.
	gate chan struct{}
	// revHook, if set, is taken (once) and run by revisions after it read
	// the revisions: a way to stall one caller with a stale answer.
	revHook atomic.Pointer[func()]

	mu        sync.RWMutex
	revs      [][]*mvccpb.Event // revs[i] holds revision i+1, PrevKv always filled
	compacted int64
	kv        map[string]*mvccpb.KeyValue
	// lastWant is the answer of the last wantPrevKV call (for writeStale).
	lastWant bool
	// closed makes history fail with ErrClosed, as a closing store's does.
	closed bool
}

type fakeOp struct {
	key string
	del bool
	val string
}

func put(key, val string) fakeOp { return fakeOp{key: key, val: val} }
func del(key string) fakeOp      { return fakeOp{key: key, del: true} }

func newFakeHub(opts *Options) (*fakeHistory, *watchHub) {
	if opts == nil {
		opts = &Options{}
	}
	f := &fakeHistory{kv: make(map[string]*mvccpb.KeyValue)}
	f.hub = newWatchHub(f, opts.EnsureDefaults())
	return f, f.hub
}

func (f *fakeHistory) revisions() (int64, int64) {
	f.mu.RLock()
	cur, compacted := int64(len(f.revs)), f.compacted
	f.mu.RUnlock()
	if hook := f.revHook.Swap(nil); hook != nil {
		(*hook)()
	}
	return cur, compacted
}

func (f *fakeHistory) history(key, end []byte, from, to int64, prevKV bool, maxEvents int) ([]*mvccpb.Event, int64, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return nil, 0, ErrClosed
	}
	if from <= f.compacted {
		return nil, 0, fmt.Errorf("history from %d: %w", from, ErrCompacted)
	}
	r, err := newKeyRange(key, end)
	if err != nil {
		return nil, 0, err
	}
	to = min(to, int64(len(f.revs)))
	var out []*mvccpb.Event
	for rev := from; rev <= to; rev++ {
		for _, e := range f.revs[rev-1] {
			if r.contains(e.Kv.Key) {
				if !prevKV {
					e = &mvccpb.Event{Type: e.Type, Kv: e.Kv}
				}
				out = append(out, e)
			}
		}
		if len(out) >= maxEvents {
			return out, rev, nil
		}
	}
	return out, to, nil
}

func (f *fakeHistory) compact(rev int64) {
	f.mu.Lock()
	f.compacted = max(f.compacted, rev)
	f.mu.Unlock()
}

// write applies ops as one revision and publishes it; it returns the
// revision, or 0 if the ops changed nothing.
func (f *fakeHistory) write(ops ...fakeOp) int64 {
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	want := f.hub.wantPrevKV()
	return f.applyLocked(want, ops)
}

// writeStale writes with the answer of the previous wantPrevKV call, as a
// store would for the later writes of a batch.
func (f *fakeHistory) writeStale(ops ...fakeOp) int64 {
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	return f.applyLocked(f.lastWant, ops)
}

func (f *fakeHistory) applyLocked(want bool, ops []fakeOp) int64 {
	f.lastWant = want
	f.mu.Lock()
	rev := int64(len(f.revs)) + 1
	var full, pub []*mvccpb.Event
	for _, op := range ops {
		old := f.kv[op.key]
		var e *mvccpb.Event
		if op.del {
			if old == nil {
				continue
			}
			delete(f.kv, op.key)
			e = &mvccpb.Event{Type: mvccpb.Event_DELETE, Kv: &mvccpb.KeyValue{Key: []byte(op.key), ModRevision: rev}, PrevKv: old}
		} else {
			kv := &mvccpb.KeyValue{Key: []byte(op.key), Value: []byte(op.val), CreateRevision: rev, ModRevision: rev, Version: 1}
			if old != nil {
				kv.CreateRevision, kv.Version = old.CreateRevision, old.Version+1
			}
			f.kv[op.key] = kv
			e = &mvccpb.Event{Type: mvccpb.Event_PUT, Kv: kv, PrevKv: old}
		}
		full = append(full, e)
		if want {
			pub = append(pub, e)
		} else {
			pub = append(pub, &mvccpb.Event{Type: e.Type, Kv: e.Kv})
		}
	}
	if len(full) == 0 {
		f.mu.Unlock()
		return 0
	}
	f.revs = append(f.revs, full)
	if f.strict {
		f.hub.publish(rev, pub)
		f.mu.Unlock()
		return rev
	}
	f.mu.Unlock()
	if f.gate != nil {
		<-f.gate
	}
	f.hub.publish(rev, pub)
	return rev
}

// recv reads one response, failing the test if none comes in a long while
// (only a hang trips this; no timing is asserted).
func recv(t testing.TB, ws *WatchStream) WatchResponse {
	t.Helper()
	select {
	case r, ok := <-ws.Chan():
		if !ok {
			t.Fatalf("stream closed")
		}
		return r
	case <-time.After(20 * time.Second):
		t.Fatalf("no watch response for 20s")
	}
	panic("unreachable")
}

// barrier requests progress and returns every response up to the answer
// (skipping answers to earlier requests, for older revisions). With other
// progress requests outstanding, write first: an earlier request may be
// answered with the current revision too.
func barrier(t testing.TB, f interface{ revisions() (int64, int64) }, ws *WatchStream) []WatchResponse {
	t.Helper()
	cur, _ := f.revisions()
	ws.RequestProgress()
	var out []WatchResponse
	for {
		r := recv(t, ws)
		if r.WatchID == -1 {
			if r.Revision >= cur {
				return out
			}
			continue
		}
		out = append(out, r)
	}
}

// waitLive waits until ws has live watchers on each single key in the hub's
// index (a barrier only proves watchers complete, not live).
func waitLive(t testing.TB, h *watchHub, ws *WatchStream, keys ...string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		live := 0
		h.mu.Lock()
		for _, k := range keys {
			if e := h.single[k]; e != nil && slices.ContainsFunc(e.groups, func(g *liveGroup) bool { return g.ws == ws }) {
				live++
			}
		}
		h.mu.Unlock()
		if live == len(keys) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("watchers on %q not live after 20s", keys)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// evString renders events compactly: "rev:PUT:key=val(prev)".
func evString(evs []*mvccpb.Event) string {
	var b bytes.Buffer
	for i, e := range evs {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d:%s:%s", e.Kv.ModRevision, e.Type, e.Kv.Key)
		if e.Type == mvccpb.Event_PUT {
			fmt.Fprintf(&b, "=%s", e.Kv.Value)
		}
		if e.PrevKv != nil {
			fmt.Fprintf(&b, "(%s)", e.PrevKv.Value)
		}
	}
	return b.String()
}

// eventsOf concatenates the events of id's responses.
func eventsOf(rs []WatchResponse, id int64) []*mvccpb.Event {
	var out []*mvccpb.Event
	for _, r := range rs {
		if r.WatchID == id {
			out = append(out, r.Events...)
		}
	}
	return out
}

func mustWatch(t testing.TB, ws *WatchStream, id int64, req WatchRequest) int64 {
	t.Helper()
	got, err := ws.Watch(id, req)
	if err != nil {
		t.Fatalf("Watch(%d, %+v): %v", id, req, err)
	}
	return got
}

func expectCreated(t testing.TB, ws *WatchStream, id int64) {
	t.Helper()
	if r := recv(t, ws); !r.Created || r.WatchID != id {
		t.Fatalf("want Created for %d, got %+v", id, r)
	}
}

func joinStrings(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(x)
	}
	return b.String()
}
