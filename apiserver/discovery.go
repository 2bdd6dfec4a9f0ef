package apiserver

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"sort"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
)

// discoveryDocs are the discovery documents of one resource table, built
// once from it (a new table builds its own).
type discoveryDocs struct {
	versions    *metav1.APIVersions
	groups      *metav1.APIGroupList
	groupByName map[string]*metav1.APIGroup
	resources   map[schema.GroupVersion]*metav1.APIResourceList
	aggregated  map[bool]*apidiscoveryv2.APIGroupDiscoveryList // by legacy (/api) or not (/apis)
}

var allVerbs = metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

// storageVersionHash is kube-apiserver's: a short hash of the storage
// version's group/version/kind, which clients compare for changes.
func storageVersionHash(gvk schema.GroupVersionKind) string {
	sum := sha256.Sum256([]byte(gvk.Group + "/" + gvk.Version + "/" + gvk.Kind))
	return base64.StdEncoding.EncodeToString(sum[:8])
}

func buildDiscovery(t *resourceTable) *discoveryDocs {
	d := &discoveryDocs{
		versions:    &metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"}},
		groups:      &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}},
		groupByName: map[string]*metav1.APIGroup{},
		resources:   map[schema.GroupVersion]*metav1.APIResourceList{},
		aggregated:  map[bool]*apidiscoveryv2.APIGroupDiscoveryList{},
	}
	d.versions.ServerAddressByClientCIDRs = []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: ""}}
	aggGroups := map[string]*apidiscoveryv2.APIGroupDiscovery{}
	groupIdx := map[string]int{} // index in d.groups.Groups
	var groupOrder []string
	for _, r := range t.order {
		k := r.kind
		gv := k.GVK.GroupVersion()
		list := d.resources[gv]
		if list == nil {
			list = &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String()}
			d.resources[gv] = list
			v := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
			if i, ok := groupIdx[gv.Group]; ok {
				d.groups.Groups[i].Versions = append(d.groups.Groups[i].Versions, v)
			} else if gv.Group != "" {
				groupIdx[gv.Group] = len(d.groups.Groups)
				d.groups.Groups = append(d.groups.Groups, metav1.APIGroup{TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"},
					Name: gv.Group, Versions: []metav1.GroupVersionForDiscovery{v}})
			}
			ag := aggGroups[gv.Group]
			if ag == nil {
				ag = &apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: gv.Group}}
				aggGroups[gv.Group] = ag
				groupOrder = append(groupOrder, gv.Group)
			}
			ag.Versions = append(ag.Versions, apidiscoveryv2.APIVersionDiscovery{Version: gv.Version, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent})
		}
		hashGVK := k.GVK
		if k.Custom != nil {
			hashGVK.Version = k.Custom.StorageVersion
		}
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name: k.Resource, SingularName: k.Singular, Namespaced: k.Namespaced, Kind: k.GVK.Kind,
			Verbs: allVerbs, ShortNames: k.ShortNames, Categories: k.Categories,
			StorageVersionHash: storageVersionHash(hashGVK),
		})
		scope := apidiscoveryv2.ScopeCluster
		if k.Namespaced {
			scope = apidiscoveryv2.ScopeNamespace
		}
		ar := apidiscoveryv2.APIResourceDiscovery{
			Resource: k.Resource, SingularResource: k.Singular, Scope: scope, Verbs: allVerbs,
			ResponseKind: &metav1.GroupVersionKind{Group: k.GVK.Group, Version: k.GVK.Version, Kind: k.GVK.Kind},
			ShortNames:   k.ShortNames, Categories: k.Categories,
		}
		for _, sub := range subresourceDocs(r) {
			list.APIResources = append(list.APIResources, metav1.APIResource{
				Name: k.Resource + "/" + sub.name, Namespaced: k.Namespaced, Kind: sub.kind.Kind,
				Group: sub.kind.Group, Version: sub.kind.Version, Verbs: sub.verbs})
			ar.Subresources = append(ar.Subresources, apidiscoveryv2.APISubresourceDiscovery{
				Subresource: sub.name, Verbs: sub.verbs,
				ResponseKind: &metav1.GroupVersionKind{Group: sub.kind.Group, Version: sub.kind.Version, Kind: sub.kind.Kind}})
		}
		ag := aggGroups[gv.Group]
		for i := range ag.Versions {
			if ag.Versions[i].Version == gv.Version {
				ag.Versions[i].Resources = append(ag.Versions[i].Resources, ar)
			}
		}
	}
	// The groups served without a resource table entry, unless a CRD took
	// the group: metrics.k8s.io, computed from usage reports (metrics.go);
	// authentication.k8s.io, token and self reviews (authentication.go);
	// authorization.k8s.io, access reviews (authorization_reviews.go).
	for _, v := range []virtualGroup{metricsDiscovery(), authenticationDiscovery(), authorizationDiscovery()} {
		if _, taken := groupIdx[v.gv.Group]; taken {
			continue
		}
		docs := v.docs()
		d.groups.Groups = append(d.groups.Groups, docs.group)
		d.resources[v.gv] = docs.list
		aggGroups[v.gv.Group] = docs.agg
		groupOrder = append(groupOrder, v.gv.Group)
	}
	// A group's versions in Kubernetes' priority order (v2 > v1 > v1beta1),
	// the first preferred: a CRD may serve several.
	for i := range d.groups.Groups {
		g := &d.groups.Groups[i]
		sort.SliceStable(g.Versions, func(a, b int) bool {
			return version.CompareKubeAwareVersionStrings(g.Versions[a].Version, g.Versions[b].Version) > 0
		})
		g.PreferredVersion = g.Versions[0]
		d.groupByName[g.Name] = g
	}
	for _, ag := range aggGroups {
		sort.SliceStable(ag.Versions, func(a, b int) bool {
			return version.CompareKubeAwareVersionStrings(ag.Versions[a].Version, ag.Versions[b].Version) > 0
		})
	}
	for _, legacy := range []bool{true, false} {
		l := &apidiscoveryv2.APIGroupDiscoveryList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: "apidiscovery.k8s.io/v2"}}
		for _, g := range groupOrder {
			if (g == "") == legacy {
				l.Items = append(l.Items, *aggGroups[g])
			}
		}
		d.aggregated[legacy] = l
	}
	return d
}

