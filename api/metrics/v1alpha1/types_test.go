package v1alpha1

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
)

func sample() *NodeUsage {
	return &NodeUsage{
		TypeMeta:   metav1.TypeMeta{APIVersion: "metrics.kelson.dev/v1alpha1", Kind: "NodeUsage"},
		ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"a": "b"}},
		Timestamp:  metav1.NewTime(time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)),
		Window:     metav1.Duration{Duration: 15 * time.Second},
		Usage:      corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1250m")},
		Pods: []PodUsage{{Namespace: "default", Name: "web", Containers: []ContainerUsage{
			{Name: "c", Usage: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}}}}},
	}
}

// The scheme decodes the documented JSON into the typed object, and
// DeepCopy shares nothing.
func TestSchemeRoundTrip(t *testing.T) {
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	in := sample()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	obj, gvk, err := serializer.NewCodecFactory(s).UniversalDeserializer().Decode(b, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if gvk.Kind != "NodeUsage" || gvk.GroupVersion() != SchemeGroupVersion {
		t.Fatalf("gvk %v", gvk)
	}
	out := obj.(*NodeUsage)
	if out.Window != in.Window || !out.Timestamp.Equal(&in.Timestamp) || len(out.Pods) != 1 ||
		out.Pods[0].Containers[0].Usage.Memory().String() != "64Mi" || out.Usage.Cpu().String() != "1250m" {
		t.Fatalf("decoded %+v", out)
	}

	c := in.DeepCopyObject().(*NodeUsage)
	if !reflect.DeepEqual(c, in) {
		t.Fatal("copy differs")
	}
	c.Labels["a"] = "x"
	c.Pods[0].Containers[0].Name = "x"
	c.Usage[corev1.ResourceCPU] = resource.MustParse("1")
	if in.Labels["a"] != "b" || in.Pods[0].Containers[0].Name != "c" || in.Usage.Cpu().String() != "1250m" {
		t.Fatal("copy shares state")
	}
	l := &NodeUsageList{Items: []NodeUsage{*in}}
	lc := l.DeepCopyObject().(*NodeUsageList)
	lc.Items[0].Pods[0].Name = "x"
	if l.Items[0].Pods[0].Name != "web" {
		t.Fatal("list copy shares state")
	}
	var nilUsage *NodeUsage
	if nilUsage.DeepCopy() != nil {
		t.Fatal("nil copy")
	}
}
