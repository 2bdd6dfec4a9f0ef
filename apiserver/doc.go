// Package apiserver serves the Kubernetes API over a Kelson (or etcd) store:
// a hand-written REST layer on k8s.io/api and k8s.io/apimachinery types.
//
// Layout of the request path:
//
//	HTTP request -> requestInfo (parse the URL: group, version, resource,
//	namespace, name, subresource, verb) -> the resource's handler
//	(decode -> default -> validate -> store txn on the mod revision)
//	-> encode in the negotiated format (JSON, YAML, protobuf, Table).
//
// Reads of lists and every watch are served by one watch cache per resource
// (package watchcache) fed by one store watch; single-object reads and all
// writes go to the store (package storage). The kinds served, with their
// defaulting, validation and table columns, are listed by package kinds.
//
// # Served resources and custom resources
//
// The resources served are a table (resources.go): immutable once
// published, held in an atomic pointer, looked up once per request. The
// built-in resources are fixed at New; the CRD registrar
// (customresources.go), one goroutine per Server following the CRD watch
// cache, publishes a new table whenever CustomResourceDefinitions change:
// for each CRD whose names are accepted, one resource per served version,
// each with its own watch cache (started then, stopped when dropped), the
// CRD field manager, and a Kind from kinds.CustomKinds. Discovery
// documents are built once per table; the OpenAPI service gets the
// schemas (openapi.Service.SetExtra). The registrar also writes each CRD's
// status (acceptedNames, NamesAccepted, Established) and finishes the
// deletion of a CRD: it deletes its custom resources, then removes the
// customresourcecleanup finalizer. Every server runs it over its own
// cache, so a CRD created through one server is served by all.
//
// A resource's codec follows its kind (resource.go): built-in objects are
// typed, stored in Kubernetes' protobuf envelope; custom resources are
// *unstructured.Unstructured, stored as JSON at the CRD's storage version
// under /registry/<group>/<plural>/, and served as JSON or YAML only (406
// and 415 for protobuf; strategic merge patch is 415). Everything else —
// metadata, generation, resourceVersion conflicts, finalizers, deletion,
// status and scale, watches, tables — is the same code path for both.
// Kelson's own kinds (kind.JSON: metrics.kelson.dev NodeUsage) are typed
// but have no protobuf encoding: stored and served as JSON like custom
// resources, absent from the OpenAPI documents.
//
// # The resource metrics API
//
// metrics.k8s.io/v1beta1 (NodeMetrics, PodMetrics: get and list, what
// kubectl top and HorizontalPodAutoscalers read) is not in the resource
// table: metrics.go computes it on each request from the node agents'
// NodeUsage reports joined with the nodes and pods of the watch caches
// (label and field selectors match the nodes and pods); reports older than
// two minutes are not served, and a report speaks only for the pods bound
// to its node (metricsview.go, pure). Discovery lists the group.
package apiserver
