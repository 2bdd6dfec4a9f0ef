package kinds

// HorizontalPodAutoscalers (autoscaling/v2): defaults (minReplicas 1,
// 80% CPU when no metric is given, the scaling behavior's defaults when
// a behavior is given), validation and the table.

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Scaling behavior bounds and defaults.
const (
	defaultCPUUtilization      int32 = 80
	scaleDownStabilization     int32 = 300
	maxStabilizationWindow     int32 = 3600
	maxScalingPolicyPeriod     int32 = 1800
	defaultScalingPolicyPeriod int32 = 15
)

func hpaKind() *Kind {
	k := base(autoscalingGV, "HorizontalPodAutoscaler", "horizontalpodautoscalers", "horizontalpodautoscaler", true, obj[autoscalingv2.HorizontalPodAutoscaler](), obj[autoscalingv2.HorizontalPodAutoscalerList]())
	k.ShortNames, k.Categories, k.HasStatus = []string{"hpa"}, []string{"all"}, true
	k.Default = func(o runtime.Object) { defaultHPA(o.(*autoscalingv2.HorizontalPodAutoscaler)) }
	k.PrepareForCreate = func(o runtime.Object) {
		o.(*autoscalingv2.HorizontalPodAutoscaler).Status = autoscalingv2.HorizontalPodAutoscalerStatus{}
	}
	k.Validate = func(o runtime.Object) field.ErrorList { return validateHPA(o.(*autoscalingv2.HorizontalPodAutoscaler)) }
	k.Columns = []metav1.TableColumnDefinition{
		colName,
		col("Reference", "string", "reference to scaled resource; horizontal pod autoscaler will learn the current resource consumption and will set the desired number of pods by using its Scale subresource.", false),
		col("Targets", "string", "metrics contains the specifications for which to use to calculate the desired replica count.", false),
		col("MinPods", "string", "minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down.", false),
		col("MaxPods", "string", "maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up.", false),
		col("Replicas", "string", "currentReplicas is current number of replicas of pods managed by this autoscaler.", false),
		colAge,
	}
	k.Cells = func(o runtime.Object) []interface{} {
		return hpaCells(o.(*autoscalingv2.HorizontalPodAutoscaler), time.Now())
	}
	return k
}

func defaultHPA(h *autoscalingv2.HorizontalPodAutoscaler) {
	s := &h.Spec
	setDefault(&s.MinReplicas, 1)
	if len(s.Metrics) == 0 {
		s.Metrics = []autoscalingv2.MetricSpec{{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricSource{
				Name:   corev1.ResourceCPU,
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr(defaultCPUUtilization)},
			},
		}}
	}
	if b := s.Behavior; b != nil {
		b.ScaleUp = mergeScalingRules(b.ScaleUp, autoscalingv2.HPAScalingRules{
			StabilizationWindowSeconds: ptr[int32](0),
			SelectPolicy:               ptr(autoscalingv2.MaxChangePolicySelect),
			Policies: []autoscalingv2.HPAScalingPolicy{
				{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: defaultScalingPolicyPeriod},
				{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: defaultScalingPolicyPeriod},
			},
		})
		b.ScaleDown = mergeScalingRules(b.ScaleDown, autoscalingv2.HPAScalingRules{
			StabilizationWindowSeconds: ptr(scaleDownStabilization),
			SelectPolicy:               ptr(autoscalingv2.MaxChangePolicySelect),
			Policies: []autoscalingv2.HPAScalingPolicy{
				{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: defaultScalingPolicyPeriod},
			},
		})
	}
}

// mergeScalingRules returns def with the fields set in r.
func mergeScalingRules(r *autoscalingv2.HPAScalingRules, def autoscalingv2.HPAScalingRules) *autoscalingv2.HPAScalingRules {
	if r == nil {
		return &def
	}
	if r.SelectPolicy != nil {
		def.SelectPolicy = r.SelectPolicy
	}
	if r.StabilizationWindowSeconds != nil {
		def.StabilizationWindowSeconds = r.StabilizationWindowSeconds
	}
	if r.Policies != nil {
		def.Policies = r.Policies
	}
	if r.Tolerance != nil {
		def.Tolerance = r.Tolerance
	}
	return &def
}

var (
	metricSourceTypes = []autoscalingv2.MetricSourceType{autoscalingv2.ContainerResourceMetricSourceType, autoscalingv2.ExternalMetricSourceType, autoscalingv2.ObjectMetricSourceType, autoscalingv2.PodsMetricSourceType, autoscalingv2.ResourceMetricSourceType}
	selectPolicies    = []autoscalingv2.ScalingPolicySelect{autoscalingv2.DisabledPolicySelect, autoscalingv2.MaxChangePolicySelect, autoscalingv2.MinChangePolicySelect}
	scalingPolicies   = []autoscalingv2.HPAScalingPolicyType{autoscalingv2.PercentScalingPolicy, autoscalingv2.PodsScalingPolicy}
)

