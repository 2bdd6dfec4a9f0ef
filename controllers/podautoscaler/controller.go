package podautoscaler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	autoscalinglisters "k8s.io/client-go/listers/autoscaling/v2"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

// Name is the controller's name in the manager (kube-controller-manager's).
const Name = "horizontalpodautoscaling"

// DefaultSyncPeriod is how often each autoscaler is evaluated
// (kube-controller-manager's --horizontal-pod-autoscaler-sync-period).
const DefaultSyncPeriod = 15 * time.Second

// Controller scales the targets of HorizontalPodAutoscalers. Build it
// with New.
type Controller struct {
	// SyncPeriod between evaluations of one autoscaler; zero means
	// DefaultSyncPeriod. Set before Run.
	SyncPeriod time.Duration
	// Metrics is where pod usage comes from; default APIMetrics (the
	// metrics.k8s.io API). Set before Run.
	Metrics Metrics

	client   kubernetes.Interface
	recorder record.EventRecorder
	log      *slog.Logger
	now      func() time.Time
	queue    controllers.Queue
	scales   *scaleClient
	hpas     autoscalinglisters.HorizontalPodAutoscalerLister
	pods     corelisters.PodLister
	synced   []cache.InformerSynced

	mu      sync.Mutex
	history map[string]*History // by autoscaler key; guarded by mu
}

// New registers the controller's informer handlers; it does no IO.
func New(cctx *controllers.Context) *Controller {
	f := cctx.Informers
	c := &Controller{
		client:   cctx.Client,
		recorder: cctx.RecorderFor("horizontal-pod-autoscaler"),
		log:      cctx.Logger.With("controller", Name),
		now:      cctx.Now,
		queue:    controllers.NewQueue(Name),
		scales:   newScaleClient(cctx.Client),
		history:  map[string]*History{},
	}
	hpaInf, podInf := f.Autoscaling().V2().HorizontalPodAutoscalers(), f.Core().V1().Pods()
	c.hpas, c.pods = hpaInf.Lister(), podInf.Lister()
	c.synced = []cache.InformerSynced{hpaInf.Informer().HasSynced, podInf.Informer().HasSynced}
	hpaInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { controllers.Enqueue(c.queue, obj) },
		UpdateFunc: func(old, obj any) {
			if o, n := old.(*autoscalingv2.HorizontalPodAutoscaler), obj.(*autoscalingv2.HorizontalPodAutoscaler); !equality.Semantic.DeepEqual(o.Spec, n.Spec) {
				controllers.Enqueue(c.queue, obj)
			}
		},
		DeleteFunc: func(obj any) {
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				c.mu.Lock()
				delete(c.history, key)
				c.mu.Unlock()
			}
		},
	})
	return c
}

// Run evaluates autoscalers until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	if c.Metrics == nil {
		c.Metrics = APIMetrics{Client: c.client}
	}
	if c.SyncPeriod <= 0 {
		c.SyncPeriod = DefaultSyncPeriod
	}
	return controllers.RunWorkers(ctx, Name, c.log, c.queue, 2, c.sync, c.synced...)
}

// evaluation is one sync's findings, written to status.
type evaluation struct {
	current, desired int32
	metrics          []autoscalingv2.MetricStatus
	conditions       []autoscalingv2.HorizontalPodAutoscalerCondition
	rescaled         bool
}

