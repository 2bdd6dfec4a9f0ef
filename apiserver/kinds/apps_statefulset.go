package kinds

// StatefulSets: defaults (OrderedReady, RollingUpdate partition 0,
// Retain/Retain claim retention, 1 replica, 10 revisions, claim templates
// in Filesystem mode, the template's defaults), validation (only
// replicas, template, updateStrategy, claim retention, minReadySeconds,
// ordinals and revisionHistoryLimit may change), the table and scale.

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func statefulSetKind() *Kind {
	k := base(appsGV, "StatefulSet", "statefulsets", "statefulset", true, obj[appsv1.StatefulSet](), obj[appsv1.StatefulSetList]())
	k.ShortNames, k.Categories, k.HasStatus = []string{"sts"}, []string{"all"}, true
	k.Default = func(o runtime.Object) { defaultStatefulSet(o.(*appsv1.StatefulSet)) }
	k.PrepareForCreate = func(o runtime.Object) { o.(*appsv1.StatefulSet).Status = appsv1.StatefulSetStatus{} }
	k.Validate = func(o runtime.Object) field.ErrorList { return validateStatefulSet(o.(*appsv1.StatefulSet)) }
	k.ValidateUpdate = func(o, old runtime.Object) field.ErrorList {
		return validateStatefulSetUpdate(o.(*appsv1.StatefulSet), old.(*appsv1.StatefulSet))
	}
	k.Columns = []metav1.TableColumnDefinition{
		colName,
		col("Ready", "string", "Number of the pod with ready state", false),
		colAge,
		colContainers, colImages,
	}
	k.Cells = func(o runtime.Object) []interface{} { return statefulSetCells(o.(*appsv1.StatefulSet), time.Now()) }
	k.Scale = workloadScale(
		func(s *appsv1.StatefulSet) **int32 { return &s.Spec.Replicas },
		func(s *appsv1.StatefulSet) int32 { return s.Status.Replicas },
		func(s *appsv1.StatefulSet) *metav1.LabelSelector { return s.Spec.Selector })
	return k
}

func defaultStatefulSet(ss *appsv1.StatefulSet) {
	s := &ss.Spec
	setDefaultString(&s.PodManagementPolicy, appsv1.OrderedReadyPodManagement)
	setDefaultString(&s.UpdateStrategy.Type, appsv1.RollingUpdateStatefulSetStrategyType)
	if s.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType {
		if s.UpdateStrategy.RollingUpdate == nil {
			s.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{}
		}
		setDefault(&s.UpdateStrategy.RollingUpdate.Partition, 0)
	}
	if s.PersistentVolumeClaimRetentionPolicy == nil {
		s.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{}
	}
	setDefaultString(&s.PersistentVolumeClaimRetentionPolicy.WhenDeleted, appsv1.RetainPersistentVolumeClaimRetentionPolicyType)
	setDefaultString(&s.PersistentVolumeClaimRetentionPolicy.WhenScaled, appsv1.RetainPersistentVolumeClaimRetentionPolicyType)
	setDefault(&s.Replicas, 1)
	setDefault(&s.RevisionHistoryLimit, 10)
	for i := range s.VolumeClaimTemplates {
		defaultPVCSpec(&s.VolumeClaimTemplates[i].Spec)
	}
	defaultPodTemplate(&s.Template)
}

var claimRetentionTypes = []appsv1.PersistentVolumeClaimRetentionPolicyType{appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType}

