package openapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/handler"
	"k8s.io/kube-openapi/pkg/handler3"
)

// ErrInvalidResource reports a Resource the specs cannot describe: a missing
// name, or a kind with no Go type (and so no schema) in client-go's scheme.
// Build errors wrap it; the Service then answers 500 with the message.
var ErrInvalidResource = errors.New("openapi: invalid resource")

// Resource is one served resource, as the spec builder needs it.
type Resource struct {
	GVK          schema.GroupVersionKind
	Resource     string // lower-case plural, e.g. "deployments"
	Namespaced   bool
	Subresources []string // e.g. "status", "scale"
	ListKind     string   // e.g. "DeploymentList"; empty means Kind+"List"
	// Custom: a custom resource (no strategic merge patch, no protobuf).
	Custom bool
}

// Service serves the OpenAPI documents of a resource set: /openapi/v2 (JSON
// or protobuf), the /openapi/v3 index and one /openapi/v3 document per group
// version (JSON or protobuf).
//
// Nothing is built by New: the first request sets up the (empty) documents,
// and each document is built when it is first asked for (the v3 index needs
// the hash of every v3 document, so it builds them all). A built document
// keeps only its encodings (JSON, and protobuf and gzip once asked for), for
// the Service's lifetime. A Service is safe for concurrent use.
type Service struct {
	resources []Resource // built-in; fixed at New

	// mu serializes SetExtra and the first set-up; state is read without
	// it. A published serving is never modified (its documents fill their
	// own caches, which are safe for concurrent use).
	mu    sync.Mutex
	extra []Extra
	state atomic.Pointer[serving]
}

// serving is one set of documents: for the built-in resources plus the
// extras of the last SetExtra.
type serving struct {
	v2      *document
	v3Index *document
	v3      map[string]*document // by path below /openapi/v3
	// builtin marks the v3 documents that depend on the built-in
	// resources alone, which a later serving takes over as they are.
	builtin map[string]bool
}

// New returns a Service for the resources. The slice is copied; nothing is
// built until the first request.
func New(resources []Resource) *Service {
	rs := make([]Resource, len(resources))
	for i, r := range resources {
		r.Subresources = append([]string(nil), r.Subresources...)
		rs[i] = r
	}
	return &Service{resources: rs}
}

// SetExtra replaces the extra (custom) resources. The documents that
// depend only on built-in resources keep their built encodings; the v2
// document, the v3 index and the extras' group-version documents are
// rebuilt lazily, when next asked for. The slice is copied (the schemas
// are shared, read-only).
func (s *Service) SetExtra(extra []Extra) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.extra = make([]Extra, len(extra))
	for i, e := range extra {
		e.Subresources = append([]string(nil), e.Subresources...)
		s.extra[i] = e
	}
	if prev := s.state.Load(); prev != nil {
		s.state.Store(s.setUpLocked(prev))
	}
}

// current returns the documents being served, setting them up on first use.
func (s *Service) current() *serving {
	if st := s.state.Load(); st != nil {
		return st
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.state.Load(); st != nil {
		return st
	}
	st := s.setUpLocked(nil)
	s.state.Store(st)
	return st
}

// setUpLocked makes the documents; they are built lazily. Those of prev
// that depend on built-in resources alone are reused.
func (s *Service) setUpLocked(prev *serving) *serving {
	p := newPlan(s.resources, s.extra)
	st := &serving{v3: map[string]*document{}, builtin: map[string]bool{}}

	st.v2 = &document{
		build: func() ([]byte, error) {
			sw, err := p.buildV2()
			if err != nil {
				return nil, err
			}
			return sw.MarshalJSON()
		},
		toProto: handler.ToProtoBinary,
	}

	add := func(docPath string, builtin bool, routes func() (*container, error)) {
		st.builtin[docPath] = builtin
		if builtin && prev != nil && prev.builtin[docPath] {
			st.v3[docPath] = prev.v3[docPath]
			return
		}
		st.v3[docPath] = &document{
			build: func() ([]byte, error) {
				c, err := routes()
				if err != nil {
					return nil, err
				}
				doc, err := p.buildV3(docPath, c)
				if err != nil {
					return nil, err
				}
				return json.Marshal(doc)
			},
			toProto: handler3.ToV3ProtoBinary,
		}
	}
	for _, gv := range p.groupVersions {
		add(groupVersionPath(gv), !p.extraGVs[gv], func() (*container, error) { return p.groupVersionContainer(gv) })
	}
	for docPath, c := range p.discoveryContainers() {
		add(docPath, true, func() (*container, error) { return c, nil }) // the same routes whatever the resources
	}

	st.v3Index = &document{build: func() ([]byte, error) {
		index := handler3.OpenAPIV3Discovery{Paths: map[string]handler3.OpenAPIV3DiscoveryGroupVersion{}}
		for docPath, d := range st.v3 {
			_, etag, err := d.JSON()
			if err != nil {
				return nil, err
			}
			index.Paths[docPath] = handler3.OpenAPIV3DiscoveryGroupVersion{ServerRelativeURL: hashedURL(docPath, etag)}
		}
		return json.Marshal(index)
	}}
	return st
}

// ServeHTTP serves /openapi/v2 and /openapi/v3 and /openapi/v3/<group-version path>
// (e.g. /openapi/v3/api/v1, /openapi/v3/apis/apps/v1). Other paths are 404,
// methods other than GET and HEAD 405, a document that cannot be built 500
// (with the error). Content is negotiated by Accept (JSON, or kube-openapi's
// protobuf) and Accept-Encoding (gzip); responses carry an ETag, and a v3
// document asked for with its ?hash= is cacheable for good.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeStatus(w, http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed,
			fmt.Sprintf("%s is not supported on %s: use GET", r.Method, r.URL.Path))
		return
	}
	st := s.current()

	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case path == "/openapi/v2":
		serve(w, r, st.v2, v2Types, "")
	case path == "/openapi/v3":
		serve(w, r, st.v3Index, indexTypes, "")
	case strings.HasPrefix(path, "/openapi/v3/"):
		docPath := strings.TrimPrefix(path, "/openapi/v3/")
		d, ok := st.v3[docPath]
		if !ok {
			writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound,
				fmt.Sprintf("no OpenAPI v3 document for %q: /openapi/v3 lists the served ones", docPath))
			return
		}
		serve(w, r, d, v3Types, docPath)
	default:
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound,
			fmt.Sprintf("%s is not an OpenAPI path: use /openapi/v2 or /openapi/v3", r.URL.Path))
	}
}

// writeStatus writes a meta/v1 Status, as the API server answers errors.
func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, msg string) {
	st := metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure,
		Message:  msg,
		Reason:   reason,
		Code:     int32(code),
	}
	body, _ := json.Marshal(st) // a Status always encodes
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}
