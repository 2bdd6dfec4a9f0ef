package daemonset

// A fake scheduler and kubelet for the integration tests: it binds each
// pending daemon pod to the node its matchFields affinity names (through
// pods/binding), marks it Running and Ready after a delay, and finishes
// the graceful deletion of pods bound to nodes (grace 0), as a node agent
// would. It also watches the invariants the controller promises.

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

type fakeKubelet struct {
	client     kubernetes.Interface
	ns         string
	readyDelay time.Duration
	pods       corelisters.PodLister
	nodes      corelisters.NodeLister
	queue      workqueue.TypedDelayingInterface[string]

	mu         sync.Mutex
	hold       map[string]bool      // nodes whose pods never become ready
	boundAt    map[string]time.Time // pod UID -> when the fake saw it bound
	violations []string
	// checkApp/checkNodes/checkLimit: while set, at most checkLimit of
	// checkNodes may lack a ready pod labelled app=checkApp.
	checkApp   string
	checkNodes []string
	checkLimit int
	maxSeen    int
}

func startFakeKubelet(ctx context.Context, t *testing.T, client kubernetes.Interface, ns string, readyDelay time.Duration) *fakeKubelet {
	nsf := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns))
	f := informers.NewSharedInformerFactory(client, 0)
	podInf := nsf.Core().V1().Pods().Informer()
	k := &fakeKubelet{
		client: client, ns: ns, readyDelay: readyDelay,
		pods:    nsf.Core().V1().Pods().Lister(),
		nodes:   f.Core().V1().Nodes().Lister(),
		queue:   workqueue.NewTypedDelayingQueue[string](),
		hold:    map[string]bool{},
		boundAt: map[string]time.Time{},
	}
	enqueue := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			k.queue.Add(key)
		}
		k.check()
	}
	if _, err := podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, o any) { enqueue(o) }, DeleteFunc: func(any) { k.check() },
	}); err != nil {
		t.Fatal(err)
	}
	nodeInf := f.Core().V1().Nodes().Informer()
	if _, err := nodeInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { k.requeueAll() },
	}); err != nil {
		t.Fatal(err)
	}
	nsf.Start(ctx.Done())
	f.Start(ctx.Done())
	nsf.WaitForCacheSync(ctx.Done())
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
	t.Cleanup(func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		for _, v := range k.violations {
			t.Errorf("invariant violated: %s", v)
		}
	})
	return k
}

func (k *fakeKubelet) requeueAll() {
	pods, _ := k.pods.List(everything)
	for _, p := range pods {
		k.queue.Add(p.Namespace + "/" + p.Name)
	}
}

func (k *fakeKubelet) setHold(node string, on bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.hold[node] = on
}

// watchUnavailable starts checking that at most limit of nodes lack a
// ready app=app pod; it returns the largest number seen so far when
// stopped with a nil nodes.
func (k *fakeKubelet) watchUnavailable(app string, nodes []string, limit int) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	seen := k.maxSeen
	k.checkApp, k.checkNodes, k.checkLimit, k.maxSeen = app, nodes, limit, 0
	return seen
}

// check records violations in the fake's view, which is a consistent
// prefix of the API's history: two live daemon pods of one DaemonSet on
// one node, or more unavailable nodes than allowed during a watched
// rollout.
func (k *fakeKubelet) check() {
	pods, _ := k.pods.List(everything)
	type slot struct{ owner, node string }
	live := map[slot][]string{}
	ready := map[string]bool{}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, p := range pods {
		ref := metav1.GetControllerOf(p)
		if ref == nil || terminating(p) || finished(p) {
			continue
		}
		n := TargetNode(p)
		s := slot{string(ref.UID), n}
		live[s] = append(live[s], p.Name)
		if len(live[s]) == 2 {
			k.violations = append(k.violations, fmt.Sprintf("two live pods of %s on node %s: %v", ref.Name, n, live[s]))
		}
		if _, ok := readySince(p); ok && p.Labels["app"] == k.checkApp {
			ready[n] = true
		}
	}
	if k.checkNodes == nil {
		return
	}
	missing := 0
	for _, n := range k.checkNodes {
		if !ready[n] {
			missing++
		}
	}
	k.maxSeen = max(k.maxSeen, missing)
	if missing > k.checkLimit {
		k.violations = append(k.violations, fmt.Sprintf("%d nodes without a ready %s pod, limit %d", missing, k.checkApp, k.checkLimit))
	}
}

func (k *fakeKubelet) process(ctx context.Context, key string) {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	pod, err := k.pods.Pods(ns).Get(name)
	if err != nil {
		return
	}
	pods := k.client.CoreV1().Pods(ns)
	switch {
	case terminating(pod):
		zero := int64(0)
		err := pods.Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &pod.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			k.queue.AddAfter(key, 50*time.Millisecond)
		}
	case pod.Spec.NodeName == "":
		target := TargetNode(pod)
		if _, err := k.nodes.Get(target); err != nil {
			return // no such node (yet): a node add requeues
		}
		err := pods.Bind(ctx, &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: pod.UID},
			Target:     corev1.ObjectReference{Kind: "Node", Name: target},
		}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			k.queue.AddAfter(key, 50*time.Millisecond)
		}
	case pod.Status.Phase == corev1.PodPending || pod.Status.Phase == "":
		k.mu.Lock()
		held := k.hold[pod.Spec.NodeName]
		since, ok := k.boundAt[string(pod.UID)]
		if !ok {
			since = time.Now()
			k.boundAt[string(pod.UID)] = since
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
		p.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		}
		if _, err := pods.UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			k.queue.AddAfter(key, 50*time.Millisecond)
		}
	}
}