func validateHPA(h *autoscalingv2.HorizontalPodAutoscaler) field.ErrorList {
	s := &h.Spec
	fld := field.NewPath("spec")
	var errs field.ErrorList
	ref := fld.Child("scaleTargetRef")
	if s.ScaleTargetRef.Kind == "" {
		errs = append(errs, field.Required(ref.Child("kind"), ""))
	}
	if s.ScaleTargetRef.Name == "" {
		errs = append(errs, field.Required(ref.Child("name"), ""))
	} else {
		for _, msg := range nameIsPathSegment(s.ScaleTargetRef.Name, false) {
			errs = append(errs, field.Invalid(ref.Child("name"), s.ScaleTargetRef.Name, msg))
		}
	}
	if s.MinReplicas != nil && *s.MinReplicas < 1 {
		errs = append(errs, field.Invalid(fld.Child("minReplicas"), *s.MinReplicas, "must be greater than or equal to 1"))
	}
	if s.MaxReplicas < 1 {
		errs = append(errs, field.Invalid(fld.Child("maxReplicas"), s.MaxReplicas, "must be greater than 0"))
	}
	if s.MinReplicas != nil && s.MaxReplicas < *s.MinReplicas {
		errs = append(errs, field.Invalid(fld.Child("maxReplicas"), s.MaxReplicas, "must be greater than or equal to `minReplicas`"))
	}
	for i, m := range s.Metrics {
		p := fld.Child("metrics").Index(i)
		if m.Type == "" {
			errs = append(errs, field.Required(p.Child("type"), "must specify a metric source type"))
			continue
		}
		if !contains(metricSourceTypes, m.Type) {
			errs = append(errs, field.NotSupported(p.Child("type"), m.Type, metricSourceTypes))
			continue
		}
		if m.Type == autoscalingv2.ResourceMetricSourceType {
			if m.Resource == nil {
				errs = append(errs, field.Required(p.Child("resource"), "must populate information for the given metric source"))
				continue
			}
			if m.Resource.Name == "" {
				errs = append(errs, field.Required(p.Child("resource", "name"), "must specify a resource name"))
			}
			errs = append(errs, validateMetricTarget(m.Resource.Target, p.Child("resource", "target"))...)
		}
	}
	if b := s.Behavior; b != nil {
		errs = append(errs, validateScalingRules(b.ScaleUp, fld.Child("behavior", "scaleUp"))...)
		errs = append(errs, validateScalingRules(b.ScaleDown, fld.Child("behavior", "scaleDown"))...)
	}
	return errs
}

func validateMetricTarget(t autoscalingv2.MetricTarget, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	types := []autoscalingv2.MetricTargetType{autoscalingv2.AverageValueMetricType, autoscalingv2.UtilizationMetricType, autoscalingv2.ValueMetricType}
	if t.Type == "" {
		errs = append(errs, field.Required(p.Child("type"), "must specify a metric target type"))
	} else if !contains(types, t.Type) {
		errs = append(errs, field.NotSupported(p.Child("type"), t.Type, types))
	}
	if t.AverageUtilization != nil && *t.AverageUtilization < 1 {
		errs = append(errs, field.Invalid(p.Child("averageUtilization"), *t.AverageUtilization, "must be greater than 0"))
	}
	if t.Value != nil && t.Value.Sign() <= 0 {
		errs = append(errs, field.Invalid(p.Child("value"), t.Value, "must be positive"))
	}
	if t.AverageValue != nil && t.AverageValue.Sign() <= 0 {
		errs = append(errs, field.Invalid(p.Child("averageValue"), t.AverageValue, "must be positive"))
	}
	return errs
}

