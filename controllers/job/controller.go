package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/controllers/expectations"
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

// Controller is the Job controller. Build it with New; Run syncs Jobs
// until its context ends.
type Controller struct {
	client   kubernetes.Interface
	cfg      Config
	now      func() time.Time
	log      *slog.Logger
	recorder record.EventRecorder

	jobs       batchlisters.JobLister
	jobsSynced cache.InformerSynced
	pods       cache.Indexer
	podsSynced cache.InformerSynced
	// byOwnerIndex: the pod indexer has podOwnerIndex (false only if the
	// shared informer refused the indexer; then pods are filtered).
	byOwnerIndex bool

	queue controllers.Queue
	exp   *expectations.Expectations
	// finalizers: pods whose tracking-finalizer removal was sent and not
	// yet seen, so a sync does not send it again.
	finalizers *expectations.InFlight

	mu sync.Mutex
	// backoffEvents remembers, per Job key, the failure count whose
	// BackOff event was recorded, so a back-off is announced once.
	backoffEvents map[string]int
}

// podOwnerIndex indexes pods by their controlling Job's key
// ("namespace/name").
const podOwnerIndex = "kelson.dev/job-controller-owner"

// New builds the controller with the default Config.
func New(cctx *controllers.Context) *Controller { return NewWithConfig(cctx, Config{}) }

// NewWithConfig builds the controller: it asks cctx's informer factory for
// Jobs and Pods and registers its handlers. No IO.
func NewWithConfig(cctx *controllers.Context, cfg Config) *Controller {
	now := cctx.Now
	if now == nil {
		now = time.Now
	}
	c := &Controller{
		client:        cctx.Client,
		cfg:           cfg.withDefaults(),
		now:           now,
		log:           cctx.Logger.With("controller", "job"),
		recorder:      cctx.RecorderFor("job-controller"),
		queue:         controllers.NewQueue("job"),
		exp:           expectations.New(0),
		finalizers:    expectations.NewInFlight(0),
		backoffEvents: map[string]int{},
	}
	jobInf := cctx.Informers.Batch().V1().Jobs()
	c.jobs, c.jobsSynced = jobInf.Lister(), jobInf.Informer().HasSynced
	podInf := cctx.Informers.Core().V1().Pods().Informer()
	c.pods, c.podsSynced = podInf.GetIndexer(), podInf.HasSynced
	if err := podInf.AddIndexers(cache.Indexers{podOwnerIndex: ownerIndex}); err == nil {
		c.byOwnerIndex = true
	} else if _, ok := c.pods.GetIndexers()[podOwnerIndex]; ok {
		c.byOwnerIndex = true
	} else {
		c.log.Warn("pods are not indexed by Job; syncs filter every pod", "err", err)
	}

	enqueue := func(obj any) { controllers.Enqueue(c.queue, obj) }
	jobInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	})
	podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			pod, ok := obj.(*corev1.Pod)
			if !ok {
				return
			}
			if key, ok := jobKey(pod); ok {
				c.exp.CreationsObserved(key, 1)
				c.observe(key, pod)
				c.queue.Add(key)
			}
		},
		UpdateFunc: func(oldObj, obj any) {
			old, ok1 := oldObj.(*corev1.Pod)
			pod, ok2 := obj.(*corev1.Pod)
			if !ok1 || !ok2 {
				return
			}
			if key, ok := jobKey(pod); ok {
				c.observe(key, pod)
				c.queue.Add(key)
			}
			if key, ok := jobKey(old); ok {
				c.queue.Add(key)
			}
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			pod, ok := obj.(*corev1.Pod)
			if !ok {
				return
			}
			c.finalizers.Done(pod.UID)
			if key, ok := jobKey(pod); ok {
				c.exp.DeletionObserved(key, pod.UID)
				c.queue.Add(key)
			}
		},
	})
	return c
}

// observe settles expectations a pod's new state fulfils.
func (c *Controller) observe(key string, pod *corev1.Pod) {
	if pod.DeletionTimestamp != nil {
		c.exp.DeletionObserved(key, pod.UID)
	}
	if !hasFinalizer(pod) {
		c.finalizers.Done(pod.UID)
	}
}

// ownerIndex indexes a pod under its controlling Job's key.
func ownerIndex(obj any) ([]string, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil
	}
	if key, ok := jobKey(pod); ok {
		return []string{key}, nil
	}
	return nil, nil
}

// jobKey is the key of the Job controlling pod, if one does.
func jobKey(pod *corev1.Pod) (string, bool) {
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.Kind != "Job" || ref.APIVersion != batchv1.SchemeGroupVersion.String() {
		return "", false
	}
	return pod.Namespace + "/" + ref.Name, true
}

