package kinds

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
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// All returns a new list of every served kind, in discovery order (the
// core group first, then groups as kube-apiserver orders them). The
// returned Kinds are the caller's.
func All() []*Kind {
	return []*Kind{
		// core/v1
		namespaceKind(),
		podKind(),
		serviceKind(),
		endpointsKind(),
		nodeKind(),
		configMapKind(),
		secretKind(),
		serviceAccountKind(),
		eventKind(),
		persistentVolumeKind(),
		persistentVolumeClaimKind(),
		resourceQuotaKind(),
		limitRangeKind(),
		replicationControllerKind(),
		// apps/v1
		deploymentKind(),
		replicaSetKind(),
		daemonSetKind(),
		statefulSetKind(),
		controllerRevisionKind(),
		// batch/v1
		jobKind(),
		cronJobKind(),
		// autoscaling/v2
		hpaKind(),
		// coordination.k8s.io/v1
		leaseKind(),
		// discovery.k8s.io/v1
		endpointSliceKind(),
		// events.k8s.io/v1
		eventsV1Kind(),
		// policy/v1
		pdbKind(),
		// rbac.authorization.k8s.io/v1
		roleKind(), roleBindingKind(), clusterRoleKind(), clusterRoleBindingKind(),
		// resource.k8s.io/v1
		deviceClassKind(), deviceTaintRuleKind(), resourceClaimKind(), resourceClaimTemplateKind(), resourceSliceKind(),
		// scheduling.k8s.io/v1
		priorityClassKind(),
		// storage.k8s.io/v1
		storageClassKind(),
		csiDriverKind(), csiNodeKind(), csiStorageCapacityKind(), volumeAttachmentKind(),
		// apiextensions.k8s.io/v1
		crdKind(),
		// metrics.kelson.dev/v1alpha1 (Kelson's own)
		nodeUsageKind(),
	}
}

// obj returns a constructor of an empty T.
func obj[T any, PT interface {
	*T
	runtime.Object
}]() func() runtime.Object {
	return func() runtime.Object { return PT(new(T)) }
}

// base fills the fields every kind has; per-kind constructors add the rest.
func base(gv schema.GroupVersion, kind, resource, singular string, namespaced bool, newObj, newList func() runtime.Object) *Kind {
	return &Kind{
		GVK:           gv.WithKind(kind),
		Resource:      resource,
		Singular:      singular,
		Namespaced:    namespaced,
		StoragePrefix: resource,
		New:           newObj,
		NewList:       newList,
	}
}

var (
	coreGV        = corev1.SchemeGroupVersion
	appsGV        = appsv1.SchemeGroupVersion
	batchGV       = batchv1.SchemeGroupVersion
	autoscalingGV = autoscalingv2.SchemeGroupVersion
	coordGV       = coordinationv1.SchemeGroupVersion
	discoveryGV   = discoveryv1.SchemeGroupVersion
	policyGV      = policyv1.SchemeGroupVersion
	rbacGV        = rbacv1.SchemeGroupVersion
	schedulingGV  = schedulingv1.SchemeGroupVersion
	storageGV     = storagev1.SchemeGroupVersion
)
