// Package serviceaccount keeps a ServiceAccount named "default" in every
// active namespace (kube-controller-manager's "serviceaccount"
// controller), so pods that name no service account can be admitted.
//
// Model: a namespace's key is synced when the namespace appears or
// changes, and when a ServiceAccount of a wanted name is deleted. The
// decision (missing) is a pure function of the namespace and the
// ServiceAccounts the cache holds; the sync creates what is missing.
//
// Invariants: a namespace that is terminating (deletionTimestamp set or
// phase Terminating) gets nothing — the API refuses new content there
// and its deletion is under way; an AlreadyExists answer (a stale cache)
// is success.
//
// Example: `kubectl create ns team-a` → ServiceAccount team-a/default
// appears; `kubectl -n team-a delete sa default` → it comes back.
//
// ConfigMap kube-root-ca.crt, which pods' service account volumes read,
// is published by controllers/rootcacert.
package serviceaccount