type subresourceDoc struct {
	name  string
	kind  schema.GroupVersionKind
	verbs metav1.Verbs
}

func subresourceDocs(r *resource) []subresourceDoc {
	k := r.kind
	var subs []subresourceDoc
	rw := metav1.Verbs{"get", "patch", "update"}
	if k.HasStatus {
		subs = append(subs, subresourceDoc{"status", k.GVK, rw})
	}
	if k.Scale != nil {
		subs = append(subs, subresourceDoc{"scale", scaleGVK, rw})
	}
	switch k.Resource {
	case "pods":
		subs = append(subs,
			subresourceDoc{"binding", schema.GroupVersionKind{Version: "v1", Kind: "Binding"}, metav1.Verbs{"create"}},
			subresourceDoc{"eviction", schema.GroupVersionKind{Group: "policy", Version: "v1", Kind: "Eviction"}, metav1.Verbs{"create"}},
			subresourceDoc{"exec", schema.GroupVersionKind{Version: "v1", Kind: "PodExecOptions"}, metav1.Verbs{"create", "get"}},
			subresourceDoc{"log", k.GVK, metav1.Verbs{"get"}})
	case "namespaces":
		subs = append(subs, subresourceDoc{"finalize", k.GVK, metav1.Verbs{"update"}})
	case "serviceaccounts":
		subs = append(subs, subresourceDoc{"token", authenticationv1.SchemeGroupVersion.WithKind("TokenRequest"), metav1.Verbs{"create"}})
	}
	return subs
}

