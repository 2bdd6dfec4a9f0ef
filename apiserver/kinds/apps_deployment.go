package kinds

// Deployments: apps/v1 defaults (RollingUpdate 25%/25%, 10 revisions,
// 600s progress deadline, 1 replica, the pod template's defaults),
// validation, the table and the scale subresource.

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func deploymentKind() *Kind {
	k := base(appsGV, "Deployment", "deployments", "deployment", true, obj[appsv1.Deployment](), obj[appsv1.DeploymentList]())
	k.ShortNames, k.Categories, k.HasStatus = []string{"deploy"}, []string{"all"}, true
	k.Default = func(o runtime.Object) { defaultDeployment(o.(*appsv1.Deployment)) }
	k.PrepareForCreate = func(o runtime.Object) { o.(*appsv1.Deployment).Status = appsv1.DeploymentStatus{} }
	k.Validate = func(o runtime.Object) field.ErrorList { return validateDeployment(o.(*appsv1.Deployment)) }
	k.ValidateUpdate = func(o, old runtime.Object) field.ErrorList {
		return immutable(o.(*appsv1.Deployment).Spec.Selector, old.(*appsv1.Deployment).Spec.Selector, field.NewPath("spec", "selector"))
	}
	k.Columns = deploymentColumns
	k.Cells = func(o runtime.Object) []interface{} { return deploymentCells(o.(*appsv1.Deployment), time.Now()) }
	k.Scale = workloadScale(
		func(d *appsv1.Deployment) **int32 { return &d.Spec.Replicas },
		func(d *appsv1.Deployment) int32 { return d.Status.Replicas },
		func(d *appsv1.Deployment) *metav1.LabelSelector { return d.Spec.Selector })
	return k
}

func defaultDeployment(d *appsv1.Deployment) {
	s := &d.Spec
	setDefault(&s.Replicas, 1)
	setDefaultString(&s.Strategy.Type, appsv1.RollingUpdateDeploymentStrategyType)
	if s.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType {
		if s.Strategy.RollingUpdate == nil {
			s.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{}
		}
		setDefault(&s.Strategy.RollingUpdate.MaxUnavailable, intstr.FromString("25%"))
		setDefault(&s.Strategy.RollingUpdate.MaxSurge, intstr.FromString("25%"))
	}
	setDefault(&s.RevisionHistoryLimit, 10)
	setDefault(&s.ProgressDeadlineSeconds, 600)
	defaultPodTemplate(&s.Template)
}

func validateDeployment(d *appsv1.Deployment) field.ErrorList {
	s := &d.Spec
	fld := field.NewPath("spec")
	errs := nonNegative(int64(replicasOrOne(s.Replicas)), fld.Child("replicas"))
	errs = append(errs, validateWorkloadSelector(s.Selector, &s.Template, "deployment", fld)...)
	errs = append(errs, validateReplicatedTemplate(&s.Template, "Deployment", fld.Child("template"))...)
	errs = append(errs, validateDeploymentStrategy(&s.Strategy, fld.Child("strategy"))...)
	errs = append(errs, nonNegative(int64(s.MinReadySeconds), fld.Child("minReadySeconds"))...)
	if s.RevisionHistoryLimit != nil {
		errs = append(errs, nonNegative(int64(*s.RevisionHistoryLimit), fld.Child("revisionHistoryLimit"))...)
	}
	if p := s.ProgressDeadlineSeconds; p != nil {
		errs = append(errs, nonNegative(int64(*p), fld.Child("progressDeadlineSeconds"))...)
		if *p <= s.MinReadySeconds {
			errs = append(errs, field.Invalid(fld.Child("progressDeadlineSeconds"), *p, "must be greater than minReadySeconds"))
		}
	}
	return errs
}

func validateDeploymentStrategy(st *appsv1.DeploymentStrategy, fld *field.Path) field.ErrorList {
	switch st.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if st.RollingUpdate != nil {
			return field.ErrorList{field.Forbidden(fld.Child("rollingUpdate"), fmt.Sprintf("may not be specified when strategy `type` is '%s'", appsv1.RecreateDeploymentStrategyType))}
		}
	case appsv1.RollingUpdateDeploymentStrategyType:
		ru := st.RollingUpdate
		if ru == nil {
			return field.ErrorList{field.Required(fld.Child("rollingUpdate"), "this should be defaulted and never be nil")}
		}
		p := fld.Child("rollingUpdate")
		var errs field.ErrorList
		if ru.MaxUnavailable != nil {
			errs = append(errs, positiveIntOrPercent(*ru.MaxUnavailable, p.Child("maxUnavailable"))...)
		}
		if ru.MaxSurge != nil {
			errs = append(errs, positiveIntOrPercent(*ru.MaxSurge, p.Child("maxSurge"))...)
		}
		if intOrPercentValue(ru.MaxUnavailable) == 0 && intOrPercentValue(ru.MaxSurge) == 0 {
			errs = append(errs, field.Invalid(p.Child("maxUnavailable"), ru.MaxUnavailable, "may not be 0 when `maxSurge` is 0"))
		}
		return append(errs, notMoreThan100Percent(ru.MaxUnavailable, p.Child("maxUnavailable"))...)
	default:
		return field.ErrorList{field.NotSupported(fld, st, []string{string(appsv1.RecreateDeploymentStrategyType), string(appsv1.RollingUpdateDeploymentStrategyType)})}
	}
	return nil
}

var deploymentColumns = []metav1.TableColumnDefinition{
	colName,
	col("Ready", "string", "Number of the pod with ready state", false),
	col("Up-to-date", "string", "Total number of non-terminated pods targeted by this deployment that have the desired template spec.", false),
	col("Available", "string", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.", false),
	colAge,
	colContainers, colImages, colSelector,
}

func deploymentCells(d *appsv1.Deployment, now time.Time) []interface{} {
	names, images := containersAndImages(&d.Spec.Template.Spec)
	return []interface{}{
		d.Name,
		fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, replicasOrOne(d.Spec.Replicas)),
		int64(d.Status.UpdatedReplicas),
		int64(d.Status.AvailableReplicas),
		ageAt(d.CreationTimestamp, now),
		names, images, selectorString(d.Spec.Selector),
	}
}
