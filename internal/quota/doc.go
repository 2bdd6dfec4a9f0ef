// Package quota holds the pure pieces of ResourceQuota that both of its
// users share: the API server's ResourceQuota admission (what one write
// uses, charged against status.used) and the controllers' resourcequota
// controller (status.used recomputed over everything in a namespace).
// Both must agree on what an object uses and which pods a scope selects,
// or the controller would keep undoing what admission charged.
//
// # Model
//
// Names. A quota's spec.hard is keyed by resource names:
//
//	count/<resource>[.<group>]   one per object (CountName)
//	pods, services, configmaps, secrets, resourcequotas,
//	replicationcontrollers, persistentvolumeclaims
//	                             the same counts by their legacy names (LegacyCount)
//	requests.<r>, limits.<r>     a pod's requests or limits of r; the bare
//	                             cpu, memory, ephemeral-storage, hugepages-*
//	                             mean requests (PodResource)
//	requests.storage, <class>.storageclass.storage.k8s.io/{requests.storage,
//	persistentvolumeclaims}      claims (ClassName, SplitClassName)
//	services.nodeports, services.loadbalancers
//
// What one object uses. A pod (PodRequests, PodLimits): its pod-level
// resources where set; otherwise the larger of (its containers plus its
// sidecars — init containers with restartPolicy Always, which keep
// running) and its largest init step (an init container plus the sidecars
// started before it); plus spec.overhead. A pod in phase Succeeded or
// Failed uses nothing (Terminal); the controller also drops pods past
// their deletion grace period (PodCounts). A claim (ClaimStorage): the
// larger of its storage request and what was allocated, in its class
// (ClaimClass: spec.storageClassName, else the beta annotation). A
// service (NodePorts): every port of a NodePort service; every port of a
// LoadBalancer, unless spec.allocateLoadBalancerNodePorts is false, when
// only the ports that name a nodePort.
//
// Scopes (ScopesMatch) select pods; every scope of spec.scopes and every
// expression of spec.scopeSelector must match. Terminating is
// activeDeadlineSeconds >= 0; BestEffort is no cpu or memory request or
// limit anywhere (pod level, init containers, containers);
// CrossNamespacePodAffinity is a pod (anti-)affinity term naming
// namespaces or a namespace selector; PriorityClass takes In, NotIn,
// Exists, DoesNotExist on spec.priorityClassName. Unknown scopes, and
// scopes not about pods, select nothing. A Scoped quota counts pods only.
//
// Invariants: every function is pure; none modifies its arguments; the
// lists returned are fresh (callers may modify them).
//
// # Example
//
//	// a pod with one 250m container, a 2-cpu init container and a 100m
//	// sidecar after it, and 10m overhead:
//	quota.PodRequests(pod)[corev1.ResourceCPU] // max(0.25+0.1, 2) + 0.01 = 2010m
//	quota.PodResource("requests.cpu")          // "cpu", false, true
//	quota.PodResource("limits.memory")         // "memory", true, true
//	quota.CountName(schema.GroupResource{Group: "apps", Resource: "deployments"}) // count/deployments.apps
//	quota.ScopesMatch(q, pod) // q.spec.scopes [NotBestEffort] → true
package quota
