package apiserver

// The resource metrics API, metrics.k8s.io/v1beta1: NodeMetrics (nodes,
// cluster-scoped) and PodMetrics (pods, namespaced), get and list, what
// `kubectl top` and HorizontalPodAutoscalers read. In Kubernetes
// metrics-server serves it through the aggregator; here the API server
// computes it from the node agents' usage reports (NodeUsage objects of
// metrics.kelson.dev/v1alpha1) on every request, joined with the nodes
// and pods of the watch caches (metricsview.go holds the pure part).
//
// Not in the resource table: nothing is stored, there is no cache and no
// watch. Other verbs are 405, as metrics-server's. Reads are served from
// the caches, made consistent first unless the request says
// resourceVersion=0, so a report just written is read back.

import (
	"context"
	"fmt"
	"net/http"
	"time"

	usagev1alpha1 "github.com/kelson-dev/kelson/api/metrics/v1alpha1"
	"github.com/kelson-dev/kelson/apiserver/kinds"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// metricsGroup is the group metrics.go serves.
const metricsGroup = metricsv1beta1.GroupName

// The group resources of the metrics API's errors, as metrics-server
// names them (`nodemetrics.metrics.k8s.io "n1" not found`).
var (
	nodeMetricsGR = metricsv1beta1.Resource("nodemetrics")
	podMetricsGR  = metricsv1beta1.Resource("podmetrics")
)

// metricsDiscovery: the discovery documents of metrics.k8s.io; kubectl
// top looks for the group before it reads it.
func metricsDiscovery() virtualGroup {
	g := virtualGroup{gv: metricsv1beta1.SchemeGroupVersion, verbs: metav1.Verbs{"get", "list"}}
	for _, k := range []*kinds.Kind{nodeMetricsKind(), podMetricsKind()} {
		g.resources = append(g.resources, virtualResource{k.Resource, k.Singular, k.GVK.Kind, k.Namespaced})
	}
	return g
}

// metricsSource is what metrics are computed from: the caches of nodes,
// pods and usage reports.
type metricsSource struct {
	nodes, pods, usages *resource
}

// metricsSource finds the caches and waits until they are as fresh as a
// read at resourceVersion rv needs: "" (the default) a consistent read, so
// that a report just written is served; "0" whatever they hold.
func (s *Server) metricsSource(ctx context.Context, rv string) (metricsSource, error) {
	src := metricsSource{
		nodes:  s.lookup(corev1.SchemeGroupVersion.WithResource("nodes")),
		pods:   s.lookup(corev1.SchemeGroupVersion.WithResource("pods")),
		usages: s.lookup(usagev1alpha1.SchemeGroupVersion.WithResource(usagev1alpha1.Resource)),
	}
	for _, r := range []*resource{src.nodes, src.pods, src.usages} {
		if r == nil {
			return src, apierrors.NewInternalError(fmt.Errorf("the resource metrics API needs nodes, pods and %s", usagev1alpha1.Resource))
		}
		if err := s.waitCache(ctx, r, rv, ""); err != nil {
			return src, err
		}
	}
	return src, nil
}

// index returns a usage index over the reports in the cache, at now.
func (src metricsSource) index(now time.Time) *usageIndex {
	return newUsageIndex(func(node string) *usagev1alpha1.NodeUsage {
		o, ok, _ := src.usages.cache.Get(src.usages.key("", node))
		if !ok {
			return nil
		}
		u, _ := o.Obj.(*usagev1alpha1.NodeUsage)
		return u
	}, now)
}

// serveMetrics serves every request under /apis/metrics.k8s.io/.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request, ri requestInfo) error {
	if ri.Version != metricsv1beta1.SchemeGroupVersion.Version || ri.Subresource != "" {
		return notFoundPath(r.URL.Path)
	}
	var k *kinds.Kind
	var gr schema.GroupResource
	switch ri.Resource {
	case "nodes":
		k, gr = nodeMetricsKind(), nodeMetricsGR
		if ri.namespacedPath {
			return apierrors.NewNotFound(gr, ri.Name)
		}
	case "pods":
		k, gr = podMetricsKind(), podMetricsGR
		if ri.Namespace == "" && ri.Name != "" {
			return apierrors.NewBadRequest("pods is namespaced: the path needs /namespaces/<namespace>/")
		}
	default:
		return notFoundPath(r.URL.Path)
	}
	if ri.Verb != "get" && ri.Verb != "list" {
		return apierrors.NewMethodNotSupported(gr, ri.Verb)
	}
	out, err := s.negotiate(r, nil)
	if err != nil {
		return err
	}
	view := &resource{kind: k} // rendering only: no store, no cache
	if ri.Verb == "get" {
		var opts metav1.GetOptions
		if err := s.decodeQuery(r, &opts); err != nil {
			return err
		}
		src, err := s.metricsSource(r.Context(), opts.ResourceVersion)
		if err != nil {
			return err
		}
		obj, err := src.get(ri, time.Now())
		if err != nil {
			return err
		}
		return s.respond(w, r, out, http.StatusOK, view, obj)
	}
	var opts metav1.ListOptions
	if err := s.decodeQuery(r, &opts); err != nil {
		return err
	}
	if opts.Watch {
		return apierrors.NewMethodNotSupported(gr, "watch")
	}
	src, err := s.metricsSource(r.Context(), opts.ResourceVersion)
	if err != nil {
		return err
	}
	items, err := s.listMetrics(src, ri, &opts, time.Now())
	if err != nil {
		return err
	}
	return s.respondList(w, r, out, view, items, src.usages.cache.Rev(), "", nil)
}

