package replicaset

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// DefaultExpectationsTTL is how long a sync waits for the informer to show
// its own creations and deletions before it stops trusting the record
// (and decides from what it sees), as kube-controller-manager's 5 minutes.
const DefaultExpectationsTTL = 5 * time.Minute

// expectations remembers, per ReplicaSet key, the pod creations and
// deletions a sync has issued and the informer has not shown yet. A sync
// decides from the informer's cache; until the cache has caught up with
// the previous sync's writes it must not create or delete again, or it
// would create the same replicas twice. Safe for concurrent use.
type expectations struct {
	now func() time.Time
	ttl time.Duration

	mu sync.Mutex
	m  map[string]*expectation
}

type expectation struct {
	adds int                    // creations not yet seen (may go negative)
	dels map[types.UID]struct{} // deletions not yet seen
	at   time.Time              // when the record was set
}

func newExpectations(now func() time.Time, ttl time.Duration) *expectations {
	if ttl <= 0 {
		ttl = DefaultExpectationsTTL
	}
	return &expectations{now: now, ttl: ttl, m: map[string]*expectation{}}
}

// satisfied reports whether key may act: nothing is pending, or the record
// is older than the TTL (a lost event must not wedge a ReplicaSet).
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.m[key]
	return x == nil || (x.adds <= 0 && len(x.dels) == 0) || e.now().Sub(x.at) > e.ttl
}

// pendingCreates is how many of key's creations are not yet seen.
func (e *expectations) pendingCreates(key string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.m[key]; x != nil && e.now().Sub(x.at) <= e.ttl {
		return max(x.adds, 0)
	}
	return 0
}

// expectCreates records that n creations are about to be issued.
func (e *expectations) expectCreates(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[key] = &expectation{adds: n, at: e.now()}
}

// expectDeletes records that the pods with uids are about to be deleted.
func (e *expectations) expectDeletes(key string, uids []types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := &expectation{dels: make(map[types.UID]struct{}, len(uids)), at: e.now()}
	for _, u := range uids {
		x.dels[u] = struct{}{}
	}
	e.m[key] = x
}

// creationObserved lowers key's pending creations by n: n pods were seen,
// or n creations failed or were skipped.
func (e *expectations) creationObserved(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.m[key]; x != nil {
		x.adds -= n
	}
}

// deletionObserved: the pod uid is gone or going (or its deletion
// failed), so it is no longer awaited.
func (e *expectations) deletionObserved(key string, uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.m[key]; x != nil {
		delete(x.dels, uid)
	}
}

// forget drops key's record (the ReplicaSet is gone).
func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
