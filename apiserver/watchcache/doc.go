// Package watchcache is the API server's cache of one resource: the state
// of every object under the resource's key prefix, and the recent events,
// fed by ONE store watch and serving lists, gets and every HTTP watcher of
// the resource — the fan-out the store does for its watchers, one level up.
//
// # Model
//
// Run lists the prefix at one revision R (paged ranges, the first one
// linearizable) and installs the result as the state at R; then it watches
// the prefix from R+1. Each watch response is applied whole, in order:
// every event updates the state (a map for Get beside a btree ordered by
// key for prefix lists), is appended to the history ring (Config.History
// events, default 10000) and is given to the watchers of its key; then the
// cache's revision moves to the last event's revision, or, for a progress
// response (no events: the store says the watch is complete through its
// revision), to that revision. When the store watch fails (its history was
// compacted, the member went away) Run lists again, and the new state
// replaces the old at once for readers.
//
//	store ── one watch ──> feeder (Run) ──> state (map + btree), rev
//	                          │        └──> history ring
//	                          └─ fan-out ─> watcher.in (buffered) ─> watcher goroutine ─> Chan()
//	                                         (filter, Added/Modified/Deleted per watcher)
//
// # Invariants
//
//   - The state is exactly the store's keys under the prefix at the
//     cache's revision (minus keys whose values Decode rejects).
//   - The revision never goes down; List and Get return the revision
//     their answer reflects.
//   - A watcher gets every event of its prefix with a revision above its
//     start exactly once, in revision order, or is terminated (Chan
//     closed) — never a gap. Its client then watches again from the last
//     revision it saw, and gets ErrTooOld (410 Gone) if the history no
//     longer covers it.
//   - The history covers every event after floor: resuming from
//     fromRev >= floor is exact; floor is the revision of the last list or
//     of the newest event the ring dropped, whichever is greater.
//   - A re-list terminates every watcher and empties the history.
//
// # Fan-out
//
// An event is built once by the feeder and shared, read-only, by every
// watcher it is sent to. Watchers are indexed by their key prefix (see
// index): finding the watchers of a key costs one map lookup per distinct
// watched prefix length, not one test per watcher. The feeder puts the
// event into each watcher's buffered input without blocking; a watcher
// whose buffer (Config.WatcherBuffer, default 100) is full is terminated:
// a slow reader never blocks the feeder, other watchers, lists or writers.
// Each watcher has a goroutine that applies its filter and feeds its
// reader: first its initial objects or its backlog from the history, then
// the input. Live events wait in the buffer while those are delivered, so
// a reader that reads a large initial state more slowly than
// Config.WatcherBuffer live events arrive is terminated too (as in
// kube-apiserver; its client starts over).
//
// A terminated watcher's reader still gets the events its buffer held, in
// order, then Chan is closed: it resumes from the last revision it saw and
// misses nothing, or gets ErrTooOld and re-lists.
//
// # Locking
//
// One RWMutex, Cache.mu, guards the state, revision, history, the watcher
// index and each watcher's registration. The feeder holds it (write) to
// apply a response and fan it out; it decodes values before taking it.
// Readers hold it (read) for a List or Get. Watch holds it (write) to take
// the initial state or backlog and register atomically: no event is missed
// or sent twice. No blocking send happens under it: fan-out sends are
// non-blocking, and watcher goroutines send to readers with no lock held.
// Waiters (WaitFresh, WaitRev) sleep on a channel closed when the revision
// moves, and ask the feeder (through a one-slot channel, so requests
// coalesce) to request progress from the store watch.
//
// # Example
//
//	c, err := watchcache.New(watchcache.Config{Store: st, Prefix: "/registry/configmaps/", Decode: decode})
//	go c.Run(ctx)
//	_ = c.WaitReady(ctx)
//	rev, _ := c.WaitFresh(ctx) // a consistent list
//	objs, _ := c.List("/registry/configmaps/default/")
//	w, _ := c.Watch("/registry/configmaps/default/", rev, nil, false, true)
//	defer w.Stop()
//	for ev := range w.Chan() { ... } // closed: watch again from the last ev.Rev
package watchcache
