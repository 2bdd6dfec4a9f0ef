// Package admission holds the API server's admission plugins: what runs
// on a write after it was authenticated, authorized, decoded and defaulted,
// and before it is stored.
//
// Model. A write is described by Attributes (operation, resource,
// subresource, namespace, name, the object as it will be stored, the
// stored object, the user, dryRun). It passes every Mutator in order
// (which may change Attributes.Object), then the kind's own validation,
// then every Validator (which may only refuse). A refusal is an error the
// API returns as it is: plugins return apimachinery api/errors (mostly
// Forbidden, `<resource> "<name>" is forbidden: <reason>`, with
// Kubernetes' reasons), so kubectl shows what kube-apiserver would.
// Warnings (PodSecurity's warn mode) go to the request through the
// context (WithWarnings, Warn) and come back as Warning headers.
//
// The chain of a `kelson server`, in Kubernetes' order:
//
//	mutators    NamespaceLifecycle  missing/terminating namespace; immortal namespaces
//	            LimitRanger         Container defaults (default, defaultRequest)
//	            ServiceAccount      serviceAccountName, the service account exists, token volume
//	validators  LimitRanger         min, max, maxLimitRequestRatio (Container, Pod, PVC)
//	            NodeRestriction     system:node:<name> writes only its Node, Lease, pods' status
//	            PodSecurity         Pod Security Standards by namespace labels (enforce, warn)
//	            ResourceQuota       refuse past status.hard; charge status.used (CAS)
//
// Plugins read other objects (namespaces, service accounts, limit ranges,
// quotas, pods) through the narrow interfaces of lookup.go, which the API
// server implements over its watch caches. The decisions are pure
// functions of those reads and the Attributes (CheckPod, QuotaCharge,
// PodLimitViolations, DefaultPodResources, MountToken, ...), tested
// without a server.
//
// Invariants: a Validator never changes the write; a plugin never
// modifies what a lookup returned (the caches' objects are shared);
// nothing a request carries makes a plugin panic; a dry run is decided
// like the real write and changes nothing elsewhere (no quota charge).
// Writes by the server itself (no user in the context) are admitted like
// anyone's, except that NodeRestriction has nothing to say about them.
//
// Example: in a namespace labelled pod-security.kubernetes.io/enforce=
// restricted, `kubectl run x --image=busybox` is answered
//
//	Error from server (Forbidden): pods "x" is forbidden: violates PodSecurity "restricted:latest":
//	allowPrivilegeEscalation != false (container "x" must set securityContext.allowPrivilegeEscalation=false), ...
//
// and with a ResourceQuota of pods: 1 whose one pod exists, a second pod
// is answered `exceeded quota: q, requested: pods=1, used: pods=1,
// limited: pods=1`.
package admission
