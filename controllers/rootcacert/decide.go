package rootcacert

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Names and text as Kubernetes has them.
const (
	// Name is the controller's name (for --disable and logs).
	Name = "root-ca-cert-publisher"
	// ConfigMapName is the ConfigMap published in every namespace.
	ConfigMapName = "kube-root-ca.crt"
	// Key holds the CA bundle in the ConfigMap's data.
	Key = "ca.crt"
	// DescriptionAnnotation and Description: the annotation Kubernetes
	// puts on the ConfigMap.
	DescriptionAnnotation = "kubernetes.io/description"
	Description           = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."
)

// Action is what a sync does to a namespace's ConfigMap.
type Action int

const (
	// None: the ConfigMap is as it should be, or the namespace is
	// terminating.
	None Action = iota
	// Create the ConfigMap.
	Create
	// Update the ConfigMap to the one given.
	Update
)

func (a Action) String() string {
	switch a {
	case Create:
		return "create"
	case Update:
		return "update"
	}
	return "none"
}

// Decision is Decide's answer: the action and, for Create and Update,
// the ConfigMap to write.
type Decision struct {
	Action    Action
	ConfigMap *corev1.ConfigMap
}

// Decide says what to do about namespace ns's kube-root-ca.crt, given the
// ConfigMap that exists (nil: none) and the CA PEM to publish. cm is not
// modified.
func Decide(ns *corev1.Namespace, cm *corev1.ConfigMap, caPEM string) Decision {
	if ns == nil || ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating {
		return Decision{}
	}
	if cm == nil {
		return Decision{Action: Create, ConfigMap: &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName, Namespace: ns.Name,
				Annotations: map[string]string{DescriptionAnnotation: Description}},
			Data: map[string]string{Key: caPEM},
		}}
	}
	if upToDate(cm, caPEM) {
		return Decision{}
	}
	out := cm.DeepCopy()
	out.Data = map[string]string{Key: caPEM}
	out.BinaryData = nil
	out.Annotations = maps.Clone(cm.Annotations)
	if out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	out.Annotations[DescriptionAnnotation] = Description
	return Decision{Action: Update, ConfigMap: out}
}

func upToDate(cm *corev1.ConfigMap, caPEM string) bool {
	v, ok := cm.Data[Key]
	return ok && v == caPEM && len(cm.Data) == 1 && len(cm.BinaryData) == 0 &&
		cm.Annotations[DescriptionAnnotation] == Description
}