// Run waits for the caches and syncs Jobs until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	return controllers.RunWorkers(ctx, "job", c.log, c.queue, c.cfg.Workers, c.sync, c.jobsSynced, c.podsSynced)
}

// podsOf splits the cached pods naming job's key as their controller into
// job's own and orphans (a former Job of the same name).
func (c *Controller) podsOf(key string, uid types.UID) (own, orphans []*corev1.Pod) {
	var objs []any
	if c.byOwnerIndex {
		objs, _ = c.pods.ByIndex(podOwnerIndex, key)
	} else {
		objs = c.pods.List()
	}
	for _, obj := range objs {
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			continue
		}
		if k, ok := jobKey(pod); !ok || k != key {
			continue
		}
		if metav1.GetControllerOf(pod).UID == uid {
			own = append(own, pod)
		} else {
			orphans = append(orphans, pod)
		}
	}
	return own, orphans
}

// sync applies Decide's plan for the Job at key.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	job, err := c.jobs.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.Forget(key)
		c.mu.Lock()
		delete(c.backoffEvents, key)
		c.mu.Unlock()
		_, orphans := c.podsOf(key, "")
		return c.releaseOrphans(ctx, ns, name, orphans)
	}
	if err != nil {
		return err
	}
	if job.Spec.ManagedBy != nil && *job.Spec.ManagedBy != ManagedByDefault {
		return nil
	}
	pods, orphans := c.podsOf(key, job.UID)
	if err := c.releaseOrphans(ctx, ns, name, orphans); err != nil {
		return err
	}
	now := c.now()
	plan := Decide(job, pods, now, c.cfg)
	if plan.NewlyUncounted > 0 {
		// About to count pods for the first time: read them from the API,
		// not the cache. A cache older than the Job's status could show a
		// finalizer already removed and counted (see doc.go).
		if pods, err = c.livePods(ctx, job); err != nil {
			return err
		}
		plan = Decide(job, pods, now, c.cfg)
	}
	if !c.exp.Satisfied(key, now) {
		plan.Create, plan.CreateIndexes, plan.Delete = 0, nil, nil
	}
	if job.DeletionTimestamp != nil {
		plan.Create, plan.CreateIndexes = 0, nil
	}

	if !equality.Semantic.DeepEqual(job.Status, plan.Status) {
		updated := job.DeepCopy()
		updated.Status = plan.Status
		if _, err := c.client.BatchV1().Jobs(ns).UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("job: update status of %s: %w", key, err)
		}
	}
	c.recordEvents(job, key, plan)

	var errs []error
	if err := c.removeFinalizers(ctx, plan.RemoveFinalizers); err != nil {
		errs = append(errs, err)
	}
	if len(plan.Delete) > 0 {
		if err := c.deletePods(ctx, job, key, plan.Delete, plan.DeleteReason); err != nil {
			errs = append(errs, err)
		}
	}
	if plan.Create > 0 || len(plan.CreateIndexes) > 0 {
		if err := c.createPods(ctx, job, key, plan.Create, plan.CreateIndexes); err != nil {
			errs = append(errs, err)
		}
	}
	if plan.RequeueAfter > 0 {
		c.queue.AddAfter(key, plan.RequeueAfter)
	}
	return errors.Join(errs...)
}

func (c *Controller) recordEvents(job *batchv1.Job, key string, plan Plan) {
	c.mu.Lock()
	announced := c.backoffEvents[key]
	if plan.BackoffFailures == 0 {
		delete(c.backoffEvents, key)
	} else {
		c.backoffEvents[key] = plan.BackoffFailures
	}
	c.mu.Unlock()
	for _, ev := range plan.Events {
		if ev.Reason == "BackOff" && announced == plan.BackoffFailures {
			continue
		}
		c.recorder.Event(job, ev.Type, ev.Reason, ev.Message)
	}
}

// livePods lists job's pods from the API (a consistent read).
func (c *Controller) livePods(ctx context.Context, job *batchv1.Job) ([]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("job: selector of %s/%s: %w", job.Namespace, job.Name, err)
	}
	list, err := c.client.CoreV1().Pods(job.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("job: list pods of %s/%s: %w", job.Namespace, job.Name, err)
	}
	var pods []*corev1.Pod
	for i := range list.Items {
		pod := &list.Items[i]
		if ref := metav1.GetControllerOf(pod); ref != nil && ref.UID == job.UID {
			pods = append(pods, pod)
		}
	}
	return pods, nil
}

// releaseOrphans removes the tracking finalizer from pods whose Job is
// gone (after checking with the API that it is).
func (c *Controller) releaseOrphans(ctx context.Context, ns, name string, orphans []*corev1.Pod) error {
	var tracked []*corev1.Pod
	for _, pod := range orphans {
		if hasFinalizer(pod) {
			tracked = append(tracked, pod)
		}
	}
	if len(tracked) == 0 {
		return nil
	}
	live, err := c.client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		live = nil
	case err != nil:
		return fmt.Errorf("job: get %s/%s: %w", ns, name, err)
	}
	var release []*corev1.Pod
	for _, pod := range tracked {
		if live == nil || metav1.GetControllerOf(pod).UID != live.UID {
			release = append(release, pod)
		}
	}
	return c.removeFinalizers(ctx, release)
}

