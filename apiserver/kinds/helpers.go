package kinds

// Shared helpers: pointers, table cells (age, "<none>"), name rules and
// small validation pieces that several kinds use.

import (
	"sort"
	"strings"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ptr returns a pointer to a copy of v.
func ptr[T any](v T) *T { return &v }

// setDefault points *p at a copy of v if *p is nil.
func setDefault[T any](p **T, v T) {
	if *p == nil {
		*p = &v
	}
}

// setDefaultString sets *p to v if *p is empty.
func setDefaultString[T ~string](p *T, v T) {
	if *p == "" {
		*p = v
	}
}

// humanAge renders a duration as kubectl's AGE column does ("45s",
// "5m30s", "3h", "2d3h", "400d"): Kubernetes' duration.HumanDuration,
// which keeps two or three significant figures.
func humanAge(d time.Duration) string {
	return duration.HumanDuration(d)
}

// ageAt renders the age of a timestamp at now; "<unknown>" for a zero
// timestamp, as kube-apiserver's printers do.
func ageAt(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return humanAge(now.Sub(t.Time))
}

// age renders the age of a timestamp now (the only clock read in this
// package: Cells are rendered when a table is served).
func age(t metav1.Time) string { return ageAt(t, time.Now()) }

// microAge is age for a MicroTime.
func microAge(t metav1.MicroTime) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return humanAge(time.Since(t.Time))
}

// createdAt renders a creation timestamp as the "CREATED AT" column of
// roles and limit ranges does: RFC 3339 in UTC.
func createdAt(t metav1.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return t.UTC().Format(time.RFC3339)
}

// orNone returns s, or "<none>" when s is empty.
func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// formatLabels renders a label map as "a=b,c=d" (sorted), "<none>" when
// empty.
func formatLabels(m map[string]string) string {
	if len(m) == 0 {
		return "<none>"
	}
	return labels.FormatLabels(m)
}

// selectorString renders a label selector as kubectl does: "<none>"
// when empty or nil, "<error>" when it does not convert.
func selectorString(s *metav1.LabelSelector) string {
	return metav1.FormatLabelSelector(s)
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Column definitions shared by most tables.
var (
	colName = metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: "Name must be unique within a namespace."}
	colAge  = metav1.TableColumnDefinition{Name: "Age", Type: "string", Description: "CreationTimestamp is a timestamp representing the server time when this object was created."}
)

// col returns a column definition; wide marks an -o wide column.
func col(name, typ, desc string, wide bool) metav1.TableColumnDefinition {
	c := metav1.TableColumnDefinition{Name: name, Type: typ, Description: desc}
	if wide {
		c.Priority = 1
	}
	return c
}

// nameIsDNSLabel, nameIsDNS1035Label and nameIsPathSegment are
// ValidateName rules for kinds whose names are not DNS-1123 subdomains.
func nameIsDNSLabel(name string, prefix bool) []string {
	return apivalidation.NameIsDNSLabel(name, prefix)
}

func nameIsDNS1035Label(name string, prefix bool) []string {
	return apivalidation.NameIsDNS1035Label(name, prefix)
}

func nameIsPathSegment(name string, prefix bool) []string {
	if prefix {
		return content.IsPathSegmentPrefix(name)
	}
	return content.IsPathSegmentName(name)
}

// immutable returns "field is immutable" when new and old differ
// semantically (as Kubernetes' ValidateImmutableField).
func immutable(newVal, oldVal interface{}, fld *field.Path) field.ErrorList {
	if apiequality.Semantic.DeepEqual(oldVal, newVal) {
		return nil
	}
	return field.ErrorList{field.Invalid(fld, newVal, "field is immutable")}
}

// nonNegative is apivalidation.ValidateNonnegativeField.
func nonNegative(v int64, fld *field.Path) field.ErrorList {
	return apivalidation.ValidateNonnegativeField(v, fld)
}

// dns1123Label validates a value that must be a DNS-1123 label.
func dns1123Label(v string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Label(v) {
		errs = append(errs, field.Invalid(fld, v, msg))
	}
	return errs
}

// dns1123Subdomain validates a value that must be a DNS-1123 subdomain.
func dns1123Subdomain(v string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(v) {
		errs = append(errs, field.Invalid(fld, v, msg))
	}
	return errs
}

// positiveIntOrPercent validates an int-or-percent that must be >= 0 (an
// integer) or a percent string ("25%").
func positiveIntOrPercent(v intstr.IntOrString, fld *field.Path) field.ErrorList {
	switch v.Type {
	case intstr.String:
		var errs field.ErrorList
		for _, msg := range validation.IsValidPercent(v.StrVal) {
			errs = append(errs, field.Invalid(fld, v, msg))
		}
		return errs
	case intstr.Int:
		return nonNegative(int64(v.IntValue()), fld)
	}
	return field.ErrorList{field.Invalid(fld, v, "must be an integer or percentage (e.g '5%')")}
}

// intOrPercentValue returns the number of an int-or-percent (25 for
// "25%"), or 0 if it is not one.
func intOrPercentValue(v *intstr.IntOrString) int {
	if v == nil {
		return 0
	}
	if v.Type == intstr.Int {
		return v.IntValue()
	}
	n := 0
	s := strings.TrimSuffix(v.StrVal, "%")
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// notMoreThan100Percent rejects a percent over 100%.
func notMoreThan100Percent(v *intstr.IntOrString, fld *field.Path) field.ErrorList {
	if v == nil || v.Type != intstr.String || len(validation.IsValidPercent(v.StrVal)) != 0 {
		return nil
	}
	if intOrPercentValue(v) > 100 {
		return field.ErrorList{field.Invalid(fld, v, "must not be greater than 100%")}
	}
	return nil
}

// joinOr joins non-empty strings with sep, "<none>" when there are none.
func joinOr(items []string, sep string) string {
	return orNone(strings.Join(items, sep))
}
