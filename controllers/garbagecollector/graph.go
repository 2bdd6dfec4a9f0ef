package garbagecollector

import (
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// Graph is the ownership graph: one node per observed object (by UID),
// plus a virtual node for every UID that ownerReferences name but that has
// not been observed (or was observed and is gone while dependents still
// name it). Edges run from an owner to the dependents whose
// ownerReferences name its UID.
//
// The graph is a pure data structure: Upsert and Remove apply one observed
// change and return the Effects, the work the change makes necessary. It
// is not safe for concurrent use; the collector serializes access.
//
// Invariants:
//   - every UID an observed node's ownerReferences name has a node, and
//     that node's dependents hold the observed node;
//   - a virtual node has at least one dependent (it is dropped with its
//     last one);
//   - what the graph says is present is a hint (it may lag the API);
//     what it says is absent is never acted on without asking the API.
type Graph struct {
	nodes map[types.UID]*node
}

type node struct {
	// obj is the observed object; for a virtual node only obj.Identity is
	// set, from the reference that created it or the object it was.
	obj        Object
	observed   bool
	dependents map[types.UID]*node
}

// NewGraph returns an empty graph.
func NewGraph() *Graph { return &Graph{nodes: map[types.UID]*node{}} }

// Effects is the work one change to the graph asks for. UIDs are listed
// once each, in a deterministic order.
type Effects struct {
	// Delete: attempt to delete now: dependents of an owner that is gone
	// or being deleted in the foreground, and foreground owners whose
	// dependents changed (they may be free to go).
	Delete []types.UID
	// Verify: attempt to delete after a short delay: dependents that name
	// an owner the graph has not observed, or whose reference does not
	// match the observed owner. The delay lets an owner's own event
	// arrive, so most need no API call.
	Verify []types.UID
	// Orphan: owners that entered deletion with the orphan finalizer.
	Orphan []types.UID

	seen map[effect]bool
}

type effectKind uint8

const (
	effDelete effectKind = iota
	effVerify
	effOrphan
)

type effect struct {
	kind effectKind
	uid  types.UID
}

// Empty reports whether there is nothing to do.
func (e Effects) Empty() bool { return len(e.Delete)+len(e.Verify)+len(e.Orphan) == 0 }

func (e *Effects) add(kind effectKind, uid types.UID) {
	if e.seen == nil {
		e.seen = map[effect]bool{}
	}
	k := effect{kind, uid}
	if e.seen[k] {
		return
	}
	e.seen[k] = true
	switch kind {
	case effDelete:
		e.Delete = append(e.Delete, uid)
	case effVerify:
		e.Verify = append(e.Verify, uid)
	case effOrphan:
		e.Orphan = append(e.Orphan, uid)
	}
}

// Merge appends o's work to e.
func (e *Effects) Merge(o Effects) {
	for _, u := range o.Delete {
		e.add(effDelete, u)
	}
	for _, u := range o.Verify {
		e.add(effVerify, u)
	}
	for _, u := range o.Orphan {
		e.add(effOrphan, u)
	}
}

// Upsert records an observed object (added or updated).
func (g *Graph) Upsert(obj Object) Effects {
	var eff Effects
	n := g.nodes[obj.UID]
	wasObserved := n != nil && n.observed
	var old Object
	switch {
	case n == nil:
		n = &node{}
		g.nodes[obj.UID] = n
	case wasObserved:
		old = n.obj
	}
	n.obj, n.observed = obj, true
	if !wasObserved {
		// The node was virtual: dependents whose references do not match
		// what the object turned out to be (another namespace, kind or
		// name) name something that is not there.
		for _, d := range n.sortedDependents() {
			if ref, ok := refTo(d.obj.Owners, obj.UID); ok && !refMatches(ref, d.obj.Namespace, obj.Identity) {
				eff.add(effVerify, d.obj.UID)
			}
		}
	}
	added, removed, changed := diffOwners(old.Owners, obj.Owners)
	for _, ref := range removed {
		g.unlink(n, ref.UID, &eff)
	}
	for _, ref := range added {
		g.link(n, ref, &eff)
	}
	for _, ref := range changed {
		o := g.nodes[ref.UID]
		if o == nil {
			g.link(n, ref, &eff)
			continue
		}
		if o.observed && o.obj.deletingDependents() {
			eff.add(effDelete, o.obj.UID) // may no longer be blocked
		}
		if !o.observed || !refMatches(ref, obj.Namespace, o.obj.Identity) {
			eff.add(effVerify, obj.UID)
		}
	}
	if obj.orphaning() && !old.orphaning() {
		eff.add(effOrphan, obj.UID)
	}
	if obj.deletingDependents() && !old.deletingDependents() {
		for _, d := range n.sortedDependents() {
			eff.add(effDelete, d.obj.UID)
		}
		eff.add(effDelete, obj.UID)
	}
	return eff
}

// Remove records that the object id was deleted. Its dependents are to be
// checked; if it has any, its node stays as a virtual node, since they
// still name it.
func (g *Graph) Remove(id Identity) Effects {
	var eff Effects
	n := g.nodes[id.UID]
	if n == nil || !n.observed {
		return eff
	}
	for _, ref := range n.obj.Owners {
		g.unlink(n, ref.UID, &eff)
	}
	if len(n.dependents) == 0 {
		delete(g.nodes, id.UID)
		return eff
	}
	n.obj, n.observed = Object{Identity: n.obj.Identity}, false
	for _, d := range n.sortedDependents() {
		eff.add(effDelete, d.obj.UID)
	}
	return eff
}

// RemoveResource forgets every object observed through resource res (its
// monitor stopped: the resource is no longer served), as if each were
// deleted.
func (g *Graph) RemoveResource(res schema.GroupVersionResource) Effects {
	var ids []Identity
	for _, n := range g.nodes {
		if n.observed && n.obj.Resource == res {
			ids = append(ids, n.obj.Identity)
		}
	}
	slices.SortFunc(ids, func(a, b Identity) int { return strings.Compare(string(a.UID), string(b.UID)) })
	var eff Effects
	for _, id := range ids {
		eff.Merge(g.Remove(id))
	}
	return eff
}

// link makes n a dependent of the node ref names, creating a virtual node
// for an owner not observed.
func (g *Graph) link(n *node, ref metav1.OwnerReference, eff *Effects) {
	o := g.nodes[ref.UID]
	if o == nil {
		o = &node{obj: Object{Identity: refIdentity(ref, n.obj.Namespace)}}
		g.nodes[ref.UID] = o
	}
	if o.dependents == nil {
		o.dependents = map[types.UID]*node{}
	}
	o.dependents[n.obj.UID] = n
	switch {
	case !o.observed || !refMatches(ref, n.obj.Namespace, o.obj.Identity):
		eff.add(effVerify, n.obj.UID)
	case o.obj.deletingDependents():
		eff.add(effDelete, n.obj.UID) // a new dependent of an owner being deleted in the foreground
	}
}

// unlink removes n from the dependents of the node with UID owner.
func (g *Graph) unlink(n *node, owner types.UID, eff *Effects) {
	o := g.nodes[owner]
	if o == nil {
		return
	}
	delete(o.dependents, n.obj.UID)
	if !o.observed {
		if len(o.dependents) == 0 {
			delete(g.nodes, owner)
		}
		return
	}
	if o.obj.deletingDependents() {
		eff.add(effDelete, owner)
	}
}

func (n *node) sortedDependents() []*node {
	out := make([]*node, 0, len(n.dependents))
	for _, d := range n.dependents {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b *node) int { return strings.Compare(string(a.obj.UID), string(b.obj.UID)) })
	return out
}

