package kinds

// ResourceQuotas and LimitRanges.

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var quotaScopes = []corev1.ResourceQuotaScope{
	corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeCrossNamespacePodAffinity, corev1.ResourceQuotaScopeNotBestEffort,
	corev1.ResourceQuotaScopeNotTerminating, corev1.ResourceQuotaScopePriorityClass, corev1.ResourceQuotaScopeTerminating,
	corev1.ResourceQuotaScopeVolumeAttributesClass,
}

func resourceQuotaKind() *Kind {
	k := base(coreGV, "ResourceQuota", "resourcequotas", "resourcequota", true, obj[corev1.ResourceQuota](), obj[corev1.ResourceQuotaList]())
	k.ShortNames, k.HasStatus = []string{"quota"}, true
	k.PrepareForCreate = func(o runtime.Object) { o.(*corev1.ResourceQuota).Status = corev1.ResourceQuotaStatus{} }
	k.Validate = func(o runtime.Object) field.ErrorList {
		rq := o.(*corev1.ResourceQuota)
		fld := field.NewPath("spec")
		errs := validateNonNegativeList(rq.Spec.Hard, fld.Child("hard"))
		for i, s := range rq.Spec.Scopes {
			if !contains(quotaScopes, s) {
				errs = append(errs, field.NotSupported(fld.Child("scopes").Index(i), s, quotaScopes))
			}
		}
		return errs
	}
	k.Columns = []metav1.TableColumnDefinition{
		colName,
		col("Request", "string", "Request represents a minimum amount of cpu/memory that a container may consume.", false),
		col("Limit", "string", "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.", false),
		colAge,
	}
	k.Cells = func(o runtime.Object) []interface{} {
		rq := o.(*corev1.ResourceQuota)
		var requests, limits []string
		names := make([]string, 0, len(rq.Status.Hard))
		for n := range rq.Status.Hard {
			names = append(names, string(n))
		}
		sort.Strings(names)
		for _, n := range names {
			used, hard := rq.Status.Used[corev1.ResourceName(n)], rq.Status.Hard[corev1.ResourceName(n)]
			s := fmt.Sprintf("%s: %s/%s", n, used.String(), hard.String())
			if strings.HasPrefix(n, "limits.") {
				limits = append(limits, s)
			} else {
				requests = append(requests, s)
			}
		}
		return []interface{}{rq.Name, strings.Join(requests, ", "), strings.Join(limits, ", "), age(rq.CreationTimestamp)}
	}
	return k
}

// validateNonNegativeList rejects negative quantities, keyed by name.
func validateNonNegativeList(l corev1.ResourceList, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, n := range sortedKeys(asStringMap(l)) {
		if q := l[corev1.ResourceName(n)]; q.Sign() < 0 {
			errs = append(errs, field.Invalid(fld.Key(n), q.String(), "must be greater than or equal to 0"))
		}
	}
	return errs
}

var limitTypes = []corev1.LimitType{corev1.LimitTypeContainer, corev1.LimitTypePersistentVolumeClaim, corev1.LimitTypePod}

func limitRangeKind() *Kind {
	k := base(coreGV, "LimitRange", "limitranges", "limitrange", true, obj[corev1.LimitRange](), obj[corev1.LimitRangeList]())
	k.ShortNames = []string{"limits"}
	k.Default = func(o runtime.Object) {
		lr := o.(*corev1.LimitRange)
		for i := range lr.Spec.Limits {
			defaultLimitRangeItem(&lr.Spec.Limits[i])
		}
	}
	k.Validate = func(o runtime.Object) field.ErrorList { return validateLimitRange(o.(*corev1.LimitRange)) }
	k.Columns = []metav1.TableColumnDefinition{
		colName,
		col("Created At", "date", "CreationTimestamp is a timestamp representing the server time when this object was created.", false),
	}
	k.Cells = func(o runtime.Object) []interface{} {
		lr := o.(*corev1.LimitRange)
		return []interface{}{lr.Name, createdAt(lr.CreationTimestamp)}
	}
	return k
}

// defaultLimitRangeItem: for containers, an unset default limit is the
// max, an unset default request is the default limit, else the min.
func defaultLimitRangeItem(it *corev1.LimitRangeItem) {
	if it.Type != corev1.LimitTypeContainer {
		return
	}
	if it.Default == nil {
		it.Default = corev1.ResourceList{}
	}
	if it.DefaultRequest == nil {
		it.DefaultRequest = corev1.ResourceList{}
	}
	for n, q := range it.Max {
		if _, ok := it.Default[n]; !ok {
			it.Default[n] = q.DeepCopy()
		}
	}
	for n, q := range it.Default {
		if _, ok := it.DefaultRequest[n]; !ok {
			it.DefaultRequest[n] = q.DeepCopy()
		}
	}
	for n, q := range it.Min {
		if _, ok := it.DefaultRequest[n]; !ok {
			it.DefaultRequest[n] = q.DeepCopy()
		}
	}
}

func validateLimitRange(lr *corev1.LimitRange) field.ErrorList {
	var errs field.ErrorList
	for i, it := range lr.Spec.Limits {
		p := field.NewPath("spec", "limits").Index(i)
		if !contains(limitTypes, it.Type) {
			errs = append(errs, field.NotSupported(p.Child("type"), it.Type, limitTypes))
		}
		for name, l := range map[string]corev1.ResourceList{"min": it.Min, "max": it.Max, "default": it.Default, "defaultRequest": it.DefaultRequest} {
			errs = append(errs, validateNonNegativeList(l, p.Child(name))...)
		}
		if it.Type == corev1.LimitTypePod && (len(it.Default) > 0 || len(it.DefaultRequest) > 0) {
			errs = append(errs, field.Forbidden(p.Child("default"), "may not be specified when `type` is 'Pod'"))
		}
		for _, n := range sortedKeys(asStringMap(it.Min)) {
			rn := corev1.ResourceName(n)
			lo := it.Min[rn]
			if hi, ok := it.Max[rn]; ok && lo.Cmp(hi) > 0 {
				errs = append(errs, field.Invalid(p.Child("min").Key(n), lo.String(), fmt.Sprintf("min value %s is greater than max value %s", lo.String(), hi.String())))
			}
			if d, ok := it.DefaultRequest[rn]; ok && lo.Cmp(d) > 0 {
				errs = append(errs, field.Invalid(p.Child("defaultRequest").Key(n), d.String(), fmt.Sprintf("min value %s is greater than default request value %s", lo.String(), d.String())))
			}
		}
		for _, n := range sortedKeys(asStringMap(it.Max)) {
			rn := corev1.ResourceName(n)
			hi := it.Max[rn]
			if d, ok := it.Default[rn]; ok && d.Cmp(hi) > 0 {
				errs = append(errs, field.Invalid(p.Child("default").Key(n), d.String(), fmt.Sprintf("default value %s is greater than max value %s", d.String(), hi.String())))
			}
		}
	}
	sortErrors(errs)
	return errs
}
