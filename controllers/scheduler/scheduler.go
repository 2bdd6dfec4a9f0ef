package scheduler

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/controllers/scheduler/core"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	schedulinglisters "k8s.io/client-go/listers/scheduling/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

// DefaultSchedulerName is the spec.schedulerName this scheduler serves.
const DefaultSchedulerName = corev1.DefaultSchedulerName

// Config configures a Scheduler. Zero values mean the documented defaults.
type Config struct {
	// Core configures the decision (sampling, weights).
	Core core.Config
	// SchedulerName: pods naming another scheduler are ignored; default
	// "default-scheduler".
	SchedulerName string
	// BindWorkers write bindings concurrently; default 32.
	BindWorkers int
	// StatusWorkers write PodScheduled conditions and preemptions;
	// default 4.
	StatusWorkers int
	// InitialBackoff and MaxBackoff bound the retry delay of an
	// unschedulable pod (doubling per attempt); default 1 s and 10 s.
	InitialBackoff, MaxBackoff time.Duration
	// MaxUnschedulable: a pod unschedulable this long is retried even
	// without a cluster event that may help; default 60 s.
	MaxUnschedulable time.Duration
	// Seed seeds the tie-break among equally scored nodes; default 0
	// (decisions are reproducible given the same event order).
	Seed uint64
}

func (c *Config) setDefaults() {
	if c.SchedulerName == "" {
		c.SchedulerName = DefaultSchedulerName
	}
	if c.BindWorkers <= 0 {
		c.BindWorkers = 32
	}
	if c.StatusWorkers <= 0 {
		c.StatusWorkers = 4
	}
	if c.InitialBackoff <= 0 {
		c.InitialBackoff = time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 10 * time.Second
	}
	if c.MaxUnschedulable <= 0 {
		c.MaxUnschedulable = 60 * time.Second
	}
}

// Metrics counts what the scheduler did since it started.
type Metrics struct {
	// Attempts counts scheduling decisions; Scheduled bindings written;
	// Unschedulable decisions that found no node; BindErrors failed
	// bindings; Preemptions nominations with victims.
	Attempts, Scheduled, Unschedulable, BindErrors, Preemptions int64
}

// Scheduler assigns pending pods to nodes: informers feed the cache and
// the queue; one loop pops a pod, decides with core.Profile.Schedule on
// the cache's snapshot, assumes the pod on the chosen node and hands the
// binding to a pool of writers; a pod that fits nowhere gets
// FailedScheduling, PodScheduled=False and perhaps a preemption, and
// waits in the queue.
type Scheduler struct {
	cfg      Config
	client   kubernetes.Interface
	recorder record.EventRecorder
	log      *slog.Logger
	now      func() time.Time

	queue     *schedulingQueue
	cache     *cache
	nominator *nominator
	status    *statusWriter

	pods    corelisters.PodLister
	pvcs    corelisters.PersistentVolumeClaimLister
	pvs     corelisters.PersistentVolumeLister
	classes schedulinglisters.PriorityClassLister
	synced  []toolscache.InformerSynced

	// Owned by the scheduling loop.
	profile *core.Profile
	snap    *core.Snapshot
	next    int
	rng     *rand.Rand

	binds   chan bindTask
	metrics struct{ attempts, scheduled, unschedulable, bindErrors, preemptions atomic.Int64 }
}

// New builds the scheduler with the default Config (the manager's
// constructor).
func New(cctx *controllers.Context) *Scheduler { return NewWithConfig(cctx, Config{}) }

