package nodelifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

// Config configures the node lifecycle controller. Zero values mean the
// defaults, which are kube-controller-manager's.
type Config struct {
	// MonitorPeriod is how often every node's health is checked
	// [--node-monitor-period]; default 5 s.
	MonitorPeriod time.Duration
	// GracePeriod is how long a node may go without a heartbeat (Lease
	// renewal or status post) before it is Unknown
	// [--node-monitor-grace-period]; default 40 s.
	GracePeriod time.Duration
	// StartupGracePeriod is how long a new node may go without ever
	// posting [--node-startup-grace-period]; default 60 s.
	StartupGracePeriod time.Duration
	// NodeEvictionRate bounds how many nodes per second get a new
	// NoExecute taint (and so have their pods evicted)
	// [--node-eviction-rate]; default 0.1, burst 1; negative: no limit.
	NodeEvictionRate float64
	// LeaseNamespace holds the nodes' Leases; default kube-node-lease.
	LeaseNamespace string
	// Workers syncing nodes; default 2.
	Workers int
}

func (c *Config) ensureDefaults() {
	if c.MonitorPeriod <= 0 {
		c.MonitorPeriod = 5 * time.Second
	}
	if c.GracePeriod <= 0 {
		c.GracePeriod = 40 * time.Second
	}
	if c.StartupGracePeriod <= 0 {
		c.StartupGracePeriod = 60 * time.Second
	}
	if c.NodeEvictionRate == 0 {
		c.NodeEvictionRate = 0.1
	}
	if c.LeaseNamespace == "" {
		c.LeaseNamespace = corev1.NamespaceNodeLease
	}
	if c.Workers < 1 {
		c.Workers = 2
	}
}

// Controller watches node health and keeps the condition taints. See
// the package doc.
type Controller struct {
	cfg      Config
	client   kubernetes.Interface
	nodes    corelisters.NodeLister
	leases   coordinationlisters.LeaseLister
	pods     cache.Indexer
	synced   []cache.InformerSynced
	queue    controllers.Queue
	recorder record.EventRecorder
	log      *slog.Logger
	now      func() time.Time

	mu sync.Mutex
	// obs is what has been seen of each node's heartbeats.
	obs map[string]*observation
	// disrupted: no node is Ready; NoExecute taints are withheld.
	disrupted bool
	// limiter paces new NoExecute taints; nil for no limit.
	limiter *bucket
}

// New builds the controller with the default Config.
func New(cctx *controllers.Context) *Controller { return NewWithConfig(cctx, Config{}) }

// NewWithConfig builds the controller and registers its handlers. No IO.
func NewWithConfig(cctx *controllers.Context, cfg Config) *Controller {
	cfg.ensureDefaults()
	nodeInf := cctx.Informers.Core().V1().Nodes()
	leaseInf := cctx.Informers.Coordination().V1().Leases()
	podInf := cctx.Informers.Core().V1().Pods().Informer()
	addNodeNameIndex(podInf)
	now := cctx.Now
	if now == nil {
		now = time.Now
	}
	c := &Controller{
		cfg:      cfg,
		client:   cctx.Client,
		nodes:    nodeInf.Lister(),
		leases:   leaseInf.Lister(),
		pods:     podInf.GetIndexer(),
		synced:   []cache.InformerSynced{nodeInf.Informer().HasSynced, leaseInf.Informer().HasSynced, podInf.HasSynced},
		queue:    controllers.NewQueue("nodelifecycle"),
		recorder: cctx.RecorderFor("node-controller"),
		log:      cctx.Logger.With("controller", "nodelifecycle"),
		now:      now,
		obs:      map[string]*observation{},
	}
	if cfg.NodeEvictionRate > 0 {
		c.limiter = newBucket(cfg.NodeEvictionRate, 1, now())
	}
	nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if n, ok := obj.(*corev1.Node); ok {
				c.recorder.Eventf(n, corev1.EventTypeNormal, "RegisteredNode", "Node %s event: Registered Node %s in Controller", n.Name, n.Name)
			}
			controllers.Enqueue(c.queue, obj)
		},
		UpdateFunc: func(_, obj any) { controllers.Enqueue(c.queue, obj) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if n, ok := obj.(*corev1.Node); ok {
				c.recorder.Eventf(n, corev1.EventTypeNormal, "RemovingNode", "Node %s event: Removing Node %s from Controller", n.Name, n.Name)
				c.mu.Lock()
				delete(c.obs, n.Name)
				c.mu.Unlock()
			}
		},
	})
	return c
}

// Run checks every node each MonitorPeriod, and on its changes, until
// ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	if !cache.WaitForNamedCacheSync("nodelifecycle", ctx.Done(), c.synced...) {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("%w: nodelifecycle", controllers.ErrCacheSync)
	}
	c.monitor()
	go func() {
		t := time.NewTicker(c.cfg.MonitorPeriod)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				c.monitor()
			}
		}
	}()
	return controllers.RunWorkers(ctx, "nodelifecycle", c.log, c.queue, c.cfg.Workers, c.sync, c.synced...)
}

