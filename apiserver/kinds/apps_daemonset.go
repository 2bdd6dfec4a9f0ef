package kinds

// DaemonSets: defaults (RollingUpdate with maxUnavailable 1 and maxSurge
// 0, 10 revisions, the template's defaults), the template generation
// annotation, validation and the table.

import (
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func daemonSetKind() *Kind {
	k := base(appsGV, "DaemonSet", "daemonsets", "daemonset", true, obj[appsv1.DaemonSet](), obj[appsv1.DaemonSetList]())
	k.ShortNames, k.Categories, k.HasStatus = []string{"ds"}, []string{"all"}, true
	k.Default = func(o runtime.Object) { defaultDaemonSet(o.(*appsv1.DaemonSet)) }
	k.PrepareForCreate = func(o runtime.Object) {
		ds := o.(*appsv1.DaemonSet)
		ds.Status = appsv1.DaemonSetStatus{}
		setTemplateGeneration(ds, 1)
	}
	k.PrepareForUpdate = func(o, old runtime.Object) {
		ds, prev := o.(*appsv1.DaemonSet), old.(*appsv1.DaemonSet)
		gen, _ := strconv.ParseInt(prev.Annotations[annotationTemplateGeneration], 10, 64)
		if gen < 1 {
			gen = 1
		}
		if !apiequality.Semantic.DeepEqual(ds.Spec.Template, prev.Spec.Template) {
			gen++
		}
		setTemplateGeneration(ds, gen)
	}
	k.Validate = func(o runtime.Object) field.ErrorList { return validateDaemonSet(o.(*appsv1.DaemonSet)) }
	k.ValidateUpdate = func(o, old runtime.Object) field.ErrorList {
		return immutable(o.(*appsv1.DaemonSet).Spec.Selector, old.(*appsv1.DaemonSet).Spec.Selector, field.NewPath("spec", "selector"))
	}
	k.Columns = daemonSetColumns
	k.Cells = func(o runtime.Object) []interface{} { return daemonSetCells(o.(*appsv1.DaemonSet), time.Now()) }
	return k
}

// annotationTemplateGeneration counts a DaemonSet's template changes,
// starting at 1, as kube-apiserver keeps it.
const annotationTemplateGeneration = "deprecated.daemonset.template.generation"

func setTemplateGeneration(ds *appsv1.DaemonSet, gen int64) {
	if ds.Annotations == nil {
		ds.Annotations = map[string]string{}
	}
	ds.Annotations[annotationTemplateGeneration] = strconv.FormatInt(gen, 10)
}

func defaultDaemonSet(ds *appsv1.DaemonSet) {
	s := &ds.Spec
	setDefaultString(&s.UpdateStrategy.Type, appsv1.RollingUpdateDaemonSetStrategyType)
	if s.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		if s.UpdateStrategy.RollingUpdate == nil {
			s.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{}
		}
		setDefault(&s.UpdateStrategy.RollingUpdate.MaxUnavailable, intstr.FromInt32(1))
		setDefault(&s.UpdateStrategy.RollingUpdate.MaxSurge, intstr.FromInt32(0))
	}
	setDefault(&s.RevisionHistoryLimit, 10)
	defaultPodTemplate(&s.Template)
}

func validateDaemonSet(ds *appsv1.DaemonSet) field.ErrorList {
	s := &ds.Spec
	fld := field.NewPath("spec")
	errs := validateWorkloadSelector(s.Selector, &s.Template, "daemonset", fld)
	errs = append(errs, validateReplicatedTemplate(&s.Template, "DaemonSet", fld.Child("template"))...)
	errs = append(errs, nonNegative(int64(s.MinReadySeconds), fld.Child("minReadySeconds"))...)
	if s.RevisionHistoryLimit != nil {
		errs = append(errs, nonNegative(int64(*s.RevisionHistoryLimit), fld.Child("revisionHistoryLimit"))...)
	}
	us := fld.Child("updateStrategy")
	switch s.UpdateStrategy.Type {
	case appsv1.OnDeleteDaemonSetStrategyType:
	case appsv1.RollingUpdateDaemonSetStrategyType:
		ru := s.UpdateStrategy.RollingUpdate
		if ru == nil {
			return append(errs, field.Required(us.Child("rollingUpdate"), ""))
		}
		p := us.Child("rollingUpdate")
		if ru.MaxUnavailable != nil {
			errs = append(errs, positiveIntOrPercent(*ru.MaxUnavailable, p.Child("maxUnavailable"))...)
		}
		if ru.MaxSurge != nil {
			errs = append(errs, positiveIntOrPercent(*ru.MaxSurge, p.Child("maxSurge"))...)
		}
		errs = append(errs, notMoreThan100Percent(ru.MaxUnavailable, p.Child("maxUnavailable"))...)
		errs = append(errs, notMoreThan100Percent(ru.MaxSurge, p.Child("maxSurge"))...)
		hasUnavailable, hasSurge := intOrPercentValue(ru.MaxUnavailable) != 0, intOrPercentValue(ru.MaxSurge) != 0
		switch {
		case hasUnavailable && hasSurge:
			errs = append(errs, field.Invalid(p.Child("maxSurge"), ru.MaxSurge, "may not be set when maxUnavailable is non-zero"))
		case !hasUnavailable && !hasSurge:
			errs = append(errs, field.Required(p.Child("maxUnavailable"), "cannot be 0 when maxSurge is 0"))
		}
	default:
		errs = append(errs, field.NotSupported(us, s.UpdateStrategy, []string{string(appsv1.RollingUpdateDaemonSetStrategyType), string(appsv1.OnDeleteDaemonSetStrategyType)}))
	}
	return errs
}

var daemonSetColumns = []metav1.TableColumnDefinition{
	colName,
	col("Desired", "integer", "The total number of nodes that should be running the daemon pod.", false),
	col("Current", "integer", "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.", false),
	col("Ready", "integer", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.", false),
	col("Up-to-date", "integer", "The total number of nodes that are running updated daemon pod", false),
	col("Available", "integer", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available.", false),
	col("Node Selector", "string", "NodeSelector is a selector which must be true for the pod to fit on a node.", false),
	colAge,
	colContainers, colImages, colSelector,
}

func daemonSetCells(ds *appsv1.DaemonSet, now time.Time) []interface{} {
	names, images := containersAndImages(&ds.Spec.Template.Spec)
	st := ds.Status
	return []interface{}{
		ds.Name,
		int64(st.DesiredNumberScheduled), int64(st.CurrentNumberScheduled), int64(st.NumberReady),
		int64(st.UpdatedNumberScheduled), int64(st.NumberAvailable),
		formatLabels(ds.Spec.Template.Spec.NodeSelector),
		ageAt(ds.CreationTimestamp, now),
		names, images, selectorString(ds.Spec.Selector),
	}
}
