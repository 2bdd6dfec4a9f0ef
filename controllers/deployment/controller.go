package deployment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/controllers/ownerref"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

// Component is the source of this controller's Events.
const Component = "deployment-controller"

// ErrSync marks a sync that could not do all it planned; the key is
// retried with back-off.
var ErrSync = errors.New("deployment: sync")

var kindRS = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")

// Config tunes a Controller; zero values mean the defaults.
type Config struct {
	// Workers syncing Deployments in parallel; default 5
	// (--concurrent-deployment-syncs).
	Workers int
}

// Controller rolls Deployments out through ReplicaSets. Build it with New
// before starting the informers; Run it once. It needs the ReplicaSet
// controller running to have pods.
type Controller struct {
	cfg       Config
	client    kubernetes.Interface
	dLister   appslisters.DeploymentLister
	rsLister  appslisters.ReplicaSetLister
	podLister corelisters.PodLister
	synced    []cache.InformerSynced
	queue     controllers.Queue
	recorder  record.EventRecorder
	log       *slog.Logger
	now       func() time.Time
	writes    *writes
	bounds    *bounds
}

// New builds a Controller with the default Config.
func New(cctx *controllers.Context) *Controller { return NewWithConfig(cctx, Config{}) }

// NewWithConfig registers the controller's informer handlers on cctx; it
// does no IO.
func NewWithConfig(cctx *controllers.Context, cfg Config) *Controller {
	if cfg.Workers <= 0 {
		cfg.Workers = 5
	}
	now := cctx.Now
	if now == nil {
		now = time.Now
	}
	dInf := cctx.Informers.Apps().V1().Deployments()
	rsInf := cctx.Informers.Apps().V1().ReplicaSets()
	podInf := cctx.Informers.Core().V1().Pods()
	c := &Controller{
		cfg:       cfg,
		client:    cctx.Client,
		dLister:   dInf.Lister(),
		rsLister:  rsInf.Lister(),
		podLister: podInf.Lister(),
		synced:    []cache.InformerSynced{dInf.Informer().HasSynced, rsInf.Informer().HasSynced, podInf.Informer().HasSynced},
		queue:     controllers.NewQueue("deployment"),
		recorder:  cctx.RecorderFor(Component),
		log:       cctx.Logger.With("controller", "deployment"),
		now:       now,
		writes:    newWrites(now),
		bounds:    newBounds(),
	}
	_, _ = dInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { controllers.Enqueue(c.queue, obj) },
		UpdateFunc: func(_, obj any) { controllers.Enqueue(c.queue, obj) },
		DeleteFunc: func(obj any) { controllers.Enqueue(c.queue, obj) },
	})
	_, _ = rsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.rsChanged(nil, obj.(*appsv1.ReplicaSet)) },
		UpdateFunc: func(old, obj any) { c.rsChanged(old.(*appsv1.ReplicaSet), obj.(*appsv1.ReplicaSet)) },
		DeleteFunc: c.rsDeleted,
	})
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: c.podDeleted})
	return c
}

// Run syncs Deployments until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	return controllers.RunWorkers(ctx, "deployment", c.log, c.queue, c.cfg.Workers, c.syncOrWait, c.synced...)
}

// syncOrWait syncs key. A write that lost to a newer version of its
// object is not retried with back-off: the informer is about to deliver
// that version, and its event queues the Deployment again.
func (c *Controller) syncOrWait(ctx context.Context, key string) error {
	err := c.sync(ctx, key)
	if apierrors.IsConflict(err) {
		c.log.Debug("write conflict; waiting for the informer", "deployment", key, "err", err)
		return nil
	}
	return err
}

// owner resolves a ReplicaSet's controller reference to a cached
// Deployment.
func (c *Controller) owner(rs *appsv1.ReplicaSet) *appsv1.Deployment {
	return controllers.ResolveControllerRef(metav1.GetControllerOfNoCopy(rs), kindDeployment, c.dLister.Deployments(rs.Namespace).Get)
}

// enqueueMatching queues the Deployments that may adopt an orphan.
func (c *Controller) enqueueMatching(rs *appsv1.ReplicaSet) {
	if metav1.GetControllerOfNoCopy(rs) != nil {
		return
	}
	ds, err := c.dLister.Deployments(rs.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, d := range ds {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(rs.Labels)) {
			controllers.Enqueue(c.queue, d)
		}
	}
}

