// Package endpointslice writes the discovery.k8s.io/v1 EndpointSlices of
// every Service that has a selector (kube-controller-manager's
// "endpointslice" controller).
//
// Model. A Service's key is synced when the Service changes, when a pod
// its selector matches changes in a way that matters (see
// endpoints.PodChanged), when one of its managed slices is edited or
// deleted by someone else, and when a node's zone label changes. The
// sync reads the informers' snapshot and calls Reconcile (reconcile.go,
// pure), which returns a Plan of creates, updates and deletes; the loop
// (controller.go) applies it: updates, then creates, then deletes.
//
// A managed slice carries the labels kubernetes.io/service-name=<svc>
// and endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io
// (plus the Service's own labels and service.kubernetes.io/headless for
// a headless Service), a controller ownerReference to the Service, and
// a generated name "<svc>-xxxxx". Its addressType follows the Service's
// ipFamilies (IPv4 by default). Each endpoint is one pod:
//
//	endpoints:
//	- addresses: [10.42.0.5]
//	  conditions: {ready: true, serving: true, terminating: false}
//	  nodeName: n1
//	  zone: zone-a            # the node's topology.kubernetes.io/zone
//	  targetRef: {kind: Pod, namespace: default, name: web-0, uid: ...}
//
// ready is Ready and not terminating; serving is Ready whatever the
// termination; with publishNotReadyAddresses both are true. Terminating
// pods stay in the slices (terminating: true) until they are gone.
//
// Invariants:
//   - every endpoint is in exactly one slice, of the port set its pod
//     resolves the Service's target ports to; a slice holds at most
//     MaxEndpointsPerSlice (100) endpoints;
//   - minimal churn: an endpoint that did not change stays where it is,
//     a change rewrites only the slice holding it, new endpoints fill
//     slices being written anyway before a new slice is made, and an
//     emptied slice is reused rather than deleted and created;
//   - a Service without endpoints has one empty placeholder slice;
//   - a sync never plans from a cache that misses its own last writes
//     (tracker.go): such a Service is retried shortly instead, so
//     generated names cannot produce duplicate slices;
//   - slices owned by an earlier Service of the same name are deleted,
//     and so are a deleted Service's (the garbage collector would too).
//
// Not done: EndpointSlice mirroring of selector-less Services' Endpoints
// ("endpointslicemirroring"), topology hints, and the
// endpoints.kubernetes.io/last-change-trigger-time annotation.
package endpointslice
