package kinds

// RBAC: Roles, ClusterRoles, RoleBindings and ClusterRoleBindings. Names
// are path segments; rules need verbs and (for resource rules) api
// groups and resources; a binding's roleRef may not change.

import (
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var roleColumns = []metav1.TableColumnDefinition{
	colName,
	col("Created At", "date", "CreationTimestamp is a timestamp representing the server time when this object was created.", false),
}

var bindingColumns = []metav1.TableColumnDefinition{
	colName,
	col("Role", "string", "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace.", false),
	colAge,
	col("Users", "string", "Users in the roleBinding", true),
	col("Groups", "string", "Groups in the roleBinding", true),
	col("ServiceAccounts", "string", "ServiceAccounts in the roleBinding", true),
}

func roleKind() *Kind {
	k := base(rbacGV, "Role", "roles", "role", true, obj[rbacv1.Role](), obj[rbacv1.RoleList]())
	k.ValidateName = nameIsPathSegment
	k.Validate = func(o runtime.Object) field.ErrorList { return validateRules(o.(*rbacv1.Role).Rules, true) }
	k.Columns = roleColumns
	k.Cells = func(o runtime.Object) []interface{} {
		r := o.(*rbacv1.Role)
		return []interface{}{r.Name, createdAt(r.CreationTimestamp)}
	}
	return k
}

func clusterRoleKind() *Kind {
	k := base(rbacGV, "ClusterRole", "clusterroles", "clusterrole", false, obj[rbacv1.ClusterRole](), obj[rbacv1.ClusterRoleList]())
	k.ValidateName = nameIsPathSegment
	k.Validate = func(o runtime.Object) field.ErrorList {
		cr := o.(*rbacv1.ClusterRole)
		errs := validateRules(cr.Rules, false)
		if ar := cr.AggregationRule; ar != nil {
			p := field.NewPath("aggregationRule", "clusterRoleSelectors")
			if len(ar.ClusterRoleSelectors) == 0 {
				errs = append(errs, field.Required(p, "at least one clusterRoleSelector required if aggregationRule is non-nil"))
			}
			for i := range ar.ClusterRoleSelectors {
				errs = append(errs, metav1validation.ValidateLabelSelector(&ar.ClusterRoleSelectors[i], metav1validation.LabelSelectorValidationOptions{}, p.Index(i))...)
			}
		}
		return errs
	}
	k.Columns = roleColumns
	k.Cells = func(o runtime.Object) []interface{} {
		r := o.(*rbacv1.ClusterRole)
		return []interface{}{r.Name, createdAt(r.CreationTimestamp)}
	}
	return k
}

// validateRules validates policy rules; namespaced rules may not name
// non-resource URLs.
func validateRules(rules []rbacv1.PolicyRule, namespaced bool) field.ErrorList {
	var errs field.ErrorList
	for i, r := range rules {
		p := field.NewPath("rules").Index(i)
		if len(r.Verbs) == 0 {
			errs = append(errs, field.Required(p.Child("verbs"), "verbs must contain at least one value"))
		}
		if len(r.NonResourceURLs) > 0 {
			if namespaced {
				errs = append(errs, field.Invalid(p.Child("nonResourceURLs"), r.NonResourceURLs, "namespaced rules cannot apply to non-resource URLs"))
			}
			if len(r.APIGroups) > 0 || len(r.Resources) > 0 || len(r.ResourceNames) > 0 {
				errs = append(errs, field.Invalid(p.Child("nonResourceURLs"), r.NonResourceURLs, "rules cannot apply to both regular resources and non-resource URLs"))
			}
			continue
		}
		if len(r.APIGroups) == 0 {
			errs = append(errs, field.Required(p.Child("apiGroups"), "resource rules must supply at least one api group"))
		}
		if len(r.Resources) == 0 {
			errs = append(errs, field.Required(p.Child("resources"), "resource rules must supply at least one resource"))
		}
	}
	return errs
}

func roleBindingKind() *Kind {
	k := base(rbacGV, "RoleBinding", "rolebindings", "rolebinding", true, obj[rbacv1.RoleBinding](), obj[rbacv1.RoleBindingList]())
	k.ValidateName = nameIsPathSegment
	k.Default = func(o runtime.Object) {
		rb := o.(*rbacv1.RoleBinding)
		defaultBinding(&rb.RoleRef, rb.Subjects)
	}
	k.Validate = func(o runtime.Object) field.ErrorList {
		rb := o.(*rbacv1.RoleBinding)
		return validateBinding(rb.RoleRef, rb.Subjects, true)
	}
	k.ValidateUpdate = func(o, old runtime.Object) field.ErrorList {
		return validateRoleRefUpdate(o.(*rbacv1.RoleBinding).RoleRef, old.(*rbacv1.RoleBinding).RoleRef)
	}
	k.Columns = bindingColumns
	k.Cells = func(o runtime.Object) []interface{} {
		rb := o.(*rbacv1.RoleBinding)
		return bindingCells(rb.Name, rb.RoleRef, rb.Subjects, rb.CreationTimestamp)
	}
	return k
}

func clusterRoleBindingKind() *Kind {
	k := base(rbacGV, "ClusterRoleBinding", "clusterrolebindings", "clusterrolebinding", false, obj[rbacv1.ClusterRoleBinding](), obj[rbacv1.ClusterRoleBindingList]())
	k.ValidateName = nameIsPathSegment
	k.Default = func(o runtime.Object) {
		rb := o.(*rbacv1.ClusterRoleBinding)
		defaultBinding(&rb.RoleRef, rb.Subjects)
	}
	k.Validate = func(o runtime.Object) field.ErrorList {
		rb := o.(*rbacv1.ClusterRoleBinding)
		return validateBinding(rb.RoleRef, rb.Subjects, false)
	}
	k.ValidateUpdate = func(o, old runtime.Object) field.ErrorList {
		return validateRoleRefUpdate(o.(*rbacv1.ClusterRoleBinding).RoleRef, old.(*rbacv1.ClusterRoleBinding).RoleRef)
	}
	k.Columns = bindingColumns
	k.Cells = func(o runtime.Object) []interface{} {
		rb := o.(*rbacv1.ClusterRoleBinding)
		return bindingCells(rb.Name, rb.RoleRef, rb.Subjects, rb.CreationTimestamp)
	}
	return k
}

// defaultBinding sets the roleRef's API group and each subject's
// (rbac.authorization.k8s.io for users and groups, "" for service
// accounts).
func defaultBinding(ref *rbacv1.RoleRef, subjects []rbacv1.Subject) {
	setDefaultString(&ref.APIGroup, rbacv1.GroupName)
	for i := range subjects {
		s := &subjects[i]
		if s.APIGroup == "" && (s.Kind == rbacv1.UserKind || s.Kind == rbacv1.GroupKind) {
			s.APIGroup = rbacv1.GroupName
		}
	}
}

func validateBinding(ref rbacv1.RoleRef, subjects []rbacv1.Subject, namespaced bool) field.ErrorList {
	var errs field.ErrorList
	rp := field.NewPath("roleRef")
	if ref.APIGroup != rbacv1.GroupName {
		errs = append(errs, field.NotSupported(rp.Child("apiGroup"), ref.APIGroup, []string{rbacv1.GroupName}))
	}
	kinds := []string{"ClusterRole"}
	if namespaced {
		kinds = []string{"Role", "ClusterRole"}
	}
	if !contains(kinds, ref.Kind) {
		errs = append(errs, field.NotSupported(rp.Child("kind"), ref.Kind, kinds))
	}
	if ref.Name == "" {
		errs = append(errs, field.Required(rp.Child("name"), ""))
	} else {
		for _, msg := range nameIsPathSegment(ref.Name, false) {
			errs = append(errs, field.Invalid(rp.Child("name"), ref.Name, msg))
		}
	}
	for i, s := range subjects {
		p := field.NewPath("subjects").Index(i)
		if s.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		}
		switch s.Kind {
		case rbacv1.ServiceAccountKind:
			if s.Name != "" {
				for _, msg := range apivalidation.ValidateServiceAccountName(s.Name, false) {
					errs = append(errs, field.Invalid(p.Child("name"), s.Name, msg))
				}
			}
			if s.APIGroup != "" {
				errs = append(errs, field.NotSupported(p.Child("apiGroup"), s.APIGroup, []string{""}))
			}
			if !namespaced && s.Namespace == "" {
				errs = append(errs, field.Required(p.Child("namespace"), ""))
			}
		case rbacv1.UserKind, rbacv1.GroupKind:
			if s.APIGroup != rbacv1.GroupName {
				errs = append(errs, field.NotSupported(p.Child("apiGroup"), s.APIGroup, []string{rbacv1.GroupName}))
			}
		default:
			errs = append(errs, field.NotSupported(p.Child("kind"), s.Kind, []string{rbacv1.ServiceAccountKind, rbacv1.UserKind, rbacv1.GroupKind}))
		}
	}
	return errs
}

func validateRoleRefUpdate(ref, old rbacv1.RoleRef) field.ErrorList {
	if ref != old {
		return field.ErrorList{field.Invalid(field.NewPath("roleRef"), ref, "cannot change roleRef")}
	}
	return nil
}

func bindingCells(name string, ref rbacv1.RoleRef, subjects []rbacv1.Subject, created metav1.Time) []interface{} {
	var users, groups, sas []string
	for _, s := range subjects {
		switch s.Kind {
		case rbacv1.UserKind:
			users = append(users, s.Name)
		case rbacv1.GroupKind:
			groups = append(groups, s.Name)
		case rbacv1.ServiceAccountKind:
			sas = append(sas, s.Namespace+"/"+s.Name)
		}
	}
	return []interface{}{
		name, ref.Kind + "/" + ref.Name, age(created),
		strings.Join(users, ", "), strings.Join(groups, ", "), strings.Join(sas, ", "),
	}
}
