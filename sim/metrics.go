package sim

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	usagev1alpha1 "github.com/kelson-dev/kelson/api/metrics/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
)

// Usage reports (Config.ReportUsage): every UsageInterval each node
// writes one NodeUsage (metrics.kelson.dev/v1alpha1, named after the node
// and owned by it, so it goes with the node), as a node agent does; the
// API server serves metrics.k8s.io from it. What a node reports is
// usageReport, a pure function of the node, its pods (the pod informer's
// copies) and the time. The writes come from a delaying queue of node
// indexes and a small pool of workers of its own (at most
// maxUsageWorkers), the nodes' first reports spread at random over the
// interval.
//
// Example: on node sim-node-0, pod default/web (phase Running, container
// app running, requests cpu 100m, annotation sim.kelson.dev/cpu-usage:
// 200m) and pod default/db (container pg running, no requests, no
// annotations) make the report
//
//	usage: {cpu: 310m, memory: 320Mi}         # 200m+10m+100m, 32Mi+32Mi+256Mi
//	pods:
//	- {namespace: default, name: db,  containers: [{name: pg,  usage: {cpu: 10m,  memory: 32Mi}}]}
//	- {namespace: default, name: web, containers: [{name: app, usage: {cpu: 200m, memory: 32Mi}}]}

// UsageReporter writes a node's usage report, replacing the one it had.
// The client of package api/metrics/v1alpha1 is one.
type UsageReporter interface {
	Report(ctx context.Context, u *usagev1alpha1.NodeUsage) (*usagev1alpha1.NodeUsage, error)
}

// DefaultUsageInterval is Config.UsageInterval's default, metrics-server's
// resolution.
const DefaultUsageInterval = 15 * time.Second

// maxUsageInterval bounds UsageInterval: the API ignores reports older
// than 2 minutes, so a node reports at least twice in that time.
const maxUsageInterval = time.Minute

// What a node and a container use beyond what the pods' annotations say.
const (
	// NodeOverheadMilliCPU and NodeOverheadMemory (bytes) are what a node
	// uses besides its pods (system daemons, the kernel): 100m and 256Mi,
	// added to the pods' sum.
	NodeOverheadMilliCPU = 100
	NodeOverheadMemory   = 256 << 20
	// DefaultContainerMilliCPU and DefaultContainerMemory (bytes) are what
	// a container uses without an annotation or a request of the
	// resource: 10m and 32Mi.
	DefaultContainerMilliCPU = 10
	DefaultContainerMemory   = 32 << 20
)

func milliCPU(m int64) resource.Quantity { return *resource.NewMilliQuantity(m, resource.DecimalSI) }
func memBytes(b int64) resource.Quantity { return *resource.NewQuantity(b, resource.BinarySI) }

// maxUsageWorkers bounds the concurrent report writes (HeartbeatWorkers
// bounds them too). 5,000 nodes every 15 s are 333 writes a second.
const maxUsageWorkers = 16

// usageRetry is how soon a node that is not registered yet, or whose
// report failed, is tried again (at most the interval).
const usageRetry = time.Second

// usageReport is what node reports at now: each Running pod (of pods, the
// pods bound to node) with its running containers (and running sidecars)
// and their usage, at most usagev1alpha1.MaxPods of them (the node's usage
// counts them all), in namespace/name order; the node's usage is their
// sum plus the overhead. Annotations that do not parse are reported in
// errs by pod and ignored (the containers use their defaults).
func (c *Config) usageReport(node *corev1.Node, pods []*corev1.Pod, now time.Time) (u *usagev1alpha1.NodeUsage, errs map[types.UID]error) {
	u = &usagev1alpha1.NodeUsage{
		TypeMeta: metav1.TypeMeta{APIVersion: usagev1alpha1.SchemeGroupVersion.String(), Kind: "NodeUsage"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            node.Name,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}},
		},
		Timestamp: metav1.NewTime(now.Truncate(time.Second)),
		Window:    metav1.Duration{Duration: c.UsageInterval},
	}
	cpu, mem := milliCPU(NodeOverheadMilliCPU), memBytes(NodeOverheadMemory)
	pods = slices.Clone(pods)
	slices.SortFunc(pods, func(a, b *corev1.Pod) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	for _, p := range pods {
		if p.Spec.NodeName != node.Name || p.Status.Phase != corev1.PodRunning {
			continue
		}
		pu, err := podUsage(p)
		if err != nil {
			if errs == nil {
				errs = map[types.UID]error{}
			}
			errs[p.UID] = err
		}
		if len(pu.Containers) == 0 {
			continue // nothing runs (all in back-off, say)
		}
		for _, cu := range pu.Containers {
			cpu.Add(cu.Usage[corev1.ResourceCPU])
			mem.Add(cu.Usage[corev1.ResourceMemory])
		}
		if len(u.Pods) < usagev1alpha1.MaxPods {
			u.Pods = append(u.Pods, pu)
		}
	}
	u.Usage = corev1.ResourceList{corev1.ResourceCPU: cpu, corev1.ResourceMemory: mem}
	return u, errs
}

