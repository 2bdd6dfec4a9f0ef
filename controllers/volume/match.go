package volume

import (
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Annotations and labels the binder and provisioners share with
// Kubernetes.
const (
	// AnnBindCompleted on a claim: the binder finished binding it.
	AnnBindCompleted = "pv.kubernetes.io/bind-completed"
	// AnnBoundByController on a claim or volume: the binder (not the user)
	// set its volumeName or claimRef.
	AnnBoundByController = "pv.kubernetes.io/bound-by-controller"
	// AnnSelectedNode on a claim: the node its first consumer runs on; set
	// by the scheduler, or by the binder from a consuming pod's nodeName.
	AnnSelectedNode = "volume.kubernetes.io/selected-node"
	// AnnStorageProvisioner on a claim: the provisioner asked to make its
	// volume (and the beta spelling, kept for old provisioners).
	AnnStorageProvisioner     = "volume.kubernetes.io/storage-provisioner"
	AnnBetaStorageProvisioner = "volume.beta.kubernetes.io/storage-provisioner"
	// AnnProvisionedBy on a volume: the provisioner that made it, and that
	// deletes it when its reclaim policy is Delete.
	AnnProvisionedBy = "pv.kubernetes.io/provisioned-by"
	// AnnDefaultClass on a StorageClass marks the cluster's default.
	AnnDefaultClass     = "storageclass.kubernetes.io/is-default-class"
	AnnBetaDefaultClass = "storageclass.beta.kubernetes.io/is-default-class"
	// AnnBetaClaimClass is the old way of naming a claim's class.
	AnnBetaClaimClass = "volume.beta.kubernetes.io/storage-class"
	// LabelHostname is the node label local volumes are pinned with.
	LabelHostname = "kubernetes.io/hostname"
	// NoProvisioner is the provisioner of classes without dynamic
	// provisioning (pre-made local volumes).
	NoProvisioner = "kubernetes.io/no-provisioner"
)

// ClaimClass is the class a claim asks for ("" for none), and whether it
// names one at all (nil spec.storageClassName and no beta annotation do
// not: the default class may be given to it).
func ClaimClass(c *corev1.PersistentVolumeClaim) (string, bool) {
	if c.Spec.StorageClassName != nil {
		return *c.Spec.StorageClassName, true
	}
	if v, ok := c.Annotations[AnnBetaClaimClass]; ok {
		return v, true
	}
	return "", false
}

// Match picks the volume to bind claim to among volumes: the smallest
// (then first by name) that is unbound and not being deleted or released,
// has the claim's class and volume mode, offers its access modes and at
// least its requested size, carries labels its selector wants, and — when
// node is given — may be used on that node. nil if none fits.
func Match(claim *corev1.PersistentVolumeClaim, volumes []*corev1.PersistentVolume, node *corev1.Node) *corev1.PersistentVolume {
	var best *corev1.PersistentVolume
	for _, pv := range volumes {
		if pv.Spec.ClaimRef != nil || pv.DeletionTimestamp != nil ||
			pv.Status.Phase == corev1.VolumeReleased || pv.Status.Phase == corev1.VolumeFailed {
			continue
		}
		if Unfit(claim, pv) != "" {
			continue
		}
		if node != nil && !NodeAllows(pv, node) {
			continue
		}
		if best == nil || smaller(pv, best) {
			best = pv
		}
	}
	return best
}

func smaller(a, b *corev1.PersistentVolume) bool {
	qa, qb := a.Spec.Capacity[corev1.ResourceStorage], b.Spec.Capacity[corev1.ResourceStorage]
	if c := qa.Cmp(qb); c != 0 {
		return c < 0
	}
	return a.Name < b.Name
}

// Unfit says why volume pv cannot serve claim ("" if it can), ignoring
// who either is bound to.
func Unfit(claim *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) string {
	class, _ := ClaimClass(claim)
	if pv.Spec.StorageClassName != class {
		return "storageClassName does not match"
	}
	if mode(claim.Spec.VolumeMode) != mode(pv.Spec.VolumeMode) {
		return "incompatible volumeMode"
	}
	for _, m := range claim.Spec.AccessModes {
		if !slices.Contains(pv.Spec.AccessModes, m) {
			return "incompatible accessMode"
		}
	}
	want := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	has := pv.Spec.Capacity[corev1.ResourceStorage]
	if has.Cmp(want) < 0 {
		return "requested PV is too small"
	}
	if claim.Spec.Selector != nil {
		sel, err := metav1.LabelSelectorAsSelector(claim.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(pv.Labels)) {
			return "selector does not match the volume's labels"
		}
	}
	return ""
}

func mode(m *corev1.PersistentVolumeMode) corev1.PersistentVolumeMode {
	if m == nil {
		return corev1.PersistentVolumeFilesystem
	}
	return *m
}

// NodeAllows reports whether pv's required node affinity admits node (a
// volume without one may be used anywhere).
func NodeAllows(pv *corev1.PersistentVolume, node *corev1.Node) bool {
	if pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil {
		return true
	}
	return NodeSelectorMatches(pv.Spec.NodeAffinity.Required, node)
}

// NodeSelectorMatches: any term matches; within a term, every expression
// (on labels) and field (metadata.name) does. A selector without terms
// matches nothing.
func NodeSelectorMatches(sel *corev1.NodeSelector, node *corev1.Node) bool {
	for _, term := range sel.NodeSelectorTerms {
		if len(term.MatchExpressions) == 0 && len(term.MatchFields) == 0 {
			continue
		}
		ok := true
		for _, r := range term.MatchExpressions {
			v, has := node.Labels[r.Key]
			ok = ok && requirementMatches(r, v, has)
		}
		for _, r := range term.MatchFields {
			ok = ok && r.Key == "metadata.name" && requirementMatches(r, node.Name, true)
		}
		if ok {
			return true
		}
	}
	return false
}

func requirementMatches(r corev1.NodeSelectorRequirement, v string, has bool) bool {
	switch r.Operator {
	case corev1.NodeSelectorOpIn:
		return has && slices.Contains(r.Values, v)
	case corev1.NodeSelectorOpNotIn:
		return !has || !slices.Contains(r.Values, v)
	case corev1.NodeSelectorOpExists:
		return has
	case corev1.NodeSelectorOpDoesNotExist:
		return !has
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if !has || len(r.Values) != 1 {
			return false
		}
		a, err1 := strconv.ParseInt(v, 10, 64)
		b, err2 := strconv.ParseInt(r.Values[0], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if r.Operator == corev1.NodeSelectorOpGt {
			return a > b
		}
		return a < b
	}
	return false
}

// NodeOrName is node, or when the Node object is not known a stand-in
// carrying only its name and hostname label.
func NodeOrName(node *corev1.Node, name string) *corev1.Node {
	if node != nil {
		return node
	}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{LabelHostname: name}}}
}

// DefaultClass names the default StorageClass among classes (the newest
// annotated as default, then by name), or "".
func DefaultClass(classes []*storagev1.StorageClass) string {
	var best *storagev1.StorageClass
	for _, sc := range classes {
		if sc.Annotations[AnnDefaultClass] != "true" && sc.Annotations[AnnBetaDefaultClass] != "true" {
			continue
		}
		if best == nil || sc.CreationTimestamp.After(best.CreationTimestamp.Time) ||
			sc.CreationTimestamp.Equal(&best.CreationTimestamp) && sc.Name < best.Name {
			best = sc
		}
	}
	if best == nil {
		return ""
	}
	return best.Name
}