func validateStatefulSet(ss *appsv1.StatefulSet) field.ErrorList {
	s := &ss.Spec
	fld := field.NewPath("spec")
	var errs field.ErrorList
	switch s.PodManagementPolicy {
	case appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement:
	case "":
		errs = append(errs, field.Required(fld.Child("podManagementPolicy"), ""))
	default:
		errs = append(errs, field.Invalid(fld.Child("podManagementPolicy"), s.PodManagementPolicy, fmt.Sprintf("must be '%s' or '%s'", appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement)))
	}
	us := fld.Child("updateStrategy")
	switch s.UpdateStrategy.Type {
	case "":
		errs = append(errs, field.Required(us, ""))
	case appsv1.OnDeleteStatefulSetStrategyType:
		if s.UpdateStrategy.RollingUpdate != nil {
			errs = append(errs, field.Invalid(us.Child("rollingUpdate"), s.UpdateStrategy.RollingUpdate, fmt.Sprintf("only allowed for updateStrategy '%s'", appsv1.RollingUpdateStatefulSetStrategyType)))
		}
	case appsv1.RollingUpdateStatefulSetStrategyType:
		if ru := s.UpdateStrategy.RollingUpdate; ru != nil {
			if ru.Partition != nil {
				errs = append(errs, nonNegative(int64(*ru.Partition), us.Child("rollingUpdate", "partition"))...)
			}
			if ru.MaxUnavailable != nil {
				errs = append(errs, positiveIntOrPercent(*ru.MaxUnavailable, us.Child("rollingUpdate", "maxUnavailable"))...)
			}
		}
	default:
		errs = append(errs, field.Invalid(us, s.UpdateStrategy, fmt.Sprintf("must be '%s' or '%s'", appsv1.RollingUpdateStatefulSetStrategyType, appsv1.OnDeleteStatefulSetStrategyType)))
	}
	if p := s.PersistentVolumeClaimRetentionPolicy; p != nil {
		pp := fld.Child("persistentVolumeClaimRetentionPolicy")
		if !contains(claimRetentionTypes, p.WhenDeleted) {
			errs = append(errs, field.NotSupported(pp.Child("whenDeleted"), p.WhenDeleted, claimRetentionTypes))
		}
		if !contains(claimRetentionTypes, p.WhenScaled) {
			errs = append(errs, field.NotSupported(pp.Child("whenScaled"), p.WhenScaled, claimRetentionTypes))
		}
	}
	errs = append(errs, nonNegative(int64(replicasOrOne(s.Replicas)), fld.Child("replicas"))...)
	errs = append(errs, nonNegative(int64(s.MinReadySeconds), fld.Child("minReadySeconds"))...)
	if s.Ordinals != nil {
		errs = append(errs, nonNegative(int64(s.Ordinals.Start), fld.Child("ordinals", "start"))...)
	}
	if s.ServiceName != "" {
		errs = append(errs, dns1123Label(s.ServiceName, fld.Child("serviceName"))...)
	}
	errs = append(errs, validateWorkloadSelector(s.Selector, &s.Template, "statefulset", fld)...)
	tp := fld.Child("template")
	errs = append(errs, validatePodTemplate(&s.Template, tp)...)
	if s.Template.Spec.RestartPolicy != "" && s.Template.Spec.RestartPolicy != "Always" {
		errs = append(errs, field.NotSupported(tp.Child("spec", "restartPolicy"), s.Template.Spec.RestartPolicy, []string{"Always"}))
	}
	if s.Template.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Forbidden(tp.Child("spec", "activeDeadlineSeconds"), "activeDeadlineSeconds in StatefulSet is not Supported"))
	}
	return errs
}

func validateStatefulSetUpdate(ss, old *appsv1.StatefulSet) field.ErrorList {
	// Overlay the mutable fields: anything else that differs is forbidden.
	mut := ss.Spec.DeepCopy()
	mut.Replicas = old.Spec.Replicas
	mut.Template = old.Spec.Template
	mut.UpdateStrategy = old.Spec.UpdateStrategy
	mut.PersistentVolumeClaimRetentionPolicy = old.Spec.PersistentVolumeClaimRetentionPolicy
	mut.MinReadySeconds = old.Spec.MinReadySeconds
	mut.Ordinals = old.Spec.Ordinals
	mut.RevisionHistoryLimit = old.Spec.RevisionHistoryLimit
	if immutable(*mut, old.Spec, field.NewPath("spec")) != nil {
		return field.ErrorList{field.Forbidden(field.NewPath("spec"), "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")}
	}
	return nil
}

func statefulSetCells(ss *appsv1.StatefulSet, now time.Time) []interface{} {
	names, images := containersAndImages(&ss.Spec.Template.Spec)
	return []interface{}{
		ss.Name,
		fmt.Sprintf("%d/%d", ss.Status.ReadyReplicas, replicasOrOne(ss.Spec.Replicas)),
		ageAt(ss.CreationTimestamp, now),
		names, images,
	}
}
