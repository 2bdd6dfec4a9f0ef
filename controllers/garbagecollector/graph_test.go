package garbagecollector

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

var (
	cmRes     = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	widgetRes = schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
)

func cm(ns, name string, owners ...metav1.OwnerReference) Object {
	return Object{Identity: Identity{APIVersion: "v1", Kind: "ConfigMap", Namespace: ns, Name: name, UID: types.UID(name)},
		Resource: cmRes, Owners: owners}
}

func refTo2(o Object, block bool) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: o.APIVersion, Kind: o.Kind, Name: o.Name, UID: o.UID, BlockOwnerDeletion: &block}
}

func uidList(uids ...string) []types.UID {
	var out []types.UID
	for _, u := range uids {
		out = append(out, types.UID(u))
	}
	return out
}

func wantEffects(t *testing.T, what string, got Effects, del, verify, orphan []types.UID) {
	t.Helper()
	if !slices.Equal(got.Delete, del) || !slices.Equal(got.Verify, verify) || !slices.Equal(got.Orphan, orphan) {
		t.Fatalf("%s: effects delete=%v verify=%v orphan=%v; want delete=%v verify=%v orphan=%v",
			what, got.Delete, got.Verify, got.Orphan, del, verify, orphan)
	}
}

// A dependent seen before its owner names a virtual node; when the owner
// turns up elsewhere than the reference says, the dependent is verified.
func TestGraphVirtualOwnerResolved(t *testing.T) {
	g := NewGraph()
	owner := cm("a", "owner")
	good := cm("a", "good", refTo2(owner, false))
	cross := cm("b", "cross", refTo2(owner, false))
	wantEffects(t, "good", g.Upsert(good), nil, uidList("good"), nil)
	wantEffects(t, "cross", g.Upsert(cross), nil, uidList("cross"), nil)
	if n, v := g.Size(); n != 3 || v != 1 {
		t.Fatalf("size %d/%d", n, v)
	}
	// The owner is in namespace a: only the dependent in b names it wrongly.
	wantEffects(t, "owner", g.Upsert(owner), nil, uidList("cross"), nil)
	it, _ := g.Item("cross")
	if it.OwnerViews[0].Matches || !it.OwnerViews[0].Observed {
		t.Fatalf("cross-namespace view %+v", it.OwnerViews[0])
	}
	it, _ = g.Item("good")
	if !it.OwnerViews[0].Matches {
		t.Fatalf("same-namespace view %+v", it.OwnerViews[0])
	}
}

// A deleted owner with dependents stays as a virtual node until its last
// dependent goes.
func TestGraphRemoveKeepsVirtualOwner(t *testing.T) {
	g := NewGraph()
	owner := cm("a", "owner")
	g.Upsert(owner)
	d1, d2 := cm("a", "d1", refTo2(owner, false)), cm("a", "d2", refTo2(owner, false))
	g.Upsert(d1)
	g.Upsert(d2)
	wantEffects(t, "remove owner", g.Remove(owner.Identity), uidList("d1", "d2"), nil, nil)
	if it, ok := g.Item("owner"); !ok || it.Observed {
		t.Fatalf("the owner should be virtual: %+v %v", it, ok)
	}
	g.Remove(d1.Identity)
	d2.Owners = nil // orphaned by an update
	wantEffects(t, "d2 drops the reference", g.Upsert(d2), nil, nil, nil)
	if _, ok := g.Item("owner"); ok {
		t.Fatal("a virtual node without dependents stayed")
	}
}

// A foreground owner is queued again when a dependent stops blocking it.
func TestGraphForegroundOwnerRequeued(t *testing.T) {
	g := NewGraph()
	owner := cm("a", "owner")
	g.Upsert(owner)
	dep := cm("a", "dep", refTo2(owner, true))
	g.Upsert(dep)
	owner.Deleting, owner.Finalizers = true, []string{finalizerForeground}
	wantEffects(t, "foreground", g.Upsert(owner), uidList("dep", "owner"), nil, nil)
	if g.Blocking("owner") != 1 {
		t.Fatal("the dependent does not block")
	}
	// An unrelated update of the owner queues nothing more.
	owner.ResourceVersion = "9"
	wantEffects(t, "owner update", g.Upsert(owner), nil, nil, nil)
	dep.Owners = []metav1.OwnerReference{refTo2(owner, false)}
	wantEffects(t, "unblock", g.Upsert(dep), uidList("owner"), nil, nil)
	if g.Blocking("owner") != 0 {
		t.Fatal("a non-blocking dependent blocks")
	}
	// Orphan transition.
	other := cm("a", "other")
	g.Upsert(other)
	other.Deleting, other.Finalizers = true, []string{finalizerOrphan}
	wantEffects(t, "orphan", g.Upsert(other), nil, nil, uidList("other"))
}

