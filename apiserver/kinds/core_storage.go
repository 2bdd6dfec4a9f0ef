package kinds

// PersistentVolumes and PersistentVolumeClaims.

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	accessModes     = []corev1.PersistentVolumeAccessMode{corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOnce, corev1.ReadWriteOncePod}
	reclaimPolicies = []corev1.PersistentVolumeReclaimPolicy{corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRecycle, corev1.PersistentVolumeReclaimRetain}
	volumeModes     = []corev1.PersistentVolumeMode{corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem}
)

// betaStorageClassAnnotation is the old way of naming a claim's class.
const betaStorageClassAnnotation = "volume.beta.kubernetes.io/storage-class"

func persistentVolumeKind() *Kind {
	k := base(coreGV, "PersistentVolume", "persistentvolumes", "persistentvolume", false, obj[corev1.PersistentVolume](), obj[corev1.PersistentVolumeList]())
	k.ShortNames, k.HasStatus = []string{"pv"}, true
	k.Default = func(o runtime.Object) {
		pv := o.(*corev1.PersistentVolume)
		setDefaultString(&pv.Status.Phase, corev1.VolumePending)
		setDefaultString(&pv.Spec.PersistentVolumeReclaimPolicy, corev1.PersistentVolumeReclaimRetain)
		setDefault(&pv.Spec.VolumeMode, corev1.PersistentVolumeFilesystem)
		if hp := pv.Spec.HostPath; hp != nil {
			setDefault(&hp.Type, corev1.HostPathUnset)
		}
	}
	k.PrepareForCreate = func(o runtime.Object) {
		o.(*corev1.PersistentVolume).Status = corev1.PersistentVolumeStatus{Phase: corev1.VolumePending}
	}
	k.Validate = func(o runtime.Object) field.ErrorList { return validatePV(o.(*corev1.PersistentVolume)) }
	k.ValidateUpdate = func(o, old runtime.Object) field.ErrorList {
		pv, p := o.(*corev1.PersistentVolume), old.(*corev1.PersistentVolume)
		spec := field.NewPath("spec")
		var errs field.ErrorList
		if immutable(pv.Spec.PersistentVolumeSource, p.Spec.PersistentVolumeSource, spec) != nil {
			errs = append(errs, field.Forbidden(spec.Child("persistentvolumesource"), "spec.persistentvolumesource is immutable after creation"))
		}
		errs = append(errs, immutable(pv.Spec.VolumeMode, p.Spec.VolumeMode, spec.Child("volumeMode"))...)
		if p.Spec.NodeAffinity != nil {
			errs = append(errs, immutable(pv.Spec.NodeAffinity, p.Spec.NodeAffinity, spec.Child("nodeAffinity"))...)
		}
		return errs
	}
	k.Columns = pvColumns
	k.Cells = func(o runtime.Object) []interface{} { return pvCells(o.(*corev1.PersistentVolume)) }
	return k
}

func validatePV(pv *corev1.PersistentVolume) field.ErrorList {
	s := &pv.Spec
	fld := field.NewPath("spec")
	var errs field.ErrorList
	errs = append(errs, validateAccessModes(s.AccessModes, fld.Child("accessModes"), "")...)
	if len(s.Capacity) == 0 {
		errs = append(errs, field.Required(fld.Child("capacity"), ""))
	} else if _, ok := s.Capacity[corev1.ResourceStorage]; !ok || len(s.Capacity) > 1 {
		errs = append(errs, field.NotSupported(fld.Child("capacity"), s.Capacity, []corev1.ResourceName{corev1.ResourceStorage}))
	} else if q := s.Capacity[corev1.ResourceStorage]; q.Sign() < 0 {
		errs = append(errs, field.Invalid(fld.Child("capacity").Key("storage"), q.String(), "must be greater than or equal to 0"))
	}
	if s.PersistentVolumeReclaimPolicy != "" && !contains(reclaimPolicies, s.PersistentVolumeReclaimPolicy) {
		errs = append(errs, field.NotSupported(fld.Child("persistentVolumeReclaimPolicy"), s.PersistentVolumeReclaimPolicy, reclaimPolicies))
	}
	if s.VolumeMode != nil && !contains(volumeModes, *s.VolumeMode) {
		errs = append(errs, field.NotSupported(fld.Child("volumeMode"), *s.VolumeMode, volumeModes))
	}
	if s.StorageClassName != "" {
		errs = append(errs, dns1123Subdomain(s.StorageClassName, fld.Child("storageClassName"))...)
	}
	n := 0
	for _, set := range pvSourcesSet(&s.PersistentVolumeSource) {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		errs = append(errs, field.Required(fld, "must specify a volume type"))
	case n > 1:
		errs = append(errs, field.Forbidden(fld, "may not specify more than 1 volume type"))
	}
	if hp := s.HostPath; hp != nil && hp.Path == "" {
		errs = append(errs, field.Required(fld.Child("hostPath", "path"), ""))
	}
	if l := s.Local; l != nil {
		if l.Path == "" {
			errs = append(errs, field.Required(fld.Child("local", "path"), ""))
		}
		if s.NodeAffinity == nil {
			errs = append(errs, field.Required(fld.Child("nodeAffinity"), "Local volume requires node affinity"))
		}
	}
	return errs
}

