package core

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// randomCluster makes nodes with random sizes, zones, taints and cordons,
// and pods placed on them with random labels, priorities and terms.
func randomCluster(rng *rand.Rand) ([]*corev1.Node, []*PodInfo) {
	var nodes []*corev1.Node
	for i := range 1 + rng.IntN(12) {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("n%d", i), Labels: map[string]string{
			"kubernetes.io/hostname": fmt.Sprintf("n%d", i)}}}
		if rng.IntN(5) > 0 {
			n.Labels["zone"] = fmt.Sprintf("z%d", rng.IntN(3))
		}
		n.Status.Allocatable = corev1.ResourceList{
			corev1.ResourceCPU:    *resource.NewMilliQuantity(int64(500+rng.IntN(4000)), resource.DecimalSI),
			corev1.ResourceMemory: *resource.NewQuantity(int64(1+rng.IntN(8))<<30, resource.BinarySI),
			corev1.ResourcePods:   *resource.NewQuantity(int64(rng.IntN(6)), resource.DecimalSI),
		}
		if rng.IntN(4) == 0 {
			n.Spec.Taints = []corev1.Taint{{Key: "k", Value: fmt.Sprint(rng.IntN(3)), Effect: []corev1.TaintEffect{
				corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute, corev1.TaintEffectPreferNoSchedule}[rng.IntN(3)]}}
		}
		n.Spec.Unschedulable = rng.IntN(8) == 0
		nodes = append(nodes, n)
	}
	var pods []*PodInfo
	for i := range rng.IntN(25) {
		p := randomPod(rng, fmt.Sprintf("p%d", i))
		p.Spec.NodeName = nodes[rng.IntN(len(nodes))].Name
		pods = append(pods, NewPodInfo(p, int32(rng.IntN(3))))
	}
	return nodes, pods
}

func randomPod(rng *rand.Rand, name string) *corev1.Pod {
	app := fmt.Sprintf("a%d", rng.IntN(3))
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"app": app},
		CreationTimestamp: metav1.Unix(int64(rng.IntN(100)), 0)}}
	req := corev1.ResourceList{corev1.ResourceCPU: *resource.NewMilliQuantity(int64(rng.IntN(1500)), resource.DecimalSI)}
	c := corev1.Container{Name: "c", Resources: corev1.ResourceRequirements{Requests: req}}
	if rng.IntN(4) == 0 {
		c.Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: int32(80 + rng.IntN(2))}}
	}
	p.Spec.Containers = []corev1.Container{c}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": fmt.Sprintf("a%d", rng.IntN(3))}}
	key := []string{"zone", "kubernetes.io/hostname"}[rng.IntN(2)]
	term := corev1.PodAffinityTerm{LabelSelector: sel, TopologyKey: key}
	switch rng.IntN(6) {
	case 0:
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{term}}}
	case 1:
		p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{term}}}
	case 2:
		p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 10, PodAffinityTerm: term}}}}
	case 3:
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: int32(1 + rng.IntN(2)), TopologyKey: key,
			WhenUnsatisfiable: []corev1.UnsatisfiableConstraintAction{corev1.DoNotSchedule, corev1.ScheduleAnyway}[rng.IntN(2)], LabelSelector: sel}}
	case 4:
		p.Spec.NodeSelector = map[string]string{"zone": fmt.Sprintf("z%d", rng.IntN(3))}
	}
	if rng.IntN(3) == 0 {
		p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}}
	}
	return p
}

// TestScheduleProperties checks, on random clusters and pods: the chosen
// node passes every filter (as Explain sees it); a pod that fits nowhere
// fits nowhere in Explain either, and its message counts every node;
// the same inputs give the same decision; preemption's victims have lower
// priority and, once removed, let the pod fit on the nominated node.
func TestScheduleProperties(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for iter := range 2000 {
		nodes, placed := randomCluster(rng)
		snap := NewSnapshot(nodes, placed)
		pod := NewPodInfo(randomPod(rng, "new"), int32(rng.IntN(4)))
		opt := Options{Start: rng.IntN(20), Rand: rng.Uint64()}
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("iteration %d (seed %d): %s", iter, seed, fmt.Sprintf(format, args...))
		}

		d := NewProfile(Config{MinFeasibleNodesToFind: 3}).Schedule(pod, snap, opt).Clone()
		again := NewProfile(Config{MinFeasibleNodesToFind: 3}).Schedule(pod, snap, opt)
		if d.Node != again.Node || d.NextStart != again.NextStart {
			fail("not deterministic: %q then %q", d.Node, again.Node)
		}
		ex := NewProfile(Config{}).Schedule(pod, snap, Options{Explain: true})
		feasible := map[string]bool{}
		for _, i := range ex.Feasible {
			feasible[ex.Verdicts[i].Node.Name] = true
		}
		if d.Node != "" && !feasible[d.Node] {
			fail("chose %s, which Explain finds infeasible", d.Node)
		}
		if d.Node == "" {
			if len(feasible) > 0 {
				fail("found no node; Explain finds %v", feasible)
			}
			if d.PreFilter.OK() && len(d.Verdicts) != len(nodes) {
				fail("unschedulable after evaluating %d of %d nodes", len(d.Verdicts), len(nodes))
			}
			if d.Message() == "" {
				fail("empty message")
			}
			pre := NewProfile(Config{}).Preempt(pod, snap, d, corev1.PreemptLowerPriority, Options{})
			if pre.Node == "" {
				if pre.Message == "" {
					fail("no preemption and no message")
				}
				continue
			}
			var rest []*PodInfo
			victim := map[string]bool{}
			for _, v := range pre.Victims {
				if v.Priority >= pod.Priority {
					fail("victim %s has priority %d >= %d", v.Key, v.Priority, pod.Priority)
				}
				victim[v.Key] = true
			}
			for _, p := range placed {
				if !victim[p.Key] {
					rest = append(rest, p)
				}
			}
			after := NewProfile(Config{}).Schedule(pod, NewSnapshot(nodes, rest), Options{Explain: true})
			ok := false
			for _, i := range after.Feasible {
				ok = ok || after.Verdicts[i].Node.Name == pre.Node
			}
			if !ok {
				fail("after evicting %v the pod still does not fit on %s", victim, pre.Node)
			}
		}
	}
}
