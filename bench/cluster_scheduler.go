package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// SchedulerConfig is `kelson bench scheduler`: Pods pods created through
// the API onto Nodes simulated nodes, measured from the first create to
// the last binding seen — the whole real path (API writes, the
// scheduler's informers, its decisions, pods/binding, the watch back).
type SchedulerConfig struct {
	ClusterCommon
	// Pods to schedule [--pods]; default 10,000.
	Pods int `json:"pods"`
	// Stall fails the run when no pod was bound for this long
	// [--stall]; default 60s (is a scheduler running?).
	Stall time.Duration `json:"stall"`
	// StartScheduler, when set, is called once every pod exists, and
	// Schedule is measured from that call: the scheduler's own throughput
	// on a backlog, without the creates' pace (the cluster must run no
	// scheduler of its own). It returns how to stop the scheduler.
	// Default nil: the cluster's scheduler places pods as they are
	// created.
	StartScheduler func(ctx context.Context) (stop func(), err error) `json:"-"`
	// Precreated records that StartScheduler was used.
	Precreated bool `json:"precreated"`
}

// SchedulerResult is one run's figures.
type SchedulerResult struct {
	Config SchedulerConfig `json:"config"`
	// Nodes seen Ready by the run before it started.
	Nodes int `json:"nodes"`
	// Create: from the first create to the last one answered.
	Create time.Duration `json:"create_ns"`
	// Schedule: from the first create to the last binding seen.
	Schedule time.Duration `json:"schedule_ns"`
	// PodsPerSecond = Pods / Schedule.
	PodsPerSecond float64 `json:"pods_per_second"`
	// Latency of each pod from its create's answer to its binding seen.
	Latency Quantiles `json:"latency"`
	// NodesUsed and MaxPerNode describe the spread.
	NodesUsed  int `json:"nodes_used"`
	MaxPerNode int `json:"max_per_node"`
}

const schedBenchLabel = "kelson.dev/bench"

