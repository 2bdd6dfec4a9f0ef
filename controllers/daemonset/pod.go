package daemonset

// Daemon pods: how one is built from the template for a node, which node
// an existing one is for, and whether it is ready and available.

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// LabelRevisionHash carries the hash of the template a pod was made
	// from (the same label the DaemonSet's ControllerRevisions carry).
	LabelRevisionHash = appsv1.ControllerRevisionHashLabelKey
	// labelTemplateGeneration is the template generation a pod was made
	// from, copied from the DaemonSet's annotation, as Kubernetes labels
	// daemon pods.
	labelTemplateGeneration = "pod-template-generation"
	// annotationTemplateGeneration is kept by the API server on the
	// DaemonSet.
	annotationTemplateGeneration = appsv1.DeprecatedTemplateGeneration
	// nodeNameField is the field a daemon pod's node affinity selects.
	nodeNameField = "metadata.name"
)

var controllerKind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// NewPod is the pod ds runs on node: the template, labelled with hash
// (and the template generation), with the daemon tolerations and a
// required node affinity that selects exactly node by name, which the
// scheduler honours. Any node affinity of the template is replaced: it
// was already checked when node was chosen. The API server names the pod
// from generateName.
func NewPod(ds *appsv1.DaemonSet, hash, node string) *corev1.Pod {
	tmpl := ds.Spec.Template.DeepCopy()
	labels := make(map[string]string, len(tmpl.Labels)+2)
	for k, v := range tmpl.Labels {
		labels[k] = v
	}
	labels[LabelRevisionHash] = hash
	if gen := ds.Annotations[annotationTemplateGeneration]; gen != "" {
		labels[labelTemplateGeneration] = gen
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    ds.Name + "-",
			Namespace:       ds.Namespace,
			Labels:          labels,
			Annotations:     tmpl.Annotations,
			Finalizers:      tmpl.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, controllerKind)},
		},
		Spec: tmpl.Spec,
	}
	pod.Spec.Tolerations = daemonTolerations(&tmpl.Spec)
	if pod.Spec.Affinity == nil {
		pod.Spec.Affinity = &corev1.Affinity{}
	}
	if pod.Spec.Affinity.NodeAffinity == nil {
		pod.Spec.Affinity.NodeAffinity = &corev1.NodeAffinity{}
	}
	pod.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchFields: []corev1.NodeSelectorRequirement{{
				Key: nodeNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{node},
			}},
		}},
	}
	return pod
}

// TargetNode is the node a daemon pod is for: its spec.nodeName once
// bound, before that the single node its required affinity selects by
// name ("" if it selects none or several).
func TargetNode(pod *corev1.Pod) string {
	if pod.Spec.NodeName != "" {
		return pod.Spec.NodeName
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	target := ""
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, r := range term.MatchFields {
			if r.Key != nodeNameField || r.Operator != corev1.NodeSelectorOpIn || len(r.Values) != 1 {
				continue
			}
			if target != "" && target != r.Values[0] {
				return ""
			}
			target = r.Values[0]
		}
	}
	return target
}

func terminating(pod *corev1.Pod) bool { return pod.DeletionTimestamp != nil }

func finished(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded
}

// readySince is when pod's Ready condition became true, and whether it is.
func readySince(pod *corev1.Pod) (time.Time, bool) {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.LastTransitionTime.Time, c.Status == corev1.ConditionTrue
		}
	}
	return time.Time{}, false
}

// availability: whether pod is ready, and available (ready for
// minReadySeconds at now); when ready but not yet available, wait is how
// long until it is.
func availability(pod *corev1.Pod, minReadySeconds int32, now time.Time) (ready, available bool, wait time.Duration) {
	if terminating(pod) || finished(pod) {
		return false, false, 0
	}
	since, ok := readySince(pod)
	if !ok {
		return false, false, 0
	}
	if minReadySeconds <= 0 {
		return true, true, 0
	}
	at := since.Add(time.Duration(minReadySeconds) * time.Second)
	if since.IsZero() || !now.Before(at) {
		return true, true, 0
	}
	return true, false, at.Sub(now)
}
