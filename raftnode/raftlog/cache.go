package raftlog

import "go.etcd.io/raft/v3/raftpb"

// tailCache holds the most recent entries of the log in memory.
//
// Invariant: when non-empty, the cached entries are contiguous and the last
// one is the last entry of the log. The cache is trimmed from the front to
// stay within its budget, so it is always a suffix of the log.
//
// tailCache is not safe for concurrent use; Log guards it with mu. Cached
// *raftpb.Entry values are shared with callers of Entries and are never
// mutated (raft's contract), but the slice holding them is: readers copy the
// pointers out while holding the lock.
type tailCache struct {
	ents   []cachedEntry
	bytes  int64 // sum of sizes
	budget int64 // <= 0 disables the cache
}

type cachedEntry struct {
	e    *raftpb.Entry
	size uint64 // proto-encoded size, as raft counts it for maxSize
}

// first returns the index of the first cached entry; ok is false when the
// cache is empty.
func (c *tailCache) first() (index uint64, ok bool) {
	if len(c.ents) == 0 {
		return 0, false
	}
	return c.ents[0].e.GetIndex(), true
}

// get returns the cached entry at index i, or nil.
func (c *tailCache) get(i uint64) *cachedEntry {
	first, ok := c.first()
	if !ok || i < first || i-first >= uint64(len(c.ents)) {
		return nil
	}
	return &c.ents[i-first]
}

// reset empties the cache.
func (c *tailCache) reset() {
	c.ents = nil
	c.bytes = 0
}

// truncateFrom drops the cached entries with index >= i.
func (c *tailCache) truncateFrom(i uint64) {
	first, ok := c.first()
	if !ok {
		return
	}
	if i <= first {
		c.reset()
		return
	}
	keep := i - first
	if keep >= uint64(len(c.ents)) {
		return
	}
	for _, ce := range c.ents[keep:] {
		c.bytes -= int64(ce.size)
	}
	clear(c.ents[keep:]) // let the dropped entries be collected
	c.ents = c.ents[:keep]
}

// dropBefore drops the cached entries with index < i.
func (c *tailCache) dropBefore(i uint64) {
	first, ok := c.first()
	if !ok || i <= first {
		return
	}
	n := i - first
	if n >= uint64(len(c.ents)) {
		c.reset()
		return
	}
	for _, ce := range c.ents[:n] {
		c.bytes -= int64(ce.size)
	}
	clear(c.ents[:n])
	c.ents = c.ents[n:]
}

// append adds entries that directly follow the cached ones (the caller has
// truncated the cache at ents[0]'s index), then trims the front to the
// budget.
func (c *tailCache) append(ents []*raftpb.Entry, sizes []uint64) {
	if c.budget <= 0 || len(ents) == 0 {
		return
	}
	if last := len(c.ents) - 1; last >= 0 && c.ents[last].e.GetIndex()+1 != ents[0].GetIndex() {
		// Not contiguous: cannot happen when Log keeps its invariant, but a
		// wrong cache would be worse than none.
		c.reset()
	}
	for i, e := range ents {
		c.ents = append(c.ents, cachedEntry{e: e, size: sizes[i]})
		c.bytes += int64(sizes[i])
	}
	// Trim to the budget, but never evict the newest entry: raft reads it
	// right back.
	n := 0
	for c.bytes > c.budget && n < len(c.ents)-1 {
		c.bytes -= int64(c.ents[n].size)
		n++
	}
	if n > 0 {
		clear(c.ents[:n])
		c.ents = c.ents[n:]
	}
}
