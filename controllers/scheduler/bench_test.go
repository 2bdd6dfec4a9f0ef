package scheduler

import (
	"testing"
)

// BenchmarkSchedule5000Nodes measures the scheduling core alone (no API):
// decide, assume, update the snapshot, for pods onto 5,000 nodes. It
// reports pods/s.
func BenchmarkSchedule5000Nodes(b *testing.B) {
	for _, anti := range []bool{false, true} {
		name := "plain"
		if anti {
			name = "anti-affinity"
		}
		b.Run(name, func(b *testing.B) {
			r := RunCoreBenchmark(CoreBenchConfig{Nodes: 5000, Pods: b.N, AntiAffinity: anti, Seed: 1})
			b.ReportMetric(r.PodsPerSecond, "pods/s")
			b.ReportMetric(r.MeanEvaluated, "nodes/pod")
			if r.CPU > 0 {
				b.ReportMetric(r.PodsPerCPUSecond, "pods/cpu-s")
			}
		})
	}
}

// TestCoreBenchmarkSchedulesEveryPod: 200 nodes have room for every pod
// (110 pods and 4 CPUs each), so every pod is scheduled, and the anti-
// affinity groups end up on distinct nodes.
func TestCoreBenchmarkSchedulesEveryPod(t *testing.T) {
	for _, anti := range []bool{false, true} {
		r := RunCoreBenchmark(CoreBenchConfig{Nodes: 200, Pods: 800, AntiAffinity: anti, Seed: 7})
		if r.Scheduled != r.Pods {
			t.Errorf("anti-affinity %v: %v", anti, r)
		}
		t.Logf("anti-affinity %v: %v", anti, r)
	}
}
