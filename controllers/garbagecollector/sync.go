package garbagecollector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
)

// API is the narrow interface through which the collector reads and
// changes the cluster; all its writes are conditional on the object's UID
// (and, when decided from a cached view, its resourceVersion or the exact
// entries a patch changes). The real one is the metadata client; tests
// use an in-memory one.
type API interface {
	Get(ctx context.Context, res schema.GroupVersionResource, namespace, name string) (*metav1.PartialObjectMetadata, error)
	Delete(ctx context.Context, res schema.GroupVersionResource, namespace, name string, opts metav1.DeleteOptions) error
	// Patch applies a JSON patch (RFC 6902).
	Patch(ctx context.Context, res schema.GroupVersionResource, namespace, name string, jsonPatch []byte) error
}

// lockedGraph is the graph shared by the informers' handlers (writers)
// and the workers (readers).
type lockedGraph struct {
	mu sync.Mutex
	g  *Graph
}

// observe applies a change seen by monitor m, unless m was retired (a
// stopped informer may still deliver an event or two).
func (l *lockedGraph) observe(m *monitor, change func(g *Graph) Effects) Effects {
	l.mu.Lock()
	defer l.mu.Unlock()
	if m != nil && m.retired {
		return Effects{}
	}
	return change(l.g)
}

// retire forgets everything monitor m observed; its late events are
// ignored.
func (l *lockedGraph) retire(m *monitor) Effects {
	l.mu.Lock()
	defer l.mu.Unlock()
	m.retired = true
	return l.g.RemoveResource(m.res.GVR)
}

func (l *lockedGraph) item(uid types.UID) (Item, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.g.Item(uid)
}

func (l *lockedGraph) itemFor(obj Object) Item {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.g.ItemFor(obj)
}

func (l *lockedGraph) dependents(uid types.UID) []Object {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.g.Dependents(uid)
}

func (l *lockedGraph) blocking(uid types.UID) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.g.Blocking(uid)
}

func (l *lockedGraph) size() (int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.g.Size()
}

// counters are the collector's metrics (see Stats).
type counters struct {
	ownerLookups, dependentReads, deletes, patches, invalidRefs atomic.Int64
}

// collector is the decision-and-IO core: it takes one queued UID, reads
// the graph (and the API only where the graph cannot be trusted), decides
// with the pure functions of decide.go and writes through API. It holds no
// goroutines; the GarbageCollector runs it from its workers, tests call it
// directly.
type collector struct {
	api      API
	graph    *lockedGraph
	absent   *absentCache
	mapping  func(apiVersion, kind string) (apiResource, error)
	recorder record.EventRecorder
	log      *slog.Logger
	stats    *counters
	lookups  lookups
}

// attemptToDelete handles one UID of the delete queue: a dependent whose
// owners may be gone, or an owner being deleted in the foreground.
func (c *collector) attemptToDelete(ctx context.Context, uid types.UID) error {
	it, ok := c.graph.item(uid)
	switch {
	case !ok || !it.Observed:
		return nil // gone, or only named by references (its dependents are checked instead)
	case it.deletingDependents():
		return c.processForeground(ctx, it)
	case it.Deleting:
		return nil // being deleted already (a grace period or someone's finalizer)
	case len(it.Object.Owners) == 0:
		return nil
	}
	return c.processDependent(ctx, it, false)
}

// processDependent decides about one dependent from it (the graph's view
// when live is false, a fresh read when true) and acts.
func (c *collector) processDependent(ctx context.Context, it Item, live bool) error {
	states := make([]ownerState, len(it.Object.Owners))
	for i := range it.Object.Owners {
		s, err := c.resolve(ctx, it, i)
		if err != nil {
			return err
		}
		states[i] = s
	}
	p := decideDependent(it, states)
	if p.action != actNone {
		c.log.Debug("garbage collector decision", "object", it.Identity.String(), "action", p.action.String(),
			"policy", string(p.policy), "why", p.why, "owners", fmt.Sprint(states), "live", live)
	}
	var err error
	switch p.action {
	case actNone:
		return nil
	case actReportInvalid:
		for i, ref := range it.Object.Owners {
			if slices.Contains(p.invalid, ref.UID) {
				c.reportInvalid(it, ref, it.OwnerViews[i].Identity.Namespace)
			}
		}
		return nil
	case actRemoveRefs:
		if patch, ok := removeRefsPatch(it.Object, p.remove); ok {
			err = c.patch(ctx, it.Object, patch)
		}
	case actDelete:
		obj := it.Object
		if patch, ok := unblockRefsPatch(obj, p.unblock); ok {
			err = c.patch(ctx, obj, patch)
			// The patch tested the references it changed; the decision
			// still holds for the object it made.
			obj.ResourceVersion = ""
		}
		if err == nil {
			err = c.delete(ctx, obj, p.policy)
		}
	}
	if err == nil || apierrors.IsNotFound(err) {
		return nil
	}
	if live || !stale(err) {
		return err
	}
	// Decided from a view that was stale: read the object and decide again.
	fresh, ok, err := c.read(ctx, it.Object)
	if err != nil || !ok {
		return err
	}
	if fresh.Deleting || len(fresh.Owners) == 0 {
		return nil // its update will reach the graph and queue it if need be
	}
	return c.processDependent(ctx, c.graph.itemFor(fresh), true)
}

