package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/apiserver/authn"
	"github.com/kelson-dev/kelson/apiserver/authz"
)

const typical = `
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  users: [system:kube-proxy]
  verbs: [watch]
- level: None
  nonResourceURLs: ["/healthz*", /version]
- level: None
  userGroups: [system:nodes]
  verbs: [get]
  resources: [{group: "", resources: [nodes/status]}]
- level: Metadata
  resources: [{group: "", resources: [secrets, configmaps]}]
- level: Request
  resources: [{group: "", resources: ["pods/log", "pods/*"]}]
  omitStages: [ResponseStarted]
- level: Metadata
  resources: [{group: apps, resources: ["*/scale"]}]
- level: RequestResponse
  namespaces: [kube-system]
  omitManagedFields: false
- level: Request
  resources: [{group: "", resources: [services], resourceNames: [kubernetes]}]
- level: RequestResponse
  resources: [{group: apps}]
- level: Metadata
`

func user(name string, groups ...string) *authn.User { return &authn.User{Name: name, Groups: groups} }

func res(u *authn.User, verb, group, resource, sub, ns, name string) authz.Attributes {
	return authz.Attributes{User: u, Verb: verb, ResourceRequest: true, Group: group, Version: "v1",
		Resource: resource, Subresource: sub, Namespace: ns, Name: name}
}

func TestDecide(t *testing.T) {
	p, err := ParsePolicy([]byte(typical))
	if err != nil {
		t.Fatal(err)
	}
	p.OmitManagedFields = true
	admin := user("admin", "system:masters")
	node := user("system:node:a", "system:nodes")
	for _, tc := range []struct {
		name  string
		a     authz.Attributes
		want  Level
		omitM bool
	}{
		{"kube-proxy watch", res(user("system:kube-proxy"), "watch", "", "endpoints", "", "", ""), LevelNone, true},
		{"kube-proxy list", res(user("system:kube-proxy"), "list", "", "endpoints", "", "", ""), LevelMetadata, true},
		{"healthz", authz.Attributes{User: admin, Verb: "get", Path: "/healthz/etcd"}, LevelNone, true},
		{"version", authz.Attributes{User: admin, Verb: "get", Path: "/version"}, LevelNone, true},
		{"versionx is not /version", authz.Attributes{User: admin, Verb: "get", Path: "/versionx"}, LevelMetadata, true},
		{"node status by a node", res(node, "get", "", "nodes", "status", "", "a"), LevelNone, true},
		{"node status by the admin", res(admin, "get", "", "nodes", "status", "", "a"), LevelMetadata, true},
		{"node itself by a node", res(node, "get", "", "nodes", "", "", "a"), LevelMetadata, true},
		{"secret create", res(admin, "create", "", "secrets", "", "default", ""), LevelMetadata, true},
		{"secret in kube-system", res(admin, "get", "", "secrets", "", "kube-system", "x"), LevelMetadata, true},
		{"pods/log", res(admin, "get", "", "pods", "log", "default", "p"), LevelRequest, true},
		{"pods/exec (pods/*)", res(admin, "create", "", "pods", "exec", "default", "p"), LevelRequest, true},
		{"pods (pods/*)", res(admin, "get", "", "pods", "", "default", "p"), LevelRequest, true},
		{"deployment scale", res(admin, "update", "apps", "deployments", "scale", "default", "d"), LevelMetadata, true},
		{"kube-system configmap is a configmap", res(admin, "get", "", "configmaps", "", "kube-system", "c"), LevelMetadata, true},
		{"kube-system lease", res(admin, "update", "coordination.k8s.io", "leases", "", "kube-system", "l"), LevelRequestResponse, false},
		{"service kubernetes", res(admin, "get", "", "services", "", "default", "kubernetes"), LevelRequest, true},
		{"another service", res(admin, "get", "", "services", "", "default", "web"), LevelMetadata, true},
		{"apps", res(admin, "create", "apps", "deployments", "", "default", ""), LevelRequestResponse, true},
		{"batch", res(admin, "create", "batch", "jobs", "", "default", ""), LevelMetadata, true},
		{"no user (401)", res(nil, "get", "", "secrets", "", "default", "s"), LevelMetadata, true},
		{"no user, non-resource", authz.Attributes{Verb: "get", Path: "/api"}, LevelMetadata, true},
	} {
		d := p.Decide(tc.a)
		if d.Level != tc.want || (d.Level != LevelNone && d.OmitManagedFields != tc.omitM) {
			t.Errorf("%s: level %s omitManagedFields %v, want %s %v", tc.name, d.Level, d.OmitManagedFields, tc.want, tc.omitM)
		}
	}
	d := p.Decide(res(admin, "get", "", "pods", "log", "default", "p"))
	if d.Records(StageRequestReceived) || d.Records(StageResponseStarted) || !d.Records(StageResponseComplete) {
		t.Fatalf("omitStages: policy's and rule's: %v", d.OmitStages)
	}
	var none *Policy
	if none.Decide(res(admin, "get", "", "pods", "", "", "")).Level != LevelNone {
		t.Fatal("nil policy")
	}
	empty, _ := ParsePolicy([]byte("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: []\n"))
	if d := empty.Decide(res(admin, "get", "", "pods", "", "", "")); d.Level != LevelNone || d.Records(StageResponseComplete) {
		t.Fatal("no rules: None")
	}
}

