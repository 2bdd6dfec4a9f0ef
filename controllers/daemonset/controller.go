package daemonset

// The controller's shell: informers, event handlers that map pods, nodes
// and revisions to DaemonSet keys, and Run.

import (
	"context"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/controllers/expectations"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

// Component is the source of the controller's Events.
const Component = "daemonset-controller"

// workers is how many DaemonSets sync at once (kube-controller-manager's
// --concurrent-daemonset-syncs default).
const workers = 2

// Controller runs DaemonSets: one pod on every node that should run it.
type Controller struct {
	client    kubernetes.Interface
	dsLister  appslisters.DaemonSetLister
	podLister corelisters.PodLister
	nodes     corelisters.NodeLister
	revisions appslisters.ControllerRevisionLister
	synced    []cache.InformerSynced
	queue     controllers.Queue
	recorder  record.EventRecorder
	log       *slog.Logger
	now       func() time.Time
	exp       *expectations.Expectations
	backoff   *failureBackoff
}

// New builds the controller on cctx's informers (DaemonSets, pods, nodes,
// ControllerRevisions) and registers its handlers; it does no IO.
func New(cctx *controllers.Context) *Controller {
	now := cctx.Now
	if now == nil {
		now = time.Now
	}
	f := cctx.Informers
	dsInf := f.Apps().V1().DaemonSets()
	podInf := f.Core().V1().Pods()
	nodeInf := f.Core().V1().Nodes()
	revInf := f.Apps().V1().ControllerRevisions()
	c := &Controller{
		client:    cctx.Client,
		dsLister:  dsInf.Lister(),
		podLister: podInf.Lister(),
		nodes:     nodeInf.Lister(),
		revisions: revInf.Lister(),
		queue:     controllers.NewQueue("daemonset"),
		recorder:  cctx.RecorderFor(Component),
		log:       cctx.Logger.With("controller", "daemonset"),
		now:       now,
		exp:       expectations.New(0),
		backoff:   newFailureBackoff(),
	}
	c.synced = []cache.InformerSynced{
		dsInf.Informer().HasSynced, podInf.Informer().HasSynced,
		nodeInf.Informer().HasSynced, revInf.Informer().HasSynced,
	}
	c.handle(dsInf.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { controllers.Enqueue(c.queue, obj) },
		UpdateFunc: func(_, obj any) { controllers.Enqueue(c.queue, obj) },
		DeleteFunc: c.deleteDaemonSet,
	})
	c.handle(podInf.Informer(), controllers.OwnedPodEvents{
		Queue: c.queue, Expectations: c.exp, EnqueueAdopters: c.enqueueMatching,
		OwnerKey: func(ns string, ref *metav1.OwnerReference) string {
			if ds := c.owner(ns, ref); ds != nil {
				return key(ds)
			}
			return ""
		},
	}.Handler())
	c.handle(nodeInf.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.enqueueAll() },
		UpdateFunc: c.updateNode,
		DeleteFunc: func(any) { c.enqueueAll() },
	})
	c.handle(revInf.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc:    c.revisionChanged,
		UpdateFunc: func(_, obj any) { c.revisionChanged(obj) },
		DeleteFunc: c.revisionChanged,
	})
	return c
}

func (c *Controller) handle(inf cache.SharedIndexInformer, h cache.ResourceEventHandler) {
	if _, err := inf.AddEventHandler(h); err != nil {
		c.log.Error("register informer handler", "err", err)
	}
}

// Run syncs DaemonSets until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	return controllers.RunWorkers(ctx, "daemonset", c.log, c.queue, workers, c.sync, c.synced...)
}

// owner resolves a controller reference to the DaemonSet it names.
func (c *Controller) owner(ns string, ref *metav1.OwnerReference) *appsv1.DaemonSet {
	return controllers.ResolveControllerRef(ref, controllerKind, c.dsLister.DaemonSets(ns).Get)
}

func key(ds *appsv1.DaemonSet) string { return ds.Namespace + "/" + ds.Name }

// enqueueMatching enqueues the DaemonSets whose selector matches an
// orphan pod, which may adopt it.
func (c *Controller) enqueueMatching(pod *corev1.Pod) {
	list, err := c.dsLister.DaemonSets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range list {
		sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		c.queue.Add(key(ds))
	}
}

func (c *Controller) enqueueAll() {
	list, err := c.dsLister.List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range list {
		c.queue.Add(key(ds))
	}
}

func (c *Controller) deleteDaemonSet(obj any) {
	ds, ok := obj.(*appsv1.DaemonSet)
	if !ok {
		if tomb, isTomb := obj.(cache.DeletedFinalStateUnknown); isTomb {
			ds, ok = tomb.Obj.(*appsv1.DaemonSet)
		}
	}
	if ok {
		c.backoff.forget(ds.UID)
	}
	controllers.Enqueue(c.queue, obj)
}

// updateNode enqueues every DaemonSet when what decides eligibility
// changed: labels, taints, unschedulable.
func (c *Controller) updateNode(oldObj, curObj any) {
	old, cur := oldObj.(*corev1.Node), curObj.(*corev1.Node)
	if reflect.DeepEqual(old.Labels, cur.Labels) && reflect.DeepEqual(old.Spec.Taints, cur.Spec.Taints) &&
		old.Spec.Unschedulable == cur.Spec.Unschedulable {
		return
	}
	c.enqueueAll()
}

func (c *Controller) revisionChanged(obj any) {
	cr, ok := obj.(*appsv1.ControllerRevision)
	if !ok {
		tomb, isTomb := obj.(cache.DeletedFinalStateUnknown)
		if !isTomb {
			return
		}
		if cr, ok = tomb.Obj.(*appsv1.ControllerRevision); !ok {
			return
		}
	}
	if ds := c.owner(cr.Namespace, metav1.GetControllerOf(cr)); ds != nil {
		c.queue.Add(key(ds))
	}
}

// failureBackoff spaces out the replacement of daemon pods that keep
// failing on a node: 1 s after the first failure, doubling to 15 min;
// a node quiet for 15 min starts over. Safe for concurrent use.
type failureBackoff struct {
	mu sync.Mutex
	m  map[types.UID]map[string]backoffEntry
}

type backoffEntry struct {
	delay time.Duration
	until time.Time
}

const (
	backoffInitial = time.Second
	backoffMax     = 15 * time.Minute
)

func newFailureBackoff() *failureBackoff {
	return &failureBackoff{m: map[types.UID]map[string]backoffEntry{}}
}

// snapshot is ds's back-offs by node, for Input.Backoff.
func (b *failureBackoff) snapshot(ds types.UID) map[string]time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]time.Time, len(b.m[ds]))
	for n, e := range b.m[ds] {
		out[n] = e.until
	}
	return out
}

// failed records a failed pod of ds on node replaced at now.
func (b *failureBackoff) failed(ds types.UID, node string, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.m[ds]
	if m == nil {
		m = map[string]backoffEntry{}
		b.m[ds] = m
	}
	e := m[node]
	switch {
	case e.delay == 0 || now.Sub(e.until) > backoffMax:
		e.delay = backoffInitial
	case e.delay < backoffMax:
		e.delay = min(2*e.delay, backoffMax)
	}
	e.until = now.Add(e.delay)
	m[node] = e
}

// forget drops a deleted DaemonSet's back-offs.
func (b *failureBackoff) forget(ds types.UID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, ds)
}
