package apiserver

// The pure half of the resource metrics API (metrics.go serves it): how a
// node's or a pod's metrics follow from the node's usage report
// (metrics.kelson.dev/v1alpha1 NodeUsage).
//
// Example: node n1 reported at 10:00:00 (window 15s) usage {cpu: 1, memory:
// 2Gi} and pod default/web {c: {cpu: 250m}}. At 10:01:00 NodeMetrics n1
// is {timestamp 10:00:00, window 15s, usage {cpu: 1, memory: 2Gi}} with
// n1's labels, and PodMetrics default/web (if web exists and is bound to
// n1) has container c {cpu: 250m}. At 10:02:01 the report is stale: n1 and
// web have no metrics (404 on get, absent from lists) until n1 reports
// again.

import (
	"time"

	usagev1alpha1 "github.com/kelson-dev/kelson/api/metrics/v1alpha1"
	"github.com/kelson-dev/kelson/apiserver/kinds"
	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// metricsStaleAfter is the age past which a usage report is not served:
// its node or agent is gone or stuck (metrics-server forgets a node whose
// scrapes fail in a similar time).
const metricsStaleAfter = 2 * time.Minute

// freshReport reports whether u may be served at now. A timestamp ahead of
// now (an agent's clock ahead of the server's) is fresh.
func freshReport(u *usagev1alpha1.NodeUsage, now time.Time) bool {
	return u != nil && !u.Timestamp.IsZero() && now.Sub(u.Timestamp.Time) <= metricsStaleAfter
}

// usageIndex finds the fresh report of a node, and a pod's entry in it,
// for one request: each report's pods are indexed the first time one of
// them is asked for. Reports are shared (watch cache): read-only.
type usageIndex struct {
	report func(node string) *usagev1alpha1.NodeUsage // nil: no report
	now    time.Time
	pods   map[string]map[string]*usagev1alpha1.PodUsage // node -> namespace/name -> pod
}

func newUsageIndex(report func(node string) *usagev1alpha1.NodeUsage, now time.Time) *usageIndex {
	return &usageIndex{report: report, now: now, pods: map[string]map[string]*usagev1alpha1.PodUsage{}}
}

// node returns node's report, nil if it has none or it is stale.
func (x *usageIndex) node(name string) *usagev1alpha1.NodeUsage {
	if name == "" {
		return nil
	}
	if u := x.report(name); freshReport(u, x.now) {
		return u
	}
	return nil
}

// pod returns the report of pod's node and pod's entry in it; nil, nil
// when the pod is not bound, its node has no fresh report, or the report
// does not list it.
func (x *usageIndex) pod(pod *corev1.Pod) (*usagev1alpha1.NodeUsage, *usagev1alpha1.PodUsage) {
	u := x.node(pod.Spec.NodeName)
	if u == nil {
		return nil, nil
	}
	idx, ok := x.pods[u.Name]
	if !ok {
		idx = make(map[string]*usagev1alpha1.PodUsage, len(u.Pods))
		for i := range u.Pods {
			p := &u.Pods[i]
			idx[p.Namespace+"/"+p.Name] = p
		}
		x.pods[u.Name] = idx
	}
	if p := idx[pod.Namespace+"/"+pod.Name]; p != nil {
		return u, p
	}
	return nil, nil
}

// nodeMetricsOf is node's NodeMetrics from its fresh report u (nil: none):
// ok is false when there is no report or it holds no node usage.
func nodeMetricsOf(node *corev1.Node, u *usagev1alpha1.NodeUsage, now time.Time) (*metricsv1beta1.NodeMetrics, bool) {
	if u == nil || len(u.Usage) == 0 {
		return nil, false
	}
	return &metricsv1beta1.NodeMetrics{
		TypeMeta:   metav1.TypeMeta{APIVersion: metricsv1beta1.SchemeGroupVersion.String(), Kind: "NodeMetrics"},
		ObjectMeta: metricsMeta(&node.ObjectMeta, now),
		Timestamp:  u.Timestamp,
		Window:     u.Window,
		Usage:      u.Usage.DeepCopy(),
	}, true
}

// podMetricsOf is pod's PodMetrics from its entry p in its node's fresh
// report u; ok is false when there is none.
func podMetricsOf(pod *corev1.Pod, u *usagev1alpha1.NodeUsage, p *usagev1alpha1.PodUsage, now time.Time) (*metricsv1beta1.PodMetrics, bool) {
	if u == nil || p == nil {
		return nil, false
	}
	pm := &metricsv1beta1.PodMetrics{
		TypeMeta:   metav1.TypeMeta{APIVersion: metricsv1beta1.SchemeGroupVersion.String(), Kind: "PodMetrics"},
		ObjectMeta: metricsMeta(&pod.ObjectMeta, now),
		Timestamp:  u.Timestamp,
		Window:     u.Window,
		Containers: make([]metricsv1beta1.ContainerMetrics, len(p.Containers)),
	}
	for i, c := range p.Containers {
		pm.Containers[i] = metricsv1beta1.ContainerMetrics{Name: c.Name, Usage: c.Usage.DeepCopy()}
	}
	return pm, true
}

// metricsMeta is the metadata of a metrics object: the node's or pod's
// name, namespace and labels (which label selectors match), created now,
// as metrics-server makes it.
func metricsMeta(of *metav1.ObjectMeta, now time.Time) metav1.ObjectMeta {
	m := metav1.ObjectMeta{Name: of.Name, Namespace: of.Namespace, CreationTimestamp: metav1.NewTime(now)}
	if len(of.Labels) > 0 {
		m.Labels = make(map[string]string, len(of.Labels))
		for k, v := range of.Labels {
			m.Labels[k] = v
		}
	}
	return m
}

// metricsColumns are the columns of both metrics tables.
func metricsColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name", Description: "Name of the resource."},
		{Name: "CPU", Type: "string", Description: "CPU usage, in cores."},
		{Name: "Memory", Type: "string", Description: "Memory working set, in bytes."},
		{Name: "Window", Type: "string", Description: "The length of time the usage was averaged over."},
	}
}