func TestParsePolicyErrors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"rules: [{level: Everything}]", `rules[0].level "Everything"`},
		{"rules: [{level: None, nonResourceURLs: [/x], resources: [{resources: [pods]}]}]", "rules[0]: nonResourceURLs cannot be combined"},
		{"rules: [{level: None, nonResourceURLs: [healthz]}]", "want a path starting with /"},
		{"rules: [{level: None, nonResourceURLs: ['/a*b']}]", "only at the end"},
		{"rules: [{level: None}, {level: None, resources: [{resources: ['pods/']}]}]", "rules[1].resources[0].resources[0]"},
		{"rules: [{level: None, resources: [{resources: ['*'], resourceNames: [x]}]}]", "resourceNames need named resources"},
		{"rules: [{level: None, omitStages: [Later]}]", `rules[0].omitStages[0] "Later"`},
		{"omitStages: [Never]\nrules: []", `omitStages[0] "Never"`},
		{"rules: [{level: None, user: [x]}]", "unknown field"},
	} {
		_, err := ParsePolicy([]byte("apiVersion: audit.k8s.io/v1\nkind: Policy\n" + tc.body))
		if !errors.Is(err, ErrBadPolicy) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrBadPolicy with %q", tc.body, err, tc.want)
		}
	}
	if _, err := ParsePolicy([]byte("apiVersion: audit.k8s.io/v1beta1\nkind: Policy\n")); !errors.Is(err, ErrBadPolicy) {
		t.Fatal("v1beta1")
	}
	if _, err := LoadPolicy(filepath.Join(t.TempDir(), "none")); !errors.Is(err, ErrBadPolicy) {
		t.Fatal("missing file")
	}
}

func readEvents(t *testing.T, path string) []Event {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []Event
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev Event
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, ev)
	}
	return out
}

