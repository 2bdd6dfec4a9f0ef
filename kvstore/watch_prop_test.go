package kvstore

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// TestWatchProperty runs random histories with random watchers (live,
// historical, future, range, filtered, PrevKv, canceled, on fast, slow and
// stalled streams, with compactions) concurrently with the writes, and
// checks what each watcher received against the list computed from the
// final history. The outcome does not depend on the interleaving: every
// check is one the hub must pass for any schedule.
func TestWatchProperty(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			t.Logf("seed %d (rerun with -run 'TestWatchProperty/seed=%d$')", seed, seed)
			runWatchProperty(t, seed)
		})
	}
}

var propKeys = []string{"a", "a/1", "a/2", "b", "b/1", "b/2", "c", "d"}

// propWatcher is one watcher the test created, with what it received.
type propWatcher struct {
	ws       *propStream
	id       int64
	req      WatchRequest
	canceled bool // Cancel returned nil
}

type propStream struct {
	ws   *WatchStream
	kind string // fast, sluggish, stalled
	gate chan struct{}
	// progress receives the revision of each WatchID -1 response.
	progress chan int64

	mu    sync.Mutex
	resps []WatchResponse
	done  chan struct{}
}

func (s *propStream) consume() {
	defer close(s.done)
	if s.gate != nil {
		<-s.gate
	}
	for r := range s.ws.Chan() {
		s.mu.Lock()
		s.resps = append(s.resps, r)
		s.mu.Unlock()
		if r.WatchID == -1 {
			s.progress <- r.Revision
		}
		if s.kind == "sluggish" {
			for range 3 {
				runtime.Gosched()
			}
		}
	}
}

func runWatchProperty(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	opts := &Options{WatchQueueLen: 1 + rng.IntN(6), WatchBatchEvents: 1 + rng.IntN(8)}
	f, h := newFakeHub(opts)
	defer h.close()
	f.strict = rng.IntN(2) == 0
	t.Logf("queue %d, batch %d, strict %v", opts.WatchQueueLen, opts.WatchBatchEvents, f.strict)

	// Writer: its own generator, so the history depends on the seed only.
	const writes = 300
	writerDone := make(chan struct{})
	wrng := rand.New(rand.NewPCG(seed, 2))
	go func() {
		defer close(writerDone)
		for n := 0; n < writes; {
			var ops []fakeOp
			for range 1 + wrng.IntN(3) {
				k := propKeys[wrng.IntN(len(propKeys))]
				if wrng.IntN(10) < 3 {
					ops = append(ops, del(k))
				} else {
					ops = append(ops, put(k, fmt.Sprint(n)))
				}
			}
			// Half the writes reuse the last wantPrevKV answer, as the
			// store does for the later writes of a batch: a PrevKv watcher
			// joining meanwhile gets revisions without PrevKv published.
			write := f.write
			if wrng.IntN(2) == 0 {
				write = f.writeStale
			}
			if dedupKeys(ops) && write(ops...) != 0 {
				n++
			}
			if wrng.IntN(4) == 0 {
				runtime.Gosched()
			}
		}
	}()

	kinds := []string{"fast", "sluggish", "stalled"}
	var streams []*propStream
	for i := range 2 + rng.IntN(3) {
		s := &propStream{ws: h.newStream(), kind: kinds[(i+int(seed))%len(kinds)],
			progress: make(chan int64, 1024), done: make(chan struct{})}
		if s.kind == "stalled" {
			s.gate = make(chan struct{})
		}
		streams = append(streams, s)
		go s.consume()
	}

	var watchers []*propWatcher
	for range 60 {
		switch a := rng.IntN(20); {
		case a < 12:
			s := streams[rng.IntN(len(streams))]
			req := randomWatchRequest(rng, f)
			id := int64(0)
			if rng.IntN(6) == 0 {
				id = 100 + rng.Int64N(5)
			}
			got, err := s.ws.Watch(id, req)
			if errors.Is(err, ErrWatchIDExists) {
				continue
			}
			if err != nil {
				t.Fatalf("Watch: %v", err)
			}
			watchers = append(watchers, &propWatcher{ws: s, id: got, req: req})
		case a < 15 && len(watchers) > 0:
			w := watchers[rng.IntN(len(watchers))]
			if w.canceled {
				continue
			}
			switch err := w.ws.ws.Cancel(w.id); {
			case err == nil:
				w.canceled = true
			case !errors.Is(err, ErrWatcherNotFound): // compacted meanwhile: fine
				t.Fatalf("Cancel: %v", err)
			}
		case a < 16:
			if cur, _ := f.revisions(); cur > 0 {
				f.compact(rng.Int64N(cur))
			}
		case a < 18:
			streams[rng.IntN(len(streams))].ws.RequestProgress()
		default:
			runtime.Gosched()
		}
		runtime.Gosched()
	}

	<-writerDone
	// A last write after every action, so that only a progress request
	// made from now on can be answered with a revision >= final.
	final := f.write(put("zz", "end"))
	for _, s := range streams {
		if s.gate != nil {
			close(s.gate)
		}
	}
	for _, s := range streams {
		s.ws.RequestProgress()
		for rev := range s.progress {
			if rev >= final {
				break
			}
		}
		s.ws.Close()
		<-s.done
	}
	if m := h.metrics(); m.Streams != 0 || m.Watchers != 0 || h.wantPrevKV() {
		t.Fatalf("after closing every stream: %+v, wantPrevKV %v", m, h.wantPrevKV())
	}
	t.Logf("final revision %d, %d watchers, %+v", final, len(watchers), h.metrics())

	ordinals := map[*propStream]map[int64]int{}
	for _, w := range watchers {
		if ordinals[w.ws] == nil {
			ordinals[w.ws] = map[int64]int{}
		}
		ordinal := ordinals[w.ws][w.id]
		ordinals[w.ws][w.id]++
		if err := checkPropWatcher(f, w, ordinal, final); err != nil {
			t.Fatalf("seed %d: watcher %d %+v (canceled %v) on %s stream: %v",
				seed, w.id, w.req, w.canceled, w.ws.kind, err)
		}
	}
	for i, s := range streams {
		if err := checkPropProgress(s); err != nil {
			t.Fatalf("seed %d: stream %d (%s): %v", seed, i, s.kind, err)
		}
	}
}