// nodeMetricsKind and podMetricsKind describe the metrics kinds for
// rendering only (lists, tables, metadata): they are not in the resource
// table, have no store and no cache.
func nodeMetricsKind() *kinds.Kind {
	return &kinds.Kind{
		GVK: metricsv1beta1.SchemeGroupVersion.WithKind("NodeMetrics"), Resource: "nodes", Singular: "nodemetrics",
		New:     func() runtime.Object { return &metricsv1beta1.NodeMetrics{} },
		NewList: func() runtime.Object { return &metricsv1beta1.NodeMetricsList{} },
		Columns: metricsColumns(),
		Cells: func(o runtime.Object) []interface{} {
			m := o.(*metricsv1beta1.NodeMetrics)
			return []interface{}{m.Name, quantityCell(m.Usage, corev1.ResourceCPU), quantityCell(m.Usage, corev1.ResourceMemory), m.Window.Duration.String()}
		},
	}
}

func podMetricsKind() *kinds.Kind {
	return &kinds.Kind{
		GVK: metricsv1beta1.SchemeGroupVersion.WithKind("PodMetrics"), Resource: "pods", Singular: "podmetrics", Namespaced: true,
		New:     func() runtime.Object { return &metricsv1beta1.PodMetrics{} },
		NewList: func() runtime.Object { return &metricsv1beta1.PodMetricsList{} },
		Columns: metricsColumns(),
		Cells: func(o runtime.Object) []interface{} {
			m := o.(*metricsv1beta1.PodMetrics)
			sum := corev1.ResourceList{}
			for _, c := range m.Containers {
				for name, q := range c.Usage {
					t := sum[name]
					t.Add(q)
					sum[name] = t
				}
			}
			return []interface{}{m.Name, quantityCell(sum, corev1.ResourceCPU), quantityCell(sum, corev1.ResourceMemory), m.Window.Duration.String()}
		},
	}
}

func quantityCell(l corev1.ResourceList, name corev1.ResourceName) string {
	q, ok := l[name]
	if !ok {
		return "<none>"
	}
	if name == corev1.ResourceMemory {
		// As kubectl top: whole mebibytes.
		return apiresource.NewQuantity(q.Value()/(1<<20), apiresource.DecimalSI).String() + "Mi"
	}
	return apiresource.NewMilliQuantity(q.MilliValue(), apiresource.DecimalSI).String()
}
