package kvstore

// The watch hub: fan-out of the store's revisions to watchers.
//
// # Model
//
// A client opens a WatchStream and creates watchers on it. A watcher is a
// cursor: a key range, filters, and next, the first revision it has not been
// given yet. Each watcher is in one of two states, and only the stream's
// pump goroutine moves it between them:
//
//	catching-up  next <= (store revision, as far as the hub knows). The pump
//	             reads history from the store (historySource.history, in
//	             batches of Options.WatchBatchEvents) and sends it. Catching-up
//	             watchers of one stream with the same range and the same next
//	             form a group that shares each history read. A new watcher
//	             starts here, even with StartRev 0 (its history is empty).
//	live         next > the last revision published when it joined; the hub
//	             hands it every later revision through the stream's queue.
//
//	           Watch                     next > published (checked under hub.mu)
//	  created ---------> catching-up -------------------------------------> live
//	                        ^   |                                            |
//	                        |   | history compacted / unreadable             |
//	                        |   v                                            |
//	                        | canceled (one Canceled response)               |
//	                        +------------------------------------------------+
//	                          stream queue overflowed, or a live revision
//	                          lacked the PrevKv the watcher asked for
//
// Joining live is race-free because the check "next > last published
// revision" and the registration in the hub's index happen under hub.mu,
// which publish also holds: every revision published afterwards reaches the
// watcher, every revision before it was read from history. The store bumps
// its current revision before publishing, so a catching-up watcher may read
// revision R from history and then also be handed R live; the pump drops
// live revisions below a watcher's next, so each revision reaches each
// watcher exactly once.
//
// # Publish path and fan-out
//
// publish runs under the store's apply lock and never blocks. It looks the
// revision's keys up in the hub's index of watched ranges (a map for
// single-key ranges, an interval tree for the others). The index holds one
// entry per distinct range, listing the streams that have a live watcher on
// exactly that range, so publish costs O(events x (log ranges + matching
// streams)), independent of the number of watchers. It appends one shared
// *revRecord to each matching stream's queue and hands the streams to the
// hub's notifier goroutine, which wakes their pumps (one buffered wake-up
// channel per stream): waking parked goroutines costs scheduler work that
// writers should not pay, once per stream. Goroutines: one pump per
// stream and one notifier per hub; none per watcher.
//
// The pump keeps the same kind of index over its own live watchers, grouped
// by range; it resolves each revision to groups, derives each group's event
// list once, and per watcher only picks one of at most eight variants
// (NoPut/NoDelete filters x with/without PrevKv) and queues a response.
//
// # Queue bound
//
// A stream's queue holds at most Options.WatchQueueLen revisions. When
// publish finds it full, it marks the stream lagging from that revision and
// drops further revisions for it; the pump finishes the revisions already
// queued, then moves all its live watchers to catching-up from the first
// dropped revision and removes the stream from the hub's index. They rejoin
// live one group at a time once caught up. A slow consumer thus costs at most
// WatchQueueLen queued revisions plus one history batch, never blocks
// publish, writers or other streams, and gets every event anyway (or, if the
// history it needs was compacted meanwhile, a compacted cancel).
// Watch/Cancel requests the pump has not handled yet are bounded too
// (maxPendingControl): beyond it, Watch and Cancel wait for the pump.
//
// # Progress
//
// RequestProgress is answered (WatchID -1) once every watcher of the stream
// is complete through the answer's revision: the store's revision at the
// request, raised to the greatest event revision the stream has already
// sent, so that no response carries an event newer than a later progress
// answer. Live watchers are complete through the last published revision
// the pump has drained (hub.published is stored after the revision is
// queued); catching-up watchers are read up to the target first; if the
// target is not published yet, the pump waits for it (hub.waiters).
//
// # Lock order
//
//	store locks (apply lock held around publish) -> watchHub.mu -> WatchStream.mu
//	                                                watchHub.mu -> watchHub.wakeMu
//
// No historySource method is ever called with hub.mu or a stream's mu held
// (the store may hold its own locks when calling publish). No lock is held
// across a channel send that can block: the pump sends responses with no
// lock held. When history reports ErrClosed (the store is closing), the
// stream ends: its channel closes.
//
// # Ownership of events
//
// The events given to publish belong to the hub from then on and are never
// mutated: one slice per revision is shared by every stream and watcher. If
// they carry PrevKv, the copy without PrevKv (for watchers that did not ask
// for it) is built at most once per revision, lazily, by whichever pump needs
// it first. Events read from history are shared the same way by the
// watchers of a catching-up group. WatchResponse.Events is therefore
// read-only for the consumer.

