package rbac

// The default policy: the ClusterRoles and ClusterRoleBindings the API
// server creates when it starts (and keeps current while they carry
// autoupdate=true; see reconcile.go). As data, one rule a line.
//
// Nodes have no role here: the node authorizer (apiserver/authz/node)
// decides every request of a system:node:<name> user from the pods bound
// to it, and RBAC grants nodes nothing, so what the node authorizer
// refuses is refused.

import (
	"github.com/kelson-dev/kelson/apiserver/authn"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Users of the control-plane components (their client certificates' CN).
const (
	ControllerManagerUser = "system:kube-controller-manager"
	SchedulerUser         = "system:kube-scheduler"
)

// The aggregation labels of the user-facing roles: a ClusterRole labelled
// with one of them adds its rules to admin, edit or view.
const (
	AggregateToAdmin = "rbac.authorization.k8s.io/aggregate-to-admin"
	AggregateToEdit  = "rbac.authorization.k8s.io/aggregate-to-edit"
	AggregateToView  = "rbac.authorization.k8s.io/aggregate-to-view"
)

// Verb sets.
var (
	read      = []string{"get", "list", "watch"}
	write     = []string{"create", "delete", "deletecollection", "patch", "update"}
	readWrite = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	// recordEvents is what client-go's event recorder does: create a new
	// Event, patch (or update) an existing one's count.
	recordEvents = rule([]string{"create", "patch", "update"}, []string{""}, "events")
)

// rule is a resource rule: verbs on resources of groups.
func rule(verbs, groups []string, resources ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, APIGroups: groups, Resources: resources}
}

// named is rule limited to the objects named.
func named(verbs, groups []string, resources, names []string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, APIGroups: groups, Resources: resources, ResourceNames: names}
}

// urls is a non-resource rule.
func urls(verbs []string, paths ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, NonResourceURLs: paths}
}

func g(groups ...string) []string { return groups }
func v(verbs ...string) []string  { return verbs }

func clusterRole(name string, labels map[string]string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
	l := map[string]string{"kubernetes.io/bootstrapping": "rbac-defaults"}
	for k, val := range labels {
		l[k] = val
	}
	return &rbacv1.ClusterRole{
		TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l,
			Annotations: map[string]string{AutoUpdateAnnotation: "true"}},
		Rules: rules,
	}
}

// aggregated is a role whose rules are those of the roles labelled with
// one of the labels (the aggregation loop fills them).
func aggregated(name string, labels map[string]string, from ...string) *rbacv1.ClusterRole {
	r := clusterRole(name, labels)
	r.AggregationRule = &rbacv1.AggregationRule{}
	for _, l := range from {
		r.AggregationRule.ClusterRoleSelectors = append(r.AggregationRule.ClusterRoleSelectors,
			metav1.LabelSelector{MatchLabels: map[string]string{l: "true"}})
	}
	return r
}

func labelsTrue(keys ...string) map[string]string {
	m := map[string]string{}
	for _, k := range keys {
		m[k] = "true"
	}
	return m
}

