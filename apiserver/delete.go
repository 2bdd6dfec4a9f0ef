package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kelson-dev/kelson/apiserver/admission"
)

// Finalizers the API server adds for deletion propagation; the garbage
// collector removes them once dependents are handled.
const (
	finalizerOrphan     = metav1.FinalizerOrphanDependents
	finalizerForeground = metav1.FinalizerDeleteDependents
)

// deleteOptions reads DeleteOptions from the body (if any) and the query.
func (s *Server) deleteOptions(w http.ResponseWriter, r *http.Request) (metav1.DeleteOptions, error) {
	var opts metav1.DeleteOptions
	if err := s.decodeQuery(r, &opts); err != nil {
		return opts, err
	}
	body, err := readBody(r)
	if err != nil {
		return opts, err
	}
	if len(body) > 0 {
		info, err := s.requestSerializer(r)
		if err != nil {
			return opts, err
		}
		gvk := metav1.SchemeGroupVersion.WithKind("DeleteOptions")
		obj, _, err := info.Serializer.Decode(body, &gvk, &metav1.DeleteOptions{})
		if err != nil && !runtime.IsStrictDecodingError(err) {
			return opts, badRequest("the body is not valid DeleteOptions: %v", err)
		}
		if do, ok := obj.(*metav1.DeleteOptions); ok {
			fromQuery := opts
			opts = *do
			if opts.PropagationPolicy == nil {
				opts.PropagationPolicy = fromQuery.PropagationPolicy
			}
			if opts.GracePeriodSeconds == nil {
				opts.GracePeriodSeconds = fromQuery.GracePeriodSeconds
			}
			if len(opts.DryRun) == 0 {
				opts.DryRun = fromQuery.DryRun
			}
		}
	}
	for _, d := range opts.DryRun {
		if d != metav1.DryRunAll {
			return opts, badRequest("Invalid dryRun value: %q: valid values are All", d)
		}
	}
	if p := opts.PropagationPolicy; p != nil && *p != metav1.DeletePropagationBackground &&
		*p != metav1.DeletePropagationForeground && *p != metav1.DeletePropagationOrphan {
		return opts, badRequest("propagationPolicy %q is not one of Orphan, Background, Foreground", *p)
	}
	if opts.OrphanDependents != nil && opts.PropagationPolicy != nil {
		return opts, badRequest("orphanDependents and propagationPolicy cannot both be set")
	}
	return opts, nil
}

// serveDelete: DELETE of one object.
func (s *Server) serveDelete(w http.ResponseWriter, r *http.Request, res *resource, ri requestInfo) error {
	out, err := s.negotiate(r, res)
	if err != nil {
		return err
	}
	opts, err := s.deleteOptions(w, r)
	if err != nil {
		return err
	}
	obj, err := s.deleteObject(r.Context(), res, ri.Namespace, ri.Name, &opts)
	if err != nil {
		return err
	}
	return s.respond(w, r, out, http.StatusOK, res, obj)
}

// deleteObject deletes one object, or marks it for deletion when
// finalizers, propagation or a pod's grace period say it must wait. It
// returns the object as it was last.
func (s *Server) deleteObject(ctx context.Context, res *resource, ns, name string, opts *metav1.DeleteOptions) (runtime.Object, error) {
	dryRun := len(opts.DryRun) > 0
	for attempt := 0; ; attempt++ {
		cur, err := s.get(ctx, res, ns, name)
		if err != nil {
			return nil, err
		}
		m := metaOf(cur)
		if p := opts.Preconditions; p != nil {
			if p.UID != nil && *p.UID != m.GetUID() {
				return nil, apierrors.NewConflict(res.groupResource(), name,
					fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, m.GetUID()))
			}
			if p.ResourceVersion != nil && *p.ResourceVersion != m.GetResourceVersion() {
				return nil, apierrors.NewConflict(res.groupResource(), name,
					fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, m.GetResourceVersion()))
			}
		}
		if err := s.admitOther(ctx, admission.Delete, res, "", ns, name, nil, cur, dryRun); err != nil {
			return nil, err
		}
		rev := revOf(cur)
		next, wait := markForDeletion(res, cur.DeepCopyObject(), opts, time.Now())
		if wait {
			if dryRun {
				return next, nil
			}
			written, err := s.replace(ctx, res, next, rev, nil, nil)
			if apierrors.IsConflict(err) && attempt < 16 {
				continue
			}
			return written, err
		}
		if dryRun {
			return cur, nil
		}
		release, err := s.release(ctx, res, cur)
		if err != nil {
			return nil, err
		}
		if _, err := s.remove(ctx, res, ns, name, rev, release); err != nil {
			if apierrors.IsConflict(err) && attempt < 16 {
				continue
			}
			return nil, err
		}
		return cur, nil
	}
}

