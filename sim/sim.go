package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// ErrRunning: Run was called on a Sim that runs or ran already.
var ErrRunning = errors.New("sim: Run may be called once")

// Sim is a running fleet of simulated nodes. New builds it; Run runs it
// until its context ends. Its methods are safe for concurrent use.
type Sim struct {
	cfg    Config
	client kubernetes.Interface
	log    *slog.Logger
	nodes  []*nodeState
	byName map[string]int // node name -> index; read-only after New
	ipam   *ipam
	usage  *usageReporter // nil unless ReportUsage

	podInformer, nodeInformer cache.SharedIndexInformer
	podQueue                  workqueue.TypedRateLimitingInterface[string]
	hbQueue                   workqueue.TypedDelayingInterface[hbItem]

	registered     chan struct{}
	registeredOnce sync.Once
	nRegistered    atomic.Int64
	ran            atomic.Bool
	stats          counters

	// mu guards rng, warned and removed. No other lock is taken while a
	// Sim's, a nodeState's or the ipam's mutex is held.
	mu      sync.Mutex
	rng     *rand.Rand
	warned  map[types.UID]bool // pods whose bad annotations were logged
	removed map[types.UID]bool // pods the simulator asked the API to delete
}

// nodeState is what the simulator knows of one of its nodes.
type nodeState struct {
	index int
	name  string

	// mu guards the fields below.
	mu             sync.Mutex
	node           *corev1.Node          // as last written by us (the informer's copy is preferred)
	lease          *coordinationv1.Lease // as last written
	registered     bool                  // registered and not deleted since
	everRegistered bool
	failures       int // registration attempts that failed in a row
}

// counters are the Stats, updated atomically.
type counters struct {
	leaseRenewals, leaseFailures, nodeStatusUpdates, nodeFailures atomic.Uint64
	podStatusUpdates, podDeletions, podConflicts, podFailures     atomic.Uint64
}

// Stats are counts of what a Sim did since it started.
type Stats struct {
	// NodesRegistered: nodes registered (created or adopted) at least once.
	NodesRegistered int
	// LeaseRenewals and LeaseFailures: Lease writes that succeeded, failed.
	LeaseRenewals, LeaseFailures uint64
	// NodeStatusUpdates and NodeFailures: node status writes that
	// succeeded; node writes (registration, status) that failed.
	NodeStatusUpdates, NodeFailures uint64
	// PodStatusUpdates, PodDeletions: pod writes that succeeded;
	// PodConflicts: status writes that met a newer pod and were redone;
	// PodFailures: pod writes that failed (and are retried).
	PodStatusUpdates, PodDeletions, PodConflicts, PodFailures uint64
	// PodIPsInUse: pod IPs held across the nodes.
	PodIPsInUse int
	// UsageReports and UsageFailures: usage reports (ReportUsage) written,
	// failed (and retried).
	UsageReports, UsageFailures uint64
}

// nodeIndexName indexes the pod informer by spec.nodeName.
const nodeIndexName = "node"

