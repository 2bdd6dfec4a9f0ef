package endpointslice

import (
	"sync"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
)

// tracker remembers the slice writes of each Service that the informer's
// cache may not show yet. A sync on a cache that lacks a slice it just
// created would create another (names are generated); one that still
// shows a deleted or pre-update slice would plan from the past. So a
// Service whose expectations are not met in the cache is synced again a
// little later instead. Expectations older than ttl are dropped, so a
// lost watch event delays a Service, never wedges it.
type tracker struct {
	ttl time.Duration

	mu     sync.Mutex
	expect map[string]map[string]expectation // service key → slice name → expectation
}

type expectation struct {
	// gone: the slice was deleted and must be absent; else it must be
	// present with a resourceVersion other than notRV (the one it had
	// before an update; "" after a create).
	gone  bool
	notRV string
	at    time.Time
}

func newTracker(ttl time.Duration) *tracker {
	return &tracker{ttl: ttl, expect: map[string]map[string]expectation{}}
}

func (t *tracker) record(svc, slice string, e expectation) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.expect[svc]
	if m == nil {
		m = map[string]expectation{}
		t.expect[svc] = m
	}
	m[slice] = e
}

// created, updated and deleted record a write's result.
func (t *tracker) created(svc, slice string, now time.Time) {
	t.record(svc, slice, expectation{at: now})
}

func (t *tracker) updated(svc, slice, oldRV string, now time.Time) {
	t.record(svc, slice, expectation{notRV: oldRV, at: now})
}

func (t *tracker) deleted(svc, slice string, now time.Time) {
	t.record(svc, slice, expectation{gone: true, at: now})
}

// stale reports whether the cached slices of svc (by name) miss a write
// of ours; met and expired expectations are forgotten.
func (t *tracker) stale(svc string, cached []*discoveryv1.EndpointSlice, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.expect[svc]
	if len(m) == 0 {
		return false
	}
	byName := make(map[string]*discoveryv1.EndpointSlice, len(cached))
	for _, s := range cached {
		byName[s.Name] = s
	}
	stale := false
	for name, e := range m {
		s, present := byName[name]
		met := (e.gone && !present) || (!e.gone && present && s.ResourceVersion != e.notRV)
		if met || now.Sub(e.at) > t.ttl {
			delete(m, name)
			continue
		}
		stale = true
	}
	if len(m) == 0 {
		delete(t.expect, svc)
	}
	return stale
}

// forget drops a Service's expectations (it is gone).
func (t *tracker) forget(svc string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.expect, svc)
}
