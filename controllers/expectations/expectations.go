package expectations

import (
	"errors"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
)

// DefaultTTL is how long a sync waits for the informer to show its own
// writes before it stops trusting the record and decides from what it
// sees, as kube-controller-manager's five minutes.
const DefaultTTL = 5 * time.Minute

// Expectations holds, per owner key, the creations and deletions sent and
// not yet seen. Safe for concurrent use.
type Expectations struct {
	ttl time.Duration

	mu sync.Mutex
	m  map[string]*record
}

type record struct {
	adds int                    // creations not yet seen, >= 0
	dels map[types.UID]struct{} // deletions not yet seen
	at   time.Time              // when last raised
}

// New returns empty expectations whose records expire after ttl
// (DefaultTTL when ttl <= 0).
func New(ttl time.Duration) *Expectations {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &Expectations{ttl: ttl, m: map[string]*record{}}
}

// raiseLocked returns key's record, made if missing, with its TTL
// restarted at now.
func (e *Expectations) raiseLocked(key string, now time.Time) *record {
	x := e.m[key]
	if x == nil {
		x = &record{dels: map[types.UID]struct{}{}}
		e.m[key] = x
	}
	x.at = now
	return x
}

// ExpectCreations records n creations about to be sent for key.
func (e *Expectations) ExpectCreations(key string, n int, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.raiseLocked(key, now).adds += n
}

// CreationsObserved ticks off n of key's creations: n pods were seen, or n
// creations failed or were skipped and will never be seen. The count
// stops at zero.
func (e *Expectations) CreationsObserved(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.m[key]; x != nil {
		x.adds = max(x.adds-n, 0)
	}
}

// ExpectDeletions records that the pods with uids are about to be deleted
// for key.
func (e *Expectations) ExpectDeletions(key string, now time.Time, uids ...types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.raiseLocked(key, now)
	for _, u := range uids {
		x.dels[u] = struct{}{}
	}
}

// DeletionObserved ticks off the deletion of uid: the pod is gone or
// terminating, or its deletion failed.
func (e *Expectations) DeletionObserved(key string, uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.m[key]; x != nil {
		delete(x.dels, uid)
	}
}

// Satisfied reports whether key may create or delete: nothing is pending,
// or the record is older than the TTL. A satisfied record is dropped.
func (e *Expectations) Satisfied(key string, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.m[key]
	if x == nil {
		return true
	}
	if (x.adds == 0 && len(x.dels) == 0) || now.Sub(x.at) > e.ttl {
		delete(e.m, key)
		return true
	}
	return false
}

// PendingCreations is how many of key's creations are not yet seen (zero
// once the record expired).
func (e *Expectations) PendingCreations(key string, now time.Time) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.m[key]; x != nil && now.Sub(x.at) <= e.ttl {
		return x.adds
	}
	return 0
}

// Forget drops key's record (its owner is gone).
func (e *Expectations) Forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}

// InFlight holds one-shot writes per object UID that were sent and not yet
// seen, so a sync does not send them again. An entry older than the TTL
// no longer blocks (the write or its event was lost). Safe for concurrent
// use.
type InFlight struct {
	ttl time.Duration

	mu sync.Mutex
	m  map[types.UID]time.Time
}

// NewInFlight returns an empty set whose entries expire after ttl
// (DefaultTTL when ttl <= 0).
func NewInFlight(ttl time.Duration) *InFlight {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &InFlight{ttl: ttl, m: map[types.UID]time.Time{}}
}

// Start reports whether the write for uid should be sent, and if so
// records it as in flight from now.
func (f *InFlight) Start(uid types.UID, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if at, ok := f.m[uid]; ok && now.Sub(at) < f.ttl {
		return false
	}
	f.m[uid] = now
	return true
}

// Done settles uid's write: the informer showed its effect, or it failed
// and a later sync may send it again.
func (f *InFlight) Done(uid types.UID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, uid)
}

// OutcomeUnknown says whether a write that returned err may still have
// happened: the API timed out waiting for its store (504), or the answer
// was lost on the way (no Status at all). A failed create of that kind
// must stay expected — the informer shows the object if it was made, and
// the record expires after the TTL if not — or a sync deciding from a
// cache that lacks it would make it twice. Any other error (a Status the
// API chose: invalid, forbidden, quota, conflict) means nothing was made.
func OutcomeUnknown(err error) bool {
	if err == nil {
		return false
	}
	if apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) {
		return true
	}
	var st apierrors.APIStatus
	return !errors.As(err, &st)
}