// NewWithConfig asks cctx's informer factory for pods, nodes, namespaces,
// persistent volumes and claims and priority classes, and registers its
// handlers. It does no IO.
func NewWithConfig(cctx *controllers.Context, cfg Config) *Scheduler {
	cfg.setDefaults()
	now := cctx.Now
	if now == nil {
		now = time.Now
	}
	s := &Scheduler{
		cfg: cfg, client: cctx.Client, recorder: cctx.RecorderFor(cfg.SchedulerName), log: cctx.Logger, now: now,
		queue: newSchedulingQueue(queueConfig{initialBackoff: cfg.InitialBackoff, maxBackoff: cfg.MaxBackoff,
			maxUnschedulable: cfg.MaxUnschedulable}, now),
		cache:     newCache(),
		nominator: newNominator(),
		profile:   core.NewProfile(cfg.Core),
		snap:      &core.Snapshot{},
		rng:       rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		binds:     make(chan bindTask, 4*cfg.BindWorkers),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	f := cctx.Informers
	podInf := f.Core().V1().Pods()
	nodeInf := f.Core().V1().Nodes()
	nsInf := f.Core().V1().Namespaces()
	pvInf := f.Core().V1().PersistentVolumes()
	pvcInf := f.Core().V1().PersistentVolumeClaims()
	pcInf := f.Scheduling().V1().PriorityClasses()
	s.pods, s.pvs, s.pvcs, s.classes = podInf.Lister(), pvInf.Lister(), pvcInf.Lister(), pcInf.Lister()
	s.snap.Volumes = listerVolumes{pvcs: s.pvcs, pvs: s.pvs}
	s.status = newStatusWriter(s)
	podInf.Informer().AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: s.onPodAdd, UpdateFunc: s.onPodUpdate, DeleteFunc: s.onPodDelete,
	})
	nodeInf.Informer().AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: s.onNodeAdd, UpdateFunc: s.onNodeUpdate, DeleteFunc: s.onNodeDelete,
	})
	nsInf.Informer().AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { s.onNamespace(o, false) },
		UpdateFunc: func(_, o any) { s.onNamespace(o, false) },
		DeleteFunc: func(o any) { s.onNamespace(o, true) },
	})
	moveAll := func(any) { s.queue.MoveAll(nil) }
	volumeHandler := toolscache.ResourceEventHandlerFuncs{AddFunc: moveAll, UpdateFunc: func(_, o any) { moveAll(o) }}
	pvInf.Informer().AddEventHandler(volumeHandler)
	pvcInf.Informer().AddEventHandler(volumeHandler)
	pcInf.Informer()
	s.synced = []toolscache.InformerSynced{podInf.Informer().HasSynced, nodeInf.Informer().HasSynced,
		nsInf.Informer().HasSynced, pvInf.Informer().HasSynced, pvcInf.Informer().HasSynced, pcInf.Informer().HasSynced}
	return s
}

// Metrics returns the counters.
func (s *Scheduler) Metrics() Metrics {
	m := &s.metrics
	return Metrics{Attempts: m.attempts.Load(), Scheduled: m.scheduled.Load(), Unschedulable: m.unschedulable.Load(),
		BindErrors: m.bindErrors.Load(), Preemptions: m.preemptions.Load()}
}

// Run waits for the caches, then schedules until ctx ends. The informers
// must have been started (cctx.Start).
func (s *Scheduler) Run(ctx context.Context) error {
	defer s.queue.Close()
	defer s.status.q.ShutDown()
	if !toolscache.WaitForNamedCacheSync("scheduler", ctx.Done(), s.synced...) {
		if ctx.Err() != nil {
			return nil
		}
		return controllers.ErrCacheSync
	}
	var wg sync.WaitGroup
	for range s.cfg.BindWorkers {
		wg.Go(func() {
			for t := range s.binds {
				s.bind(ctx, t)
			}
		})
	}
	wg.Go(func() { s.status.run(ctx, s.cfg.StatusWorkers) })
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				s.queue.Close()
				return
			case <-t.C:
				s.queue.Flush()
			}
		}
	})
	s.log.Info("scheduler started", "name", s.cfg.SchedulerName)
	for {
		p, ok := s.queue.Pop()
		if !ok {
			break
		}
		s.scheduleOne(ctx, p)
	}
	close(s.binds)
	wg.Wait()
	return nil
}

// scheduleOne decides for one pod and acts: assume and bind, or report
// and maybe preempt.
func (s *Scheduler) scheduleOne(ctx context.Context, p *queuedPod) {
	pi := p.info
	if s.cache.Has(pi.Key) {
		s.queue.Done(p)
		return
	}
	s.metrics.attempts.Add(1)
	if n := s.nominator.nodeOf(pi.Key); n != "" && pi.Pod.Status.NominatedNodeName != n {
		// Our nomination, not yet seen in the pod's status: the decision
		// must know it (try that node first; do not preempt again).
		pi = withNominatedNode(pi, n)
	}
	s.cache.UpdateSnapshot(s.snap)
	opt := core.Options{Start: s.next, Rand: s.rng.Uint64(), Nominated: s.nominator.snapshot()}
	d := s.profile.Schedule(pi, s.snap, opt)
	s.next = d.NextStart
	if d.Node != "" {
		assumed := assumedPodInfo(pi, d.Node)
		s.cache.Assume(assumed, d.Node)
		s.nominator.remove(pi.Key)
		select {
		case s.binds <- bindTask{p: p, info: assumed, node: d.Node}:
		case <-ctx.Done():
			s.cache.Forget(pi.Key)
		}
		return
	}
	s.metrics.unschedulable.Add(1)
	msg := d.Message()
	var pre core.Preemption
	if d.NumNodes > 0 {
		pre = s.profile.Preempt(pi, s.snap, d, p.policy, opt)
	}
	if pre.Node != "" {
		s.metrics.preemptions.Add(1)
		s.nominator.add(pi, pre.Node)
		s.status.preempt(pi.Pod, pre)
	} else if pre.Message != "" {
		msg += " " + pre.Message
	}
	s.log.Debug("unschedulable", "pod", pi.Key, "message", msg)
	s.recorder.Event(pi.Pod, corev1.EventTypeWarning, "FailedScheduling", msg)
	s.status.unschedulable(pi.Pod, msg, pre.Node)
	s.queue.Unschedulable(p)
}

