package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// podEvents is what the run saw of its pods and of its Service's
// EndpointSlices through watches: when each pod was first seen Running,
// Ready and gone, and when each pod IP was first seen as a ready endpoint.
// Times are this process's receipt of the event (the monotonic clock), so
// they compare with the times the run takes before its requests.
type podEvents struct {
	mu      sync.Mutex
	changed chan struct{}        // closed and replaced at every change
	bound   map[string]time.Time // first seen with spec.nodeName
	running map[string]time.Time
	ready   map[string]time.Time
	gone    map[string]time.Time
	ip      map[string]string
	failed  map[string]string    // pod -> why it cannot become Ready
	sliceAt map[string]time.Time // pod IP -> first seen ready in a slice
	err     error                // a watch that cannot go on
}

func newPodEvents() *podEvents {
	return &podEvents{changed: make(chan struct{}), bound: map[string]time.Time{}, running: map[string]time.Time{}, ready: map[string]time.Time{},
		gone: map[string]time.Time{}, ip: map[string]string{}, failed: map[string]string{}, sliceAt: map[string]time.Time{}}
}

// notifyLocked wakes the waiters.
func (p *podEvents) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// podFailure says why a pod will not become Ready by itself ("" when it
// may): it failed, or a container waits for a reason other than its
// creation (an image that is not there, a crash loop, a bad spec).
func podFailure(pod *corev1.Pod) string {
	if pod.Status.Phase == corev1.PodFailed {
		return fmt.Sprintf("phase Failed: %s %s", pod.Status.Reason, pod.Status.Message)
	}
	for _, s := range pod.Status.ContainerStatuses {
		if w := s.State.Waiting; w != nil && w.Reason != "" && w.Reason != "ContainerCreating" && w.Reason != "PodInitializing" {
			return fmt.Sprintf("container %s waiting: %s %s", s.Name, w.Reason, w.Message)
		}
		if t := s.State.Terminated; t != nil && pod.DeletionTimestamp == nil {
			return fmt.Sprintf("container %s terminated: %s (exit code %d) %s", s.Name, t.Reason, t.ExitCode, t.Message)
		}
	}
	return ""
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (p *podEvents) onPod(typ watch.EventType, pod *corev1.Pod, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	name := pod.Name
	if typ == watch.Deleted {
		if _, ok := p.gone[name]; !ok {
			p.gone[name] = now
			p.notifyLocked()
		}
		return
	}
	changed := false
	if _, ok := p.bound[name]; !ok && pod.Spec.NodeName != "" {
		p.bound[name], changed = now, true
	}
	if _, ok := p.running[name]; !ok && pod.Status.Phase == corev1.PodRunning {
		p.running[name], changed = now, true
	}
	if _, ok := p.ready[name]; !ok && podReady(pod) {
		p.ready[name], changed = now, true
	}
	if pod.Status.PodIP != "" && p.ip[name] != pod.Status.PodIP {
		p.ip[name], changed = pod.Status.PodIP, true
	}
	if why := podFailure(pod); why != "" && p.failed[name] != why {
		p.failed[name], changed = why, true
	}
	if changed {
		p.notifyLocked()
	}
}

func (p *podEvents) onSlice(typ watch.EventType, s *discoveryv1.EndpointSlice, now time.Time) {
	if typ == watch.Deleted {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	changed := false
	for _, ep := range s.Endpoints {
		if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
			continue
		}
		for _, a := range ep.Addresses {
			if _, ok := p.sliceAt[a]; !ok {
				p.sliceAt[a], changed = now, true
			}
		}
	}
	if changed {
		p.notifyLocked()
	}
}

func (p *podEvents) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
		p.notifyLocked()
	}
}

// wait calls cond under the lock at every change until it returns true or
// an error, ctx ends, or timeout passes (then the error says what).
func (p *podEvents) wait(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		ok, err := cond()
		if err == nil {
			err = p.err
		}
		ch := p.changed
		p.mu.Unlock()
		if ok || err != nil {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("bench: %s: not within %v", what, timeout)
		}
	}
}

// waitReady waits for the pods to be Ready; a pod that fails ends the wait.
func (p *podEvents) waitReady(ctx context.Context, timeout time.Duration, names ...string) error {
	what := fmt.Sprintf("%d pods Ready", len(names))
	if len(names) == 1 {
		what = "pod " + names[0] + " Ready"
	}
	return p.wait(ctx, timeout, what, func() (bool, error) {
		for _, n := range names {
			if why := p.failed[n]; why != "" {
				return false, fmt.Errorf("bench: pod %s will not become Ready: %s", n, why)
			}
			if _, ok := p.ready[n]; !ok {
				return false, nil
			}
		}
		return true, nil
	})
}

