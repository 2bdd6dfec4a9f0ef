package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// MaxPods is the most pods one NodeUsage may report (Kubernetes' default
// --max-pods is 110; this leaves room for dense simulated nodes).
const MaxPods = 500

// NodeUsage is one node's resource usage report. Cluster-scoped; its name
// is the node's.
type NodeUsage struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Timestamp is when the window of the samples ended. Required.
	Timestamp metav1.Time `json:"timestamp"`
	// Window is the length of time the usage was averaged over, ending at
	// Timestamp. Required, positive.
	Window metav1.Duration `json:"window"`
	// Usage of the whole node: cpu in cores, memory the working set in
	// bytes. Only cpu and memory; either may be absent.
	Usage corev1.ResourceList `json:"usage,omitempty"`
	// Pods are the pods running on the node, at most MaxPods.
	Pods []PodUsage `json:"pods,omitempty"`
}

// PodUsage is the usage of one pod's containers.
type PodUsage struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Containers: at least one, each name once.
	Containers []ContainerUsage `json:"containers"`
}

// ContainerUsage is the usage of one container: cpu and memory only.
type ContainerUsage struct {
	Name  string              `json:"name"`
	Usage corev1.ResourceList `json:"usage"`
}

// NodeUsageList is a list of NodeUsages.
type NodeUsageList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NodeUsage `json:"items"`
}

// DeepCopyInto copies in into out.
func (in *NodeUsage) DeepCopyInto(out *NodeUsage) {
	*out = *in
	out.TypeMeta = in.TypeMeta
	in.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	in.Timestamp.DeepCopyInto(&out.Timestamp)
	out.Usage = in.Usage.DeepCopy()
	if in.Pods != nil {
		out.Pods = make([]PodUsage, len(in.Pods))
		for i := range in.Pods {
			in.Pods[i].DeepCopyInto(&out.Pods[i])
		}
	}
}

// DeepCopy returns a deep copy of in (nil for nil).
func (in *NodeUsage) DeepCopy() *NodeUsage {
	if in == nil {
		return nil
	}
	out := new(NodeUsage)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *NodeUsage) DeepCopyObject() runtime.Object {
	if c := in.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopyInto copies in into out.
func (in *PodUsage) DeepCopyInto(out *PodUsage) {
	*out = *in
	if in.Containers != nil {
		out.Containers = make([]ContainerUsage, len(in.Containers))
		for i := range in.Containers {
			in.Containers[i].DeepCopyInto(&out.Containers[i])
		}
	}
}

// DeepCopyInto copies in into out.
func (in *ContainerUsage) DeepCopyInto(out *ContainerUsage) {
	*out = *in
	out.Usage = in.Usage.DeepCopy()
}

// DeepCopyInto copies in into out.
func (in *NodeUsageList) DeepCopyInto(out *NodeUsageList) {
	*out = *in
	out.TypeMeta = in.TypeMeta
	in.ListMeta.DeepCopyInto(&out.ListMeta)
	if in.Items != nil {
		out.Items = make([]NodeUsage, len(in.Items))
		for i := range in.Items {
			in.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
}

// DeepCopy returns a deep copy of in (nil for nil).
func (in *NodeUsageList) DeepCopy() *NodeUsageList {
	if in == nil {
		return nil
	}
	out := new(NodeUsageList)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *NodeUsageList) DeepCopyObject() runtime.Object {
	if c := in.DeepCopy(); c != nil {
		return c
	}
	return nil
}