// podUsage is the usage of p's running containers (regular ones, then
// sidecars), by its annotations and requests.
func podUsage(p *corev1.Pod) (usagev1alpha1.PodUsage, error) {
	var errs []error
	spec := func(key string) containerQuantities {
		v, ok := p.Annotations[key]
		if !ok {
			return containerQuantities{}
		}
		q, err := parseContainerQuantities(v, p)
		if err != nil {
			errs = append(errs, fmt.Errorf("annotation %s: %w", key, err))
		}
		return q
	}
	cpuSpec, memSpec := spec(AnnotationCPUUsage), spec(AnnotationMemoryUsage)
	pu := usagev1alpha1.PodUsage{Namespace: p.Namespace, Name: p.Name}
	add := func(c *corev1.Container, statuses []corev1.ContainerStatus) {
		i := slices.IndexFunc(statuses, func(s corev1.ContainerStatus) bool { return s.Name == c.Name })
		if i < 0 || statuses[i].State.Running == nil {
			return
		}
		pu.Containers = append(pu.Containers, usagev1alpha1.ContainerUsage{Name: c.Name, Usage: corev1.ResourceList{
			corev1.ResourceCPU:    cpuSpec.of(c, corev1.ResourceCPU, milliCPU(DefaultContainerMilliCPU)),
			corev1.ResourceMemory: memSpec.of(c, corev1.ResourceMemory, memBytes(DefaultContainerMemory)),
		}})
	}
	for i := range p.Spec.Containers {
		add(&p.Spec.Containers[i], p.Status.ContainerStatuses)
	}
	for i := range p.Spec.InitContainers {
		if isSidecar(&p.Spec.InitContainers[i]) {
			add(&p.Spec.InitContainers[i], p.Status.InitContainerStatuses)
		}
	}
	return pu, errors.Join(errs...)
}

// containerQuantities is a parsed usage annotation.
type containerQuantities struct {
	all    *resource.Quantity           // the containers not named
	byName map[string]resource.Quantity // by container name
}

// of is container c's usage of res: as the annotation says, else half
// its request, else def.
func (q containerQuantities) of(c *corev1.Container, res corev1.ResourceName, def resource.Quantity) resource.Quantity {
	if v, ok := q.byName[c.Name]; ok {
		return v.DeepCopy()
	}
	if q.all != nil {
		return q.all.DeepCopy()
	}
	if r, ok := c.Resources.Requests[res]; ok && !r.IsZero() {
		if res == corev1.ResourceCPU {
			return milliCPU(r.MilliValue() / 2)
		}
		return *resource.NewQuantity(r.Value()/2, r.Format)
	}
	return def
}

// parseContainerQuantities parses a usage annotation: QUANTITY, or
// comma-separated NAME=QUANTITY items and at most one bare QUANTITY. On an
// error the items that parsed are kept.
func parseContainerQuantities(v string, p *corev1.Pod) (containerQuantities, error) {
	var q containerQuantities
	var errs []error
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		name, qs, named := strings.Cut(item, "=")
		if !named {
			qs, name = name, ""
		}
		qty, err := resource.ParseQuantity(strings.TrimSpace(qs))
		switch {
		case err != nil || qty.Sign() < 0:
			errs = append(errs, fmt.Errorf("%q is not a quantity (like 250m, 1 or 64Mi) or NAME=QUANTITY", item))
		case !named && q.all != nil:
			errs = append(errs, fmt.Errorf("%q: a second quantity for every container", item))
		case !named:
			q.all = &qty
		case !hasContainer(p, strings.TrimSpace(name)):
			errs = append(errs, fmt.Errorf("%q: the pod has no container %q", item, strings.TrimSpace(name)))
		default:
			if q.byName == nil {
				q.byName = map[string]resource.Quantity{}
			}
			q.byName[strings.TrimSpace(name)] = qty
		}
	}
	return q, errors.Join(errs...)
}

