package kinds

// Minimal kind constructors: names, storage layout, subresources. The
// defaulting, validation and table columns of each kind go in its own file.

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
)

func resourceQuotaKind() *Kind {
	k := base(coreGV, "ResourceQuota", "resourcequotas", "resourcequota", true, obj[corev1.ResourceQuota](), obj[corev1.ResourceQuotaList]())
	k.ShortNames, k.HasStatus = []string{"quota"}, true
	return k
}

func limitRangeKind() *Kind {
	k := base(coreGV, "LimitRange", "limitranges", "limitrange", true, obj[corev1.LimitRange](), obj[corev1.LimitRangeList]())
	k.ShortNames = []string{"limits"}
	return k
}

func hpaKind() *Kind {
	k := base(autoscalingGV, "HorizontalPodAutoscaler", "horizontalpodautoscalers", "horizontalpodautoscaler", true, obj[autoscalingv2.HorizontalPodAutoscaler](), obj[autoscalingv2.HorizontalPodAutoscalerList]())
	k.ShortNames, k.Categories, k.HasStatus = []string{"hpa"}, []string{"all"}, true
	return k
}

func leaseKind() *Kind {
	return base(coordGV, "Lease", "leases", "lease", true, obj[coordinationv1.Lease](), obj[coordinationv1.LeaseList]())
}

func endpointSliceKind() *Kind {
	return base(discoveryGV, "EndpointSlice", "endpointslices", "endpointslice", true, obj[discoveryv1.EndpointSlice](), obj[discoveryv1.EndpointSliceList]())
}

func pdbKind() *Kind {
	k := base(policyGV, "PodDisruptionBudget", "poddisruptionbudgets", "poddisruptionbudget", true, obj[policyv1.PodDisruptionBudget](), obj[policyv1.PodDisruptionBudgetList]())
	k.ShortNames, k.HasStatus = []string{"pdb"}, true
	return k
}

func roleKind() *Kind {
	return base(rbacGV, "Role", "roles", "role", true, obj[rbacv1.Role](), obj[rbacv1.RoleList]())
}

func roleBindingKind() *Kind {
	return base(rbacGV, "RoleBinding", "rolebindings", "rolebinding", true, obj[rbacv1.RoleBinding](), obj[rbacv1.RoleBindingList]())
}

func clusterRoleKind() *Kind {
	return base(rbacGV, "ClusterRole", "clusterroles", "clusterrole", false, obj[rbacv1.ClusterRole](), obj[rbacv1.ClusterRoleList]())
}

func clusterRoleBindingKind() *Kind {
	return base(rbacGV, "ClusterRoleBinding", "clusterrolebindings", "clusterrolebinding", false, obj[rbacv1.ClusterRoleBinding](), obj[rbacv1.ClusterRoleBindingList]())
}

func priorityClassKind() *Kind {
	k := base(schedulingGV, "PriorityClass", "priorityclasses", "priorityclass", false, obj[schedulingv1.PriorityClass](), obj[schedulingv1.PriorityClassList]())
	k.ShortNames = []string{"pc"}
	return k
}

func storageClassKind() *Kind {
	k := base(storageGV, "StorageClass", "storageclasses", "storageclass", false, obj[storagev1.StorageClass](), obj[storagev1.StorageClassList]())
	k.ShortNames = []string{"sc"}
	return k
}
