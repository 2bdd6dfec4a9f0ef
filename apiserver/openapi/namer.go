package openapi

import (
	"reflect"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// gvkExtension is the vendor extension that names the group, version and kind
// of a definition (and of an operation's object). kubectl explain and kubectl
// apply find a kind's schema by it.
const gvkExtension = "x-kubernetes-group-version-kind"

// namer maps the names definitions carry in the generated code to the names
// they are published under, and knows which kinds each definition is.
//
// Generated definitions are keyed by OpenAPI model name
// ("io.k8s.api.apps.v1.Deployment") for packages that declare one, which all
// of k8s.io/api and k8s.io/apimachinery do; a definition keyed by Go type
// name ("k8s.io/api/apps/v1.Deployment") is published under its
// reverse-domain form, the same string. A namer is immutable once built and
// safe for concurrent use.
type namer struct {
	// kinds lists, per published definition name, the served kinds whose Go
	// type it describes, sorted by group, version, kind.
	kinds map[string][]schema.GroupVersionKind
	// models is the published definition name of each served kind.
	models map[schema.GroupVersionKind]string
}

// newNamer indexes the Go types registered in sch under the group versions
// for which served returns true. Internal versions are skipped.
func newNamer(sch *runtime.Scheme, served func(schema.GroupVersion) bool) *namer {
	n := &namer{
		kinds:  map[string][]schema.GroupVersionKind{},
		models: map[schema.GroupVersionKind]string{},
	}
	n.addScheme(sch, served)
	return n
}

// addScheme indexes more Go types, as newNamer does; only while the namer
// is being built.
func (n *namer) addScheme(sch *runtime.Scheme, served func(schema.GroupVersion) bool) {
	for gvk, t := range sch.AllKnownTypes() {
		if gvk.Version == runtime.APIVersionInternal || !served(gvk.GroupVersion()) {
			continue
		}
		n.addModel(gvk, typeModelName(t))
	}
}

// addModel records that kind gvk is described by definition name; only
// while the namer is being built.
func (n *namer) addModel(gvk schema.GroupVersionKind, name string) {
	if _, ok := n.models[gvk]; ok {
		return
	}
	gvks := append(n.kinds[name], gvk)
	sort.Slice(gvks, func(i, j int) bool { return lessGVK(gvks[i], gvks[j]) })
	n.kinds[name] = gvks
	n.models[gvk] = name
}

// modelNamer is kube-openapi's util.OpenAPIModelNamer, declared here so the
// namer does not depend on that package for one method.
type modelNamer interface{ OpenAPIModelName() string }

// typeModelName is the published definition name of a Go type.
func typeModelName(t reflect.Type) string {
	if m, ok := reflect.New(t).Interface().(modelNamer); ok {
		return m.OpenAPIModelName()
	}
	return publishedName(t.PkgPath() + "." + t.Name())
}

// publishedName turns a Go type name into the reverse-domain form
// kube-apiserver publishes: the first path element, if it is a domain, is
// reversed, and the remaining slashes become dots.
//
//	k8s.io/api/apps/v1.Deployment                   -> io.k8s.api.apps.v1.Deployment
//	k8s.io/apimachinery/pkg/apis/meta/v1.ObjectMeta -> io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta
//	io.k8s.api.core.v1.Pod (already a model name)   -> io.k8s.api.core.v1.Pod
func publishedName(goName string) string {
	first, rest, found := strings.Cut(goName, "/")
	if !found {
		return goName
	}
	if strings.Contains(first, ".") {
		labels := strings.Split(first, ".")
		for i, j := 0, len(labels)-1; i < j; i, j = i+1, j-1 {
			labels[i], labels[j] = labels[j], labels[i]
		}
		first = strings.Join(labels, ".")
	}
	return first + "." + strings.ReplaceAll(rest, "/", ".")
}

// definitionName is the builders' GetDefinitionName: the published name of
// a definition and, for a kind, the group-version-kind extension.
func (n *namer) definitionName(name string) (string, spec.Extensions) {
	published := publishedName(name)
	gvks := n.kinds[published]
	if len(gvks) == 0 {
		return published, nil
	}
	return published, spec.Extensions{gvkExtension: gvkListValue(gvks)}
}

// model returns the published definition name of a served kind.
func (n *namer) model(gvk schema.GroupVersionKind) (modelName, bool) {
	name, ok := n.models[gvk]
	return modelName(name), ok
}

// gvkValue is the JSON form of one group-version-kind in an extension.
func gvkValue(gvk schema.GroupVersionKind) map[string]interface{} {
	return map[string]interface{}{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind}
}

// gvkListValue is the value of a definition's group-version-kind extension:
// a list, because one Go type may be registered as several kinds (meta/v1's
// DeleteOptions is a kind of every group).
func gvkListValue(gvks []schema.GroupVersionKind) []interface{} {
	out := make([]interface{}, len(gvks))
	for i, gvk := range gvks {
		out[i] = gvkValue(gvk)
	}
	return out
}

func lessGVK(a, b schema.GroupVersionKind) bool {
	if a.Group != b.Group {
		return a.Group < b.Group
	}
	if a.Version != b.Version {
		return a.Version < b.Version
	}
	return a.Kind < b.Kind
}
