package replicaset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/controllers/expectations"
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
const Component = "replicaset-controller"

// Event reasons, as Kubernetes'.
const (
	EventSuccessfulCreate = "SuccessfulCreate"
	EventFailedCreate     = "FailedCreate"
	EventSuccessfulDelete = "SuccessfulDelete"
	EventFailedDelete     = "FailedDelete"
)

// DefaultExpectationsTTL is how long a sync waits for the informer to show
// its own creations and deletions (Config.ExpectationsTTL's default).
const DefaultExpectationsTTL = expectations.DefaultTTL

// ErrSync marks a sync that could not do all it planned; the key is
// retried with back-off.
var ErrSync = errors.New("replicaset: sync")

var kindRS = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")

// Config tunes a Controller; zero values mean the defaults.
type Config struct {
	// Workers syncing ReplicaSets in parallel; default 5
	// (--concurrent-replicaset-syncs).
	Workers int
	// BurstReplicas caps the pods one sync creates or deletes; default
	// DefaultBurstReplicas.
	BurstReplicas int
	// ExpectationsTTL; default DefaultExpectationsTTL.
	ExpectationsTTL time.Duration
}

// Controller keeps every ReplicaSet's pods at its replicas. Build it with
// New before starting the informers; Run it once.
type Controller struct {
	cfg       Config
	client    kubernetes.Interface
	rsLister  appslisters.ReplicaSetLister
	podLister corelisters.PodLister
	synced    []cache.InformerSynced
	queue     controllers.Queue
	exp       *expectations.Expectations
	recorder  record.EventRecorder
	log       *slog.Logger
	now       func() time.Time
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
	rsInf := cctx.Informers.Apps().V1().ReplicaSets()
	podInf := cctx.Informers.Core().V1().Pods()
	c := &Controller{
		cfg:       cfg,
		client:    cctx.Client,
		rsLister:  rsInf.Lister(),
		podLister: podInf.Lister(),
		synced:    []cache.InformerSynced{rsInf.Informer().HasSynced, podInf.Informer().HasSynced},
		queue:     controllers.NewQueue("replicaset"),
		exp:       expectations.New(cfg.ExpectationsTTL),
		recorder:  cctx.RecorderFor(Component),
		log:       cctx.Logger.With("controller", "replicaset"),
		now:       now,
	}
	_, _ = rsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { controllers.Enqueue(c.queue, obj) },
		UpdateFunc: func(_, obj any) { controllers.Enqueue(c.queue, obj) },
		DeleteFunc: func(obj any) {
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				c.exp.Forget(key)
				c.queue.Add(key)
			}
		},
	})
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	return c
}

// Run syncs ReplicaSets until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	return controllers.RunWorkers(ctx, "replicaset", c.log, c.queue, c.cfg.Workers, c.syncOrWait, c.synced...)
}

// syncOrWait syncs key. A status write that lost to a newer version of
// the ReplicaSet is not retried with back-off: the informer is about to
// deliver that version, and its event queues the ReplicaSet again.
func (c *Controller) syncOrWait(ctx context.Context, key string) error {
	err := c.sync(ctx, key)
	if errors.Is(err, errStale) || apierrors.IsConflict(err) {
		c.log.Debug("stale; waiting for the informer", "replicaset", key, "err", err)
		return nil
	}
	return err
}

// errStale: the ReplicaSet changed during a sync.
var errStale = errors.New("replicaset: the ReplicaSet changed during the sync")

// owner resolves pod's controller reference to a ReplicaSet in the cache.
func (c *Controller) owner(pod *corev1.Pod) *appsv1.ReplicaSet {
	return controllers.ResolveControllerRef(metav1.GetControllerOfNoCopy(pod), kindRS, c.rsLister.ReplicaSets(pod.Namespace).Get)
}

// enqueueMatching queues every ReplicaSet whose selector matches an
// orphan pod, so one of them adopts it.
func (c *Controller) enqueueMatching(pod *corev1.Pod) {
	if metav1.GetControllerOfNoCopy(pod) != nil {
		return
	}
	all, err := c.rsLister.ReplicaSets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, rs := range all {
		sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(pod.Labels)) {
			controllers.Enqueue(c.queue, rs)
		}
	}
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		c.deletePod(pod)
		return
	}
	if rs := c.owner(pod); rs != nil {
		key := rs.Namespace + "/" + rs.Name
		c.exp.CreationsObserved(key, 1)
		c.queue.Add(key)
		return
	}
	c.enqueueMatching(pod)
}

