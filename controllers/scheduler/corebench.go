package scheduler

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"time"

	"github.com/kelson-dev/kelson/controllers/scheduler/core"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// CoreBenchConfig configures RunCoreBenchmark. Zero values mean the
// defaults.
type CoreBenchConfig struct {
	// Nodes (default 5000) of 4 CPUs, 16 GiB and 110 pods, in 3 zones.
	Nodes int
	// Pods to schedule (default 10000), each requesting 100m and 128Mi.
	Pods int
	// AntiAffinity: every pod also has a required anti-affinity to its
	// own group (10 pods a group) by hostname — the expensive path.
	AntiAffinity bool
	// Seed for the tie-break; the run is deterministic given it.
	Seed uint64
	// Core configures the decision.
	Core core.Config
}

// CoreBenchResult is what RunCoreBenchmark measured.
type CoreBenchResult struct {
	Nodes, Pods, Scheduled int
	Elapsed                time.Duration
	PodsPerSecond          float64
	// CPU is the process's CPU time over the run (user+system; 0 where
	// unknown), and PodsPerCPUSecond Pods / CPU: the figure that does not
	// depend on how many other processes share the machine.
	CPU              time.Duration
	PodsPerCPUSecond float64
	// MeanEvaluated is the mean number of nodes filtered per pod.
	MeanEvaluated float64
}

func (r CoreBenchResult) String() string {
	return fmt.Sprintf("%d of %d pods scheduled onto %d nodes in %v: %.0f pods/s, %.0f pods per CPU-second (%.0f nodes evaluated per pod)",
		r.Scheduled, r.Pods, r.Nodes, r.Elapsed.Round(time.Millisecond), r.PodsPerSecond, r.PodsPerCPUSecond, r.MeanEvaluated)
}

// RunCoreBenchmark measures the scheduling core alone, as the scheduling
// loop runs it but without the API: for each pod, compile it, bring the
// snapshot up to date from the cache, decide, and assume the pod on the
// chosen node.
func RunCoreBenchmark(cfg CoreBenchConfig) CoreBenchResult {
	if cfg.Nodes <= 0 {
		cfg.Nodes = 5000
	}
	if cfg.Pods <= 0 {
		cfg.Pods = 10000
	}
	c := newCache()
	for _, n := range benchNodes(cfg.Nodes) {
		c.SetNode(n)
	}
	pods := benchPods(cfg.Pods, cfg.AntiAffinity)
	snap := &core.Snapshot{}
	c.UpdateSnapshot(snap)
	prof := core.NewProfile(cfg.Core)
	rng := rand.New(rand.NewPCG(cfg.Seed, 1))
	res := CoreBenchResult{Nodes: cfg.Nodes, Pods: cfg.Pods}
	next, evaluated := 0, 0
	cpu0 := processCPU()
	start := time.Now()
	for _, p := range pods {
		pi := core.NewPodInfo(p, 0)
		c.UpdateSnapshot(snap)
		d := prof.Schedule(pi, snap, core.Options{Start: next, Rand: rng.Uint64()})
		next = d.NextStart
		evaluated += len(d.Verdicts)
		if d.Node != "" {
			c.Assume(assumedPodInfo(pi, d.Node), d.Node)
			res.Scheduled++
		}
	}
	res.Elapsed = time.Since(start)
	res.PodsPerSecond = float64(cfg.Pods) / res.Elapsed.Seconds()
	if cpu0 > 0 {
		res.CPU = processCPU() - cpu0
		res.PodsPerCPUSecond = float64(cfg.Pods) / res.CPU.Seconds()
	}
	res.MeanEvaluated = float64(evaluated) / float64(cfg.Pods)
	return res
}

// processCPU is this process's user+system CPU time (0 if unknown).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchNodes(n int) []*corev1.Node {
	out := make([]*corev1.Node, n)
	alloc := corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16Gi"),
		corev1.ResourcePods: resource.MustParse("110"),
	}
	for i := range out {
		name := fmt.Sprintf("node-%05d", i)
		out[i] = &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
				"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": fmt.Sprintf("zone-%d", i%3)}},
			Status: corev1.NodeStatus{Allocatable: alloc, Capacity: alloc},
		}
	}
	return out
}

func benchPods(n int, antiAffinity bool) []*corev1.Pod {
	out := make([]*corev1.Pod, n)
	req := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}
	for i := range out {
		group := fmt.Sprintf("g%d", i/10)
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%05d", i), Namespace: "bench", UID: types.UID(fmt.Sprintf("uid-%d", i)),
				Labels: map[string]string{"app": "bench", "group": group}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "pause",
				Resources: corev1.ResourceRequirements{Requests: req}}}},
		}
		if antiAffinity {
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
					LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"group": group}},
					TopologyKey:   "kubernetes.io/hostname",
				}},
			}}
		}
		out[i] = p
	}
	return out
}
