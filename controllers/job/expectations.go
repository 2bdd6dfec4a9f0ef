package job

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// expectationsTTL bounds how long a sync waits for the informer to show
// its own writes; past it the expectation is dropped (a watch event was
// lost and a relist will tell the truth).
const expectationsTTL = 5 * time.Minute

// expectations remembers, per Job key, the pod creations and deletions a
// sync issued that the pod informer has not shown yet, and the pods whose
// finalizer removal is in flight. While creations or deletions are
// pending, a sync does not create or delete pods: the informer's snapshot
// would undercount them and the sync would exceed parallelism.
//
// Safe for concurrent use. Lock order: mu only, never held across IO.
type expectations struct {
	mu sync.Mutex
	m  map[string]*expected
	// finalizers holds pods whose finalizer removal was sent and not yet
	// seen, so a sync does not send it again.
	finalizers map[types.UID]time.Time
}

type expected struct {
	adds int
	dels map[types.UID]bool
	at   time.Time
}

func newExpectations() *expectations {
	return &expectations{m: map[string]*expected{}, finalizers: map[types.UID]time.Time{}}
}

// satisfied: no creations or deletions of key are pending (or they
// expired).
func (e *expectations) satisfied(key string, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.m[key]
	if x == nil {
		return true
	}
	if (x.adds <= 0 && len(x.dels) == 0) || now.Sub(x.at) > expectationsTTL {
		delete(e.m, key)
		return true
	}
	return false
}

func (e *expectations) getLocked(key string, now time.Time) *expected {
	x := e.m[key]
	if x == nil {
		x = &expected{dels: map[types.UID]bool{}}
		e.m[key] = x
	}
	x.at = now
	return x
}

// expectCreations records n creations about to be sent.
func (e *expectations) expectCreations(key string, n int, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.getLocked(key, now).adds += n
}

// creationObserved: the informer showed a pod of key (or a create
// failed, so none will come).
func (e *expectations) creationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.m[key]; x != nil && x.adds > 0 {
		x.adds--
	}
}

// expectDeletion records a deletion about to be sent.
func (e *expectations) expectDeletion(key string, uid types.UID, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.getLocked(key, now).dels[uid] = true
}

// deletionObserved: the informer showed the pod deleted or terminating
// (or the delete failed).
func (e *expectations) deletionObserved(key string, uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.m[key]; x != nil {
		delete(x.dels, uid)
	}
}

// forget drops key's expectations (the Job is gone).
func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}

// startFinalizerRemoval reports whether a removal for uid should be
// sent, and if so records it as in flight.
func (e *expectations) startFinalizerRemoval(uid types.UID, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if at, ok := e.finalizers[uid]; ok && now.Sub(at) < expectationsTTL {
		return false
	}
	e.finalizers[uid] = now
	return true
}

// finalizerRemoved: the informer showed the pod without the finalizer or
// gone, or the removal failed and may be retried.
func (e *expectations) finalizerRemoved(uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.finalizers, uid)
}
