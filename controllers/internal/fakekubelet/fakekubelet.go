package fakekubelet

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Config configures Start. Zero values mean: every pod ready at once.
type Config struct {
	// Delay before a new pod is marked Ready.
	Delay time.Duration
	// Jitter adds a random [0, Jitter) to Delay per pod (from Seed).
	Jitter time.Duration
	// Seed of the jitter.
	Seed uint64
	// NeverReady, when set, names pods that stay Pending forever (e.g. a
	// broken image in a progress-deadline test).
	NeverReady func(*corev1.Pod) bool
}

// Kubelet is a running fake; it stops with the context given to Start.
type Kubelet struct {
	client kubernetes.Interface
	cfg    Config

	mu  sync.Mutex
	rnd *rand.Rand
	// readied counts pods marked Ready; scheduled the pods whose marking
	// is due. Guarded by mu.
	readied   int
	scheduled map[types.UID]bool
}

// Start runs a fake kubelet over every namespace until ctx ends.
func Start(ctx context.Context, client kubernetes.Interface, cfg Config) *Kubelet {
	k := &Kubelet{client: client, cfg: cfg, rnd: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)), scheduled: map[types.UID]bool{}}
	f := informers.NewSharedInformerFactory(client, 0)
	inf := f.Core().V1().Pods().Informer()
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { k.observe(ctx, obj.(*corev1.Pod)) },
		UpdateFunc: func(_, obj any) { k.observe(ctx, obj.(*corev1.Pod)) },
	})
	f.Start(ctx.Done())
	go func() { <-ctx.Done(); f.Shutdown() }()
	return k
}

// Readied is how many pods this fake has marked Ready.
func (k *Kubelet) Readied() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.readied
}

func (k *Kubelet) observe(ctx context.Context, pod *corev1.Pod) {
	switch {
	case pod.DeletionTimestamp != nil:
		uid := pod.UID
		zero := int64(0)
		go func() {
			_ = k.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
				GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
		}()
	case pod.Status.Phase == corev1.PodRunning || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed:
	case k.cfg.NeverReady != nil && k.cfg.NeverReady(pod):
	default:
		k.mu.Lock()
		if k.scheduled[pod.UID] {
			k.mu.Unlock()
			return
		}
		k.scheduled[pod.UID] = true
		d := k.cfg.Delay
		if k.cfg.Jitter > 0 {
			d += time.Duration(k.rnd.Int64N(int64(k.cfg.Jitter)))
		}
		k.mu.Unlock()
		ns, name, uid := pod.Namespace, pod.Name, pod.UID
		time.AfterFunc(d, func() { k.markReady(ctx, ns, name, uid) })
	}
}

// markReady sets the pod Running and Ready, retrying conflicts.
func (k *Kubelet) markReady(ctx context.Context, ns, name string, uid types.UID) {
	for attempt := 0; attempt < 10 && ctx.Err() == nil; attempt++ {
		pod, err := k.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil || pod.UID != uid || pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodRunning {
			return
		}
		now := metav1.Now()
		pod.Status.Phase = corev1.PodRunning
		pod.Status.StartTime = &now
		pod.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		}
		pod.Status.ContainerStatuses = nil
		for _, c := range pod.Spec.Containers {
			started := true
			pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{
				Name: c.Name, Image: c.Image, ImageID: c.Image, Ready: true, Started: &started,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
			})
		}
		_, err = k.client.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		if err == nil {
			k.mu.Lock()
			k.readied++
			k.mu.Unlock()
			return
		}
		if !apierrors.IsConflict(err) {
			return
		}
	}
}
