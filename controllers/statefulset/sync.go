package statefulset

// One sync: read the snapshot from the informers, claim pods, settle the
// revisions, Decide, then the IO: the plan's actions in order, history,
// status.

import (
	"context"
	"errors"
	"fmt"

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

// labelHash is the label holding a revision's hash. Pods carry the
// revision's name instead, in the controller-revision-hash label.
const labelHash = "controller.kubernetes.io/hash"

// revisions is a set's history as one sync sees it.
type revisions struct {
	all             []*appsv1.ControllerRevision
	current, update *appsv1.ControllerRevision
}

func (c *Controller) sync(ctx context.Context, k string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(k)
	if err != nil {
		return nil
	}
	cached, err := c.sets.StatefulSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.Forget(k)
		return nil
	}
	if err != nil {
		return err
	}
	set := cached.DeepCopy()
	pods, err := c.claimPods(ctx, set)
	if err != nil {
		return err
	}
	revs, err := c.syncRevisions(ctx, set)
	if err != nil {
		return err
	}
	claimList, err := c.claims.PersistentVolumeClaims(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	claims := make(map[string]*corev1.PersistentVolumeClaim, len(claimList))
	for _, cl := range claimList {
		claims[cl.Name] = cl
	}
	plan := Decide(Input{
		Set: set, Pods: pods, Claims: claims,
		CurrentRevision: revs.current.Name, UpdateRevision: revs.update.Name,
		Now: c.now(),
	})
	var errs []error
	if c.exp.Satisfied(k, c.now()) {
		errs = append(errs, c.apply(ctx, set, k, revs, claims, plan))
	}
	if plan.Waiting != "" {
		c.log.Debug("statefulset waits", "statefulset", k, "for", plan.Waiting)
	}
	errs = append(errs, c.pruneHistory(ctx, set, revs, plan.Status, pods))
	errs = append(errs, c.updateStatus(ctx, set, plan.Status))
	if plan.RequeueAfter > 0 {
		c.queue.AddAfter(k, plan.RequeueAfter)
	}
	return errors.Join(errs...)
}

// claimPods is the pods set controls after adopting matching orphans that
// bear its names and releasing its pods that no longer match.
func (c *Controller) claimPods(ctx context.Context, set *appsv1.StatefulSet) ([]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("statefulset %s/%s: selector: %w", set.Namespace, set.Name, err)
	}
	if sel.Empty() {
		sel = labels.Nothing()
	}
	all, err := c.pods.Pods(set.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	members := all[:0:0]
	for _, pod := range all {
		if isMemberName(set.Name, pod.Name) {
			members = append(members, pod)
		}
	}
	// A terminating pod still holds its ordinal: it stays owned even if
	// it no longer matches.
	cl := ownerref.ClassifyWith(set, sel, members, ownerref.Rules{KeepTerminating: true, ReleaseWhileOwnerDeleting: true})
	owned, err := ownerref.Apply(ctx, c.client.CoreV1().Pods(set.Namespace), *metav1.NewControllerRef(set, controllerKind), cl,
		func(ctx context.Context) bool { return c.stillOwner(ctx, set) }, "pod")
	if err != nil {
		return nil, fmt.Errorf("statefulset %s/%s: %w", set.Namespace, set.Name, err)
	}
	return owned, nil
}

func (c *Controller) stillOwner(ctx context.Context, set *appsv1.StatefulSet) bool {
	fresh, err := c.client.AppsV1().StatefulSets(set.Namespace).Get(ctx, set.Name, metav1.GetOptions{})
	return err == nil && fresh.UID == set.UID && fresh.DeletionTimestamp == nil
}

// syncRevisions makes sure the set's template has a ControllerRevision
// with the highest revision number (the update revision), and finds the
// current revision (status.currentRevision, or the update revision if
// that is unknown).
func (c *Controller) syncRevisions(ctx context.Context, set *appsv1.StatefulSet) (revisions, error) {
	all, update, err := history.Sync(ctx, c.revisions, c.client.AppsV1().ControllerRevisions(set.Namespace), history.Owner{
		Object: set, Kind: controllerKind, Template: &set.Spec.Template,
		CollisionCount: set.Status.CollisionCount, HashLabel: labelHash,
	}, func(ctx context.Context, next int32) error {
		set.Status.CollisionCount = &next
		_, err := c.client.AppsV1().StatefulSets(set.Namespace).UpdateStatus(ctx, set, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return revisions{}, fmt.Errorf("statefulset %s/%s: %w", set.Namespace, set.Name, err)
	}
	r := revisions{all: all, update: update, current: update}
	for _, cr := range r.all {
		if cr.Name == set.Status.CurrentRevision {
			r.current = cr
		}
	}
	return r, nil
}

// apply runs the plan's actions in order and stops at the first failure:
// under OrderedReady nothing may happen after a step that did not.
func (c *Controller) apply(ctx context.Context, set *appsv1.StatefulSet, k string, revs revisions, claims map[string]*corev1.PersistentVolumeClaim, plan Plan) error {
	pods := c.client.CoreV1().Pods(set.Namespace)
	for _, a := range plan.Actions {
		podName := PodName(set.Name, a.Ordinal)
		switch a.Kind {
		case CreateClaim:
			if err := c.createClaim(ctx, set, a, podName); err != nil {
				return err
			}
		case CreatePod:
			tmpl := &set.Spec.Template
			if a.Revision != revs.update.Name {
				t, err := history.Template(revs.current)
				if err != nil {
					return fmt.Errorf("statefulset: %w", err)
				}
				tmpl = t
			}
			c.exp.ExpectCreations(k, 1, c.now())
			_, err := pods.Create(ctx, NewPod(set, tmpl, a.Revision, a.Ordinal), metav1.CreateOptions{})
			if err != nil {
				c.exp.CreationsObserved(k, 1)
				if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
					c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Pod %s in StatefulSet %s failed error: %v", podName, set.Name, err)
				}
				return fmt.Errorf("statefulset %s: create pod %s: %w", k, podName, err)
			}
			c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulCreate", "create Pod %s in StatefulSet %s successful", podName, set.Name)
		case DeletePod:
			if a.Reason == ReasonFailed {
				c.recorder.Eventf(set, corev1.EventTypeWarning, "RecreatingFailedPod", "StatefulSet %s/%s is recreating failed Pod %s", set.Namespace, set.Name, a.Pod.Name)
			}
			uid := a.Pod.UID
			c.exp.ExpectDeletions(k, c.now(), uid)
			err := pods.Delete(ctx, a.Pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &a.Pod.UID}})
			if err != nil {
				c.exp.DeletionObserved(k, uid)
				if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
					continue // already gone: the informer will say so
				}
				c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedDelete", "delete Pod %s in StatefulSet %s failed error: %v", a.Pod.Name, set.Name, err)
				return fmt.Errorf("statefulset %s: delete pod %s: %w", k, a.Pod.Name, err)
			}
			c.log.Debug("deleted pod", "statefulset", k, "pod", a.Pod.Name, "reason", a.Reason)
			c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulDelete", "delete Pod %s in StatefulSet %s successful", a.Pod.Name, set.Name)
		case SetClaimRefs:
			cl := claims[a.Claim]
			if cl == nil {
				continue
			}
			cp := cl.DeepCopy()
			cp.OwnerReferences = a.Refs
			if _, err := c.client.CoreV1().PersistentVolumeClaims(set.Namespace).Update(ctx, cp, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("statefulset %s: set owners of claim %s: %w", k, a.Claim, err)
			}
		}
	}
	return nil
}