// dedupKeys reports whether ops touch distinct keys (a transaction may not
// write one key twice).
func dedupKeys(ops []fakeOp) bool {
	seen := map[string]bool{}
	for _, op := range ops {
		if seen[op.key] {
			return false
		}
		seen[op.key] = true
	}
	return true
}

func randomWatchRequest(rng *rand.Rand, f *fakeHistory) WatchRequest {
	var req WatchRequest
	switch rng.IntN(5) {
	case 0, 1:
		req.Key = []byte(propKeys[rng.IntN(len(propKeys))])
	case 2:
		p := []string{"a", "b"}[rng.IntN(2)]
		req.Key, req.End = []byte(p+"/"), []byte(p+"0")
	case 3:
		a, b := propKeys[rng.IntN(len(propKeys))], propKeys[rng.IntN(len(propKeys))]
		if a >= b {
			a, b = b, a+"\x00"
		}
		req.Key, req.End = []byte(a), []byte(b)
	default:
		req.Key, req.End = []byte(propKeys[rng.IntN(len(propKeys))]), []byte{0}
	}
	cur, _ := f.revisions()
	switch rng.IntN(4) {
	case 0:
		req.StartRev = 0
	case 1, 2:
		req.StartRev = 1 + rng.Int64N(cur+1)
	default:
		req.StartRev = cur + 1 + rng.Int64N(20)
	}
	req.NoPut = rng.IntN(8) == 0
	req.NoDelete = rng.IntN(8) == 0
	req.PrevKV = rng.IntN(3) == 0
	return req
}

// propEvent renders one event with everything the watcher may see.
func propEvent(e *mvccpb.Event) string {
	s := fmt.Sprintf("%d:%s:%s=%s", e.Kv.ModRevision, e.Type, e.Kv.Key, e.Kv.Value)
	if e.PrevKv != nil {
		s += fmt.Sprintf("(prev %d=%s)", e.PrevKv.ModRevision, e.PrevKv.Value)
	}
	return s
}

