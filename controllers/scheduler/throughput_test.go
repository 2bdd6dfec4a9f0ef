package scheduler

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/testcluster"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestThroughputThroughAPI schedules pods through the real path (create,
// watch, decide, bind) against a real API server and reports pods/s; it
// asserts only that every pod is bound. Sizes: KELSON_SCHED_NODES
// (default 50) and KELSON_SCHED_PODS (default 300); KELSON_SCHED_BINDERS
// sets the binding workers.
func TestThroughputThroughAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	nodes, pods := envInt("KELSON_SCHED_NODES", 50), envInt("KELSON_SCHED_PODS", 300)
	c := testcluster.Start(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, nodes)
	sem := make(chan struct{}, 16)
	for i := range nodes {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs <- CreateNode(ctx, c.Client, NodeSpec{Name: fmt.Sprintf("node-%05d", i), CPU: "4", Memory: "16Gi", Pods: 110,
				Labels: map[string]string{"topology.kubernetes.io/zone": fmt.Sprintf("zone-%d", i%3)}})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// The pods first, then the scheduler: its own rate through the API
	// (its cache sync included), not the rate of creates.
	var s *Scheduler
	res, err := MeasureThroughput(ctx, c.Client, ThroughputConfig{Pods: pods, Timeout: 5 * time.Minute,
		StartScheduler: func() { s = startScheduler(t, c) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d nodes: %v; scheduler %+v", nodes, res, s.Metrics())
	// More pods while it runs: bounded by the creates.
	res, err = MeasureThroughput(ctx, c.Client, ThroughputConfig{Pods: pods / 2, Timeout: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d nodes: %v; scheduler %+v", nodes, res, s.Metrics())
}
