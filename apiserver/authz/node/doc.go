// Package node is the node authorizer: what a node agent, as the user
// system:node:<name> in the group system:nodes, may do — exactly the API
// calls Kelson's agent (nodeagent/) makes, limited to its own node and the
// objects its pods use, so that one compromised agent reads only the
// secrets of pods bound to it.
//
// # Decisions (for node N)
//
//	nodes                get list watch: any; create; update patch: N only
//	nodes/status         get update patch: N only
//	pods                 list watch: only with fieldSelector spec.nodeName=N
//	pods, pods/status    get delete / get update patch: pods bound to N
//	                     (or absent: the answer is then 404)
//	events (core, events.k8s.io)   create update patch
//	services             get list watch   (env vars, proxy, DNS)
//	endpointslices       get list watch   (proxy, DNS)
//	secrets configmaps persistentvolumeclaims   get: referenced by a pod
//	                     bound to N (volumes, projected sources, env,
//	                     envFrom, imagePullSecrets; claims of ephemeral
//	                     volumes are <pod>-<volume>)
//	persistentvolumes    get: bound to a claim a pod of N uses
//	serviceaccounts/token   create: the account of a pod bound to N
//	leases (kube-node-lease)   create; get update patch: N only
//	nodeusages (metrics.kelson.dev)   create; get update patch: N only
//
// Everything else — and every request of a user that is not a node — gets
// NoOpinion, so RBAC decides, and the default policy grants nodes nothing:
// 403. A refused reference says kube-apiserver's "no relationship found
// between node 'N' and this object".
//
// Creates carry no name to check here (the node's own Node, Lease and
// NodeUsage): the NodeRestriction admission plugin checks the object.
//
// # Graph
//
// Decisions read a Graph — pods by node, pods and claims by name — which
// the API server implements by scanning its pod watch cache: O(pods in the
// namespace) per request (O(pods) for a persistent volume).
//
// # Example
//
//	z := node.New(graph)
//	d, reason, _ := z.Authorize(ctx, authz.Attributes{User: nodeUser, Verb: "get",
//		ResourceRequest: true, Resource: "secrets", Namespace: "dev", Name: "db-password"})
//	// Allow when a pod bound to the node mounts db-password; else NoOpinion
//	// with reason "no relationship found between node 'n1' and this object".
package node
