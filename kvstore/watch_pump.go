package kvstore

import (
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// The pump: one goroutine per WatchStream, the only place where the
// stream's watchers change state and where its responses are produced.
// Everything in pump, liveGroup and catchGroup (except the fields marked
// as guarded by hub.mu) belongs to that goroutine and needs no lock.

// liveGroup is a stream's live watchers on one exact range. It is
// registered in the hub's index while it has watchers.
type liveGroup struct {
	ws       *WatchStream
	r        keyRange
	id       rangeID
	watchers []*watcher // watcher.gpos is the index here

	// Guarded by hub.mu:
	entry  *hubEntry
	hubPos int

	// Scratch for the revision being delivered: the indexes of rec's
	// events in the range, and the views derived from them.
	rec   *revRecord
	idx   []int
	views evViews
}

type pump struct {
	ws    *WatchStream
	h     *watchHub
	batch int // Options.WatchBatchEvents

	// Live watchers, grouped by range: an index like the hub's.
	single map[string]*liveGroup
	ranges map[rangeID]*liveGroup
	tree   rangeTree[*liveGroup]

	// Catching-up watchers, grouped by (range, next); order is the
	// round-robin order in which groups read history.
	catching map[catchKey]*catchGroup
	order    []*catchGroup
	rr       int

	// liveThrough: live watchers have been sent every event of revisions
	// <= liveThrough (or <= their own next-1 if greater).
	liveThrough int64
	// progress: a RequestProgress for progressRev is pending.
	progress    bool
	progressRev int64
	// maxSent is the greatest event revision sent on the stream; a
	// progress response never carries less.
	maxSent int64
	// idle: the last catch-up round could do nothing until a wake-up (a
	// pending progress response limits reads and waits for a publish).
	idle bool

	interval time.Duration
	timer    *time.Timer
	// stopped: the stream is closing; sends are dropped.
	stopped bool

	// Reused buffers.
	d       drained
	touched []*liveGroup
	stabbed []*liveGroup
	pending []*watcher // watchers with w.pend events not sent yet
	demoted []*watcher
}

// run is the stream's goroutine.
func (ws *WatchStream) run() {
	p := &pump{
		ws:       ws,
		h:        ws.hub,
		batch:    ws.hub.opts.WatchBatchEvents,
		single:   make(map[string]*liveGroup),
		ranges:   make(map[rangeID]*liveGroup),
		catching: make(map[catchKey]*catchGroup),
		interval: DefaultProgressInterval,
	}
	if p.batch <= 0 {
		p.batch = 1000
	}
	p.timer = time.NewTimer(p.interval)
	defer p.shutdown()
	for p.step() {
	}
}

// step waits for work (unless watchers are catching up), handles what the
// stream queued (requests, then revisions), answers a pending progress
// request if it can, then lets catching-up groups read one history batch
// (or go live). It reports false once the stream is closing.
func (p *pump) step() bool {
	tick := false
	if len(p.order) == 0 || p.idle {
		select {
		case <-p.ws.wake:
		case <-p.timer.C:
			tick = true
		case <-p.ws.closing:
			return false
		}
	} else {
		select {
		case <-p.ws.closing:
			return false
		case <-p.timer.C:
			tick = true
		default:
		}
	}

	// Read published before draining: every revision <= published that
	// matched this stream is then in the drained queue or was before.
	published := p.h.published.Load()
	d := &p.d
	p.ws.drain(d)
	if d.interval != 0 && d.interval != p.interval {
		p.interval = d.interval
		p.timer.Reset(p.interval)
	}
	for _, c := range d.ctl {
		p.control(c)
	}
	clear(d.ctl)
	if d.progress && (!p.progress || d.progressRev > p.progressRev) {
		p.progress, p.progressRev = true, d.progressRev
	}

	var lastRec int64
	for _, rec := range d.recs {
		if p.progress && rec.rev > p.progressTarget() {
			// Live watchers are complete through rec.rev-1: answer
			// before sending anything later.
			p.flushPending(rec.rev - 1)
			p.finishProgress()
		}
		p.deliver(rec)
		lastRec = rec.rev
	}
	clear(d.recs)
	through := max(published, lastRec)
	if d.lagFrom != 0 {
		through = d.lagFrom - 1
	}
	p.flushPending(through)
	p.liveThrough = max(p.liveThrough, through)
	if d.lagFrom != 0 {
		p.demoteAll(d.lagFrom)
	}
	if p.progress {
		p.tryProgress()
	}
	if tick {
		p.progressTick()
		p.timer.Reset(p.interval)
	}
	p.idle = false
	if len(p.order) > 0 && !p.stopped {
		var limit int64
		if p.progress {
			limit = p.progressTarget() // send nothing beyond it before it
		}
		p.idle = !p.catchUpRound(limit)
	}
	return !p.stopped
}

// send queues r on the stream's channel, giving up if the stream closes.
func (p *pump) send(r WatchResponse) {
	if p.stopped {
		return
	}
	select {
	case p.ws.out <- r:
		if n := len(r.Events); n > 0 {
			p.maxSent = max(p.maxSent, r.Events[n-1].Kv.ModRevision)
		}
	case <-p.ws.closing:
		p.stopped = true
	}
}

// control handles one Watch or Cancel request.
func (p *pump) control(c ctlItem) {
	defer p.ws.releaseSlot()
	w := c.w
	if !c.cancel {
		p.send(WatchResponse{WatchID: w.id, Created: true, Revision: c.rev})
		p.addCatching(w)
		return
	}
	if !w.dropped {
		p.unlink(w)
		p.drop(w)
	}
	p.send(WatchResponse{WatchID: w.id, Canceled: true, Revision: p.h.published.Load()})
}

// unlink takes w out of its live or catching-up group.
func (p *pump) unlink(w *watcher) {
	switch {
	case w.live:
		p.leaveLive(w)
	case w.cg != nil:
		p.leaveCatching(w)
	}
}

// drop marks w gone for good; call once it is in no group.
func (p *pump) drop(w *watcher) {
	if w.dropped {
		return
	}
	w.dropped = true
	w.pend = nil
	p.h.watchers.Add(-1)
	if w.prevKV {
		p.h.prevKVWatchers.Add(-1)
	}
}

// deliver hands one published revision to the live watchers it matches.
func (p *pump) deliver(rec *revRecord) {
	if len(p.single) == 0 && p.tree.len() == 0 {
		return
	}
	touched := p.touched[:0]
	for i, e := range rec.evs {
		if e.GetKv() == nil {
			continue
		}
		key := e.Kv.Key
		if g := p.single[string(key)]; g != nil {
			touched = g.touch(rec, i, touched)
		}
		if p.tree.len() > 0 {
			p.stabbed = p.tree.stab(key, p.stabbed[:0])
			for _, g := range p.stabbed {
				touched = g.touch(rec, i, touched)
			}
			clear(p.stabbed)
		}
	}
	for _, g := range touched {
		p.deliverGroup(g, rec)
		g.rec, g.idx = nil, g.idx[:0]
		g.views.reset()
	}
	clear(touched)
	p.touched = touched[:0]
	for _, w := range p.demoted {
		p.leaveLive(w)
		p.addCatching(w)
	}
	clear(p.demoted)
	p.demoted = p.demoted[:0]
}

// touch records that event i of rec is in g's range.
func (g *liveGroup) touch(rec *revRecord, i int, touched []*liveGroup) []*liveGroup {
	if g.rec != rec {
		g.rec, g.idx = rec, g.idx[:0]
		touched = append(touched, g)
	}
	g.idx = append(g.idx, i)
	return touched
}

// viewBase implements viewSource: g's events of the current revision.
func (g *liveGroup) viewBase(strip bool) []*mvccpb.Event {
	all := g.rec.evs
	if strip {
		all = g.rec.noPrev()
	}
	if len(g.idx) == len(all) {
		return all[:len(all):len(all)] // the whole revision: share it
	}
	out := make([]*mvccpb.Event, len(g.idx))
	for i, j := range g.idx {
		out[i] = all[j]
	}
	return out
}

func (p *pump) deliverGroup(g *liveGroup, rec *revRecord) {
	for _, w := range g.watchers {
		if rec.rev < w.next {
			continue // read from history already
		}
		evs := g.views.get(g, w.filter, rec.prevFilled && !w.prevKV)
		if len(evs) == 0 {
			continue
		}
		if w.prevKV && !rec.prevFilled {
			// Written before the store knew anyone wanted PrevKv: take
			// this revision from history instead.
			p.flushWatcher(w, rec.rev-1)
			w.next = rec.rev
			p.demoted = append(p.demoted, w)
			continue
		}
		if len(w.pend) == 0 {
			w.pend = evs // clipped: appending never writes into shared arrays
		} else {
			w.pend = append(w.pend, evs...)
		}
		w.next = rec.rev + 1
		if !w.inPend {
			w.inPend = true
			p.pending = append(p.pending, w)
		}
		if len(w.pend) >= p.batch {
			p.flushWatcher(w, rec.rev)
		}
	}
}

// flushWatcher sends w's pending events, complete through revision through.
func (p *pump) flushWatcher(w *watcher, through int64) {
	if len(w.pend) == 0 {
		return
	}
	p.send(WatchResponse{WatchID: w.id, Events: w.pend, Revision: through})
	w.pend = nil
	w.active = true
}

func (p *pump) flushPending(through int64) {
	for _, w := range p.pending {
		p.flushWatcher(w, through)
		w.inPend = false
	}
	clear(p.pending)
	p.pending = p.pending[:0]
}

// liveGroupFor returns the live group for id, creating it and registering
// it in the hub. Called with hub.mu held.
func (p *pump) liveGroupForLocked(id rangeID) *liveGroup {
	var g *liveGroup
	if !id.toEnd && id.end == "" {
		g = p.single[id.start]
	} else {
		g = p.ranges[id]
	}
	if g != nil {
		return g
	}
	g = &liveGroup{ws: p.ws, r: id.keyRange(), id: id, hubPos: -1}
	if g.r.single() {
		p.single[id.start] = g
	} else {
		p.ranges[id] = g
		p.tree.insert(g.r, g)
	}
	p.h.addGroupLocked(g)
	return g
}

// leaveLive takes w out of its live group, unregistering the group from
// the hub if it empties.
func (p *pump) leaveLive(w *watcher) {
	g := w.lg
	last := len(g.watchers) - 1
	moved := g.watchers[last]
	g.watchers[w.gpos], moved.gpos = moved, w.gpos
	g.watchers[last] = nil
	g.watchers = g.watchers[:last]
	w.lg, w.live, w.gpos = nil, false, -1
	if len(g.watchers) > 0 {
		return
	}
	p.h.mu.Lock()
	p.h.removeGroupLocked(g)
	p.h.mu.Unlock()
	p.forgetLiveGroup(g)
}

func (p *pump) forgetLiveGroup(g *liveGroup) {
	if g.r.single() {
		delete(p.single, g.id.start)
	} else {
		delete(p.ranges, g.id)
		p.tree.delete(g.r)
	}
}

// demoteAll moves every live watcher to catching-up from at least lagFrom,
// after the stream's queue overflowed at revision lagFrom, and ends the lag.
func (p *pump) demoteAll(lagFrom int64) {
	groups := make([]*liveGroup, 0, len(p.single)+len(p.ranges))
	for _, g := range p.single {
		groups = append(groups, g)
	}
	for _, g := range p.ranges {
		groups = append(groups, g)
	}
	p.h.mu.Lock()
	for _, g := range groups {
		p.h.removeGroupLocked(g)
	}
	p.ws.clearLagLocked()
	p.h.mu.Unlock()
	for _, g := range groups {
		p.forgetLiveGroup(g)
		for _, w := range g.watchers {
			w.lg, w.live = nil, false
			w.next = max(w.next, lagFrom)
			p.addCatching(w)
		}
	}
}

// progressTarget is the revision the pending progress response will
// carry: the one requested, or more if later events were sent already.
func (p *pump) progressTarget() int64 { return max(p.progressRev, p.maxSent) }

// tryProgress answers the pending RequestProgress if live watchers are
// complete through its target revision, else waits for that revision's
// publish.
func (p *pump) tryProgress() {
	target := p.progressTarget()
	if p.liveThrough >= target {
		p.finishProgress()
		return
	}
	p.h.mu.Lock()
	waiting := p.h.waitPublishedLocked(p.ws, target)
	p.h.mu.Unlock()
	if !waiting {
		p.ws.notify() // published meanwhile: drain again
	}
}

// finishProgress brings catching-up watchers to the progress target T,
// then sends the progress response for T. The caller knows that the live
// watchers are complete through T. No event after T has been sent (T >=
// maxSent) and none is sent here, so responses stay in revision order.
func (p *pump) finishProgress() {
	target := p.progressTarget()
	var behind []*catchGroup
	for _, g := range p.order {
		if g.key.next <= target {
			behind = append(behind, g)
		}
	}
	for _, g := range behind {
		for !g.dead && g.key.next <= target && !p.stopped {
			p.catchUp(g, target)
		}
	}
	p.send(WatchResponse{WatchID: -1, Revision: target})
	p.progress = false
}

// progressTick sends an empty response to each live ProgressNotify watcher
// that got nothing since the last tick.
func (p *pump) progressTick() {
	tick := func(g *liveGroup) {
		for _, w := range g.watchers {
			if w.progressNotify && !w.active {
				p.send(WatchResponse{WatchID: w.id, Revision: max(p.liveThrough, w.next-1)})
			}
			w.active = false
		}
	}
	for _, g := range p.single {
		tick(g)
	}
	for _, g := range p.ranges {
		tick(g)
	}
}

// shutdown releases everything when the stream closes: the hub's index
// entries, the PrevKv counts, and the channel. The stream may end by
// itself (the store is closing): closing is closed too, for callers waiting
// in Watch or Cancel.
func (p *pump) shutdown() {
	p.timer.Stop()
	p.ws.once.Do(func() { close(p.ws.closing) })
	p.h.mu.Lock()
	for _, g := range p.single {
		p.h.removeGroupLocked(g)
	}
	for _, g := range p.ranges {
		p.h.removeGroupLocked(g)
	}
	p.h.removeStreamLocked(p.ws)
	p.h.mu.Unlock()

	p.ws.mu.Lock()
	p.ws.closed = true
	ctl := p.ws.ctl
	p.ws.ctl, p.ws.recs, p.ws.ids = nil, nil, nil
	p.ws.mu.Unlock()

	for _, g := range p.single {
		for _, w := range g.watchers {
			p.drop(w)
		}
	}
	for _, g := range p.ranges {
		for _, w := range g.watchers {
			p.drop(w)
		}
	}
	for _, g := range p.order {
		for _, w := range g.watchers {
			p.drop(w)
		}
	}
	for _, c := range ctl {
		p.drop(c.w) // created but never handled (or canceled: idempotent)
	}
	close(p.ws.out)
	close(p.ws.done)
}
