package kinds

// Dynamic resource allocation, resource.k8s.io/v1: DeviceClass,
// DeviceTaintRule, ResourceClaim, ResourceClaimTemplate, ResourceSlice.
// Kelson allocates no devices yet; these are served so that schedulers
// (kube-scheduler's DRA plugin watches all of them) and DRA drivers find
// the API they expect. Validation covers the fields that identify them.

import (
	resourcev1 "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var resourceGV = schema.GroupVersion{Group: "resource.k8s.io", Version: "v1"}

func deviceClassKind() *Kind {
	k := base(resourceGV, "DeviceClass", "deviceclasses", "deviceclass", false, obj[resourcev1.DeviceClass](), obj[resourcev1.DeviceClassList]())
	k.Columns = []metav1.TableColumnDefinition{colName, colAge}
	k.Cells = func(o runtime.Object) []interface{} {
		c := o.(*resourcev1.DeviceClass)
		return []interface{}{c.Name, age(c.CreationTimestamp)}
	}
	return k
}

func deviceTaintRuleKind() *Kind {
	k := base(resourceGV, "DeviceTaintRule", "devicetaintrules", "devicetaintrule", false, obj[resourcev1.DeviceTaintRule](), obj[resourcev1.DeviceTaintRuleList]())
	k.HasStatus = true
	k.Validate = func(o runtime.Object) field.ErrorList {
		t := o.(*resourcev1.DeviceTaintRule).Spec.Taint
		p := field.NewPath("spec", "taint")
		var errs field.ErrorList
		if t.Key == "" {
			errs = append(errs, field.Required(p.Child("key"), ""))
		}
		if t.Effect == "" {
			errs = append(errs, field.Required(p.Child("effect"), ""))
		}
		return errs
	}
	k.Columns = []metav1.TableColumnDefinition{colName, colAge}
	k.Cells = func(o runtime.Object) []interface{} {
		r := o.(*resourcev1.DeviceTaintRule)
		return []interface{}{r.Name, age(r.CreationTimestamp)}
	}
	return k
}

func resourceClaimKind() *Kind {
	k := base(resourceGV, "ResourceClaim", "resourceclaims", "resourceclaim", true, obj[resourcev1.ResourceClaim](), obj[resourcev1.ResourceClaimList]())
	k.HasStatus = true
	k.PrepareForCreate = func(o runtime.Object) { o.(*resourcev1.ResourceClaim).Status = resourcev1.ResourceClaimStatus{} }
	k.Validate = func(o runtime.Object) field.ErrorList {
		return validateDeviceRequests(o.(*resourcev1.ResourceClaim).Spec.Devices.Requests, field.NewPath("spec", "devices", "requests"))
	}
	k.ValidateUpdate = func(o, old runtime.Object) field.ErrorList {
		return immutable(o.(*resourcev1.ResourceClaim).Spec, old.(*resourcev1.ResourceClaim).Spec, field.NewPath("spec"))
	}
	k.Columns = []metav1.TableColumnDefinition{
		colName,
		col("State", "string", "Whether the claim is allocated and reserved for a pod.", false),
		colAge,
	}
	k.Cells = func(o runtime.Object) []interface{} {
		c := o.(*resourcev1.ResourceClaim)
		state := "pending"
		if c.Status.Allocation != nil {
			state = "allocated"
			if len(c.Status.ReservedFor) > 0 {
				state += ",reserved"
			}
		}
		if c.DeletionTimestamp != nil {
			state += ",deleted"
		}
		return []interface{}{c.Name, state, age(c.CreationTimestamp)}
	}
	return k
}

func resourceClaimTemplateKind() *Kind {
	k := base(resourceGV, "ResourceClaimTemplate", "resourceclaimtemplates", "resourceclaimtemplate", true, obj[resourcev1.ResourceClaimTemplate](), obj[resourcev1.ResourceClaimTemplateList]())
	k.Validate = func(o runtime.Object) field.ErrorList {
		return validateDeviceRequests(o.(*resourcev1.ResourceClaimTemplate).Spec.Spec.Devices.Requests, field.NewPath("spec", "spec", "devices", "requests"))
	}
	k.ValidateUpdate = func(o, old runtime.Object) field.ErrorList {
		return immutable(o.(*resourcev1.ResourceClaimTemplate).Spec, old.(*resourcev1.ResourceClaimTemplate).Spec, field.NewPath("spec"))
	}
	k.Columns = []metav1.TableColumnDefinition{colName, colAge}
	k.Cells = func(o runtime.Object) []interface{} {
		t := o.(*resourcev1.ResourceClaimTemplate)
		return []interface{}{t.Name, age(t.CreationTimestamp)}
	}
	return k
}

func resourceSliceKind() *Kind {
	k := base(resourceGV, "ResourceSlice", "resourceslices", "resourceslice", false, obj[resourcev1.ResourceSlice](), obj[resourcev1.ResourceSliceList]())
	k.Validate = func(o runtime.Object) field.ErrorList {
		s := &o.(*resourcev1.ResourceSlice).Spec
		p := field.NewPath("spec")
		var errs field.ErrorList
		if s.Driver == "" {
			errs = append(errs, field.Required(p.Child("driver"), ""))
		}
		if s.Pool.Name == "" {
			errs = append(errs, field.Required(p.Child("pool", "name"), ""))
		}
		return errs
	}
	k.ValidateUpdate = func(o, old runtime.Object) field.ErrorList {
		n, p := o.(*resourcev1.ResourceSlice), old.(*resourcev1.ResourceSlice)
		errs := immutable(n.Spec.Driver, p.Spec.Driver, field.NewPath("spec", "driver"))
		return append(errs, immutable(n.Spec.NodeName, p.Spec.NodeName, field.NewPath("spec", "nodeName"))...)
	}
	k.Columns = []metav1.TableColumnDefinition{
		colName,
		col("Node", "string", "The node providing the devices, if any.", false),
		col("Driver", "string", "The driver providing the devices.", false),
		col("Pool", "string", "The pool the devices belong to.", false),
		colAge,
	}
	k.Cells = func(o runtime.Object) []interface{} {
		s := o.(*resourcev1.ResourceSlice)
		node := "<none>"
		if s.Spec.NodeName != nil {
			node = *s.Spec.NodeName
		}
		return []interface{}{s.Name, node, s.Spec.Driver, s.Spec.Pool.Name, age(s.CreationTimestamp)}
	}
	return k
}

// validateDeviceRequests checks that every request of a claim is named,
// once.
func validateDeviceRequests(reqs []resourcev1.DeviceRequest, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, r := range reqs {
		switch {
		case r.Name == "":
			errs = append(errs, field.Required(p.Index(i).Child("name"), ""))
		case seen[r.Name]:
			errs = append(errs, field.Duplicate(p.Index(i).Child("name"), r.Name))
		}
		seen[r.Name] = true
	}
	return errs
}
