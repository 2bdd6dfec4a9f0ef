// Package endpoints writes the Endpoints object of every Service that
// has a selector (kube-controller-manager's "endpoint" controller), and
// holds what the EndpointSlice controller (controllers/endpointslice)
// shares with it: which pods back a Service, their readiness, address
// and resolved ports (pods.go).
//
// Model. A Service's key is synced when the Service changes, when a pod
// its selector matches (before or after an update) is added, deleted or
// changes in a way that matters (IP, readiness, labels, deletion,
// hostname, node, container ports), and when its Endpoints object is
// deleted. The sync reads the informers' snapshot and calls Desired
// (build.go, pure), then creates or updates the Endpoints only when
// NeedsUpdate says what it owns differs.
//
// Desired, for Service web (selector app=web, port http → targetPort
// "http") and pods a (Ready, 10.42.0.5, containerPort http 8080),
// b (not Ready, 10.42.1.7, same port), c (Ready, no port named http):
//
//	subsets:
//	- addresses:         [{ip: 10.42.0.5, nodeName: n1, targetRef: Pod a}]
//	  notReadyAddresses: [{ip: 10.42.1.7, nodeName: n2, targetRef: Pod b}]
//	  ports:             [{name: http, port: 8080, protocol: TCP}]
//
// c is left out (no such port), a terminating pod too unless the
// Service sets publishNotReadyAddresses, which also makes every address
// ready. Addresses sharing a port set share a subset; everything is
// sorted, so the comparison with the stored object is stable and an
// unchanged Service writes nothing. A pod whose spec.hostname is set and
// whose spec.subdomain is the Service's name carries that hostname.
//
// Invariants:
//   - Services without a selector (and ExternalName Services) are left
//     alone: their Endpoints are the user's;
//   - the Endpoints of a deleted Service are deleted (also those left
//     from a time no controller ran: managed Endpoints carry the label
//     endpointslice.kubernetes.io/skip-mirror=true);
//   - writes are conditioned on the cached resourceVersion, so a stale
//     cache costs a retry, never a lost update;
//   - at most MaxAddresses (1000) addresses, ready ones first, with the
//     annotation endpoints.kubernetes.io/over-capacity=truncated beyond.
//
// Labels: the Service's, plus service.kubernetes.io/headless for a
// headless Service. The optional endpoints.kubernetes.io/
// last-change-trigger-time annotation is not written.
package endpoints
