package kinds

// The CSI objects of storage.k8s.io/v1 (CSIDriver, CSINode,
// CSIStorageCapacity, VolumeAttachment). Kelson runs no CSI driver, but
// schedulers (kube-scheduler's volume plugins) and CSI tooling list and
// watch them: they are served, stored and validated as Kubernetes does for
// the fields that identify them.

import (
	"strings"

	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func csiDriverKind() *Kind {
	k := base(storageGV, "CSIDriver", "csidrivers", "csidriver", false, obj[storagev1.CSIDriver](), obj[storagev1.CSIDriverList]())
	k.Default = func(o runtime.Object) {
		s := &o.(*storagev1.CSIDriver).Spec
		setDefault(&s.AttachRequired, true)
		setDefault(&s.PodInfoOnMount, false)
		setDefault(&s.StorageCapacity, false)
		setDefault(&s.RequiresRepublish, false)
		setDefault(&s.SELinuxMount, false)
		fsPolicy := storagev1.ReadWriteOnceWithFSTypeFSGroupPolicy
		setDefault(&s.FSGroupPolicy, fsPolicy)
		if len(s.VolumeLifecycleModes) == 0 {
			s.VolumeLifecycleModes = []storagev1.VolumeLifecycleMode{storagev1.VolumeLifecyclePersistent}
		}
	}
	k.ValidateUpdate = func(o, old runtime.Object) field.ErrorList {
		n, p := o.(*storagev1.CSIDriver), old.(*storagev1.CSIDriver)
		errs := immutable(n.Spec.AttachRequired, p.Spec.AttachRequired, field.NewPath("spec", "attachRequired"))
		return append(errs, immutable(n.Spec.PodInfoOnMount, p.Spec.PodInfoOnMount, field.NewPath("spec", "podInfoOnMount"))...)
	}
	k.Columns = []metav1.TableColumnDefinition{
		colName,
		col("AttachRequired", "boolean", "Indicates this CSI volume driver requires an attach operation.", false),
		col("PodInfoOnMount", "boolean", "Indicates this CSI volume driver requires additional pod information during mount operations.", false),
		col("Modes", "string", "Volume lifecycle modes supported by the driver.", false),
		colAge,
	}
	k.Cells = func(o runtime.Object) []interface{} {
		d := o.(*storagev1.CSIDriver)
		var modes []string
		for _, m := range d.Spec.VolumeLifecycleModes {
			modes = append(modes, string(m))
		}
		return []interface{}{d.Name, d.Spec.AttachRequired != nil && *d.Spec.AttachRequired,
			d.Spec.PodInfoOnMount != nil && *d.Spec.PodInfoOnMount, orNone(strings.Join(modes, ",")), age(d.CreationTimestamp)}
	}
	return k
}

func csiNodeKind() *Kind {
	k := base(storageGV, "CSINode", "csinodes", "csinode", false, obj[storagev1.CSINode](), obj[storagev1.CSINodeList]())
	k.Validate = func(o runtime.Object) field.ErrorList {
		var errs field.ErrorList
		seen := map[string]bool{}
		for i, d := range o.(*storagev1.CSINode).Spec.Drivers {
			p := field.NewPath("spec", "drivers").Index(i)
			switch {
			case d.Name == "":
				errs = append(errs, field.Required(p.Child("name"), ""))
			case seen[d.Name]:
				errs = append(errs, field.Duplicate(p.Child("name"), d.Name))
			}
			seen[d.Name] = true
			if d.NodeID == "" {
				errs = append(errs, field.Required(p.Child("nodeID"), ""))
			}
		}
		return errs
	}
	k.Columns = []metav1.TableColumnDefinition{
		colName,
		col("Drivers", "integer", "Drivers indicates the number of CSI drivers registered on the node", false),
		colAge,
	}
	k.Cells = func(o runtime.Object) []interface{} {
		n := o.(*storagev1.CSINode)
		return []interface{}{n.Name, int64(len(n.Spec.Drivers)), age(n.CreationTimestamp)}
	}
	return k
}

func csiStorageCapacityKind() *Kind {
	k := base(storageGV, "CSIStorageCapacity", "csistoragecapacities", "csistoragecapacity", true, obj[storagev1.CSIStorageCapacity](), obj[storagev1.CSIStorageCapacityList]())
	k.Validate = func(o runtime.Object) field.ErrorList {
		c := o.(*storagev1.CSIStorageCapacity)
		if c.StorageClassName == "" {
			return field.ErrorList{field.Required(field.NewPath("storageClassName"), "")}
		}
		return dns1123Subdomain(c.StorageClassName, field.NewPath("storageClassName"))
	}
	k.ValidateUpdate = func(o, old runtime.Object) field.ErrorList {
		n, p := o.(*storagev1.CSIStorageCapacity), old.(*storagev1.CSIStorageCapacity)
		errs := immutable(n.StorageClassName, p.StorageClassName, field.NewPath("storageClassName"))
		return append(errs, immutable(n.NodeTopology, p.NodeTopology, field.NewPath("nodeTopology"))...)
	}
	k.Columns = []metav1.TableColumnDefinition{
		colName,
		col("StorageClassName", "string", "The storage class this capacity is for.", false),
		col("Capacity", "string", "The reported capacity.", false),
		colAge,
	}
	k.Cells = func(o runtime.Object) []interface{} {
		c := o.(*storagev1.CSIStorageCapacity)
		capacity := "<unset>"
		if c.Capacity != nil {
			capacity = c.Capacity.String()
		}
		return []interface{}{c.Name, c.StorageClassName, capacity, age(c.CreationTimestamp)}
	}
	return k
}

func volumeAttachmentKind() *Kind {
	k := base(storageGV, "VolumeAttachment", "volumeattachments", "volumeattachment", false, obj[storagev1.VolumeAttachment](), obj[storagev1.VolumeAttachmentList]())
	k.HasStatus = true
	k.PrepareForCreate = func(o runtime.Object) { o.(*storagev1.VolumeAttachment).Status = storagev1.VolumeAttachmentStatus{} }
	k.Validate = func(o runtime.Object) field.ErrorList {
		s := &o.(*storagev1.VolumeAttachment).Spec
		p := field.NewPath("spec")
		var errs field.ErrorList
		if s.Attacher == "" {
			errs = append(errs, field.Required(p.Child("attacher"), ""))
		}
		if s.NodeName == "" {
			errs = append(errs, field.Required(p.Child("nodeName"), ""))
		}
		if (s.Source.PersistentVolumeName == nil) == (s.Source.InlineVolumeSpec == nil) {
			errs = append(errs, field.Required(p.Child("source"), "must specify exactly one of persistentVolumeName and inlineVolumeSpec"))
		}
		return errs
	}
	k.ValidateUpdate = func(o, old runtime.Object) field.ErrorList {
		return immutable(o.(*storagev1.VolumeAttachment).Spec, old.(*storagev1.VolumeAttachment).Spec, field.NewPath("spec"))
	}
	k.Columns = []metav1.TableColumnDefinition{
		colName,
		col("Attacher", "string", "Attacher indicates the name of the volume driver that MUST handle this request.", false),
		col("PV", "string", "Name of the persistent volume to attach.", false),
		col("Node", "string", "The node that the volume should be attached to.", false),
		col("Attached", "boolean", "Indicates the volume is successfully attached.", false),
		colAge,
	}
	k.Cells = func(o runtime.Object) []interface{} {
		v := o.(*storagev1.VolumeAttachment)
		pv := ""
		if v.Spec.Source.PersistentVolumeName != nil {
			pv = *v.Spec.Source.PersistentVolumeName
		}
		return []interface{}{v.Name, v.Spec.Attacher, pv, v.Spec.NodeName, v.Status.Attached, age(v.CreationTimestamp)}
	}
	return k
}