func (e *evaluation) condition(t autoscalingv2.HorizontalPodAutoscalerConditionType, ok bool, r Reason) {
	st := corev1.ConditionFalse
	if ok {
		st = corev1.ConditionTrue
	}
	e.conditions = append(e.conditions, autoscalingv2.HorizontalPodAutoscalerCondition{Type: t, Status: st, Reason: r.Reason, Message: r.Message})
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	hpa, err := c.hpas.HorizontalPodAutoscalers(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	c.queue.AddAfter(key, c.SyncPeriod)
	now := c.now()
	e := evaluation{current: hpa.Status.CurrentReplicas, desired: hpa.Status.DesiredReplicas}
	ref := hpa.Spec.ScaleTargetRef
	scale, err := c.scales.get(ctx, ns, ref)
	if err != nil {
		c.recorder.Event(hpa, corev1.EventTypeWarning, "FailedGetScale", err.Error())
		e.condition(autoscalingv2.AbleToScale, false, Reason{"FailedGetScale", fmt.Sprintf("the HPA controller was unable to get the target's current scale: %v", err)})
		return c.writeStatus(ctx, hpa, e, now)
	}
	e.current = scale.Status.Replicas
	current := scale.Spec.Replicas
	minReplicas := int32(1)
	if hpa.Spec.MinReplicas != nil {
		minReplicas = *hpa.Spec.MinReplicas
	}
	up, down := Behavior(hpa.Spec.Behavior)
	var desired int32
	var why string
	switch {
	case current == 0 && minReplicas != 0:
		e.desired = 0
		e.condition(autoscalingv2.AbleToScale, true, Reason{"SucceededGetScale", "the HPA controller was able to get the target's current scale"})
		e.condition(autoscalingv2.ScalingActive, false, Reason{"ScalingDisabled", "scaling is disabled since the replica count of the target is zero"})
		return c.writeStatus(ctx, hpa, e, now)
	case current > hpa.Spec.MaxReplicas:
		desired, why = hpa.Spec.MaxReplicas, "Current number of replicas above Spec.MaxReplicas"
		e.condition(autoscalingv2.AbleToScale, true, reasonReady)
	case current < minReplicas:
		desired, why = minReplicas, "Current number of replicas below Spec.MinReplicas"
		e.condition(autoscalingv2.AbleToScale, true, reasonReady)
	default:
		proposed, metrics, metricName, err := c.computeReplicas(ctx, hpa, scale, current, up, down)
		e.metrics = metrics
		if err != nil {
			e.condition(autoscalingv2.AbleToScale, true, Reason{"SucceededGetScale", "the HPA controller was able to get the target's current scale"})
			e.condition(autoscalingv2.ScalingActive, false, Reason{"FailedGetResourceMetric", err.Error()})
			e.desired = current
			return c.writeStatus(ctx, hpa, e, now)
		}
		e.condition(autoscalingv2.ScalingActive, true, Reason{"ValidMetricFound",
			fmt.Sprintf("the HPA was able to successfully calculate a replica count from %s", metricName)})
		h := c.historyOf(key, current, up, down, now)
		out := Normalize(up, down, minReplicas, hpa.Spec.MaxReplicas, current, proposed, *h, now)
		c.mu.Lock()
		h.Recommendations = append(h.Recommendations, Timed{At: now, Replicas: proposed})
		c.mu.Unlock()
		e.condition(autoscalingv2.AbleToScale, true, out.Able)
		e.condition(autoscalingv2.ScalingLimited, out.Limiting, out.Limited)
		desired = out.Replicas
		switch {
		case desired > current:
			why = fmt.Sprintf("%s above target", metricName)
		case desired < current:
			why = "All metrics below target"
		}
	}
	e.desired = desired
	if desired != current {
		if err := c.scales.update(ctx, ns, ref, scale, desired); err != nil {
			c.recorder.Eventf(hpa, corev1.EventTypeWarning, "FailedRescale", "New size: %d; reason: %s; error: %v", desired, why, err)
			e.conditions = e.conditions[:0]
			e.condition(autoscalingv2.AbleToScale, false, Reason{"FailedUpdateScale", fmt.Sprintf("the HPA controller was unable to update the target scale: %v", err)})
			return c.writeStatus(ctx, hpa, e, now)
		}
		c.recorder.Eventf(hpa, corev1.EventTypeNormal, "SuccessfulRescale", "New size: %d; reason: %s", desired, why)
		c.log.Info("rescaled", "autoscaler", key, "from", current, "to", desired, "reason", why)
		c.mu.Lock()
		if h := c.history[key]; h != nil {
			h.Events = append(h.Events, ScaleEvent{At: now, Change: desired - current})
		}
		c.mu.Unlock()
		e.rescaled = true
		e.conditions = replaceCondition(e.conditions, autoscalingv2.AbleToScale, corev1.ConditionTrue,
			Reason{"SucceededRescale", fmt.Sprintf("the HPA controller was able to update the target scale to %d", desired)})
	}
	return c.writeStatus(ctx, hpa, e, now)
}

// historyOf is the autoscaler's history, pruned; a first look records
// the current count, so that a new autoscaler (or a new leader) does not
// scale down before the scale-down window has passed.
func (c *Controller) historyOf(key string, current int32, up, down Rules, now time.Time) *History {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.history[key]
	if h == nil {
		h = &History{}
		if down.Window > 0 {
			h.Recommendations = append(h.Recommendations, Timed{At: now, Replicas: current})
		}
		c.history[key] = h
	}
	h.Prune(up, down, now)
	return h
}

// computeReplicas evaluates every metric and takes the largest count.
// Only Resource metrics are supported; when some metric cannot be
// evaluated, the target is not scaled down.
func (c *Controller) computeReplicas(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler, scale *autoscalingv1.Scale,
	current int32, up, down Rules) (int32, []autoscalingv2.MetricStatus, string, error) {
	selector, err := labels.Parse(scale.Status.Selector)
	if err != nil || scale.Status.Selector == "" {
		return 0, nil, "", fmt.Errorf("the HPA target's scale has no valid selector %q", scale.Status.Selector)
	}
	pods, err := c.pods.Pods(hpa.Namespace).List(selector)
	if err != nil {
		return 0, nil, "", err
	}
	var statuses []autoscalingv2.MetricStatus
	var firstErr error
	invalid := 0
	best, bestName := int32(-1), ""
	for _, m := range hpa.Spec.Metrics {
		if m.Type != autoscalingv2.ResourceMetricSourceType || m.Resource == nil {
			invalid++
			firstErr = cmpErr(firstErr, fmt.Errorf("metric type %s is not supported yet: only Resource metrics are", m.Type))
			continue
		}
		r, st, err := c.resourceReplicas(ctx, hpa.Namespace, selector, pods, m.Resource, current, up, down)
		if err != nil {
			invalid++
			firstErr = cmpErr(firstErr, err)
			c.recorder.Event(hpa, corev1.EventTypeWarning, "FailedGetResourceMetric", err.Error())
			continue
		}
		statuses = append(statuses, st)
		if r > best {
			best, bestName = r, fmt.Sprintf("%s resource", m.Resource.Name)
			if m.Resource.Target.Type == autoscalingv2.UtilizationMetricType {
				bestName += " utilization (percentage of request)"
			}
		}
	}
	if invalid > 0 {
		c.recorder.Eventf(hpa, corev1.EventTypeWarning, "FailedComputeMetricsReplicas",
			"invalid metrics (%d invalid out of %d), first error is: %v", invalid, len(hpa.Spec.Metrics), firstErr)
		if best < 0 {
			return 0, statuses, "", fmt.Errorf("the HPA was unable to compute the replica count: %w", firstErr)
		}
		best = max(best, current)
	}
	return best, statuses, bestName, nil
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// resourceReplicas evaluates one Resource metric over the target's pods.
func (c *Controller) resourceReplicas(ctx context.Context, ns string, selector labels.Selector, all []*corev1.Pod,
	m *autoscalingv2.ResourceMetricSource, current int32, up, down Rules) (int32, autoscalingv2.MetricStatus, error) {
	usage, err := c.Metrics.PodUsage(ctx, ns, selector, m.Name)
	if err != nil {
		return 0, autoscalingv2.MetricStatus{}, fmt.Errorf("failed to get %s utilization: %w", m.Name, err)
	}
	var t Target
	switch m.Target.Type {
	case autoscalingv2.UtilizationMetricType:
		if m.Target.AverageUtilization == nil {
			return 0, autoscalingv2.MetricStatus{}, errors.New("the Utilization target has no averageUtilization")
		}
		t.Utilization = m.Target.AverageUtilization
	case autoscalingv2.AverageValueMetricType:
		if m.Target.AverageValue == nil {
			return 0, autoscalingv2.MetricStatus{}, errors.New("the AverageValue target has no averageValue")
		}
		v := m.Target.AverageValue.MilliValue()
		t.AverageValue = &v
	default:
		return 0, autoscalingv2.MetricStatus{}, fmt.Errorf("target type %s is not supported for Resource metrics", m.Target.Type)
	}
	var pods []Pod
	for _, p := range all {
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
			continue
		}
		req, err := podRequest(p, m.Name)
		if err != nil && t.Utilization != nil {
			return 0, autoscalingv2.MetricStatus{}, err
		}
		pod := Pod{Name: p.Name, Ready: podReady(p), Request: req}
		if u, ok := usage[p.Name]; ok {
			pod.Usage = &u
		}
		pods = append(pods, pod)
	}
	rec, err := Replicas(current, pods, t, Tolerances{Down: down.Tolerance, Up: up.Tolerance})
	if err != nil {
		return 0, autoscalingv2.MetricStatus{}, fmt.Errorf("failed to get %s utilization: %w", m.Name, err)
	}
	st := autoscalingv2.MetricStatus{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{
		Name: m.Name, Current: autoscalingv2.MetricValueStatus{AverageValue: resource.NewMilliQuantity(rec.AverageValue, resource.DecimalSI)}}}
	if t.Utilization != nil {
		u := rec.Utilization
		st.Resource.Current.AverageUtilization = &u
	}
	return rec.Replicas, st, nil
}

// podRequest sums the containers' requests of res, in milli-units; a
// container without one is an error (a utilization needs every request).
func podRequest(p *corev1.Pod, res corev1.ResourceName) (int64, error) {
	var sum int64
	for _, c := range p.Spec.Containers {
		q, ok := c.Resources.Requests[res]
		if !ok {
			return 0, fmt.Errorf("missing request for %s in container %s of Pod %s", res, c.Name, p.Name)
		}
		sum += q.MilliValue()
	}
	return sum, nil
}

func podReady(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func replaceCondition(conds []autoscalingv2.HorizontalPodAutoscalerCondition, t autoscalingv2.HorizontalPodAutoscalerConditionType,
	st corev1.ConditionStatus, r Reason) []autoscalingv2.HorizontalPodAutoscalerCondition {
	for i := range conds {
		if conds[i].Type == t {
			conds[i].Status, conds[i].Reason, conds[i].Message = st, r.Reason, r.Message
			return conds
		}
	}
	return append(conds, autoscalingv2.HorizontalPodAutoscalerCondition{Type: t, Status: st, Reason: r.Reason, Message: r.Message})
}

// writeStatus writes the evaluation, keeping conditions' transition
// times when their status did not change.
func (c *Controller) writeStatus(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler, e evaluation, now time.Time) error {
	st := hpa.Status.DeepCopy()
	st.ObservedGeneration = &hpa.Generation
	st.CurrentReplicas, st.DesiredReplicas = e.current, e.desired
	st.CurrentMetrics = e.metrics
	if e.rescaled {
		t := metav1.NewTime(now)
		st.LastScaleTime = &t
	}
	for _, cond := range e.conditions {
		cond.LastTransitionTime = metav1.NewTime(now)
		found := false
		for i := range st.Conditions {
			if st.Conditions[i].Type == cond.Type {
				if st.Conditions[i].Status == cond.Status {
					cond.LastTransitionTime = st.Conditions[i].LastTransitionTime
				}
				st.Conditions[i], found = cond, true
			}
		}
		if !found {
			st.Conditions = append(st.Conditions, cond)
		}
	}
	if equality.Semantic.DeepEqual(&hpa.Status, st) {
		return nil
	}
	next := hpa.DeepCopy()
	next.Status = *st
	if _, err := c.client.AutoscalingV2().HorizontalPodAutoscalers(hpa.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("podautoscaler: update status of %s/%s: %w", hpa.Namespace, hpa.Name, err)
	}
	return nil
}