import (
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// historySource is the store as the hub sees it. *Store implements it.
type historySource interface {
	// revisions returns the store's current and compacted revisions.
	revisions() (current, compacted int64)
	// history returns the events of main revisions in [from, to] whose key
	// is in [key, end) (end as etcd range_end: nil/empty = just key; "\x00" =
	// every key >= key), in revision order (sub-revision order inside one
	// revision), with PrevKv filled when prevKV is set. It stops after the
	// revision in which the event count reaches maxEvents, never splitting
	// one revision; last is the last revision covered (== to when
	// complete). It returns an error wrapping ErrCompacted when compaction
	// removed history the range needs (for etcd, and *Store: from < the
	// compacted revision, whose own events are kept), ErrClosed once the
	// store is closing. The hub reads the compacted revision for its
	// cancel response from revisions, after the error.
	history(key, end []byte, from, to int64, prevKV bool, maxEvents int) (evs []*mvccpb.Event, last int64, err error)
}

// maxPendingControl bounds the Watch and Cancel requests of one stream that
// its pump has not answered yet; further calls wait.
const maxPendingControl = 4096

// revRecord is one published revision, shared by every stream it matched.
// All fields but the lazily built copy are immutable after publish.
type revRecord struct {
	rev int64
	evs []*mvccpb.Event
	// prevFilled: the store filled PrevKv on evs (wantPrevKV was true
	// before the write). When false, a watcher that wants PrevKv gets this
	// revision from history instead.
	prevFilled bool

	stripOnce sync.Once
	stripped  []*mvccpb.Event // evs without PrevKv; built by noPrev
}

// noPrev returns the revision's events without PrevKv, building the copy on
// first use. Safe for concurrent use.
func (r *revRecord) noPrev() []*mvccpb.Event {
	if !r.prevFilled {
		return r.evs
	}
	r.stripOnce.Do(func() { r.stripped = stripPrev(r.evs) })
	return r.stripped
}

// stripPrev returns evs with PrevKv cleared, copying only the events that
// have one; evs is not modified.
func stripPrev(evs []*mvccpb.Event) []*mvccpb.Event {
	out := make([]*mvccpb.Event, len(evs))
	for i, e := range evs {
		if e.GetPrevKv() == nil {
			out[i] = e
		} else {
			out[i] = &mvccpb.Event{Type: e.Type, Kv: e.Kv}
		}
	}
	return out
}

// watchHub routes published revisions to streams. See the model above.
type watchHub struct {
	src  historySource
	opts *Options
	log  *slog.Logger

	// prevKVWatchers counts watchers that asked for PrevKv and are not
	// dropped yet; wantPrevKV reads it.
	prevKVWatchers atomic.Int64
	// lastAnswer is wantPrevKV's last answer: publish assumes it applied to
	// the revision being published.
	lastAnswer atomic.Bool
	// Counters for metrics.
	watchers     atomic.Int64 // created and not dropped
	overflows    atomic.Int64
	historyReads atomic.Int64

	// published is the highest revision handed to publish (seeded with the
	// store's revision when the hub was made). It is stored under mu after
	// the revision was queued to every stream, so a pump that reads P here
	// and then drains its queue has every revision <= P that matched it.
	published atomic.Int64

	// Waking pumps is left to the notifier goroutine, so that publish (on
	// the store's write path) pays for one wake-up, not one per stream:
	// waking a parked goroutine can cost microseconds of scheduler and
	// system-call work. Lock order: hub.mu -> wakeMu.
	wakeMu       sync.Mutex
	toWake       []*WatchStream // guarded by wakeMu; WatchStream.wakeQueued marks members
	wakeCh       chan struct{}  // capacity 1: toWake may be non-empty
	stopNotifier chan struct{}  // closed by close
	stopOnce     sync.Once
	notifierDone chan struct{} // closed when the notifier goroutine exits

	mu sync.Mutex
	// Guarded by mu:
	closed  bool
	streams map[*WatchStream]struct{}
	single  map[string]*hubEntry  // single-key ranges by key
	ranges  map[rangeID]*hubEntry // other ranges, also in tree
	tree    rangeTree[*hubEntry]
	seq     uint64         // publish sequence, to dedupe streams within one publish
	waiters []*WatchStream // streams waiting for published >= their waitRev
	hits    []*WatchStream // publish scratch
	stabbed []*hubEntry    // publish scratch
}

// hubEntry is one distinct watched range and the streams' live groups on it.
// Guarded by hub.mu.
type hubEntry struct {
	r      keyRange
	groups []*liveGroup // liveGroup.hubPos is the index here
}

// newWatchHub makes the hub of src. It calls src.revisions once, to learn the
// revision already published: call it once the store knows its revisions,
// before the first publish, and without holding locks revisions takes.
// opts must be defaulted.
func newWatchHub(src historySource, opts *Options) *watchHub {
	h := &watchHub{
		src:     src,
		opts:    opts,
		log:     opts.Logger,
		streams: make(map[*WatchStream]struct{}),
		single:  make(map[string]*hubEntry),
		ranges:  make(map[rangeID]*hubEntry),
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	cur, _ := src.revisions()
	h.published.Store(cur)
	h.wakeCh = make(chan struct{}, 1)
	h.stopNotifier = make(chan struct{})
	h.notifierDone = make(chan struct{})
	go h.notifier()
	return h
}

// wantPrevKV reports whether some watcher asked for PrevKv. The store calls
// it before each write (or batch of writes) and fills PrevKv on that write's
// events iff it returned true; it must publish those revisions before it
// calls wantPrevKV again. Cheap: two atomics.
func (h *watchHub) wantPrevKV() bool {
	a := h.prevKVWatchers.Load() > 0
	h.lastAnswer.Store(a)
	return a
}

// publish hands the events of revision rev to every stream with a live
// watcher whose range holds one of their keys. The store calls it once per
// revision, in revision order, under its apply lock. It never blocks and
// never calls the store: it queues the revision to each matching stream
// and leaves waking their pumps to the notifier goroutine. evs is shared
// from now on and must not be mutated.
func (h *watchHub) publish(rev int64, evs []*mvccpb.Event) {
	rec := &revRecord{rev: rev, evs: evs, prevFilled: h.lastAnswer.Load()}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.seq++
	hits := h.hits[:0]
	for _, e := range evs {
		if e.GetKv() == nil {
			continue // not a valid event; nothing can match it
		}
		key := e.Kv.Key
		if ent := h.single[string(key)]; ent != nil {
			hits = ent.collectLocked(h.seq, hits)
		}
		if h.tree.len() > 0 {
			h.stabbed = h.tree.stab(key, h.stabbed[:0])
			for _, ent := range h.stabbed {
				hits = ent.collectLocked(h.seq, hits)
			}
			clear(h.stabbed)
		}
	}
	for _, ws := range hits {
		ws.enqueue(rec) // takes ws.mu: hub.mu -> ws.mu
	}
	h.wakeLater(hits...)
	clear(hits)
	h.hits = hits[:0]
	if rev > h.published.Load() {
		h.published.Store(rev)
	} else {
		h.log.Warn("kvstore: watch hub: revision published out of order", "rev", rev, "published", h.published.Load())
	}
	h.wakeWaitersLocked(rev)
}

// collectLocked appends the streams of e not yet seen in publish seq.
func (e *hubEntry) collectLocked(seq uint64, hits []*WatchStream) []*WatchStream {
	for _, g := range e.groups {
		if g.ws.pubSeq != seq {
			g.ws.pubSeq = seq
			hits = append(hits, g.ws)
		}
	}
	return hits
}

// wakeWaitersLocked wakes the streams waiting for a revision <= rev.
func (h *watchHub) wakeWaitersLocked(rev int64) {
	if len(h.waiters) == 0 {
		return
	}
	keep := h.waiters[:0]
	for _, ws := range h.waiters {
		if ws.waitRev <= rev {
			ws.waitRev = 0
			h.wakeLater(ws)
		} else {
			keep = append(keep, ws)
		}
	}
	clear(h.waiters[len(keep):])
	h.waiters = keep
}

// wakeLater has the notifier goroutine wake the streams' pumps. It never
// blocks; streams already waiting for a wake-up are not queued twice.
func (h *watchHub) wakeLater(streams ...*WatchStream) {
	if len(streams) == 0 {
		return
	}
	h.wakeMu.Lock()
	for _, ws := range streams {
		if !ws.wakeQueued {
			ws.wakeQueued = true
			h.toWake = append(h.toWake, ws)
		}
	}
	h.wakeMu.Unlock()
	select {
	case h.wakeCh <- struct{}{}:
	default:
	}
}

// notifier is the hub's goroutine: it wakes the pumps of the streams that
// wakeLater queued, until close.
func (h *watchHub) notifier() {
	defer close(h.notifierDone)
	var batch []*WatchStream
	for {
		select {
		case <-h.wakeCh:
		case <-h.stopNotifier:
			return
		}
		h.wakeMu.Lock()
		batch, h.toWake = h.toWake, batch[:0]
		for _, ws := range batch {
			ws.wakeQueued = false
		}
		h.wakeMu.Unlock()
		for _, ws := range batch {
			ws.notify()
		}
		clear(batch)
	}
}

// waitPublishedLocked arranges for ws to be woken once revision rev is
// published; it reports false (and does nothing) if it already is.
func (h *watchHub) waitPublishedLocked(ws *WatchStream, rev int64) bool {
	if h.published.Load() >= rev || h.closed {
		return false
	}
	if ws.waitRev == 0 {
		h.waiters = append(h.waiters, ws)
	}
	if ws.waitRev == 0 || rev < ws.waitRev {
		ws.waitRev = rev
	}
	return true
}

// addGroupLocked registers a stream's live group in the index.
func (h *watchHub) addGroupLocked(g *liveGroup) {
	var e *hubEntry
	if g.r.single() {
		e = h.single[g.id.start]
		if e == nil {
			e = &hubEntry{r: g.r}
			h.single[g.id.start] = e
		}
	} else {
		e = h.ranges[g.id]
		if e == nil {
			e = &hubEntry{r: g.r}
			h.ranges[g.id] = e
			h.tree.insert(g.r, e)
		}
	}
	g.entry, g.hubPos = e, len(e.groups)
	e.groups = append(e.groups, g)
}

// removeGroupLocked undoes addGroupLocked; a no-op if g is not registered.
func (h *watchHub) removeGroupLocked(g *liveGroup) {
	e := g.entry
	if e == nil {
		return
	}
	last := len(e.groups) - 1
	moved := e.groups[last]
	e.groups[g.hubPos], moved.hubPos = moved, g.hubPos
	e.groups[last] = nil
	e.groups = e.groups[:last]
	g.entry, g.hubPos = nil, -1
	if len(e.groups) > 0 {
		return
	}
	if e.r.single() {
		delete(h.single, g.id.start)
	} else {
		delete(h.ranges, g.id)
		h.tree.delete(e.r)
	}
}

// removeStreamLocked forgets ws entirely (its pump is exiting).
func (h *watchHub) removeStreamLocked(ws *WatchStream) {
	delete(h.streams, ws)
	if ws.waitRev != 0 {
		if i := slices.Index(h.waiters, ws); i >= 0 {
			h.waiters = slices.Delete(h.waiters, i, i+1)
		}
		ws.waitRev = 0
	}
}

// WatchMetrics describes the watch hub's load. Plain values, no registry.
type WatchMetrics struct {
	// Streams is the number of open WatchStreams.
	Streams int
	// Watchers is the number of watchers not canceled yet.
	Watchers int64
	// Overflows counts the times a stream's queue was full (its reader was
	// slow) and its watchers fell back to reading history.
	Overflows int64
	// HistoryReads counts history batches read by catching-up watchers.
	HistoryReads int64
}

// metrics returns the hub's current metrics.
func (h *watchHub) metrics() WatchMetrics {
	h.mu.Lock()
	n := len(h.streams)
	h.mu.Unlock()
	return WatchMetrics{
		Streams:      n,
		Watchers:     h.watchers.Load(),
		Overflows:    h.overflows.Load(),
		HistoryReads: h.historyReads.Load(),
	}
}

// close ends every stream (their channels close), makes new streams start
// closed and stops the notifier goroutine. It waits for the streams' pumps,
// which may be reading history: call it before closing the store's
// storage, without holding a lock that revisions or history take.
// Idempotent.
func (h *watchHub) close() {
	h.mu.Lock()
	h.closed = true
	streams := make([]*WatchStream, 0, len(h.streams))
	for ws := range h.streams {
		streams = append(streams, ws)
	}
	h.waiters = nil
	h.mu.Unlock()
	for _, ws := range streams {
		ws.Close()
	}
	h.stopOnce.Do(func() { close(h.stopNotifier) })
	<-h.notifierDone
}
