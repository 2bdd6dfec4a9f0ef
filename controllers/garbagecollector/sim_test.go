package garbagecollector

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
)

// The simulation runs the collector's decisions and IO (collector) over an
// in-memory API with the API server's deletion rules, and a graph fed by
// that API's changes, one step at a time. Scripts in testdata/sim:
//
//	create kind=ReplicaSet ns=default name=rs [owners=(Deployment/d:block,ConfigMap/x@uid-x)] [finalizers=(f)] [uid=u]
//	    creates an object; an owner is named by kind/name (resolved in the
//	    dependent's namespace, or cluster-wide for cluster-scoped kinds) or
//	    by an explicit @uid; ":block" sets blockOwnerDeletion; refversion=
//	    gives the references another apiVersion.
//	delete kind=.. ns=.. name=.. [policy=Background|Foreground|Orphan] [orphanDependents]
//	    a user's DELETE, as the API server handles it.
//	update kind=.. ns=.. name=.. [owners=(..)] [finalizers=(..)]
//	    a user's update of ownerReferences / finalizers.
//	pause-watch [kinds=(Secret,..)] / resume-watch
//	    hold the API's changes (of those kinds) back from the graph (a
//	    lagging cache), then deliver them.
//	run
//	    handle the queues until they are empty: prints every API call the
//	    collector makes and its result.
//	objects, graph, events, stats
//
// User commands print what the graph queued (the attempts): delete= (now),
// verify= (after the delay), orphan=.
func TestSim(t *testing.T) {
	datadriven.Walk(t, "testdata/sim", func(t *testing.T, path string) {
		s := newSim(t)
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return s.cmd(t, d)
		})
	})
}

var simKinds = []*metav1.APIResourceList{
	{GroupVersion: "v1", APIResources: []metav1.APIResource{
		{Name: "configmaps", Kind: "ConfigMap", Namespaced: true, Verbs: allTestVerbs},
		{Name: "secrets", Kind: "Secret", Namespaced: true, Verbs: allTestVerbs},
		{Name: "pods", Kind: "Pod", Namespaced: true, Verbs: allTestVerbs},
		{Name: "pods/status", Kind: "Pod", Namespaced: true, Verbs: metav1.Verbs{"get", "patch", "update"}},
		{Name: "nodes", Kind: "Node", Namespaced: false, Verbs: allTestVerbs},
		{Name: "namespaces", Kind: "Namespace", Namespaced: false, Verbs: allTestVerbs},
		{Name: "events", Kind: "Event", Namespaced: true, Verbs: allTestVerbs},
	}},
	{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{
		{Name: "deployments", Kind: "Deployment", Namespaced: true, Verbs: allTestVerbs},
		{Name: "replicasets", Kind: "ReplicaSet", Namespaced: true, Verbs: allTestVerbs},
	}},
	{GroupVersion: "rbac.authorization.k8s.io/v1", APIResources: []metav1.APIResource{
		{Name: "clusterroles", Kind: "ClusterRole", Namespaced: false, Verbs: allTestVerbs},
	}},
	{GroupVersion: "example.com/v1", APIResources: []metav1.APIResource{
		{Name: "widgets", Kind: "Widget", Namespaced: true, Verbs: allTestVerbs},
	}},
	{GroupVersion: "example.com/v1beta1", APIResources: []metav1.APIResource{
		{Name: "widgets", Kind: "Widget", Namespaced: true, Verbs: allTestVerbs},
	}},
}

var simGroups = []*metav1.APIGroup{
	{Name: "", PreferredVersion: metav1.GroupVersionForDiscovery{GroupVersion: "v1", Version: "v1"}},
	{Name: "apps", PreferredVersion: metav1.GroupVersionForDiscovery{GroupVersion: "apps/v1", Version: "v1"}},
	{Name: "rbac.authorization.k8s.io", PreferredVersion: metav1.GroupVersionForDiscovery{GroupVersion: "rbac.authorization.k8s.io/v1", Version: "v1"}},
	{Name: "example.com", PreferredVersion: metav1.GroupVersionForDiscovery{GroupVersion: "example.com/v1", Version: "v1"}},
}

var allTestVerbs = metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

type simKey struct {
	res       schema.GroupVersionResource
	namespace string
	name      string
}

