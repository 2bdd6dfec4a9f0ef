package garbagecollector

import (
	"container/list"
	"sync"
)

// absentCache remembers owners the API confirmed absent (not found, or the
// name held by another UID), so the hundreds of dependents of one deleted
// owner cost one lookup, not one each. UIDs are never reused, so an entry
// never goes stale; the cache is bounded (least recently used out).
// Safe for concurrent use.
type absentCache struct {
	max int

	mu    sync.Mutex
	order *list.List // of Identity, most recent first
	items map[Identity]*list.Element
}

func newAbsentCache(max int) *absentCache {
	if max <= 0 {
		max = 1024
	}
	return &absentCache{max: max, order: list.New(), items: map[Identity]*list.Element{}}
}

// Has reports whether id (an owner's coordinates as looked up: apiVersion,
// kind, the namespace it was looked up in, name, UID) is known absent.
func (c *absentCache) Has(id Identity) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[id]
	if ok {
		c.order.MoveToFront(e)
	}
	return ok
}

// Add records id as absent.
func (c *absentCache) Add(id Identity) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[id]; ok {
		c.order.MoveToFront(e)
		return
	}
	c.items[id] = c.order.PushFront(id)
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(Identity))
	}
}
