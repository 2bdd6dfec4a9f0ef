package apiserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/kelson-dev/kelson/apiserver/admission"
)

// writeOptions are the query options every write shares.
type writeOptions struct {
	dryRun          bool
	fieldManager    string
	fieldValidation string // Strict, Warn (default) or Ignore
	force           bool   // server-side apply: take fields over
	applied         bool   // managedFields already set by server-side apply
}

func parseWriteOptions(r *http.Request) (writeOptions, error) {
	q := r.URL.Query()
	o := writeOptions{fieldManager: q.Get("fieldManager"), fieldValidation: q.Get("fieldValidation"), force: q.Get("force") == "true"}
	for _, d := range q["dryRun"] {
		if d != "All" {
			return o, apierrors.NewBadRequest(fmt.Sprintf("Invalid dryRun value: %q: valid values are All", d))
		}
		o.dryRun = true
	}
	switch o.fieldValidation {
	case "":
		o.fieldValidation = "Warn"
	case "Strict", "Warn", "Ignore":
	default:
		return o, apierrors.NewBadRequest(fmt.Sprintf("Invalid fieldValidation value %q: valid values are Ignore, Warn, Strict", o.fieldValidation))
	}
	if len(o.fieldManager) > 128 {
		return o, apierrors.NewBadRequest("fieldManager is longer than 128 characters")
	}
	if o.fieldManager == "" {
		o.fieldManager = managerFromUserAgent(r.UserAgent())
	}
	return o, nil
}

// managerFromUserAgent is the default field manager: the user agent's
// program name ("kubectl" of "kubectl/v1.32.4 (linux/amd64) ...").
func managerFromUserAgent(ua string) string {
	if i := strings.IndexByte(ua, '/'); i >= 0 {
		ua = ua[:i]
	}
	if ua == "" {
		return "unknown"
	}
	return ua
}

// readBody reads a request body: 413 past maxBodyBytes.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, badRequest("the request has no body")
	}
	b, err := io.ReadAll(r.Body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", maxBodyBytes))
	}
	if err != nil {
		return nil, badRequest("reading the request body: %v", err)
	}
	return b, nil
}

// decodeBody decodes a create or update body into a new object of res's
// kind, strictly: unknown or duplicate fields fail the request under
// fieldValidation=Strict and become Warning headers under Warn.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, res *resource, opts writeOptions) (runtime.Object, error) {
	info, err := s.requestSerializer(r)
	if err != nil {
		return nil, err
	}
	if res.jsonOnly() && info.MediaType == mediaProtobuf {
		return nil, unsupportedMediaTypeMsg("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (custom resources are not read as protobuf)")
	}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	obj, err := s.decodeInto(w, info, body, res.gvk(), res.kind.New(), opts)
	if err != nil {
		return nil, err
	}
	return obj, checkUnknown(w, res, obj, opts)
}

// checkUnknown applies fieldValidation to the fields of a custom resource
// that its schema does not declare (which are pruned): Strict refuses
// them, Warn reports them as Warning headers, as kube-apiserver does.
func checkUnknown(w http.ResponseWriter, res *resource, obj runtime.Object, opts writeOptions) error {
	c := res.kind.Custom
	if c == nil || c.Unknown == nil || opts.fieldValidation == "Ignore" {
		return nil
	}
	unknown := c.Unknown(obj)
	if len(unknown) == 0 {
		return nil
	}
	msgs := make([]string, len(unknown))
	for i, f := range unknown {
		msgs[i] = fmt.Sprintf("unknown field %q", f)
	}
	if opts.fieldValidation == "Strict" {
		return apierrors.NewBadRequest("strict decoding error: " + strings.Join(msgs, ", "))
	}
	for _, m := range msgs {
		w.Header().Add("Warning", fmt.Sprintf("299 - %q", m))
	}
	return nil
}

func (s *Server) decodeInto(w http.ResponseWriter, info runtime.SerializerInfo, body []byte, want schema.GroupVersionKind, into runtime.Object, opts writeOptions) (runtime.Object, error) {
	obj, gvk, err := info.Serializer.Decode(body, &want, into)
	if err != nil && runtime.IsStrictDecodingError(err) && obj != nil {
		switch opts.fieldValidation {
		case "Strict":
			return nil, apierrors.NewBadRequest(err.Error())
		case "Warn":
			for _, e := range strictErrors(err) {
				w.Header().Add("Warning", fmt.Sprintf("299 - %q", e))
			}
		}
		err = nil
	}
	if err != nil {
		return nil, badRequest("the body is not a valid %s: %v", want.Kind, err)
	}
	if gvk != nil && (gvk.GroupVersion() != want.GroupVersion() || gvk.Kind != want.Kind) {
		return nil, badRequest("the API version in the data (%s) does not match the expected API version (%s)", gvk.GroupVersion(), want.GroupVersion())
	}
	obj.GetObjectKind().SetGroupVersionKind(want)
	return obj, nil
}