type sim struct {
	rm       resourceMap
	objs     map[simKey]*metav1.PartialObjectMetadata
	rv       int
	graph    *Graph
	core     *collector
	recorder *record.FakeRecorder
	paused   map[string]bool // kinds whose changes are held back ("*": all)
	pending  []func() Effects
	deleteQ  []types.UID
	orphanQ  []types.UID
	out      *strings.Builder // the collector's API calls, during run
	names    map[types.UID]string
}

func newSim(t *testing.T) *sim {
	s := &sim{
		rm:       buildResourceMap(simGroups, simKinds, defaultIgnored),
		objs:     map[simKey]*metav1.PartialObjectMetadata{},
		graph:    NewGraph(),
		recorder: record.NewFakeRecorder(100),
		names:    map[types.UID]string{},
	}
	s.core = &collector{
		api:      s,
		graph:    &lockedGraph{g: s.graph},
		absent:   newAbsentCache(0),
		mapping:  s.rm.mapping,
		recorder: s.recorder,
		log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		stats:    &counters{},
	}
	return s
}

func (s *sim) cmd(t *testing.T, d *datadriven.TestData) string {
	switch d.Cmd {
	case "create":
		return s.create(t, d)
	case "delete":
		return s.userDelete(t, d)
	case "update":
		return s.update(t, d)
	case "pause-watch":
		s.paused = map[string]bool{}
		if arg, ok := d.Arg("kinds"); ok {
			for _, k := range arg.Vals {
				s.paused[k] = true
			}
		} else {
			s.paused["*"] = true
		}
		return "ok"
	case "resume-watch":
		s.paused = nil
		var eff Effects
		for _, f := range s.pending {
			eff.Merge(f())
		}
		s.pending = nil
		return s.queue(eff)
	case "run":
		return s.run(t)
	case "objects":
		return s.objects()
	case "graph":
		return s.dumpGraph()
	case "events":
		var b strings.Builder
		for {
			select {
			case e := <-s.recorder.Events:
				fmt.Fprintln(&b, e)
				continue
			default:
			}
			break
		}
		return orNone(b.String())
	case "stats":
		st := s.core.stats
		return fmt.Sprintf("owner-lookups=%d dependent-reads=%d deletes=%d patches=%d invalid=%d",
			st.ownerLookups.Load(), st.dependentReads.Load(), st.deletes.Load(), st.patches.Load(), st.invalidRefs.Load())
	}
	d.Fatalf(t, "unknown command %q", d.Cmd)
	return ""
}

func orNone(s string) string {
	if s == "" {
		return "(none)\n"
	}
	return s
}

func (s *sim) kind(t *testing.T, d *datadriven.TestData, kind string) apiResource {
	ar, ok := s.lookupKind(kind)
	if !ok {
		d.Fatalf(t, "unknown kind %q", kind)
	}
	return ar
}

func (s *sim) lookupKind(kind string) (apiResource, bool) {
	for _, ar := range s.rm.monitoredSorted() {
		if ar.Kind == kind {
			return ar, true
		}
	}
	return apiResource{}, false
}

func (s *sim) target(t *testing.T, d *datadriven.TestData) (apiResource, simKey) {
	var kind, ns, name string
	d.ScanArgs(t, "kind", &kind)
	d.MaybeScanArgs(t, "ns", &ns)
	d.ScanArgs(t, "name", &name)
	ar := s.kind(t, d, kind)
	if !ar.Namespaced {
		ns = ""
	}
	return ar, simKey{ar.GVR, ns, name}
}

// refs parses owners=(Kind/name[@uid][:block],...).
func (s *sim) refs(t *testing.T, d *datadriven.TestData, ns string) []metav1.OwnerReference {
	arg, ok := d.Arg("owners")
	if !ok {
		return nil
	}
	var refs []metav1.OwnerReference
	for _, v := range arg.Vals {
		block := strings.HasSuffix(v, ":block")
		v = strings.TrimSuffix(v, ":block")
		kind, name, ok := strings.Cut(v, "/")
		if !ok {
			d.Fatalf(t, "owner %q: want Kind/name", v)
		}
		name, uid, explicit := strings.Cut(name, "@")
		ar, known := s.lookupKind(kind)
		if !known && !explicit {
			d.Fatalf(t, "unknown kind %q", kind)
		}
		if !known {
			ar.GVR = schema.GroupVersionResource{Group: "unknown.example", Version: "v1"}
		}
		if !explicit {
			ons := ns
			if !ar.Namespaced {
				ons = ""
			}
			o, ok := s.objs[simKey{ar.GVR, ons, name}]
			if !ok {
				d.Fatalf(t, "owner %s/%s not found; name it with @uid", kind, name)
			}
			uid = string(o.UID)
		}
		ref := metav1.OwnerReference{APIVersion: ar.GVR.GroupVersion().String(), Kind: kind, Name: name, UID: types.UID(uid)}
		d.MaybeScanArgs(t, "refversion", &ref.APIVersion)
		if block {
			b := true
			ref.BlockOwnerDeletion = &b
		}
		refs = append(refs, ref)
	}
	return refs
}