// pvSourcesSet reports which of the common volume sources are set.
func pvSourcesSet(s *corev1.PersistentVolumeSource) []bool {
	return []bool{
		s.GCEPersistentDisk != nil, s.AWSElasticBlockStore != nil, s.HostPath != nil, s.Glusterfs != nil,
		s.NFS != nil, s.RBD != nil, s.ISCSI != nil, s.CephFS != nil, s.Cinder != nil, s.FC != nil,
		s.Flocker != nil, s.FlexVolume != nil, s.AzureFile != nil, s.VsphereVolume != nil, s.Quobyte != nil,
		s.AzureDisk != nil, s.PhotonPersistentDisk != nil, s.PortworxVolume != nil, s.ScaleIO != nil,
		s.Local != nil, s.StorageOS != nil, s.CSI != nil,
	}
}

func validateAccessModes(modes []corev1.PersistentVolumeAccessMode, fld *field.Path, requiredMsg string) field.ErrorList {
	if len(modes) == 0 {
		return field.ErrorList{field.Required(fld, requiredMsg)}
	}
	var errs field.ErrorList
	for _, m := range modes {
		if !contains(accessModes, m) {
			errs = append(errs, field.NotSupported(fld, m, accessModes))
		}
	}
	if contains(modes, corev1.ReadWriteOncePod) && len(modes) > 1 {
		errs = append(errs, field.Forbidden(fld, "may not use ReadWriteOncePod with other access modes"))
	}
	return errs
}

// accessModesString is the ACCESS MODES cell: "RWO,ROX".
func accessModesString(modes []corev1.PersistentVolumeAccessMode) string {
	short := map[corev1.PersistentVolumeAccessMode]string{
		corev1.ReadWriteOnce: "RWO", corev1.ReadOnlyMany: "ROX", corev1.ReadWriteMany: "RWX", corev1.ReadWriteOncePod: "RWOP",
	}
	var out []string
	for _, m := range []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOncePod} {
		if contains(modes, m) {
			out = append(out, short[m])
		}
	}
	return strings.Join(out, ",")
}

func volumeModeString(m *corev1.PersistentVolumeMode) string {
	if m == nil {
		return "<unset>"
	}
	return string(*m)
}

func unsetIfEmpty(p *string) string {
	if p == nil || *p == "" {
		return "<unset>"
	}
	return *p
}

var pvColumns = []metav1.TableColumnDefinition{
	colName,
	col("Capacity", "string", "capacity is the description of the persistent volume's resources and capacity.", false),
	col("Access Modes", "string", "accessModes contains all ways the volume can be mounted.", false),
	col("Reclaim Policy", "string", "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim.", false),
	col("Status", "string", "phase indicates if a volume is available, bound to a claim, or released by a claim.", false),
	col("Claim", "string", "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim.", false),
	col("StorageClass", "string", "storageClassName is the name of StorageClass to which this persistent volume belongs.", false),
	col("VolumeAttributesClass", "string", "Name of VolumeAttributesClass to which this persistent volume belongs.", false),
	col("Reason", "string", "reason is a brief CamelCase string that describes any failure.", false),
	colAge,
	col("VolumeMode", "string", "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state.", true),
}

func pvCells(pv *corev1.PersistentVolume) []interface{} {
	claim := ""
	if ref := pv.Spec.ClaimRef; ref != nil {
		claim = ref.Namespace + "/" + ref.Name
	}
	capacity := pv.Spec.Capacity[corev1.ResourceStorage]
	status := string(pv.Status.Phase)
	if pv.DeletionTimestamp != nil {
		status = "Terminating"
	}
	return []interface{}{
		pv.Name, capacity.String(), accessModesString(pv.Spec.AccessModes), string(pv.Spec.PersistentVolumeReclaimPolicy),
		status, claim, pv.Spec.StorageClassName, unsetIfEmpty(pv.Spec.VolumeAttributesClassName), pv.Status.Reason,
		age(pv.CreationTimestamp), volumeModeString(pv.Spec.VolumeMode),
	}
}