func (c *Controller) updatePod(oldObj, newObj any) {
	old, cur := oldObj.(*corev1.Pod), newObj.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return // a resync
	}
	labelsChanged := !labels.Equals(old.Labels, cur.Labels)
	if cur.DeletionTimestamp != nil {
		c.deletePod(cur)
		if labelsChanged {
			c.deletePod(old)
		}
		return
	}
	oldRef, curRef := metav1.GetControllerOfNoCopy(old), metav1.GetControllerOfNoCopy(cur)
	refChanged := !apiequality.Semantic.DeepEqual(oldRef, curRef)
	if refChanged && oldRef != nil {
		if rs := c.owner(old); rs != nil {
			controllers.Enqueue(c.queue, rs)
		}
	}
	if rs := c.owner(cur); rs != nil {
		controllers.Enqueue(c.queue, rs)
		if !IsReady(old) && IsReady(cur) && rs.Spec.MinReadySeconds > 0 {
			// it becomes available after minReadySeconds: look again then
			key, _ := cache.MetaNamespaceKeyFunc(rs)
			c.queue.AddAfter(key, time.Duration(rs.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if labelsChanged || refChanged {
		c.enqueueMatching(cur)
	}
}

func (c *Controller) deletePod(obj any) {
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
	if rs := c.owner(pod); rs != nil {
		key := rs.Namespace + "/" + rs.Name
		c.exp.DeletionObserved(key, pod.UID)
		c.queue.Add(key)
	}
}

// sync brings one ReplicaSet's pods to its replicas and writes its status.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	rs, err := c.rsLister.ReplicaSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.Forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	mayManage := c.exp.Satisfied(key, c.now()) && rs.DeletionTimestamp == nil
	pods, err := c.podLister.Pods(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	plan, err := Decide(Input{RS: rs, Pods: pods, BurstReplicas: c.cfg.BurstReplicas})
	if err != nil {
		c.log.Warn("cannot sync", "replicaset", key, "err", err)
		return nil // retrying will not fix a bad selector
	}
	active, err := c.claim(ctx, rs, plan)
	if err != nil {
		return err
	}
	var manageErr error
	creating := plan.Create > 0
	if mayManage {
		manageErr = c.manage(ctx, rs, key, plan)
	}
	st, requeue := ComputeStatus(StatusInput{
		RS: rs, Active: active, Pending: c.exp.PendingCreations(key, c.now()),
		ManageErr: manageErr, Creating: creating, Now: c.now(),
	})
	if err := c.writeStatus(ctx, rs, st); err != nil {
		return errors.Join(manageErr, err)
	}
	if manageErr != nil {
		return manageErr
	}
	if requeue > 0 {
		c.queue.AddAfter(key, requeue)
	}
	return nil
}

// claim carries out plan's adoptions and releases and returns the active
// pods the ReplicaSet owns once they are done. It adopts only after a
// fresh read of the ReplicaSet confirms it still exists and is not being
// deleted (the cache may be behind a deletion).
func (c *Controller) claim(ctx context.Context, rs *appsv1.ReplicaSet, plan Plan) ([]*corev1.Pod, error) {
	pods := c.client.CoreV1().Pods(rs.Namespace)
	adoptFailed := map[types.UID]bool{}
	if len(plan.Adopt) > 0 {
		fresh, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Get(ctx, rs.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("%w: %s/%s: recheck before adopting: %w", ErrSync, rs.Namespace, rs.Name, err)
		}
		canAdopt := fresh.UID == rs.UID && fresh.DeletionTimestamp == nil
		ref := ownerref.ControllerRef(rs, kindRS)
		for _, p := range plan.Adopt {
			if !canAdopt {
				adoptFailed[p.UID] = true
				continue
			}
			patch, err := ownerref.AdoptPatch(ref, p.UID)
			if err == nil {
				_, err = pods.Patch(ctx, p.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			}
			if apierrors.IsNotFound(err) {
				adoptFailed[p.UID] = true
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("%w: adopt pod %s/%s: %w", ErrSync, p.Namespace, p.Name, err)
			}
		}
	}
	for _, p := range plan.Release {
		patch, err := ownerref.ReleasePatch(rs.UID, p.UID)
		if err == nil {
			_, err = pods.Patch(ctx, p.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		}
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("%w: release pod %s/%s: %w", ErrSync, p.Namespace, p.Name, err)
		}
	}
	var active []*corev1.Pod
	for _, p := range plan.Active {
		if !adoptFailed[p.UID] {
			active = append(active, p)
		}
	}
	return active, nil
}

// writeStatus writes st unless rs already has it; on a conflict it
// re-reads the ReplicaSet once and retries.
func (c *Controller) writeStatus(ctx context.Context, rs *appsv1.ReplicaSet, st appsv1.ReplicaSetStatus) error {
	if apiequality.Semantic.DeepEqual(rs.Status, st) {
		return nil
	}
	cp := rs.DeepCopy()
	cp.Status = st
	for attempt := 0; ; attempt++ {
		_, err := c.client.AppsV1().ReplicaSets(cp.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{})
		if err == nil || apierrors.IsNotFound(err) {
			return nil
		}
		if !apierrors.IsConflict(err) || attempt > 0 {
			return fmt.Errorf("%w: status of %s/%s: %w", ErrSync, rs.Namespace, rs.Name, err)
		}
		fresh, gerr := c.client.AppsV1().ReplicaSets(cp.Namespace).Get(ctx, cp.Name, metav1.GetOptions{})
		if gerr != nil {
			return fmt.Errorf("%w: status of %s/%s: %w", ErrSync, rs.Namespace, rs.Name, gerr)
		}
		if fresh.UID != rs.UID || fresh.Generation != rs.Generation {
			// the spec moved on: this status answers an old one
			return fmt.Errorf("%w: status of %s/%s: %w", ErrSync, rs.Namespace, rs.Name, errStale)
		}
		st.ObservedGeneration = fresh.Generation
		fresh.Status = st
		cp = fresh
	}
}
