package kvstore

import (
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// DefaultProgressInterval is how often an idle watcher that asked for
// ProgressNotify gets an empty response, unless SetProgressInterval says
// otherwise. etcd's default.
const DefaultProgressInterval = 10 * time.Minute

// outBuffer is the capacity of a stream's response channel.
const outBuffer = 128

// WatchRequest describes one watcher.
type WatchRequest struct {
	// Key and End are the watched range with etcd's range_end meaning: End
	// empty watches Key only; End "\x00" every key >= Key; otherwise
	// [Key, End), which must not be empty. Both are copied.
	Key, End []byte
	// StartRev is the first revision to report. 0: from the current
	// revision + 1 (only new events). It may be in the future: events of
	// revisions >= StartRev only. A StartRev whose history has been
	// compacted gets a compacted cancel response.
	StartRev int64
	// NoPut and NoDelete drop events of that type.
	NoPut, NoDelete bool
	// PrevKV asks for each event's previous key-value.
	PrevKV bool
	// ProgressNotify asks for an empty response (WatchID set, no events)
	// after every progress interval in which the watcher got nothing.
	ProgressNotify bool
}

// WatchResponse is one message of a WatchStream.
type WatchResponse struct {
	// WatchID is the watcher's ID, or -1 for the answer to RequestProgress.
	WatchID int64
	// Events are all the matching events of one or more whole revisions,
	// in revision order (never part of a revision). Shared with other
	// watchers: read-only.
	Events []*mvccpb.Event
	// Revision is the revision through which the watcher is complete: no
	// event of a revision <= Revision will come after this response. On a
	// Created response it is the store's revision at creation (a watcher
	// starting in the past gets older events after it, as in etcd).
	Revision int64
	// CompactRevision is set, with Canceled, when history the watcher
	// needed was compacted: it is the store's compacted revision.
	CompactRevision int64
	// CancelReason says why a watcher was canceled, if not by Cancel.
	CancelReason string
	// Canceled: this is the watcher's last response.
	Canceled bool
	// Created: the watcher exists; its first response.
	Created bool
}

// WatchStream carries the watchers of one client, like one etcd Watch RPC.
// Responses of all its watchers come in one channel, in order per watcher.
// Methods are safe for concurrent use; Chan has one reader, which must keep
// reading: a stream whose reader stalls falls behind (its watchers later
// catch up from history) but never blocks the store. Watch and Cancel wait
// when more than maxPendingControl of them are unanswered, so read Chan
// concurrently with creating many watchers.
type WatchStream struct {
	hub     *watchHub
	out     chan WatchResponse
	wake    chan struct{} // capacity 1: "look at the queue"
	closing chan struct{} // closed by Close
	done    chan struct{} // closed when the pump has exited and out is closed
	slots   chan struct{} // one token per unanswered Watch/Cancel
	once    sync.Once

	mu sync.Mutex
	// Guarded by mu:
	closed      bool
	ids         map[int64]*watcher // watchers not canceled yet, by ID
	nextID      int64              // next candidate for an automatic ID
	recs        []*revRecord       // queued revisions, at most Options.WatchQueueLen
	ctl         []ctlItem          // Watch/Cancel requests in call order
	lagFrom     int64              // !=0: revisions >= lagFrom were dropped
	progress    bool               // RequestProgress pending (coalesced)
	progressRev int64              // its revision
	interval    time.Duration      // progress-notify interval; 0 = unchanged since drained

	// Guarded by hub.mu:
	pubSeq  uint64 // last publish that queued to this stream
	waitRev int64  // !=0: in hub.waiters, woken when published >= waitRev

	// Guarded by hub.wakeMu:
	wakeQueued bool // in hub.toWake
}

// watcher is one watch of a stream. id, rid's contents, filter, prevKV and
// progressNotify are fixed by Watch; everything else belongs to the
// stream's pump goroutine once it handled the creation. Fields used for
// every delivered revision come first, to share a cache line.
type watcher struct {
	next    int64           // first revision not sent yet
	pend    []*mvccpb.Event // events gathered for the next response
	id      int64
	filter  uint8 // filterNoPut | filterNoDelete
	prevKV  bool
	inPend  bool // in pump.pending
	live    bool // in a liveGroup (else in a catchGroup, or not yet handled)
	active  bool // sent something since the last progress tick
	dropped bool // removed from the pump's groups for good

	progressNotify bool
	gpos           int         // index in lg.watchers or cg.watchers
	lg             *liveGroup  // when live
	cg             *catchGroup // when catching up
	rid            rangeID     // shares the strings of its group once grouped
}

const (
	filterNoPut    uint8 = 1
	filterNoDelete uint8 = 2
)

// ctlItem is a Watch or Cancel request waiting for the pump.
type ctlItem struct {
	w      *watcher
	cancel bool
	rev    int64 // creation: store revision at Watch, for the Created response
}

// NewWatchStream opens a stream of watchers on the store. Close it when done.
func (s *Store) NewWatchStream() *WatchStream {
	return s.hub.newStream()
}

func (h *watchHub) newStream() *WatchStream {
	ws := &WatchStream{
		hub:      h,
		out:      make(chan WatchResponse, outBuffer),
		wake:     make(chan struct{}, 1),
		closing:  make(chan struct{}),
		done:     make(chan struct{}),
		slots:    make(chan struct{}, maxPendingControl),
		ids:      make(map[int64]*watcher),
		interval: DefaultProgressInterval,
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		ws.closed = true
		ws.once.Do(func() { close(ws.closing) })
		close(ws.out)
		close(ws.done)
		return ws
	}
	h.streams[ws] = struct{}{}
	h.mu.Unlock()
	go ws.run()
	return ws
}

// Watch creates a watcher and returns its ID. id 0 picks the lowest unused
// ID from an increasing counter (0, 1, 2...); another id must be unused
// (ErrWatchIDExists). The Created response comes first on the stream, then
// the watcher's events. Errors: ErrInvalidRequest (negative id or StartRev,
// empty range), ErrWatchIDExists, ErrClosed.
func (ws *WatchStream) Watch(id int64, req WatchRequest) (int64, error) {
	if id < 0 {
		return -1, fmt.Errorf("%w: watch ID %d is negative", ErrInvalidRequest, id)
	}
	if req.StartRev < 0 {
		return -1, fmt.Errorf("%w: watch start revision %d is negative", ErrInvalidRequest, req.StartRev)
	}
	rid, err := newRangeID(req.Key, req.End)
	if err != nil {
		return -1, err
	}
	cur, _ := ws.hub.src.revisions()
	w := &watcher{
		rid:            rid,
		prevKV:         req.PrevKV,
		progressNotify: req.ProgressNotify,
		next:           req.StartRev,
	}
	if w.next == 0 {
		w.next = cur + 1
	}
	if req.NoPut {
		w.filter |= filterNoPut
	}
	if req.NoDelete {
		w.filter |= filterNoDelete
	}
	if !ws.takeSlot() {
		return -1, ErrClosed
	}
	ws.mu.Lock()
	if ws.closed {
		ws.mu.Unlock()
		ws.releaseSlot()
		return -1, ErrClosed
	}
	if id == 0 {
		for ws.ids[ws.nextID] != nil {
			ws.nextID++
		}
		id = ws.nextID
		ws.nextID++
	} else if ws.ids[id] != nil {
		ws.mu.Unlock()
		ws.releaseSlot()
		return -1, fmt.Errorf("%w: %d", ErrWatchIDExists, id)
	}
	w.id = id
	ws.ids[id] = w
	ws.ctl = append(ws.ctl, ctlItem{w: w, rev: cur})
	ws.hub.watchers.Add(1)
	if w.prevKV {
		// Counted before the pump can make it live; dropped by the pump.
		ws.hub.prevKVWatchers.Add(1)
	}
	ws.mu.Unlock()
	ws.notify()
	return id, nil
}

// Cancel removes watcher id. Its Canceled response is its last; events
// already queued for it may be dropped. Errors: ErrWatcherNotFound,
// ErrClosed.
func (ws *WatchStream) Cancel(id int64) error {
	if !ws.takeSlot() {
		return ErrClosed
	}
	ws.mu.Lock()
	if ws.closed {
		ws.mu.Unlock()
		ws.releaseSlot()
		return ErrClosed
	}
	w := ws.ids[id]
	if w == nil {
		ws.mu.Unlock()
		ws.releaseSlot()
		return fmt.Errorf("%w: %d", ErrWatcherNotFound, id)
	}
	delete(ws.ids, id)
	ws.ctl = append(ws.ctl, ctlItem{w: w, cancel: true})
	ws.mu.Unlock()
	ws.notify()
	return nil
}

// RequestProgress asks for a response with WatchID -1 whose Revision is the
// store's current revision, sent once every watcher of the stream has been
// sent all its events of revisions <= that one. Revision is raised to the
// greatest event revision already sent on the stream, if greater: no
// response before it carries a later event, none after it an earlier one
// (for watchers created before it). Requests made while one is pending are
// answered together, by one response with the newest revision.
func (ws *WatchStream) RequestProgress() {
	cur, _ := ws.hub.src.revisions()
	ws.mu.Lock()
	if !ws.closed {
		if !ws.progress || cur > ws.progressRev {
			ws.progressRev = cur
		}
		ws.progress = true
	}
	ws.mu.Unlock()
	ws.notify()
}

// SetProgressInterval sets how often idle ProgressNotify watchers get an
// empty response (default DefaultProgressInterval). d <= 0 is ignored.
func (ws *WatchStream) SetProgressInterval(d time.Duration) {
	if d <= 0 {
		return
	}
	ws.mu.Lock()
	ws.interval = d
	ws.mu.Unlock()
	ws.notify()
}

// Chan returns the stream's responses. It is closed by Close, or when the
// store closes.
func (ws *WatchStream) Chan() <-chan WatchResponse { return ws.out }

// Close cancels every watcher of the stream, without Canceled responses,
// releases everything the stream holds and closes Chan. It waits for the
// stream's goroutine to finish. Idempotent.
func (ws *WatchStream) Close() {
	ws.once.Do(func() { close(ws.closing) })
	<-ws.done
}

// notify wakes the pump; never blocks.
func (ws *WatchStream) notify() {
	select {
	case ws.wake <- struct{}{}:
	default:
	}
}

func (ws *WatchStream) takeSlot() bool {
	select {
	case ws.slots <- struct{}{}:
		return true
	case <-ws.closing:
		return false
	}
}

func (ws *WatchStream) releaseSlot() { <-ws.slots }

// enqueue queues rec, or marks the stream lagging if its queue is full.
// Called by publish with hub.mu held; never blocks. The caller wakes the
// pump (through the notifier).
func (ws *WatchStream) enqueue(rec *revRecord) {
	ws.mu.Lock()
	switch {
	case ws.closed || ws.lagFrom != 0:
		// Dropped: the pump will catch its watchers up from history.
	case len(ws.recs) >= ws.hub.opts.WatchQueueLen:
		ws.lagFrom = rec.rev
		ws.hub.overflows.Add(1)
	default:
		ws.recs = append(ws.recs, rec)
	}
	ws.mu.Unlock()
}

// drained is what the pump takes from the stream in one go.
type drained struct {
	ctl         []ctlItem
	recs        []*revRecord
	lagFrom     int64
	progress    bool
	progressRev int64
	interval    time.Duration
}

// drain takes the queued requests and revisions, handing back the pump's
// emptied buffers for reuse.
func (ws *WatchStream) drain(d *drained) {
	ctl, recs := d.ctl[:0], d.recs[:0]
	ws.mu.Lock()
	d.ctl, ws.ctl = ws.ctl, ctl
	d.recs, ws.recs = ws.recs, recs
	d.lagFrom = ws.lagFrom
	d.progress, d.progressRev = ws.progress, ws.progressRev
	ws.progress = false
	d.interval, ws.interval = ws.interval, 0
	ws.mu.Unlock()
}

// clearLagLocked ends lagging; the caller holds hub.mu and has removed the
// stream's groups from the hub's index.
func (ws *WatchStream) clearLagLocked() {
	ws.mu.Lock()
	ws.lagFrom = 0
	ws.mu.Unlock()
}

// forget removes the given watchers (canceled by the pump: compacted or
// failed) from the IDs and returns those that were still there, i.e. whose
// cancellation the client has not requested itself.
func (ws *WatchStream) forget(watchers []*watcher) []*watcher {
	var gone []*watcher
	ws.mu.Lock()
	for _, w := range watchers {
		if ws.ids[w.id] == w {
			delete(ws.ids, w.id)
			gone = append(gone, w)
		}
	}
	ws.mu.Unlock()
	return gone
}

// WatchMetrics returns counters of the store's watch hub.
func (s *Store) WatchMetrics() WatchMetrics { return s.hub.metrics() }
