package audit

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Event is one audit.k8s.io/v1 Event: one stage of one request, written
// as one line of JSON.
type Event struct {
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
	Level      Level  `json:"level"`
	// AuditID is the request's id, the same in each of its stages and
	// in the response's Audit-Id header.
	AuditID    string `json:"auditID"`
	Stage      Stage  `json:"stage"`
	RequestURI string `json:"requestURI"`
	// Verb: the API verb of a resource request (get, list, watch, create,
	// update, patch, delete, deletecollection), else the HTTP method in
	// lower case.
	Verb string `json:"verb"`
	// User is the authenticated user; empty for a request refused with 401.
	User             authnv1.UserInfo  `json:"user"`
	ImpersonatedUser *authnv1.UserInfo `json:"impersonatedUser,omitempty"`
	// SourceIPs: X-Forwarded-For's addresses, then the connection's.
	SourceIPs []string `json:"sourceIPs,omitempty"`
	UserAgent string   `json:"userAgent,omitempty"`
	// ObjectRef: the object or collection of a resource request.
	ObjectRef *ObjectReference `json:"objectRef,omitempty"`
	// ResponseStatus: the code, and for failures the Status' message and
	// reason. Absent in RequestReceived.
	ResponseStatus *metav1.Status `json:"responseStatus,omitempty"`
	// RequestObject: the request body as JSON, from level Request.
	RequestObject json.RawMessage `json:"requestObject,omitempty"`
	// ResponseObject: the response body as JSON, at RequestResponse
	// (never for watches and other long-running requests).
	ResponseObject           json.RawMessage   `json:"responseObject,omitempty"`
	RequestReceivedTimestamp metav1.MicroTime  `json:"requestReceivedTimestamp"`
	StageTimestamp           metav1.MicroTime  `json:"stageTimestamp"`
	Annotations              map[string]string `json:"annotations,omitempty"`
}

// ObjectReference names the object of a resource request.
type ObjectReference struct {
	Resource        string `json:"resource,omitempty"`
	Namespace       string `json:"namespace,omitempty"`
	Name            string `json:"name,omitempty"`
	UID             string `json:"uid,omitempty"`
	APIGroup        string `json:"apiGroup,omitempty"`
	APIVersion      string `json:"apiVersion,omitempty"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
	Subresource     string `json:"subresource,omitempty"`
}

// Annotation keys the API server sets.
const (
	AnnotationDecision = "authorization.k8s.io/decision" // "allow" or "forbid"
	AnnotationReason   = "authorization.k8s.io/reason"
)

// Event kind and version.
const (
	EventKind       = "Event"
	EventAPIVersion = "audit.k8s.io/v1"
)

// NewID returns a random request id in UUID (version 4) form.
func NewID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// Sink receives events. Record must not block for long (a request waits
// on it); the sink owns ev after the call.
type Sink interface {
	Record(ev *Event)
}
