package apiserver

import (
	"context"
	"fmt"
	"mime"
	"net/http"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"sigs.k8s.io/yaml"
)

// Patch content types.
const (
	patchJSON      = string(types.JSONPatchType)
	patchMerge     = string(types.MergePatchType)
	patchStrategic = string(types.StrategicMergePatchType)
	patchApplyYAML = string(types.ApplyYAMLPatchType)
)

// servePatch: PATCH of an object (or its /status): JSON patch, merge
// patch, strategic merge patch, or server-side apply.
func (s *Server) servePatch(w http.ResponseWriter, r *http.Request, res *resource, ri requestInfo, subresource string) error {
	out, err := s.negotiate(r, res)
	if err != nil {
		return err
	}
	opts, err := parseWriteOptions(r)
	if err != nil {
		return err
	}
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		ct = r.Header.Get("Content-Type")
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	switch ct {
	case patchApplyYAML:
		if r.URL.Query().Get("fieldManager") == "" {
			return apierrors.NewBadRequest("PATCH with an apply patch requires a fieldManager query parameter (kubectl apply --server-side sets it)")
		}
		obj, code, err := s.apply(r.Context(), res, ri, subresource, body, opts)
		if err != nil {
			return err
		}
		return s.respond(w, r, out, code, res, obj)
	case patchJSON, patchMerge:
	case patchStrategic:
		if res.custom() {
			// No patch strategies in a custom resource's schema, as in Kubernetes.
			return unsupportedMediaTypeMsg("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")
		}
	default:
		return unsupportedMediaType(ct)
	}
	if opts.force {
		return badRequest("force is only allowed with server-side apply (application/apply-patch+yaml)")
	}
	info, _ := s.serializer(mediaJSON)
	obj, code, err := s.updateObject(r.Context(), res, ri, subresource, opts, func(cur runtime.Object) (runtime.Object, error) {
		curJSON, err := s.encodeJSON(cur)
		if err != nil {
			return nil, err
		}
		patched, err := applyPatch(ct, curJSON, body, res.kind.New())
		if err != nil {
			return nil, err
		}
		obj, err := s.decodeInto(w, info, patched, res.gvk(), res.kind.New(), opts)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the patch made an invalid %s: %v", res.gvk().Kind, err))
		}
		if err := checkUnknown(w, res, obj, opts); err != nil {
			return nil, err
		}
		m := metaOf(obj)
		if m.GetName() != ri.Name || m.GetNamespace() != ri.Namespace {
			return nil, badRequest("a patch may not change metadata.name or metadata.namespace")
		}
		if rv := m.GetResourceVersion(); rv != metaOf(cur).GetResourceVersion() {
			return nil, conflict(res, ri.Name) // the patch named a resourceVersion that is not current
		}
		// The read's revision is in obj only if the patch set it: clear
		// it otherwise so that updateObject retries on a race.
		if !patchSetsRV(ct, body) {
			m.SetResourceVersion("")
		}
		return obj, nil
	})
	if err != nil {
		return err
	}
	return s.respond(w, r, out, code, res, obj)
}

// applyPatch applies a JSON, merge or strategic merge patch to a JSON
// document. dataStruct is an object of the document's kind (for the
// strategic merge keys).
func applyPatch(contentType string, doc, patch []byte, dataStruct runtime.Object) (out []byte, err error) {
	// The patch libraries can panic on inputs they do not expect (a JSON
	// patch "replace" of the root without a value): a user's patch must
	// get an error, never crash a request.
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, badRequest("the patch could not be applied: %v", p)
		}
	}()
	switch contentType {
	case patchJSON:
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, badRequest("invalid JSON patch: %v", err)
		}
		out, err := p.Apply(doc)
		if err != nil {
			return nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "patch", schema.GroupResource{}, "",
				fmt.Sprintf("the JSON patch could not be applied: %v", err), 0, false)
		}
		return out, nil
	case patchMerge:
		out, err := jsonpatch.MergePatch(doc, patch)
		if err != nil {
			return nil, badRequest("invalid merge patch: %v", err)
		}
		return out, nil
	default:
		out, err := strategicpatch.StrategicMergePatch(doc, patch, dataStruct)
		if err != nil {
			return nil, badRequest("invalid strategic merge patch: %v", err)
		}
		return out, nil
	}
}

// patchSetsRV reports whether a patch names metadata.resourceVersion
// (then a stale one is a conflict, not a retry).
func patchSetsRV(contentType string, patch []byte) bool {
	if contentType == patchJSON {
		return false
	}
	var p struct {
		Metadata struct {
			ResourceVersion *string `json:"resourceVersion"`
		} `json:"metadata"`
	}
	return yaml.Unmarshal(patch, &p) == nil && p.Metadata.ResourceVersion != nil
}

// apply is server-side apply: the applied configuration is merged into
// the live object by field ownership (409 on a conflict unless force);
// a missing object is created.
func (s *Server) apply(ctx context.Context, res *resource, ri requestInfo, subresource string, body []byte, opts writeOptions) (runtime.Object, int, error) {
	applied := &unstructured.Unstructured{}
	j, err := yaml.YAMLToJSON(body)
	if err == nil {
		err = applied.UnmarshalJSON(j)
	}
	if err != nil {
		return nil, 0, badRequest("the apply configuration is not a valid object: %v", err)
	}
	gvk := applied.GroupVersionKind()
	if gvk != res.gvk() {
		return nil, 0, badRequest("the apply configuration's apiVersion/kind %s %s does not match the URL's %s", gvk.GroupVersion(), gvk.Kind, res.gvk())
	}
	if applied.GetName() != ri.Name {
		return nil, 0, badRequest("the apply configuration's name %q does not match the URL's %q", applied.GetName(), ri.Name)
	}
	if ns := applied.GetNamespace(); res.kind.Namespaced && ns != "" && ns != ri.Namespace {
		return nil, 0, badRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	fm := res.fields
	if subresource == "status" && res.statusFields != nil {
		fm = res.statusFields
	}
	opts.applied = true
	_, err = s.get(ctx, res, ri.Namespace, ri.Name)
	if apierrors.IsNotFound(err) && subresource == "" {
		empty := res.kind.New()
		setTypeMeta(empty, res)
		obj, err := fm.Apply(empty, applied, opts.fieldManager, opts.force)
		if err != nil {
			return nil, 0, err
		}
		metaOf(obj).SetNamespace(ri.Namespace)
		created, err := s.createObject(ctx, res, ri.Namespace, obj, opts)
		if apierrors.IsAlreadyExists(err) {
			return s.apply(ctx, res, ri, subresource, body, opts) // lost a race with a create
		}
		return created, 201, err
	}
	if err != nil {
		return nil, 0, err
	}
	return s.updateObject(ctx, res, ri, subresource, opts, func(cur runtime.Object) (runtime.Object, error) {
		obj, err := fm.Apply(cur, applied, opts.fieldManager, opts.force)
		if err != nil {
			return nil, err
		}
		metaOf(obj).SetResourceVersion("")
		return obj, nil
	})
}