func hasContainer(p *corev1.Pod, name string) bool {
	for _, cs := range [][]corev1.Container{p.Spec.Containers, p.Spec.InitContainers} {
		if slices.ContainsFunc(cs, func(c corev1.Container) bool { return c.Name == name }) {
			return true
		}
	}
	return false
}

// usageReporter writes the nodes' usage reports: the IO around
// usageReport.
type usageReporter struct {
	s       *Sim
	client  UsageReporter
	queue   workqueue.TypedDelayingInterface[int32] // node indexes
	workers int

	reports, failures atomic.Uint64

	// mu guards warned: per node, the pods whose bad usage annotations
	// were logged, with the values logged (rebuilt at each report, so it
	// holds only the node's current pods).
	mu     sync.Mutex
	warned []map[types.UID]string
}

func newUsageReporter(s *Sim) *usageReporter {
	return &usageReporter{
		s:       s,
		client:  s.cfg.UsageClient,
		queue:   workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[int32]{Name: "sim-usage"}),
		workers: min(s.cfg.HeartbeatWorkers, maxUsageWorkers),
		warned:  make([]map[types.UID]string, len(s.nodes)),
	}
}

// run reports until ctx ends; the pod informer must have synced.
func (r *usageReporter) run(ctx context.Context) {
	var wg sync.WaitGroup
	for range r.workers {
		wg.Add(1)
		go func() { defer wg.Done(); r.worker(ctx) }()
	}
	for i := range r.s.nodes {
		r.queue.AddAfter(int32(i), r.s.jitter(r.s.cfg.UsageInterval))
	}
	<-ctx.Done()
	r.queue.ShutDown()
	wg.Wait()
}

func (r *usageReporter) worker(ctx context.Context) {
	interval := r.s.cfg.UsageInterval
	for {
		i, quit := r.queue.Get()
		if quit {
			return
		}
		next := interval
		if err := r.report(ctx, int(i)); err != nil {
			next = min(usageRetry, interval)
			if !errors.Is(err, errNotRegistered) {
				r.failures.Add(1)
				if ctx.Err() == nil {
					r.s.log.Debug("reporting a node's usage failed; retrying", "node", r.s.nodes[i].name, "err", err)
				}
			}
		} else {
			r.reports.Add(1)
		}
		r.queue.Done(i)
		if ctx.Err() == nil {
			r.queue.AddAfter(i, next)
		}
	}
}

// errNotRegistered: the node has no API object to report for yet.
var errNotRegistered = errors.New("node not registered")

// report writes node i's report.
func (r *usageReporter) report(ctx context.Context, i int) error {
	ns := r.s.nodes[i]
	node := r.s.currentNode(i)
	if !ns.isRegistered() || node == nil || node.UID == "" {
		return errNotRegistered
	}
	objs, err := r.s.podInformer.GetIndexer().ByIndex(nodeIndexName, ns.name)
	if err != nil {
		return fmt.Errorf("list pods of node %s: %w", ns.name, err)
	}
	pods := make([]*corev1.Pod, 0, len(objs))
	for _, obj := range objs {
		if p, ok := obj.(*corev1.Pod); ok {
			pods = append(pods, p)
		}
	}
	u, bad := r.s.cfg.usageReport(node, pods, time.Now())
	r.warn(i, pods, bad)
	if _, err := r.client.Report(ctx, u); err != nil {
		return fmt.Errorf("report usage of node %s: %w", ns.name, err)
	}
	return nil
}

// warn logs each pod's bad usage annotations once per value.
func (r *usageReporter) warn(i int, pods []*corev1.Pod, bad map[types.UID]error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.warned[i]
	if len(bad) == 0 && old == nil {
		return
	}
	now := map[types.UID]string{}
	for _, p := range pods {
		err, ok := bad[p.UID]
		if !ok {
			continue
		}
		v := p.Annotations[AnnotationCPUUsage] + "\x00" + p.Annotations[AnnotationMemoryUsage]
		if old[p.UID] != v {
			r.s.log.Warn("ignoring usage annotations that do not parse", "pod", p.Namespace+"/"+p.Name, "err", err)
		}
		now[p.UID] = v
	}
	if len(now) == 0 {
		now = nil
	}
	r.warned[i] = now
}