func (s *sim) create(t *testing.T, d *datadriven.TestData) string {
	ar, key := s.target(t, d)
	if _, ok := s.objs[key]; ok {
		d.Fatalf(t, "%v exists", key)
	}
	uid := "uid-" + key.name
	d.MaybeScanArgs(t, "uid", &uid)
	m := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		Namespace: key.namespace, Name: key.name, UID: types.UID(uid), OwnerReferences: s.refs(t, d, key.namespace)}}
	if arg, ok := d.Arg("finalizers"); ok {
		m.Finalizers = arg.Vals
	}
	s.names[m.UID] = ar.Kind + "/" + key.name
	return s.queue(s.write(ar, key, m))
}

func (s *sim) update(t *testing.T, d *datadriven.TestData) string {
	ar, key := s.target(t, d)
	cur, ok := s.objs[key]
	if !ok {
		d.Fatalf(t, "%v not found", key)
	}
	m := cur.DeepCopy()
	if d.HasArg("owners") {
		m.OwnerReferences = s.refs(t, d, key.namespace)
	}
	if arg, ok := d.Arg("finalizers"); ok {
		m.Finalizers = slices.DeleteFunc(slices.Clone(arg.Vals), func(v string) bool { return v == "" })
	}
	if m.DeletionTimestamp != nil && len(m.Finalizers) == 0 {
		return s.queue(s.remove(ar, key))
	}
	return s.queue(s.write(ar, key, m))
}

func (s *sim) userDelete(t *testing.T, d *datadriven.TestData) string {
	ar, key := s.target(t, d)
	var opts metav1.DeleteOptions
	if d.HasArg("policy") {
		var p string
		d.ScanArgs(t, "policy", &p)
		policy := metav1.DeletionPropagation(p)
		opts.PropagationPolicy = &policy
	}
	if d.HasArg("orphanDependents") {
		yes := true
		opts.OrphanDependents = &yes
	}
	eff, err := s.delete(ar, key, opts)
	if err != nil {
		return err.Error()
	}
	return s.queue(eff)
}

// write stores m (a create or update) and reports it to the graph.
func (s *sim) write(ar apiResource, key simKey, m *metav1.PartialObjectMetadata) Effects {
	s.rv++
	m.ResourceVersion = fmt.Sprint(s.rv)
	s.objs[key] = m
	obj := objectFrom(m.DeepCopy(), ar.GVR, ar.Kind)
	return s.observe(ar.Kind, func() Effects { return s.graph.Upsert(obj) })
}

// remove deletes key's object and reports it to the graph.
func (s *sim) remove(ar apiResource, key simKey) Effects {
	m := s.objs[key]
	delete(s.objs, key)
	id := objectFrom(m, ar.GVR, ar.Kind).Identity
	return s.observe(ar.Kind, func() Effects { return s.graph.Remove(id) })
}

func (s *sim) observe(kind string, f func() Effects) Effects {
	if s.paused["*"] || s.paused[kind] {
		s.pending = append(s.pending, f)
		return Effects{}
	}
	return f()
}

// queue adds eff's UIDs to the queues and describes them.
func (s *sim) queue(eff Effects) string {
	add := func(q *[]types.UID, uids []types.UID) {
		for _, u := range uids {
			if !slices.Contains(*q, u) {
				*q = append(*q, u)
			}
		}
	}
	add(&s.deleteQ, eff.Delete)
	add(&s.deleteQ, eff.Verify)
	add(&s.orphanQ, eff.Orphan)
	if eff.Empty() {
		return "queued: (nothing)"
	}
	var parts []string
	for _, l := range []struct {
		name string
		uids []types.UID
	}{{"delete", eff.Delete}, {"verify", eff.Verify}, {"orphan", eff.Orphan}} {
		if len(l.uids) > 0 {
			parts = append(parts, l.name+"="+s.nameList(l.uids))
		}
	}
	return "queued: " + strings.Join(parts, " ")
}