func (c *Controller) rsChanged(old, cur *appsv1.ReplicaSet) {
	if old != nil && old.ResourceVersion == cur.ResourceVersion {
		return
	}
	if old != nil && !apiequality.Semantic.DeepEqual(metav1.GetControllerOfNoCopy(old), metav1.GetControllerOfNoCopy(cur)) {
		if d := c.owner(old); d != nil {
			controllers.Enqueue(c.queue, d)
		}
	}
	if d := c.owner(cur); d != nil {
		controllers.Enqueue(c.queue, d)
		return
	}
	c.enqueueMatching(cur)
}

func (c *Controller) rsDeleted(obj any) {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		tomb, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			return
		}
		if rs, ok = tomb.Obj.(*appsv1.ReplicaSet); !ok {
			return
		}
	}
	c.bounds.forget(rs.UID)
	if d := c.owner(rs); d != nil {
		controllers.Enqueue(c.queue, d)
	}
}

// podDeleted wakes a Recreate Deployment waiting for its old pods to go.
func (c *Controller) podDeleted(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		tomb, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			return
		}
		if pod, ok = tomb.Obj.(*corev1.Pod); !ok {
			return
		}
	}
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil || ref.Kind != kindRS.Kind {
		return
	}
	rs, err := c.rsLister.ReplicaSets(pod.Namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return
	}
	if d := c.owner(rs); d != nil && !isRolling(d) {
		controllers.Enqueue(c.queue, d)
	}
}

// sync plans one step of a Deployment and carries it out.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.dLister.Deployments(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.writes.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	if !c.writes.seen(key, c.rsLister) {
		// the ReplicaSet events that show our writes will queue us again
		c.log.Debug("waiting for the informer to show this controller's last writes", "deployment", key)
		c.queue.AddAfter(key, time.Second)
		return nil
	}
	d := cached.DeepCopy()
	if d.Spec.Selector == nil {
		c.log.Warn("cannot sync: no selector", "deployment", key)
		return nil
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		c.log.Warn("cannot sync", "deployment", key, "err", err)
		return nil
	}
	if sel.Empty() {
		c.recorder.Eventf(d, corev1.EventTypeWarning, EventSelectingAll, "This deployment is selecting all pods. A non-empty selector is required.")
		if d.Status.ObservedGeneration < d.Generation {
			d.Status.ObservedGeneration = d.Generation
			_, err := c.client.AppsV1().Deployments(ns).UpdateStatus(ctx, d, metav1.UpdateOptions{})
			return err
		}
		return nil
	}
	all, err := c.rsLister.ReplicaSets(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	owned, err := c.claim(ctx, d, sel, all)
	if err != nil {
		return err
	}
	pods, err := c.podLister.Pods(ns).List(sel)
	if err != nil {
		return err
	}
	byRS := map[types.UID][]*corev1.Pod{}
	for _, rs := range owned {
		byRS[rs.UID] = nil
	}
	for _, p := range pods {
		if ref := metav1.GetControllerOfNoCopy(p); ref != nil {
			if _, ok := byRS[ref.UID]; ok {
				byRS[ref.UID] = append(byRS[ref.UID], p)
			}
		}
	}
	plan, err := Reconcile(Input{Deployment: d, ReplicaSets: owned, Pods: byRS, PodBounds: c.bounds.of(owned), Now: c.now()})
	if err != nil {
		c.log.Warn("cannot sync", "deployment", key, "err", err)
		return nil
	}
	return c.execute(ctx, key, d, plan)
}

// claim adopts orphan ReplicaSets that match d's selector and releases
// d's that no longer do; it returns the ReplicaSets d controls.
func (c *Controller) claim(ctx context.Context, d *appsv1.Deployment, sel labels.Selector, all []*appsv1.ReplicaSet) ([]*appsv1.ReplicaSet, error) {
	cl := ownerref.Classify(d, sel, all)
	rsc := c.client.AppsV1().ReplicaSets(d.Namespace)
	owned := cl.Owned
	if len(cl.Adopt) > 0 {
		fresh, err := c.client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("%w: %s/%s: recheck before adopting: %w", ErrSync, d.Namespace, d.Name, err)
		}
		if fresh.UID == d.UID && fresh.DeletionTimestamp == nil {
			ref := ownerref.ControllerRef(d, kindDeployment)
			for _, rs := range cl.Adopt {
				patch, err := ownerref.AdoptPatch(ref, rs.UID)
				var adopted *appsv1.ReplicaSet
				if err == nil {
					adopted, err = rsc.Patch(ctx, rs.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
				}
				if apierrors.IsNotFound(err) {
					continue
				}
				if err != nil {
					return nil, fmt.Errorf("%w: adopt replica set %s/%s: %w", ErrSync, rs.Namespace, rs.Name, err)
				}
				owned = append(owned, adopted)
			}
		}
	}
	for _, rs := range cl.Release {
		patch, err := ownerref.ReleasePatch(d.UID, rs.UID)
		if err == nil {
			_, err = rsc.Patch(ctx, rs.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		}
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("%w: release replica set %s/%s: %w", ErrSync, rs.Namespace, rs.Name, err)
		}
	}
	return owned, nil
}

