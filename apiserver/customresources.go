package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/kelson-dev/kelson/apiserver/kinds"
	"github.com/kelson-dev/kelson/apiserver/openapi"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// The CRD registrar: one goroutine per Server (runCRDs) follows the CRD
// watch cache and, on every change, (1) decides which CRDs' names are
// accepted, (2) builds the resources of their served versions, starts
// their caches and publishes a new resource table, stopping the caches of
// resources no longer served, (3) writes each CRD's status (acceptedNames,
// NamesAccepted and Established) when it differs from what it should be,
// and (4) finishes the deletion of terminating CRDs: deletes their custom
// resources, then removes the customresourcecleanup finalizer.
//
// Every server runs it over its own cache, so a CRD created through any
// server is served by all; the decisions are a pure function of the CRD
// list (names are given to the oldest CRD first), so the servers agree and
// their status writes are identical (a write that changes nothing is not
// made).

var crdGVR = apiextensionsv1.SchemeGroupVersion.WithResource("customresourcedefinitions")

// customState is what the registrar serves of one CRD.
type customState struct {
	uid         string
	generation  int64
	terminating bool
	resources   []*resource // one per served version; nil if names not accepted
}

// crdResyncInterval bounds how long a terminating CRD waits for another
// cleanup attempt when nothing else changes.
const crdResyncInterval = 2 * time.Second

// runCRDs is the registrar loop; it ends with ctx. wg tracks the caches it
// starts.
func (s *Server) runCRDs(ctx context.Context, wg *sync.WaitGroup) {
	crdRes := s.lookup(crdGVR)
	if err := crdRes.cache.WaitReady(ctx); err != nil {
		return
	}
	w, err := crdRes.cache.Watch(crdRes.prefix, 0, nil, true, false)
	if err != nil {
		s.log.Error("CRD registrar: watch", "err", err)
		return
	}
	defer w.Stop()
	tick := time.NewTicker(crdResyncInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-w.Chan():
			if !ok {
				if w, err = crdRes.cache.Watch(crdRes.prefix, 0, nil, true, false); err != nil {
					return
				}
				continue
			}
			for len(w.Chan()) > 0 { // one sync for a burst of events
				<-w.Chan()
			}
		case <-tick.C:
		}
		s.syncCRDs(ctx, wg, crdRes)
	}
}

// syncCRDs brings the served custom resources and the CRDs' status in line
// with the CRD cache.
func (s *Server) syncCRDs(ctx context.Context, wg *sync.WaitGroup, crdRes *resource) {
	objs, _ := crdRes.cache.List(crdRes.prefix)
	crds := make([]*apiextensionsv1.CustomResourceDefinition, 0, len(objs))
	for _, o := range objs {
		crds = append(crds, o.Obj.(*apiextensionsv1.CustomResourceDefinition))
	}
	accepted := acceptNames(s.builtin, crds)
	changed := false
	var retired []*resource // stopped once the table without them is out
	seen := map[string]bool{}
	for _, crd := range crds {
		seen[crd.Name] = true
		st := s.customs[crd.Name]
		term := crd.DeletionTimestamp != nil
		if st != nil && st.uid == string(crd.UID) && st.generation == crd.Generation &&
			st.terminating == term && (st.resources != nil) == accepted[crd.Name] {
			continue
		}
		next := &customState{uid: string(crd.UID), generation: crd.Generation, terminating: term}
		if accepted[crd.Name] {
			next.resources = s.customResources(ctx, wg, crd)
		}
		if st != nil {
			retired = append(retired, st.resources...)
		}
		s.customs[crd.Name] = next
		changed = true
	}
	for name, st := range s.customs {
		if !seen[name] {
			retired = append(retired, st.resources...)
			delete(s.customs, name)
			changed = true
		}
	}
	if changed {
		s.publish()
	}
	stopAll(retired)
	for _, crd := range crds {
		if err := s.writeCRDStatus(ctx, crdRes, crd, accepted[crd.Name]); err != nil && ctx.Err() == nil {
			s.log.Warn("CRD status", "crd", crd.Name, "err", err)
		}
		if crd.DeletionTimestamp != nil {
			if err := s.finishCRD(ctx, crd); err != nil && ctx.Err() == nil {
				s.log.Warn("CRD cleanup", "crd", crd.Name, "err", err)
			}
		}
	}
}