// A resource no longer served: its objects leave the graph as if deleted.
func TestGraphRemoveResource(t *testing.T) {
	g := NewGraph()
	w := Object{Identity: Identity{APIVersion: "example.com/v1", Kind: "Widget", Namespace: "a", Name: "w", UID: "w"}, Resource: widgetRes}
	g.Upsert(w)
	dep := cm("a", "dep", refTo2(w, false))
	g.Upsert(dep)
	wDep := w
	wDep.Name, wDep.UID, wDep.Owners = "w2", "w2", []metav1.OwnerReference{refTo2(dep, false)}
	g.Upsert(wDep)
	wantEffects(t, "remove widgets", g.RemoveResource(widgetRes), uidList("dep"), nil, nil)
	if it, ok := g.Item("w"); !ok || it.Observed {
		t.Fatalf("the widget should be virtual (named by dep): %+v %v", it, ok)
	}
	if _, ok := g.Item("w2"); ok {
		t.Fatal("the dependent widget stayed")
	}
	if deps := g.Dependents("dep"); len(deps) != 0 {
		t.Fatalf("dep still has dependents %v", deps)
	}
}

// Random changes keep the graph's invariants.
func TestGraphInvariants(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	g := NewGraph()
	live := map[types.UID]Object{}
	const names = 12
	for step := 0; step < 5000; step++ {
		uid := types.UID(fmt.Sprint(rng.IntN(names)))
		if _, ok := live[uid]; ok && rng.IntN(4) == 0 {
			g.Remove(live[uid].Identity)
			delete(live, uid)
		} else {
			o := cm([]string{"a", "b"}[rng.IntN(2)], string(uid))
			for range rng.IntN(3) {
				owner := cm("a", fmt.Sprint(rng.IntN(names)+rng.IntN(2)*names)) // some never exist
				if owner.UID != uid && !slices.ContainsFunc(o.Owners, func(r metav1.OwnerReference) bool { return r.UID == owner.UID }) {
					o.Owners = append(o.Owners, refTo2(owner, rng.IntN(2) == 0))
				}
			}
			if rng.IntN(5) == 0 {
				o.Deleting, o.Finalizers = true, []string{[]string{finalizerOrphan, finalizerForeground}[rng.IntN(2)]}
			}
			if prev, ok := live[uid]; ok && prev.Namespace != o.Namespace {
				o.Namespace = prev.Namespace // a UID's coordinates never change
			}
			g.Upsert(o)
			live[uid] = o
		}
		if err := checkGraph(g, live); err != nil {
			t.Fatalf("seed %d step %d: %v", seed, step, err)
		}
	}
}

func checkGraph(g *Graph, live map[types.UID]Object) error {
	for uid, o := range live {
		n := g.nodes[uid]
		if n == nil || !n.observed {
			return fmt.Errorf("%s is live but not observed", uid)
		}
		for _, r := range o.Owners {
			on := g.nodes[r.UID]
			if on == nil || on.dependents[uid] != n {
				return fmt.Errorf("%s names %s but is not among its dependents", uid, r.UID)
			}
		}
	}
	for uid, n := range g.nodes {
		if n.observed {
			if _, ok := live[uid]; !ok {
				return fmt.Errorf("%s observed but deleted", uid)
			}
		} else if len(n.dependents) == 0 {
			return fmt.Errorf("virtual %s without dependents", uid)
		}
		for duid, d := range n.dependents {
			if g.nodes[duid] != d || !d.observed {
				return fmt.Errorf("%s has a stale dependent %s", uid, duid)
			}
			if _, ok := refTo(d.obj.Owners, uid); !ok {
				return fmt.Errorf("%s lists %s, which does not name it", uid, duid)
			}
		}
	}
	return nil
}

// BenchmarkGraphUpsert adds pods owned by ReplicaSets (100 each) to a
// graph: the cost per object observed, and the graph's memory per object
// (heap-bytes/obj; the informers' slimmed metadata is on top).
func BenchmarkGraphUpsert(b *testing.B) {
	const perOwner = 100
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	g := NewGraph()
	b.ResetTimer()
	var rs Object
	for i := range b.N {
		if i%perOwner == 0 {
			rs = Object{Identity: Identity{APIVersion: "apps/v1", Kind: "ReplicaSet", Namespace: "default", Name: fmt.Sprint("rs-", i), UID: types.UID(fmt.Sprint("rs-", i))}}
			g.Upsert(rs)
		}
		g.Upsert(Object{Identity: Identity{APIVersion: "v1", Kind: "Pod", Namespace: "default", Name: fmt.Sprint("pod-", i), UID: types.UID(fmt.Sprint("pod-", i))},
			Owners: []metav1.OwnerReference{refTo2(rs, true)}})
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	if n, _ := g.Size(); n > 0 {
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(n), "heap-bytes/obj")
	}
}
