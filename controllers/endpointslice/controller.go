package endpointslice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/controllers/endpoints"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

// DefaultMaxEndpointsPerSlice is Kubernetes' --max-endpoints-per-slice
// default.
const DefaultMaxEndpointsPerSlice = 100

// Config configures the controller; zero values mean the defaults.
type Config struct {
	// MaxEndpointsPerSlice [--max-endpoints-per-slice]; default 100, at
	// most 1000.
	MaxEndpointsPerSlice int
	// Workers syncing Services [--concurrent-service-endpoint-syncs];
	// default 5.
	Workers int
	// StaleRetry is how long a Service whose slices the cache does not
	// show yet waits before it is synced again; default 100 ms.
	StaleRetry time.Duration
	// StaleTTL bounds that wait: an expectation older than it is given
	// up (a lost event); default 30 s.
	StaleTTL time.Duration
}

// Controller writes the EndpointSlices of Services with selectors. See
// the package doc.
type Controller struct {
	cfg      Config
	client   kubernetes.Interface
	services corelisters.ServiceLister
	pods     corelisters.PodLister
	nodes    corelisters.NodeLister
	slices   discoverylisters.EndpointSliceLister
	synced   []cache.InformerSynced
	queue    controllers.Queue
	recorder record.EventRecorder
	log      *slog.Logger
	now      func() time.Time
	tracker  *tracker
}

// New builds the controller with the default Config.
func New(cctx *controllers.Context) *Controller { return NewWithConfig(cctx, Config{}) }

// NewWithConfig builds the controller and registers its handlers. No IO.
func NewWithConfig(cctx *controllers.Context, cfg Config) *Controller {
	if cfg.MaxEndpointsPerSlice < 1 {
		cfg.MaxEndpointsPerSlice = DefaultMaxEndpointsPerSlice
	}
	cfg.MaxEndpointsPerSlice = min(cfg.MaxEndpointsPerSlice, 1000)
	if cfg.Workers < 1 {
		cfg.Workers = 5
	}
	if cfg.StaleRetry <= 0 {
		cfg.StaleRetry = 100 * time.Millisecond
	}
	if cfg.StaleTTL <= 0 {
		cfg.StaleTTL = 30 * time.Second
	}
	svcInf := cctx.Informers.Core().V1().Services()
	podInf := cctx.Informers.Core().V1().Pods()
	nodeInf := cctx.Informers.Core().V1().Nodes()
	sliceInf := cctx.Informers.Discovery().V1().EndpointSlices()
	now := cctx.Now
	if now == nil {
		now = time.Now
	}
	c := &Controller{
		cfg:      cfg,
		client:   cctx.Client,
		services: svcInf.Lister(),
		pods:     podInf.Lister(),
		nodes:    nodeInf.Lister(),
		slices:   sliceInf.Lister(),
		synced: []cache.InformerSynced{svcInf.Informer().HasSynced, podInf.Informer().HasSynced,
			nodeInf.Informer().HasSynced, sliceInf.Informer().HasSynced},
		queue:    controllers.NewQueue("endpointslice"),
		recorder: cctx.RecorderFor("endpoint-slice-controller"),
		log:      cctx.Logger.With("controller", "endpointslice"),
		now:      now,
		tracker:  newTracker(cfg.StaleTTL),
	}
	svcInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { controllers.Enqueue(c.queue, obj) },
		UpdateFunc: func(_, obj any) { controllers.Enqueue(c.queue, obj) },
		DeleteFunc: func(obj any) { controllers.Enqueue(c.queue, obj) },
	})
	podInf.Informer().AddEventHandler(endpoints.PodHandler(c.services, func(svc *corev1.Service) { controllers.Enqueue(c.queue, svc) }))
	sliceInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueSliceOwner,
		UpdateFunc: func(_, obj any) { c.enqueueSliceOwner(obj) },
		DeleteFunc: c.enqueueSliceOwner,
	})
	nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { c.enqueueAll() },
		UpdateFunc: func(oldObj, obj any) {
			old, ok1 := oldObj.(*corev1.Node)
			cur, ok2 := obj.(*corev1.Node)
			if ok1 && ok2 && old.Labels[LabelZone] != cur.Labels[LabelZone] {
				c.enqueueAll()
			}
		},
	})
	return c
}

