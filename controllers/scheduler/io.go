package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/kelson-dev/kelson/controllers/scheduler/core"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
)

// The IO around the decisions: bindings, PodScheduled conditions,
// preemptions. Each runs on worker goroutines so the scheduling loop
// never waits for the API (except when every binding worker is busy and
// the hand-off channel is full: back-pressure).

// bindTask is an assumed pod to bind.
type bindTask struct {
	p    *queuedPod
	info *core.PodInfo
	node string
}

// bind writes the binding (POST pods/NAME/binding). On success the pod
// leaves the queue and gets the Scheduled event; on failure the
// assumption is forgotten and the pod retried after back-off.
func (s *Scheduler) bind(ctx context.Context, t bindTask) {
	pod := t.info.Pod
	b := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: t.node},
	}
	err := s.client.CoreV1().Pods(pod.Namespace).Bind(ctx, b, metav1.CreateOptions{})
	if err == nil {
		s.metrics.scheduled.Add(1)
		s.queue.Done(t.p)
		s.recorder.Eventf(pod, corev1.EventTypeNormal, "Scheduled", "Successfully assigned %s/%s to %s", pod.Namespace, pod.Name, t.node)
		return
	}
	s.metrics.bindErrors.Add(1)
	s.cache.Forget(t.info.Key)
	s.queue.MoveAll(nil) // the room it held is free again
	if ctx.Err() != nil {
		return
	}
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		// Gone, recreated, or bound by someone else: the informer tells.
		s.log.Debug("binding refused", "pod", t.info.Key, "node", t.node, "err", err)
		s.queue.Done(t.p)
		return
	}
	s.log.Info("binding failed; retrying", "pod", t.info.Key, "node", t.node, "err", err)
	s.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedScheduling", "Binding rejected: %v", err)
	s.queue.Backoff(t.p)
}

// statusWriter writes pods' scheduling status: PodScheduled=False with
// the FailedScheduling message (and status.nominatedNodeName), latest
// message per pod, and preemptions. Writes are deduplicated by pod key.
type statusWriter struct {
	s *Scheduler
	q workqueue.TypedRateLimitingInterface[string]

	mu      sync.Mutex
	pending map[string]statusUpdate
}

type statusUpdate struct {
	message   string
	nominated string
	preempt   *core.Preemption
	pod       *corev1.Pod
}

func newStatusWriter(s *Scheduler) *statusWriter {
	return &statusWriter{s: s, pending: map[string]statusUpdate{},
		q: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "scheduler-status"})}
}

// unschedulable records that pod fits nowhere, with message.
func (w *statusWriter) unschedulable(pod *corev1.Pod, message, nominated string) {
	k := key(pod)
	w.mu.Lock()
	u := w.pending[k]
	u.pod, u.message, u.nominated = pod, message, nominated
	w.pending[k] = u
	w.mu.Unlock()
	w.q.Add(k)
}

// preempt records a preemption to carry out for pod.
func (w *statusWriter) preempt(pod *corev1.Pod, pre core.Preemption) {
	k := key(pod)
	w.mu.Lock()
	u := w.pending[k]
	u.pod, u.preempt = pod, &pre
	w.pending[k] = u
	w.mu.Unlock()
	w.q.Add(k)
}

func (w *statusWriter) run(ctx context.Context, workers int) {
	go func() { <-ctx.Done(); w.q.ShutDown() }()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				k, quit := w.q.Get()
				if quit {
					return
				}
				w.mu.Lock()
				u, ok := w.pending[k]
				delete(w.pending, k)
				w.mu.Unlock()
				if ok {
					if err := w.write(ctx, u); err != nil && ctx.Err() == nil {
						w.s.log.Info("writing scheduling status failed; retrying", "pod", k, "err", err)
						w.mu.Lock()
						if _, newer := w.pending[k]; !newer {
							w.pending[k] = u
						}
						w.mu.Unlock()
						w.q.AddRateLimited(k)
					} else {
						w.q.Forget(k)
					}
				}
				w.q.Done(k)
			}
		})
	}
	wg.Wait()
}

func (w *statusWriter) write(ctx context.Context, u statusUpdate) error {
	if u.preempt != nil {
		if err := w.s.evict(ctx, u.pod, *u.preempt); err != nil {
			return err
		}
		u.preempt = nil
	}
	if u.message == "" {
		return nil
	}
	cur, err := w.s.pods.Pods(u.pod.Namespace).Get(u.pod.Name)
	if err != nil || cur.UID != u.pod.UID || cur.Spec.NodeName != "" {
		return nil // gone or bound meanwhile
	}
	if c := podCondition(cur, corev1.PodScheduled); c != nil && c.Status == corev1.ConditionFalse &&
		c.Reason == corev1.PodReasonUnschedulable && c.Message == u.message &&
		(u.nominated == "" || cur.Status.NominatedNodeName == u.nominated) {
		return nil
	}
	return w.s.patchStatus(ctx, cur, map[string]any{
		"conditions": []map[string]any{{
			"type": corev1.PodScheduled, "status": corev1.ConditionFalse, "reason": corev1.PodReasonUnschedulable,
			"message": u.message, "lastProbeTime": nil, "lastTransitionTime": metav1.NewTime(w.s.now()),
		}},
	}, u.nominated)
}

func podCondition(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// patchStatus applies a strategic merge patch to the pod's status: the
// given fields, and nominatedNodeName when not "".
func (s *Scheduler) patchStatus(ctx context.Context, pod *corev1.Pod, status map[string]any, nominated string) error {
	if nominated != "" {
		status["nominatedNodeName"] = nominated
	}
	body, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return fmt.Errorf("scheduler: status patch: %w", err)
	}
	_, err = s.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{}, "status")
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// evict carries out a preemption for preemptor: each victim gets the
// DisruptionTarget condition (reason PreemptionByScheduler), is deleted
// with its own grace period, and gets a Preempted event. (The preemptor's
// status.nominatedNodeName is written with its PodScheduled condition.)
func (s *Scheduler) evict(ctx context.Context, preemptor *corev1.Pod, pre core.Preemption) error {
	for _, v := range pre.Victims {
		victim := v.Pod
		err := s.patchStatus(ctx, victim, map[string]any{
			"conditions": []map[string]any{{
				"type": corev1.DisruptionTarget, "status": corev1.ConditionTrue, "reason": corev1.PodReasonPreemptionByScheduler,
				"message":            s.cfg.SchedulerName + ": preempting to accommodate a higher priority pod",
				"lastTransitionTime": metav1.NewTime(s.now()),
			}},
		}, "")
		if err != nil {
			return err
		}
		err = s.client.CoreV1().Pods(victim.Namespace).Delete(ctx, victim.Name, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &victim.UID},
		})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("scheduler: preempting %s/%s: %w", victim.Namespace, victim.Name, err)
		}
		s.recorder.Eventf(victim, corev1.EventTypeNormal, "Preempted", "Preempted by pod %s on node %s", preemptor.UID, pre.Node)
	}
	return nil
}
