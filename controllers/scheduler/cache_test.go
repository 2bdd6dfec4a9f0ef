package scheduler

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/controllers/scheduler/core"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func cacheNode(name string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourcePods: resource.MustParse("10")}}}
}

func cachePod(name, node, cpu string) *core.PodInfo {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Spec: corev1.PodSpec{NodeName: node,
		Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}}}}}
	return core.NewPodInfo(p, 0)
}

func requestedCPU(t *testing.T, s *core.Snapshot, node string) int64 {
	t.Helper()
	n := s.Node(node)
	if n == nil {
		t.Fatalf("node %s not in snapshot", node)
	}
	return n.Requested.MilliCPU
}

func TestCacheAssumeConfirmForget(t *testing.T) {
	c := newCache()
	snap := &core.Snapshot{}
	c.SetNode(cacheNode("a"))
	c.SetNode(cacheNode("b"))
	c.UpdateSnapshot(snap)
	if len(snap.Nodes()) != 2 {
		t.Fatalf("snapshot has %d nodes", len(snap.Nodes()))
	}
	before := snap.Node("a")

	// Assumed pods count at once.
	c.Assume(assumedPodInfo(cachePod("p1", "", "1"), "a"), "a")
	c.Assume(assumedPodInfo(cachePod("p2", "", "500m"), "a"), "a")
	c.UpdateSnapshot(snap)
	if got := requestedCPU(t, snap, "a"); got != 1500 {
		t.Fatalf("requested %dm after assuming, want 1500m", got)
	}
	if before.Requested.MilliCPU != 0 {
		t.Fatal("a NodeInfo handed to an earlier snapshot changed")
	}

	// The informer confirms p1; a late Forget of it is ignored.
	c.SetPod(cachePod("p1", "a", "1"))
	c.Forget("ns/p1")
	// p2's binding failed.
	c.Forget("ns/p2")
	c.UpdateSnapshot(snap)
	if got := requestedCPU(t, snap, "a"); got != 1000 {
		t.Fatalf("requested %dm after confirm+forget, want 1000m", got)
	}
	if !c.Has("ns/p1") || c.Has("ns/p2") {
		t.Fatal("Has disagrees")
	}

	// The node goes; its pod is still known, the node leaves the snapshot.
	c.RemoveNode("a")
	c.UpdateSnapshot(snap)
	if snap.Node("a") != nil || len(snap.Nodes()) != 1 {
		t.Fatal("removed node still in snapshot")
	}
	// It comes back with the pod still counted.
	c.SetNode(cacheNode("a"))
	c.UpdateSnapshot(snap)
	if got := requestedCPU(t, snap, "a"); got != 1000 {
		t.Fatalf("requested %dm on the returned node, want 1000m", got)
	}
	c.RemovePod("ns/p1")
	c.UpdateSnapshot(snap)
	if got := requestedCPU(t, snap, "a"); got != 0 {
		t.Fatalf("requested %dm after removal", got)
	}
	if nodes, pods, assumed := c.Counts(); nodes != 2 || pods != 0 || assumed != 0 {
		t.Fatalf("counts %d %d %d", nodes, pods, assumed)
	}
}

