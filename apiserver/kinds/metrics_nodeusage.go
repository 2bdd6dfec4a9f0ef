package kinds

// NodeUsages (metrics.kelson.dev/v1alpha1): the usage reports of node
// agents, from which the API server computes metrics.k8s.io. Kelson's own
// kind: stored and served as JSON (Kind.JSON).

import (
	"time"

	usagev1alpha1 "github.com/kelson-dev/kelson/api/metrics/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// usageResources are the resources a usage report may hold.
var usageResources = []string{string(corev1.ResourceCPU), string(corev1.ResourceMemory)}

func nodeUsageKind() *Kind {
	k := base(usagev1alpha1.SchemeGroupVersion, "NodeUsage", usagev1alpha1.Resource, "nodeusage", false,
		obj[usagev1alpha1.NodeUsage](), obj[usagev1alpha1.NodeUsageList]())
	k.StoragePrefix = usagev1alpha1.GroupName + "/" + usagev1alpha1.Resource
	k.JSON = true
	k.Validate = func(o runtime.Object) field.ErrorList { return validateNodeUsage(o.(*usagev1alpha1.NodeUsage)) }
	k.Columns = []metav1.TableColumnDefinition{
		colName,
		col("CPU", "string", "Usage of the whole node: cpu in cores.", false),
		col("Memory", "string", "Usage of the whole node: memory working set in bytes.", false),
		col("Pods", "integer", "The number of pods reported.", false),
		col("Window", "string", "The length of time the usage was averaged over.", false),
		col("Reported", "string", "How long ago the window ended (timestamp).", false),
	}
	k.Cells = func(o runtime.Object) []interface{} { return nodeUsageCells(o.(*usagev1alpha1.NodeUsage), time.Now()) }
	return k
}

func nodeUsageCells(u *usagev1alpha1.NodeUsage, now time.Time) []interface{} {
	q := func(name corev1.ResourceName) string {
		if v, ok := u.Usage[name]; ok {
			return v.String()
		}
		return "<none>"
	}
	return []interface{}{u.Name, q(corev1.ResourceCPU), q(corev1.ResourceMemory), int64(len(u.Pods)),
		u.Window.Duration.String(), ageAt(u.Timestamp, now)}
}

// validateNodeUsage checks a report's invariants (package
// api/metrics/v1alpha1): timestamp set, positive window, cpu and memory
// only and never negative, at most MaxPods pods, each once with named
// containers, each once.
func validateNodeUsage(u *usagev1alpha1.NodeUsage) field.ErrorList {
	var errs field.ErrorList
	if u.Timestamp.IsZero() {
		errs = append(errs, field.Required(field.NewPath("timestamp"), "the end of the sampling window"))
	}
	if u.Window.Duration <= 0 {
		errs = append(errs, field.Invalid(field.NewPath("window"), u.Window.Duration.String(), "must be greater than 0"))
	}
	errs = append(errs, validateUsageList(u.Usage, field.NewPath("usage"))...)
	pods := field.NewPath("pods")
	if len(u.Pods) > usagev1alpha1.MaxPods {
		return append(errs, field.TooMany(pods, len(u.Pods), usagev1alpha1.MaxPods))
	}
	seen := make(map[string]bool, len(u.Pods))
	for i := range u.Pods {
		p, pp := &u.Pods[i], pods.Index(i)
		if p.Namespace == "" {
			errs = append(errs, field.Required(pp.Child("namespace"), ""))
		} else {
			errs = append(errs, dns1123Label(p.Namespace, pp.Child("namespace"))...)
		}
		if p.Name == "" {
			errs = append(errs, field.Required(pp.Child("name"), ""))
		} else {
			errs = append(errs, dns1123Subdomain(p.Name, pp.Child("name"))...)
		}
		if key := p.Namespace + "/" + p.Name; seen[key] {
			errs = append(errs, field.Duplicate(pp, key))
		} else {
			seen[key] = true
		}
		cs := pp.Child("containers")
		if len(p.Containers) == 0 {
			errs = append(errs, field.Required(cs, "must have at least one container"))
		}
		names := make(map[string]bool, len(p.Containers))
		for j := range p.Containers {
			c, cp := &p.Containers[j], cs.Index(j)
			if c.Name == "" {
				errs = append(errs, field.Required(cp.Child("name"), ""))
			} else if names[c.Name] {
				errs = append(errs, field.Duplicate(cp.Child("name"), c.Name))
			} else {
				names[c.Name] = true
				errs = append(errs, dns1123Label(c.Name, cp.Child("name"))...)
			}
			errs = append(errs, validateUsageList(c.Usage, cp.Child("usage"))...)
		}
	}
	return errs
}

// validateUsageList allows cpu and memory, neither negative.
func validateUsageList(l corev1.ResourceList, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, name := range sortedKeys(asStringMap(l)) {
		if name != string(corev1.ResourceCPU) && name != string(corev1.ResourceMemory) {
			errs = append(errs, field.NotSupported(fld.Key(name), name, usageResources))
		}
	}
	return append(errs, validateNonNegativeList(l, fld)...)
}
