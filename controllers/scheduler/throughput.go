package scheduler

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// NodeSpec describes a fake node for tests and benchmarks: a Node object
// with allocatable resources and a Ready condition, and nothing behind it.
type NodeSpec struct {
	Name string
	// CPU and Memory are quantities ("4", "16Gi"); Pods the pod capacity.
	CPU, Memory string
	Pods        int64
	Labels      map[string]string
	Taints      []corev1.Taint
}

// CreateNode creates the Node and sets its status (allocatable, capacity,
// Ready).
func CreateNode(ctx context.Context, client kubernetes.Interface, spec NodeSpec) error {
	cpu, err := resource.ParseQuantity(spec.CPU)
	if err != nil {
		return fmt.Errorf("scheduler: node %s cpu: %w", spec.Name, err)
	}
	mem, err := resource.ParseQuantity(spec.Memory)
	if err != nil {
		return fmt.Errorf("scheduler: node %s memory: %w", spec.Name, err)
	}
	labels := map[string]string{"kubernetes.io/hostname": spec.Name, "kubernetes.io/os": "linux"}
	for k, v := range spec.Labels {
		labels[k] = v
	}
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: spec.Name, Labels: labels},
		Spec:       corev1.NodeSpec{Taints: spec.Taints},
	}
	n, err = client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("scheduler: create node %s: %w", spec.Name, err)
	}
	res := corev1.ResourceList{corev1.ResourceCPU: cpu, corev1.ResourceMemory: mem,
		corev1.ResourcePods: *resource.NewQuantity(spec.Pods, resource.DecimalSI)}
	n.Status.Capacity, n.Status.Allocatable = res, res
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
		Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	if _, err := client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("scheduler: node %s status: %w", spec.Name, err)
	}
	return nil
}

// ThroughputConfig configures MeasureThroughput.
type ThroughputConfig struct {
	// Namespace of the pods, created if missing; default
	// "kelson-sched-bench".
	Namespace string
	// Pods to create; default 1000.
	Pods int
	// Creators create pods concurrently; default 32.
	Creators int
	// CPU and Memory each pod requests; default "10m" and "16Mi".
	CPU, Memory string
	// Timeout bounds the wait for every pod to be bound; default 10 min.
	Timeout time.Duration
	// StartScheduler, when set, is called once every pod exists: the
	// caller runs the scheduler itself and starts it then, so the
	// measurement (from the call until every pod is bound) is the
	// scheduler's alone, not bounded by the rate of creates. Without it
	// the pods are created while a running scheduler binds them.
	StartScheduler func()
}

// ThroughputResult is what MeasureThroughput measured.
type ThroughputResult struct {
	Pods int
	// Created: from the first create to the last create's answer.
	Created time.Duration
	// Bound: from the first create (or the StartScheduler call) until
	// every pod was seen bound.
	Bound time.Duration
	// PodsPerSecond is Pods / Bound: the scheduler's throughput through
	// the API (watch, decision, binding; without StartScheduler also the
	// creates, so at most Pods / Created).
	PodsPerSecond float64
	// Precreated: the pods existed before the scheduler started.
	Precreated bool
}

func (r ThroughputResult) String() string {
	how := "while creating"
	if r.Precreated {
		how = "created beforehand"
	}
	return fmt.Sprintf("%d pods bound in %v: %.0f pods/s (%s; created in %v, %.0f creates/s)",
		r.Pods, r.Bound.Round(time.Millisecond), r.PodsPerSecond, how, r.Created.Round(time.Millisecond),
		float64(r.Pods)/r.Created.Seconds())
}

