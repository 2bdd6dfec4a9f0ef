// Package openapi serves the API server's OpenAPI documents, as kubectl and
// client generators read them from kube-apiserver: /openapi/v2 (Swagger 2.0,
// JSON or protobuf), the /openapi/v3 index, and one OpenAPI 3.0 document per
// group version (/openapi/v3/api/v1, /openapi/v3/apis/apps/v1, ...) plus the
// discovery documents (api, apis, apis/<group>, version).
//
// # Model
//
// The schemas are Go code generated from k8s.io/api and apimachinery by
// kube-openapi's openapi-gen (zz_generated.openapi.go; `make openapi-gen`
// regenerates it, scripts/openapi-gen.sh lists the packages). The paths are
// laid out here from a list of Resources: for each, the collection, the
// object, the all-namespaces list, the deprecated /watch/ paths and the
// subresources, with kube-apiserver's operation IDs
// (patchAppsV1NamespacedDeployment), x-kubernetes-action and
// x-kubernetes-group-version-kind extensions, query parameters (dryRun,
// fieldManager, fieldValidation, force, pretty, the list options...),
// content types and body and response models. kube-openapi's builder and
// builder3 turn routes plus definitions into the documents; its handler and
// handler3 serve them with ETags and content negotiation.
//
// Definitions are published under their OpenAPI model names
// ("io.k8s.api.apps.v1.Deployment"); every definition whose Go type
// client-go's scheme registers as a kind of a served group version carries
// x-kubernetes-group-version-kind, listing each such kind (meta/v1's
// DeleteOptions lists one per group). kubectl finds a kind's schema by it.
//
// # Invariants
//
//   - New builds nothing. The first request sets up the handlers; a document
//     is built the first time it is asked for, once, and kept (as spec and
//     encodings) for the Service's life. The v3 index carries every v3
//     document's hash, so serving it builds them all.
//   - Builds share nothing mutable: each asks the generated code for its own
//     definitions map, which is garbage once the document is built.
//   - The documents depend only on the resource list, so their ETags and v3
//     hashes are stable across restarts of the same build.
//   - A resource the documents cannot describe (a kind with no Go type in
//     client-go's scheme) makes its documents answer 500 with an error
//     wrapping ErrInvalidResource; other documents are unaffected.
//
// # Later: custom resources
//
// kube-openapi's v2 service can swap its spec (UpdateSpecLazy) and the v3
// service can add and drop group versions (UpdateGroupVersionLazy,
// DeleteGroupVersion). A SetExtra(groupVersions with schemas) method would
// rebuild the v2 spec lazily with the extra routes and definitions, and add a
// v3 document per extra group version; modelName already lets a route name a
// schema that has no Go type.
//
// # Example
//
//	svc := openapi.New([]openapi.Resource{{
//		GVK:          schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"},
//		Resource:     "deployments",
//		Namespaced:   true,
//		Subresources: []string{"status", "scale"},
//		ListKind:     "DeploymentList",
//	}})
//	mux.Handle("/openapi/", svc)
package openapi
