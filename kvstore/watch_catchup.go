package kvstore

import (
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// Catching up: watchers that are behind the published revisions read
// history, in groups of the same range and next revision, until they can
// go live. All of it runs on the stream's pump goroutine.

// catchGroup is a stream's catching-up watchers on one exact range with the
// same next revision: they share each history read.
type catchGroup struct {
	r        keyRange
	key      catchKey
	watchers []*watcher // watcher.gpos is the index here
	nPrev    int        // watchers wanting PrevKv
	opos     int        // index in pump.order
	dead     bool       // emptied or merged into another group

	// Scratch for one history batch.
	evs      []*mvccpb.Event
	readPrev bool
	views    evViews
}

type catchKey struct {
	id   rangeID
	next int64
}

// addCatching puts w (in no group) into the catching-up group of its range
// and next revision.
func (p *pump) addCatching(w *watcher) {
	k := catchKey{id: w.rid, next: w.next}
	g := p.catching[k]
	if g == nil {
		g = &catchGroup{r: w.rid.keyRange(), key: k, opos: len(p.order)}
		p.catching[k] = g
		p.order = append(p.order, g)
	}
	w.rid = g.key.id // share the group's strings; the watcher's copy goes
	g.add(w)
}

func (g *catchGroup) add(w *watcher) {
	w.cg, w.gpos = g, len(g.watchers)
	g.watchers = append(g.watchers, w)
	if w.prevKV {
		g.nPrev++
	}
}

// leaveCatching takes w out of its catching-up group, dropping the group
// if it empties.
func (p *pump) leaveCatching(w *watcher) {
	g := w.cg
	last := len(g.watchers) - 1
	moved := g.watchers[last]
	g.watchers[w.gpos], moved.gpos = moved, w.gpos
	g.watchers[last] = nil
	g.watchers = g.watchers[:last]
	if w.prevKV {
		g.nPrev--
	}
	w.cg, w.gpos = nil, -1
	if len(g.watchers) == 0 {
		p.dropCatchGroup(g)
	}
}

// dropCatchGroup removes g from the catching-up set; its watchers, if any,
// must have been moved elsewhere by the caller.
func (p *pump) dropCatchGroup(g *catchGroup) {
	if g.dead {
		return
	}
	g.dead = true
	if p.catching[g.key] == g {
		delete(p.catching, g.key)
	}
	last := len(p.order) - 1
	moved := p.order[last]
	p.order[g.opos], moved.opos = moved, g.opos
	p.order[last] = nil
	p.order = p.order[:last]
}

// advance moves g's watchers to next revision n, merging g into the group
// already at (range, n) if there is one.
func (p *pump) advance(g *catchGroup, n int64) {
	if p.catching[g.key] == g {
		delete(p.catching, g.key)
	}
	g.key.next = n
	for _, w := range g.watchers {
		w.next = n
	}
	other := p.catching[g.key]
	if other == nil {
		p.catching[g.key] = g
		return
	}
	for _, w := range g.watchers {
		other.add(w)
	}
	clear(g.watchers)
	g.watchers, g.nPrev = nil, 0
	p.dropCatchGroup(g)
}

// catchUpRound gives catching-up groups, in round-robin order, a chance to
// read one batch of history or to go live, until one makes progress. It
// reports false if none could (only possible with a limit).
func (p *pump) catchUpRound(limit int64) bool {
	for tries := 0; tries < len(p.order) && !p.stopped; tries++ {
		g := p.order[p.rr%len(p.order)]
		p.rr++
		if p.catchUp(g, limit) {
			return true
		}
	}
	return false
}

// catchUp reads one batch of history for g, up to the store's revision (or
// to limit if limit > 0), and sends it. Once g has read all it may, its
// watchers go live if no revision at or after their next was published;
// else, without a limit, more history is there to read. It reports whether
// it did anything or there is more to do at once.
func (p *pump) catchUp(g *catchGroup, limit int64) bool {
	cur, _ := p.h.src.revisions()
	to := cur
	if limit > 0 && limit < to {
		to = limit
	}
	next := g.key.next
	read := false
	if next <= to {
		readPrev := g.nPrev > 0
		p.h.historyReads.Add(1)
		evs, last, err := p.h.src.history(g.r.start, g.r.rangeEnd(), next, to, readPrev, p.batch)
		if err == nil && (last < next || last > to) {
			err = fmt.Errorf("kvstore: watch: history of revisions [%d, %d] claims to cover through %d", next, to, last)
		}
		if errors.Is(err, ErrClosed) {
			p.stopped = true // the store is closing: so is the stream
			return true
		}
		if err != nil {
			p.failGroup(g, err)
			return true
		}
		g.evs, g.readPrev = evs, readPrev
		for _, w := range g.watchers {
			if v := g.views.get(g, w.filter, readPrev && !w.prevKV); len(v) > 0 {
				p.send(WatchResponse{WatchID: w.id, Events: v, Revision: last})
				w.active = true
			}
		}
		g.evs = nil
		g.views.reset()
		p.advance(g, last+1)
		next, read = last+1, true
	}
	if g.dead || next <= to {
		return read
	}
	// Revisions in (published, cur] are bumped but not yet published:
	// they will come live, so joining does not need them read.
	return p.tryJoin(g) || read || limit == 0
}

// viewBase implements viewSource: the history batch being sent.
func (g *catchGroup) viewBase(strip bool) []*mvccpb.Event {
	if strip && g.readPrev {
		return stripPrev(g.evs)
	}
	return g.evs[:len(g.evs):len(g.evs)]
}

// tryJoin makes g's watchers live if no revision at or after their next has
// been published yet, and reports whether it did; else they read more
// history first.
func (p *pump) tryJoin(g *catchGroup) bool {
	p.h.mu.Lock()
	if g.key.next <= p.h.published.Load() {
		p.h.mu.Unlock()
		return false
	}
	lg := p.liveGroupForLocked(g.key.id)
	p.h.mu.Unlock()
	for _, w := range g.watchers {
		w.cg, w.live, w.lg, w.gpos = nil, true, lg, len(lg.watchers)
		lg.watchers = append(lg.watchers, w)
	}
	clear(g.watchers)
	g.watchers, g.nPrev = nil, 0
	p.dropCatchGroup(g)
	return true
}

// failGroup cancels every watcher of g because its history could not be
// read: compacted (the usual case) or a store error.
func (p *pump) failGroup(g *catchGroup, err error) {
	var compactRev int64
	if errors.Is(err, ErrCompacted) {
		_, compactRev = p.h.src.revisions()
		if compactRev < g.key.next {
			compactRev = g.key.next // keep it non-zero and meaningful
		}
	} else {
		p.h.log.Warn("kvstore: watch: cannot read history; canceling watchers",
			"from", g.key.next, "watchers", len(g.watchers), "err", err)
	}
	ws := append([]*watcher(nil), g.watchers...)
	for _, w := range ws {
		p.leaveCatching(w)
		p.drop(w)
	}
	// Watchers the client canceled meanwhile get their Canceled response
	// from the queued Cancel instead.
	rev := p.h.published.Load()
	for _, w := range p.ws.forget(ws) {
		p.send(WatchResponse{WatchID: w.id, Canceled: true, CompactRevision: compactRev,
			CancelReason: err.Error(), Revision: rev})
	}
}