func checkPropWatcher(f *fakeHistory, w *propWatcher, ordinal int, final int64) error {
	// IDs can be reused after a cancel: the watcher's responses are the
	// ordinal-th span of its ID, each span starting with a Created.
	var spans [][]WatchResponse
	w.ws.mu.Lock()
	for _, r := range w.ws.resps {
		switch {
		case r.WatchID != w.id:
		case r.Created:
			spans = append(spans, []WatchResponse{r})
		case len(spans) > 0:
			spans[len(spans)-1] = append(spans[len(spans)-1], r)
		default:
			w.ws.mu.Unlock()
			return fmt.Errorf("response before Created: %+v", r)
		}
	}
	w.ws.mu.Unlock()
	if ordinal >= len(spans) {
		return fmt.Errorf("no Created response")
	}
	mine := spans[ordinal]
	start := w.req.StartRev
	if start == 0 {
		start = mine[0].Revision + 1
	}
	r, _ := newKeyRange(w.req.Key, w.req.End)
	var want []string
	f.mu.RLock()
	for rev := start; rev <= final; rev++ {
		for _, e := range f.revs[rev-1] {
			if !r.contains(e.Kv.Key) || (w.req.NoPut && e.Type == mvccpb.Event_PUT) ||
				(w.req.NoDelete && e.Type == mvccpb.Event_DELETE) {
				continue
			}
			if !w.req.PrevKV {
				e = &mvccpb.Event{Type: e.Type, Kv: e.Kv}
			}
			want = append(want, propEvent(e))
		}
	}
	f.mu.RUnlock()

	var got []string
	var gotRevs []int64
	var completeThrough int64 // Revision of the previous event response
	var cancel *WatchResponse
	for i := range mine[1:] {
		r := &mine[1+i]
		if cancel != nil {
			return fmt.Errorf("response after Canceled: %+v", *r)
		}
		if r.Canceled {
			cancel = r
			continue
		}
		for j, e := range r.Events {
			rev := e.Kv.ModRevision
			if rev <= completeThrough {
				return fmt.Errorf("event of revision %d after a response complete through %d", rev, completeThrough)
			}
			if j == 0 && len(gotRevs) > 0 && rev <= gotRevs[len(gotRevs)-1] {
				return fmt.Errorf("revision %d split across responses or out of order", rev)
			}
			got = append(got, propEvent(e))
			gotRevs = append(gotRevs, rev)
		}
		if n := len(r.Events); n > 0 && r.Revision < r.Events[n-1].Kv.ModRevision {
			return fmt.Errorf("response revision %d below its last event %d", r.Revision, r.Events[n-1].Kv.ModRevision)
		}
		completeThrough = max(completeThrough, r.Revision)
	}
	if len(got) > len(want) || strings.Join(got, " ") != strings.Join(want[:len(got)], " ") {
		return fmt.Errorf("events are not a prefix of the expected ones:\ngot  %v\nwant %v", got, want)
	}
	if len(got) < len(want) && len(got) > 0 {
		// A cut inside a revision: the next wanted event has the same
		// revision as the last received one.
		if wantRev := revOf(want[len(got)]); wantRev == gotRevs[len(gotRevs)-1] {
			return fmt.Errorf("revision %d delivered only in part", wantRev)
		}
	}
	switch {
	case cancel == nil:
		if len(got) != len(want) {
			return fmt.Errorf("missing events after %d of %d:\ngot  %v\nwant %v", len(got), len(want), got, want)
		}
		if w.canceled {
			return fmt.Errorf("canceled but no Canceled response")
		}
	case cancel.CompactRevision != 0:
		nextRev := start
		if len(gotRevs) > 0 {
			nextRev = max(nextRev, gotRevs[len(gotRevs)-1]+1)
		}
		if nextRev > cancel.CompactRevision {
			return fmt.Errorf("compacted cancel at %d but the watcher needed only revisions >= %d", cancel.CompactRevision, nextRev)
		}
		f.mu.RLock()
		compacted := f.compacted
		f.mu.RUnlock()
		if cancel.CompactRevision > compacted {
			return fmt.Errorf("compacted cancel at %d beyond the compacted revision %d", cancel.CompactRevision, compacted)
		}
	case !w.canceled:
		return fmt.Errorf("canceled without being asked: %+v", *cancel)
	}
	return nil
}

func revOf(ev string) int64 {
	var rev int64
	fmt.Sscanf(ev, "%d:", &rev)
	return rev
}

// checkPropProgress checks that no watcher of the stream got an event of a
// revision <= P after a progress response for P, unless it was created
// after that response, and that no event before it had a revision > P.
func checkPropProgress(s *propStream) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var progress int64               // greatest progress revision so far
	var maxEvent int64               // greatest event revision so far
	createdSince := map[int64]bool{} // watchers created after that response
	for i, r := range s.resps {
		if n := len(r.Events); n > 0 {
			maxEvent = max(maxEvent, r.Events[n-1].Kv.ModRevision)
		}
		switch {
		case r.WatchID == -1:
			if r.Revision < maxEvent {
				return fmt.Errorf("response %d: progress %d after an event of revision %d", i, r.Revision, maxEvent)
			}
			progress = max(progress, r.Revision)
			clear(createdSince)
			continue
		case r.Created:
			createdSince[r.WatchID] = true
			continue
		case createdSince[r.WatchID]:
			continue
		}
		for _, e := range r.Events {
			if e.Kv.ModRevision <= progress {
				return fmt.Errorf("response %d: event of revision %d after progress %d", i, e.Kv.ModRevision, progress)
			}
		}
	}
	return nil
}
