package job

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
)

// Annotations a test's pod template sets for the fake kubelet.
const (
	annoExitCode = "test.kelson.dev/exit-code" // "0" (default) or another code
	annoRunFor   = "test.kelson.dev/run-ms"    // how long a pod runs; default 100
	annoHold     = "test.kelson.dev/hold"      // "true": run until released
)

// fakeKubelet stands in for the node agent: it takes every pod of a Job
// to Running and Ready, then to Succeeded or Failed as the pod's
// annotations (or the test's decide func) say, with a terminated
// container status; a pod that gets a deletionTimestamp is killed (Failed,
// exit 137). It also watches how many pods are active at once.
type fakeKubelet struct {
	t      *testing.T
	client kubernetes.Interface
	// decide, when set, overrides the annotations: the exit code and run
	// time of a pod, or hold. Called with mu held.
	decide func(pod *corev1.Pod) (exitCode int, runFor time.Duration, hold bool)

	mu        sync.Mutex
	started   map[types.UID]bool
	killed    map[types.UID]bool
	released  bool
	held      map[types.UID]*corev1.Pod
	active    map[types.UID]bool
	maxActive int
	ctx       context.Context
}

func startKubelet(t *testing.T, parent context.Context, client kubernetes.Interface, ns string) *fakeKubelet {
	ctx, cancel := context.WithCancel(parent)
	k := &fakeKubelet{
		t: t, client: client, ctx: ctx,
		started: map[types.UID]bool{}, killed: map[types.UID]bool{},
		held: map[types.UID]*corev1.Pod{}, active: map[types.UID]bool{},
	}
	f := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns))
	inf := f.Core().V1().Pods().Informer()
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { k.saw(obj.(*corev1.Pod)) },
		UpdateFunc: func(_, obj any) { k.saw(obj.(*corev1.Pod)) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				k.mu.Lock()
				delete(k.active, pod.UID)
				k.mu.Unlock()
			}
		},
	})
	f.Start(ctx.Done())
	t.Cleanup(func() { cancel(); f.Shutdown() })
	return k
}

// saw handles one observed pod state; the status writes run in their own
// goroutines.
func (k *fakeKubelet) saw(pod *corev1.Pod) {
	k.mu.Lock()
	defer k.mu.Unlock()
	terminal := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
	if pod.DeletionTimestamp == nil && !terminal {
		k.active[pod.UID] = true
		k.maxActive = max(k.maxActive, len(k.active))
	} else {
		delete(k.active, pod.UID)
	}
	switch {
	case pod.DeletionTimestamp != nil && !terminal && !k.killed[pod.UID]:
		k.killed[pod.UID] = true
		delete(k.held, pod.UID)
		go k.finish(pod, 137)
	case pod.DeletionTimestamp == nil && !terminal && !k.started[pod.UID]:
		k.started[pod.UID] = true
		exit, runFor, hold := k.plan(pod)
		go func() {
			k.run(pod)
			if hold {
				k.mu.Lock()
				if !k.released {
					k.held[pod.UID] = pod
					k.mu.Unlock()
					return
				}
				k.mu.Unlock()
			}
			time.Sleep(runFor)
			k.finish(pod, exit)
		}()
	}
}

func (k *fakeKubelet) plan(pod *corev1.Pod) (int, time.Duration, bool) {
	if k.decide != nil {
		return k.decide(pod)
	}
	exit, _ := strconv.Atoi(pod.Annotations[annoExitCode])
	runFor := 100 * time.Millisecond
	if ms, err := strconv.Atoi(pod.Annotations[annoRunFor]); err == nil {
		runFor = time.Duration(ms) * time.Millisecond
	}
	return exit, runFor, pod.Annotations[annoHold] == "true"
}

// release lets held pods (and any later ones) finish with their exit
// codes.
func (k *fakeKubelet) release() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.released = true
	for _, pod := range k.held {
		exit, _, _ := k.plan(pod)
		go k.finish(pod, exit)
	}
	k.held = map[types.UID]*corev1.Pod{}
}

func (k *fakeKubelet) max() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.maxActive
}

func (k *fakeKubelet) run(pod *corev1.Pod) {
	now := metav1.Now()
	k.update(pod, func(p *corev1.Pod) bool {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed || p.DeletionTimestamp != nil {
			return false
		}
		p.Status.Phase = corev1.PodRunning
		p.Status.StartTime = &now
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}
		p.Status.ContainerStatuses = containerStatuses(p, corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}, true)
		return true
	})
}

func (k *fakeKubelet) finish(pod *corev1.Pod, exit int) {
	now := metav1.Now()
	k.update(pod, func(p *corev1.Pod) bool {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			return false
		}
		p.Status.Phase = corev1.PodSucceeded
		reason := "Completed"
		if exit != 0 {
			p.Status.Phase, reason = corev1.PodFailed, "Error"
		}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: now}}
		p.Status.ContainerStatuses = containerStatuses(p, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: int32(exit), Reason: reason, FinishedAt: now, StartedAt: now}}, false)
		return true
	})
}

func containerStatuses(p *corev1.Pod, state corev1.ContainerState, ready bool) []corev1.ContainerStatus {
	var out []corev1.ContainerStatus
	for _, c := range p.Spec.Containers {
		out = append(out, corev1.ContainerStatus{Name: c.Name, Image: c.Image, State: state, Ready: ready})
	}
	return out
}

// update applies mutate to the live pod and writes its status, retrying
// conflicts; a pod that is gone is left alone.
func (k *fakeKubelet) update(pod *corev1.Pod, mutate func(*corev1.Pod) bool) {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		live, err := k.client.CoreV1().Pods(pod.Namespace).Get(k.ctx, pod.Name, metav1.GetOptions{})
		if err != nil || live.UID != pod.UID {
			return err
		}
		if !mutate(live) {
			return nil
		}
		_, err = k.client.CoreV1().Pods(pod.Namespace).UpdateStatus(k.ctx, live, metav1.UpdateOptions{})
		return err
	})
	if err != nil && !apierrors.IsNotFound(err) && k.ctx.Err() == nil {
		k.t.Logf("fake kubelet: pod %s: %v", pod.Name, err)
	}
}