func persistentVolumeClaimKind() *Kind {
	k := base(coreGV, "PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim", true, obj[corev1.PersistentVolumeClaim](), obj[corev1.PersistentVolumeClaimList]())
	k.ShortNames, k.HasStatus = []string{"pvc"}, true
	k.Default = func(o runtime.Object) {
		pvc := o.(*corev1.PersistentVolumeClaim)
		setDefaultString(&pvc.Status.Phase, corev1.ClaimPending)
		defaultPVCSpec(&pvc.Spec)
	}
	k.PrepareForCreate = func(o runtime.Object) {
		o.(*corev1.PersistentVolumeClaim).Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}
	}
	k.Validate = func(o runtime.Object) field.ErrorList {
		return validatePVCSpec(&o.(*corev1.PersistentVolumeClaim).Spec, field.NewPath("spec"))
	}
	k.ValidateUpdate = func(o, old runtime.Object) field.ErrorList {
		return validatePVCUpdate(o.(*corev1.PersistentVolumeClaim), old.(*corev1.PersistentVolumeClaim))
	}
	k.Columns = []metav1.TableColumnDefinition{
		colName,
		col("Status", "string", "phase represents the current phase of PersistentVolumeClaim.", false),
		col("Volume", "string", "volumeName is the binding reference to the PersistentVolume backing this claim.", false),
		col("Capacity", "string", "capacity represents the actual resources of the underlying volume.", false),
		col("Access Modes", "string", "accessModes contains the desired access modes the volume should have.", false),
		col("StorageClass", "string", "storageClassName is the name of the StorageClass required by the claim.", false),
		col("VolumeAttributesClass", "string", "volumeAttributesClassName may be used to set the VolumeAttributesClass used by this claim.", false),
		colAge,
		col("VolumeMode", "string", "volumeMode defines what type of volume is required by the claim.", true),
	}
	k.Cells = func(o runtime.Object) []interface{} { return pvcCells(o.(*corev1.PersistentVolumeClaim)) }
	return k
}

func validatePVCSpec(s *corev1.PersistentVolumeClaimSpec, fld *field.Path) field.ErrorList {
	errs := validateAccessModes(s.AccessModes, fld.Child("accessModes"), "at least 1 access mode is required")
	if s.Selector != nil && s.DataSource == nil {
		sel, err := metav1.LabelSelectorAsSelector(s.Selector)
		if err != nil || sel == nil {
			errs = append(errs, field.Invalid(fld.Child("selector"), s.Selector, "invalid label selector"))
		}
	}
	storage := fld.Child("resources").Key(string(corev1.ResourceStorage))
	if q, ok := s.Resources.Requests[corev1.ResourceStorage]; !ok {
		errs = append(errs, field.Required(storage, ""))
	} else if q.Sign() <= 0 {
		errs = append(errs, field.Invalid(storage, q.String(), "must be greater than zero"))
	}
	if s.StorageClassName != nil && *s.StorageClassName != "" {
		errs = append(errs, dns1123Subdomain(*s.StorageClassName, fld.Child("storageClassName"))...)
	}
	if s.VolumeMode != nil && !contains(volumeModes, *s.VolumeMode) {
		errs = append(errs, field.NotSupported(fld.Child("volumeMode"), *s.VolumeMode, volumeModes))
	}
	return errs
}

// validatePVCUpdate: the spec is immutable except resources.requests
// (which may not shrink below the provisioned capacity) and
// volumeAttributesClassName; volumeName and storageClassName may be set
// once when they were empty.
func validatePVCUpdate(pvc, old *corev1.PersistentVolumeClaim) field.ErrorList {
	mut := pvc.Spec.DeepCopy()
	mut.Resources.Requests = old.Spec.Resources.Requests
	mut.VolumeAttributesClassName = old.Spec.VolumeAttributesClassName
	if old.Spec.VolumeName == "" {
		mut.VolumeName = old.Spec.VolumeName
	}
	if old.Spec.StorageClassName == nil && old.Annotations[betaStorageClassAnnotation] == "" {
		mut.StorageClassName = old.Spec.StorageClassName
	}
	fld := field.NewPath("spec")
	var errs field.ErrorList
	if immutable(*mut, old.Spec, fld) != nil {
		errs = append(errs, field.Forbidden(fld, "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"))
	}
	// A request may shrink (recovering from a failed expansion) but not
	// below the provisioned capacity. A claim bound to a volume larger than
	// it asked for keeps its request: the check is on shrinking only.
	newSize, oldSize := pvc.Spec.Resources.Requests[corev1.ResourceStorage], old.Spec.Resources.Requests[corev1.ResourceStorage]
	oldCap, hasCap := old.Status.Capacity[corev1.ResourceStorage]
	if hasCap && newSize.Cmp(oldSize) < 0 && newSize.Cmp(oldCap) < 0 {
		errs = append(errs, field.Forbidden(fld.Child("resources", "requests", "storage"), "field can not be less than status.capacity"))
	}
	return errs
}

func pvcCells(pvc *corev1.PersistentVolumeClaim) []interface{} {
	status := string(pvc.Status.Phase)
	if pvc.DeletionTimestamp != nil {
		status = "Terminating"
	}
	capacity, modes := "", ""
	if pvc.Spec.VolumeName != "" {
		modes = accessModesString(pvc.Status.AccessModes)
		if q, ok := pvc.Status.Capacity[corev1.ResourceStorage]; ok {
			capacity = q.String()
		}
	}
	class := pvc.Annotations[betaStorageClassAnnotation]
	if pvc.Spec.StorageClassName != nil {
		class = *pvc.Spec.StorageClassName
	}
	return []interface{}{
		pvc.Name, status, pvc.Spec.VolumeName, capacity, modes, class,
		unsetIfEmpty(pvc.Spec.VolumeAttributesClassName), age(pvc.CreationTimestamp), volumeModeString(pvc.Spec.VolumeMode),
	}
}
