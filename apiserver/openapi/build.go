package openapi

import (
	"fmt"
	"net/http"
	"sort"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/kube-openapi/pkg/builder"
	"k8s.io/kube-openapi/pkg/builder3"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// This file turns a resource set into route containers and the containers
// into specs, with kube-openapi's builders. Each build asks the generated
// code for a fresh definitions map, so builds share nothing mutable and may
// run concurrently; the maps are garbage once the spec is built.

// Definitions returns the generated OpenAPI definitions, keyed as the
// generated GetOpenAPIDefinitions keys them: by OpenAPI model name
// ("io.k8s.api.apps.v1.Deployment"), which for every k8s.io/api and
// apimachinery type is also the name the definition is published under.
// References point into "#/definitions/". Each call builds a new map (a few
// megabytes); callers that need it repeatedly keep their own.
func Definitions() map[string]common.OpenAPIDefinition {
	return GetOpenAPIDefinitions(func(name string) spec.Ref {
		return spec.MustCreateRef("#/definitions/" + common.EscapeJsonPointer(publishedName(name)))
	})
}

// Schemas returns every generated definition as the v3 documents publish
// it: keyed by published name ("io.k8s.api.apps.v1.Deployment"), references
// into "#/components/schemas/", and x-kubernetes-group-version-kind on each
// definition client-go's scheme registers as a kind (of any group version,
// served or not). That is the map
// k8s.io/apimachinery/pkg/util/managedfields.NewTypeConverter takes for
// server-side apply. Each call builds a new map; callers keep it.
func Schemas() (map[string]*spec.Schema, error) {
	names := newNamer(scheme.Scheme, func(schema.GroupVersion) bool { return true })
	defs := GetOpenAPIDefinitions(func(name string) spec.Ref {
		return spec.MustCreateRef("#/components/schemas/" + common.EscapeJsonPointer(publishedName(name)))
	})
	all := make([]string, 0, len(defs))
	for name := range defs {
		all = append(all, name)
	}
	sort.Strings(all)
	out, err := builder3.BuildOpenAPIDefinitionsForResources(&common.OpenAPIV3Config{
		Info:              specInfo,
		Definitions:       defs,
		GetDefinitionName: names.definitionName,
	}, all...)
	if err != nil {
		return nil, fmt.Errorf("openapi: building the schemas: %w", err)
	}
	return out, nil
}

// plan is what the specs are built from: the resources grouped by group
// version, and the namer. It is immutable once made.
type plan struct {
	names *namer
	// groupVersions lists the served group versions in order (core first,
	// then by group), each with its resources.
	groupVersions []schema.GroupVersion
	resources     map[schema.GroupVersion][]Resource
	// extras are the resources without Go types (custom resources), also
	// listed in resources; extraGVs their group versions.
	extras   []Extra
	extraGVs map[schema.GroupVersion]bool
	// withAPIExtensions: apiextensions.k8s.io/v1 is served, so its
	// generated definitions are needed.
	withAPIExtensions bool
}

func newPlan(resources []Resource, extras []Extra) *plan {
	p := &plan{resources: map[schema.GroupVersion][]Resource{}, extras: extras, extraGVs: map[schema.GroupVersion]bool{}}
	all := append([]Resource(nil), resources...)
	for _, e := range extras {
		all = append(all, e.Resource)
		p.extraGVs[e.GVK.GroupVersion()] = true
	}
	for _, r := range all {
		gv := r.GVK.GroupVersion()
		if _, ok := p.resources[gv]; !ok {
			p.groupVersions = append(p.groupVersions, gv)
		}
		p.resources[gv] = append(p.resources[gv], r)
	}
	sort.Slice(p.groupVersions, func(i, j int) bool {
		a, b := p.groupVersions[i], p.groupVersions[j]
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		return a.Version < b.Version
	})
	served := func(gv schema.GroupVersion) bool {
		// Always core/v1, where meta/v1's Status and discovery types are
		// registered, and the groups of subresources' kinds (autoscaling/v1
		// Scale, policy/v1 Eviction).
		_, ok := p.resources[gv]
		return ok || gv == gvkBinding.GroupVersion() || gv == gvkScale.GroupVersion() || gv == gvkEviction.GroupVersion()
	}
	p.names = newNamer(scheme.Scheme, served)
	if _, ok := p.resources[apiextensionsv1.SchemeGroupVersion]; ok {
		p.withAPIExtensions = true
		p.names.addScheme(apiextensionsScheme(), served)
	}
	for _, e := range extras {
		p.names.addModel(e.GVK, extraModel(e.GVK))
		p.names.addModel(e.GVK.GroupVersion().WithKind(listKind(e.Resource)), extraModel(e.GVK.GroupVersion().WithKind(listKind(e.Resource))))
	}
	return p
}

// groups returns the served API groups, in order, core ("") excluded.
func (p *plan) groups() []string {
	var out []string
	for _, gv := range p.groupVersions {
		if gv.Group != "" && (len(out) == 0 || out[len(out)-1] != gv.Group) {
			out = append(out, gv.Group)
		}
	}
	return out
}

// groupVersionContainer returns the routes of one group version.
func (p *plan) groupVersionContainer(gv schema.GroupVersion) (*container, error) {
	b := newRouteBuilder(gv, p.names)
	b.discovery()
	for _, r := range p.resources[gv] {
		if err := b.resource(r); err != nil {
			return nil, err
		}
	}
	return b.container(), nil
}

// discoveryContainers returns the routes of the documents that are not a
// group version's, keyed by their path below /openapi/v3: "api", "apis",
// "apis/<group>" and "version".
func (p *plan) discoveryContainers() map[string]*container {
	get := func(path, id, tag string, model modelName) *container {
		return &container{root: path, routes: []common.Route{&route{
			method: http.MethodGet, path: path, operationID: id, tags: []string{tag},
			description: "get " + string(model[len("io.k8s.apimachinery.pkg."):]),
			consumes:    mediaObject, produces: mediaObject, responses: respOK(model),
		}}}
	}
	out := map[string]*container{
		"api":     get("/api/", "getCoreAPIVersions", "core", modelAPIVersions),
		"apis":    get("/apis/", "getAPIVersions", "apis", modelAPIGroupList),
		"version": get("/version/", "getCodeVersion", "version", modelVersionInfo),
	}
	for _, g := range p.groups() {
		out["apis/"+g] = get("/apis/"+g+"/", "get"+groupName(g)+"APIGroup", groupTag(g), modelAPIGroup)
	}
	return out
}

var specInfo = &spec.Info{InfoProps: spec.InfoProps{Title: "Kelson", Version: "v1"}}

// buildV2 builds the /openapi/v2 document: every path of every document.
func (p *plan) buildV2() (*spec.Swagger, error) {
	var containers []common.RouteContainer
	for _, gv := range p.groupVersions {
		c, err := p.groupVersionContainer(gv)
		if err != nil {
			return nil, err
		}
		containers = append(containers, c)
	}
	disc := p.discoveryContainers()
	keys := make([]string, 0, len(disc))
	for k := range disc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		containers = append(containers, disc[k])
	}
	sw, err := builder.BuildOpenAPISpecFromRoutes(containers, &common.Config{
		Info:                           specInfo,
		GetDefinitions:                 p.definitions,
		GetDefinitionName:              p.names.definitionName,
		GetOperationIDAndTagsFromRoute: operationIDAndTags,
		CommonResponses:                map[int]spec.Response{http.StatusUnauthorized: {ResponseProps: spec.ResponseProps{Description: "Unauthorized"}}},
		SecurityDefinitions: &spec.SecurityDefinitions{"BearerToken": &spec.SecurityScheme{SecuritySchemeProps: spec.SecuritySchemeProps{
			Type: "apiKey", Name: "authorization", In: "header", Description: "Bearer token authentication",
		}}},
		DefaultSecurity: []map[string][]string{{"BearerToken": {}}},
	})
	if err != nil {
		return nil, fmt.Errorf("openapi: building /openapi/v2: %w", err)
	}
	return sw, nil
}

// buildV3 builds one /openapi/v3 document from its routes.
func (p *plan) buildV3(docPath string, c *container) (*spec3.OpenAPI, error) {
	doc, err := builder3.BuildOpenAPISpecFromRoutes([]common.RouteContainer{c}, &common.OpenAPIV3Config{
		Info:                           specInfo,
		GetDefinitions:                 p.definitions,
		GetDefinitionName:              p.names.definitionName,
		GetOperationIDAndTagsFromRoute: operationIDAndTags,
		CommonResponses:                map[int]*spec3.Response{http.StatusUnauthorized: {ResponseProps: spec3.ResponseProps{Description: "Unauthorized"}}},
		SecuritySchemes: spec3.SecuritySchemes{"BearerToken": &spec3.SecurityScheme{SecuritySchemeProps: spec3.SecuritySchemeProps{
			Type: "apiKey", Name: "authorization", In: "header", Description: "Bearer token authentication",
		}}},
	})
	if err != nil {
		return nil, fmt.Errorf("openapi: building /openapi/v3/%s: %w", docPath, err)
	}
	doc.SecurityRequirement = []map[string][]string{{"BearerToken": {}}}
	return doc, nil
}