// TestLogRotation: the file rotates by size, keeps MaxBackups backups,
// and every line of every file parses back into an Event.
func TestLogRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); clock = clock.Add(time.Second); return clock }
	l, err := NewLog(LogConfig{Path: path, MaxBytes: 2000, MaxBackups: 3, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	for i := 0; i < n; i++ {
		l.Record(&Event{Kind: EventKind, APIVersion: EventAPIVersion, Level: LevelMetadata, AuditID: fmt.Sprint(i),
			Stage: StageResponseComplete, RequestURI: "/api/v1/namespaces/default/pods", Verb: "list"})
		if i%10 == 0 {
			time.Sleep(time.Millisecond) // let the writer run: several batches
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	if st.Recorded != n || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
		info, _ := e.Info()
		if info.Size() > 2000 {
			t.Errorf("%s is %d bytes, over MaxBytes", e.Name(), info.Size())
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", e.Name(), info.Mode())
		}
	}
	if len(names) != 4 || !slices.Contains(names, "audit.log") {
		t.Fatalf("files %v: want audit.log and 3 backups", names)
	}
	for _, nm := range names {
		if nm != "audit.log" && !strings.HasPrefix(nm, "audit-2026-01-02T03-") {
			t.Fatalf("backup name %s", nm)
		}
	}
	// The newest lines survive, in order, up to the last.
	var ids []string
	for _, nm := range names[:3] { // backups sort oldest first, audit.log sorts... after "audit-"
		for _, ev := range readEvents(t, filepath.Join(dir, nm)) {
			ids = append(ids, ev.AuditID)
		}
	}
	last := readEvents(t, path)
	if len(last) == 0 || last[len(last)-1].AuditID != fmt.Sprint(n-1) {
		t.Fatalf("the last event is not in audit.log")
	}
	if len(ids) == 0 || ids[0] == "0" {
		t.Fatalf("the oldest backups were not removed (first id %v)", ids)
	}
}

// blockingWriter blocks every Write until released.
type blockingWriter struct{ release chan struct{} }

func (b *blockingWriter) Write(p []byte) (int, error) { <-b.release; return len(p), nil }

// TestLogNeverBlocks: with the writer stuck, Record still returns; events
// beyond the buffer are dropped and counted.
func TestLogNeverBlocks(t *testing.T) {
	bw := &blockingWriter{release: make(chan struct{})}
	l, err := NewLog(LogConfig{Out: bw, Buffer: 5})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		for i := 0; i < 100; i++ {
			l.Record(&Event{AuditID: fmt.Sprint(i)})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Record blocked on a stuck writer")
	}
	close(bw.release)
	l.Close()
	st := l.Stats()
	if st.Dropped == 0 || st.Recorded+st.Dropped != 100 {
		t.Fatalf("stats %+v: want some dropped, all accounted for", st)
	}
	l.Record(&Event{}) // after Close: dropped, no panic
}

func TestNewLogErrors(t *testing.T) {
	if _, err := NewLog(LogConfig{}); !errors.Is(err, ErrBadConfig) {
		t.Fatal(err)
	}
	if _, err := NewLog(LogConfig{Path: "/proc/none/audit.log"}); err == nil {
		t.Fatal("unwritable path")
	}
}

func TestNewID(t *testing.T) {
	a, b := NewID(), NewID()
	if a == b || len(a) != 36 || a[14] != '4' || strings.Count(a, "-") != 4 {
		t.Fatalf("ids %s %s", a, b)
	}
}

// TestResponseWriter: status, body capture with its limit, Flush and
// Hijack through the wrapper.
func TestResponseWriter(t *testing.T) {
	var started []int
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		aw := NewResponseWriter(w)
		aw.OnStart = func(c int) { started = append(started, c) }
		if r.URL.Path == "/big" {
			aw.Capture(4)
		} else {
			aw.Capture(100)
		}
		switch r.URL.Path {
		case "/hijack":
			c, _, err := aw.Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return
			}
			c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"))
			c.Close()
			if aw.Code() != http.StatusSwitchingProtocols {
				t.Errorf("hijacked code %d", aw.Code())
			}
			return
		case "/flush":
			var _ http.Flusher = aw
			aw.Write([]byte("a"))
			aw.Flush()
		default:
			aw.WriteHeader(http.StatusTeapot)
			aw.Write([]byte("hello"))
		}
		body, ok := aw.Body()
		switch r.URL.Path {
		case "/big":
			if ok {
				t.Errorf("a body over the limit was kept: %q", body)
			}
		case "/flush":
			if !ok || string(body) != "a" || aw.Code() != 200 {
				t.Errorf("flush: %q %v %d", body, ok, aw.Code())
			}
		default:
			if !ok || string(body) != "hello" || aw.Code() != http.StatusTeapot {
				t.Errorf("body %q %v code %d", body, ok, aw.Code())
			}
		}
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, p := range []string{"/", "/big", "/flush", "/hijack"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if !slices.Equal(started, []int{418, 418, 200, 101}) {
		t.Fatalf("OnStart codes %v", started)
	}
}
