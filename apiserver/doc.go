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
package apiserver
