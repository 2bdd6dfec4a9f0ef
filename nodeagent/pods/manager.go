package pods

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kelson-dev/kelson/nodeagent/podnet"
	"github.com/kelson-dev/kelson/nodeagent/runtime"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
)

// Manager runs the pods bound to one node. Build it with New, then Run.
type Manager struct {
	cfg      Config
	log      *slog.Logger
	recorder record.EventRecorder
	// broadcaster is ours when Config.Recorder was nil; Run shuts it down.
	broadcaster record.EventBroadcaster
	factory     informers.SharedInformerFactory
	informer    cache.SharedIndexInformer
	queue       workqueue.TypedRateLimitingInterface[types.UID]
	prober      *prober
	stats       counters

	// mu guards states; a podState itself is touched only by the worker
	// syncing its UID (the queue never hands one UID to two workers).
	mu     sync.Mutex
	states map[types.UID]*podState
}

// podState is the worker's memory of one pod: what the API and the
// runtime do not hold. Lost on an agent restart, and rebuilt: the sandbox
// is set up again (same IP), running instances are adopted.
type podState struct {
	// pod is the last pod seen, for cleaning up after it is gone.
	pod *corev1.Pod
	// startTime when first seen (until the status holds one).
	startTime time.Time

	sandboxReady bool
	attachment   podnet.Attachment
	podIP        netip.Addr
	mounts       map[string][]runtime.Mount
	files        []runtime.Mount
	volumesAt    time.Time
	tornDown     bool

	streaks  map[string]int
	failures map[string]startFailure
	// backoffEvents: the attempt a BackOff event was recorded for, by
	// container name.
	backoffEvents map[string]int

	// written is the pod as the API returned it after our last status
	// write; it stands for the pod while the informer has not caught up.
	written *corev1.Pod
	// deleted: the API delete was sent.
	deleted bool
	// statusWrites counts this pod's status writes (read by StatusWrites
	// while the worker writes).
	statusWrites atomic.Int64
}

// Stats are the Manager's counters since New.
type Stats struct {
	Syncs, StatusWrites, StatusConflicts, Starts, Stops, Removes, Deletes, Orphans int64
}

type counters struct {
	syncs, statusWrites, statusConflicts, starts, stops, removes, deletes, orphans atomic.Int64
}

// Stats returns the counters.
func (m *Manager) Stats() Stats {
	c := &m.stats
	return Stats{Syncs: c.syncs.Load(), StatusWrites: c.statusWrites.Load(), StatusConflicts: c.statusConflicts.Load(),
		Starts: c.starts.Load(), Stops: c.stops.Load(), Removes: c.removes.Load(), Deletes: c.deletes.Load(), Orphans: c.orphans.Load()}
}

// StatusWrites is how many status writes the Manager made for the pod
// (0 for a pod it does not know).
func (m *Manager) StatusWrites(uid types.UID) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if st := m.states[uid]; st != nil {
		return int(st.statusWrites.Load())
	}
	return 0
}

const uidIndex = "uid"

// New builds a Manager. Its pod informer is its own, built from a
// factory whose list and watch carry the field selector
// spec.nodeName=NodeName.
func New(cfg Config) (*Manager, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.ensureDefaults()
	m := &Manager{cfg: cfg, log: cfg.Logger.With("node", cfg.NodeName), recorder: cfg.Recorder, states: map[types.UID]*podState{}}
	if m.recorder == nil {
		m.broadcaster = record.NewBroadcaster()
		m.recorder = m.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: cfg.NodeName})
	}
	sel := fields.OneTermEqualSelector("spec.nodeName", cfg.NodeName).String()
	m.factory = informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = sel }))
	m.informer = m.factory.Core().V1().Pods().Informer()
	if err := m.informer.AddIndexers(cache.Indexers{uidIndex: func(obj any) ([]string, error) {
		if p, ok := obj.(*corev1.Pod); ok {
			return []string{string(p.UID)}, nil
		}
		return nil, nil
	}}); err != nil {
		return nil, fmt.Errorf("pods: index pods by UID: %w", err)
	}
	m.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[types.UID](200*time.Millisecond, 30*time.Second),
		workqueue.TypedRateLimitingQueueConfig[types.UID]{Name: "pods"})
	enqueue := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if p, ok := obj.(*corev1.Pod); ok {
			m.queue.Add(p.UID)
		}
	}
	if _, err := m.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, n any) { enqueue(n) },
		DeleteFunc: enqueue,
	}); err != nil {
		return nil, fmt.Errorf("pods: watch pods: %w", err)
	}
	m.prober = newProber(cfg.Runtime, m.log, func(uid types.UID) { m.queue.Add(uid) }, m.recordProbeFailure)
	return m, nil
}

