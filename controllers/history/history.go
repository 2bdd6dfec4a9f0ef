package history

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/rand"
	appsclient "k8s.io/client-go/kubernetes/typed/apps/v1"
	appslisters "k8s.io/client-go/listers/apps/v1"
)

// ErrCollision: the revision name for the owner's template is taken by
// another template; the owner's collision count was raised and the next
// sync uses a new hash.
var ErrCollision = errors.New("revision hash collision")

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

// data is a revision's data: a strategic merge patch that replaces
// spec.template with tmpl.
func data(tmpl *corev1.PodTemplateSpec) ([]byte, error) {
	raw, err := json.Marshal(tmpl)
	if err != nil {
		return nil, fmt.Errorf("encode template: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("encode template: %w", err)
	}
	m["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": m}})
}

// Template decodes the template a revision holds.
func Template(cr *appsv1.ControllerRevision) (*corev1.PodTemplateSpec, error) {
	raw := cr.Data.Raw
	if raw == nil && cr.Data.Object != nil {
		var err error
		if raw, err = json.Marshal(cr.Data.Object); err != nil {
			return nil, fmt.Errorf("revision %s: %w", cr.Name, err)
		}
	}
	var patch struct {
		Spec struct {
			Template *corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(raw, &patch); err != nil {
		return nil, fmt.Errorf("revision %s: %w", cr.Name, err)
	}
	if patch.Spec.Template == nil {
		return nil, fmt.Errorf("revision %s holds no template", cr.Name)
	}
	return patch.Spec.Template, nil
}

// Owner is the workload whose templates are recorded.
type Owner struct {
	Object         metav1.Object           // the DaemonSet or StatefulSet
	Kind           schema.GroupVersionKind // its kind, for the controller reference
	Template       *corev1.PodTemplateSpec // its current template
	CollisionCount *int32                  // its status.collisionCount
	HashLabel      string                  // the label a revision's hash goes in
}

// New is the revision numbered number of o's template, whose hash is hash.
func New(o Owner, hash string, number int64) (*appsv1.ControllerRevision, error) {
	raw, err := data(o.Template)
	if err != nil {
		return nil, err
	}
	lbls := make(map[string]string, len(o.Template.Labels)+1)
	for k, v := range o.Template.Labels {
		lbls[k] = v
	}
	lbls[o.HashLabel] = hash
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name:            Name(o.Object.GetName(), hash),
			Namespace:       o.Object.GetNamespace(),
			Labels:          lbls,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(o.Object, o.Kind)},
		},
		Data:     runtime.RawExtension{Raw: raw},
		Revision: number,
	}, nil
}

// Name is <owner>-<hash>, the owner's name cut so the result stays within
// 253 characters.
func Name(owner, hash string) string {
	const max = 253
	if len(owner)+1+len(hash) > max {
		owner = owner[:max-1-len(hash)]
	}
	return owner + "-" + hash
}

// Match finds the revision holding tmpl (the highest numbered if several;
// nil if none) and the highest revision number of all.
func Match(revs []*appsv1.ControllerRevision, tmpl *corev1.PodTemplateSpec) (match *appsv1.ControllerRevision, highest int64) {
	for _, cr := range revs {
		if cr.Revision > highest {
			highest = cr.Revision
		}
		t, err := Template(cr)
		if err != nil || !apiequality.Semantic.DeepEqual(t, tmpl) {
			continue
		}
		if match == nil || cr.Revision > match.Revision {
			match = cr
		}
	}
	return match, highest
}

// HashOf is the hash a revision's pods carry: its hashLabel, or its name
// when it has none.
func HashOf(cr *appsv1.ControllerRevision, hashLabel string) string {
	if h := cr.Labels[hashLabel]; h != "" {
		return h
	}
	return cr.Name
}

// Prunable lists the revisions to delete so that at most limit of those
// keep does not hold remain: the oldest (lowest number, then name) first.
func Prunable(revs []*appsv1.ControllerRevision, keep func(*appsv1.ControllerRevision) bool, limit int32) []*appsv1.ControllerRevision {
	var old []*appsv1.ControllerRevision
	for _, cr := range revs {
		if !keep(cr) {
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

// Sync makes sure o's template has a revision with the highest number,
// and returns o's revisions (that one included) and that one. It lists
// from lister and writes through api. When the name is taken by another
// template (or owner), it calls raise with the next collision count (the
// caller writes it to the owner's status) and fails with ErrCollision.
// Errors name the revision, not the owner: callers add that.
func Sync(ctx context.Context, lister appslisters.ControllerRevisionLister, api appsclient.ControllerRevisionInterface,
	o Owner, raise func(ctx context.Context, next int32) error) ([]*appsv1.ControllerRevision, *appsv1.ControllerRevision, error) {
	all, err := lister.ControllerRevisions(o.Object.GetNamespace()).List(labels.Everything())
	if err != nil {
		return nil, nil, err
	}
	var revs []*appsv1.ControllerRevision
	for _, cr := range all {
		if ref := metav1.GetControllerOf(cr); ref != nil && ref.UID == o.Object.GetUID() {
			revs = append(revs, cr)
		}
	}
	match, highest := Match(revs, o.Template)
	if match != nil {
		if match.Revision == highest {
			return revs, match, nil
		}
		// Back to an older template (a rollback): it becomes the newest.
		cp := match.DeepCopy()
		cp.Revision = highest + 1
		got, err := api.Update(ctx, cp, metav1.UpdateOptions{})
		if err != nil {
			return nil, nil, fmt.Errorf("renumber revision %s: %w", cp.Name, err)
		}
		return replace(revs, got), got, nil
	}
	cr, err := New(o, HashTemplate(o.Template, o.CollisionCount), highest+1)
	if err != nil {
		return nil, nil, err
	}
	got, err := api.Create(ctx, cr, metav1.CreateOptions{})
	if err == nil {
		return append(revs, got), got, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return nil, nil, fmt.Errorf("create revision: %w", err)
	}
	existing, gerr := api.Get(ctx, cr.Name, metav1.GetOptions{})
	if gerr != nil {
		return nil, nil, fmt.Errorf("read revision %s: %w", cr.Name, gerr)
	}
	if ref := metav1.GetControllerOf(existing); ref != nil && ref.UID == o.Object.GetUID() {
		if t, terr := Template(existing); terr == nil && apiequality.Semantic.DeepEqual(t, o.Template) {
			return append(revs, existing), existing, nil // the cache was behind
		}
	}
	// Another template (or owner) has this name: count a collision, which
	// changes the hash, and retry.
	next := int32(1)
	if o.CollisionCount != nil {
		next = *o.CollisionCount + 1
	}
	if err := raise(ctx, next); err != nil {
		return nil, nil, fmt.Errorf("raise collision count: %w", err)
	}
	return nil, nil, fmt.Errorf("%w: %s", ErrCollision, cr.Name)
}

// replace is revs with cr in place of the revision of the same UID.
func replace(revs []*appsv1.ControllerRevision, cr *appsv1.ControllerRevision) []*appsv1.ControllerRevision {
	out := make([]*appsv1.ControllerRevision, 0, len(revs))
	for _, r := range revs {
		if r.UID != cr.UID {
			out = append(out, r)
		}
	}
	return append(out, cr)
}