// refTo finds the reference to uid among refs.
func refTo(refs []metav1.OwnerReference, uid types.UID) (metav1.OwnerReference, bool) {
	for _, r := range refs {
		if r.UID == uid {
			return r, true
		}
	}
	return metav1.OwnerReference{}, false
}

// diffOwners compares two ownerReference lists by UID: references only in
// cur, only in old, and in both but different.
func diffOwners(old, cur []metav1.OwnerReference) (added, removed, changed []metav1.OwnerReference) {
	for _, r := range cur {
		o, ok := refTo(old, r.UID)
		switch {
		case !ok:
			added = append(added, r)
		case !sameRef(o, r):
			changed = append(changed, r)
		}
	}
	for _, r := range old {
		if _, ok := refTo(cur, r.UID); !ok {
			removed = append(removed, r)
		}
	}
	return added, removed, changed
}

func sameRef(a, b metav1.OwnerReference) bool {
	return a.APIVersion == b.APIVersion && a.Kind == b.Kind && a.Name == b.Name && a.UID == b.UID &&
		boolOf(a.BlockOwnerDeletion) == boolOf(b.BlockOwnerDeletion) && boolOf(a.Controller) == boolOf(b.Controller)
}

func boolOf(b *bool) bool { return b != nil && *b }

// OwnerView is what the graph knows of the owner one reference names.
type OwnerView struct {
	// Observed: the graph holds an object with the reference's UID
	// (Identity is then that object's).
	Observed bool
	Identity Identity
	// Matches: observed and the reference's coordinates name that object
	// (refMatches), so the graph can answer for it.
	Matches bool
	// DeletingDependents: observed and being deleted in the foreground.
	DeletingDependents bool
}