// RunScheduler runs the scheduler workload.
func RunScheduler(ctx context.Context, cfg SchedulerConfig) (*SchedulerResult, error) {
	cfg.ClusterCommon = cfg.ClusterCommon.withDefaults("kelson-bench-scheduler", 5000)
	if cfg.Pods == 0 {
		cfg.Pods = 10000
	}
	if cfg.Stall == 0 {
		cfg.Stall = time.Minute
	}
	if cfg.Pods < 0 || cfg.Nodes < 0 {
		return nil, fmt.Errorf("%w: --pods and --nodes must not be negative", ErrBadConfig)
	}
	cs, err := clusterClient(cfg.ClusterCommon)
	if err != nil {
		return nil, err
	}
	if err := ensureNamespace(ctx, cs, cfg.Namespace); err != nil {
		return nil, err
	}
	defer cleanupCluster(cfg.ClusterCommon, cs, "scheduler")
	stopNodes, err := startNodes(ctx, cfg.ClusterCommon, cs)
	if err != nil {
		return nil, err
	}
	defer stopNodes()
	nodes, err := readyNodes(ctx, cs)
	if err != nil {
		return nil, err
	}
	if nodes == 0 {
		return nil, fmt.Errorf("bench: no Ready node: give --nodes, or start `kelson sim` with --external-nodes")
	}

	sel := schedBenchLabel + "=scheduler"
	list, err := cs.CoreV1().Pods(cfg.Namespace).List(ctx, metav1.ListOptions{Limit: 1, LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("bench: list pods: %w", err)
	}
	w, err := cs.CoreV1().Pods(cfg.Namespace).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion, LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("bench: watch pods: %w", err)
	}
	defer func() { w.Stop() }()

	var (
		mu       sync.Mutex
		answered = make(map[string]time.Time, cfg.Pods) // create answered
		boundAt  = make(map[string]time.Time, cfg.Pods)
		perNode  = map[string]int{}
		last     time.Time // the last binding seen
	)
	var created, bound atomic.Int64
	stopCreate := track(cfg.Progress, "create", int64(cfg.Pods), &created)
	start := time.Now() // of the measured scheduling: the first create, or StartScheduler
	createStart := start
	createDone := make(chan error, 1)
	var createEnd time.Time
	go func() {
		err := createAll(ctx, cfg.Pods, cfg.Clients, &created, func(ctx context.Context, i int) error {
			name := fmt.Sprintf("sched-%d", i)
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{schedBenchLabel: "scheduler"}},
				Spec: smallPodSpec("registry.k8s.io/pause:3.10")}
			if _, err := cs.CoreV1().Pods(cfg.Namespace).Create(ctx, p, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("bench: create pod %s: %w", name, err)
			}
			mu.Lock()
			answered[name] = time.Now()
			mu.Unlock()
			return nil
		})
		createEnd = time.Now()
		createDone <- err
	}()

	// sawBound records p's binding seen at now, once; reports whether it
	// was new.
	sawBound := func(p *corev1.Pod, now time.Time) bool {
		if p.Spec.NodeName == "" {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		if _, seen := boundAt[p.Name]; seen {
			return false
		}
		boundAt[p.Name] = now
		perNode[p.Spec.NodeName]++
		bound.Add(1)
		last = now
		return true
	}
	if cfg.StartScheduler != nil {
		cfg.Precreated = true
		if err := <-createDone; err != nil {
			return nil, err
		}
		createDone = nil
		stopCreate()
		start = time.Now()
		stopScheduler, err := cfg.StartScheduler(ctx)
		if err != nil {
			return nil, fmt.Errorf("bench: start the scheduler: %w", err)
		}
		defer stopScheduler()
	}
	stopBind := track(cfg.Progress, "schedule", int64(cfg.Pods), &bound)
	stall := time.NewTimer(cfg.Stall)
	defer stall.Stop()
	for bound.Load() < int64(cfg.Pods) {
		select {
		case err := <-createDone:
			stopCreate()
			if err != nil {
				return nil, err
			}
			createDone = nil
		case ev, ok := <-w.ResultChan():
			if !ok {
				// The server ended the watch (a watcher that falls
				// behind is cut off, as kube-apiserver does): list what
				// is bound now, then watch again from there.
				if w, err = rewatch(ctx, cs, cfg.Namespace, sel, sawBound); err != nil {
					return nil, err
				}
				continue
			}
			if ev.Type == watch.Error {
				return nil, fmt.Errorf("bench: pod watch: %v", apierrors.FromObject(ev.Object))
			}
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			if sawBound(p, time.Now()) {
				stall.Reset(cfg.Stall)
			}
		case <-stall.C:
			return nil, fmt.Errorf("bench: no pod bound for %v (%d of %d bound): is a scheduler running?", cfg.Stall, bound.Load(), cfg.Pods)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	stopBind()
	if createDone != nil {
		if err := <-createDone; err != nil {
			return nil, err
		}
		stopCreate()
	}
	if cfg.Progress != nil {
		cfg.Progress.Finish()
	}
	res := &SchedulerResult{Config: cfg, Nodes: nodes, Create: createEnd.Sub(createStart), Schedule: last.Sub(start), NodesUsed: len(perNode)}
	res.PodsPerSecond = float64(cfg.Pods) / res.Schedule.Seconds()
	var lat []time.Duration
	mu.Lock()
	for name, b := range boundAt {
		if a, ok := answered[name]; ok {
			lat = append(lat, max(0, b.Sub(a)))
		}
	}
	mu.Unlock()
	res.Latency = quantiles(lat)
	for _, n := range perNode {
		res.MaxPerNode = max(res.MaxPerNode, n)
	}
	return res, nil
}

// rewatch lists the pods of sel, tells saw of each, and watches again from
// the list's revision.
func rewatch(ctx context.Context, cs kubernetes.Interface, ns, sel string, saw func(*corev1.Pod, time.Time) bool) (watch.Interface, error) {
	list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("bench: list pods after the watch ended: %w", err)
	}
	now := time.Now()
	for i := range list.Items {
		saw(&list.Items[i], now)
	}
	w, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion, LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("bench: watch pods again: %w", err)
	}
	return w, nil
}

// readyNodes counts the nodes whose Ready condition is True.
func readyNodes(ctx context.Context, cs kubernetes.Interface) (int, error) {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, fmt.Errorf("bench: list nodes: %w", err)
	}
	n := 0
	for _, node := range nodes.Items {
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				n++
			}
		}
	}
	return n, nil
}

// cleanupCluster deletes what a cluster workload made (by its label) and
// the namespace, unless keep; a fresh context, as it also runs after an
// interrupt.
func cleanupCluster(c ClusterCommon, cs *kubernetes.Clientset, workload string) {
	if c.Keep {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	zero := int64(0)
	sel := metav1.ListOptions{LabelSelector: schedBenchLabel + "=" + workload}
	_ = cs.AppsV1().Deployments(c.Namespace).DeleteCollection(ctx, metav1.DeleteOptions{}, sel)
	_ = cs.CoreV1().Pods(c.Namespace).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, sel)
	_ = cs.CoreV1().Namespaces().Delete(ctx, c.Namespace, metav1.DeleteOptions{})
}