// markForDeletion decides whether obj can go now or must wait: for its
// finalizers, for the finalizer its propagation policy adds, for a
// namespace's contents, or for a bound pod's graceful termination. When
// it must wait, obj (the caller's copy) is returned marked: a
// deletionTimestamp, the finalizers, a namespace's Terminating phase.
func markForDeletion(res *resource, obj runtime.Object, opts *metav1.DeleteOptions, now time.Time) (runtime.Object, bool) {
	m := metaOf(obj)
	finalizers := m.GetFinalizers()
	policy := opts.PropagationPolicy
	if policy == nil && opts.OrphanDependents != nil {
		p := metav1.DeletePropagationBackground
		if *opts.OrphanDependents {
			p = metav1.DeletePropagationOrphan
		}
		policy = &p
	}
	if policy != nil && m.GetDeletionTimestamp() == nil {
		switch *policy {
		case metav1.DeletePropagationOrphan:
			finalizers = addString(finalizers, finalizerOrphan)
		case metav1.DeletePropagationForeground:
			finalizers = addString(finalizers, finalizerForeground)
		}
	}
	var grace *int64
	switch o := obj.(type) {
	case *corev1.Namespace:
		o.Status.Phase = corev1.NamespaceTerminating
		if len(o.Spec.Finalizers) > 0 {
			setDeletionTimestamp(m, now, nil)
			m.SetFinalizers(finalizers)
			return obj, true
		}
	case *corev1.Pod:
		grace = podGrace(o, opts)
	}
	if len(finalizers) == 0 && grace == nil {
		return obj, false
	}
	setDeletionTimestamp(m, now, grace)
	m.SetFinalizers(finalizers)
	return obj, true
}

func setDeletionTimestamp(m metav1.Object, now time.Time, grace *int64) {
	if m.GetDeletionTimestamp() == nil {
		var g int64
		if grace != nil {
			g = *grace
		}
		t := metav1.NewTime(now.Add(time.Duration(g) * time.Second).Truncate(time.Second))
		m.SetDeletionTimestamp(&t)
	}
	// No grace (nil) means nothing to wait for any more: also when an
	// earlier delete gave one (a pod that has since finished), so the
	// object goes once its finalizers do.
	if grace == nil {
		zero := int64(0)
		grace = &zero
	}
	m.SetDeletionGracePeriodSeconds(grace)
}

// podGrace is how long a pod's deletion waits for its node agent to stop
// it: nil when it can go at once (not bound to a node, already finished,
// or grace 0).
func podGrace(p *corev1.Pod, opts *metav1.DeleteOptions) *int64 {
	if p.Spec.NodeName == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return nil
	}
	g := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if p.Spec.TerminationGracePeriodSeconds != nil {
		g = *p.Spec.TerminationGracePeriodSeconds
	}
	if opts.GracePeriodSeconds != nil {
		g = *opts.GracePeriodSeconds
	}
	if p.DeletionGracePeriodSeconds != nil && *p.DeletionGracePeriodSeconds < g {
		g = *p.DeletionGracePeriodSeconds
	}
	if g <= 0 {
		return nil
	}
	return &g
}

func addString(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// serveDeleteCollection: DELETE of a collection: every object matching
// the selectors, one by one; the answer is the list of what was deleted.
func (s *Server) serveDeleteCollection(w http.ResponseWriter, r *http.Request, res *resource, ri requestInfo) error {
	out, err := s.negotiate(r, res)
	if err != nil {
		return err
	}
	var lopts metav1.ListOptions
	if err := s.decodeQuery(r, &lopts); err != nil {
		return err
	}
	sel, err := s.parseSelector(res, &lopts)
	if err != nil {
		return err
	}
	opts, err := s.deleteOptions(w, r)
	if err != nil {
		return err
	}
	if err := s.waitCache(r.Context(), res, "", ""); err != nil {
		return err
	}
	objs, rev := res.cache.List(res.listPrefix(ri.Namespace))
	match := sel.matcher(res)
	var deleted []runtime.Object
	for _, o := range objs {
		if match != nil && !match(o.Obj) {
			continue
		}
		m := metaOf(o.Obj)
		d, err := s.deleteObject(r.Context(), res, m.GetNamespace(), m.GetName(), &opts)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		deleted = append(deleted, d)
	}
	return s.respondList(w, r, out, res, deleted, rev, "", nil)
}
