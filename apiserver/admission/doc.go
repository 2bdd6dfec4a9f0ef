// Package admission holds the API server's admission plugins: what runs
// on a write after it was authenticated, authorized, decoded and defaulted,
// and before it is validated and stored.
//
// A write passes every Mutator in order (which may change Attributes.Object),
// then the kind's own validation, then every Validator (which may only
// refuse). A refusal is an error the API returns as it is: plugins return
// apimachinery api/errors (Forbidden with Kubernetes' message, Invalid,
// ...), so kubectl shows what kube-apiserver would.
//
// Plugins read other objects (namespaces, service accounts, limit ranges,
// quotas) through the narrow interfaces they declare, which the API server
// implements over its watch caches. Decisions are pure functions of those
// reads and the Attributes, tested without a server.
//
// The chain of a `kelson server`, in Kubernetes' order: NamespaceLifecycle,
// LimitRanger, ServiceAccount, NodeRestriction, PodSecurity, ResourceQuota.
package admission