// MeasureThroughput creates cfg.Pods pending pods through client and
// measures how long the scheduler (whichever serves "default-scheduler"
// on that API) takes until every one is bound, watching the namespace.
// The nodes must exist already (CreateNode, or kelson sim). The pods are
// left in place.
func MeasureThroughput(ctx context.Context, client kubernetes.Interface, cfg ThroughputConfig) (ThroughputResult, error) {
	if cfg.Namespace == "" {
		cfg.Namespace = "kelson-sched-bench"
	}
	if cfg.Pods <= 0 {
		cfg.Pods = 1000
	}
	if cfg.Creators <= 0 {
		cfg.Creators = 32
	}
	if cfg.CPU == "" {
		cfg.CPU = "10m"
	}
	if cfg.Memory == "" {
		cfg.Memory = "16Mi"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Minute
	}
	cpu, err := resource.ParseQuantity(cfg.CPU)
	if err != nil {
		return ThroughputResult{}, fmt.Errorf("scheduler: throughput cpu: %w", err)
	}
	mem, err := resource.ParseQuantity(cfg.Memory)
	if err != nil {
		return ThroughputResult{}, fmt.Errorf("scheduler: throughput memory: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	_, err = client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cfg.Namespace}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return ThroughputResult{}, fmt.Errorf("scheduler: throughput namespace: %w", err)
	}
	prefix := fmt.Sprintf("tp-%d-", time.Now().UnixNano()%1_000_000)
	ours := func(name string) bool { return len(name) > len(prefix) && name[:len(prefix)] == prefix }
	var res ThroughputResult
	var createErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	var next atomic.Int64
	create := func() {
		for range cfg.Creators {
			wg.Go(func() {
				for {
					i := next.Add(1) - 1
					if i >= int64(cfg.Pods) || ctx.Err() != nil {
						return
					}
					p := &corev1.Pod{
						ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s%d", prefix, i), Namespace: cfg.Namespace, Labels: map[string]string{"app": "sched-bench"}},
						Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10",
							Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: cpu, corev1.ResourceMemory: mem}}}}},
					}
					if _, err := client.CoreV1().Pods(cfg.Namespace).Create(ctx, p, metav1.CreateOptions{}); err != nil {
						errOnce.Do(func() { createErr = err; cancel() })
						return
					}
				}
			})
		}
	}
	createStart := time.Now()
	createdAt := make(chan time.Duration, 1)
	if cfg.StartScheduler != nil {
		create()
		wg.Wait()
		if createErr != nil {
			return res, fmt.Errorf("scheduler: throughput: create: %w", createErr)
		}
		createdAt <- time.Since(createStart)
	}
	bound := map[string]bool{}
	// watchFrom lists (counting the bound pods) and watches from there; a
	// watch the server ends (a slow watcher is dropped under load) is
	// resumed the same way.
	watchFrom := func() (watch.Interface, error) {
		list, err := client.CoreV1().Pods(cfg.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		for _, p := range list.Items {
			if ours(p.Name) && p.Spec.NodeName != "" {
				bound[p.Name] = true
			}
		}
		return client.CoreV1().Pods(cfg.Namespace).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	}
	w, err := watchFrom()
	if err != nil {
		return res, fmt.Errorf("scheduler: throughput watch: %w", err)
	}
	defer func() { w.Stop() }()
	start := time.Now()
	if cfg.StartScheduler != nil {
		res.Precreated = true
		cfg.StartScheduler()
	} else {
		create()
		go func() { wg.Wait(); createdAt <- time.Since(createStart) }()
	}
	for len(bound) < cfg.Pods {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok || ev.Type == watch.Error {
				w.Stop()
				if w, err = watchFrom(); err != nil {
					return res, fmt.Errorf("scheduler: throughput: watch again: %w", err)
				}
				continue
			}
			if ev.Type != watch.Added && ev.Type != watch.Modified {
				continue
			}
			if p, ok := ev.Object.(*corev1.Pod); ok && p.Spec.NodeName != "" && ours(p.Name) {
				bound[p.Name] = true
			}
		case <-ctx.Done():
			if createErr != nil {
				return res, fmt.Errorf("scheduler: throughput: create: %w", createErr)
			}
			return res, fmt.Errorf("scheduler: throughput: %d of %d pods bound: %w", len(bound), cfg.Pods, ctx.Err())
		}
	}
	res.Pods, res.Bound, res.Created = cfg.Pods, time.Since(start), <-createdAt
	res.PodsPerSecond = float64(res.Pods) / res.Bound.Seconds()
	return res, nil
}