// monitor decides whether the cluster is fully disrupted and queues
// every node for a health check.
func (c *Controller) monitor() {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return
	}
	ready := 0
	for _, n := range nodes {
		if readyStatus(n) == corev1.ConditionTrue {
			ready++
		}
	}
	disrupted := len(nodes) > 0 && ready == 0
	c.mu.Lock()
	if disrupted != c.disrupted {
		if disrupted {
			c.log.Warn("no node is ready: withholding NoExecute taints (evictions) until one is", "nodes", len(nodes))
		} else {
			c.log.Info("a node is ready again: NoExecute taints resume", "ready", ready, "nodes", len(nodes))
		}
	}
	c.disrupted = disrupted
	c.mu.Unlock()
	for _, n := range nodes {
		c.queue.Add(n.Name)
	}
}

func (c *Controller) sync(ctx context.Context, name string) error {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		c.mu.Lock()
		delete(c.obs, name)
		c.mu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}
	lease, _ := c.leases.Leases(c.cfg.LeaseNamespace).Get(name)
	now := c.now()

	c.mu.Lock()
	prev := c.obs[name]
	a := assess(node, lease, prev, now, c.cfg.GracePeriod, c.cfg.StartupGracePeriod)
	o := a.obs
	if prev != nil {
		o.markPods = prev.markPods
		if a.status != nil {
			o.ready = prev.ready // until the write succeeds
		}
	}
	c.obs[name] = &o
	c.mu.Unlock()

	if a.status != nil {
		n := node.DeepCopy()
		n.Status = *a.status
		updated, err := c.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("nodelifecycle: set node %s Unknown: %w", name, err)
		}
		c.log.Info("node stopped posting status: conditions Unknown", "node", name, "lastHeartbeat", a.obs.heartbeat)
		node = updated
	}
	if a.becameNotReady {
		c.recorder.Eventf(node, corev1.EventTypeNormal, "NodeNotReady", "Node %s status is now: %s", name, "NodeNotReady")
	}
	c.mu.Lock()
	o.ready = a.ready
	o.markPods = (o.markPods || a.becameNotReady) && a.ready != corev1.ConditionTrue
	markPods := o.markPods
	c.mu.Unlock()

	var errs []error
	if err := c.syncTaints(ctx, node, now); err != nil {
		errs = append(errs, err)
	}
	if markPods {
		if err := c.markPodsNotReady(ctx, name, now); err != nil {
			errs = append(errs, err)
		} else {
			c.mu.Lock()
			o.markPods = false
			c.mu.Unlock()
		}
	}
	return errors.Join(errs...)
}

// syncTaints writes the taints desiredTaints calls for, spending an
// eviction token for a new NoExecute taint (or holding it back until one
// is there).
func (c *Controller) syncTaints(ctx context.Context, node *corev1.Node, now time.Time) error {
	c.mu.Lock()
	policy := addNoExecute
	if c.disrupted {
		policy = dropNoExecute
	}
	taints, adds := desiredTaints(node, now, policy)
	if adds && c.limiter != nil && !c.limiter.take(now) {
		taints, _ = desiredTaints(node, now, holdNoExecute)
		wait := c.limiter.wait(now)
		c.queue.AddAfter(node.Name, wait)
		c.log.Debug("NoExecute taint held back by the eviction rate", "node", node.Name, "wait", wait)
	}
	c.mu.Unlock()
	if sameTaints(taints, node.Spec.Taints) {
		return nil
	}
	n := node.DeepCopy()
	n.Spec.Taints = taints
	if _, err := c.client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("nodelifecycle: taints of node %s: %w", node.Name, err)
	}
	c.log.Info("node taints", "node", node.Name, "taints", taintNames(taints))
	return nil
}

// markPodsNotReady sets the Ready condition of the pods on a node that
// stopped being Ready to False, so Services stop sending them traffic
// before they are evicted.
func (c *Controller) markPodsNotReady(ctx context.Context, node string, now time.Time) error {
	var errs []error
	for _, pod := range podsOn(c.pods, node) {
		i := podConditionIndex(pod, corev1.PodReady)
		if i < 0 || pod.Status.Conditions[i].Status != corev1.ConditionTrue {
			continue
		}
		p := pod.DeepCopy()
		p.Status.Conditions[i].Status = corev1.ConditionFalse
		p.Status.Conditions[i].LastTransitionTime = metav1.NewTime(now)
		if _, err := c.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			if !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("nodelifecycle: mark pod %s/%s not ready: %w", p.Namespace, p.Name, err))
			}
			continue
		}
		c.recorder.Event(pod, corev1.EventTypeWarning, "NodeNotReady", "Node is not ready")
	}
	return errors.Join(errs...)
}

func podConditionIndex(pod *corev1.Pod, t corev1.PodConditionType) int {
	for i, c := range pod.Status.Conditions {
		if c.Type == t {
			return i
		}
	}
	return -1
}

func taintNames(taints []corev1.Taint) []string {
	out := make([]string, len(taints))
	for i, t := range taints {
		out[i] = t.ToString()
	}
	return out
}
