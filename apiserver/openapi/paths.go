package openapi

import (
	"fmt"
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/common"
)

// This file lays out the operations of each served resource as kube-apiserver
// does: the same paths, operation IDs, actions, parameters, content types
// and body and response models, so that clients generated from, or
// validating against, kube-apiserver's OpenAPI work against ours.

// Models of meta/v1 and version types used by operations.
const (
	modelStatus          modelName = "io.k8s.apimachinery.pkg.apis.meta.v1.Status"
	modelDeleteOptions   modelName = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"
	modelPatch           modelName = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
	modelWatchEvent      modelName = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent"
	modelAPIResourceList modelName = "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList"
	modelAPIGroup        modelName = "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroup"
	modelAPIGroupList    modelName = "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroupList"
	modelAPIVersions     modelName = "io.k8s.apimachinery.pkg.apis.meta.v1.APIVersions"
	modelVersionInfo     modelName = "io.k8s.apimachinery.pkg.version.Info"
)

// Content types.
var (
	mediaObject = []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
	mediaList   = []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf",
		"application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch"}
	mediaWatch = []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf",
		"application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch"}
	mediaLog   = []string{"text/plain", "application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
	mediaPatch = []string{"application/json-patch+json", "application/merge-patch+json",
		"application/strategic-merge-patch+json", "application/apply-patch+yaml"}
	mediaAny = []string{"*/*"}
)

// Kinds of subresources served as objects of another group.
var (
	gvkScale    = schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}
	gvkEviction = schema.GroupVersionKind{Group: "policy", Version: "v1", Kind: "Eviction"}
	gvkBinding  = schema.GroupVersionKind{Version: "v1", Kind: "Binding"}
)

// groupVersionPath is a group version's path below /openapi/v3 and below
// the server root: "api/v1" for the core group, "apis/<group>/<version>"
// otherwise.
func groupVersionPath(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "api/" + gv.Version
	}
	return "apis/" + gv.Group + "/" + gv.Version
}

// groupName is a group's name in operation IDs: the labels before ".k8s.io"
// (or the whole group), each capitalised; "Core" for the core group.
//
//	""                          -> Core
//	apps                        -> Apps
//	rbac.authorization.k8s.io   -> RbacAuthorization
func groupName(group string) string {
	if group == "" {
		return "Core"
	}
	var b strings.Builder
	for _, label := range strings.Split(strings.TrimSuffix(group, ".k8s.io"), ".") {
		b.WriteString(capitalize(label))
	}
	return b.String()
}

