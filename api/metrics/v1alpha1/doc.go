// Package v1alpha1 is Kelson's metrics.kelson.dev/v1alpha1 API group: the
// NodeUsage kind, through which node agents (and `kelson sim`) report the
// resource usage of their node and of the pods it runs. The API server
// serves the resource metrics API (metrics.k8s.io/v1beta1 NodeMetrics and
// PodMetrics, what `kubectl top` and HorizontalPodAutoscalers read)
// computed from these reports: Kelson has no metrics-server.
//
// # Model
//
// One NodeUsage per node, cluster-scoped, named after the node. Its writer
// replaces it every sampling period (Client.Report: an unconditional
// update, or a create the first time) with the usage averaged over
// Window and ending at Timestamp:
//
//	apiVersion: metrics.kelson.dev/v1alpha1
//	kind: NodeUsage
//	metadata:
//	  name: node-1
//	  ownerReferences: [{apiVersion: v1, kind: Node, name: node-1, uid: ...}]
//	timestamp: "2025-06-01T10:00:00Z"
//	window: 15s
//	usage: {cpu: 1250m, memory: 3Gi}        # the node as a whole
//	pods:
//	- namespace: default
//	  name: web-7d4b9
//	  containers:
//	  - name: httpd
//	    usage: {cpu: 250m, memory: 64Mi}    # memory: the working set
//
// # Invariants (enforced by the API server's validation)
//
//   - metadata.name is a node name (a DNS-1123 subdomain); timestamp is
//     set; window is positive.
//   - Usage maps hold only cpu and memory, never negative.
//   - At most MaxPods pods; each pod once (namespace/name), with at least
//     one container, each container once.
//
// Readers ignore reports older than two minutes (the node or its agent is
// gone or stuck): such a node, and its pods, have no metrics. A report
// speaks for the pods bound to its node only (pod.spec.nodeName), so a pod
// deleted and recreated elsewhere under the same name is never given its
// predecessor's usage. A writer should set an ownerReference to its Node,
// so that the garbage collector deletes the report with the node.
//
// The objects are stored and served as JSON only (there is no protobuf
// encoding of this group); DeepCopy is written by hand.
package v1alpha1
