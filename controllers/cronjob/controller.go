package cronjob

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

// Controller is the CronJob controller. Build it with New; Run syncs
// CronJobs until its context ends.
type Controller struct {
	client   kubernetes.Interface
	now      func() time.Time
	log      *slog.Logger
	recorder record.EventRecorder

	cronJobs       batchlisters.CronJobLister
	cronJobsSynced cache.InformerSynced
	jobs           cache.Indexer
	jobsSynced     cache.InformerSynced
	byOwnerIndex   bool

	queue controllers.Queue

	mu sync.Mutex
	// lastEvent remembers, per CronJob key and reason, the message of the
	// last Event recorded that does not come with a status change
	// (JobAlreadyActive, MissSchedule, ...), so each sync of an unchanged
	// situation does not record it again.
	lastEvent map[string]string
}

// jobOwnerIndex indexes Jobs by their controlling CronJob's key.
const jobOwnerIndex = "kelson.dev/cronjob-controller-owner"

// New builds the controller: it asks cctx's informer factory for CronJobs
// and Jobs and registers its handlers. No IO. Decisions use cctx.Now.
func New(cctx *controllers.Context) *Controller {
	now := cctx.Now
	if now == nil {
		now = time.Now
	}
	c := &Controller{
		client:    cctx.Client,
		now:       now,
		log:       cctx.Logger.With("controller", "cronjob"),
		recorder:  cctx.RecorderFor("cronjob-controller"),
		queue:     controllers.NewQueue("cronjob"),
		lastEvent: map[string]string{},
	}
	cjInf := cctx.Informers.Batch().V1().CronJobs()
	c.cronJobs, c.cronJobsSynced = cjInf.Lister(), cjInf.Informer().HasSynced
	jobInf := cctx.Informers.Batch().V1().Jobs().Informer()
	c.jobs, c.jobsSynced = jobInf.GetIndexer(), jobInf.HasSynced
	if err := jobInf.AddIndexers(cache.Indexers{jobOwnerIndex: ownerIndex}); err == nil {
		c.byOwnerIndex = true
	} else if _, ok := c.jobs.GetIndexers()[jobOwnerIndex]; ok {
		c.byOwnerIndex = true
	} else {
		c.log.Warn("jobs are not indexed by CronJob; syncs filter every job", "err", err)
	}

	enqueue := func(obj any) { controllers.Enqueue(c.queue, obj) }
	cjInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: func(obj any) {
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				c.forgetEvents(key)
			}
		},
	})
	enqueueOwner := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		if j, ok := obj.(*batchv1.Job); ok {
			if key, ok := cronJobKey(j); ok {
				c.queue.Add(key)
			}
		}
	}
	jobInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueueOwner,
		UpdateFunc: func(_, obj any) { enqueueOwner(obj) },
		DeleteFunc: enqueueOwner,
	})
	return c
}

func ownerIndex(obj any) ([]string, error) {
	if j, ok := obj.(*batchv1.Job); ok {
		if key, ok := cronJobKey(j); ok {
			return []string{key}, nil
		}
	}
	return nil, nil
}

// cronJobKey is the key of the CronJob controlling j, if one does.
func cronJobKey(j *batchv1.Job) (string, bool) {
	ref := metav1.GetControllerOf(j)
	if ref == nil || ref.Kind != "CronJob" || ref.APIVersion != batchv1.SchemeGroupVersion.String() {
		return "", false
	}
	return j.Namespace + "/" + ref.Name, true
}

// Run waits for the caches and syncs CronJobs until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	return controllers.RunWorkers(ctx, "cronjob", c.log, c.queue, 5, c.sync, c.cronJobsSynced, c.jobsSynced)
}

