package serviceaccount

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/kelson-dev/kelson/controllers"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// Config configures the controller; zero values mean the defaults.
type Config struct {
	// Names of the ServiceAccounts every namespace has; default
	// ["default"].
	Names []string
	// Workers syncing namespaces; default 1.
	Workers int
}

// Controller ensures the ServiceAccounts. See the package doc.
type Controller struct {
	cfg        Config
	client     kubernetes.Interface
	namespaces corelisters.NamespaceLister
	accounts   corelisters.ServiceAccountLister
	synced     []cache.InformerSynced
	queue      controllers.Queue
	log        *slog.Logger
}

// New builds the controller with the default Config.
func New(cctx *controllers.Context) *Controller { return NewWithConfig(cctx, Config{}) }

// NewWithConfig builds the controller and registers its handlers. No IO.
func NewWithConfig(cctx *controllers.Context, cfg Config) *Controller {
	if len(cfg.Names) == 0 {
		cfg.Names = []string{"default"}
	}
	if cfg.Workers < 1 {
		cfg.Workers = 1
	}
	ns := cctx.Informers.Core().V1().Namespaces()
	sa := cctx.Informers.Core().V1().ServiceAccounts()
	c := &Controller{
		cfg:        cfg,
		client:     cctx.Client,
		namespaces: ns.Lister(),
		accounts:   sa.Lister(),
		synced:     []cache.InformerSynced{ns.Informer().HasSynced, sa.Informer().HasSynced},
		queue:      controllers.NewQueue("serviceaccount"),
		log:        cctx.Logger.With("controller", "serviceaccount"),
	}
	ns.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { controllers.Enqueue(c.queue, obj) },
		UpdateFunc: func(_, obj any) { controllers.Enqueue(c.queue, obj) },
	})
	sa.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj any) {
			if acc, ok := accountOf(obj); ok && c.wanted(acc.Name) {
				c.queue.Add(acc.Namespace)
			}
		},
	})
	return c
}

func accountOf(obj any) (*corev1.ServiceAccount, bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	sa, ok := obj.(*corev1.ServiceAccount)
	return sa, ok
}

func (c *Controller) wanted(name string) bool {
	for _, n := range c.cfg.Names {
		if n == name {
			return true
		}
	}
	return false
}

// Run syncs namespaces until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	return controllers.RunWorkers(ctx, "serviceaccount", c.log, c.queue, c.cfg.Workers, c.sync, c.synced...)
}

// Missing lists the wanted ServiceAccounts ns lacks, given the names it
// has; none for a terminating namespace.
func Missing(ns *corev1.Namespace, wanted []string, has func(name string) bool) []string {
	if ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating {
		return nil
	}
	var out []string
	for _, n := range wanted {
		if !has(n) {
			out = append(out, n)
		}
	}
	return out
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, err := c.namespaces.Get(key)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	missing := Missing(ns, c.cfg.Names, func(name string) bool {
		_, err := c.accounts.ServiceAccounts(key).Get(name)
		return err == nil
	})
	for _, name := range missing {
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: key}}
		_, err := c.client.CoreV1().ServiceAccounts(key).Create(ctx, sa, metav1.CreateOptions{})
		switch {
		case err == nil:
			c.log.Debug("service account created", "namespace", key, "name", name)
		case apierrors.IsAlreadyExists(err):
		case apierrors.IsForbidden(err) || apierrors.IsNotFound(err):
			// The namespace is terminating or gone: its next event says so.
			return nil
		default:
			return fmt.Errorf("serviceaccount: create %s/%s: %w", key, name, err)
		}
	}
	return nil
}
