package quota

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Prefixes and suffixes of quota resource names.
const (
	CountPrefix        = "count/"
	RequestsPrefix     = "requests."
	LimitsPrefix       = "limits."
	StorageClassSuffix = ".storageclass.storage.k8s.io/"
	// BetaStorageClassAnnotation names a claim's class when
	// spec.storageClassName is not set.
	BetaStorageClassAnnotation = "volume.beta.kubernetes.io/storage-class"
)

// CountName is count/<resource>, or count/<resource>.<group> outside the
// core group.
func CountName(gr schema.GroupResource) corev1.ResourceName {
	if gr.Group == "" {
		return corev1.ResourceName(CountPrefix + gr.Resource)
	}
	return corev1.ResourceName(CountPrefix + gr.Resource + "." + gr.Group)
}

// LegacyCount reports whether name is an object count named without
// count/: the core group's pods, services, configmaps, secrets,
// resourcequotas, replicationcontrollers and persistentvolumeclaims. The
// name is the resource's.
func LegacyCount(name corev1.ResourceName) bool {
	switch name {
	case corev1.ResourcePods, corev1.ResourceServices, corev1.ResourceConfigMaps, corev1.ResourceSecrets,
		corev1.ResourceQuotas, corev1.ResourceReplicationControllers, corev1.ResourcePersistentVolumeClaims:
		return true
	}
	return false
}

// BareCompute reports whether a pod's resource name is also a quota name
// on its own, meaning requests.<name>: cpu, memory, ephemeral-storage and
// hugepages-<size>.
func BareCompute(name corev1.ResourceName) bool {
	return name == corev1.ResourceCPU || name == corev1.ResourceMemory || name == corev1.ResourceEphemeralStorage ||
		strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix)
}

// PodResource says what quota name n measures of pods: the sum of their
// requests (limits false) or limits of resource of. ok is false for names
// that are not about pods' resources — among them requests.storage and
// the per-StorageClass names, which are claims', and the pod counts.
func PodResource(n corev1.ResourceName) (of corev1.ResourceName, limits, ok bool) {
	s := string(n)
	switch {
	case n == corev1.ResourceRequestsStorage || strings.Contains(s, StorageClassSuffix):
		return "", false, false
	case strings.HasPrefix(s, RequestsPrefix):
		return corev1.ResourceName(strings.TrimPrefix(s, RequestsPrefix)), false, true
	case strings.HasPrefix(s, LimitsPrefix):
		return corev1.ResourceName(strings.TrimPrefix(s, LimitsPrefix)), true, true
	case BareCompute(n):
		return n, false, true
	}
	return "", false, false
}

// ClassName is <class>.storageclass.storage.k8s.io/<what>, what being
// requests.storage or persistentvolumeclaims.
func ClassName(class string, what corev1.ResourceName) corev1.ResourceName {
	return corev1.ResourceName(class + StorageClassSuffix + string(what))
}

// SplitClassName is ClassName's inverse; ok is false when n is not a
// per-StorageClass name.
func SplitClassName(n corev1.ResourceName) (class string, what corev1.ResourceName, ok bool) {
	c, w, ok := strings.Cut(string(n), StorageClassSuffix)
	return c, corev1.ResourceName(w), ok
}
