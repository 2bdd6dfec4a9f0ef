package kinds

// Minimal kind constructors: names, storage layout, subresources. The
// defaulting, validation and table columns of each kind go in its own file.

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func obj[T any, PT interface {
	*T
	runtime.Object
}]() func() runtime.Object {
	return func() runtime.Object { return PT(new(T)) }
}

func namespaceKind() *Kind {
	k := base(coreGV, "Namespace", "namespaces", "namespace", false, obj[corev1.Namespace](), obj[corev1.NamespaceList]())
	k.ShortNames, k.HasStatus = []string{"ns"}, true
	return k
}

func podKind() *Kind {
	k := base(coreGV, "Pod", "pods", "pod", true, obj[corev1.Pod](), obj[corev1.PodList]())
	k.ShortNames, k.Categories, k.HasStatus = []string{"po"}, []string{"all"}, true
	return k
}

func serviceKind() *Kind {
	k := base(coreGV, "Service", "services", "service", true, obj[corev1.Service](), obj[corev1.ServiceList]())
	k.ShortNames, k.Categories, k.HasStatus, k.StoragePrefix = []string{"svc"}, []string{"all"}, true, "services/specs"
	return k
}

func endpointsKind() *Kind {
	k := base(coreGV, "Endpoints", "endpoints", "endpoints", true, obj[corev1.Endpoints](), obj[corev1.EndpointsList]())
	k.ShortNames, k.StoragePrefix = []string{"ep"}, "services/endpoints"
	return k
}

func nodeKind() *Kind {
	k := base(coreGV, "Node", "nodes", "node", false, obj[corev1.Node](), obj[corev1.NodeList]())
	k.ShortNames, k.HasStatus, k.StoragePrefix = []string{"no"}, true, "minions"
	return k
}

func configMapKind() *Kind {
	k := base(coreGV, "ConfigMap", "configmaps", "configmap", true, obj[corev1.ConfigMap](), obj[corev1.ConfigMapList]())
	k.ShortNames = []string{"cm"}
	return k
}

func secretKind() *Kind {
	return base(coreGV, "Secret", "secrets", "secret", true, obj[corev1.Secret](), obj[corev1.SecretList]())
}

func serviceAccountKind() *Kind {
	k := base(coreGV, "ServiceAccount", "serviceaccounts", "serviceaccount", true, obj[corev1.ServiceAccount](), obj[corev1.ServiceAccountList]())
	k.ShortNames = []string{"sa"}
	return k
}

func eventKind() *Kind {
	k := base(coreGV, "Event", "events", "event", true, obj[corev1.Event](), obj[corev1.EventList]())
	k.ShortNames = []string{"ev"}
	return k
}

func persistentVolumeKind() *Kind {
	k := base(coreGV, "PersistentVolume", "persistentvolumes", "persistentvolume", false, obj[corev1.PersistentVolume](), obj[corev1.PersistentVolumeList]())
	k.ShortNames, k.HasStatus = []string{"pv"}, true
	return k
}

func persistentVolumeClaimKind() *Kind {
	k := base(coreGV, "PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim", true, obj[corev1.PersistentVolumeClaim](), obj[corev1.PersistentVolumeClaimList]())
	k.ShortNames, k.HasStatus = []string{"pvc"}, true
	return k
}

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

func deploymentKind() *Kind {
	k := base(appsGV, "Deployment", "deployments", "deployment", true, obj[appsv1.Deployment](), obj[appsv1.DeploymentList]())
	k.ShortNames, k.Categories, k.HasStatus = []string{"deploy"}, []string{"all"}, true
	return k
}

func replicaSetKind() *Kind {
	k := base(appsGV, "ReplicaSet", "replicasets", "replicaset", true, obj[appsv1.ReplicaSet](), obj[appsv1.ReplicaSetList]())
	k.ShortNames, k.Categories, k.HasStatus = []string{"rs"}, []string{"all"}, true
	return k
}

func daemonSetKind() *Kind {
	k := base(appsGV, "DaemonSet", "daemonsets", "daemonset", true, obj[appsv1.DaemonSet](), obj[appsv1.DaemonSetList]())
	k.ShortNames, k.Categories, k.HasStatus = []string{"ds"}, []string{"all"}, true
	return k
}

func statefulSetKind() *Kind {
	k := base(appsGV, "StatefulSet", "statefulsets", "statefulset", true, obj[appsv1.StatefulSet](), obj[appsv1.StatefulSetList]())
	k.ShortNames, k.Categories, k.HasStatus = []string{"sts"}, []string{"all"}, true
	return k
}

func controllerRevisionKind() *Kind {
	return base(appsGV, "ControllerRevision", "controllerrevisions", "controllerrevision", true, obj[appsv1.ControllerRevision](), obj[appsv1.ControllerRevisionList]())
}

func jobKind() *Kind {
	k := base(batchGV, "Job", "jobs", "job", true, obj[batchv1.Job](), obj[batchv1.JobList]())
	k.Categories, k.HasStatus = []string{"all"}, true
	return k
}

func cronJobKind() *Kind {
	k := base(batchGV, "CronJob", "cronjobs", "cronjob", true, obj[batchv1.CronJob](), obj[batchv1.CronJobList]())
	k.ShortNames, k.Categories, k.HasStatus = []string{"cj"}, []string{"all"}, true
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