func (s *sim) nameList(uids []types.UID) string {
	var names []string
	for _, u := range uids {
		names = append(names, s.name(u))
	}
	return "[" + strings.Join(names, " ") + "]"
}

func (s *sim) name(u types.UID) string {
	if n, ok := s.names[u]; ok {
		return n
	}
	return string(u)
}

// run handles the queues until both are empty: the delete queue first, an
// orphan when it is empty. A failed item goes to the back of its queue,
// twice; then it is left (the collector would retry it with back-off).
func (s *sim) run(t *testing.T) string {
	var b strings.Builder
	s.out = &b
	defer func() { s.out = nil }()
	failures := map[types.UID]int{}
	for steps := 0; len(s.deleteQ)+len(s.orphanQ) > 0; steps++ {
		if steps > 1000 {
			fmt.Fprintln(&b, "did not converge")
			break
		}
		q, handle, what := &s.deleteQ, s.core.attemptToDelete, "attempt-to-delete"
		if len(s.deleteQ) == 0 {
			q, handle, what = &s.orphanQ, s.core.attemptToOrphan, "attempt-to-orphan"
		}
		uid := (*q)[0]
		*q = (*q)[1:]
		fmt.Fprintf(&b, "%s %s\n", what, s.name(uid))
		if err := handle(context.Background(), uid); err != nil {
			fmt.Fprintf(&b, "  error: %v\n", err)
			if failures[uid]++; failures[uid] < 2 {
				*q = append(*q, uid)
			} else {
				fmt.Fprintln(&b, "  (left to the back-off)")
			}
		}
	}
	return b.String()
}

func (s *sim) log(format string, args ...any) {
	if s.out != nil {
		fmt.Fprintf(s.out, "  "+format+"\n", args...)
	}
}

func (s *sim) arFor(res schema.GroupVersionResource) apiResource {
	return s.rm.monitored[s.norm(res)]
}

// norm is the version objects of res are stored at: an object is the
// same at every version of its group.
func (s *sim) norm(res schema.GroupVersionResource) schema.GroupVersionResource {
	for _, ar := range s.rm.monitored {
		if ar.GVR.GroupResource() == res.GroupResource() {
			return ar.GVR
		}
	}
	return res
}

// The API (what the collector calls).

func (s *sim) Get(_ context.Context, res schema.GroupVersionResource, ns, name string) (*metav1.PartialObjectMetadata, error) {
	m, ok := s.objs[simKey{s.norm(res), ns, name}]
	if !ok {
		s.log("get %s %s -> not found", s.arFor(res).Kind, path(ns, name))
		return nil, apierrors.NewNotFound(res.GroupResource(), name)
	}
	s.log("get %s %s -> uid %s", s.arFor(res).Kind, path(ns, name), m.UID)
	return m.DeepCopy(), nil
}

func (s *sim) Delete(_ context.Context, res schema.GroupVersionResource, ns, name string, opts metav1.DeleteOptions) error {
	pol := "default"
	if opts.PropagationPolicy != nil {
		pol = string(*opts.PropagationPolicy)
	}
	what := fmt.Sprintf("delete %s %s policy=%s", s.arFor(res).Kind, path(ns, name), pol)
	eff, err := s.delete(s.arFor(res), simKey{s.norm(res), ns, name}, opts)
	if err != nil {
		s.log("%s -> %s", what, reason(err))
		return err
	}
	s.log("%s -> %s", what, s.queue(eff))
	return nil
}

func (s *sim) Patch(_ context.Context, res schema.GroupVersionResource, ns, name string, patch []byte) error {
	var ops []patchOp
	_ = json.Unmarshal(patch, &ops)
	var desc []string
	for _, op := range ops {
		if op.Op != "test" {
			desc = append(desc, op.Op+" "+op.Path)
		}
	}
	what := fmt.Sprintf("patch %s %s [%s]", s.arFor(res).Kind, path(ns, name), strings.Join(desc, ", "))
	eff, err := s.patch(s.arFor(res), simKey{s.norm(res), ns, name}, patch)
	if err != nil {
		s.log("%s -> %s", what, reason(err))
		return err
	}
	s.log("%s -> %s", what, s.queue(eff))
	return nil
}

