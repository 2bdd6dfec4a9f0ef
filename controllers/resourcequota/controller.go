package resourcequota

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// Name is the controller's name in the manager (kube-controller-manager's).
const Name = "resourcequota"

// DefaultResync is how often every quota is recalculated even without a
// change (kube-controller-manager's --resource-quota-sync-period).
const DefaultResync = 5 * time.Minute

// Controller keeps status.hard and status.used of every ResourceQuota.
// Build it with New.
type Controller struct {
	// Resync is the period of full recalculations; zero means
	// DefaultResync. Set it before Run.
	Resync time.Duration

	client kubernetes.Interface
	log    *slog.Logger
	now    func() time.Time
	queue  controllers.Queue

	quotas   corelisters.ResourceQuotaLister
	pods     cache.Indexer
	services cache.Indexer
	claims   cache.Indexer
	// counted are the informers behind count/<key>, by key.
	counted map[string]cache.Indexer
	synced  []cache.InformerSynced
}

// New registers the controller's informer handlers; it does no IO.
func New(cctx *controllers.Context) *Controller {
	f := cctx.Informers
	c := &Controller{
		client:  cctx.Client,
		log:     cctx.Logger.With("controller", Name),
		now:     cctx.Now,
		queue:   controllers.NewQueue(Name),
		counted: map[string]cache.Indexer{},
	}
	quotaInf := f.Core().V1().ResourceQuotas()
	c.quotas = quotaInf.Lister()
	quotaInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { controllers.Enqueue(c.queue, obj) },
		UpdateFunc: func(old, obj any) {
			o, n := old.(*corev1.ResourceQuota), obj.(*corev1.ResourceQuota)
			if !equality.Semantic.DeepEqual(o.Spec, n.Spec) || !equality.Semantic.DeepEqual(n.Spec.Hard, n.Status.Hard) {
				controllers.Enqueue(c.queue, obj)
			}
		},
	})
	c.synced = append(c.synced, quotaInf.Informer().HasSynced)

	watch := func(inf cache.SharedIndexInformer) cache.Indexer {
		inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    c.namespaceChanged,
			UpdateFunc: func(_, obj any) { c.namespaceChanged(obj) },
			DeleteFunc: c.namespaceChanged,
		})
		c.synced = append(c.synced, inf.HasSynced)
		return inf.GetIndexer()
	}
	c.pods = watch(f.Core().V1().Pods().Informer())
	c.services = watch(f.Core().V1().Services().Informer())
	c.claims = watch(f.Core().V1().PersistentVolumeClaims().Informer())
	for key, inf := range map[string]cache.SharedIndexInformer{
		"configmaps":                           f.Core().V1().ConfigMaps().Informer(),
		"secrets":                              f.Core().V1().Secrets().Informer(),
		"serviceaccounts":                      f.Core().V1().ServiceAccounts().Informer(),
		"resourcequotas":                       quotaInf.Informer(),
		"deployments.apps":                     f.Apps().V1().Deployments().Informer(),
		"replicasets.apps":                     f.Apps().V1().ReplicaSets().Informer(),
		"statefulsets.apps":                    f.Apps().V1().StatefulSets().Informer(),
		"daemonsets.apps":                      f.Apps().V1().DaemonSets().Informer(),
		"jobs.batch":                           f.Batch().V1().Jobs().Informer(),
		"cronjobs.batch":                       f.Batch().V1().CronJobs().Informer(),
		"horizontalpodautoscalers.autoscaling": f.Autoscaling().V2().HorizontalPodAutoscalers().Informer(),
		"poddisruptionbudgets.policy":          f.Policy().V1().PodDisruptionBudgets().Informer(),
	} {
		if key == "resourcequotas" {
			// Adding or removing a quota changes the others' count.
			inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: c.namespaceChanged, DeleteFunc: c.namespaceChanged})
			c.counted[key] = inf.GetIndexer()
			continue
		}
		c.counted[key] = watch(inf)
	}
	return c
}

// Run recalculates quotas until ctx ends: on every change of what they
// count, and all of them every Resync.
func (c *Controller) Run(ctx context.Context) error {
	resync := c.Resync
	if resync <= 0 {
		resync = DefaultResync
	}
	go func() {
		t := time.NewTicker(resync)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				c.enqueueAll()
			}
		}
	}()
	return controllers.RunWorkers(ctx, Name, c.log, c.queue, 2, c.sync, c.synced...)
}

func (c *Controller) enqueueAll() {
	qs, err := c.quotas.List(labels.Everything())
	if err != nil {
		return
	}
	for _, q := range qs {
		controllers.Enqueue(c.queue, q)
	}
}

// namespaceChanged enqueues the quotas of obj's namespace.
func (c *Controller) namespaceChanged(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return
	}
	qs, err := c.quotas.ResourceQuotas(m.GetNamespace()).List(labels.Everything())
	if err != nil {
		return
	}
	for _, q := range qs {
		controllers.Enqueue(c.queue, q)
	}
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	q, err := c.quotas.ResourceQuotas(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	objs, err := c.snapshot(ns)
	if err != nil {
		return err
	}
	st := corev1.ResourceQuotaStatus{Hard: q.Spec.Hard.DeepCopy(), Used: Usage(q, objs, c.now())}
	if equality.Semantic.DeepEqual(q.Status, st) {
		return nil
	}
	next := q.DeepCopy()
	next.Status = st
	if _, err := c.client.CoreV1().ResourceQuotas(ns).UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("resourcequota: update status of %s: %w", key, err)
	}
	return nil
}

// snapshot reads namespace ns from the informers.
func (c *Controller) snapshot(ns string) (Objects, error) {
	objs := Objects{Counts: map[string]int64{"replicationcontrollers": 0}} // not served by Kelson
	list := func(idx cache.Indexer) ([]any, error) { return idx.ByIndex(cache.NamespaceIndex, ns) }
	items, err := list(c.pods)
	if err != nil {
		return objs, err
	}
	for _, it := range items {
		objs.Pods = append(objs.Pods, it.(*corev1.Pod))
	}
	if items, err = list(c.services); err != nil {
		return objs, err
	}
	for _, it := range items {
		objs.Services = append(objs.Services, it.(*corev1.Service))
	}
	if items, err = list(c.claims); err != nil {
		return objs, err
	}
	for _, it := range items {
		objs.Claims = append(objs.Claims, it.(*corev1.PersistentVolumeClaim))
	}
	for key, idx := range c.counted {
		if items, err = list(idx); err != nil {
			return objs, err
		}
		objs.Counts[key] = int64(len(items))
	}
	return objs, nil
}
