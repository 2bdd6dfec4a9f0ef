package daemonset

// One sync: read the snapshot from the informers, claim pods, settle the
// revision, Decide, then the IO: deletions, creations, history, status.

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/kelson-dev/kelson/controllers/expectations"
	"github.com/kelson-dev/kelson/controllers/history"
	"github.com/kelson-dev/kelson/controllers/ownerref"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
)

// ErrCollision: the name of the revision for the current template is
// taken by another template; the collision count was raised and the sync
// is retried under a new name.
var ErrCollision = history.ErrCollision

func (c *Controller) sync(ctx context.Context, k string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(k)
	if err != nil {
		return nil // not a key we made; drop it
	}
	cached, err := c.dsLister.DaemonSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.Forget(k)
		return nil
	}
	if err != nil {
		return err
	}
	ds := cached.DeepCopy()
	pods, err := c.claimPods(ctx, ds)
	if err != nil {
		return err
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	revs, current, err := c.syncRevision(ctx, ds)
	if err != nil {
		return err
	}
	now := c.now()
	plan := Decide(Input{
		DS: ds, Hash: revisionHash(current), Nodes: nodes, Pods: pods,
		Backoff: c.backoff.snapshot(ds.UID), Now: now,
	})
	var errs []error
	if c.exp.Satisfied(k, c.now()) {
		errs = append(errs, c.apply(ctx, ds, k, revisionHash(current), plan))
	}
	errs = append(errs, c.pruneHistory(ctx, ds, revs, current, pods))
	errs = append(errs, c.updateStatus(ctx, ds, plan.Status))
	if plan.RequeueAfter > 0 {
		c.queue.AddAfter(k, plan.RequeueAfter)
	}
	return errors.Join(errs...)
}

// claimPods is the pods ds controls after adopting matching orphans and
// releasing its pods that no longer match.
func (c *Controller) claimPods(ctx context.Context, ds *appsv1.DaemonSet) ([]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("daemonset %s/%s: selector: %w", ds.Namespace, ds.Name, err)
	}
	all, err := c.podLister.Pods(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	if sel.Empty() {
		sel = labels.Nothing() // an empty selector would take every pod
	}
	// A terminating pod still holds its node: it stays owned even if it
	// no longer matches.
	cl := ownerref.ClassifyWith(ds, sel, all, ownerref.Rules{KeepTerminating: true, ReleaseWhileOwnerDeleting: true})
	owned, err := ownerref.Apply(ctx, c.client.CoreV1().Pods(ds.Namespace), *metav1.NewControllerRef(ds, controllerKind), cl,
		func(ctx context.Context) bool { return c.stillOwner(ctx, ds) }, "pod")
	if err != nil {
		return nil, fmt.Errorf("daemonset %s/%s: %w", ds.Namespace, ds.Name, err)
	}
	return owned, nil
}

// stillOwner re-reads ds from the API before adopting: a DaemonSet that
// was deleted (or replaced under the same name) adopts nothing.
func (c *Controller) stillOwner(ctx context.Context, ds *appsv1.DaemonSet) bool {
	fresh, err := c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
	return err == nil && fresh.UID == ds.UID && fresh.DeletionTimestamp == nil
}

