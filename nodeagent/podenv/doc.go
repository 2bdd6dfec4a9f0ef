// Package podenv resolves what a container sees of its pod and the
// cluster: its environment variables and the pod's /etc/hosts,
// /etc/resolv.conf and /etc/hostname. It implements the pod worker's Env
// (nodeagent/pods).
//
// # Model
//
// Every decision is a pure function of a snapshot read beforehand:
//
//	LinkedServices + ServiceLinkVars   Docker-link style variables of the Services a pod sees
//	Compose                            service vars, envFrom, env ($(VAR) expansion, valueFrom)
//	Expand                             $(VAR) references ($$ escapes, unknown names stay literal)
//	FieldValue, ResourceValue          downward API values (shared with nodeagent/volumes)
//	PodDNS, ParseResolvConf            resolv.conf per dnsPolicy with dnsConfig merged
//	HostsFile, Hostname                the managed /etc/hosts
//
// Resolver is the thin IO layer: it reads Services (a lister when one is
// given, else a List per container start), the ConfigMaps and Secrets a
// container references (a Get each, no cache: an agent with many pods
// would give the Resolver listers or a watch-based cache as kubelet
// does), and writes the files under Root/<pod uid>/.
//
// # Invariants
//
//   - The environment lists each variable once; its order is service
//     variables (those not overridden), then envFrom, then env — a
//     variable defined again moves to its last definition, so "later
//     wins" gives the same result as Kubernetes' precedence.
//   - A non-optional missing ConfigMap, Secret or key is an error wrapping
//     ErrNotFound that names it; an optional one is skipped.
//   - Files are rewritten only when their content changes (write to a
//     temporary file, rename), so every container of a pod sees the same
//     file.
//
// # Example
//
// A pod in namespace shop with a Service httpd-src (10.43.0.20, port
// 8080/TCP) sees HTTPD_SRC_SERVICE_HOST=10.43.0.20,
// HTTPD_SRC_SERVICE_PORT=8080, HTTPD_SRC_PORT=tcp://10.43.0.20:8080 …;
// with ClusterDNS 10.43.0.10 its resolv.conf reads
//
//	search shop.svc.cluster.local svc.cluster.local cluster.local
//	nameserver 10.43.0.10
//	options ndots:5
package podenv