// DefaultClusterRoles returns the default policy's ClusterRoles, fresh
// copies each call.
func DefaultClusterRoles() []*rbacv1.ClusterRole {
	return []*rbacv1.ClusterRole{
		// Everything, everywhere. Bound to system:masters.
		clusterRole("cluster-admin", nil,
			rule(v("*"), g("*"), "*"),
			urls(v("*"), "*")),

		// What every authenticated user may ask about itself.
		clusterRole("system:basic-user", nil,
			rule(v("create"), g("authorization.k8s.io"), "selfsubjectaccessreviews", "selfsubjectrulesreviews"),
			rule(v("create"), g("authentication.k8s.io"), "selfsubjectreviews")),

		// Discovery: what kubectl and client-go read before anything else.
		clusterRole("system:discovery", nil,
			urls(v("get"), "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/")),

		// Health and version, for everyone (anonymous requests are served
		// these paths before authorization; this role says so for
		// authenticated users and for `kubectl auth can-i`).
		clusterRole("system:public-info-viewer", nil,
			urls(v("get"), "/healthz", "/livez", "/readyz", "/version", "/version/")),

		// The user-facing roles, bound by operators (RoleBindings for one
		// namespace, ClusterRoleBindings for all): their rules come from
		// the system:aggregate-to-* roles below and from any ClusterRole an
		// operator labels aggregate-to-admin/edit/view=true.
		aggregated("admin", nil, AggregateToAdmin),
		aggregated("edit", labelsTrue(AggregateToAdmin), AggregateToEdit),
		aggregated("view", labelsTrue(AggregateToEdit), AggregateToView),

		// admin beyond edit: RBAC inside a namespace, and access reviews.
		clusterRole("system:aggregate-to-admin", labelsTrue(AggregateToAdmin),
			rule(readWrite, g("rbac.authorization.k8s.io"), "rolebindings", "roles"),
			rule(v("create"), g("authorization.k8s.io"), "localsubjectaccessreviews")),

		// edit beyond view: write the workloads and their configuration,
		// read secrets, exec into pods. Not RBAC, not quotas or limit
		// ranges (admin's), not endpoints or endpointslices (writing them
		// could steer a Service's traffic anywhere).
		clusterRole("system:aggregate-to-edit", labelsTrue(AggregateToAdmin, AggregateToEdit),
			rule(read, g(""), "pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"),
			rule(v("impersonate"), g(""), "serviceaccounts"),
			rule(write, g(""), "pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"),
			rule(v("create"), g(""), "pods/eviction"),
			rule(write, g(""), "configmaps", "events", "persistentvolumeclaims", "replicationcontrollers",
				"replicationcontrollers/scale", "secrets", "serviceaccounts", "services", "services/proxy"),
			rule(v("create"), g(""), "serviceaccounts/token"),
			rule(write, g("apps"), "daemonsets", "deployments", "deployments/rollback", "deployments/scale",
				"replicasets", "replicasets/scale", "statefulsets", "statefulsets/scale"),
			rule(write, g("autoscaling"), "horizontalpodautoscalers"),
			rule(write, g("batch"), "cronjobs", "jobs"),
			rule(write, g("networking.k8s.io"), "ingresses", "networkpolicies"),
			rule(write, g("policy"), "poddisruptionbudgets")),

		// view: read what a namespace holds, except secrets (and so
		// nothing that would reveal them, like pods/exec).
		clusterRole("system:aggregate-to-view", labelsTrue(AggregateToAdmin, AggregateToEdit, AggregateToView),
			rule(read, g(""), "configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status",
				"pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services", "services/status"),
			rule(read, g(""), "bindings", "events", "limitranges", "namespaces/status", "pods/log", "pods/status",
				"replicationcontrollers/status", "resourcequotas", "resourcequotas/status"),
			rule(read, g(""), "namespaces"),
			rule(read, g("discovery.k8s.io"), "endpointslices"),
			rule(read, g("apps"), "controllerrevisions", "daemonsets", "daemonsets/status", "deployments",
				"deployments/scale", "deployments/status", "replicasets", "replicasets/scale", "replicasets/status",
				"statefulsets", "statefulsets/scale", "statefulsets/status"),
			rule(read, g("autoscaling"), "horizontalpodautoscalers", "horizontalpodautoscalers/status"),
			rule(read, g("batch"), "cronjobs", "cronjobs/status", "jobs", "jobs/status"),
			rule(read, g("events.k8s.io"), "events"),
			rule(read, g("networking.k8s.io"), "ingresses", "ingresses/status", "networkpolicies"),
			rule(read, g("policy"), "poddisruptionbudgets", "poddisruptionbudgets/status"),
			rule(v("get", "list"), g("metrics.k8s.io"), "pods")),

		controllerManagerRole(),
		schedulerRole(),
	}
}

