package rootcacert

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/kelson-dev/kelson/controllers"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// Controller keeps kube-root-ca.crt in every namespace. See the package
// doc.
type Controller struct {
	ca         string
	client     kubernetes.Interface
	namespaces corelisters.NamespaceLister
	configMaps corelisters.ConfigMapLister
	// cmInformer watches only ConfigMaps named kube-root-ca.crt; it is
	// this controller's own (the shared factory's would hold every
	// ConfigMap), started by Run.
	cmInformer cache.SharedIndexInformer
	synced     []cache.InformerSynced
	queue      controllers.Queue
	log        *slog.Logger
}

// New builds the controller publishing caPEM (the cluster CA's
// certificate, PEM) and registers its handlers; no IO. With an empty
// caPEM there is nothing to publish: it returns nil.
func New(cctx *controllers.Context, caPEM []byte) *Controller {
	if len(caPEM) == 0 {
		return nil
	}
	ns := cctx.Informers.Core().V1().Namespaces()
	cmInformer := coreinformers.NewFilteredConfigMapInformer(cctx.Client, metav1.NamespaceAll, controllers.ResyncPeriod,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc},
		func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", ConfigMapName).String()
		})
	c := &Controller{
		ca:         string(caPEM),
		client:     cctx.Client,
		namespaces: ns.Lister(),
		configMaps: corelisters.NewConfigMapLister(cmInformer.GetIndexer()),
		cmInformer: cmInformer,
		synced:     []cache.InformerSynced{ns.Informer().HasSynced, cmInformer.HasSynced},
		queue:      controllers.NewQueue(Name),
		log:        cctx.Logger.With("controller", Name),
	}
	ns.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { controllers.Enqueue(c.queue, obj) },
		UpdateFunc: func(_, obj any) { controllers.Enqueue(c.queue, obj) },
	})
	enqueueNS := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		if cm, ok := obj.(*corev1.ConfigMap); ok && cm.Name == ConfigMapName {
			c.queue.Add(cm.Namespace)
		}
	}
	cmInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueueNS,
		UpdateFunc: func(_, obj any) { enqueueNS(obj) },
		DeleteFunc: enqueueNS,
	})
	return c
}

// Run syncs namespaces until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	go c.cmInformer.Run(ctx.Done())
	return controllers.RunWorkers(ctx, Name, c.log, c.queue, 1, c.sync, c.synced...)
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, err := c.namespaces.Get(key)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	cm, err := c.configMaps.ConfigMaps(key).Get(ConfigMapName)
	if apierrors.IsNotFound(err) {
		cm, err = nil, nil
	}
	if err != nil {
		return err
	}
	d := Decide(ns, cm, c.ca)
	cms := c.client.CoreV1().ConfigMaps(key)
	switch d.Action {
	case Create:
		_, err := cms.Create(ctx, d.ConfigMap, metav1.CreateOptions{})
		switch {
		case err == nil:
			c.log.Debug("published the cluster CA", "namespace", key)
		case apierrors.IsAlreadyExists(err):
			// A stale cache: the watch brings the object, whose sync checks it.
		case apierrors.IsForbidden(err) || apierrors.IsNotFound(err):
			// The namespace is terminating or gone: its next event says so.
		default:
			return fmt.Errorf("rootcacert: create configmap %s/%s: %w", key, ConfigMapName, err)
		}
	case Update:
		if _, err := cms.Update(ctx, d.ConfigMap, metav1.UpdateOptions{}); err != nil {
			// A conflict or a deletion under way: retried with back-off
			// (a deleted ConfigMap's event re-queues the namespace too).
			return fmt.Errorf("rootcacert: update configmap %s/%s: %w", key, ConfigMapName, err)
		}
		c.log.Debug("restored the published cluster CA", "namespace", key)
	}
	return nil
}
