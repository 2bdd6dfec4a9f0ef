package statefulset

// A fake kubelet for the integration tests: it marks each new pod Running
// and Ready after a delay (unless told to hold it), and keeps a log of
// pod creations and deletions in the order the API reported them, with
// what was present at that moment, to check ordering promises.

import (
	"context"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// logEntry is a creation ("+web-1") or deletion ("-web-1", the first time
// the pod is seen terminating or gone) and the pods then present: for
// each, whether it was Running and Ready.
type logEntry struct {
	op      string
	pod     string
	present map[string]bool
}

func (e logEntry) String() string { return e.op + e.pod }

type fakeKubelet struct {
	client     kubernetes.Interface
	readyDelay time.Duration
	pods       corelisters.PodLister
	queue      workqueue.TypedDelayingInterface[string]

	mu      sync.Mutex
	holdAll bool
	seenAt  map[string]time.Time   // pod UID -> first seen
	gone    map[string]bool        // pod UID -> deletion logged
	state   map[string]*corev1.Pod // name -> pod, as of the last event
	log     []logEntry
}

func startFakeKubelet(ctx context.Context, t *testing.T, client kubernetes.Interface, ns string, readyDelay time.Duration) *fakeKubelet {
	f := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns))
	inf := f.Core().V1().Pods().Informer()
	k := &fakeKubelet{
		client: client, readyDelay: readyDelay,
		pods:   f.Core().V1().Pods().Lister(),
		queue:  workqueue.NewTypedDelayingQueue[string](),
		seenAt: map[string]time.Time{},
		gone:   map[string]bool{},
		state:  map[string]*corev1.Pod{},
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			pod := obj.(*corev1.Pod)
			k.record("+", pod, true)
			k.queue.Add(pod.Namespace + "/" + pod.Name)
		},
		UpdateFunc: func(_, obj any) {
			pod := obj.(*corev1.Pod)
			k.record("-", pod, true)
			k.queue.Add(pod.Namespace + "/" + pod.Name)
		},
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				k.record("-", pod, false)
			}
		},
	}); err != nil {
		t.Fatal(err)
	}
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	go func() { <-ctx.Done(); k.queue.ShutDown() }()
	go func() {
		for {
			key, quit := k.queue.Get()
			if quit {
				return
			}
			k.process(ctx, key)
			k.queue.Done(key)
		}
	}()
	return k
}

// record applies one watch event to the fake's own view (handlers see
// the events in the API's order, so the view is the state at that point
// of its history; the informer's store may already be further on), and
// logs a creation, or a pod's first sign of deletion, with that view.
func (k *fakeKubelet) record(op string, pod *corev1.Pod, exists bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if exists {
		k.state[pod.Name] = pod
	} else {
		delete(k.state, pod.Name)
	}
	if op == "-" {
		if (exists && !terminating(pod)) || k.gone[string(pod.UID)] {
			return
		}
		k.gone[string(pod.UID)] = true
	}
	present := map[string]bool{}
	for _, p := range k.state {
		if p.UID == pod.UID || terminating(p) {
			continue
		}
		ready, _, _ := availability(p, 0, time.Now())
		present[p.Name] = ready && p.Status.Phase == corev1.PodRunning
	}
	k.log = append(k.log, logEntry{op: op, pod: pod.Name, present: present})
}

// entries returns (a copy of) the log, and clears it.
func (k *fakeKubelet) entries() []logEntry {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := k.log
	k.log = nil
	return out
}

func (k *fakeKubelet) setHoldAll(on bool) {
	k.mu.Lock()
	k.holdAll = on
	k.mu.Unlock()
	if !on {
		all, _ := k.pods.List(labels.Everything())
		for _, p := range all {
			k.queue.Add(p.Namespace + "/" + p.Name)
		}
	}
}

func (k *fakeKubelet) process(ctx context.Context, key string) {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	pod, err := k.pods.Pods(ns).Get(name)
	if err != nil || terminating(pod) || (pod.Status.Phase != corev1.PodPending && pod.Status.Phase != "") {
		return
	}
	k.mu.Lock()
	held := k.holdAll
	since, ok := k.seenAt[string(pod.UID)]
	if !ok {
		since = time.Now()
		k.seenAt[string(pod.UID)] = since
	}
	k.mu.Unlock()
	if held {
		return
	}
	if wait := k.readyDelay - time.Since(since); wait > 0 {
		k.queue.AddAfter(key, wait)
		return
	}
	p := pod.DeepCopy()
	now := metav1.Now()
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}
	if _, err := k.client.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		k.queue.AddAfter(key, 50*time.Millisecond)
	}
}

// checkOrderedCreates: every creation of <set>-k (k > first) in log
// happened while <set>-(k-1) was present, Running and Ready.
func checkOrderedCreates(t *testing.T, set string, first int, log []logEntry) {
	t.Helper()
	for _, e := range log {
		if e.op != "+" {
			continue
		}
		k, ok := Ordinal(set, e.pod)
		if !ok || k <= first {
			continue
		}
		prev := PodName(set, k-1)
		if ready, ok := e.present[prev]; !ok || !ready {
			t.Errorf("%s was created while %s was not Running and Ready (present: %v)", e.pod, prev, e.present)
		}
	}
}

// ops is log's operations on set's pods, e.g. [+web-0 +web-1 -web-1].
func ops(set string, log []logEntry) []string {
	var out []string
	for _, e := range log {
		if _, ok := Ordinal(set, e.pod); ok {
			out = append(out, e.String())
		}
	}
	return out
}