// controllerManagerRole is what the controllers of controllers/ do, all
// under one identity (system:kube-controller-manager), rule by rule with
// the controllers that need it. TestControllerManagerRole (apiserver)
// runs them against a server with RBAC on and fails on any 403.
func controllerManagerRole() *rbacv1.ClusterRole {
	return clusterRole("system:kube-controller-manager", nil,
		// Reads: every controller's informers, and the garbage collector
		// (metadata informers over every resource discovery lists, and a
		// get before each delete) and resource quota controller (counts
		// most kinds) read everything. The HPA reads metrics.k8s.io pods.
		rule(read, g("*"), "*"),
		// garbagecollector: deletes dependents of any kind, patches their
		// ownerReferences and finalizers (orphaning, foreground deletion).
		// The workload controllers' deletes (pods, replicasets, jobs,
		// controllerrevisions, endpoints, endpointslices, PVs) and adoption
		// patches (pods, replicasets) are among these.
		rule(v("delete", "patch"), g("*"), "*"),
		// replicaset, job, daemonset, statefulset: make pods.
		rule(v("create"), g(""), "pods"),
		// nodelifecycle (NodeReady false on an unreachable node's pods) and
		// the taint eviction controller (DisruptionTarget condition).
		rule(v("update"), g(""), "pods/status"),
		// nodeipam (podCIDR), nodelifecycle (taints) and its status writes.
		rule(v("update"), g(""), "nodes", "nodes/status"),
		// serviceaccount: the "default" account of every namespace.
		rule(v("create"), g(""), "serviceaccounts"),
		// root-ca-cert-publisher: ConfigMap kube-root-ca.crt in every namespace.
		rule(v("create", "update"), g(""), "configmaps"),
		// endpoint controller.
		rule(v("create", "update"), g(""), "endpoints"),
		// endpointslice controller.
		rule(v("create", "update"), g("discovery.k8s.io"), "endpointslices"),
		// statefulset: volumeClaimTemplates' claims (and their owner
		// references); persistentvolume binder: binds claims and volumes.
		rule(v("create", "update"), g(""), "persistentvolumeclaims"),
		rule(v("update"), g(""), "persistentvolumeclaims/status", "persistentvolumes/status"),
		// local-path provisioner creates volumes; the binder updates them.
		rule(v("create", "update"), g(""), "persistentvolumes"),
		// local-path provisioner: its StorageClass.
		rule(v("create"), g("storage.k8s.io"), "storageclasses"),
		// resourcequota controller.
		rule(v("update"), g(""), "resourcequotas/status"),
		// deployment: replicasets; daemonset, statefulset: revisions.
		rule(v("create", "update"), g("apps"), "replicasets", "controllerrevisions"),
		// each workload controller reports its status.
		rule(v("update"), g("apps"), "deployments/status", "replicasets/status", "daemonsets/status", "statefulsets/status"),
		// cronjob: makes jobs; job and cronjob status.
		rule(v("create"), g("batch"), "jobs"),
		rule(v("update"), g("batch"), "jobs/status", "cronjobs/status"),
		// horizontal pod autoscaler (reads and writes the scale of any
		// target) and disruption controller (reads it).
		rule(v("update"), g("*"), "*/scale"),
		rule(v("update"), g("autoscaling"), "horizontalpodautoscalers/status"),
		rule(v("update"), g("policy"), "poddisruptionbudgets/status"),
		// Events of every controller.
		recordEvents,
		// Leader election: the kube-controller-manager Lease in kube-system.
		rule(v("create"), g("coordination.k8s.io"), "leases"),
		named(v("get", "update"), g("coordination.k8s.io"), []string{"leases"}, []string{"kube-controller-manager"}))
}

// schedulerRole is what controllers/scheduler does, as
// system:kube-scheduler.
func schedulerRole() *rbacv1.ClusterRole {
	return clusterRole("system:kube-scheduler", nil,
		// Its informers: what a placement depends on.
		rule(read, g(""), "pods", "nodes", "namespaces", "persistentvolumes", "persistentvolumeclaims"),
		rule(read, g("scheduling.k8s.io"), "priorityclasses"),
		// Bind a pod to its node; say why it waits (PodScheduled false,
		// nominatedNodeName).
		rule(v("create"), g(""), "pods/binding"),
		rule(v("patch", "update"), g(""), "pods/status"),
		// Preemption deletes lower-priority victims.
		rule(v("delete"), g(""), "pods"),
		recordEvents,
		// Leader election: the kube-scheduler Lease in kube-system.
		rule(v("create"), g("coordination.k8s.io"), "leases"),
		named(v("get", "update"), g("coordination.k8s.io"), []string{"leases"}, []string{"kube-scheduler"}))
}

func clusterRoleBinding(name, role string, subjects ...rbacv1.Subject) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: name,
			Labels:      map[string]string{"kubernetes.io/bootstrapping": "rbac-defaults"},
			Annotations: map[string]string{AutoUpdateAnnotation: "true"}},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects: subjects,
	}
}

func group(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: name}
}

func user(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}
}

// DefaultClusterRoleBindings returns the default policy's bindings, fresh
// copies each call.
func DefaultClusterRoleBindings() []*rbacv1.ClusterRoleBinding {
	return []*rbacv1.ClusterRoleBinding{
		clusterRoleBinding("cluster-admin", "cluster-admin", group(authn.SystemPrivileged)),
		clusterRoleBinding("system:basic-user", "system:basic-user", group(authn.AllAuthenticated)),
		clusterRoleBinding("system:discovery", "system:discovery", group(authn.AllAuthenticated)),
		clusterRoleBinding("system:public-info-viewer", "system:public-info-viewer",
			group(authn.AllAuthenticated), group(authn.AllUnauthenticated)),
		clusterRoleBinding("system:kube-controller-manager", "system:kube-controller-manager", user(ControllerManagerUser)),
		clusterRoleBinding("system:kube-scheduler", "system:kube-scheduler", user(SchedulerUser)),
	}
}
