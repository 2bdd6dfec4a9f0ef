package bench

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kelson-dev/kelson/sim"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ClusterCommon is what the cluster workloads (scheduler, deploy) share:
// an API server whose controllers and scheduler are running, simulated
// nodes, a namespace. The zero value means the defaults per field.
type ClusterCommon struct {
	// Kubeconfig of the API server [--kubeconfig]; default $KUBECONFIG.
	Kubeconfig string `json:"kubeconfig"`
	// Namespace of the workload's objects, created if missing and deleted
	// at the end unless Keep [--namespace]; default per workload.
	Namespace string `json:"namespace"`
	// Keep leaves the namespace and its objects [--keep].
	Keep bool `json:"keep"`
	// Nodes is how many simulated nodes the run registers in this process
	// (package sim) before it measures [--nodes]; 0 with External.
	Nodes int `json:"nodes"`
	// NodePrefix names the simulated nodes [--node-prefix]; default
	// "bench-node".
	NodePrefix string `json:"node_prefix"`
	// External: the nodes exist already (a `kelson sim` or real agents);
	// the run registers none [--external-nodes].
	External bool `json:"external_nodes"`
	// Clients: goroutines creating objects [--clients]; default 32.
	Clients int `json:"clients"`
	// Progress, when set, is told of the run's progress.
	Progress Progress `json:"-"`
	// Logger for the simulator; default discards.
	Logger *slog.Logger `json:"-"`
}

func (c ClusterCommon) withDefaults(namespace string, nodes int) ClusterCommon {
	a := APICommon{Kubeconfig: c.Kubeconfig}.withDefaults()
	c.Kubeconfig = a.Kubeconfig
	if c.Namespace == "" {
		c.Namespace = namespace
	}
	if c.NodePrefix == "" {
		c.NodePrefix = "bench-node"
	}
	if c.Nodes == 0 && !c.External {
		c.Nodes = nodes
	}
	if c.Clients == 0 {
		c.Clients = 32
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// clusterClient is one client-go clientset without a client-side limit,
// protobuf both ways.
func clusterClient(c ClusterCommon) (*kubernetes.Clientset, error) {
	cfg, err := restConfig(APICommon{Kubeconfig: c.Kubeconfig, ContentType: contentProtobuf})
	if err != nil {
		return nil, err
	}
	cfg.UserAgent = "kelson-bench-cluster"
	return kubernetes.NewForConfig(cfg)
}

// startNodes registers c.Nodes simulated nodes and waits for them; stop
// ends the simulator (the nodes stay, as a stopped kubelet's do).
func startNodes(ctx context.Context, c ClusterCommon, cs kubernetes.Interface) (stop func(), err error) {
	if c.External || c.Nodes == 0 {
		return func() {}, nil
	}
	s, err := sim.New(sim.Config{Client: cs, Nodes: c.Nodes, NamePrefix: c.NodePrefix, DeleteNodesOnExit: !c.Keep, Logger: c.Logger})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadConfig, err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(sctx) }()
	select {
	case <-s.Registered():
	case err := <-done:
		cancel()
		return nil, fmt.Errorf("bench: simulated nodes: %w", err)
	case <-ctx.Done():
		cancel()
		<-done
		return nil, ctx.Err()
	}
	return func() { cancel(); <-done }, nil
}

// createAll runs n creates over clients goroutines, counting into done;
// the first error stops the rest.
func createAll(ctx context.Context, n, clients int, done *atomic.Int64, create func(ctx context.Context, i int) error) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := create(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	return first
}

// quantiles of durations: p50, p90, p99, max.
type Quantiles struct {
	P50 time.Duration `json:"p50_ns"`
	P90 time.Duration `json:"p90_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`
}

func quantiles(ds []time.Duration) Quantiles {
	if len(ds) == 0 {
		return Quantiles{}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	at := func(q float64) time.Duration { return ds[min(len(ds)-1, int(q*float64(len(ds))))] }
	return Quantiles{P50: at(0.5), P90: at(0.9), P99: at(0.99), Max: ds[len(ds)-1]}
}

func (q Quantiles) String() string {
	r := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	return fmt.Sprintf("p50 %v  p90 %v  p99 %v  max %v", r(q.P50), r(q.P90), r(q.P99), r(q.Max))
}

// smallPod is a pod of the cluster workloads: one container requesting
// 100m CPU and 128Mi, as the scheduler_perf templates.
func smallPodSpec(image string) corev1.PodSpec {
	return corev1.PodSpec{Containers: []corev1.Container{{
		Name: "app", Image: image,
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi"),
		}},
	}}}
}

// podTemplate is the template of the deploy workload's pods.
func podTemplate(labels map[string]string, image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: smallPodSpec(image)}
}