// customResources builds and starts the resources of crd's served
// versions; nil if it cannot be served (logged).
func (s *Server) customResources(ctx context.Context, wg *sync.WaitGroup, crd *apiextensionsv1.CustomResourceDefinition) []*resource {
	ks, err := kinds.CustomKinds(crd)
	if err != nil {
		s.log.Error("CRD registrar: cannot serve", "crd", crd.Name, "err", err)
		return nil
	}
	var rs []*resource
	for _, k := range ks {
		r, err := s.newResource(k)
		if err != nil {
			s.log.Error("CRD registrar: cannot serve", "crd", crd.Name, "err", err)
			stopAll(rs)
			return nil
		}
		r.start(ctx, wg)
		rs = append(rs, r)
	}
	return rs
}

func stopAll(rs []*resource) {
	for _, r := range rs {
		if r.stop != nil {
			r.stop()
		}
	}
}

// publish stores a new resource table: the built-in resources, then the
// custom ones by CRD name.
func (s *Server) publish() {
	names := make([]string, 0, len(s.customs))
	for n := range s.customs {
		names = append(names, n)
	}
	sort.Strings(names)
	rs := append([]*resource(nil), s.builtin...)
	for _, n := range names {
		rs = append(rs, s.customs[n].resources...)
	}
	s.table.Store(newResourceTable(rs))
	s.setOpenAPIExtra()
}

// acceptNames decides which CRDs get their names: not those whose plural,
// singular, short names, kind or listKind is already taken in their group by a built-in
// resource or by a CRD that comes first: one whose names were accepted
// already, then older ones (by creation time, then name). Names once
// accepted thus stay accepted.
func acceptNames(builtin []*resource, crds []*apiextensionsv1.CustomResourceDefinition) map[string]bool {
	type key struct{ group, name string }
	taken := map[key]bool{}
	for _, r := range builtin {
		g := r.kind.GVK.Group
		taken[key{g, r.kind.Resource}], taken[key{g, r.kind.Singular}] = true, true
		taken[key{g, "kind:" + r.kind.GVK.Kind}], taken[key{g, "kind:" + r.kind.GVK.Kind + "List"}] = true, true
		for _, sn := range r.kind.ShortNames {
			taken[key{g, "short:" + sn}] = true
		}
	}
	sorted := append([]*apiextensionsv1.CustomResourceDefinition(nil), crds...)
	sort.Slice(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if x, y := namesAccepted(a), namesAccepted(b); x != y {
			return x
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Name < b.Name
	})
	out := map[string]bool{}
	for _, crd := range sorted {
		n, g := crd.Spec.Names, crd.Spec.Group
		keys := []key{{g, n.Plural}, {g, "kind:" + n.Kind}, {g, "kind:" + n.ListKind}}
		if n.Singular != "" && n.Singular != n.Plural {
			keys = append(keys, key{g, n.Singular})
		}
		for _, sn := range n.ShortNames {
			keys = append(keys, key{g, "short:" + sn})
		}
		ok := true
		for _, k := range keys {
			if taken[k] {
				ok = false
			}
		}
		if ok {
			for _, k := range keys {
				taken[k] = true
			}
		}
		out[crd.Name] = ok
	}
	return out
}

// namesAccepted reports whether crd's status says its current names were
// accepted.
func namesAccepted(crd *apiextensionsv1.CustomResourceDefinition) bool {
	if !equality.Semantic.DeepEqual(crd.Status.AcceptedNames, crd.Spec.Names) {
		return false
	}
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.NamesAccepted {
			return c.Status == apiextensionsv1.ConditionTrue
		}
	}
	return false
}

// writeCRDStatus sets crd's acceptedNames and its NamesAccepted and
// Established conditions (and Terminating once deleted), if they differ
// from the stored ones.
func (s *Server) writeCRDStatus(ctx context.Context, crdRes *resource, crd *apiextensionsv1.CustomResourceDefinition, accepted bool) error {
	want := desiredCRDStatus(crd, accepted, time.Now())
	if statusEqual(crd.Status, want) {
		return nil
	}
	_, _, err := s.updateObject(ctx, crdRes, requestInfo{Name: crd.Name}, "status",
		writeOptions{fieldManager: "kelson-apiextensions-controller", fieldValidation: "Ignore"},
		func(cur runtime.Object) (runtime.Object, error) {
			c := cur.(*apiextensionsv1.CustomResourceDefinition)
			if c.UID != crd.UID {
				return nil, apierrors.NewConflict(crdRes.groupResource(), crd.Name, errUIDChanged)
			}
			c.Status = desiredCRDStatus(c, accepted, time.Now())
			c.ResourceVersion = ""
			return c, nil
		})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // the next sync sees the change
	}
	return err
}

var errUIDChanged = errors.New("the CustomResourceDefinition was replaced meanwhile")

