package garbagecollector

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestBuildResourceMap(t *testing.T) {
	lists := slices.Concat(simKinds, []*metav1.APIResourceList{{GroupVersion: "authorization.k8s.io/v1", APIResources: []metav1.APIResource{
		{Name: "subjectaccessreviews", Kind: "SubjectAccessReview", Verbs: metav1.Verbs{"create"}},
	}}})
	groups := slices.Concat(simGroups, []*metav1.APIGroup{{Name: "authorization.k8s.io",
		PreferredVersion: metav1.GroupVersionForDiscovery{GroupVersion: "authorization.k8s.io/v1", Version: "v1"}}})
	rm := buildResourceMap(groups, lists, defaultIgnored)

	var monitored []string
	for _, ar := range rm.monitoredSorted() {
		monitored = append(monitored, ar.GVR.String())
	}
	// Preferred versions only; no subresources, no Events, nothing that
	// cannot be listed, watched and deleted.
	want := fmt.Sprint([]string{
		"/v1, Resource=configmaps", "/v1, Resource=namespaces", "/v1, Resource=nodes", "/v1, Resource=pods", "/v1, Resource=secrets",
		"apps/v1, Resource=deployments", "apps/v1, Resource=replicasets",
		"example.com/v1, Resource=widgets",
		"rbac.authorization.k8s.io/v1, Resource=clusterroles",
	})
	if got := fmt.Sprint(monitored); got != want {
		t.Errorf("monitored:\n got %s\nwant %s", got, want)
	}

	for _, tc := range []struct {
		apiVersion, kind string
		want             schema.GroupVersionResource
		namespaced       bool
		err              bool
	}{
		{apiVersion: "apps/v1", kind: "ReplicaSet", want: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}, namespaced: true},
		{apiVersion: "v1", kind: "Node", want: schema.GroupVersionResource{Version: "v1", Resource: "nodes"}},
		// A served non-preferred version maps to itself.
		{apiVersion: "example.com/v1beta1", kind: "Widget", want: schema.GroupVersionResource{Group: "example.com", Version: "v1beta1", Resource: "widgets"}, namespaced: true},
		// A version no longer served maps to the preferred one.
		{apiVersion: "apps/v1beta2", kind: "Deployment", want: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, namespaced: true},
		// Events are ignored by the monitors but can still be resolved.
		{apiVersion: "v1", kind: "Event", want: schema.GroupVersionResource{Version: "v1", Resource: "events"}, namespaced: true},
		{apiVersion: "example.com/v1", kind: "Gizmo", err: true},
		{apiVersion: "a/b/c", kind: "Bad", err: true},
	} {
		ar, err := rm.mapping(tc.apiVersion, tc.kind)
		if tc.err {
			if !errors.Is(err, ErrUnknownKind) {
				t.Errorf("mapping(%s, %s) = %v, %v; want ErrUnknownKind", tc.apiVersion, tc.kind, ar, err)
			}
			continue
		}
		if err != nil || ar.GVR != tc.want || ar.Namespaced != tc.namespaced || ar.Kind != tc.kind {
			t.Errorf("mapping(%s, %s) = %+v, %v; want %v namespaced=%v", tc.apiVersion, tc.kind, ar, err, tc.want, tc.namespaced)
		}
	}
}

func TestAbsentCache(t *testing.T) {
	c := newAbsentCache(2)
	a, b, d := Identity{UID: "a"}, Identity{UID: "b"}, Identity{UID: "d"}
	c.Add(a)
	c.Add(b)
	if !c.Has(a) { // a is now the most recent
		t.Fatal("a forgotten")
	}
	c.Add(d) // evicts b, the least recently used
	if c.Has(b) || !c.Has(a) || !c.Has(d) {
		t.Fatalf("after eviction: a=%v b=%v d=%v", c.Has(a), c.Has(b), c.Has(d))
	}
	if c.Has(Identity{UID: "a", Namespace: "other"}) {
		t.Fatal("the namespace looked up in is part of the key")
	}
}

// Concurrent lookups of one owner share one call.
func TestLookupsShared(t *testing.T) {
	var l lookups
	var calls atomic.Int32
	release := make(chan struct{})
	key := Identity{UID: "o"}
	const n = 20
	var wg sync.WaitGroup
	results := make(chan ownerState, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, _ := l.do(key, func() (ownerState, error) {
				calls.Add(1)
				<-release
				return ownerDangling, nil
			})
			results <- s
		}()
	}
	// Let the goroutines pile up on the one in flight, then release it.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		l.mu.Lock()
		started := len(l.inFlight) == 1
		l.mu.Unlock()
		if started {
			break
		}
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	close(results)
	for s := range results {
		if s != ownerDangling {
			t.Fatalf("shared result %v", s)
		}
	}
	// Goroutines that arrived after the call ended ran their own: a few
	// calls at most, never one each (the collector re-checks the absent
	// cache inside the call, so those cost nothing).
	if got := calls.Load(); got < 1 || got >= n {
		t.Fatalf("%d calls for %d concurrent lookups", got, n)
	}
	if len(l.inFlight) != 0 {
		t.Fatalf("lookups left in flight: %v", l.inFlight)
	}
}