func validateScalingRules(r *autoscalingv2.HPAScalingRules, p *field.Path) field.ErrorList {
	if r == nil {
		return nil
	}
	var errs field.ErrorList
	if w := r.StabilizationWindowSeconds; w != nil {
		if *w < 0 {
			errs = append(errs, field.Invalid(p.Child("stabilizationWindowSeconds"), *w, "must be greater than or equal to zero"))
		} else if *w > maxStabilizationWindow {
			errs = append(errs, field.Invalid(p.Child("stabilizationWindowSeconds"), *w, fmt.Sprintf("must be less than or equal to %v", maxStabilizationWindow)))
		}
	}
	if r.SelectPolicy != nil && !contains(selectPolicies, *r.SelectPolicy) {
		errs = append(errs, field.NotSupported(p.Child("selectPolicy"), *r.SelectPolicy, selectPolicies))
	}
	if len(r.Policies) == 0 && (r.SelectPolicy == nil || *r.SelectPolicy != autoscalingv2.DisabledPolicySelect) {
		errs = append(errs, field.Required(p.Child("policies"), "must specify at least one Policy"))
	}
	for i, pol := range r.Policies {
		pp := p.Child("policies").Index(i)
		if !contains(scalingPolicies, pol.Type) {
			errs = append(errs, field.NotSupported(pp.Child("type"), pol.Type, scalingPolicies))
		}
		if pol.Value <= 0 {
			errs = append(errs, field.Invalid(pp.Child("value"), pol.Value, "must be greater than zero"))
		}
		if pol.PeriodSeconds <= 0 {
			errs = append(errs, field.Invalid(pp.Child("periodSeconds"), pol.PeriodSeconds, "must be greater than zero"))
		} else if pol.PeriodSeconds > maxScalingPolicyPeriod {
			errs = append(errs, field.Invalid(pp.Child("periodSeconds"), pol.PeriodSeconds, fmt.Sprintf("must be less than or equal to %v", maxScalingPolicyPeriod)))
		}
	}
	return errs
}

func hpaCells(h *autoscalingv2.HorizontalPodAutoscaler, now time.Time) []interface{} {
	minPods := "<unset>"
	if h.Spec.MinReplicas != nil {
		minPods = strconv.Itoa(int(*h.Spec.MinReplicas))
	}
	ref := h.Spec.ScaleTargetRef.Kind + "/" + h.Spec.ScaleTargetRef.Name
	return []interface{}{
		h.Name, ref, hpaTargets(h.Spec.Metrics, h.Status.CurrentMetrics), minPods,
		int64(h.Spec.MaxReplicas), int64(h.Status.CurrentReplicas), ageAt(h.CreationTimestamp, now),
	}
}

// hpaTargets is the TARGETS cell: "cpu: 40%/80%", at most two metrics
// then " + N more...".
func hpaTargets(specs []autoscalingv2.MetricSpec, statuses []autoscalingv2.MetricStatus) string {
	if len(specs) == 0 {
		return "<none>"
	}
	const max = 2
	var list []string
	for i, s := range specs {
		var st *autoscalingv2.MetricStatus
		if i < len(statuses) {
			st = &statuses[i]
		}
		current := "<unknown>"
		switch s.Type {
		case autoscalingv2.ResourceMetricSourceType, autoscalingv2.ContainerResourceMetricSourceType:
			var name corev1.ResourceName
			var target autoscalingv2.MetricTarget
			var cur *autoscalingv2.MetricValueStatus
			if s.Resource != nil {
				name, target = s.Resource.Name, s.Resource.Target
				if st != nil && st.Resource != nil {
					cur = &st.Resource.Current
				}
			} else if s.ContainerResource != nil {
				name, target = s.ContainerResource.Name, s.ContainerResource.Target
				if st != nil && st.ContainerResource != nil {
					cur = &st.ContainerResource.Current
				}
			}
			if target.AverageValue != nil {
				if cur != nil && cur.AverageValue != nil {
					current = cur.AverageValue.String()
				}
				list = append(list, fmt.Sprintf("%s: %s/%s", name, current, target.AverageValue.String()))
				continue
			}
			if cur != nil && cur.AverageUtilization != nil {
				current = fmt.Sprintf("%d%%", *cur.AverageUtilization)
			}
			want := "<auto>"
			if target.AverageUtilization != nil {
				want = fmt.Sprintf("%d%%", *target.AverageUtilization)
			}
			list = append(list, fmt.Sprintf("%s: %s/%s", name, current, want))
		case autoscalingv2.PodsMetricSourceType:
			if st != nil && st.Pods != nil && st.Pods.Current.AverageValue != nil {
				current = st.Pods.Current.AverageValue.String()
			}
			want := "<unset>"
			if s.Pods != nil && s.Pods.Target.AverageValue != nil {
				want = s.Pods.Target.AverageValue.String()
			}
			list = append(list, current+"/"+want)
		case autoscalingv2.ObjectMetricSourceType, autoscalingv2.ExternalMetricSourceType:
			list = append(list, current+"/<target>")
		default:
			list = append(list, "<unknown type>")
		}
	}
	if len(list) > max {
		return fmt.Sprintf("%s + %d more...", strings.Join(list[:max], ", "), len(list)-max)
	}
	return strings.Join(list, ", ")
}
