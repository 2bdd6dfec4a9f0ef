package deployment

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"

	"github.com/kelson-dev/kelson/controllers/ownerref"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
)

// TemplateHash is the pod-template-hash of a template: FNV-1a over its
// JSON encoding (deterministic: struct fields in order, map keys sorted),
// then over the collision count when there is one, written with
// apimachinery's safe alphabet (no vowels, so no words). Stable for a
// given template and k8s.io/api version; not Kubernetes' own value.
func TemplateHash(t *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	b, err := json.Marshal(t)
	if err != nil {
		// cannot happen for these types; still hash something stable
		b = []byte(fmt.Sprintf("%#v", *t))
	}
	h.Write(b)
	if collisionCount != nil {
		fmt.Fprintf(h, "/collision=%d", *collisionCount)
	}
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// EqualIgnoreHash reports whether two pod templates are the same but for
// the pod-template-hash label.
func EqualIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, LabelPodTemplateHash)
	delete(b.Labels, LabelPodTemplateHash)
	return apiequality.Semantic.DeepEqual(a, b)
}

// newReplicaSet is the ReplicaSet for d's current template: named
// "<deployment>-<hash>", the hash added to its selector, labels and
// template labels, controlled by d.
func newReplicaSet(d *appsv1.Deployment, hash string) *appsv1.ReplicaSet {
	t := d.Spec.Template.DeepCopy()
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	t.Labels[LabelPodTemplateHash] = hash
	sel := d.Spec.Selector.DeepCopy()
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[LabelPodTemplateHash] = hash
	lbl := make(map[string]string, len(t.Labels))
	for k, v := range t.Labels {
		lbl[k] = v
	}
	rs := &appsv1.ReplicaSet{}
	rs.Name = d.Name + "-" + hash
	rs.Namespace = d.Namespace
	rs.Labels = lbl
	rs.OwnerReferences = []metav1.OwnerReference{ownerref.ControllerRef(d, kindDeployment)}
	rs.Spec = appsv1.ReplicaSetSpec{
		Selector:        sel,
		Template:        *t,
		MinReadySeconds: d.Spec.MinReadySeconds,
	}
	return rs
}
