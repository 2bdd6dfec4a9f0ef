package watchcache

import (
	"fmt"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// Event is what a watcher receives.
type Event struct {
	// Type is watch.Added, Modified, Deleted or Bookmark.
	Type watch.EventType
	Key  string
	// Obj is the object (shared, read-only). For Deleted it is the last
	// state that matched the watcher: the state before the deletion, or
	// before the change that made it stop matching; its resourceVersion is
	// that state's, so the caller sets Rev on its copy, as Kubernetes
	// does. For Bookmark it is nil (the caller builds the bookmark object).
	Obj runtime.Object
	// Rev is the event's revision: the change's (for Deleted, the
	// deletion's), or for a Bookmark the revision the watcher has seen
	// every event through. For the synthetic Added of initial events it is
	// the object's own revision.
	Rev int64
	// InitialEventsEnd is set on the Bookmark that ends the initial events.
	InitialEventsEnd bool
}

// Watcher is one watch served by the cache. Its reader must keep reading
// Chan, and call Stop when done with it.
type Watcher struct {
	c         *Cache
	prefix    string
	match     func(runtime.Object) bool // nil: everything
	bookmarks bool
	after     int64 // live events of revision <= after are not sent

	// Sent first, by run, in this order: the initial objects as Added,
	// the InitialEventsEnd bookmark (if initialEnd), the backlog.
	initial    []*Object
	initialEnd bool
	backlog    []*event

	in       chan *event // filled by the feeder, never blocking; closed by terminateLocked
	out      chan Event  // closed by run when it returns
	stop     chan struct{}
	stopOnce sync.Once

	// Guarded by c.mu:
	group *group // nil once terminated
	pos   int
}

// Watch returns a watcher of the events under keyPrefix, filtered by
// match (nil: every object).
//
//   - initial: first an Added for every current matching object (the state
//     at the cache's revision R at the call), then, if bookmarks, a
//     Bookmark at R with InitialEventsEnd, then the events after R. fromRev
//     is ignored.
//   - otherwise the events with a revision > fromRev: from the history,
//     then live. fromRev 0 means from now. A fromRev the history no longer
//     covers (older than its oldest event's revision - 1, or than the last
//     re-list) is ErrTooOld. A fromRev beyond the cache's revision is
//     accepted (events after it come when they happen); call WaitRev first
//     to answer "too large resource version" as Kubernetes does.
//
// Filtering is as Kubernetes' watch cache does it: a change that makes an
// object match is Added, one that makes it stop matching is Deleted (with
// the last matching state), one that matched before and after Modified.
// bookmarks: a Bookmark every Config.BookmarkInterval at the cache's
// revision, once the watcher has been sent every event through it.
//
// The watcher's buffer holds Config.WatcherBuffer events; when the feeder
// finds it full the watcher is terminated: the buffered events are still
// delivered, then Chan is closed, and the client re-watches from the last
// revision it saw (as with kube-apiserver). A re-list terminates every
// watcher the same way.
func (c *Cache) Watch(keyPrefix string, fromRev int64, match func(runtime.Object) bool, initial, bookmarks bool) (*Watcher, error) {
	w := &Watcher{
		c: c, prefix: keyPrefix, match: match, bookmarks: bookmarks,
		in:   make(chan *event, c.cfg.WatcherBuffer),
		out:  make(chan Event),
		stop: make(chan struct{}),
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return nil, ErrClosed
	case !isClosed(c.ready):
		return nil, ErrNotReady
	}
	switch {
	case initial:
		w.after, w.initialEnd = c.rev, bookmarks
		w.initial = make([]*Object, 0, 16)
		c.st.scan(keyPrefix, func(o *Object) bool {
			w.initial = append(w.initial, o)
			return true
		})
	case fromRev == 0:
		w.after = c.rev
	case fromRev < c.floor:
		return nil, fmt.Errorf("%w: %d (oldest available: %d)", ErrTooOld, fromRev, c.floor)
	default:
		w.after = max(fromRev, c.rev)
		w.backlog = c.hist.since(fromRev)
	}
	c.ws.add(w)
	go w.run()
	return w, nil
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Chan delivers the watcher's events. It is closed when the watcher ends:
// Stop, a full buffer, a re-list, or the end of the cache.
func (w *Watcher) Chan() <-chan Event { return w.out }

// Stop ends the watcher; Chan is closed soon after. Safe to call twice.
func (w *Watcher) Stop() {
	w.c.mu.Lock()
	w.c.terminateLocked(w)
	w.c.mu.Unlock()
	w.stopOnce.Do(func() { close(w.stop) })
}

// terminateLocked unregisters w and closes its input; run delivers what
// the input holds, then closes Chan.
func (c *Cache) terminateLocked(w *Watcher) {
	if w.group == nil {
		return
	}
	c.ws.remove(w)
	close(w.in)
}

// fanoutLocked gives e to every watcher of its key, without blocking:
// a watcher whose buffer is full is terminated.
func (c *Cache) fanoutLocked(e *event) {
	var full []*Watcher
	c.ws.each(e.key, func(w *Watcher) {
		select {
		case w.in <- e:
		default:
			full = append(full, w)
		}
	})
	for _, w := range full {
		c.log.Info("watchcache: watcher too slow; terminating it (its client re-watches)", "watch_prefix", w.prefix, "rev", e.rev)
		c.stats.Terminated++
		c.terminateLocked(w)
	}
}

// bookmark gives a bookmark at the cache's revision to every watcher that
// asked for them. One with a full buffer misses it (it gets the next).
func (c *Cache) bookmark() {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := &event{typ: watch.Bookmark, rev: c.rev}
	for _, g := range c.ws.groups {
		for _, w := range g.ws {
			if w.bookmarks {
				select {
				case w.in <- e:
				default:
				}
			}
		}
	}
}

// run sends the watcher's events to its reader until the input closes or
// Stop. It is the only sender on out.
func (w *Watcher) run() {
	defer close(w.out)
	for _, o := range w.initial {
		if w.match == nil || w.match(o.Obj) {
			if !w.send(Event{Type: watch.Added, Key: o.Key, Obj: o.Obj, Rev: o.Rev}) {
				return
			}
		}
	}
	w.initial = nil
	if w.initialEnd && !w.send(Event{Type: watch.Bookmark, Rev: w.after, InitialEventsEnd: true}) {
		return
	}
	for _, e := range w.backlog {
		if ev, ok := w.convert(e); ok && !w.send(ev) {
			return
		}
	}
	w.backlog = nil
	for {
		select {
		case e, ok := <-w.in:
			if !ok {
				return
			}
			if e.rev < w.after || e.rev == w.after && e.typ != watch.Bookmark {
				continue
			}
			if ev, ok := w.convert(e); ok && !w.send(ev) {
				return
			}
		case <-w.stop:
			return
		}
	}
}

func (w *Watcher) send(ev Event) bool {
	select {
	case w.out <- ev:
		return true
	case <-w.stop:
		return false
	}
}

// convert turns a shared event into this watcher's Event, if it has one.
func (w *Watcher) convert(e *event) (Event, bool) {
	if e.typ == watch.Bookmark {
		return Event{Type: watch.Bookmark, Rev: e.rev}, true
	}
	if !strings.HasPrefix(e.key, w.prefix) {
		return Event{}, false
	}
	cur := e.obj != nil && (w.match == nil || w.match(e.obj))
	old := e.prev != nil && (w.match == nil || w.match(e.prev))
	switch {
	case cur && old:
		return Event{Type: watch.Modified, Key: e.key, Obj: e.obj, Rev: e.rev}, true
	case cur:
		return Event{Type: watch.Added, Key: e.key, Obj: e.obj, Rev: e.rev}, true
	case old:
		return Event{Type: watch.Deleted, Key: e.key, Obj: e.prev, Rev: e.rev}, true
	}
	return Event{}, false
}
