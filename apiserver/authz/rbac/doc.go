// Package rbac is Kubernetes' role-based access control for the API
// server: rule matching, the authorizer, escalation prevention, ClusterRole
// aggregation and the default policy. It is pure: the roles and bindings
// come from a Source (the API server's watch caches; MemorySource in
// tests), and nothing here does IO.
//
// # Model
//
// A request (authz.Attributes) is allowed when some binding applies to its
// user — a ClusterRoleBinding, or a RoleBinding of the request's namespace
// — and a rule of the role it refers to matches it (Allows):
//
//   - verbs: the verb, or "*";
//   - apiGroups: the group ("" is core), or "*";
//   - resources: "*", the resource, "resource/subresource" for a
//     subresource ("pods/log"), or "*/subresource" ("*/scale");
//   - resourceNames: empty (every object), or the request's name; a
//     request without a name (list, create ...) matches only rules
//     without names;
//   - nonResourceURLs (non-resource requests only): "*", the path, or a
//     prefix ending in "*" ("/healthz/*").
//
// A subject applies to a user when it is the User of that name, a Group
// the user is in, or the ServiceAccount whose user name
// (system:serviceaccount:<ns>:<name>) the user has; a ServiceAccount
// subject without a namespace is of its RoleBinding's namespace.
//
// RBAC only allows: with no matching rule its answer is NoOpinion, and the
// API server's 403 says what was asked (authz.Attributes.Describe).
//
// # The index
//
// Over a Versioned source (the API server's watch caches, MemorySource)
// the authorizer does not scan every binding per request: it keeps an
// index of the bindings by the user names (User subjects, service
// accounts' user names) and groups they name, with their roles' rules
// resolved, built from the source's Contents and rebuilt when its Version
// (the caches' revisions) moves. A request looks up its user's name and
// groups, in the cluster and in its namespace, and checks only those
// bindings, in the order a scan would meet them: the decisions, reasons
// and errors are the scan's (TestIndexMatchesScan compares both on
// random policies). Until the source is loaded, or if its contents cannot
// be read, the authorizer reads the Source's methods as before.
//
// # Escalation
//
// A user may create or update a Role or ClusterRole only if it may
// "escalate" it, or it holds every permission the role grants (Covers); a
// binding only if it may "bind" the role it refers to, or holds every
// permission of that role. Otherwise the write is refused with
// EscalationMessage. The API server makes these checks (apiserver/
// authorization.go); writing a ClusterRole with an aggregationRule takes
// FullAuthority.
//
// # Aggregation
//
// A ClusterRole with an aggregationRule has, as rules, those of the
// ClusterRoles its selectors match (Aggregate); the API server keeps them
// current, not the controller manager, so the controllers need no
// escalate right.
//
// # Default policy
//
// DefaultClusterRoles and DefaultClusterRoleBindings (policy.go) are
// created when the API server starts; ReconcileClusterRole and
// ReconcileClusterRoleBinding say what to write for each.
//
// # Example
//
//	src := &rbac.MemorySource{}
//	src.Add(role, binding)
//	z := rbac.New(src)
//	d, reason, _ := z.Authorize(ctx, authz.Attributes{User: u, Verb: "get",
//		ResourceRequest: true, Resource: "pods", Namespace: "dev", Name: "web"})
//	// d == authz.Allow, reason `RBAC: allowed by RoleBinding "read/dev" of Role "reader" to User "jane"`
package rbac