// removeFinalizers removes the tracking finalizer from pods, a few at a
// time, skipping removals already in flight.
func (c *Controller) removeFinalizers(ctx context.Context, pods []*corev1.Pod) error {
	now := c.now()
	var todo []*corev1.Pod
	for _, pod := range pods {
		if c.finalizers.Start(pod.UID, now) {
			todo = append(todo, pod)
		}
	}
	return parallel(ctx, todo, 8, func(pod *corev1.Pod) error {
		err := removeFinalizer(ctx, c.client, pod)
		if err != nil {
			c.finalizers.Done(pod.UID) // let a later sync retry
		}
		return err
	})
}

// removeFinalizer removes the tracking finalizer with a JSON patch that
// tests the entry it removes, re-reading the pod when the cached copy is
// stale.
func removeFinalizer(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod) error {
	for attempt := 0; ; attempt++ {
		ix := -1
		for i, f := range pod.Finalizers {
			if f == TrackingFinalizer {
				ix = i
				break
			}
		}
		if ix < 0 {
			return nil
		}
		patch := fmt.Sprintf(`[{"op":"test","path":"/metadata/finalizers/%d","value":%q},{"op":"remove","path":"/metadata/finalizers/%d"}]`, ix, TrackingFinalizer, ix)
		_, err := client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.JSONPatchType, []byte(patch), metav1.PatchOptions{})
		if err == nil || apierrors.IsNotFound(err) {
			return nil
		}
		if attempt == 2 {
			return fmt.Errorf("job: remove finalizer of pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
		fresh, gerr := client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(gerr) {
			return nil
		}
		if gerr != nil || fresh.UID != pod.UID {
			if gerr == nil {
				return nil // a new pod of the same name: ours is gone
			}
			return fmt.Errorf("job: remove finalizer of pod %s/%s: %w", pod.Namespace, pod.Name, errors.Join(err, gerr))
		}
		pod = fresh
	}
}

func (c *Controller) deletePods(ctx context.Context, job *batchv1.Job, key string, pods []*corev1.Pod, reason string) error {
	now := c.now()
	return parallel(ctx, pods, 8, func(pod *corev1.Pod) error {
		c.exp.ExpectDeletions(key, now, pod.UID)
		uid := pod.UID
		err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		switch {
		case err == nil:
			c.recorder.Eventf(job, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s (%s)", pod.Name, reason)
			return nil
		case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
			c.exp.DeletionObserved(key, pod.UID)
			return nil
		default:
			c.exp.DeletionObserved(key, pod.UID)
			c.recorder.Eventf(job, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
			return fmt.Errorf("job: delete pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
	})
}

// createPods creates n pods (or one per index) in batches of 1, 2, 4, ...
// so a failing create (quota, admission) fails fast instead of n times.
func (c *Controller) createPods(ctx context.Context, job *batchv1.Job, key string, n int, indexes []int) error {
	var pods []*corev1.Pod
	if len(indexes) > 0 {
		for _, ix := range indexes {
			pods = append(pods, newPod(job, ix))
		}
	} else {
		for range n {
			pods = append(pods, newPod(job, -1))
		}
	}
	for batch := 1; len(pods) > 0; batch *= 2 {
		size := min(batch, len(pods))
		c.exp.ExpectCreations(key, size, c.now())
		err := parallel(ctx, pods[:size], size, func(pod *corev1.Pod) error {
			created, err := c.client.CoreV1().Pods(job.Namespace).Create(ctx, pod, metav1.CreateOptions{})
			if err != nil {
				if !expectations.OutcomeUnknown(err) { // else it may show up yet
					c.exp.CreationsObserved(key, 1)
				}
				c.recorder.Eventf(job, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
				return fmt.Errorf("job: create pod of %s: %w", key, err)
			}
			c.recorder.Eventf(job, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", created.Name)
			return nil
		})
		if err != nil {
			// The uncreated rest is not expected; a later sync retries.
			return err
		}
		pods = pods[size:]
	}
	return nil
}

// parallel runs f over items with at most n at once and joins the
// errors.
func parallel[T any](ctx context.Context, items []T, n int, f func(T) error) error {
	if len(items) == 0 {
		return nil
	}
	sem := make(chan struct{}, max(n, 1))
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, it := range items {
		if ctx.Err() != nil {
			mu.Lock()
			errs = append(errs, ctx.Err())
			mu.Unlock()
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := f(it); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
