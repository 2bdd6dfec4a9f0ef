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
// builder3 turn routes plus definitions into the documents. The documents
// are served as kube-openapi's handler and handler3 serve them (media types,
// ETags, the v3 index and ?hash= URLs, protobuf by their converters), but
// from their encodings alone: those handlers keep each built spec object
// for good, three times the memory of the encodings (document.go).
//
// Definitions are published under their OpenAPI model names
// ("io.k8s.api.apps.v1.Deployment"); every definition whose Go type
// client-go's scheme registers as a kind of a served group version carries
// x-kubernetes-group-version-kind, listing each such kind (meta/v1's
// DeleteOptions lists one per group). kubectl finds a kind's schema by it.
//
// # Invariants
//
//   - New builds nothing. The first request sets up empty documents; a
//     document is built the first time it is asked for, once, and its
//     encodings (JSON; protobuf and gzip when first asked for) kept for the
//     Service's life; the spec objects and definitions maps are garbage once
//     encoded. The v3 index carries every v3 document's hash, so serving it
//     builds them all.
//   - Builds share nothing mutable: each asks the generated code for its own
//     definitions map, which is garbage once the document is built.
//   - The documents depend only on the resource list (and the extras), so
//     their ETags and v3 hashes are stable across restarts of the same
//     build.
//   - A resource the documents cannot describe (a kind with no Go type in
//     client-go's scheme) makes its documents answer 500 with an error
//     wrapping ErrInvalidResource; other documents are unaffected.
//
// # Cost
//
// Measured on the 2-core development machine with the 36 resources the API
// server serves (TestBuildCost -v, BenchmarkBuild*): an idle Service holds
// nothing; the first request for one v3 document takes ~50 ms and keeps
// 0.8 MiB; the v3 index (all 21 v3 documents) ~200 ms, 2.9 MiB in all;
// /openapi/v2 ~130 ms more (its build allocates ~29 MB of garbage), and
// everything, JSON, protobuf and gzip, keeps 6 MiB. The v2 JSON is 1.2 MB,
// 140 kB gzipped. The package's imports (client-go's scheme above all) cost
// 0.8 MiB of heap at start.
//
// # Custom resources
//
// SetExtra(extras) hands over the custom resources being served, each with
// its version's schema (a CRD's openAPIV3Schema as a spec.Schema). Under a
// lock it publishes a new set of documents, lazy as the first: a new v2
// document and v3 index, new v3 documents for the extras' group versions
// (and their apis/<group> documents), while the v3 documents that depend
// on built-in resources alone are taken over with their encodings, never
// rebuilt. The plan adds each extra's definitions beside the generated
// ones, named as kube-apiserver names them ("com.example.v1.Widget" and
// "com.example.v1.WidgetList"), the schema wrapped with apiVersion, kind
// and a metadata reference to ObjectMeta, and carrying
// x-kubernetes-group-version-kind, so kubectl explain finds them. A custom
// resource's patch operations do not list strategic merge patch (kubectl
// apply then sends a merge patch) and its operations no protobuf. The
// CustomResourceDefinition kind itself is described by the definitions
// generated in k8s.io/apiextensions-apiserver/pkg/generated/openapi.
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
