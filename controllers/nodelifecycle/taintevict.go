package nodelifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

// Wording of the taint eviction's pod condition and Events.
const (
	ReasonDeletionByTaintManager = "DeletionByTaintManager"
	MessageDeletionByTaint       = "Taint manager: deleting due to NoExecute taint"
	ReasonTaintManagerEviction   = "TaintManagerEviction"
)

// EvictionConfig configures the taint eviction controller; zero values
// mean the defaults.
type EvictionConfig struct {
	// Workers syncing nodes; default 4.
	Workers int
}

// TaintEviction deletes the pods of nodes with NoExecute taints they do
// not tolerate (kube-controller-manager's "taint-eviction-controller").
// See the package doc.
type TaintEviction struct {
	cfg      EvictionConfig
	client   kubernetes.Interface
	nodes    corelisters.NodeLister
	pods     cache.Indexer
	synced   []cache.InformerSynced
	queue    controllers.Queue
	recorder record.EventRecorder
	log      *slog.Logger
	now      func() time.Time

	mu sync.Mutex
	// firstSeen stands in for the timeAdded of taints that have none:
	// when this controller first saw them (node/key/effect).
	firstSeen map[string]time.Time
	// scheduled are the pods of each node waiting out their
	// tolerationSeconds, to tell when one is spared.
	scheduled map[string]map[string]bool
}

// NewTaintEviction builds the controller with the default config.
func NewTaintEviction(cctx *controllers.Context) *TaintEviction {
	return NewTaintEvictionWithConfig(cctx, EvictionConfig{})
}

// NewTaintEvictionWithConfig builds the controller and registers its
// handlers. No IO.
func NewTaintEvictionWithConfig(cctx *controllers.Context, cfg EvictionConfig) *TaintEviction {
	if cfg.Workers < 1 {
		cfg.Workers = 4
	}
	nodeInf := cctx.Informers.Core().V1().Nodes()
	podInf := cctx.Informers.Core().V1().Pods().Informer()
	addNodeNameIndex(podInf)
	now := cctx.Now
	if now == nil {
		now = time.Now
	}
	c := &TaintEviction{
		cfg:       cfg,
		client:    cctx.Client,
		nodes:     nodeInf.Lister(),
		pods:      podInf.GetIndexer(),
		synced:    []cache.InformerSynced{nodeInf.Informer().HasSynced, podInf.HasSynced},
		queue:     controllers.NewQueue("taint-eviction-controller"),
		recorder:  cctx.RecorderFor("taint-eviction-controller"),
		log:       cctx.Logger.With("controller", "taint-eviction-controller"),
		now:       now,
		firstSeen: map[string]time.Time{},
		scheduled: map[string]map[string]bool{},
	}
	nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if n, ok := obj.(*corev1.Node); ok && len(noExecute(n.Spec.Taints)) > 0 {
				c.queue.Add(n.Name)
			}
		},
		UpdateFunc: func(oldObj, obj any) {
			old, ok1 := oldObj.(*corev1.Node)
			n, ok2 := obj.(*corev1.Node)
			if ok1 && ok2 && !apiequality.Semantic.DeepEqual(noExecute(old.Spec.Taints), noExecute(n.Spec.Taints)) {
				c.queue.Add(n.Name)
			}
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if n, ok := obj.(*corev1.Node); ok {
				c.forget(n.Name)
			}
		},
	})
	podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
				c.queue.Add(p.Spec.NodeName)
			}
		},
		UpdateFunc: func(oldObj, obj any) {
			old, ok1 := oldObj.(*corev1.Pod)
			p, ok2 := obj.(*corev1.Pod)
			if ok1 && ok2 && p.Spec.NodeName != "" &&
				(old.Spec.NodeName != p.Spec.NodeName || !apiequality.Semantic.DeepEqual(old.Spec.Tolerations, p.Spec.Tolerations)) {
				c.queue.Add(p.Spec.NodeName)
			}
		},
	})
	return c
}

func noExecute(taints []corev1.Taint) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range taints {
		if t.Effect == corev1.TaintEffectNoExecute {
			out = append(out, t)
		}
	}
	return out
}

func (c *TaintEviction) forget(node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.scheduled, node)
	for k := range c.firstSeen {
		if len(k) > len(node) && k[:len(node)+1] == node+"/" {
			delete(c.firstSeen, k)
		}
	}
}