// desiredCRDStatus is crd's status as the registrar wants it; conditions
// that keep their status keep their transition time.
func desiredCRDStatus(crd *apiextensionsv1.CustomResourceDefinition, accepted bool, now time.Time) apiextensionsv1.CustomResourceDefinitionStatus {
	st := *crd.Status.DeepCopy()
	cond := func(t apiextensionsv1.CustomResourceDefinitionConditionType, ok bool, reason, msg string) {
		status := apiextensionsv1.ConditionFalse
		if ok {
			status = apiextensionsv1.ConditionTrue
		}
		c := apiextensionsv1.CustomResourceDefinitionCondition{Type: t, Status: status, Reason: reason, Message: msg,
			LastTransitionTime: metav1.NewTime(now.Truncate(time.Second))}
		for i := range st.Conditions {
			if st.Conditions[i].Type == t {
				if st.Conditions[i].Status == status {
					c.LastTransitionTime = st.Conditions[i].LastTransitionTime
				}
				st.Conditions[i] = c
				return
			}
		}
		st.Conditions = append(st.Conditions, c)
	}
	if accepted {
		st.AcceptedNames = crd.Spec.Names
		cond(apiextensionsv1.NamesAccepted, true, "NoConflicts", "no conflicts found")
		cond(apiextensionsv1.Established, true, "InitialNamesAccepted", "the initial names have been accepted")
	} else {
		cond(apiextensionsv1.NamesAccepted, false, "NameConflict", "one of the names is already in use in group "+crd.Spec.Group)
		cond(apiextensionsv1.Established, false, "NotAccepted", "not all names are accepted")
	}
	if crd.DeletionTimestamp != nil {
		cond(apiextensionsv1.Terminating, true, "InstanceDeletionInProgress", "CustomResource deletion is in progress")
	}
	var stored []string
	for _, v := range crd.Spec.Versions {
		if v.Storage {
			stored = append(stored, v.Name)
		}
	}
	for _, v := range st.StoredVersions {
		if !contains(stored, v) {
			stored = append(stored, v)
		}
	}
	st.StoredVersions = stored
	return st
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func statusEqual(a, b apiextensionsv1.CustomResourceDefinitionStatus) bool {
	return equality.Semantic.DeepEqual(a, b)
}

// finishCRD deletes a terminating CRD's custom resources (read from the
// store, at the storage version's resource), then removes its cleanup
// finalizer, which lets the CRD go.
func (s *Server) finishCRD(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition) error {
	if !contains(crd.Finalizers, kinds.CRDFinalizer) {
		return nil
	}
	if st := s.customs[crd.Name]; st != nil && len(st.resources) > 0 {
		r := st.resources[0]
		items, _, _, _, err := s.listFromStore(ctx, r, "", &metav1.ListOptions{}, nil)
		if err != nil {
			return err
		}
		background := metav1.DeletePropagationBackground
		for _, it := range items {
			m := metaOf(it)
			if m.GetDeletionTimestamp() != nil {
				continue // waits for its own finalizers
			}
			if _, err := s.deleteObject(ctx, r, m.GetNamespace(), m.GetName(), &metav1.DeleteOptions{PropagationPolicy: &background}); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
		if len(items) > 0 {
			return nil // look again: deletions may wait for finalizers
		}
	}
	_, _, err := s.updateObject(ctx, s.lookup(crdGVR), requestInfo{Name: crd.Name}, "",
		writeOptions{fieldManager: "kelson-apiextensions-controller", fieldValidation: "Ignore"},
		func(cur runtime.Object) (runtime.Object, error) {
			c := cur.(*apiextensionsv1.CustomResourceDefinition)
			c.Finalizers = removeString(c.Finalizers, kinds.CRDFinalizer)
			c.ResourceVersion = ""
			return c, nil
		})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// setOpenAPIExtra hands the custom resources of the current table, with
// their schemas, to the OpenAPI service (openapi.Service.SetExtra).
func (s *Server) setOpenAPIExtra() {
	var extra []openapi.Extra
	for _, r := range s.resources().order {
		c := r.kind.Custom
		if c == nil {
			continue
		}
		e := openapi.Extra{Resource: openapi.Resource{GVK: r.kind.GVK, Resource: r.kind.Resource, Namespaced: r.kind.Namespaced,
			Subresources: subresourcesOf(r.kind), ListKind: r.listGVK().Kind, Custom: true}}
		if c.Schema != nil {
			if b, err := json.Marshal(c.Schema); err == nil {
				var sch spec.Schema
				if err := sch.UnmarshalJSON(b); err == nil {
					e.Schema = &sch
				}
			}
		}
		extra = append(extra, e)
	}
	s.openapi.SetExtra(extra)
}