// New checks cfg and builds a Sim; it does no IO.
func New(cfg Config) (*Sim, error) {
	cfg = cfg.withDefaults()
	if cfg.Client == nil {
		return nil, fmt.Errorf("%w: Client is required", ErrBadConfig)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.ReportUsage && cfg.UsageClient == nil {
		return nil, fmt.Errorf("%w: ReportUsage needs a UsageClient (v1alpha1.NewForConfig of package api/metrics/v1alpha1)", ErrBadConfig)
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	s := &Sim{
		cfg:        cfg,
		client:     cfg.Client,
		log:        cfg.Logger.With("component", "sim"),
		byName:     make(map[string]int, cfg.Nodes),
		ipam:       newIPAM(),
		registered: make(chan struct{}),
		rng:        rand.New(rand.NewPCG(seed, seed>>1|1)),
		warned:     map[types.UID]bool{},
		removed:    map[types.UID]bool{},
	}
	for i := range cfg.Nodes {
		name := NodeName(cfg.NamePrefix, i)
		s.nodes = append(s.nodes, &nodeState{index: i, name: name})
		s.byName[name] = i
	}
	// Every pod bound to a node; the handlers keep those of our nodes.
	s.podInformer = coreinformers.NewFilteredPodInformer(cfg.Client, metav1.NamespaceAll, 0,
		cache.Indexers{nodeIndexName: func(obj any) ([]string, error) {
			if p, ok := obj.(*corev1.Pod); ok {
				return []string{p.Spec.NodeName}, nil
			}
			return nil, nil
		}},
		func(o *metav1.ListOptions) { o.FieldSelector = "spec.nodeName!=" })
	s.nodeInformer = coreinformers.NewNodeInformer(cfg.Client, 0, cache.Indexers{})
	for _, inf := range []cache.SharedIndexInformer{s.podInformer, s.nodeInformer} {
		if err := inf.SetTransform(dropManagedFields); err != nil {
			return nil, err
		}
	}
	if _, err := s.podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    s.podChanged,
		UpdateFunc: func(_, obj any) { s.podChanged(obj) },
		DeleteFunc: s.podDeleted,
	}); err != nil {
		return nil, err
	}
	if _, err := s.nodeInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.nodeChanged(nil, obj) },
		UpdateFunc: s.nodeChanged,
		DeleteFunc: s.nodeDeleted,
	}); err != nil {
		return nil, err
	}
	if cfg.ReportUsage {
		s.usage = newUsageReporter(s)
	}
	s.podQueue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](50*time.Millisecond, 30*time.Second),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "sim-pods"})
	s.hbQueue = workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[hbItem]{Name: "sim-nodes"})
	return s, nil
}

// Run starts the simulator with cfg and runs it until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	s, err := New(cfg)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}

// Run registers the nodes (adopting those that exist), keeps their Leases
// and status fresh and runs the pods bound to them, until ctx ends. Then it
// stops writing (the nodes go NotReady when their Leases expire), deletes
// the nodes if DeleteNodesOnExit, and returns nil. It fails only if the
// informers cannot start. Run may be called once.
func (s *Sim) Run(ctx context.Context) error {
	if !s.ran.CompareAndSwap(false, true) {
		return ErrRunning
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer s.podQueue.ShutDown()
	defer s.hbQueue.ShutDown()
	for _, inf := range []cache.SharedIndexInformer{s.podInformer, s.nodeInformer} {
		wg.Add(1)
		go func() { defer wg.Done(); inf.Run(ctx.Done()) }()
	}
	s.log.Info("starting simulated nodes", "nodes", s.cfg.Nodes, "prefix", s.cfg.NamePrefix)
	if !cache.WaitForCacheSync(ctx.Done(), s.podInformer.HasSynced, s.nodeInformer.HasSynced) {
		return nil // ctx ended first
	}
	s.claimPodIPs()

	for range s.cfg.Workers {
		wg.Add(1)
		go func() { defer wg.Done(); s.podWorker(ctx) }()
	}
	for range s.cfg.HeartbeatWorkers {
		wg.Add(1)
		go func() { defer wg.Done(); s.heartbeatWorker(ctx) }()
	}
	for i := range s.nodes {
		s.hbQueue.Add(hbItem{node: int32(i), kind: kindRegister})
	}
	if s.usage != nil {
		wg.Add(1)
		go func() { defer wg.Done(); s.usage.run(ctx) }()
	}
	<-ctx.Done()
	s.podQueue.ShutDown()
	s.hbQueue.ShutDown()
	wg.Wait()
	if s.cfg.DeleteNodesOnExit {
		s.deleteNodes(context.WithoutCancel(ctx))
	}
	s.log.Info("simulated nodes stopped", "nodes", s.cfg.Nodes)
	return nil
}

// Registered is closed once every node has been registered (created or
// adopted) and has its Lease.
func (s *Sim) Registered() <-chan struct{} { return s.registered }

// NodeNames are the simulated nodes' names, in index order.
func (s *Sim) NodeNames() []string {
	names := make([]string, len(s.nodes))
	for i, n := range s.nodes {
		names[i] = n.name
	}
	return names
}

// Stats are counts of what the Sim did so far.
func (s *Sim) Stats() Stats {
	st := Stats{
		NodesRegistered:   int(s.nRegistered.Load()),
		LeaseRenewals:     s.stats.leaseRenewals.Load(),
		LeaseFailures:     s.stats.leaseFailures.Load(),
		NodeStatusUpdates: s.stats.nodeStatusUpdates.Load(),
		NodeFailures:      s.stats.nodeFailures.Load(),
		PodStatusUpdates:  s.stats.podStatusUpdates.Load(),
		PodDeletions:      s.stats.podDeletions.Load(),
		PodConflicts:      s.stats.podConflicts.Load(),
		PodFailures:       s.stats.podFailures.Load(),
	}
	if s.usage != nil {
		st.UsageReports, st.UsageFailures = s.usage.reports.Load(), s.usage.failures.Load()
	}
	for _, n := range s.nodes {
		st.PodIPsInUse += s.ipam.inUse(n.name)
	}
	return st
}

// jitter is a random duration in [0, d).
func (s *Sim) jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Duration(s.rng.Int64N(int64(d)))
}

