package job

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

// TTLController deletes finished Jobs whose spec.ttlSecondsAfterFinished
// has passed (kube-controller-manager's "ttl-after-finished"), with
// propagationPolicy Background: the garbage collector then deletes their
// pods.
type TTLController struct {
	client     kubernetes.Interface
	now        func() time.Time
	log        *slog.Logger
	recorder   record.EventRecorder
	jobs       batchlisters.JobLister
	jobsSynced cache.InformerSynced
	queue      controllers.Queue
}

// NewTTLAfterFinished builds the controller; no IO.
func NewTTLAfterFinished(cctx *controllers.Context) *TTLController {
	now := cctx.Now
	if now == nil {
		now = time.Now
	}
	c := &TTLController{
		client:   cctx.Client,
		now:      now,
		log:      cctx.Logger.With("controller", "ttl-after-finished"),
		recorder: cctx.RecorderFor("ttl-after-finished-controller"),
		queue:    controllers.NewQueue("ttl-after-finished"),
	}
	inf := cctx.Informers.Batch().V1().Jobs()
	c.jobs, c.jobsSynced = inf.Lister(), inf.Informer().HasSynced
	enqueue := func(obj any) {
		if j, ok := obj.(*batchv1.Job); ok && j.Spec.TTLSecondsAfterFinished != nil {
			controllers.Enqueue(c.queue, obj)
		}
	}
	inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	})
	return c
}

// Run waits for the cache and deletes expired Jobs until ctx ends.
func (c *TTLController) Run(ctx context.Context) error {
	return controllers.RunWorkers(ctx, "ttl-after-finished", c.log, c.queue, 2, c.sync, c.jobsSynced)
}

// ttlExpiry decides for one Job: whether it is due for deletion, and if
// not yet, how long until it is. due and wait are both zero when the Job
// has no TTL, is not finished or is already being deleted.
func ttlExpiry(job *batchv1.Job, now time.Time) (due bool, wait time.Duration, finishedAt time.Time) {
	if job.Spec.TTLSecondsAfterFinished == nil || job.DeletionTimestamp != nil {
		return false, 0, time.Time{}
	}
	for _, cond := range job.Status.Conditions {
		if (cond.Type == batchv1.JobComplete || cond.Type == batchv1.JobFailed) && cond.Status == corev1.ConditionTrue {
			finishedAt = cond.LastTransitionTime.Time
			break
		}
	}
	if finishedAt.IsZero() {
		return false, 0, time.Time{}
	}
	expires := finishedAt.Add(time.Duration(*job.Spec.TTLSecondsAfterFinished) * time.Second)
	if now.Before(expires) {
		return false, expires.Sub(now), finishedAt
	}
	return true, 0, finishedAt
}

func (c *TTLController) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	job, err := c.jobs.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	due, wait, _ := ttlExpiry(job, c.now())
	if wait > 0 {
		c.queue.AddAfter(key, wait)
	}
	if !due {
		return nil
	}
	// The cache may be behind a user's change of the TTL: decide again on
	// the live Job, and delete only that version of it.
	live, err := c.client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ttl-after-finished: get job %s: %w", key, err)
	}
	due, wait, finishedAt := ttlExpiry(live, c.now())
	if wait > 0 {
		c.queue.AddAfter(key, wait)
	}
	if !due {
		return nil
	}
	bg := metav1.DeletePropagationBackground
	err = c.client.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{
		PropagationPolicy: &bg,
		Preconditions:     &metav1.Preconditions{UID: &live.UID, ResourceVersion: &live.ResourceVersion},
	})
	switch {
	case err == nil:
		c.recorder.Eventf(live, corev1.EventTypeNormal, "SuccessfulDelete",
			"Deleted job %s: it finished at %s and its ttlSecondsAfterFinished (%ds) has passed",
			name, finishedAt.UTC().Format(time.RFC3339), *live.Spec.TTLSecondsAfterFinished)
		return nil
	case apierrors.IsNotFound(err):
		return nil
	default:
		return fmt.Errorf("ttl-after-finished: delete job %s: %w", key, err)
	}
}