func (p *podEvents) waitGone(ctx context.Context, timeout time.Duration, name string) error {
	return p.wait(ctx, timeout, "pod "+name+" gone after its delete", func() (bool, error) {
		_, ok := p.gone[name]
		return ok, nil
	})
}

// times returns what was seen of a pod.
func (p *podEvents) times(name string) (running, ready, gone time.Time, ip string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running[name], p.ready[name], p.gone[name], p.ip[name]
}

// boundAt is when the pod was first seen bound to the node.
func (p *podEvents) boundAt(name string) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bound[name]
}

func (p *podEvents) sliceTime(ip string) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sliceAt[ip]
}

// watchLoop lists then watches with list and watchFn until ctx ends,
// watching again from the last resource version when a watch closes and
// listing again when that version has expired. It reports each object to
// on with its receipt time.
func watchLoop(ctx context.Context, list func(context.Context) (string, error),
	watchFn func(ctx context.Context, rv string) (watch.Interface, error), on func(watch.EventType, runtime.Object, time.Time)) error {
	rv := ""
	for ctx.Err() == nil {
		if rv == "" {
			v, err := list(ctx)
			if err != nil {
				return err
			}
			rv = v
		}
		w, err := watchFn(ctx, rv)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
				rv = ""
				continue
			}
			return err
		}
		for ev := range w.ResultChan() {
			now := time.Now()
			if ev.Type == watch.Error {
				if st := apierrors.FromObject(ev.Object); apierrors.IsResourceExpired(st) || apierrors.IsGone(st) {
					rv = ""
				}
				break
			}
			if m, err := metaOf(ev.Object); err == nil {
				rv = m.GetResourceVersion()
			}
			if ev.Type != watch.Bookmark {
				on(ev.Type, ev.Object, now)
			}
		}
		w.Stop()
		select { // a watch that keeps closing at once does not spin
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

func metaOf(o runtime.Object) (metav1.Object, error) {
	m, ok := o.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("bench: %T has no object meta", o)
	}
	return m, nil
}

// watchPodsAndSlices starts the watches of the namespace's pods and of
// the EndpointSlices of service svc; stop ends them.
func watchPodsAndSlices(ctx context.Context, cs kubernetes.Interface, ns, svc string) (ev *podEvents, stop func()) {
	ev = newPodEvents()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	pods := cs.CoreV1().Pods(ns)
	slices := cs.DiscoveryV1().EndpointSlices(ns)
	sliceSel := discoveryv1.LabelServiceName + "=" + svc
	wg.Add(2)
	go func() {
		defer wg.Done()
		err := watchLoop(ctx, func(ctx context.Context) (string, error) {
			l, err := pods.List(ctx, metav1.ListOptions{})
			if err != nil {
				return "", err
			}
			now := time.Now()
			for i := range l.Items {
				ev.onPod(watch.Added, &l.Items[i], now)
			}
			return l.ResourceVersion, nil
		}, func(ctx context.Context, rv string) (watch.Interface, error) {
			return pods.Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
		}, func(t watch.EventType, o runtime.Object, now time.Time) {
			if p, ok := o.(*corev1.Pod); ok {
				ev.onPod(t, p, now)
			}
		})
		if err != nil {
			ev.fail(fmt.Errorf("bench: watch pods: %w", err))
		}
	}()
	go func() {
		defer wg.Done()
		err := watchLoop(ctx, func(ctx context.Context) (string, error) {
			l, err := slices.List(ctx, metav1.ListOptions{LabelSelector: sliceSel})
			if err != nil {
				return "", err
			}
			now := time.Now()
			for i := range l.Items {
				ev.onSlice(watch.Added, &l.Items[i], now)
			}
			return l.ResourceVersion, nil
		}, func(ctx context.Context, rv string) (watch.Interface, error) {
			return slices.Watch(ctx, metav1.ListOptions{LabelSelector: sliceSel, ResourceVersion: rv, AllowWatchBookmarks: true})
		}, func(t watch.EventType, o runtime.Object, now time.Time) {
			if s, ok := o.(*discoveryv1.EndpointSlice); ok {
				ev.onSlice(t, s, now)
			}
		})
		if err != nil {
			ev.fail(fmt.Errorf("bench: watch endpoint slices: %w", err))
		}
	}()
	return ev, func() { cancel(); wg.Wait() }
}

// failedWhy says why a pod will not become Ready ("" when it may).
func (p *podEvents) failedWhy(name string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failed[name]
}