// resolve finds the state of it's i-th owner: from the graph when it has
// observed the owner the reference names, else from the cache of owners
// known absent, else from the API.
func (c *collector) resolve(ctx context.Context, it Item, i int) (ownerState, error) {
	ref, view := it.Object.Owners[i], it.OwnerViews[i]
	if view.Matches {
		if view.DeletingDependents {
			return ownerWaiting, nil
		}
		return ownerSolid, nil
	}
	ar, err := c.mapping(ref.APIVersion, ref.Kind)
	if err != nil {
		return 0, err
	}
	if it.Namespace == "" && ar.Namespaced {
		return ownerInvalid, nil
	}
	ns := ""
	if ar.Namespaced {
		ns = it.Namespace
	}
	key := Identity{APIVersion: ar.GVR.Group, Kind: ref.Kind, Namespace: ns, Name: ref.Name, UID: ref.UID}
	state, err := c.lookups.do(key, func() (ownerState, error) {
		if c.absent.Has(key) {
			return ownerDangling, nil
		}
		c.stats.ownerLookups.Add(1)
		m, err := c.api.Get(ctx, ar.GVR, ns, ref.Name)
		switch {
		case apierrors.IsNotFound(err):
			c.absent.Add(key)
			return ownerDangling, nil
		case err != nil:
			return 0, fmt.Errorf("garbagecollector: look up owner %s %s of %s: %w", ref.Kind, ref.Name, it.Identity, err)
		case m.UID != ref.UID:
			c.absent.Add(key)
			return ownerDangling, nil
		case m.DeletionTimestamp != nil && slices.Contains(m.Finalizers, finalizerForeground):
			return ownerWaiting, nil
		}
		return ownerSolid, nil
	})
	if err != nil {
		return 0, err
	}
	if state == ownerDangling && view.Observed && view.Identity.Namespace != "" && view.Identity.Namespace != it.Namespace {
		c.reportInvalid(it, ref, view.Identity.Namespace)
	}
	return state, nil
}

// lookups coalesces concurrent lookups of one owner: the dependents of an
// owner just deleted are handled by many workers at once, and should cost
// one GET between them. The zero value is ready.
type lookups struct {
	mu       sync.Mutex
	inFlight map[Identity]*lookup
}

type lookup struct {
	done  chan struct{}
	state ownerState
	err   error
}

// do runs f for key, or waits for the run already in flight and shares
// its result.
func (l *lookups) do(key Identity, f func() (ownerState, error)) (ownerState, error) {
	l.mu.Lock()
	if cur, ok := l.inFlight[key]; ok {
		l.mu.Unlock()
		<-cur.done
		return cur.state, cur.err
	}
	if l.inFlight == nil {
		l.inFlight = map[Identity]*lookup{}
	}
	cur := &lookup{done: make(chan struct{})}
	l.inFlight[key] = cur
	l.mu.Unlock()

	cur.state, cur.err = f()
	l.mu.Lock()
	delete(l.inFlight, key)
	l.mu.Unlock()
	close(cur.done)
	return cur.state, cur.err
}

// processForeground finishes a foreground deletion once no dependent
// blocks it: the foregroundDeletion finalizer goes, and with it (unless
// other finalizers remain) the object.
func (c *collector) processForeground(ctx context.Context, it Item) error {
	if n := c.graph.blocking(it.UID); n > 0 {
		c.log.Debug("garbage collector: foreground deletion waits for dependents", "object", it.Identity.String(), "blocking", n)
		return nil
	}
	c.log.Debug("garbage collector: foreground deletion done; removing the finalizer", "object", it.Identity.String())
	return c.patchFresh(ctx, it.Object, func(o Object) ([]byte, bool) { return removeFinalizerPatch(o, finalizerForeground) })
}