// Run syncs nodes until ctx ends.
func (c *TaintEviction) Run(ctx context.Context) error {
	return controllers.RunWorkers(ctx, "taint-eviction-controller", c.log, c.queue, c.cfg.Workers, c.sync, c.synced...)
}

// addedFunc is when each of node's taints was added: its timeAdded, or
// when this controller first saw it.
func (c *TaintEviction) addedFunc(node string, taints []corev1.Taint, now time.Time) func(corev1.Taint) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[string]time.Time{}
	for _, t := range taints {
		if t.TimeAdded != nil {
			continue
		}
		k := node + "/" + t.Key + "/" + string(t.Effect)
		if _, ok := c.firstSeen[k]; !ok {
			c.firstSeen[k] = now
		}
		seen[k] = c.firstSeen[k]
	}
	for k := range c.firstSeen { // taints that went
		if len(k) > len(node) && k[:len(node)+1] == node+"/" {
			if _, ok := seen[k]; !ok {
				delete(c.firstSeen, k)
			}
		}
	}
	return func(t corev1.Taint) time.Time {
		if t.TimeAdded != nil {
			return t.TimeAdded.Time
		}
		return seen[node+"/"+t.Key+"/"+string(t.Effect)]
	}
}

func (c *TaintEviction) sync(ctx context.Context, name string) error {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		c.forget(name)
		return nil
	}
	if err != nil {
		return err
	}
	now := c.now()
	taints := noExecute(node.Spec.Taints)
	pods := podsOn(c.pods, name)
	plan := evictions(taints, pods, now, c.addedFunc(name, taints, now))

	var errs []error
	evicted := map[string]bool{}
	for _, pod := range plan.evict {
		if err := c.evict(ctx, pod); err != nil {
			errs = append(errs, err)
			continue
		}
		evicted[podKey(pod)] = true
	}
	// Pods that were waiting and no longer are (the taint went, or they
	// tolerate it now) are spared.
	scheduled := map[string]bool{}
	for pod := range plan.scheduled {
		scheduled[podKey(pod)] = true
	}
	c.mu.Lock()
	before := c.scheduled[name]
	c.scheduled[name] = scheduled
	c.mu.Unlock()
	for _, pod := range pods {
		k := podKey(pod)
		if before[k] && !scheduled[k] && !evicted[k] && pod.DeletionTimestamp == nil {
			c.recorder.Eventf(pod, corev1.EventTypeNormal, ReasonTaintManagerEviction, "Cancelling deletion of Pod %s", k)
		}
	}
	if !plan.next.IsZero() {
		c.queue.AddAfter(name, plan.next.Sub(now)+10*time.Millisecond)
	}
	return errors.Join(errs...)
}

// evict marks pod with the DisruptionTarget condition and deletes it.
func (c *TaintEviction) evict(ctx context.Context, pod *corev1.Pod) error {
	key := podKey(pod)
	c.recorder.Eventf(pod, corev1.EventTypeNormal, ReasonTaintManagerEviction, "Marking for deletion Pod %s", key)
	p := pod.DeepCopy()
	if setDisruptionTarget(p, c.now()) {
		if _, err := c.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("taint eviction: condition on pod %s: %w", key, err)
		}
	}
	uid := pod.UID
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("taint eviction: delete pod %s: %w", key, err)
	}
	c.log.Info("pod evicted for a NoExecute taint", "pod", key, "node", pod.Spec.NodeName)
	return nil
}

// setDisruptionTarget adds or sets the pod's DisruptionTarget condition;
// false when it already says so.
func setDisruptionTarget(p *corev1.Pod, now time.Time) bool {
	want := corev1.PodCondition{
		Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
		Reason: ReasonDeletionByTaintManager, Message: MessageDeletionByTaint,
		LastTransitionTime: metav1.NewTime(now),
	}
	if i := podConditionIndex(p, corev1.DisruptionTarget); i >= 0 {
		c := &p.Status.Conditions[i]
		if c.Status == want.Status && c.Reason == want.Reason {
			return false
		}
		*c = want
		return true
	}
	p.Status.Conditions = append(p.Status.Conditions, want)
	return true
}

func podKey(p *corev1.Pod) string { return p.Namespace + "/" + p.Name }
