package replicaset

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/kelson-dev/kelson/controllers/expectations"
	"github.com/kelson-dev/kelson/controllers/ownerref"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
)

// manage carries out plan's creations or deletions, recording what it
// expects the informer to show before the next sync acts.
func (c *Controller) manage(ctx context.Context, rs *appsv1.ReplicaSet, key string, plan Plan) error {
	switch {
	case plan.Create > 0:
		c.exp.ExpectCreations(key, plan.Create, c.now())
		created, err := slowStart(plan.Create, func() error { return c.createPod(ctx, rs) })
		n := plan.Create - created
		if expectations.OutcomeUnknown(err) {
			n-- // the create that timed out may show up yet
		}
		if n > 0 {
			// failed or never tried: the informer will not show them
			c.exp.CreationsObserved(key, n)
		}
		if err != nil {
			return fmt.Errorf("%w: %s: created %d of %d pods: %w", ErrSync, key, created, plan.Create, err)
		}
	case len(plan.Delete) > 0:
		uids := make([]types.UID, len(plan.Delete))
		for i, p := range plan.Delete {
			uids[i] = p.UID
		}
		c.exp.ExpectDeletions(key, c.now(), uids...)
		errs := make([]error, len(plan.Delete))
		var wg sync.WaitGroup
		for i, p := range plan.Delete {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = c.deleteOne(ctx, rs, key, p)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrSync, key, err)
		}
	}
	return nil
}

// slowStart calls fn count times in batches of 1, 2, 4, ... running each
// batch concurrently, and stops after the first batch with a failure: a
// quota or admission refusal then costs a handful of calls, not count.
// It returns how many calls succeeded and the first error.
func slowStart(count int, fn func() error) (int, error) {
	done := 0
	for batch := 1; done < count; batch *= 2 {
		n := min(batch, count-done)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = fn()
			}()
		}
		wg.Wait()
		ok := 0
		var first error
		for _, err := range errs {
			if err == nil {
				ok++
			} else if first == nil {
				first = err
			}
		}
		done += ok
		if first != nil {
			return done, first
		}
	}
	return done, nil
}

// PodFromTemplate is the pod a ReplicaSet creates: the template's labels,
// annotations, finalizers and spec, generateName "<rs>-", and a
// controller reference to rs.
func PodFromTemplate(rs *appsv1.ReplicaSet) *corev1.Pod {
	t := rs.Spec.Template.DeepCopy()
	prefix := rs.Name + "-"
	if len(validation.IsDNS1123Subdomain(prefix+"xxxxx")) != 0 {
		prefix = rs.Name
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    prefix,
			Namespace:       rs.Namespace,
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{ownerref.ControllerRef(rs, kindRS)},
		},
		Spec: t.Spec,
	}
}

func (c *Controller) createPod(ctx context.Context, rs *appsv1.ReplicaSet) error {
	pod, err := c.client.CoreV1().Pods(rs.Namespace).Create(ctx, PodFromTemplate(rs), metav1.CreateOptions{})
	if err != nil {
		c.recorder.Eventf(rs, corev1.EventTypeWarning, EventFailedCreate, "Error creating: %v", err)
		return err
	}
	c.recorder.Eventf(rs, corev1.EventTypeNormal, EventSuccessfulCreate, "Created pod: %v", pod.Name)
	return nil
}

// deleteOne deletes pod (only that incarnation: a UID precondition). A pod
// already gone is not an error.
func (c *Controller) deleteOne(ctx context.Context, rs *appsv1.ReplicaSet, key string, pod *corev1.Pod) error {
	uid := pod.UID
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &uid},
	})
	switch {
	case err == nil:
		c.recorder.Eventf(rs, corev1.EventTypeNormal, EventSuccessfulDelete, "Deleted pod: %v", pod.Name)
		return nil
	case apierrors.IsNotFound(err):
		c.exp.DeletionObserved(key, uid)
		return nil
	default:
		c.exp.DeletionObserved(key, uid)
		c.recorder.Eventf(rs, corev1.EventTypeWarning, EventFailedDelete, "Error deleting: %v", err)
		return fmt.Errorf("delete pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
}
