package watchcache

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kelson-dev/kelson/apiserver/storage"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// Cache is the watch cache of one resource. See the package doc for the
// model. Its methods are safe for concurrent use; Run is called once.
type Cache struct {
	cfg      Config
	log      *slog.Logger
	key, end []byte // the store range of cfg.Prefix

	started  atomic.Bool
	ready    chan struct{} // closed after the first list
	done     chan struct{} // closed when Run has returned
	progress chan struct{} // capacity 1: "ask the store watch for progress"

	mu sync.RWMutex
	// Guarded by mu:
	st     *state        // current objects; replaced whole by a re-list
	rev    int64         // the revision st reflects
	revCh  chan struct{} // closed and replaced when rev advances or the cache closes
	hist   history       // recent events, for watches that resume
	floor  int64         // smallest fromRev a watch can resume from
	ws     index         // registered watchers
	closed bool          // Run has returned
	stats  Stats
}

// Stats are the cache's counters, as a plain value (see Cache.Stats).
type Stats struct {
	Objects    int   // objects cached now
	Watchers   int   // watchers registered now
	Rev        int64 // the revision the cache reflects
	Relists    int64 // lists done (the first one included)
	Events     int64 // store events applied
	Skipped    int64 // keys skipped: undecodable, or a delete of an unknown key
	Terminated int64 // watchers terminated because their buffer was full
}

// New returns a cache; Run fills and follows it.
func New(cfg Config) (*Cache, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	key := []byte(cfg.Prefix)
	return &Cache{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "watchcache", "prefix", cfg.Prefix),
		key:      key,
		end:      storage.PrefixEnd(key),
		ready:    make(chan struct{}),
		done:     make(chan struct{}),
		progress: make(chan struct{}, 1),
		st:       newState(),
		revCh:    make(chan struct{}),
		hist:     newHistory(cfg.History),
		ws:       newIndex(),
	}, nil
}

// Stats returns the cache's counters.
func (c *Cache) Stats() Stats {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s := c.stats
	s.Objects, s.Watchers, s.Rev = len(c.st.byKey), c.ws.n, c.rev
	return s
}

// Run lists the prefix (paged ranges at one revision, the first one
// linearizable), then watches it from the list's revision+1, applying the
// events; when the watch fails (compaction, member gone, ...) it lists
// again. It returns when ctx is done, after terminating every watcher.
// The cache is ready after the first list.
func (c *Cache) Run(ctx context.Context) {
	if !c.started.CompareAndSwap(false, true) {
		c.log.Error("watchcache: Run called twice; the second call returns at once")
		return
	}
	defer c.shutdown()
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		rev, err := c.relist(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.log.Warn("watchcache: list failed; retrying", "err", err, "in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		err = c.follow(ctx, rev)
		if ctx.Err() != nil {
			return
		}
		c.log.Info("watchcache: store watch ended; re-listing", "err", err, "rev", c.Rev())
	}
}

// relist reads the whole prefix at one revision and replaces the state.
func (c *Cache) relist(ctx context.Context) (int64, error) {
	st := newState()
	var rev, skipped int64
	key := c.key
	for {
		resp, err := c.cfg.Store.Range(ctx, &pb.RangeRequest{Key: key, RangeEnd: c.end, Limit: c.cfg.PageSize, Revision: rev})
		if err != nil {
			return 0, fmt.Errorf("watchcache: list %s at revision %d: %w", c.cfg.Prefix, rev, err)
		}
		if rev == 0 {
			if resp.Header == nil {
				return 0, fmt.Errorf("watchcache: list %s: the store's response has no header", c.cfg.Prefix)
			}
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			if o := c.decode(kv); o != nil {
				st.put(o)
			} else {
				skipped++
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		last := resp.Kvs[len(resp.Kvs)-1].Key
		key = append(append(make([]byte, 0, len(last)+1), last...), 0)
	}
	c.replace(st, rev, skipped)
	return rev, nil
}

// replace installs a listed state at rev, atomically for readers. The
// history restarts empty (resuming from before rev is ErrTooOld) and every
// watcher is terminated: its client re-watches from its last revision.
func (c *Cache) replace(st *state, rev, skipped int64) {
	c.mu.Lock()
	c.st = st
	c.hist = newHistory(c.cfg.History)
	c.floor = rev
	c.stats.Relists++
	c.stats.Skipped += skipped
	for _, w := range c.ws.all() {
		c.terminateLocked(w)
	}
	c.setRevLocked(rev)
	c.mu.Unlock()
	select {
	case <-c.ready:
	default:
		close(c.ready)
	}
	c.log.Debug("watchcache: listed", "rev", rev, "objects", len(st.byKey))
}

// setRevLocked moves the cache's revision to rev and wakes its waiters.
func (c *Cache) setRevLocked(rev int64) {
	c.rev = rev
	close(c.revCh)
	c.revCh = make(chan struct{})
}

// follow applies the store watch's responses from rev+1 until it fails or
// ctx is done; it also sends bookmarks and relays progress requests.
func (c *Cache) follow(ctx context.Context, rev int64) error {
	w := c.cfg.Store.Watch(ctx, c.key, c.end, rev+1)
	defer w.Close()
	tick := time.NewTicker(c.cfg.BookmarkInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case r, ok := <-w.Chan():
			switch {
			case !ok:
				return storage.ErrWatchEnded
			case r.Err != nil:
				return r.Err
			}
			c.apply(r)
		case <-c.progress:
			w.RequestProgress()
		case <-tick.C:
			c.bookmark()
		}
	}
}

// decode returns the object of kv, or nil (logged) if it cannot. A
// panicking Decode counts as an error: a stored value must not crash the
// server.
func (c *Cache) decode(kv *mvccpb.KeyValue) *Object {
	obj, err := func() (obj runtime.Object, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("Decode panicked: %v", p)
			}
		}()
		return c.cfg.Decode(kv)
	}()
	if err != nil || obj == nil {
		c.log.Warn("watchcache: cannot decode a stored value; skipping the key", "key", string(kv.Key), "rev", kv.ModRevision, "err", err)
		return nil
	}
	return &Object{Key: string(kv.Key), Obj: obj, Rev: kv.ModRevision}
}