func TestResolvePriority(t *testing.T) {
	never := corev1.PreemptNever
	classes := []*schedulingv1.PriorityClass{
		{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 1000},
		{ObjectMeta: metav1.ObjectMeta{Name: "polite"}, Value: 500, PreemptionPolicy: &never},
		{ObjectMeta: metav1.ObjectMeta{Name: "default"}, Value: 10, GlobalDefault: true},
	}
	get := func(n string) *schedulingv1.PriorityClass {
		for _, c := range classes {
			if c.Name == n {
				return c
			}
		}
		return nil
	}
	list := func() []*schedulingv1.PriorityClass { return classes }
	five := int32(5)
	for _, tc := range []struct {
		name       string
		spec       corev1.PodSpec
		want       int32
		wantPolicy corev1.PreemptionPolicy
	}{
		{"spec.priority wins", corev1.PodSpec{Priority: &five, PriorityClassName: "high"}, 5, corev1.PreemptLowerPriority},
		{"class value", corev1.PodSpec{PriorityClassName: "high"}, 1000, corev1.PreemptLowerPriority},
		{"class policy", corev1.PodSpec{PriorityClassName: "polite"}, 500, corev1.PreemptNever},
		{"pod policy wins", corev1.PodSpec{PriorityClassName: "polite", PreemptionPolicy: ptr(corev1.PreemptLowerPriority)}, 500, corev1.PreemptLowerPriority},
		{"built-in class", corev1.PodSpec{PriorityClassName: "system-node-critical"}, 2000001000, corev1.PreemptLowerPriority},
		{"unknown class", corev1.PodSpec{PriorityClassName: "nope"}, 0, corev1.PreemptLowerPriority},
		{"global default", corev1.PodSpec{}, 10, corev1.PreemptLowerPriority},
	} {
		p := &corev1.Pod{Spec: tc.spec}
		got, policy := resolvePriority(p, get, list)
		if got != tc.want || policy != tc.wantPolicy {
			t.Errorf("%s: %d %s, want %d %s", tc.name, got, policy, tc.want, tc.wantPolicy)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestCacheSnapshotMatchesModel applies random node and pod changes to
// the cache, updating one long-lived snapshot incrementally at random
// points, and compares it each time with a snapshot built from scratch
// from a plain model of the same changes.
func TestCacheSnapshotMatchesModel(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	c := newCache()
	snap := &core.Snapshot{}
	nodes := map[string]bool{}         // model: nodes present
	pods := map[string]*core.PodInfo{} // model: pods placed (bound or assumed)
	nodeName := func() string { return fmt.Sprintf("n%d", rng.IntN(6)) }
	for step := range 3000 {
		switch op := rng.IntN(7); op {
		case 0:
			n := nodeName()
			c.SetNode(cacheNode(n))
			nodes[n] = true
		case 1:
			n := nodeName()
			c.RemoveNode(n)
			delete(nodes, n)
		case 2, 3:
			name, node := fmt.Sprintf("p%d", rng.IntN(20)), nodeName()
			pi := cachePod(name, node, fmt.Sprintf("%dm", 1+rng.IntN(500)))
			if op == 2 {
				c.SetPod(pi)
			} else {
				c.Assume(pi, node)
			}
			pods[pi.Key] = pi
		case 4:
			k := fmt.Sprintf("ns/p%d", rng.IntN(20))
			c.RemovePod(k)
			delete(pods, k)
		case 5:
			// Forget only undoes an assumption: model it by asking the cache.
			k := fmt.Sprintf("ns/p%d", rng.IntN(20))
			c.mu.Lock()
			assumed := c.pods[k] != nil && c.pods[k].assumed
			c.mu.Unlock()
			c.Forget(k)
			if assumed {
				delete(pods, k)
			}
		case 6:
			c.UpdateSnapshot(snap)
			var ns []*corev1.Node
			for n := range nodes {
				ns = append(ns, cacheNode(n))
			}
			var ps []*core.PodInfo
			for _, p := range pods {
				ps = append(ps, p)
			}
			want := core.NewSnapshot(ns, ps)
			if got, w := snapshotString(snap), snapshotString(want); got != w {
				t.Fatalf("step %d (seed %d): incremental snapshot\n%s\nwant\n%s", step, seed, got, w)
			}
		}
	}
}

func snapshotString(s *core.Snapshot) string {
	var b strings.Builder
	for _, n := range s.Nodes() {
		var keys []string
		for _, p := range n.Pods {
			keys = append(keys, p.Key)
		}
		sort.Strings(keys)
		fmt.Fprintf(&b, "%s cpu=%d pods=%v\n", n.Name, n.Requested.MilliCPU, keys)
	}
	return b.String()
}