// jobsOf lists the cached Jobs cj controls.
func (c *Controller) jobsOf(key string, uid types.UID) []*batchv1.Job {
	var objs []any
	if c.byOwnerIndex {
		objs, _ = c.jobs.ByIndex(jobOwnerIndex, key)
	} else {
		objs = c.jobs.List()
	}
	var out []*batchv1.Job
	for _, obj := range objs {
		if j, ok := obj.(*batchv1.Job); ok {
			if ref := metav1.GetControllerOf(j); ref != nil && ref.UID == uid {
				out = append(out, j)
			}
		}
	}
	return out
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cj, err := c.cronJobs.CronJobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	jobs := c.jobsOf(key, cj.UID)
	// A Job in status.active that the cache does not show may be one this
	// controller just created: ask the API before calling it missing.
	for _, ref := range cj.Status.Active {
		if containsUID(jobs, ref.UID) {
			continue
		}
		j, err := c.client.BatchV1().Jobs(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		switch {
		case err == nil && j.UID == ref.UID:
			jobs = append(jobs, j)
		case err != nil && !apierrors.IsNotFound(err):
			return fmt.Errorf("cronjob: get job %s/%s: %w", ns, ref.Name, err)
		}
	}

	plan := Decide(cj, jobs, c.now())

	for _, j := range plan.DeleteActive {
		if err := c.deleteJob(ctx, cj, j, "concurrency policy Replace"); err != nil {
			return err
		}
	}
	if plan.Create != nil {
		created, err := c.client.BatchV1().Jobs(ns).Create(ctx, plan.Create, metav1.CreateOptions{})
		switch {
		case err == nil:
			c.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulCreate", "Created job %s", created.Name)
		case apierrors.IsAlreadyExists(err):
			// Another term (or a lost status write) created it first.
			existing, gerr := c.client.BatchV1().Jobs(ns).Get(ctx, plan.Create.Name, metav1.GetOptions{})
			if gerr != nil {
				return fmt.Errorf("cronjob: get job %s/%s: %w", ns, plan.Create.Name, gerr)
			}
			if ref := metav1.GetControllerOf(existing); ref == nil || ref.UID != cj.UID {
				c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedCreate", "Error creating job: %s exists and is not controlled by this CronJob", existing.Name)
				return fmt.Errorf("cronjob: job %s/%s exists and is not ours: %w", ns, existing.Name, err)
			}
			created = existing
		default:
			c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedCreate", "Error creating job: %v", err)
			return fmt.Errorf("cronjob: create job for %s: %w", key, err)
		}
		for i := range plan.Status.Active {
			if plan.Status.Active[i].Name == created.Name {
				plan.Status.Active[i] = jobRef(created)
			}
		}
	}
	if !equality.Semantic.DeepEqual(cj.Status, plan.Status) {
		updated := cj.DeepCopy()
		updated.Status = plan.Status
		if _, err := c.client.BatchV1().CronJobs(ns).UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("cronjob: update status of %s: %w", key, err)
		}
	}
	c.recordEvents(cj, key, plan.Events)

	var errs []error
	for _, j := range plan.DeleteHistory {
		if err := c.deleteJob(ctx, cj, j, "history limit"); err != nil {
			errs = append(errs, err)
		}
	}
	if plan.RequeueAfter > 0 {
		c.queue.AddAfter(key, plan.RequeueAfter)
	}
	return errors.Join(errs...)
}

func containsUID(jobs []*batchv1.Job, uid types.UID) bool {
	for _, j := range jobs {
		if j.UID == uid {
			return true
		}
	}
	return false
}

// repeatable: Events of this reason describe a standing situation rather
// than a change; they are recorded when their message changes.
func repeatable(reason string) bool {
	switch reason {
	case "JobAlreadyActive", "MissSchedule", "TooManyMissedTimes", "UnknownTimeZone", "UnparseableSchedule":
		return true
	}
	return false
}

func (c *Controller) recordEvents(cj *batchv1.CronJob, key string, events []Event) {
	for _, ev := range events {
		if repeatable(ev.Reason) {
			id := key + "\x00" + ev.Reason
			c.mu.Lock()
			seen := c.lastEvent[id] == ev.Message
			c.lastEvent[id] = ev.Message
			c.mu.Unlock()
			if seen {
				continue
			}
		}
		c.recorder.Event(cj, ev.Type, ev.Reason, ev.Message)
	}
}

func (c *Controller) forgetEvents(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, reason := range []string{"JobAlreadyActive", "MissSchedule", "TooManyMissedTimes", "UnknownTimeZone", "UnparseableSchedule"} {
		delete(c.lastEvent, key+"\x00"+reason)
	}
}

// deleteJob deletes a Job with propagationPolicy Background (the garbage
// collector removes its pods).
func (c *Controller) deleteJob(ctx context.Context, cj *batchv1.CronJob, j *batchv1.Job, why string) error {
	bg := metav1.DeletePropagationBackground
	uid := j.UID
	err := c.client.BatchV1().Jobs(j.Namespace).Delete(ctx, j.Name, metav1.DeleteOptions{
		PropagationPolicy: &bg, Preconditions: &metav1.Preconditions{UID: &uid},
	})
	switch {
	case err == nil:
		c.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted job %s (%s)", j.Name, why)
		return nil
	case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
		return nil
	default:
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedDelete", "Deleted job %s failed: %v", j.Name, err)
		return fmt.Errorf("cronjob: delete job %s/%s: %w", j.Namespace, j.Name, err)
	}
}
