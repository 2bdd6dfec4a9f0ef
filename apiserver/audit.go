package apiserver

// The audit hook: around every request (serveHTTP), when Config.AuditPolicy
// is set. The policy decides each request's level once its user is known
// (or known to be nobody: a 401 is audited with an empty user); the
// response writer is wrapped to see the status and, at RequestResponse,
// the body; events go to Config.AuditSink, which never blocks on disk.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/kelson-dev/kelson/apiserver/audit"
	"github.com/kelson-dev/kelson/apiserver/authz"
	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// auditor is a server's audit configuration; nil: no audit.
type auditor struct {
	policy *audit.Policy
	sink   audit.Sink
}

// Limits of the bodies an event carries: a larger one is left out.
const (
	auditBodyLimit   = 4 << 20  // request and response objects
	auditStatusLimit = 64 << 10 // an error's Status, at every level
)

// auditRecord is one request's audit. Its methods do nothing on a nil
// record (no audit). Used by the request's goroutine only.
type auditRecord struct {
	s        *Server
	w        *audit.ResponseWriter
	ev       audit.Event // the fields every stage shares
	decided  bool
	decision audit.Decision
	// longRunning: watches, exec, attach, logs, proxies: a
	// ResponseStarted stage, no response object.
	longRunning bool
	reqBody     *bytes.Buffer
	reqType     string
	done        bool
}

// startAudit begins the audit of r: its id (the Audit-Id header) and a
// wrapped response writer.
func (s *Server) startAudit(w http.ResponseWriter, r *http.Request) (*auditRecord, http.ResponseWriter) {
	id := audit.NewID()
	w.Header().Set("Audit-Id", id)
	ar := &auditRecord{s: s, w: audit.NewResponseWriter(w)}
	ar.w.OnStart = ar.started
	ar.ev = audit.Event{Kind: audit.EventKind, APIVersion: audit.EventAPIVersion, AuditID: id,
		RequestURI: r.URL.RequestURI(), SourceIPs: sourceIPs(r), UserAgent: r.UserAgent(),
		RequestReceivedTimestamp: metav1.NewMicroTime(time.Now())}
	return ar, ar.w
}

// decide applies the policy to a (a.User nil: not authenticated),
// records RequestReceived, and returns r with its body recorded when the
// level wants the request object.
func (ar *auditRecord) decide(r *http.Request, a authz.Attributes) *http.Request {
	if ar == nil || ar.decided {
		return r
	}
	ar.decided = true
	ar.decision = ar.s.audit.policy.Decide(a)
	if ar.decision.Level == audit.LevelNone {
		return r
	}
	ar.ev.Level, ar.ev.Verb = ar.decision.Level, a.Verb
	if a.User != nil {
		ar.ev.User = authnv1.UserInfo{Username: a.User.Name, UID: a.User.UID, Groups: a.User.Groups}
		if len(a.User.Extra) > 0 {
			ar.ev.User.Extra = map[string]authnv1.ExtraValue{}
			for k, v := range a.User.Extra {
				ar.ev.User.Extra[k] = v
			}
		}
	}
	if a.ResourceRequest {
		ar.ev.ObjectRef = &audit.ObjectReference{Resource: a.Resource, Namespace: a.Namespace, Name: a.Name,
			APIGroup: a.Group, APIVersion: a.Version, Subresource: a.Subresource}
	}
	switch a.Subresource {
	case "exec", "attach", "log", "portforward", "proxy":
		ar.longRunning = true
	}
	ar.longRunning = ar.longRunning || a.Verb == "watch" || a.Verb == "proxy"
	ar.emit(audit.StageRequestReceived, nil)
	if !ar.decision.Level.Less(audit.LevelRequest) && r.Body != nil && r.Body != http.NoBody {
		ar.reqBody, ar.reqType = &bytes.Buffer{}, r.Header.Get("Content-Type")
		r2 := *r
		r2.Body = &teeBody{ReadCloser: r.Body, to: ar.reqBody}
		r = &r2
	}
	if ar.decision.Level == audit.LevelRequestResponse && !ar.longRunning {
		ar.w.Capture(auditBodyLimit)
	}
	return r
}

// teeBody keeps what a handler reads of a request body (bounded by the
// server's MaxBytesReader).
type teeBody struct {
	io.ReadCloser
	to *bytes.Buffer
}

func (t *teeBody) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if n > 0 && t.to.Len() < auditBodyLimit+1 {
		t.to.Write(p[:n])
	}
	return n, err
}

// authorized records the authorizer's decision and reason.
func (ar *auditRecord) authorized(allowed bool, reason string) {
	if ar == nil || ar.ev.Annotations != nil {
		return
	}
	d := "forbid"
	if allowed {
		d = "allow"
	}
	ar.ev.Annotations = map[string]string{audit.AnnotationDecision: d}
	if reason != "" {
		ar.ev.Annotations[audit.AnnotationReason] = reason
	}
}

type auditKey struct{}

// withAudit carries ar in ctx, for authorize to annotate.
func withAudit(ctx context.Context, ar *auditRecord) context.Context {
	if ar == nil {
		return ctx
	}
	return context.WithValue(ctx, auditKey{}, ar)
}