// attemptToOrphan handles one UID of the orphan queue: every dependent
// loses its reference to the owner, then the owner its orphan finalizer.
func (c *collector) attemptToOrphan(ctx context.Context, uid types.UID) error {
	it, ok := c.graph.item(uid)
	if !ok || !it.Observed || !it.orphaning() {
		return nil
	}
	var errs []error
	for _, d := range c.graph.dependents(uid) {
		c.log.Debug("garbage collector: orphaning", "dependent", d.Identity.String(), "owner", it.Identity.String())
		err := c.patchFresh(ctx, d, func(o Object) ([]byte, bool) { return removeRefsPatch(o, []types.UID{uid}) })
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return c.patchFresh(ctx, it.Object, func(o Object) ([]byte, bool) { return removeFinalizerPatch(o, finalizerOrphan) })
}

// patchFresh applies the patch build makes from obj; if obj was stale, it
// reads the object and builds the patch again from what it read. A build
// that finds nothing to change, or an object gone, is success.
func (c *collector) patchFresh(ctx context.Context, obj Object, build func(Object) ([]byte, bool)) error {
	patch, ok := build(obj)
	if !ok {
		return nil
	}
	err := c.patch(ctx, obj, patch)
	if err == nil || apierrors.IsNotFound(err) {
		return nil
	}
	if !stale(err) {
		return err
	}
	fresh, ok, err := c.read(ctx, obj)
	if err != nil || !ok {
		return err
	}
	if patch, ok = build(fresh); !ok {
		return nil
	}
	if err := c.patch(ctx, fresh, patch); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

// read gets obj from the API; ok is false when it is gone (not found, or
// its name now holds another UID).
func (c *collector) read(ctx context.Context, obj Object) (Object, bool, error) {
	c.stats.dependentReads.Add(1)
	m, err := c.api.Get(ctx, obj.Resource, obj.Namespace, obj.Name)
	if apierrors.IsNotFound(err) {
		return Object{}, false, nil
	}
	if err != nil {
		return Object{}, false, fmt.Errorf("garbagecollector: read %s: %w", obj.Identity, err)
	}
	if m.UID != obj.UID {
		return Object{}, false, nil
	}
	fresh := objectFrom(m, obj.Resource, obj.Kind)
	fresh.APIVersion = obj.APIVersion
	return fresh, true, nil
}

func (c *collector) patch(ctx context.Context, obj Object, patch []byte) error {
	c.stats.patches.Add(1)
	err := c.api.Patch(ctx, obj.Resource, obj.Namespace, obj.Name, patch)
	if err != nil && !apierrors.IsNotFound(err) && !stale(err) {
		return fmt.Errorf("garbagecollector: patch %s: %w", obj.Identity, err)
	}
	return err
}

// delete deletes obj with policy, on condition that it is still the
// object decided about (same UID, and same resourceVersion).
func (c *collector) delete(ctx context.Context, obj Object, policy metav1.DeletionPropagation) error {
	c.stats.deletes.Add(1)
	uid := obj.UID
	pre := &metav1.Preconditions{UID: &uid}
	if obj.ResourceVersion != "" {
		rv := obj.ResourceVersion
		pre.ResourceVersion = &rv
	}
	c.log.Debug("garbage collector: deleting", "object", obj.Identity.String(), "propagationPolicy", string(policy))
	err := c.api.Delete(ctx, obj.Resource, obj.Namespace, obj.Name, metav1.DeleteOptions{Preconditions: pre, PropagationPolicy: &policy})
	if err != nil && !apierrors.IsNotFound(err) && !stale(err) {
		return fmt.Errorf("garbagecollector: delete %s: %w", obj.Identity, err)
	}
	return err
}

// stale reports whether a write failed because the object changed since
// it was read: a failed precondition (409) or a failed test of a JSON
// patch (422).
func stale(err error) bool {
	return apierrors.IsConflict(err) || apierrors.IsInvalid(err)
}

// reportInvalid records OwnerRefInvalidNamespace on the dependent of an
// ownerReference that cannot name its owner: a namespaced owner named
// from another namespace (ownerNS is where it is), or any namespaced kind
// named by a cluster-scoped dependent.
func (c *collector) reportInvalid(it Item, ref metav1.OwnerReference, ownerNS string) {
	c.stats.invalidRefs.Add(1)
	c.log.Debug("garbage collector: invalid ownerReference", "object", it.Identity.String(), "owner", ref.Kind+"/"+ref.Name, "ownerNamespace", ownerNS)
	if c.recorder == nil {
		return
	}
	involved := &corev1.ObjectReference{APIVersion: it.APIVersion, Kind: it.Kind, Namespace: it.Namespace, Name: it.Name, UID: it.UID}
	c.recorder.Eventf(involved, corev1.EventTypeWarning, "OwnerRefInvalidNamespace",
		"ownerRef [%s/%s, namespace: %s, name: %s, uid: %s] does not exist in namespace %q",
		ref.APIVersion, ref.Kind, ownerNS, ref.Name, ref.UID, it.Namespace)
}