// dropManagedFields keeps the informers' caches small; an update without
// managedFields keeps the stored ones.
func dropManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

// ourNode is the index of the node a pod is bound to, if it is ours.
func (s *Sim) ourNode(obj any) (int, bool) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return 0, false
	}
	i, ok := s.byName[p.Spec.NodeName]
	return i, ok
}

func (s *Sim) podChanged(obj any) {
	if _, ok := s.ourNode(obj); ok {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			s.podQueue.Add(key)
		}
	}
}

func (s *Sim) podDeleted(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if p, ok := obj.(*corev1.Pod); ok {
		s.ipam.release(p.UID)
		s.mu.Lock()
		delete(s.warned, p.UID)
		delete(s.removed, p.UID)
		s.mu.Unlock()
	}
}

// nodeChanged: a node of ours appeared or got its pod CIDR: its pods may
// go on.
func (s *Sim) nodeChanged(old, obj any) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	if _, ours := s.byName[n.Name]; !ours {
		return
	}
	if o, ok := old.(*corev1.Node); ok && o.Spec.PodCIDR == n.Spec.PodCIDR && len(o.Spec.PodCIDRs) == len(n.Spec.PodCIDRs) {
		return
	}
	s.enqueuePodsOf(n.Name)
}

// nodeDeleted: someone deleted a node of ours: register it again, as a
// restarted kubelet would.
func (s *Sim) nodeDeleted(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	n, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	i, ours := s.byName[n.Name]
	if !ours {
		return
	}
	ns := s.nodes[i]
	ns.mu.Lock()
	was := ns.registered
	ns.registered, ns.node, ns.lease = false, nil, nil
	ns.mu.Unlock()
	if was {
		s.log.Info("simulated node was deleted; registering it again", "node", n.Name)
		s.hbQueue.AddAfter(hbItem{node: int32(i), kind: kindRegister}, time.Second)
	}
}

// enqueuePodsOf queues every pod bound to node.
func (s *Sim) enqueuePodsOf(node string) {
	objs, err := s.podInformer.GetIndexer().ByIndex(nodeIndexName, node)
	if err != nil {
		return
	}
	for _, obj := range objs {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			s.podQueue.Add(key)
		}
	}
}

// currentNode is node i as the informer has it, or as we last wrote it.
func (s *Sim) currentNode(i int) *corev1.Node {
	ns := s.nodes[i]
	if obj, ok, err := s.nodeInformer.GetIndexer().GetByKey(ns.name); err == nil && ok {
		return obj.(*corev1.Node)
	}
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return ns.node
}

func (ns *nodeState) isRegistered() bool {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return ns.registered
}