func strictErrors(err error) []string {
	if se, ok := runtime.AsStrictDecodingError(err); ok {
		var out []string
		for _, e := range se.Errors() {
			out = append(out, e.Error())
		}
		return out
	}
	return []string{err.Error()}
}

// serveCreate: POST to a collection.
func (s *Server) serveCreate(w http.ResponseWriter, r *http.Request, res *resource, ri requestInfo) error {
	out, err := s.negotiate(r, res)
	if err != nil {
		return err
	}
	opts, err := parseWriteOptions(r)
	if err != nil {
		return err
	}
	obj, err := s.decodeBody(w, r, res, opts)
	if err != nil {
		return err
	}
	created, err := s.createObject(r.Context(), res, ri.Namespace, obj, opts)
	if err != nil {
		return err
	}
	return s.respond(w, r, out, http.StatusCreated, res, created)
}

// createObject runs the whole create path on obj (the caller's): checks,
// defaults, validation, managed fields, allocations, the txn.
func (s *Server) createObject(ctx context.Context, res *resource, ns string, obj runtime.Object, opts writeOptions) (runtime.Object, error) {
	if c := res.kind.Custom; c != nil && c.Terminating {
		return nil, apierrors.NewMethodNotSupported(res.groupResource(), "create: the CustomResourceDefinition "+c.CRD+" is being deleted")
	}
	m := metaOf(obj)
	if res.kind.Namespaced {
		switch {
		case m.GetNamespace() == "":
			m.SetNamespace(ns)
		case m.GetNamespace() != ns:
			return nil, badRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
	}
	if m.GetName() == "" && m.GetGenerateName() == "" {
		return nil, apierrors.NewInvalid(res.gvk().GroupKind(), "",
			field.ErrorList{field.Required(field.NewPath("metadata", "name"), "name or generateName is required")})
	}
	if err := s.admitCreate(ctx, res, obj); err != nil {
		return nil, err
	}
	if err := s.checkRBACWrite(ctx, res, obj, nil); err != nil {
		return nil, err
	}
	generated := m.GetName() == ""
	prepareCreate(res.kind, obj, time.Now())
	adm, err := s.admitObject(ctx, admission.Create, res, "", obj, nil, opts.dryRun)
	if err != nil {
		return nil, err
	}
	if errs := validateCreate(res.kind, obj); len(errs) > 0 {
		return nil, apierrors.NewInvalid(res.gvk().GroupKind(), m.GetName(), errs)
	}
	if err := s.validateObject(ctx, adm); err != nil {
		return nil, err
	}
	if !opts.applied {
		empty := res.kind.New()
		setTypeMeta(empty, res)
		obj = res.fields.UpdateNoErrors(empty, obj, opts.fieldManager)
	}
	base := obj
	for attempt := 0; ; attempt++ {
		// Each attempt allocates afresh on a copy: values allocated by a
		// lost attempt are not the client's to keep.
		obj := base.DeepCopyObject()
		alloc, err := s.allocate(ctx, res, obj, nil)
		if err != nil {
			return nil, err
		}
		if opts.dryRun {
			return obj, nil
		}
		created, err := s.create(ctx, res, obj, alloc.cmps, alloc.ops)
		switch {
		case err == nil:
			return created, nil
		case errors.Is(err, errAllocationRace) && attempt < 8:
			continue
		case apierrors.IsAlreadyExists(err) && generated && attempt < 8:
			metaOf(base).SetName(metaOf(base).GetGenerateName() + nameSuffix())
			continue
		}
		return nil, err
	}
}

// update: PUT of an object (or of its /status or /finalize).
func (s *Server) update(w http.ResponseWriter, r *http.Request, res *resource, ri requestInfo, subresource string) error {
	out, err := s.negotiate(r, res)
	if err != nil {
		return err
	}
	opts, err := parseWriteOptions(r)
	if err != nil {
		return err
	}
	obj, err := s.decodeBody(w, r, res, opts)
	if err != nil {
		return err
	}
	m := metaOf(obj)
	if m.GetName() != ri.Name {
		return badRequest("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), ri.Name)
	}
	if res.kind.Namespaced && m.GetNamespace() != "" && m.GetNamespace() != ri.Namespace {
		return badRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	wantRV := m.GetResourceVersion()
	updated, code, err := s.updateObject(r.Context(), res, ri, subresource, opts, func(cur runtime.Object) (runtime.Object, error) {
		if wantRV != "" && wantRV != metaOf(cur).GetResourceVersion() {
			return nil, conflict(res, ri.Name)
		}
		o := obj.DeepCopyObject()
		metaOf(o).SetNamespace(metaOf(cur).GetNamespace())
		return o, nil
	})
	if err != nil {
		return err
	}
	return s.respond(w, r, out, code, res, updated)
}

// updateObject reads the object, asks mutate for its new state, and
// writes it on the read's revision, retrying when another writer got
// there first (mutate decides whether a stale read is a conflict). A
// missing object is 404 unless create is given, which then makes it
// (server-side apply). It returns the written object and the HTTP code.
func (s *Server) updateObject(ctx context.Context, res *resource, ri requestInfo, subresource string, opts writeOptions,
	mutate func(cur runtime.Object) (runtime.Object, error)) (runtime.Object, int, error) {
	for attempt := 0; ; attempt++ {
		cur, err := s.get(ctx, res, ri.Namespace, ri.Name)
		if err != nil {
			return nil, 0, err
		}
		rev := revOf(cur)
		obj, err := mutate(cur.DeepCopyObject())
		if err != nil {
			return nil, 0, err
		}
		unconditional := metaOf(obj).GetResourceVersion() == ""
		written, err := s.writeUpdate(ctx, res, subresource, obj, cur, rev, opts)
		if (apierrors.IsConflict(err) && unconditional || errors.Is(err, errAllocationRace)) && attempt < 16 {
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		return written, http.StatusOK, nil
	}
}

// writeUpdate prepares, validates and writes obj over cur (mod revision
// rev). An object whose deletion waited for finalizers is deleted once
// they are gone.
func (s *Server) writeUpdate(ctx context.Context, res *resource, subresource string, obj, cur runtime.Object, rev int64, opts writeOptions) (runtime.Object, error) {
	setTypeMeta(obj, res)
	metaOf(obj).SetResourceVersion(metaOf(cur).GetResourceVersion())
	if err := s.checkRBACWrite(ctx, res, obj, cur); err != nil {
		return nil, err
	}
	prepareUpdate(res.kind, obj, cur, subresource)
	adm, err := s.admitObject(ctx, admission.Update, res, subresource, obj, cur, opts.dryRun)
	if err != nil {
		return nil, err
	}
	if errs := validateUpdate(res.kind, obj, cur, subresource); len(errs) > 0 {
		return nil, apierrors.NewInvalid(res.gvk().GroupKind(), metaOf(obj).GetName(), errs)
	}
	if err := s.validateObject(ctx, adm); err != nil {
		return nil, err
	}
	fm := res.fields
	if subresource == "status" && res.statusFields != nil {
		fm = res.statusFields
	}
	// A binding sets one field the scheduler owns by role: kube-apiserver
	// records no managedFields entry for it, nor does this server (it was a
	// fifth of a scheduling run's CPU).
	if !opts.applied && subresource != "binding" {
		obj = fm.UpdateNoErrors(cur, obj, opts.fieldManager)
	}
	m := metaOf(obj)
	if readyToDelete(obj) {
		if opts.dryRun {
			return obj, nil
		}
		release, err := s.release(ctx, res, cur)
		if err != nil {
			return nil, err
		}
		if _, err := s.remove(ctx, res, m.GetNamespace(), m.GetName(), rev, release); err != nil {
			return nil, err
		}
		return obj, nil
	}
	alloc, err := s.allocate(ctx, res, obj, cur)
	if err != nil {
		return nil, err
	}
	if opts.dryRun {
		return obj, nil
	}
	// Unchanged objects are not rewritten (no new revision, no event) —
	// unless stored with an older encryption key (rotation by rewrite).
	if equalIgnoringRV(obj, cur) && len(alloc.ops) == 0 && !s.storedStale(ctx, res, res.key(m.GetNamespace(), m.GetName()), rev) {
		return cur, nil
	}
	return s.replace(ctx, res, obj, rev, alloc.cmps, alloc.ops)
}

func equalIgnoringRV(a, b runtime.Object) bool {
	a, b = a.DeepCopyObject(), b.DeepCopyObject()
	metaOf(a).SetResourceVersion("")
	metaOf(b).SetResourceVersion("")
	return equality.Semantic.DeepEqual(a, b)
}

// readyToDelete reports whether an object marked for deletion has nothing
// left to wait for: no finalizers (for a namespace, none in its spec
// either) and no grace period (a pod being stopped by its node agent has
// one until the agent deletes it with grace 0).
func readyToDelete(obj runtime.Object) bool {
	m := metaOf(obj)
	if m.GetDeletionTimestamp() == nil || len(m.GetFinalizers()) > 0 {
		return false
	}
	if g := m.GetDeletionGracePeriodSeconds(); g != nil && *g > 0 {
		return false
	}
	if ns, ok := obj.(*corev1.Namespace); ok && len(ns.Spec.Finalizers) > 0 {
		return false
	}
	return true
}