// get computes one NodeMetrics or PodMetrics; 404 when the node or pod
// does not exist or has no fresh usage.
func (src metricsSource) get(ri requestInfo, now time.Time) (runtime.Object, error) {
	x := src.index(now)
	if ri.Resource == "nodes" {
		o, ok, _ := src.nodes.cache.Get(src.nodes.key("", ri.Name))
		if ok {
			if node, isNode := o.Obj.(*corev1.Node); isNode {
				if m, ok := nodeMetricsOf(node, x.node(node.Name), now); ok {
					return m, nil
				}
			}
		}
		return nil, apierrors.NewNotFound(nodeMetricsGR, ri.Name)
	}
	o, ok, _ := src.pods.cache.Get(src.pods.key(ri.Namespace, ri.Name))
	if ok {
		if pod, isPod := o.Obj.(*corev1.Pod); isPod {
			u, p := x.pod(pod)
			if m, ok := podMetricsOf(pod, u, p, now); ok {
				return m, nil
			}
		}
	}
	return nil, apierrors.NewNotFound(podMetricsGR, ri.Namespace+"/"+ri.Name)
}

// listMetrics computes the metrics of the nodes or pods (of ri's
// namespace, or all) that the selectors match and that have fresh usage.
// Label selectors match the node's or pod's labels; field selectors take
// the fields of nodes or pods (metadata.name, spec.nodeName, ...). The
// whole list is returned whatever the limit, as metrics-server does.
func (s *Server) listMetrics(src metricsSource, ri requestInfo, opts *metav1.ListOptions, now time.Time) ([]runtime.Object, error) {
	of := src.pods
	if ri.Resource == "nodes" {
		of = src.nodes
	}
	sel, err := s.parseSelector(of, opts)
	if err != nil {
		return nil, err
	}
	match := sel.matcher(of)
	x := src.index(now)
	objs, _ := of.cache.List(of.listPrefix(ri.Namespace))
	items := []runtime.Object{}
	for _, o := range objs {
		if match != nil && !match(o.Obj) {
			continue
		}
		switch obj := o.Obj.(type) {
		case *corev1.Node:
			if m, ok := nodeMetricsOf(obj, x.node(obj.Name), now); ok {
				items = append(items, m)
			}
		case *corev1.Pod:
			u, p := x.pod(obj)
			if m, ok := podMetricsOf(obj, u, p, now); ok {
				items = append(items, m)
			}
		}
	}
	return items, nil
}