// serveDiscovery answers the discovery paths; false for any other path.
func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request) bool {
	parts := splitPath(r.URL.Path)
	if len(parts) == 0 || len(parts) > 3 || (parts[0] == "api" && len(parts) > 2) {
		return false
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	d := s.resources().docs(s)
	var obj runtime.Object
	legacy := parts[0] == "api"
	switch {
	case len(parts) == 1:
		out, err := s.negotiate(r, nil)
		if err != nil {
			s.writeError(w, r, err)
			return true
		}
		if out.kind == outDiscovery {
			w.Header().Set("Vary", "Accept")
			out.mediaType += ";g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
			s.writeObject(w, r, out, http.StatusOK, d.aggregated[legacy])
			return true
		}
		if legacy {
			v := *d.versions
			v.ServerAddressByClientCIDRs = []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host}}
			obj = &v
		} else {
			obj = d.groups
		}
	case legacy && len(parts) == 2:
		list := d.resources[schema.GroupVersion{Version: parts[1]}]
		if list == nil {
			return false
		}
		obj = list
	case !legacy && len(parts) == 2:
		g := d.groupByName[parts[1]]
		if g == nil {
			return false
		}
		obj = g
	case !legacy && len(parts) == 3:
		list := d.resources[schema.GroupVersion{Group: parts[1], Version: parts[2]}]
		if list == nil {
			return false
		}
		obj = list
	default:
		return false
	}
	out, err := s.negotiate(r, nil)
	if err != nil {
		s.writeError(w, r, err)
		return true
	}
	out.kind = outObject
	if out.mediaType == mediaProtobuf {
		out.mediaType, out.info = mediaJSON, s.jsonInfo()
	}
	s.writeObject(w, r, out, http.StatusOK, obj)
	return true
}

func (s *Server) jsonInfo() runtime.SerializerInfo {
	info, _ := s.serializer(mediaJSON)
	return info
}

// virtualGroup is an API group whose resources are computed or reviewed
// on request, not stored: one version, its resources' verbs fixed.
type virtualGroup struct {
	gv        schema.GroupVersion
	verbs     metav1.Verbs
	resources []virtualResource
}

type virtualResource struct {
	resource, singular, kind string
	namespaced               bool
}

// virtualDiscoveryDocs are a virtual group's discovery documents.
type virtualDiscoveryDocs struct {
	group metav1.APIGroup
	list  *metav1.APIResourceList
	agg   *apidiscoveryv2.APIGroupDiscovery
}

// docs builds g's legacy and aggregated discovery documents.
func (g virtualGroup) docs() virtualDiscoveryDocs {
	gv := g.gv
	v := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
	d := virtualDiscoveryDocs{
		group: metav1.APIGroup{TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"},
			Name: gv.Group, Versions: []metav1.GroupVersionForDiscovery{v}, PreferredVersion: v},
		list: &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String()},
		agg: &apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: gv.Group},
			Versions: []apidiscoveryv2.APIVersionDiscovery{{Version: gv.Version, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}}},
	}
	for _, r := range g.resources {
		d.list.APIResources = append(d.list.APIResources, metav1.APIResource{
			Name: r.resource, SingularName: r.singular, Namespaced: r.namespaced, Kind: r.kind, Verbs: g.verbs})
		scope := apidiscoveryv2.ScopeCluster
		if r.namespaced {
			scope = apidiscoveryv2.ScopeNamespace
		}
		d.agg.Versions[0].Resources = append(d.agg.Versions[0].Resources, apidiscoveryv2.APIResourceDiscovery{
			Resource: r.resource, SingularResource: r.singular, Scope: scope, Verbs: g.verbs,
			ResponseKind: &metav1.GroupVersionKind{Group: gv.Group, Version: gv.Version, Kind: r.kind}})
	}
	return d
}