// enqueueSliceOwner queues the Service a managed slice belongs to, so a
// slice edited or deleted by someone else is put right.
func (c *Controller) enqueueSliceOwner(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || s.Labels[discoveryv1.LabelManagedBy] != ControllerName || s.Labels[discoveryv1.LabelServiceName] == "" {
		return
	}
	c.queue.Add(s.Namespace + "/" + s.Labels[discoveryv1.LabelServiceName])
}

// enqueueAll queues every Service with a selector: a node's zone
// changed (rare), and the zone is in the endpoints of its pods.
func (c *Controller) enqueueAll() {
	all, _ := c.services.List(labels.Everything())
	for _, svc := range all {
		if len(svc.Spec.Selector) > 0 {
			controllers.Enqueue(c.queue, svc)
		}
	}
}

// Run syncs Services until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	return controllers.RunWorkers(ctx, "endpointslice", c.log, c.queue, c.cfg.Workers, c.sync, c.synced...)
}

func (c *Controller) zone(node string) string {
	n, err := c.nodes.Get(node)
	if err != nil {
		return ""
	}
	return n.Labels[LabelZone]
}

// managedSlices are the cached slices labelled as svc's and ours.
func (c *Controller) managedSlices(ns, name string) ([]*discoveryv1.EndpointSlice, error) {
	return c.slices.EndpointSlices(ns).List(labels.SelectorFromSet(labels.Set{
		discoveryv1.LabelServiceName: name,
		discoveryv1.LabelManagedBy:   ControllerName,
	}))
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	existing, err := c.managedSlices(ns, name)
	if err != nil {
		return err
	}
	now := c.now()
	if c.tracker.stale(key, existing, now) {
		c.queue.AddAfter(key, c.cfg.StaleRetry)
		return nil
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		// The garbage collector would delete them too (they are owned by
		// the Service); do not wait for it.
		var errs []error
		for _, s := range existing {
			if err := c.client.DiscoveryV1().EndpointSlices(ns).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
		if len(errs) == 0 {
			c.tracker.forget(key)
		}
		return errors.Join(errs...)
	}
	if err != nil {
		return err
	}
	var pods []*corev1.Pod
	if len(svc.Spec.Selector) == 0 || svc.Spec.Type == corev1.ServiceTypeExternalName {
		if len(svc.Spec.Selector) == 0 && len(existing) == 0 {
			return nil // the user's (or a mirror's) slices; nothing of ours
		}
		// Ours from when it had a selector: they go (a placeholder stays
		// only for a Service with a selector).
		return c.apply(ctx, key, svc, Plan{Delete: existing})
	}
	if pods, err = endpoints.SelectedPods(c.pods, svc); err != nil {
		return err
	}
	plan := Reconcile(svc, pods, c.zone, existing, c.cfg.MaxEndpointsPerSlice)
	return c.apply(ctx, key, svc, plan)
}

// apply writes a plan: updates first (so endpoints moving between slices
// are never missing), then creates, then deletes. Each write is recorded
// in the tracker.
func (c *Controller) apply(ctx context.Context, key string, svc *corev1.Service, plan Plan) error {
	api := c.client.DiscoveryV1().EndpointSlices(svc.Namespace)
	var errs []error
	for _, s := range plan.Update {
		oldRV := s.ResourceVersion
		if _, err := api.Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("update EndpointSlice %s: %w", s.Name, err))
			continue
		}
		c.tracker.updated(key, s.Name, oldRV, c.now())
	}
	for _, s := range plan.Create {
		got, err := api.Create(ctx, s, metav1.CreateOptions{})
		if err != nil {
			if apierrors.IsForbidden(err) { // a terminating namespace
				return nil
			}
			errs = append(errs, fmt.Errorf("create EndpointSlice for %s: %w", key, err))
			continue
		}
		c.tracker.created(key, got.Name, c.now())
	}
	for _, s := range plan.Delete {
		if err := api.Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete EndpointSlice %s: %w", s.Name, err))
			continue
		}
		c.tracker.deleted(key, s.Name, c.now())
	}
	if err := errors.Join(errs...); err != nil {
		if !onlyConflicts(errs) {
			c.recorder.Eventf(svc, corev1.EventTypeWarning, "FailedToUpdateEndpointSlices", "Error updating Endpoint Slices for Service %s: %v", key, err)
		}
		return fmt.Errorf("endpointslice: %w", err)
	}
	return nil
}

func onlyConflicts(errs []error) bool {
	for _, err := range errs {
		if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			return false
		}
	}
	return true
}