// assumedPodInfo is pi placed on node: a shallow copy of the pod with
// spec.nodeName set, sharing pi's compiled fields.
func assumedPodInfo(pi *core.PodInfo, node string) *core.PodInfo {
	pod := *pi.Pod
	pod.Spec.NodeName = node
	c := *pi
	c.Pod = &pod
	return &c
}

// withNominatedNode is pi with status.nominatedNodeName set to node (a
// shallow copy).
func withNominatedNode(pi *core.PodInfo, node string) *core.PodInfo {
	pod := *pi.Pod
	pod.Status.NominatedNodeName = node
	c := *pi
	c.Pod = &pod
	return &c
}

// priority resolves a pod's priority from the PriorityClass informer.
func (s *Scheduler) priority(pod *corev1.Pod) (int32, corev1.PreemptionPolicy) {
	return resolvePriority(pod,
		func(name string) *schedulingv1.PriorityClass {
			pc, err := s.classes.Get(name)
			if err != nil {
				return nil
			}
			return pc
		},
		func() []*schedulingv1.PriorityClass {
			l, _ := s.classes.List(labels.Everything())
			return l
		})
}

// listerVolumes reads claims and volumes from the informers' caches.
type listerVolumes struct {
	pvcs corelisters.PersistentVolumeClaimLister
	pvs  corelisters.PersistentVolumeLister
}

func (l listerVolumes) PVC(namespace, name string) *corev1.PersistentVolumeClaim {
	c, err := l.pvcs.PersistentVolumeClaims(namespace).Get(name)
	if err != nil {
		return nil
	}
	return c
}

func (l listerVolumes) PV(name string) *corev1.PersistentVolume {
	v, err := l.pvs.Get(name)
	if err != nil {
		return nil
	}
	return v
}

// nominator remembers which pending pods preemption nominated to which
// node (ours, and status.nominatedNodeName seen by the informer), so
// lower-priority pods do not take the room made for them. The map handed
// to decisions is replaced, never changed in place.
type nominator struct {
	mu     sync.Mutex
	byNode map[string][]*core.PodInfo
	byPod  map[string]string
}

func newNominator() *nominator {
	return &nominator{byNode: map[string][]*core.PodInfo{}, byPod: map[string]string{}}
}

func (n *nominator) snapshot() map[string][]*core.PodInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.byNode
}

func (n *nominator) nodeOf(key string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.byPod[key]
}

func (n *nominator) add(pi *core.PodInfo, node string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.byPod[pi.Key] == node {
		return
	}
	n.removeLocked(pi.Key)
	m := make(map[string][]*core.PodInfo, len(n.byNode)+1)
	for k, v := range n.byNode {
		m[k] = v
	}
	m[node] = append(append([]*core.PodInfo(nil), m[node]...), pi)
	n.byNode, n.byPod[pi.Key] = m, node
}

func (n *nominator) remove(key string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.removeLocked(key)
}

func (n *nominator) removeLocked(key string) {
	node, ok := n.byPod[key]
	if !ok {
		return
	}
	delete(n.byPod, key)
	m := make(map[string][]*core.PodInfo, len(n.byNode))
	for k, v := range n.byNode {
		m[k] = v
	}
	var rest []*core.PodInfo
	for _, p := range m[node] {
		if p.Key != key {
			rest = append(rest, p)
		}
	}
	if len(rest) == 0 {
		delete(m, node)
	} else {
		m[node] = rest
	}
	n.byNode = m
}