// auditAuthorized records an authorization decision on ctx's audit.
func (s *Server) auditAuthorized(ctx context.Context, allowed bool, reason string) {
	if s.audit == nil {
		return
	}
	ar, _ := ctx.Value(auditKey{}).(*auditRecord)
	ar.authorized(allowed, reason)
}

// started: the response's headers are going out.
func (ar *auditRecord) started(code int) {
	if code >= 400 {
		ar.w.Capture(auditStatusLimit) // for the Status' message
	}
	if ar.longRunning {
		ar.emit(audit.StageResponseStarted, &metav1.Status{Code: int32(code)})
	}
}

// complete records ResponseComplete.
func (ar *auditRecord) complete() {
	if ar == nil || ar.done || !ar.decided {
		return
	}
	ar.done = true
	if !ar.decision.Records(audit.StageResponseComplete) {
		return
	}
	code := ar.w.Code()
	if code == 0 {
		code = http.StatusOK
	}
	st := &metav1.Status{Code: int32(code)}
	body, ok := ar.w.Body()
	if code >= 400 && ok {
		var es metav1.Status
		if json.Unmarshal(body, &es) == nil && es.Kind == "Status" {
			st = &metav1.Status{Status: es.Status, Message: es.Message, Reason: es.Reason, Details: es.Details, Code: int32(code)}
		}
	}
	ev := ar.event(audit.StageResponseComplete, st)
	if ar.reqBody != nil && ar.reqBody.Len() <= auditBodyLimit {
		ev.RequestObject = ar.s.auditJSON(ar.reqBody.Bytes(), ar.reqType, ar.decision.OmitManagedFields)
	}
	if ar.decision.Level == audit.LevelRequestResponse && !ar.longRunning && ok && code < 400 {
		ev.ResponseObject = ar.s.auditJSON(body, ar.w.Header().Get("Content-Type"), ar.decision.OmitManagedFields)
	}
	ar.s.audit.sink.Record(ev)
}

// panicked records the Panic stage.
func (ar *auditRecord) panicked(p any) {
	if ar == nil || ar.done || !ar.decided {
		return
	}
	ar.done = true
	ar.emit(audit.StagePanic, &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusInternalServerError,
		Reason: metav1.StatusReasonInternalError, Message: fmt.Sprintf("APIServer panic'd: %v", p)})
}

func (ar *auditRecord) emit(stage audit.Stage, st *metav1.Status) {
	if ar.decision.Records(stage) {
		ar.s.audit.sink.Record(ar.event(stage, st))
	}
}

// event is a new event of stage from the shared fields.
func (ar *auditRecord) event(stage audit.Stage, st *metav1.Status) *audit.Event {
	ev := ar.ev
	ev.Stage, ev.StageTimestamp, ev.ResponseStatus = stage, metav1.NewMicroTime(time.Now()), st
	if ar.ev.Annotations != nil {
		ev.Annotations = make(map[string]string, len(ar.ev.Annotations))
		for k, v := range ar.ev.Annotations {
			ev.Annotations[k] = v
		}
	}
	return &ev
}

// auditJSON is a body as JSON for an event: JSON as it is, YAML
// converted, protobuf decoded and encoded as JSON; nil for anything else.
func (s *Server) auditJSON(body []byte, contentType string, omitManagedFields bool) json.RawMessage {
	if len(body) == 0 {
		return nil
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	var out []byte
	switch {
	case mt == mediaProtobuf:
		obj, _, err := s.codecs.decoder.Decode(body, nil, nil)
		if err != nil {
			return nil
		}
		if out, err = json.Marshal(obj); err != nil {
			return nil
		}
	case strings.HasSuffix(mt, "json") && json.Valid(body):
		out = bytes.Clone(body)
	case strings.HasSuffix(mt, "yaml"):
		j, err := yaml.YAMLToJSON(body)
		if err != nil || !json.Valid(j) {
			return nil
		}
		out = j
	default:
		return nil
	}
	if omitManagedFields {
		out = withoutManagedFields(out)
	}
	return out
}

// withoutManagedFields drops metadata.managedFields of an object or of a
// list's items.
func withoutManagedFields(b []byte) []byte {
	if !bytes.Contains(b, []byte(`"managedFields"`)) {
		return b
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return b
	}
	drop := func(o any) {
		if om, ok := o.(map[string]any); ok {
			if md, ok := om["metadata"].(map[string]any); ok {
				delete(md, "managedFields")
			}
		}
	}
	drop(m)
	if items, ok := m["items"].([]any); ok {
		for _, it := range items {
			drop(it)
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		return b
	}
	return out
}

// sourceIPs: X-Forwarded-For's addresses, X-Real-Ip's, then the
// connection's (always last, and the only one a client cannot choose).
func sourceIPs(r *http.Request) []string {
	var ips []string
	for _, f := range strings.Split(r.Header.Get("X-Forwarded-For"), ",") {
		if ip := net.ParseIP(strings.TrimSpace(f)); ip != nil {
			ips = append(ips, ip.String())
		}
	}
	if ip := net.ParseIP(strings.TrimSpace(r.Header.Get("X-Real-Ip"))); ip != nil {
		ips = append(ips, ip.String())
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ip := net.ParseIP(host); ip != nil && (len(ips) == 0 || ips[len(ips)-1] != ip.String()) {
		ips = append(ips, ip.String())
	}
	return ips
}
