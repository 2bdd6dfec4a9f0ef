package bootstraptoken

import (
	"context"
	"log/slog"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/internal/bootstraptoken"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// CleanerName is the cleaner's name in --disable and logs, as
// kube-controller-manager's.
const CleanerName = "tokencleaner"

// Cleaner deletes bootstrap token Secrets whose expiration has passed.
type Cleaner struct {
	client  kubernetes.Interface
	secrets corelisters.SecretLister
	synced  cache.InformerSynced
	queue   controllers.Queue
	now     func() time.Time
	log     *slog.Logger
}

// NewCleaner builds the cleaner and registers its handlers. No IO.
func NewCleaner(cctx *controllers.Context) *Cleaner {
	inf := cctx.Informers.Core().V1().Secrets()
	c := &Cleaner{
		client:  cctx.Client,
		secrets: inf.Lister(),
		synced:  inf.Informer().HasSynced,
		queue:   controllers.NewQueue(CleanerName),
		now:     cctx.Now,
		log:     cctx.Logger.With("controller", CleanerName),
	}
	if c.now == nil {
		c.now = time.Now
	}
	inf.Informer().AddEventHandler(cache.FilteringResourceEventHandler{
		FilterFunc: func(obj any) bool {
			s, ok := obj.(*corev1.Secret)
			return ok && s.Namespace == bootstraptoken.Namespace && s.Type == bootstraptoken.SecretType
		},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { controllers.Enqueue(c.queue, obj) },
			UpdateFunc: func(_, obj any) { controllers.Enqueue(c.queue, obj) },
		},
	})
	return c
}

// Run deletes expired token Secrets until ctx ends.
func (c *Cleaner) Run(ctx context.Context) error {
	return controllers.RunWorkers(ctx, CleanerName, c.log, c.queue, 1, c.sync, c.synced)
}

// Due says what to do with a token Secret at now: delete it (expired), or
// look again after wait (zero: never, no expiration). A Secret that is no
// valid token Secret is left alone.
func Due(s *corev1.Secret, now time.Time) (remove bool, wait time.Duration) {
	in, err := bootstraptoken.Read(s)
	if err != nil || in.Expires.IsZero() {
		return false, 0
	}
	if in.Expired(now) {
		return true, 0
	}
	return false, in.Expires.Sub(now)
}

func (c *Cleaner) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	s, err := c.secrets.Secrets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	remove, wait := Due(s, c.now())
	if !remove {
		if wait > 0 {
			c.queue.AddAfter(key, wait+time.Second)
		}
		return nil
	}
	uid := s.UID
	err = c.client.CoreV1().Secrets(ns).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return err
	}
	c.log.Info("deleted an expired bootstrap token", "secret", key)
	return nil
}
