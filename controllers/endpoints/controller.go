package endpoints

import (
	"context"
	"fmt"
	"log/slog"
	"maps"

	"github.com/kelson-dev/kelson/controllers"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

// Config configures the controller; zero values mean the defaults.
type Config struct {
	// Workers syncing Services [--concurrent-endpoint-syncs]; default 5.
	Workers int
}

// Controller writes the Endpoints of Services with selectors. See the
// package doc.
type Controller struct {
	cfg       Config
	client    kubernetes.Interface
	services  corelisters.ServiceLister
	pods      corelisters.PodLister
	endpoints corelisters.EndpointsLister
	synced    []cache.InformerSynced
	queue     controllers.Queue
	recorder  record.EventRecorder
	log       *slog.Logger
}

// New builds the controller with the default Config.
func New(cctx *controllers.Context) *Controller { return NewWithConfig(cctx, Config{}) }

// NewWithConfig builds the controller and registers its handlers. No IO.
func NewWithConfig(cctx *controllers.Context, cfg Config) *Controller {
	if cfg.Workers < 1 {
		cfg.Workers = 5
	}
	svcInf := cctx.Informers.Core().V1().Services()
	podInf := cctx.Informers.Core().V1().Pods()
	epInf := cctx.Informers.Core().V1().Endpoints()
	c := &Controller{
		cfg:       cfg,
		client:    cctx.Client,
		services:  svcInf.Lister(),
		pods:      podInf.Lister(),
		endpoints: epInf.Lister(),
		synced:    []cache.InformerSynced{svcInf.Informer().HasSynced, podInf.Informer().HasSynced, epInf.Informer().HasSynced},
		queue:     controllers.NewQueue("endpoint"),
		recorder:  cctx.RecorderFor("endpoint-controller"),
		log:       cctx.Logger.With("controller", "endpoint"),
	}
	svcInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { controllers.Enqueue(c.queue, obj) },
		UpdateFunc: func(_, obj any) { controllers.Enqueue(c.queue, obj) },
		DeleteFunc: func(obj any) { controllers.Enqueue(c.queue, obj) },
	})
	podInf.Informer().AddEventHandler(PodHandler(c.services, func(svc *corev1.Service) { controllers.Enqueue(c.queue, svc) }))
	epInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		// A deleted Endpoints object of a Service with a selector comes back.
		DeleteFunc: func(obj any) { controllers.Enqueue(c.queue, obj) },
	})
	return c
}

// PodHandler calls enqueue for every Service selecting a pod that was
// added or deleted, or whose update can change its endpoints (before or
// after the update).
func PodHandler(services corelisters.ServiceLister, enqueue func(*corev1.Service)) cache.ResourceEventHandler {
	each := func(pod *corev1.Pod) {
		for _, svc := range ServicesSelecting(services, pod) {
			enqueue(svc)
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if pod, ok := obj.(*corev1.Pod); ok {
				each(pod)
			}
		},
		UpdateFunc: func(oldObj, obj any) {
			old, ok1 := oldObj.(*corev1.Pod)
			cur, ok2 := obj.(*corev1.Pod)
			if !ok1 || !ok2 || !PodChanged(old, cur) {
				return
			}
			each(cur)
			if !maps.Equal(old.Labels, cur.Labels) {
				each(old)
			}
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				each(pod)
			}
		},
	}
}

// Run syncs Services until ctx ends. Once the caches are in, it also
// queues the managed Endpoints whose Service went while no controller
// ran, so they are deleted.
func (c *Controller) Run(ctx context.Context) error {
	go func() {
		if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
			return
		}
		eps, _ := c.endpoints.List(labels.SelectorFromSet(labels.Set{LabelSkipMirror: "true"}))
		for _, ep := range eps {
			if _, err := c.services.Services(ep.Namespace).Get(ep.Name); apierrors.IsNotFound(err) {
				controllers.Enqueue(c.queue, ep)
			}
		}
	}()
	return controllers.RunWorkers(ctx, "endpoint", c.log, c.queue, c.cfg.Workers, c.sync, c.synced...)
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		// The Service is gone: so are its Endpoints.
		if _, err := c.endpoints.Endpoints(ns).Get(name); err != nil {
			return nil
		}
		err := c.client.CoreV1().Endpoints(ns).Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("endpoints: delete %s: %w", key, err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if len(svc.Spec.Selector) == 0 || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil // user-managed Endpoints, or none
	}
	pods, err := SelectedPods(c.pods, svc)
	if err != nil {
		return err
	}
	want := Desired(svc, pods)
	cur, err := c.endpoints.Endpoints(ns).Get(name)
	if apierrors.IsNotFound(err) {
		if _, err := c.client.CoreV1().Endpoints(ns).Create(ctx, want, metav1.CreateOptions{}); err != nil {
			if apierrors.IsForbidden(err) { // a terminating namespace
				return nil
			}
			// AlreadyExists too: the cache is behind; retry once it is not.
			if !apierrors.IsAlreadyExists(err) {
				c.recorder.Eventf(svc, corev1.EventTypeWarning, "FailedToCreateEndpoint", "Failed to create endpoint for service %s: %v", key, err)
			}
			return fmt.Errorf("endpoints: create %s: %w", key, err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if !NeedsUpdate(cur, want) {
		return nil
	}
	next := cur.DeepCopy()
	next.Labels, next.Subsets = want.Labels, want.Subsets
	if next.Annotations == nil {
		next.Annotations = map[string]string{}
	}
	delete(next.Annotations, AnnotationOverCapacity)
	maps.Copy(next.Annotations, want.Annotations)
	// Conditioned on the cached resourceVersion: a conflict re-syncs.
	if _, err := c.client.CoreV1().Endpoints(ns).Update(ctx, next, metav1.UpdateOptions{}); err != nil {
		if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			c.recorder.Eventf(svc, corev1.EventTypeWarning, "FailedToUpdateEndpoint", "Failed to update endpoint %s: %v", key, err)
		}
		return fmt.Errorf("endpoints: update %s: %w", key, err)
	}
	return nil
}

// NeedsUpdate reports whether cur differs from want in what the
// controller owns: subsets (compared semantically), labels and the
// over-capacity annotation.
func NeedsUpdate(cur, want *corev1.Endpoints) bool {
	return !apiequality.Semantic.DeepEqual(cur.Subsets, want.Subsets) ||
		!maps.Equal(cur.Labels, want.Labels) ||
		cur.Annotations[AnnotationOverCapacity] != want.Annotations[AnnotationOverCapacity]
}