func reason(err error) string {
	switch {
	case apierrors.IsNotFound(err):
		return "not found"
	case apierrors.IsConflict(err):
		return "conflict"
	case apierrors.IsInvalid(err):
		return "invalid (a test failed)"
	}
	return err.Error()
}

func path(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// delete is the API server's DELETE: preconditions, then the finalizer of
// the propagation policy; the object goes at once unless finalizers
// remain.
func (s *sim) delete(ar apiResource, key simKey, opts metav1.DeleteOptions) (Effects, error) {
	cur, ok := s.objs[key]
	if !ok {
		return Effects{}, apierrors.NewNotFound(key.res.GroupResource(), key.name)
	}
	if p := opts.Preconditions; p != nil {
		if (p.UID != nil && *p.UID != cur.UID) || (p.ResourceVersion != nil && *p.ResourceVersion != cur.ResourceVersion) {
			return Effects{}, apierrors.NewConflict(key.res.GroupResource(), key.name, fmt.Errorf("precondition failed"))
		}
	}
	m := cur.DeepCopy()
	policy := opts.PropagationPolicy
	if policy == nil && opts.OrphanDependents != nil && *opts.OrphanDependents {
		p := metav1.DeletePropagationOrphan
		policy = &p
	}
	if policy != nil && m.DeletionTimestamp == nil {
		switch *policy {
		case metav1.DeletePropagationOrphan:
			m.Finalizers = appendOnce(m.Finalizers, finalizerOrphan)
		case metav1.DeletePropagationForeground:
			m.Finalizers = appendOnce(m.Finalizers, finalizerForeground)
		}
	}
	if len(m.Finalizers) == 0 {
		return s.remove(ar, key), nil
	}
	if m.DeletionTimestamp == nil {
		now := metav1.NewTime(time.Unix(0, 0))
		m.DeletionTimestamp = &now
	}
	return s.write(ar, key, m), nil
}

func appendOnce(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// patch applies a JSON patch to the object's metadata; an object whose
// deletion waited for finalizers goes when the last one does.
func (s *sim) patch(ar apiResource, key simKey, patch []byte) (Effects, error) {
	cur, ok := s.objs[key]
	if !ok {
		return Effects{}, apierrors.NewNotFound(key.res.GroupResource(), key.name)
	}
	doc, _ := json.Marshal(cur)
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		return Effects{}, apierrors.NewBadRequest(err.Error())
	}
	out, err := p.Apply(doc)
	if err != nil {
		return Effects{}, apierrors.NewInvalid(schema.GroupKind{Kind: ar.Kind}, key.name, nil)
	}
	m := &metav1.PartialObjectMetadata{}
	if err := json.Unmarshal(out, m); err != nil {
		return Effects{}, apierrors.NewBadRequest(err.Error())
	}
	if m.DeletionTimestamp != nil && len(m.Finalizers) == 0 {
		return s.remove(ar, key), nil
	}
	return s.write(ar, key, m), nil
}

func (s *sim) objects() string {
	var lines []string
	for k, m := range s.objs {
		ar := s.arFor(k.res)
		line := fmt.Sprintf("%s %s", ar.Kind, path(k.namespace, k.name))
		if m.DeletionTimestamp != nil {
			line += " deleting"
		}
		if len(m.Finalizers) > 0 {
			line += " finalizers=" + strings.Join(m.Finalizers, ",")
		}
		if len(m.OwnerReferences) > 0 {
			var os []string
			for _, r := range m.OwnerReferences {
				o := r.Kind + "/" + r.Name
				if boolOf(r.BlockOwnerDeletion) {
					o += ":block"
				}
				os = append(os, o)
			}
			line += " owners=" + strings.Join(os, ",")
		}
		lines = append(lines, line)
	}
	sort.Strings(lines)
	return orNone(strings.Join(lines, "\n"))
}

func (s *sim) dumpGraph() string {
	var lines []string
	for uid, n := range s.graph.nodes {
		line := s.name(uid)
		if !n.observed {
			line += " (virtual)"
		}
		var deps []string
		for _, d := range n.sortedDependents() {
			deps = append(deps, s.name(d.obj.UID))
		}
		if len(deps) > 0 {
			line += " <- " + strings.Join(deps, " ")
		}
		lines = append(lines, line)
	}
	sort.Strings(lines)
	return orNone(strings.Join(lines, "\n"))
}
