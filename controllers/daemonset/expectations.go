package daemonset

import (
	"sync"
	"time"
)

// expectationsTimeout bounds how long a sync waits for the informer to
// report its own writes; past it the writes are assumed lost and the
// controller decides again from what it sees.
const expectationsTimeout = 5 * time.Minute

// expectations remembers, per DaemonSet key, the pod creations and
// deletions a sync has sent and the pod informer not yet reported, so the
// next sync does not act on a cache that misses its own writes (create a
// second pod for a node, delete a pod twice). Safe for concurrent use.
type expectations struct {
	now func() time.Time

	mu sync.Mutex
	m  map[string]*expected
}

type expected struct {
	adds int                 // creations not yet seen
	dels map[string]struct{} // UIDs of pods whose deletion is not yet seen
	at   time.Time           // when last raised
}

func newExpectations(now func() time.Time) *expectations {
	return &expectations{now: now, m: map[string]*expected{}}
}

func (e *expectations) getLocked(key string) *expected {
	x := e.m[key]
	if x == nil {
		x = &expected{dels: map[string]struct{}{}}
		e.m[key] = x
	}
	return x
}

// expectCreates records n creations about to be sent.
func (e *expectations) expectCreates(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.getLocked(key)
	x.adds += n
	x.at = e.now()
}

// created records a creation seen (or one that failed and never will be).
func (e *expectations) created(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.m[key]; x != nil && x.adds > 0 {
		x.adds--
	}
}

// expectDelete records a deletion about to be sent.
func (e *expectations) expectDelete(key, uid string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.getLocked(key)
	x.dels[uid] = struct{}{}
	x.at = e.now()
}

// deleted records a deletion seen (the pod gone or terminating), or one
// that failed.
func (e *expectations) deleted(key, uid string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.m[key]; x != nil {
		delete(x.dels, uid)
	}
}

// satisfied: nothing is outstanding for key, or it waited past the
// timeout (and the record is dropped).
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.m[key]
	if x == nil || (x.adds == 0 && len(x.dels) == 0) {
		return true
	}
	if e.now().Sub(x.at) > expectationsTimeout {
		delete(e.m, key)
		return true
	}
	return false
}

// forget drops key's record (its DaemonSet is gone, or it timed out).
func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
