package podautoscaler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
)

// Metrics reads pods' resource usage.
type Metrics interface {
	// PodUsage returns the usage of resource, in milli-units, of the pods
	// of namespace ns that selector matches, by pod name. Pods the source
	// has no sample of are absent.
	PodUsage(ctx context.Context, ns string, selector labels.Selector, resource corev1.ResourceName) (map[string]int64, error)
}

// APIMetrics reads the resource metrics API (metrics.k8s.io/v1beta1
// PodMetrics), which metrics-server serves in Kubernetes and Kelson's API
// server serves from the nodes' usage reports. With no report for the
// target's pods, reads fail as Kubernetes' do ("no metrics returned") and
// autoscalers say so (FailedGetResourceMetric).
type APIMetrics struct{ Client kubernetes.Interface }

// podMetricsList is the part of metrics.k8s.io/v1beta1 PodMetricsList the
// autoscaler reads (the metrics module is not a dependency).
type podMetricsList struct {
	Items []struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Containers []struct {
			Name  string                       `json:"name"`
			Usage map[string]resource.Quantity `json:"usage"`
		} `json:"containers"`
	} `json:"items"`
}

// PodUsage implements Metrics.
func (m APIMetrics) PodUsage(ctx context.Context, ns string, selector labels.Selector, res corev1.ResourceName) (map[string]int64, error) {
	path := "/apis/metrics.k8s.io/v1beta1/namespaces/" + ns + "/pods"
	raw, err := m.Client.Discovery().RESTClient().Get().AbsPath(path).Param("labelSelector", selector.String()).DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("unable to fetch metrics from resource metrics API: %w", err)
	}
	var list podMetricsList
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("unable to decode metrics from resource metrics API: %w", err)
	}
	if len(list.Items) == 0 {
		return nil, fmt.Errorf("unable to get metrics for resource %s: no metrics returned from resource metrics API", res)
	}
	out := map[string]int64{}
	for _, it := range list.Items {
		var sum int64
		found := false
		for _, c := range it.Containers {
			if q, ok := c.Usage[string(res)]; ok {
				sum += q.MilliValue()
				found = true
			}
		}
		if found {
			out[it.Metadata.Name] = sum
		}
	}
	return out, nil
}

// scaleClient reads and writes the scale subresource of any kind that has
// one, finding its resource through discovery (cached per kind).
type scaleClient struct {
	client kubernetes.Interface
	mu     sync.Mutex
	paths  map[schema.GroupVersionKind]string // "/apis/apps/v1/namespaces/%s/deployments/%s/scale" minus ns and name
}

func newScaleClient(client kubernetes.Interface) *scaleClient {
	return &scaleClient{client: client, paths: map[schema.GroupVersionKind]string{}}
}

// errNoScale: the target's kind has no scale subresource.
var errNoScale = errors.New("has no scale subresource")

func (s *scaleClient) path(ref autoscalingv2.CrossVersionObjectReference, ns string) (string, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return "", err
	}
	gvk := gv.WithKind(ref.Kind)
	s.mu.Lock()
	resource, ok := s.paths[gvk]
	s.mu.Unlock()
	if !ok {
		list, err := s.client.Discovery().ServerResourcesForGroupVersion(ref.APIVersion)
		if err != nil {
			return "", fmt.Errorf("discover %s: %w", ref.APIVersion, err)
		}
		hasScale := map[string]bool{}
		for _, r := range list.APIResources {
			if base, sub, ok := strings.Cut(r.Name, "/"); ok && sub == "scale" {
				hasScale[base] = true
			} else if !ok && r.Kind == ref.Kind {
				resource = r.Name
			}
		}
		if resource == "" || !hasScale[resource] {
			return "", fmt.Errorf("%s %s: %w", ref.Kind, ref.APIVersion, errNoScale)
		}
		s.mu.Lock()
		s.paths[gvk] = resource
		s.mu.Unlock()
	}
	prefix := "/apis/" + gv.Group + "/" + gv.Version
	if gv.Group == "" {
		prefix = "/api/" + gv.Version
	}
	return prefix + "/namespaces/" + url.PathEscape(ns) + "/" + resource + "/" + url.PathEscape(ref.Name) + "/scale", nil
}

func (s *scaleClient) get(ctx context.Context, ns string, ref autoscalingv2.CrossVersionObjectReference) (*autoscalingv1.Scale, error) {
	p, err := s.path(ref, ns)
	if err != nil {
		return nil, err
	}
	raw, err := s.client.Discovery().RESTClient().Get().AbsPath(p).DoRaw(ctx)
	if err != nil {
		return nil, err
	}
	var sc autoscalingv1.Scale
	if err := json.Unmarshal(raw, &sc); err != nil {
		return nil, fmt.Errorf("decode %s: %w", p, err)
	}
	return &sc, nil
}

// update writes spec.replicas through the scale subresource, conditioned
// on the resourceVersion sc was read at.
func (s *scaleClient) update(ctx context.Context, ns string, ref autoscalingv2.CrossVersionObjectReference, sc *autoscalingv1.Scale, replicas int32) error {
	p, err := s.path(ref, ns)
	if err != nil {
		return err
	}
	next := sc.DeepCopy()
	next.Spec.Replicas = replicas
	next.APIVersion, next.Kind = "autoscaling/v1", "Scale"
	body, err := json.Marshal(next)
	if err != nil {
		return err
	}
	_, err = s.client.Discovery().RESTClient().Put().AbsPath(p).SetHeader("Content-Type", "application/json").Body(body).DoRaw(ctx)
	return err
}