// Run syncs pods until ctx ends: the informer's changes, the runtime's
// exits and the prober's verdicts queue a pod; every Resync all pods are
// queued and orphans (instances and namespaces of pods the API no longer
// has) are looked for. Orphans are looked for only once the informer
// has synced, so a restarted agent adopts what still belongs to pods.
func (m *Manager) Run(ctx context.Context) error {
	if m.broadcaster != nil {
		m.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: m.cfg.Client.CoreV1().Events("")})
		defer m.broadcaster.Shutdown()
	}
	m.factory.Start(ctx.Done())
	defer m.factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), m.informer.HasSynced) {
		return fmt.Errorf("pods: the pod informer did not sync: %w", ctx.Err())
	}
	var wg sync.WaitGroup
	for range m.cfg.Workers {
		wg.Go(func() {
			for m.processNext(ctx) {
			}
		})
	}
	wg.Go(func() {
		exits := m.cfg.Runtime.Exits()
		for {
			select {
			case <-ctx.Done():
				return
			case e := <-exits:
				if e.PodUID != "" {
					m.queue.Add(e.PodUID)
				}
			}
		}
	})
	m.resync(ctx)
	t := time.NewTicker(m.cfg.Resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			m.queue.ShutDown()
			m.prober.stopAll()
			wg.Wait()
			return nil
		case <-t.C:
			m.resync(ctx)
		}
	}
}

// resync queues every pod of the node and every UID the runtime or the
// network still holds.
func (m *Manager) resync(ctx context.Context) {
	seen := map[types.UID]bool{}
	add := func(uid types.UID) {
		if uid != "" && !seen[uid] {
			seen[uid] = true
			m.queue.Add(uid)
		}
	}
	for _, obj := range m.informer.GetIndexer().List() {
		if p, ok := obj.(*corev1.Pod); ok {
			add(p.UID)
		}
	}
	if list, err := m.cfg.Runtime.ListContainers(ctx); err != nil {
		m.log.Warn("listing containers for orphans failed; retrying at the next resync", "err", err)
	} else {
		for _, c := range list {
			add(c.PodUID)
		}
	}
	if uids, err := m.cfg.Network.Attached(ctx); err != nil {
		m.log.Warn("listing pod networks for orphans failed; retrying at the next resync", "err", err)
	} else {
		for _, uid := range uids {
			add(uid)
		}
	}
	m.mu.Lock()
	for uid := range m.states {
		add(uid)
	}
	m.mu.Unlock()
}

func (m *Manager) processNext(ctx context.Context) bool {
	uid, quit := m.queue.Get()
	if quit {
		return false
	}
	defer m.queue.Done(uid)
	wake, err := m.syncPod(ctx, uid)
	switch {
	case err != nil && ctx.Err() == nil:
		m.log.Warn("pod sync failed; retrying", "uid", uid, "err", err)
		m.queue.AddRateLimited(uid)
	case err == nil:
		m.queue.Forget(uid)
		if !wake.IsZero() {
			m.queue.AddAfter(uid, max(wake.Sub(m.cfg.Now()), 10*time.Millisecond))
		}
	}
	return true
}

// podByUID is the informer's pod with uid, or nil.
func (m *Manager) podByUID(uid types.UID) *corev1.Pod {
	objs, err := m.informer.GetIndexer().ByIndex(uidIndex, string(uid))
	if err != nil || len(objs) == 0 {
		return nil
	}
	p, _ := objs[0].(*corev1.Pod)
	return p
}

func (m *Manager) state(uid types.UID) *podState {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.states[uid]
	if st == nil {
		st = &podState{streaks: map[string]int{}, failures: map[string]startFailure{}, backoffEvents: map[string]int{}}
		m.states[uid] = st
	}
	return st
}

func (m *Manager) forget(uid types.UID) {
	m.mu.Lock()
	delete(m.states, uid)
	m.mu.Unlock()
}

// containerRef is the Event object for container c of pod.
func containerRef(pod *corev1.Pod, name string, init bool) *corev1.ObjectReference {
	ref := podRef(pod)
	field := "spec.containers"
	if init {
		field = "spec.initContainers"
	}
	ref.FieldPath = fmt.Sprintf("%s{%s}", field, name)
	return ref
}

func podRef(pod *corev1.Pod) *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name,
		UID: pod.UID, ResourceVersion: pod.ResourceVersion}
}