func (c *Controller) emit(d *appsv1.Deployment, evs []Event) {
	for _, e := range evs {
		c.recorder.Event(d, e.Type, e.Reason, e.Message)
	}
}

// execute does plan's writes in order and stops at the first failure.
func (c *Controller) execute(ctx context.Context, key string, d *appsv1.Deployment, plan Plan) error {
	rsc := c.client.AppsV1().ReplicaSets(d.Namespace)
	if rs := plan.Create; rs != nil {
		created, err := rsc.Create(ctx, rs, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return c.collided(ctx, d, rs)
		}
		if err != nil {
			msg := fmt.Sprintf("Failed to create new replica set %q: %v", rs.Name, err)
			c.recorder.Event(d, corev1.EventTypeWarning, EventReplicaSetCreateError, msg)
			if hasProgressDeadline(d) {
				cp := d.DeepCopy()
				now := metav1.NewTime(c.now())
				setCondition(&cp.Status, appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse,
					Reason: ReasonRSCreateError, Message: msg, LastUpdateTime: now, LastTransitionTime: now})
				_, _ = c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{})
			}
			return fmt.Errorf("%w: %s: %w", ErrSync, key, err)
		}
		c.bounds.scaled(created.UID, 0, rsReplicas(created))
		c.writes.wrote(key, created, false)
		c.emit(d, plan.CreateEvents)
	}
	for _, u := range plan.Updates {
		if old, err := c.rsLister.ReplicaSets(u.RS.Namespace).Get(u.RS.Name); err == nil {
			c.bounds.scaled(u.RS.UID, rsReplicas(old), rsReplicas(u.RS))
		}
		updated, err := rsc.Update(ctx, u.RS, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("%w: %s: update replica set %s: %w", ErrSync, key, u.RS.Name, err)
		}
		c.writes.wrote(key, updated, false)
		c.emit(d, u.Events)
	}
	for _, rs := range plan.Deletes {
		uid := rs.UID
		err := rsc.Delete(ctx, rs.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid, ResourceVersion: &rs.ResourceVersion}})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("%w: %s: delete old replica set %s: %w", ErrSync, key, rs.Name, err)
		}
		c.log.Debug("deleted old replica set beyond revisionHistoryLimit", "deployment", key, "replicaset", rs.Name)
		c.writes.wrote(key, rs, true)
	}
	if plan.Deployment != nil {
		if _, err := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, plan.Deployment, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("%w: %s: status: %w", ErrSync, key, err)
		}
		c.emit(d, plan.StatusEvents)
	}
	if plan.RequeueAfter > 0 {
		c.queue.AddAfter(key, plan.RequeueAfter)
	}
	return nil
}

// collided: the new ReplicaSet's name is taken. If by d's own ReplicaSet
// for this template, the cache was behind: try again. Otherwise raise the
// collision count, which changes the name.
func (c *Controller) collided(ctx context.Context, d *appsv1.Deployment, rs *appsv1.ReplicaSet) error {
	existing, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Get(ctx, rs.Name, metav1.GetOptions{})
	if err == nil && ownerref.IsControlledBy(existing, d.UID) && EqualIgnoreHash(&existing.Spec.Template, &d.Spec.Template) {
		return fmt.Errorf("%w: replica set %s exists but is not in the cache yet", ErrSync, rs.Name)
	}
	cp := d.DeepCopy()
	n := int32(1)
	if cp.Status.CollisionCount != nil {
		n = *cp.Status.CollisionCount + 1
	}
	cp.Status.CollisionCount = &n
	if _, err := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("%w: raise collision count: %w", ErrSync, err)
	}
	return fmt.Errorf("%w: replica set name %s taken; collision count now %d", ErrSync, rs.Name, n)
}