// syncRevision makes sure the current template has a ControllerRevision
// with the highest revision number, and returns ds's revisions and that
// one.
func (c *Controller) syncRevision(ctx context.Context, ds *appsv1.DaemonSet) ([]*appsv1.ControllerRevision, *appsv1.ControllerRevision, error) {
	revs, current, err := history.Sync(ctx, c.revisions, c.client.AppsV1().ControllerRevisions(ds.Namespace), history.Owner{
		Object: ds, Kind: controllerKind, Template: &ds.Spec.Template,
		CollisionCount: ds.Status.CollisionCount, HashLabel: LabelRevisionHash,
	}, func(ctx context.Context, next int32) error {
		ds.Status.CollisionCount = &next
		_, err := c.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, ds, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("daemonset %s/%s: %w", ds.Namespace, ds.Name, err)
	}
	return revs, current, nil
}

// revisionHash is the hash a revision's pods carry.
func revisionHash(cr *appsv1.ControllerRevision) string {
	return history.HashOf(cr, LabelRevisionHash)
}

// apply runs plan: deletions, then creations in slow-start batches.
func (c *Controller) apply(ctx context.Context, ds *appsv1.DaemonSet, k, hash string, plan Plan) error {
	var errs []error
	pods := c.client.CoreV1().Pods(ds.Namespace)
	for _, d := range plan.Deletes {
		uid := d.Pod.UID
		if d.Reason == ReasonFailed {
			c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedDaemonPod",
				"Found failed daemon pod %s/%s on node %s, will try to kill it", d.Pod.Namespace, d.Pod.Name, d.Node)
			c.backoff.failed(ds.UID, d.Node, c.now())
		}
		c.exp.ExpectDeletions(k, c.now(), uid)
		err := pods.Delete(ctx, d.Pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &d.Pod.UID}})
		if err != nil {
			c.exp.DeletionObserved(k, uid)
			if !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
				errs = append(errs, fmt.Errorf("daemonset %s/%s: delete pod %s: %w", ds.Namespace, ds.Name, d.Pod.Name, err))
			}
			continue
		}
		c.log.Debug("deleted daemon pod", "daemonset", k, "pod", d.Pod.Name, "node", d.Node, "reason", d.Reason)
		c.recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", d.Pod.Name)
	}
	c.exp.ExpectCreations(k, len(plan.Creates), c.now())
	done, err := slowStart(len(plan.Creates), func(i int) error {
		got, err := pods.Create(ctx, NewPod(ds, hash, plan.Creates[i]), metav1.CreateOptions{})
		if err != nil {
			if !expectations.OutcomeUnknown(err) {
				c.exp.CreationsObserved(k, 1) // never to be seen
			}
			if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
			}
			return fmt.Errorf("daemonset %s/%s: create pod for node %s: %w", ds.Namespace, ds.Name, plan.Creates[i], err)
		}
		c.recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", got.Name)
		return nil
	})
	for range len(plan.Creates) - done {
		c.exp.CreationsObserved(k, 1) // skipped after a failure
	}
	return errors.Join(append(errs, err)...)
}

// slowStart calls fn for 0..n-1 in batches of 1, 2, 4, ... run
// concurrently, stopping after a batch with a failure (a quota or an
// admission error fails every call alike; no need to send them all). It
// returns how many calls were made and their errors.
func slowStart(n int, fn func(i int) error) (int, error) {
	done := 0
	for batch := 1; done < n; batch *= 2 {
		size := min(batch, n-done)
		errs := make([]error, size)
		var wg sync.WaitGroup
		for j := range size {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[j] = fn(done + j)
			}()
		}
		wg.Wait()
		done += size
		if err := errors.Join(errs...); err != nil {
			return done, err
		}
	}
	return done, nil
}

// pruneHistory deletes old revisions beyond revisionHistoryLimit that no
// pod runs.
func (c *Controller) pruneHistory(ctx context.Context, ds *appsv1.DaemonSet, revs []*appsv1.ControllerRevision, current *appsv1.ControllerRevision, pods []*corev1.Pod) error {
	live := map[string]bool{}
	for _, pod := range pods {
		live[pod.Labels[LabelRevisionHash]] = true
	}
	limit := int32(10)
	if ds.Spec.RevisionHistoryLimit != nil {
		limit = *ds.Spec.RevisionHistoryLimit
	}
	var errs []error
	keep := func(cr *appsv1.ControllerRevision) bool {
		return cr.Name == current.Name || live[revisionHash(cr)]
	}
	for _, cr := range history.Prunable(revs, keep, limit) {
		err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Delete(ctx, cr.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("daemonset %s/%s: delete revision %s: %w", ds.Namespace, ds.Name, cr.Name, err))
		}
	}
	return errors.Join(errs...)
}

// updateStatus writes st unless the DaemonSet already reports it.
func (c *Controller) updateStatus(ctx context.Context, ds *appsv1.DaemonSet, st appsv1.DaemonSetStatus) error {
	st.CollisionCount = ds.Status.CollisionCount
	st.Conditions = ds.Status.Conditions
	if apiequality.Semantic.DeepEqual(ds.Status, st) {
		return nil
	}
	ds.Status = st
	_, err := c.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, ds, metav1.UpdateOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("daemonset %s/%s: update status: %w", ds.Namespace, ds.Name, err)
	}
	return nil
}