// apply applies one store watch response: its events in order, each sent
// to the watchers it concerns, then the revision the response completes.
// Values are decoded before the lock is taken.
func (c *Cache) apply(r storage.WatchResponse) {
	objs := make([]*Object, len(r.Events))
	for i, ev := range r.Events {
		if ev.Type == mvccpb.PUT {
			objs[i] = c.decode(ev.Kv)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// A response with events moves the cache to its last event's revision;
	// only one without events (progress) to its Revision. etcd's header
	// revision on events sent to a catching-up watcher is the store's
	// current revision, with older events still to come: not a promise.
	rev := r.Revision
	if n := len(r.Events); n > 0 {
		rev = r.Events[n-1].Kv.ModRevision
	}
	for i, ev := range r.Events {
		key := string(ev.Kv.Key)
		prev := c.st.byKey[key]
		e := &event{key: key, rev: ev.Kv.ModRevision}
		switch {
		case ev.Type == mvccpb.DELETE && prev == nil:
			c.log.Warn("watchcache: delete of a key the cache does not hold; skipping it", "key", key, "rev", e.rev)
			c.stats.Skipped++
			continue
		case ev.Type == mvccpb.DELETE:
			e.typ, e.prev = watch.Deleted, prev.Obj
			c.st.delete(key)
		case objs[i] == nil:
			c.stats.Skipped++ // logged by decode; the cached state (if any) stays
			continue
		case prev == nil:
			e.typ, e.obj = watch.Added, objs[i].Obj
			c.st.put(objs[i])
		default:
			e.typ, e.obj, e.prev = watch.Modified, objs[i].Obj, prev.Obj
			c.st.put(objs[i])
		}
		c.stats.Events++
		if old := c.hist.add(e); old != nil {
			c.floor = max(c.floor, old.rev)
		}
		c.fanoutLocked(e)
	}
	if rev > c.rev {
		c.setRevLocked(rev)
	}
}

// shutdown ends the cache when Run returns.
func (c *Cache) shutdown() {
	c.mu.Lock()
	c.closed = true
	for _, w := range c.ws.all() {
		c.terminateLocked(w)
	}
	close(c.revCh)
	c.revCh = make(chan struct{})
	c.mu.Unlock()
	close(c.done)
}

// requestProgress asks the feeder to request progress of the store watch;
// requests made before it gets to it are one.
func (c *Cache) requestProgress() {
	select {
	case c.progress <- struct{}{}:
	default:
	}
}

// Compacted tells the cache that the store's history before rev is gone:
// a watch from an older revision gets ErrTooOld, as it would from the
// store, even though the cache's own history may still reach back.
func (c *Cache) Compacted(rev int64) {
	c.mu.Lock()
	c.floor = max(c.floor, rev)
	c.mu.Unlock()
}