func (c *Controller) createClaim(ctx context.Context, set *appsv1.StatefulSet, a Action, podName string) error {
	var ct *corev1.PersistentVolumeClaim
	for i := range set.Spec.VolumeClaimTemplates {
		if set.Spec.VolumeClaimTemplates[i].Name == a.Template {
			ct = &set.Spec.VolumeClaimTemplates[i]
		}
	}
	if ct == nil {
		return nil // the plan was made from this set: cannot happen
	}
	_, err := c.client.CoreV1().PersistentVolumeClaims(set.Namespace).Create(ctx, NewClaim(set, ct, a.Ordinal), metav1.CreateOptions{})
	switch {
	case err == nil:
		c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulCreate", "create Claim %s Pod %s in StatefulSet %s success", a.Claim, podName, set.Name)
	case apierrors.IsAlreadyExists(err):
		// The cache was behind; the claim is there, which is all we need.
	default:
		c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Claim %s for Pod %s in StatefulSet %s failed error: %v", a.Claim, podName, set.Name, err)
		return fmt.Errorf("statefulset %s/%s: create claim %s: %w", set.Namespace, set.Name, a.Claim, err)
	}
	return nil
}

// pruneHistory deletes old revisions beyond revisionHistoryLimit that no
// pod runs and that are neither current nor update.
func (c *Controller) pruneHistory(ctx context.Context, set *appsv1.StatefulSet, revs revisions, st appsv1.StatefulSetStatus, pods []*corev1.Pod) error {
	live := map[string]bool{}
	for _, pod := range pods {
		live[pod.Labels[LabelRevision]] = true
	}
	limit := int32(10)
	if set.Spec.RevisionHistoryLimit != nil {
		limit = *set.Spec.RevisionHistoryLimit
	}
	var errs []error
	keep := func(cr *appsv1.ControllerRevision) bool {
		return cr.Name == st.CurrentRevision || cr.Name == st.UpdateRevision || live[cr.Name]
	}
	for _, cr := range history.Prunable(revs.all, keep, limit) {
		err := c.client.AppsV1().ControllerRevisions(set.Namespace).Delete(ctx, cr.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("statefulset %s/%s: delete revision %s: %w", set.Namespace, set.Name, cr.Name, err))
		}
	}
	return errors.Join(errs...)
}

// updateStatus writes st unless the set already reports it.
func (c *Controller) updateStatus(ctx context.Context, set *appsv1.StatefulSet, st appsv1.StatefulSetStatus) error {
	st.CollisionCount = set.Status.CollisionCount
	st.Conditions = set.Status.Conditions
	if apiequality.Semantic.DeepEqual(set.Status, st) {
		return nil
	}
	set.Status = st
	_, err := c.client.AppsV1().StatefulSets(set.Namespace).UpdateStatus(ctx, set, metav1.UpdateOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("statefulset %s/%s: update status: %w", set.Namespace, set.Name, err)
	}
	return nil
}
