package kinds

// ReplicaSets and ControllerRevisions.

import (
	"maps"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func replicaSetKind() *Kind {
	k := base(appsGV, "ReplicaSet", "replicasets", "replicaset", true, obj[appsv1.ReplicaSet](), obj[appsv1.ReplicaSetList]())
	k.ShortNames, k.Categories, k.HasStatus = []string{"rs"}, []string{"all"}, true
	k.Default = func(o runtime.Object) {
		rs := o.(*appsv1.ReplicaSet)
		setDefault(&rs.Spec.Replicas, 1)
		defaultPodTemplate(&rs.Spec.Template)
	}
	k.PrepareForCreate = func(o runtime.Object) { o.(*appsv1.ReplicaSet).Status = appsv1.ReplicaSetStatus{} }
	k.Validate = func(o runtime.Object) field.ErrorList {
		s := &o.(*appsv1.ReplicaSet).Spec
		fld := field.NewPath("spec")
		errs := nonNegative(int64(replicasOrOne(s.Replicas)), fld.Child("replicas"))
		errs = append(errs, nonNegative(int64(s.MinReadySeconds), fld.Child("minReadySeconds"))...)
		errs = append(errs, validateWorkloadSelector(s.Selector, &s.Template, "replicaset", fld)...)
		return append(errs, validateReplicatedTemplate(&s.Template, "ReplicaSet", fld.Child("template"))...)
	}
	k.ValidateUpdate = func(o, old runtime.Object) field.ErrorList {
		return immutable(o.(*appsv1.ReplicaSet).Spec.Selector, old.(*appsv1.ReplicaSet).Spec.Selector, field.NewPath("spec", "selector"))
	}
	k.Columns = replicaSetColumns
	k.Cells = func(o runtime.Object) []interface{} { return replicaSetCells(o.(*appsv1.ReplicaSet), time.Now()) }
	k.Fields = func(o runtime.Object) fields.Set {
		return fields.Set{"status.replicas": strconv.Itoa(int(o.(*appsv1.ReplicaSet).Status.Replicas))}
	}
	k.Scale = workloadScale(
		func(r *appsv1.ReplicaSet) **int32 { return &r.Spec.Replicas },
		func(r *appsv1.ReplicaSet) int32 { return r.Status.Replicas },
		func(r *appsv1.ReplicaSet) *metav1.LabelSelector { return r.Spec.Selector })
	return k
}

var replicaSetColumns = []metav1.TableColumnDefinition{
	colName,
	col("Desired", "integer", "Replicas is the number of desired replicas.", false),
	col("Current", "integer", "Replicas is the most recently observed number of replicas.", false),
	col("Ready", "integer", "The number of ready replicas for this replica set.", false),
	colAge,
	colContainers, colImages, colSelector,
}

func replicaSetCells(rs *appsv1.ReplicaSet, now time.Time) []interface{} {
	names, images := containersAndImages(&rs.Spec.Template.Spec)
	return []interface{}{
		rs.Name,
		int64(replicasOrOne(rs.Spec.Replicas)),
		int64(rs.Status.Replicas),
		int64(rs.Status.ReadyReplicas),
		ageAt(rs.CreationTimestamp, now),
		names, images, selectorString(rs.Spec.Selector),
	}
}

func controllerRevisionKind() *Kind {
	k := base(appsGV, "ControllerRevision", "controllerrevisions", "controllerrevision", true, obj[appsv1.ControllerRevision](), obj[appsv1.ControllerRevisionList]())
	k.Validate = func(o runtime.Object) field.ErrorList {
		return nonNegative(o.(*appsv1.ControllerRevision).Revision, field.NewPath("revision"))
	}
	k.ValidateUpdate = func(o, old runtime.Object) field.ErrorList {
		n, p := o.(*appsv1.ControllerRevision), old.(*appsv1.ControllerRevision)
		return immutable(n.Data, p.Data, field.NewPath("data"))
	}
	k.Columns = []metav1.TableColumnDefinition{
		colName,
		col("Controller", "string", "Controller of the object", false),
		col("Revision", "string", "Revision indicates the revision of the state represented by Data.", false),
		colAge,
	}
	k.Cells = func(o runtime.Object) []interface{} {
		cr := o.(*appsv1.ControllerRevision)
		controller := "<none>"
		if ref := metav1.GetControllerOf(cr); ref != nil {
			gv, err := schema.ParseGroupVersion(ref.APIVersion)
			if err == nil {
				controller = strings.TrimSuffix(strings.ToLower(ref.Kind)+"."+gv.Group, ".") + "/" + ref.Name
			}
		}
		return []interface{}{cr.Name, controller, cr.Revision, age(cr.CreationTimestamp)}
	}
	return k
}

// replicationControllerKind is core/v1's ReplicationController, the
// ReplicaSet's predecessor with an equality-based selector (defaulted from
// the template's labels). Served so that clients and schedulers listing it
// (kube-scheduler does) find it.
func replicationControllerKind() *Kind {
	k := base(coreGV, "ReplicationController", "replicationcontrollers", "replicationcontroller", true, obj[corev1.ReplicationController](), obj[corev1.ReplicationControllerList]())
	k.ShortNames, k.Categories, k.HasStatus = []string{"rc"}, []string{"all"}, true
	k.Default = func(o runtime.Object) {
		rc := o.(*corev1.ReplicationController)
		setDefault(&rc.Spec.Replicas, 1)
		if rc.Spec.Template != nil {
			if len(rc.Spec.Selector) == 0 {
				rc.Spec.Selector = maps.Clone(rc.Spec.Template.Labels)
			}
			if len(rc.Labels) == 0 {
				rc.Labels = maps.Clone(rc.Spec.Template.Labels)
			}
			defaultPodTemplate(rc.Spec.Template)
		}
	}
	k.PrepareForCreate = func(o runtime.Object) {
		o.(*corev1.ReplicationController).Status = corev1.ReplicationControllerStatus{}
	}
	k.Validate = func(o runtime.Object) field.ErrorList {
		s := &o.(*corev1.ReplicationController).Spec
		fld := field.NewPath("spec")
		errs := nonNegative(int64(replicasOrOne(s.Replicas)), fld.Child("replicas"))
		errs = append(errs, nonNegative(int64(s.MinReadySeconds), fld.Child("minReadySeconds"))...)
		if len(s.Selector) == 0 {
			errs = append(errs, field.Required(fld.Child("selector"), ""))
		}
		if s.Template == nil {
			return append(errs, field.Required(fld.Child("template"), ""))
		}
		sel := &metav1.LabelSelector{MatchLabels: s.Selector}
		errs = append(errs, validateWorkloadSelector(sel, s.Template, "replicationcontroller", fld)...)
		return append(errs, validateReplicatedTemplate(s.Template, "ReplicationController", fld.Child("template"))...)
	}
	k.Columns = replicaSetColumns
	k.Cells = func(o runtime.Object) []interface{} {
		rc := o.(*corev1.ReplicationController)
		names, images := "", ""
		if rc.Spec.Template != nil {
			names, images = containersAndImages(&rc.Spec.Template.Spec)
		}
		return []interface{}{rc.Name, int64(replicasOrOne(rc.Spec.Replicas)), int64(rc.Status.Replicas), int64(rc.Status.ReadyReplicas),
			age(rc.CreationTimestamp), names, images, labels.FormatLabels(rc.Spec.Selector)}
	}
	k.Fields = func(o runtime.Object) fields.Set {
		return fields.Set{"status.replicas": strconv.Itoa(int(o.(*corev1.ReplicationController).Status.Replicas))}
	}
	k.Scale = &Scale{
		SpecReplicas: func(o runtime.Object) int32 { return replicasOrOne(o.(*corev1.ReplicationController).Spec.Replicas) },
		SetSpecReplicas: func(o runtime.Object, n int32) {
			o.(*corev1.ReplicationController).Spec.Replicas = &n
		},
		StatusReplicas: func(o runtime.Object) int32 { return o.(*corev1.ReplicationController).Status.Replicas },
		Selector: func(o runtime.Object) string {
			return labels.SelectorFromSet(o.(*corev1.ReplicationController).Spec.Selector).String()
		},
	}
	return k
}
