package garbagecollector

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ErrUnknownKind: an ownerReference names an apiVersion/kind the API does
// not serve (yet: a CRD may be on its way). The dependent is retried with
// back-off and discovery refreshed.
var ErrUnknownKind = errors.New("garbagecollector: kind not served")

// apiResource is one served resource as the collector uses it.
type apiResource struct {
	GVR        schema.GroupVersionResource
	Kind       string
	Namespaced bool
}

// resourceMap is what discovery says is served: every kind at every
// version (to resolve ownerReferences, which may name any served version),
// and the resources to monitor (the preferred version of each resource
// that supports list, watch and delete, except the ignored ones).
type resourceMap struct {
	byGVK     map[schema.GroupVersionKind]apiResource
	preferred map[schema.GroupKind]apiResource
	monitored map[schema.GroupVersionResource]apiResource
}

// defaultIgnored are never monitored (Kubernetes' garbage collector skips
// Events too: many, short-lived, never owners).
var defaultIgnored = []schema.GroupResource{{Group: "", Resource: "events"}, {Group: "events.k8s.io", Resource: "events"}}

// buildResourceMap builds the map from discovery's groups and resource
// lists (as discovery.ServerGroupsAndResources returns them). ignored
// resources are mapped (they may be owners) but not monitored.
func buildResourceMap(groups []*metav1.APIGroup, lists []*metav1.APIResourceList, ignored []schema.GroupResource) resourceMap {
	m := resourceMap{
		byGVK:     map[schema.GroupVersionKind]apiResource{},
		preferred: map[schema.GroupKind]apiResource{},
		monitored: map[schema.GroupVersionResource]apiResource{},
	}
	preferredVersion := map[string]string{}
	for _, g := range groups {
		if g != nil {
			preferredVersion[g.Name] = g.PreferredVersion.Version
		}
	}
	for _, l := range lists {
		if l == nil {
			continue
		}
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || r.Kind == "" {
				continue // a subresource
			}
			ar := apiResource{GVR: gv.WithResource(r.Name), Kind: r.Kind, Namespaced: r.Namespaced}
			gvk := gv.WithKind(r.Kind)
			if _, dup := m.byGVK[gvk]; !dup {
				m.byGVK[gvk] = ar
			}
			pv, ok := preferredVersion[gv.Group]
			if ok && pv != gv.Version {
				continue
			}
			if _, dup := m.preferred[gvk.GroupKind()]; !dup {
				m.preferred[gvk.GroupKind()] = ar
			}
			if slices.Contains(ignored, ar.GVR.GroupResource()) {
				continue
			}
			if hasVerbs(r.Verbs, "list", "watch", "delete") {
				m.monitored[ar.GVR] = ar
			}
		}
	}
	return m
}

func hasVerbs(verbs metav1.Verbs, want ...string) bool {
	for _, w := range want {
		if !slices.Contains(verbs, w) {
			return false
		}
	}
	return true
}

// mapping resolves an ownerReference's apiVersion and kind: the exact
// version if served, else the group's preferred version of the kind (an
// object is the same at every version of its group).
func (m resourceMap) mapping(apiVersion, kind string) (apiResource, error) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return apiResource{}, fmt.Errorf("%w: apiVersion %q: %v", ErrUnknownKind, apiVersion, err)
	}
	if ar, ok := m.byGVK[gv.WithKind(kind)]; ok {
		return ar, nil
	}
	if ar, ok := m.preferred[schema.GroupKind{Group: gv.Group, Kind: kind}]; ok {
		return ar, nil
	}
	return apiResource{}, fmt.Errorf("%w: %s %s", ErrUnknownKind, apiVersion, kind)
}

// monitoredSorted lists the monitored resources in a stable order.
func (m resourceMap) monitoredSorted() []apiResource {
	out := make([]apiResource, 0, len(m.monitored))
	for _, ar := range m.monitored {
		out = append(out, ar)
	}
	slices.SortFunc(out, func(a, b apiResource) int { return strings.Compare(a.GVR.String(), b.GVR.String()) })
	return out
}
