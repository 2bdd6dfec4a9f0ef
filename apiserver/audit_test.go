package apiserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/apiserver/audit"
	"github.com/kelson-dev/kelson/apiserver/authn"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const auditTestPolicy = `
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: None
  nonResourceURLs: ["/healthz*", "/readyz*", "/livez*"]
- level: None
  resources: [{group: "", resources: [namespaces]}]
- level: Metadata
  resources: [{group: "", resources: [secrets]}]
- level: Request
  resources: [{group: "", resources: [configmaps]}]
  verbs: [create]
- level: RequestResponse
  resources: [{group: "", resources: [configmaps]}]
- level: Metadata
`

// lineBuffer is a concurrency-safe buffer the Log writes to.
type lineBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// events parses every line so far into Events (unknown fields refused).
func (b *lineBuffer) events(t *testing.T) []audit.Event {
	t.Helper()
	b.mu.Lock()
	data := bytes.Clone(b.buf.Bytes())
	b.mu.Unlock()
	var out []audit.Event
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 8<<20)
	for sc.Scan() {
		var ev audit.Event
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("an audit line does not parse into an Event: %v\n%s", err, sc.Text())
		}
		out = append(out, ev)
	}
	return out
}

// waitEvent waits for an event that match accepts.
func (b *lineBuffer) waitEvent(t *testing.T, what string, match func(audit.Event) bool) audit.Event {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, ev := range b.events(t) {
			if match(ev) {
				return ev
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no audit event %s in:\n%s", what, b.buf.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// tokenAuth: bearer "admin-token" is the admin, any other bearer is
// refused (401), no credential is no one.
var tokenAuth = authn.Func(func(r *http.Request) (*authn.User, bool, error) {
	h := r.Header.Get("Authorization")
	switch {
	case h == "":
		return nil, false, nil
	case h == "Bearer admin-token":
		return &authn.User{Name: "system:admin", UID: "u1", Groups: []string{authn.SystemPrivileged}}, true, nil
	}
	return nil, false, errors.New("unknown token")
})

func startAudited(t *testing.T, modes ...string) (*testServer, *lineBuffer) {
	t.Helper()
	p, err := audit.ParsePolicy([]byte(auditTestPolicy))
	if err != nil {
		t.Fatal(err)
	}
	lines := &lineBuffer{}
	l, err := audit.NewLog(audit.LogConfig{Out: lines})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if modes == nil {
		modes = []string{"AlwaysAllow"}
	}
	cfg := Config{Store: startMember(t), AuditPolicy: p, AuditSink: l,
		Authenticators: []authn.Authenticator{tokenAuth}, AuthorizationModes: modes}
	if modes[0] == "AlwaysDeny" {
		return startServerNoWait(t, cfg), lines
	}
	return startServerWith(t, cfg), lines
}

func byURI(stage audit.Stage, verb, uriPrefix string) func(audit.Event) bool {
	return func(ev audit.Event) bool {
		return ev.Stage == stage && ev.Verb == verb && strings.HasPrefix(ev.RequestURI, uriPrefix)
	}
}

func TestAuditLevels(t *testing.T) {
	ts, lines := startAudited(t)
	ctx := context.Background()
	cms := ts.client.CoreV1().ConfigMaps("default")

	// create at Request: the request object, no response object.
	cm, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c1"}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ev := lines.waitEvent(t, "create configmap", byURI(audit.StageResponseComplete, "create", "/api/v1/namespaces/default/configmaps"))
	if ev.Level != audit.LevelRequest || ev.ResponseObject != nil || !bytes.Contains(ev.RequestObject, []byte(`"c1"`)) ||
		ev.ResponseStatus == nil || ev.ResponseStatus.Code != 201 {
		t.Fatalf("create: %+v", ev)
	}
	if ev.User.Username != "system:admin" || ev.User.UID != "u1" || ev.ObjectRef == nil || ev.ObjectRef.Resource != "configmaps" ||
		ev.ObjectRef.Namespace != "default" || ev.ObjectRef.APIVersion != "v1" || ev.Annotations[audit.AnnotationDecision] != "allow" ||
		len(ev.SourceIPs) != 1 || ev.SourceIPs[0] != "127.0.0.1" || ev.UserAgent == "" || ev.AuditID == "" ||
		ev.RequestReceivedTimestamp.IsZero() || ev.StageTimestamp.Before(&ev.RequestReceivedTimestamp) {
		t.Fatalf("create metadata: %+v", ev)
	}
	if !lines.has(t, ev.AuditID, audit.StageRequestReceived) {
		t.Fatal("no RequestReceived stage (the policy omits none)")
	}

	// get at RequestResponse: the response object; Audit-Id in the response.
	req, _ := http.NewRequest(http.MethodGet, ts.http.URL+"/api/v1/namespaces/default/configmaps/c1", nil)
	req.Header.Set("Authorization", "Bearer admin-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Header.Get("Audit-Id")
	ev = lines.waitEvent(t, "get configmap", func(ev audit.Event) bool { return ev.AuditID == id && ev.Stage == audit.StageResponseComplete })
	var got corev1.ConfigMap
	if ev.Level != audit.LevelRequestResponse || ev.Verb != "get" || ev.ObjectRef.Name != "c1" || json.Unmarshal(ev.ResponseObject, &got) != nil ||
		got.Data["k"] != "v" || got.ResourceVersion != cm.ResourceVersion || ev.RequestObject != nil {
		t.Fatalf("get: %+v", ev)
	}

	// A protobuf create: its request object is recorded as JSON.
	pcfg := rest.CopyConfig(ts.config)
	pcfg.ContentType = "application/vnd.kubernetes.protobuf"
	pcs, _ := kubernetes.NewForConfig(pcfg)
	if _, err := pcs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "proto"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ev = lines.waitEvent(t, "protobuf create", func(ev audit.Event) bool {
		return ev.Stage == audit.StageResponseComplete && ev.Verb == "create" && bytes.Contains(ev.RequestObject, []byte(`"proto"`))
	})
	if !json.Valid(ev.RequestObject) {
		t.Fatalf("protobuf request object: %s", ev.RequestObject)
	}

	// Secrets at Metadata: neither body, and the value appears nowhere.
	if _, err := ts.client.CoreV1().Secrets("default").Create(ctx, newSecret("s"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.client.CoreV1().Secrets("default").Get(ctx, "s", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	ev = lines.waitEvent(t, "get secret", byURI(audit.StageResponseComplete, "get", "/api/v1/namespaces/default/secrets/s"))
	if ev.Level != audit.LevelMetadata || ev.RequestObject != nil || ev.ResponseObject != nil {
		t.Fatalf("secret: %+v", ev)
	}
	lines.waitEvent(t, "create secret", byURI(audit.StageResponseComplete, "create", "/api/v1/namespaces/default/secrets"))
	if lines.contains(plainMarker) {
		t.Fatal("a secret's value is in the audit log")
	}

	// An error's Status: 404 with its message.
	if _, err := cms.Get(ctx, "missing", metav1.GetOptions{}); err == nil {
		t.Fatal("want 404")
	}
	ev = lines.waitEvent(t, "404", byURI(audit.StageResponseComplete, "get", "/api/v1/namespaces/default/configmaps/missing"))
	if ev.ResponseStatus.Code != 404 || ev.ResponseStatus.Reason != metav1.StatusReasonNotFound || !strings.Contains(ev.ResponseStatus.Message, "missing") || ev.ResponseObject != nil {
		t.Fatalf("404: %+v", ev.ResponseStatus)
	}

	// A watch: ResponseStarted, then ResponseComplete when it ends; no
	// response object.
	wctx, cancel := context.WithCancel(ctx)
	w, err := cms.Watch(wctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c2"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, w) // the stream flushes through the audit writer
	started := lines.waitEvent(t, "watch started", byURI(audit.StageResponseStarted, "watch", "/api/v1/namespaces/default/configmaps"))
	if started.ResponseStatus.Code != 200 || started.Level != audit.LevelRequestResponse {
		t.Fatalf("watch started: %+v", started)
	}
	w.Stop()
	cancel()
	done := lines.waitEvent(t, "watch complete", func(ev audit.Event) bool {
		return ev.AuditID == started.AuditID && ev.Stage == audit.StageResponseComplete
	})
	if done.ResponseObject != nil {
		t.Fatal("a watch's response object was recorded")
	}

	// 401: audited, with an empty user.
	req, _ = http.NewRequest(http.MethodGet, ts.http.URL+"/api/v1/namespaces/default/configmaps", nil)
	req.Header.Set("Authorization", "Bearer stolen")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("bad token: %d", resp.StatusCode)
	}
	id = resp.Header.Get("Audit-Id")
	ev = lines.waitEvent(t, "401", func(ev audit.Event) bool { return ev.AuditID == id && ev.Stage == audit.StageResponseComplete })
	if testing.Verbose() {
		t.Logf("log:\n%s", lines.buf.String())
	}
	if ev.User.Username != "" || len(ev.User.Groups) != 0 || ev.ResponseStatus.Code != 401 || ev.ResponseStatus.Message != "Unauthorized" ||
		ev.Verb != "list" || ev.ObjectRef == nil || ev.ObjectRef.Resource != "configmaps" || ev.Level != audit.LevelRequestResponse || ev.ResponseObject != nil {
		t.Fatalf("401: %+v", ev)
	}
}

func (b *lineBuffer) has(t *testing.T, id string, stage audit.Stage) bool {
	for _, ev := range b.events(t) {
		if ev.AuditID == id && ev.Stage == stage {
			return true
		}
	}
	return false
}

func (b *lineBuffer) contains(s string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Contains(b.buf.Bytes(), []byte(s))
}

func TestAuditForbidden(t *testing.T) {
	ts, lines := startAudited(t, "AlwaysDeny")
	_, err := ts.client.CoreV1().ConfigMaps("default").Get(context.Background(), "c", metav1.GetOptions{})
	if err == nil {
		t.Fatal("AlwaysDeny allowed a get")
	}
	ev := lines.waitEvent(t, "403", byURI(audit.StageResponseComplete, "get", "/api/v1/namespaces/default/configmaps/c"))
	if ev.ResponseStatus.Code != 403 || ev.ResponseStatus.Reason != metav1.StatusReasonForbidden ||
		ev.Annotations[audit.AnnotationDecision] != "forbid" || !strings.Contains(ev.Annotations[audit.AnnotationReason], "AlwaysDeny") ||
		ev.User.Username != "system:admin" || ev.ResponseObject != nil {
		t.Fatalf("403: %+v", ev)
	}
}
