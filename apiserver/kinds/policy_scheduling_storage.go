package kinds

// PodDisruptionBudgets (policy), PriorityClasses (scheduling.k8s.io) and
// StorageClasses (storage.k8s.io).

import (
	"fmt"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var unhealthyPodEvictionPolicies = []policyv1.UnhealthyPodEvictionPolicyType{policyv1.AlwaysAllow, policyv1.IfHealthyBudget}

func pdbKind() *Kind {
	k := base(policyGV, "PodDisruptionBudget", "poddisruptionbudgets", "poddisruptionbudget", true, obj[policyv1.PodDisruptionBudget](), obj[policyv1.PodDisruptionBudgetList]())
	k.ShortNames, k.HasStatus = []string{"pdb"}, true
	k.PrepareForCreate = func(o runtime.Object) {
		o.(*policyv1.PodDisruptionBudget).Status = policyv1.PodDisruptionBudgetStatus{}
	}
	k.Validate = func(o runtime.Object) field.ErrorList {
		s := &o.(*policyv1.PodDisruptionBudget).Spec
		fld := field.NewPath("spec")
		var errs field.ErrorList
		if s.MinAvailable != nil && s.MaxUnavailable != nil {
			errs = append(errs, field.Invalid(fld, s, "minAvailable and maxUnavailable cannot be both set"))
		}
		for name, v := range map[string]*intstr.IntOrString{"minAvailable": s.MinAvailable, "maxUnavailable": s.MaxUnavailable} {
			if v != nil {
				errs = append(errs, positiveIntOrPercent(*v, fld.Child(name))...)
				errs = append(errs, notMoreThan100Percent(v, fld.Child(name))...)
			}
		}
		errs = append(errs, metav1validation.ValidateLabelSelector(s.Selector, metav1validation.LabelSelectorValidationOptions{}, fld.Child("selector"))...)
		if p := s.UnhealthyPodEvictionPolicy; p != nil && !contains(unhealthyPodEvictionPolicies, *p) {
			errs = append(errs, field.NotSupported(fld.Child("unhealthyPodEvictionPolicy"), *p, unhealthyPodEvictionPolicies))
		}
		sortErrors(errs)
		return errs
	}
	k.Columns = []metav1.TableColumnDefinition{
		colName,
		col("Min Available", "string", "An eviction is allowed if at least \"minAvailable\" pods selected by \"selector\" will still be available after the eviction.", false),
		col("Max Unavailable", "string", "An eviction is allowed if at most \"maxUnavailable\" pods selected by \"selector\" are unavailable after the eviction.", false),
		col("Allowed Disruptions", "integer", "Number of pod disruptions that are currently allowed.", false),
		colAge,
	}
	k.Cells = func(o runtime.Object) []interface{} {
		p := o.(*policyv1.PodDisruptionBudget)
		na := func(v *intstr.IntOrString) string {
			if v == nil {
				return "N/A"
			}
			return v.String()
		}
		return []interface{}{p.Name, na(p.Spec.MinAvailable), na(p.Spec.MaxUnavailable), int64(p.Status.DisruptionsAllowed), age(p.CreationTimestamp)}
	}
	return k
}

// System priority classes and the highest user-definable priority.
const (
	systemPriorityPrefix  = "system-"
	highestUserPriority   = 1000000000
	systemClusterCritical = 2000000000
	systemNodeCritical    = systemClusterCritical + 1000
)

var preemptionPolicies = []corev1.PreemptionPolicy{corev1.PreemptNever, corev1.PreemptLowerPriority}

func priorityClassKind() *Kind {
	k := base(schedulingGV, "PriorityClass", "priorityclasses", "priorityclass", false, obj[schedulingv1.PriorityClass](), obj[schedulingv1.PriorityClassList]())
	k.ShortNames = []string{"pc"}
	k.Default = func(o runtime.Object) {
		setDefault(&o.(*schedulingv1.PriorityClass).PreemptionPolicy, corev1.PreemptLowerPriority)
	}
	k.Validate = func(o runtime.Object) field.ErrorList { return validatePriorityClass(o.(*schedulingv1.PriorityClass)) }
	k.ValidateUpdate = func(o, old runtime.Object) field.ErrorList {
		pc, p := o.(*schedulingv1.PriorityClass), old.(*schedulingv1.PriorityClass)
		var errs field.ErrorList
		if pc.Value != p.Value {
			errs = append(errs, field.Forbidden(field.NewPath("value"), "may not be changed in an update."))
		}
		return append(errs, immutable(pc.PreemptionPolicy, p.PreemptionPolicy, field.NewPath("preemptionPolicy"))...)
	}
	k.Columns = []metav1.TableColumnDefinition{
		colName,
		col("Value", "integer", "value represents the integer value of this priority class.", false),
		col("Global-Default", "boolean", "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class.", false),
		colAge,
		col("PreemptionPolicy", "string", "preemptionPolicy is the Policy for preempting pods with lower priority.", false),
	}
	k.Cells = func(o runtime.Object) []interface{} {
		pc := o.(*schedulingv1.PriorityClass)
		policy := ""
		if pc.PreemptionPolicy != nil {
			policy = string(*pc.PreemptionPolicy)
		}
		return []interface{}{pc.Name, int64(pc.Value), pc.GlobalDefault, age(pc.CreationTimestamp), policy}
	}
	return k
}

func validatePriorityClass(pc *schedulingv1.PriorityClass) field.ErrorList {
	var errs field.ErrorList
	if strings.HasPrefix(pc.Name, systemPriorityPrefix) {
		if msg := systemPriorityClassError(pc); msg != "" {
			errs = append(errs, field.Forbidden(field.NewPath("metadata", "name"), "priority class names with '"+systemPriorityPrefix+"' prefix are reserved for system use only. error: "+msg))
		}
	} else if pc.Value > highestUserPriority {
		errs = append(errs, field.Forbidden(field.NewPath("value"), fmt.Sprintf("maximum allowed value of a user defined priority is %v", highestUserPriority)))
	}
	if p := pc.PreemptionPolicy; p != nil && !contains(preemptionPolicies, *p) {
		errs = append(errs, field.NotSupported(field.NewPath("preemptionPolicy"), *p, preemptionPolicies))
	}
	return errs
}

// systemPriorityClassError says why a "system-" class is not one of the
// two built-in ones, or "".
func systemPriorityClassError(pc *schedulingv1.PriorityClass) string {
	want, ok := map[string]int32{"system-cluster-critical": systemClusterCritical, "system-node-critical": systemNodeCritical}[pc.Name]
	switch {
	case !ok:
		return fmt.Sprintf("%v is not a known system priority class", pc.Name)
	case pc.Value != want:
		return fmt.Sprintf("value of %v PriorityClass must be %v", pc.Name, want)
	case pc.GlobalDefault:
		return fmt.Sprintf("globalDefault of %v PriorityClass must be false", pc.Name)
	}
	return ""
}

// Annotations marking the default StorageClass.
const (
	defaultClassAnnotation     = "storageclass.kubernetes.io/is-default-class"
	betaDefaultClassAnnotation = "storageclass.beta.kubernetes.io/is-default-class"
	maxProvisionerParameters   = 256 * (1 << 10)
)

var (
	classReclaimPolicies = []corev1.PersistentVolumeReclaimPolicy{corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRetain}
	bindingModes         = []storagev1.VolumeBindingMode{storagev1.VolumeBindingImmediate, storagev1.VolumeBindingWaitForFirstConsumer}
)

func storageClassKind() *Kind {
	k := base(storageGV, "StorageClass", "storageclasses", "storageclass", false, obj[storagev1.StorageClass](), obj[storagev1.StorageClassList]())
	k.ShortNames = []string{"sc"}
	k.Default = func(o runtime.Object) {
		sc := o.(*storagev1.StorageClass)
		setDefault(&sc.ReclaimPolicy, corev1.PersistentVolumeReclaimDelete)
		setDefault(&sc.VolumeBindingMode, storagev1.VolumeBindingImmediate)
	}
	k.Validate = func(o runtime.Object) field.ErrorList { return validateStorageClass(o.(*storagev1.StorageClass)) }
	k.ValidateUpdate = func(o, old runtime.Object) field.ErrorList {
		sc, p := o.(*storagev1.StorageClass), old.(*storagev1.StorageClass)
		var errs field.ErrorList
		if !reflect.DeepEqual(sc.Parameters, p.Parameters) {
			errs = append(errs, field.Forbidden(field.NewPath("parameters"), "updates to parameters are forbidden."))
		}
		if sc.Provisioner != p.Provisioner {
			errs = append(errs, field.Forbidden(field.NewPath("provisioner"), "updates to provisioner are forbidden."))
		}
		if !reflect.DeepEqual(sc.ReclaimPolicy, p.ReclaimPolicy) {
			errs = append(errs, field.Forbidden(field.NewPath("reclaimPolicy"), "updates to reclaimPolicy are forbidden."))
		}
		return append(errs, immutable(sc.VolumeBindingMode, p.VolumeBindingMode, field.NewPath("volumeBindingMode"))...)
	}
	k.Columns = []metav1.TableColumnDefinition{
		colName,
		col("Provisioner", "string", "provisioner indicates the type of the provisioner.", false),
		col("ReclaimPolicy", "string", "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class.", false),
		col("VolumeBindingMode", "string", "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.", false),
		col("AllowVolumeExpansion", "string", "allowVolumeExpansion shows whether the storage class allow volume expand.", false),
		colAge,
	}
	k.Cells = func(o runtime.Object) []interface{} {
		sc := o.(*storagev1.StorageClass)
		name := sc.Name
		if sc.Annotations[defaultClassAnnotation] == "true" || sc.Annotations[betaDefaultClassAnnotation] == "true" {
			name += " (default)"
		}
		reclaim, mode := string(corev1.PersistentVolumeReclaimDelete), string(storagev1.VolumeBindingImmediate)
		if sc.ReclaimPolicy != nil {
			reclaim = string(*sc.ReclaimPolicy)
		}
		if sc.VolumeBindingMode != nil {
			mode = string(*sc.VolumeBindingMode)
		}
		expand := sc.AllowVolumeExpansion != nil && *sc.AllowVolumeExpansion
		return []interface{}{name, sc.Provisioner, reclaim, mode, expand, age(sc.CreationTimestamp)}
	}
	return k
}

func validateStorageClass(sc *storagev1.StorageClass) field.ErrorList {
	var errs field.ErrorList
	pp := field.NewPath("provisioner")
	if sc.Provisioner == "" {
		errs = append(errs, field.Required(pp, ""))
	} else {
		for _, msg := range validation.IsQualifiedName(strings.ToLower(sc.Provisioner)) {
			errs = append(errs, field.Invalid(pp, sc.Provisioner, msg))
		}
	}
	size := 0
	for k, v := range sc.Parameters {
		if k == "" {
			errs = append(errs, field.Invalid(field.NewPath("parameters"), sc.Parameters, "key cannot be empty"))
		}
		size += len(k) + len(v)
	}
	if size > maxProvisionerParameters {
		errs = append(errs, field.TooLong(field.NewPath("parameters"), "", maxProvisionerParameters))
	}
	if p := sc.ReclaimPolicy; p != nil && !contains(classReclaimPolicies, *p) {
		errs = append(errs, field.NotSupported(field.NewPath("reclaimPolicy"), *p, classReclaimPolicies))
	}
	if m := sc.VolumeBindingMode; m == nil {
		errs = append(errs, field.Required(field.NewPath("volumeBindingMode"), ""))
	} else if !contains(bindingModes, *m) {
		errs = append(errs, field.NotSupported(field.NewPath("volumeBindingMode"), *m, bindingModes))
	}
	return errs
}