// Item is a node as a worker sees it, copied out of the graph.
type Item struct {
	Object
	// Observed is false for a virtual node.
	Observed bool
	// OwnerViews has one view per Object.Owners entry.
	OwnerViews []OwnerView
	// HasDependents: some object names this one as an owner.
	HasDependents bool
	// DependentDeletingDependents: one of those dependents is itself being
	// deleted in the foreground (a cycle to guard against).
	DependentDeletingDependents bool
}

// Item returns the node of uid as a worker sees it.
func (g *Graph) Item(uid types.UID) (Item, bool) {
	n := g.nodes[uid]
	if n == nil {
		return Item{}, false
	}
	it := g.ItemFor(n.obj)
	it.Observed = n.observed
	return it, true
}

// ItemFor is obj (e.g. as just read from the API, fresher than the graph)
// with what the graph knows of its owners and dependents.
func (g *Graph) ItemFor(obj Object) Item {
	it := Item{Object: obj, Observed: true}
	if n := g.nodes[obj.UID]; n != nil {
		it.HasDependents = len(n.dependents) > 0
		for _, d := range n.dependents {
			if d.obj.deletingDependents() {
				it.DependentDeletingDependents = true
				break
			}
		}
	}
	for _, ref := range obj.Owners {
		var v OwnerView
		if o := g.nodes[ref.UID]; o != nil && o.observed {
			v = OwnerView{Observed: true, Identity: o.obj.Identity,
				Matches:            refMatches(ref, obj.Namespace, o.obj.Identity),
				DeletingDependents: o.obj.deletingDependents()}
		}
		it.OwnerViews = append(it.OwnerViews, v)
	}
	return it
}

// Dependents returns copies of the objects that name uid as an owner, in
// UID order.
func (g *Graph) Dependents(uid types.UID) []Object {
	n := g.nodes[uid]
	if n == nil {
		return nil
	}
	var out []Object
	for _, d := range n.sortedDependents() {
		out = append(out, d.obj)
	}
	return out
}

// Blocking counts the dependents that keep uid, being deleted in the
// foreground, from going: those whose reference to it matches it and sets
// blockOwnerDeletion. A dependent with an unresolvable reference does not
// block (it would block forever).
func (g *Graph) Blocking(uid types.UID) int {
	n := g.nodes[uid]
	if n == nil {
		return 0
	}
	count := 0
	for duid, d := range n.dependents {
		if duid == uid {
			continue // an object naming itself does not wait for itself
		}
		ref, ok := refTo(d.obj.Owners, uid)
		if ok && boolOf(ref.BlockOwnerDeletion) && refMatches(ref, d.obj.Namespace, n.obj.Identity) {
			count++
		}
	}
	return count
}

// Size is the number of nodes, and of those the virtual ones.
func (g *Graph) Size() (nodes, virtual int) {
	for _, n := range g.nodes {
		if !n.observed {
			virtual++
		}
	}
	return len(g.nodes), virtual
}
