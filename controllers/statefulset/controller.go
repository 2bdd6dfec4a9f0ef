package statefulset

// The controller's shell: informers, event handlers that map pods,
// claims and revisions to StatefulSet keys, and Run.

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/controllers/expectations"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

// Component is the source of the controller's Events.
const Component = "statefulset-controller"

// workers is how many StatefulSets sync at once
// (kube-controller-manager's --concurrent-statefulset-syncs default).
const workers = 5

// Controller runs StatefulSets: pods with stable names and storage.
type Controller struct {
	client    kubernetes.Interface
	sets      appslisters.StatefulSetLister
	pods      corelisters.PodLister
	claims    corelisters.PersistentVolumeClaimLister
	revisions appslisters.ControllerRevisionLister
	synced    []cache.InformerSynced
	queue     controllers.Queue
	recorder  record.EventRecorder
	log       *slog.Logger
	now       func() time.Time
	exp       *expectations.Expectations
}

// New builds the controller on cctx's informers (StatefulSets, pods,
// PersistentVolumeClaims, ControllerRevisions) and registers its
// handlers; it does no IO.
func New(cctx *controllers.Context) *Controller {
	now := cctx.Now
	if now == nil {
		now = time.Now
	}
	f := cctx.Informers
	setInf := f.Apps().V1().StatefulSets()
	podInf := f.Core().V1().Pods()
	claimInf := f.Core().V1().PersistentVolumeClaims()
	revInf := f.Apps().V1().ControllerRevisions()
	c := &Controller{
		client:    cctx.Client,
		sets:      setInf.Lister(),
		pods:      podInf.Lister(),
		claims:    claimInf.Lister(),
		revisions: revInf.Lister(),
		queue:     controllers.NewQueue("statefulset"),
		recorder:  cctx.RecorderFor(Component),
		log:       cctx.Logger.With("controller", "statefulset"),
		now:       now,
		exp:       expectations.New(0),
	}
	c.synced = []cache.InformerSynced{
		setInf.Informer().HasSynced, podInf.Informer().HasSynced,
		claimInf.Informer().HasSynced, revInf.Informer().HasSynced,
	}
	enqueue := func(obj any) { controllers.Enqueue(c.queue, obj) }
	c.handle(setInf.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, obj any) { enqueue(obj) }, DeleteFunc: enqueue,
	})
	c.handle(podInf.Informer(), controllers.OwnedPodEvents{
		Queue: c.queue, Expectations: c.exp, EnqueueAdopters: c.enqueueMatching,
		OwnerKey: func(ns string, ref *metav1.OwnerReference) string {
			if set := c.owner(ns, ref); set != nil {
				return key(set)
			}
			return ""
		},
	}.Handler())
	c.handle(claimInf.Informer(), cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) { c.claimChanged(obj) },
		DeleteFunc: c.claimChanged,
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

// Run syncs StatefulSets until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	return controllers.RunWorkers(ctx, "statefulset", c.log, c.queue, workers, c.sync, c.synced...)
}

func key(set *appsv1.StatefulSet) string { return set.Namespace + "/" + set.Name }

// owner resolves a controller reference to the StatefulSet it names.
func (c *Controller) owner(ns string, ref *metav1.OwnerReference) *appsv1.StatefulSet {
	return controllers.ResolveControllerRef(ref, controllerKind, c.sets.StatefulSets(ns).Get)
}

// enqueueMatching enqueues the sets an orphan pod could belong to: its
// name is theirs and their selector matches it.
func (c *Controller) enqueueMatching(pod *corev1.Pod) {
	list, err := c.sets.StatefulSets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, set := range list {
		if _, ok := Ordinal(set.Name, pod.Name); !ok {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		c.queue.Add(key(set))
	}
}

// claimChanged enqueues the sets a claim is named for: a pod waiting for
// its old claim to go may go on.
func (c *Controller) claimChanged(obj any) {
	claim, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		tomb, isTomb := obj.(cache.DeletedFinalStateUnknown)
		if !isTomb {
			return
		}
		if claim, ok = tomb.Obj.(*corev1.PersistentVolumeClaim); !ok {
			return
		}
	}
	list, err := c.sets.StatefulSets(claim.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, set := range list {
		for _, ct := range set.Spec.VolumeClaimTemplates {
			if rest, ok := strings.CutPrefix(claim.Name, ct.Name+"-"); ok && isMemberName(set.Name, rest) {
				c.queue.Add(key(set))
				break
			}
		}
	}
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
	if set := c.owner(cr.Namespace, metav1.GetControllerOf(cr)); set != nil {
		c.queue.Add(key(set))
	}
}
