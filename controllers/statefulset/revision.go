package statefulset

// Revision history: every template a StatefulSet has run is a
// ControllerRevision named <set>-<hash>, whose data is a patch that puts
// the template back (what `kubectl rollout undo` applies) and whose
// revision number orders them. Pods carry the revision's name in the
// controller-revision-hash label. The hash is Kelson's own: FNV-32a of
// the template's JSON and the collision count, in the API's safe
// alphabet.

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/rand"
)

// HashTemplate is the stable hash of tmpl: equal templates (and equal
// collision counts) hash equally in every process and release.
func HashTemplate(tmpl *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	raw, err := json.Marshal(tmpl)
	if err != nil {
		// A PodTemplateSpec always marshals; keep the hash defined anyway.
		raw = []byte(err.Error())
	}
	h.Write(raw)
	if collisionCount != nil {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(*collisionCount))
		h.Write(b[:])
	}
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// revisionData is the revision's data: a strategic merge patch that
// replaces spec.template with tmpl.
func revisionData(tmpl *corev1.PodTemplateSpec) ([]byte, error) {
	raw, err := json.Marshal(tmpl)
	if err != nil {
		return nil, fmt.Errorf("statefulset: encode template: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("statefulset: encode template: %w", err)
	}
	m["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": m}})
}

// templateOf decodes the template a revision holds.
func templateOf(cr *appsv1.ControllerRevision) (*corev1.PodTemplateSpec, error) {
	raw := cr.Data.Raw
	if raw == nil && cr.Data.Object != nil {
		var err error
		if raw, err = json.Marshal(cr.Data.Object); err != nil {
			return nil, fmt.Errorf("statefulset: revision %s: %w", cr.Name, err)
		}
	}
	var patch struct {
		Spec struct {
			Template *corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(raw, &patch); err != nil {
		return nil, fmt.Errorf("statefulset: revision %s: %w", cr.Name, err)
	}
	if patch.Spec.Template == nil {
		return nil, fmt.Errorf("statefulset: revision %s holds no template", cr.Name)
	}
	return patch.Spec.Template, nil
}

// labelHash is the label holding a revision's hash.
const labelHash = "controller.kubernetes.io/hash"

// newRevision is the ControllerRevision of set's current template.
func newRevision(set *appsv1.StatefulSet, hash string, number int64) (*appsv1.ControllerRevision, error) {
	data, err := revisionData(&set.Spec.Template)
	if err != nil {
		return nil, err
	}
	labels := make(map[string]string, len(set.Spec.Template.Labels)+1)
	for k, v := range set.Spec.Template.Labels {
		labels[k] = v
	}
	labels[labelHash] = hash
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name:            revisionName(set.Name, hash),
			Namespace:       set.Namespace,
			Labels:          labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, controllerKind)},
		},
		Data:     runtime.RawExtension{Raw: data},
		Revision: number,
	}, nil
}

// revisionName is <set>-<hash>, the base cut so the name stays within
// 253 characters.
func revisionName(set, hash string) string {
	const max = 253
	if len(set)+1+len(hash) > max {
		set = set[:max-1-len(hash)]
	}
	return set + "-" + hash
}

// matchRevision finds the revision holding tmpl (nil if none) and the
// highest revision number of all.
func matchRevision(revs []*appsv1.ControllerRevision, tmpl *corev1.PodTemplateSpec) (match *appsv1.ControllerRevision, highest int64) {
	for _, cr := range revs {
		if cr.Revision > highest {
			highest = cr.Revision
		}
		t, err := templateOf(cr)
		if err != nil || !apiequality.Semantic.DeepEqual(t, tmpl) {
			continue
		}
		if match == nil || cr.Revision > match.Revision {
			match = cr
		}
	}
	return match, highest
}

// prunable lists the revisions to delete to keep at most limit old ones:
// the oldest first among those no pod runs (live holds the revision
// names pods carry) and that are neither current nor update.
func prunable(revs []*appsv1.ControllerRevision, current, update string, live map[string]bool, limit int32) []*appsv1.ControllerRevision {
	var old []*appsv1.ControllerRevision
	for _, cr := range revs {
		if cr.Name != current && cr.Name != update && !live[cr.Name] {
			old = append(old, cr)
		}
	}
	if limit < 0 {
		limit = 0
	}
	n := len(old) - int(limit)
	if n <= 0 {
		return nil
	}
	sort.Slice(old, func(i, j int) bool {
		if old[i].Revision != old[j].Revision {
			return old[i].Revision < old[j].Revision
		}
		return old[i].Name < old[j].Name
	})
	return old[:n]
}
