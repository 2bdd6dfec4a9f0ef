package sim_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/testcluster"
	"github.com/kelson-dev/kelson/sim"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// envInt reads a benchmark size from the environment.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkScale registers KELSON_SIM_NODES nodes (default 5,000) against
// testcluster, creates KELSON_SIM_PODS pods bound to them (default
// 10,000), waits until every one is Running, then watches the Leases for
// KELSON_SIM_STEADY_SECONDS (default 20). It reports how long each phase
// took; it asserts nothing about time. KELSON_SIM_WORKERS and
// KELSON_SIM_HEARTBEAT_WORKERS override the Config's. Run it alone:
//
//	go test -run '^$' -bench BenchmarkScale -benchtime 1x ./sim/
func BenchmarkScale(b *testing.B) {
	nodes, pods := envInt("KELSON_SIM_NODES", 5000), envInt("KELSON_SIM_PODS", 10000)
	steady := time.Duration(envInt("KELSON_SIM_STEADY_SECONDS", 20)) * time.Second
	for range b.N {
		c := testcluster.Start(b)
		ctx := context.Background()
		start := time.Now()
		s, err := sim.New(sim.Config{Client: c.Client, Nodes: nodes, NamePrefix: "bench", AssignPodCIDRs: true,
			ClusterCIDR: netip.MustParsePrefix("10.0.0.0/8"), Logger: testcluster.Logger(),
			HeartbeatWorkers: envInt("KELSON_SIM_HEARTBEAT_WORKERS", 0), Workers: envInt("KELSON_SIM_WORKERS", 0)})
		if err != nil {
			b.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- s.Run(runCtx) }()
		<-s.Registered()
		registered := time.Since(start)

		// Create the pods, 32 at a time, round-robin over the nodes.
		start = time.Now()
		var next atomic.Int64
		var wg sync.WaitGroup
		var createErrs atomic.Int64
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= pods {
						return
					}
					p := &corev1.Pod{
						ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%d", i), Namespace: "default"},
						Spec: corev1.PodSpec{NodeName: sim.NodeName("bench", i%nodes),
							Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
					}
					if _, err := c.Client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
						createErrs.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		created := time.Since(start)
		if n := createErrs.Load(); n > 0 {
			b.Fatalf("%d pod creations failed", n)
		}
		for s.Stats().PodStatusUpdates < uint64(pods) {
			time.Sleep(50 * time.Millisecond)
		}
		running := time.Since(start)
		list, err := c.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		notRunning := 0
		for _, p := range list.Items {
			if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
				notRunning++
			}
		}
		before := s.Stats()
		time.Sleep(steady)
		after := s.Stats()
		cancel()
		<-done
		renewals := float64(after.LeaseRenewals-before.LeaseRenewals) / steady.Seconds()
		b.ReportMetric(registered.Seconds(), "s-register")
		b.ReportMetric(created.Seconds(), "s-create-pods")
		b.ReportMetric(running.Seconds(), "s-pods-running")
		b.ReportMetric(renewals, "renewals/s")
		b.Logf("%d nodes registered in %v; %d pods created in %v, all Running after %v (%d not Running in the list); "+
			"steady state: %.0f Lease renewals/s (%d failed), %d node status writes, %d pod conflicts, stats %+v",
			nodes, registered.Round(time.Millisecond), pods, created.Round(time.Millisecond), running.Round(time.Millisecond), notRunning,
			renewals, after.LeaseFailures-before.LeaseFailures, after.NodeStatusUpdates, after.PodConflicts, after)
	}
}
