package deployment

import (
	"strconv"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"
	appslisters "k8s.io/client-go/listers/apps/v1"
)

// writeTTL bounds how long a sync waits for the informer to show its own
// ReplicaSet writes.
const writeTTL = time.Minute

// writes remembers, per Deployment key, the ReplicaSet writes of its last
// sync that the informer has not shown yet. The next sync waits for them:
// deciding from a cache without its own last scale-down would count pods
// that are leaving as staying (and scale down again) or miss a creation
// (and create again). Safe for concurrent use.
type writes struct {
	now func() time.Time

	mu sync.Mutex
	m  map[string][]written
}

type written struct {
	ns, name string
	uid      types.UID
	rv       uint64 // the write's resourceVersion; 0: deleted
	at       time.Time
}

func newWrites(now func() time.Time) *writes {
	return &writes{now: now, m: map[string][]written{}}
}

// wrote records that rs (as returned by the API) was written for key;
// deleted: it was deleted.
func (w *writes) wrote(key string, rs *appsv1.ReplicaSet, deleted bool) {
	rec := written{ns: rs.Namespace, name: rs.Name, uid: rs.UID, at: w.now()}
	if !deleted {
		rv, err := strconv.ParseUint(rs.ResourceVersion, 10, 64)
		if err != nil {
			return // not a number: cannot tell order; do not wait
		}
		rec.rv = rv
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.m[key] = append(w.m[key], rec)
}

// seen reports whether the lister shows every write recorded for key,
// dropping those it does.
func (w *writes) seen(key string, lister appslisters.ReplicaSetLister) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	var left []written
	for _, x := range w.m[key] {
		if w.now().Sub(x.at) > writeTTL {
			continue
		}
		cur, err := lister.ReplicaSets(x.ns).Get(x.name)
		switch {
		case err != nil || cur.UID != x.uid:
			if x.rv != 0 {
				left = append(left, x) // created or updated, not there yet
			}
		case x.rv == 0:
			left = append(left, x) // deleted, still there
		default:
			rv, err := strconv.ParseUint(cur.ResourceVersion, 10, 64)
			if err == nil && rv < x.rv {
				left = append(left, x)
			}
		}
	}
	if len(left) == 0 {
		delete(w.m, key)
		return true
	}
	w.m[key] = left
	return false
}

func (w *writes) forget(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.m, key)
}

// bounds tracks, per ReplicaSet, the largest replicas it has had since its
// status last showed it settled (status.replicas == spec.replicas at the
// current generation). Until it settles, a ReplicaSet that was scaled down
// may still have (or be creating) that many pods. Safe for concurrent use.
type bounds struct {
	mu sync.Mutex
	hw map[types.UID]int32
}

func newBounds() *bounds { return &bounds{hw: map[types.UID]int32{}} }

// of returns the pod bound of each ReplicaSet that is not settled, and
// forgets the settled ones.
func (b *bounds) of(rses []*appsv1.ReplicaSet) map[types.UID]int32 {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[types.UID]int32{}
	for _, rs := range rses {
		spec := rsReplicas(rs)
		if rs.Status.ObservedGeneration >= rs.Generation && rs.Status.Replicas == spec {
			delete(b.hw, rs.UID)
			continue
		}
		hw := max(b.hw[rs.UID], spec)
		b.hw[rs.UID] = hw
		out[rs.UID] = max(hw, rs.Status.Replicas)
	}
	return out
}

// scaled notes that rs goes from one size to another.
func (b *bounds) scaled(uid types.UID, from, to int32) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hw[uid] = max(b.hw[uid], from, to)
}

// forget drops ReplicaSets that are gone.
func (b *bounds) forget(uid types.UID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.hw, uid)
}
