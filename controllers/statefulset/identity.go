package statefulset

// A StatefulSet pod's identity: its name <set>-<ordinal>, the labels that
// carry it, its hostname and subdomain, and the claims
// <template>-<set>-<ordinal> its volumes use.

import (
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// LabelRevision carries the name of the ControllerRevision a pod was
	// made from.
	LabelRevision = appsv1.StatefulSetRevisionLabel
	// LabelPodName is the pod's own name, so a Service can select one pod.
	LabelPodName = appsv1.StatefulSetPodNameLabel
	// LabelPodIndex is the pod's ordinal.
	LabelPodIndex = appsv1.PodIndexLabel
)

var controllerKind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")

// PodName is the name of set's pod with ordinal.
func PodName(set string, ordinal int) string { return set + "-" + strconv.Itoa(ordinal) }

// Ordinal parses a pod name of set: its ordinal, or false if the name is
// not <set>-<decimal ordinal> (written canonically: no sign, no leading
// zero).
func Ordinal(set, pod string) (int, bool) {
	rest, ok := strings.CutPrefix(pod, set+"-")
	if !ok || rest == "" {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 || strconv.Itoa(n) != rest {
		return 0, false
	}
	return n, true
}

// ClaimName is the claim of template for set's pod with ordinal.
func ClaimName(template, set string, ordinal int) string {
	return template + "-" + PodName(set, ordinal)
}

// startOrdinal is spec.ordinals.start (default 0).
func startOrdinal(set *appsv1.StatefulSet) int {
	if set.Spec.Ordinals != nil && set.Spec.Ordinals.Start > 0 {
		return int(set.Spec.Ordinals.Start)
	}
	return 0
}

func replicas(set *appsv1.StatefulSet) int {
	if set.Spec.Replicas == nil {
		return 1
	}
	return max(int(*set.Spec.Replicas), 0)
}

// NewPod is set's pod with ordinal, made from tmpl (the template of the
// revision named revision): the template's labels plus the revision,
// pod-name and pod-index labels, hostname = the pod's name, subdomain =
// spec.serviceName, and for each claim template a volume of that name
// backed by the ordinal's claim (replacing a template volume of the same
// name).
func NewPod(set *appsv1.StatefulSet, tmpl *corev1.PodTemplateSpec, revision string, ordinal int) *corev1.Pod {
	t := tmpl.DeepCopy()
	name := PodName(set.Name, ordinal)
	labels := make(map[string]string, len(t.Labels)+3)
	for k, v := range t.Labels {
		labels[k] = v
	}
	labels[LabelRevision] = revision
	labels[LabelPodName] = name
	labels[LabelPodIndex] = strconv.Itoa(ordinal)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Namespace:       set.Namespace,
			Labels:          labels,
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, controllerKind)},
		},
		Spec: t.Spec,
	}
	pod.Spec.Hostname = name
	pod.Spec.Subdomain = set.Spec.ServiceName
	if len(set.Spec.VolumeClaimTemplates) > 0 {
		claimed := map[string]bool{}
		var vols []corev1.Volume
		for _, ct := range set.Spec.VolumeClaimTemplates {
			claimed[ct.Name] = true
			vols = append(vols, corev1.Volume{Name: ct.Name, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: ClaimName(ct.Name, set.Name, ordinal)},
			}})
		}
		for _, v := range pod.Spec.Volumes {
			if !claimed[v.Name] {
				vols = append(vols, v)
			}
		}
		pod.Spec.Volumes = vols
	}
	return pod
}

// NewClaim is the claim of template ct for set's pod with ordinal,
// labelled with the set's selector labels (so `kubectl get pvc -l` finds
// a set's claims), with the owner references the retention policy asks
// for at creation (see claimRefs).
func NewClaim(set *appsv1.StatefulSet, ct *corev1.PersistentVolumeClaim, ordinal int) *corev1.PersistentVolumeClaim {
	c := ct.DeepCopy()
	labels := map[string]string{}
	for k, v := range c.Labels {
		labels[k] = v
	}
	if set.Spec.Selector != nil {
		for k, v := range set.Spec.Selector.MatchLabels {
			labels[k] = v
		}
	}
	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{
			Name:        ClaimName(ct.Name, set.Name, ordinal),
			Namespace:   set.Namespace,
			Labels:      labels,
			Annotations: c.Annotations,
		},
		Spec: c.Spec,
	}
	claim.OwnerReferences = claimRefs(set, nil, nil, false)
	return claim
}

// claimRefs is the owner references a claim should have: its present
// ones that are not the set's nor a pod's of the set, plus the set when
// whenDeleted is Delete (the claim goes with the set), plus pod when
// condemned (its pod is being scaled away) and whenScaled is Delete (the
// claim goes with the pod).
func claimRefs(set *appsv1.StatefulSet, present []metav1.OwnerReference, pod *corev1.Pod, condemned bool) []metav1.OwnerReference {
	var out []metav1.OwnerReference
	for _, r := range present {
		if r.UID == set.UID || (r.Kind == "Pod" && r.APIVersion == "v1" && isMemberName(set.Name, r.Name)) {
			continue
		}
		out = append(out, r)
	}
	p := set.Spec.PersistentVolumeClaimRetentionPolicy
	if p == nil {
		return out
	}
	if p.WhenDeleted == appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
		out = append(out, metav1.OwnerReference{
			APIVersion: controllerKind.GroupVersion().String(), Kind: controllerKind.Kind,
			Name: set.Name, UID: set.UID,
		})
	}
	if condemned && pod != nil && p.WhenScaled == appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
		out = append(out, metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID})
	}
	return out
}

func isMemberName(set, pod string) bool {
	_, ok := Ordinal(set, pod)
	return ok
}