// groupTag is a group's operation tag prefix: groupName with a lower-case
// first letter ("core", "apps", "rbacAuthorization").
func groupTag(group string) string {
	n := groupName(group)
	return strings.ToLower(n[:1]) + n[1:]
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// routeBuilder collects the routes of one group version.
type routeBuilder struct {
	gv     schema.GroupVersion
	prefix string // "/api/v1", "/apis/apps/v1"
	gvName string // "CoreV1", "AppsV1"
	tags   []string
	names  *namer
	routes []common.Route
}

func newRouteBuilder(gv schema.GroupVersion, names *namer) *routeBuilder {
	return &routeBuilder{
		gv:     gv,
		prefix: "/" + groupVersionPath(gv),
		gvName: groupName(gv.Group) + capitalize(gv.Version),
		tags:   []string{groupTag(gv.Group) + "_" + gv.Version},
		names:  names,
	}
}

// container returns the routes collected so far.
func (b *routeBuilder) container() *container {
	return &container{root: b.prefix, routes: b.routes}
}

// discovery adds the group version's resource list (GET /apis/apps/v1/).
func (b *routeBuilder) discovery() {
	b.add(&route{
		method: http.MethodGet, path: b.prefix + "/",
		operationID: "get" + b.gvName + "APIResources",
		description: "get available resources",
		consumes:    mediaObject, produces: mediaObject,
		responses: respOK(modelAPIResourceList),
	})
}

func (b *routeBuilder) add(r *route) {
	r.tags = b.tags
	// A new slice: r.params may share its array with other routes.
	r.params = concat(r.params, []common.Parameter{paramPretty})
	b.routes = append(b.routes, r)
}

// resource adds every operation of one resource and its subresources. A
// custom resource's operations take no strategic merge patch and speak no
// protobuf, as kube-apiserver's (kubectl apply picks its patch type by
// them).
func (b *routeBuilder) resource(res Resource) error {
	first := len(b.routes)
	if err := b.resourceRoutes(res); err != nil {
		return err
	}
	if res.Custom {
		for _, r := range b.routes[first:] {
			rt, ok := r.(*route)
			if !ok {
				continue
			}
			rt.consumes = withoutMedia(rt.consumes, "application/strategic-merge-patch+json")
			rt.produces = withoutMedia(rt.produces, "application/vnd.kubernetes.protobuf", "application/vnd.kubernetes.protobuf;stream=watch")
		}
	}
	return nil
}

func withoutMedia(list []string, drop ...string) []string {
	out := make([]string, 0, len(list))
	for _, m := range list {
		keep := true
		for _, d := range drop {
			keep = keep && m != d
		}
		if keep {
			out = append(out, m)
		}
	}
	return out
}

func (b *routeBuilder) resourceRoutes(res Resource) error {
	if res.Resource == "" || res.GVK.Kind == "" {
		return fmt.Errorf("%w: resource %q of kind %q: both names are required", ErrInvalidResource, res.Resource, res.GVK.Kind)
	}
	object, ok := b.names.model(res.GVK)
	if !ok {
		return fmt.Errorf("%w: %v has no registered Go type with an OpenAPI definition", ErrInvalidResource, res.GVK)
	}
	listKind := res.ListKind
	if listKind == "" {
		listKind = res.GVK.Kind + "List"
	}
	list, ok := b.names.model(b.gv.WithKind(listKind))
	if !ok {
		return fmt.Errorf("%w: %v has no registered Go type with an OpenAPI definition", ErrInvalidResource, b.gv.WithKind(listKind))
	}

	kind := res.GVK.Kind
	gvk := gvkValue(res.GVK)
	// scope is the path segment before the resource and ns the operation
	// ID word for it; nameParams are the parameters of /{name} paths.
	scope, ns := "", ""
	var scopeParams []common.Parameter
	if res.Namespaced {
		scope, ns = "/namespaces/{namespace}", "Namespaced"
		scopeParams = []common.Parameter{paramNamespace}
	}
	collection := b.prefix + scope + "/" + res.Resource
	item := collection + "/{name}"
	nameParams := append([]common.Parameter{nameParam(kind)}, scopeParams...)

	// The collection: list, create, delete a collection.
	b.add(&route{method: http.MethodGet, path: collection,
		operationID: "list" + b.gvName + ns + kind,
		description: "list or watch objects of kind " + kind,
		params:      concat(scopeParams, listParams), consumes: mediaAny, produces: mediaList,
		extensions: action("list", gvk), responses: respOK(list)})
	b.add(&route{method: http.MethodPost, path: collection,
		operationID: "create" + b.gvName + ns + kind,
		description: "create a " + kind,
		params:      concat(scopeParams, bodyParam(true), writeParams), consumes: mediaAny, produces: mediaObject,
		extensions: action("post", gvk), body: object, responses: created(object)})
	b.add(&route{method: http.MethodDelete, path: collection,
		operationID: "delete" + b.gvName + "Collection" + ns + kind,
		description: "delete collection of " + kind,
		params:      concat(scopeParams, bodyParam(false), deleteParams, deleteCollectionParams), consumes: mediaAny, produces: mediaObject,
		extensions: action("deletecollection", gvk), body: modelDeleteOptions, responses: respOK(modelStatus)})

	// One object: read, replace, patch, delete.
	b.add(&route{method: http.MethodGet, path: item,
		operationID: "read" + b.gvName + ns + kind,
		description: "read the specified " + kind,
		params:      nameParams, consumes: mediaAny, produces: mediaObject,
		extensions: action("get", gvk), responses: respOK(object)})
	b.add(&route{method: http.MethodPut, path: item,
		operationID: "replace" + b.gvName + ns + kind,
		description: "replace the specified " + kind,
		params:      concat(nameParams, bodyParam(true), writeParams), consumes: mediaAny, produces: mediaObject,
		extensions: action("put", gvk), body: object, responses: replaced(object)})
	b.add(&route{method: http.MethodPatch, path: item,
		operationID: "patch" + b.gvName + ns + kind,
		description: "partially update the specified " + kind,
		params:      concat(nameParams, bodyParam(true), patchParams), consumes: mediaPatch, produces: mediaObject,
		extensions: action("patch", gvk), body: modelPatch, responses: replaced(object)})
	b.add(&route{method: http.MethodDelete, path: item,
		operationID: "delete" + b.gvName + ns + kind,
		description: "delete a " + kind,
		params:      concat(nameParams, bodyParam(false), deleteParams), consumes: mediaAny, produces: mediaObject,
		extensions: action("delete", gvk), body: modelDeleteOptions, responses: deleted(modelStatus)})

	// Lists across namespaces.
	if res.Namespaced {
		b.add(&route{method: http.MethodGet, path: b.prefix + "/" + res.Resource,
			operationID: "list" + b.gvName + kind + "ForAllNamespaces",
			description: "list or watch objects of kind " + kind,
			params:      listParams, consumes: mediaAny, produces: mediaList,
			extensions: action("list", gvk), responses: respOK(list)})
	}

	// The deprecated /watch/ paths.
	watch := b.prefix + "/watch" + scope + "/" + res.Resource
	b.add(&route{method: http.MethodGet, path: watch,
		operationID: "watch" + b.gvName + ns + kind + "List",
		description: "watch individual changes to a list of " + kind + ". deprecated: use the 'watch' parameter with a list operation instead.",
		params:      concat(scopeParams, listParams), consumes: mediaAny, produces: mediaWatch,
		extensions: action("watchlist", gvk), responses: respOK(modelWatchEvent)})
	b.add(&route{method: http.MethodGet, path: watch + "/{name}",
		operationID: "watch" + b.gvName + ns + kind,
		description: "watch changes to an object of kind " + kind + ". deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter.",
		params:      concat(nameParams, listParams), consumes: mediaAny, produces: mediaWatch,
		extensions: action("watch", gvk), responses: respOK(modelWatchEvent)})
	if res.Namespaced {
		b.add(&route{method: http.MethodGet, path: b.prefix + "/watch/" + res.Resource,
			operationID: "watch" + b.gvName + kind + "ListForAllNamespaces",
			description: "watch individual changes to a list of " + kind + ". deprecated: use the 'watch' parameter with a list operation instead.",
			params:      listParams, consumes: mediaAny, produces: mediaWatch,
			extensions: action("watchlist", gvk), responses: respOK(modelWatchEvent)})
	}

	for _, sub := range res.Subresources {
		if err := b.subresource(res, sub, item, ns, nameParams, object); err != nil {
			return err
		}
	}
	return nil
}

// subresource adds the operations of one subresource of res. Subresources
// that are not objects (exec, attach, portforward, proxy) are not
// described, as their bodies are streams.
func (b *routeBuilder) subresource(res Resource, sub, item, ns string, nameParams []common.Parameter, object modelName) error {
	kind := res.GVK.Kind
	path := item + "/" + sub
	id := b.gvName + ns + kind + capitalize(sub)
	getPutPatch := func(obj modelName, gvk schema.GroupVersionKind, what string) {
		ext := gvkValue(gvk)
		b.add(&route{method: http.MethodGet, path: path, operationID: "read" + id,
			description: "read " + what + " of the specified " + kind,
			params:      nameParams, consumes: mediaAny, produces: mediaObject,
			extensions: action("get", ext), responses: respOK(obj)})
		b.add(&route{method: http.MethodPut, path: path, operationID: "replace" + id,
			description: "replace " + what + " of the specified " + kind,
			params:      concat(nameParams, bodyParam(true), writeParams), consumes: mediaAny, produces: mediaObject,
			extensions: action("put", ext), body: obj, responses: replaced(obj)})
		b.add(&route{method: http.MethodPatch, path: path, operationID: "patch" + id,
			description: "partially update " + what + " of the specified " + kind,
			params:      concat(nameParams, bodyParam(true), patchParams), consumes: mediaPatch, produces: mediaObject,
			extensions: action("patch", ext), body: modelPatch, responses: replaced(obj)})
	}
	post := func(gvk schema.GroupVersionKind) error {
		obj, ok := b.names.model(gvk)
		if !ok {
			return fmt.Errorf("%w: subresource %s/%s: %v is not registered", ErrInvalidResource, res.Resource, sub, gvk)
		}
		b.add(&route{method: http.MethodPost, path: path, operationID: "create" + id,
			description: "create " + gvk.Kind + " of a " + kind,
			params:      concat(nameParams, bodyParam(true), writeParams), consumes: mediaAny, produces: mediaObject,
			extensions: action("post", gvkValue(gvk)), body: obj, responses: created(obj)})
		return nil
	}

	switch sub {
	case "status", "ephemeralcontainers", "resize":
		getPutPatch(object, res.GVK, sub)
	case "scale":
		scale, ok := b.names.model(gvkScale)
		if !ok {
			return fmt.Errorf("%w: subresource %s/scale needs %v registered", ErrInvalidResource, res.Resource, gvkScale)
		}
		getPutPatch(scale, gvkScale, "scale")
	case "finalize":
		b.add(&route{method: http.MethodPut, path: path, operationID: "replace" + id,
			description: "replace finalize of the specified " + kind,
			params:      concat(nameParams, bodyParam(true), writeParams), consumes: mediaAny, produces: mediaObject,
			extensions: action("put", gvkValue(res.GVK)), body: object, responses: replaced(object)})
	case "eviction":
		return post(gvkEviction)
	case "binding":
		return post(gvkBinding)
	case "log":
		b.add(&route{method: http.MethodGet, path: path, operationID: "read" + id,
			description: "read log of the specified " + kind,
			params:      concat(nameParams, logParams), consumes: mediaAny, produces: mediaLog,
			extensions: action("get", gvkValue(res.GVK)), responses: respOK(stringModel)})
	}
	return nil
}

// action is an operation's extensions: its action and the kind it acts on.
func action(verb string, gvk map[string]interface{}) map[string]interface{} {
	return map[string]interface{}{
		"x-kubernetes-action": verb,
		gvkExtension:          gvk,
	}
}

func respOK(model interface{}) []common.StatusCodeResponse {
	return []common.StatusCodeResponse{&response{code: http.StatusOK, message: "OK", model: model}}
}

func created(model interface{}) []common.StatusCodeResponse {
	return []common.StatusCodeResponse{
		&response{code: http.StatusOK, message: "OK", model: model},
		&response{code: http.StatusCreated, message: "Created", model: model},
		&response{code: http.StatusAccepted, message: "Accepted", model: model},
	}
}

func replaced(model interface{}) []common.StatusCodeResponse {
	return []common.StatusCodeResponse{
		&response{code: http.StatusOK, message: "OK", model: model},
		&response{code: http.StatusCreated, message: "Created", model: model},
	}
}

func deleted(model interface{}) []common.StatusCodeResponse {
	return []common.StatusCodeResponse{
		&response{code: http.StatusOK, message: "OK", model: model},
		&response{code: http.StatusAccepted, message: "Accepted", model: model},
	}
}

// concat returns the parameters of all lists, in order, in a new slice.
func concat(lists ...[]common.Parameter) []common.Parameter {
	n := 0
	for _, l := range lists {
		n += len(l)
	}
	out := make([]common.Parameter, 0, n)
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}
