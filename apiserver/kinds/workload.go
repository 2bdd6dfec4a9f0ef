package kinds

// Pieces shared by the kinds that own pods through a selector and a pod
// template: selector validation, the template rules of replicated
// workloads, the CONTAINERS/IMAGES cells, and the scale subresource.

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validateWorkloadSelector validates a required, non-empty selector and
// that the template's labels match it; kindName names the kind in the
// "empty selector is invalid for <kind>" message.
func validateWorkloadSelector(sel *metav1.LabelSelector, tmpl *corev1.PodTemplateSpec, kindName string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	selPath := fld.Child("selector")
	if sel == nil {
		// As upstream: a missing selector selects nothing, so the
		// template's labels are reported as not matching it too.
		errs = append(errs, field.Required(selPath, ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, selPath)...)
		if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
			errs = append(errs, field.Invalid(selPath, sel, "empty selector is invalid for "+kindName))
		}
	}
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return append(errs, field.Invalid(selPath, sel, "invalid label selector"))
	}
	if !selector.Empty() && !selector.Matches(labels.Set(tmpl.Labels)) {
		errs = append(errs, field.Invalid(fld.Child("template", "metadata", "labels"), tmpl.Labels, "`selector` does not match template `labels`"))
	}
	return errs
}

// validateReplicatedTemplate validates the pod template of a Deployment,
// ReplicaSet, DaemonSet or StatefulSet: a valid template whose
// restartPolicy is Always and which has no activeDeadlineSeconds.
func validateReplicatedTemplate(t *corev1.PodTemplateSpec, kindName string, fld *field.Path) field.ErrorList {
	errs := validatePodTemplate(t, fld)
	if t.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(fld.Child("spec", "restartPolicy"), t.Spec.RestartPolicy, []corev1.RestartPolicy{corev1.RestartPolicyAlways}))
	}
	if t.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Invalid(fld.Child("spec", "activeDeadlineSeconds"), t.Spec.ActiveDeadlineSeconds, "activeDeadlineSeconds in "+kindName+" is not Supported"))
	}
	return errs
}

// containersAndImages returns the CONTAINERS and IMAGES cells of a
// template: names and images joined by commas.
func containersAndImages(s *corev1.PodSpec) (string, string) {
	names := make([]string, 0, len(s.Containers))
	images := make([]string, 0, len(s.Containers))
	for _, c := range s.Containers {
		names = append(names, c.Name)
		images = append(images, c.Image)
	}
	return strings.Join(names, ","), strings.Join(images, ",")
}

// Column definitions of the -o wide columns of workloads.
var (
	colContainers = col("Containers", "string", "Names of each container in the template.", true)
	colImages     = col("Images", "string", "Images referenced by each container in the template.", true)
	colSelector   = col("Selector", "string", "Label selector for pods. Existing pods selected by this will be the ones affected by this object.", true)
)

// replicasOrOne reads an optional replica count (nil means 1).
func replicasOrOne(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// workloadScale builds the Scale of a kind from accessors of its replica
// pointer, status replicas and selector.
func workloadScale[T runtime.Object](replicas func(T) **int32, status func(T) int32, sel func(T) *metav1.LabelSelector) *Scale {
	return &Scale{
		SpecReplicas:    func(o runtime.Object) int32 { return replicasOrOne(*replicas(o.(T))) },
		SetSpecReplicas: func(o runtime.Object, n int32) { *replicas(o.(T)) = ptr(n) },
		StatusReplicas:  func(o runtime.Object) int32 { return status(o.(T)) },
		Selector: func(o runtime.Object) string {
			s, err := metav1.LabelSelectorAsSelector(sel(o.(T)))
			if err != nil {
				return ""
			}
			return s.String()
		},
	}
}
