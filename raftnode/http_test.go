package raftnode

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Tests of the client port's HTTP side against real members, over
// loopback, with net/http's client (what curl, probes and Prometheus do).

var httpClient = &http.Client{Timeout: 30 * time.Second}

func httpURL(s *Server, path string) string { return "http://" + s.ClientAddr[0] + path }

// get returns the status and body of GET url.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// post sends body to url and returns the status and body.
func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := httpClient.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: read: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestHTTPHealthAndVersion(t *testing.T) {
	tc := newTestCluster(t, 1, nil)
	s := tc.servers[0]
	eventually(t, 10*time.Second, "condition", func() error {
		if code, body := get(t, httpURL(s, "/health")); code != 200 || body != `{"health":"true","reason":""}` {
			return fmt.Errorf("/health: %d %q", code, body)
		}
		return nil
	})
	for _, tc := range []struct{ path, want string }{
		{"/health?serializable=true", `{"health":"true","reason":""}`},
		{"/livez", "ok\n"},
		{"/livez?verbose", "[+]serializable_read ok\nok\n"},
		{"/readyz", "ok\n"},
		{"/readyz?verbose", "[+]data_corruption ok\n[+]serializable_read ok\n[+]linearizable_read ok\n[+]non_learner ok\nok\n"},
		{"/readyz?verbose&exclude=non_learner&exclude=data_corruption", "[+]serializable_read ok\n[+]linearizable_read ok\nok\n"},
		{"/readyz/linearizable_read?verbose", "[+]linearizable_read ok\nok\n"},
		{"/version", `{"etcdserver":"3.6.0","etcdcluster":"3.6.0","storage":"3.6.0"}`},
	} {
		if code, body := get(t, httpURL(s, tc.path)); code != 200 || body != tc.want {
			t.Errorf("GET %s: %d %q, want 200 %q", tc.path, code, body, tc.want)
		}
	}
	if code, _ := post(t, httpURL(s, "/health"), ""); code != http.StatusMethodNotAllowed {
		t.Errorf("POST /health: %d, want 405", code)
	}
	if code, _ := get(t, httpURL(s, "/nothing-here")); code != http.StatusNotFound {
		t.Errorf("GET /nothing-here: %d, want 404", code)
	}
	// gRPC still works on the same port.
	cli := tc.client()
	if _, err := cli.Put(context.Background(), "k", "v"); err != nil {
		t.Fatalf("gRPC put on the shared port: %v", err)
	}
}

func TestHTTPHealthWithoutLeader(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	s := tc.servers[0]
	eventually(t, 10*time.Second, "condition", func() error {
		if code, body := get(t, httpURL(s, "/health")); code != 200 {
			return fmt.Errorf("/health: %d %q", code, body)
		}
		return nil
	})
	tc.stop(1)
	tc.stop(2)
	eventually(t, 20*time.Second, "condition", func() error {
		code, body := get(t, httpURL(s, "/health"))
		if code != http.StatusServiceUnavailable || body != `{"health":"false","reason":"RAFT NO LEADER"}`+"\n" {
			return fmt.Errorf("/health: %d %q, want 503 RAFT NO LEADER", code, body)
		}
		return nil
	})
	// The local store still answers: serializable health and liveness.
	if code, body := get(t, httpURL(s, "/health?serializable=true")); code != 200 {
		t.Errorf("/health?serializable=true: %d %q, want 200", code, body)
	}
	if code, body := get(t, httpURL(s, "/livez")); code != 200 {
		t.Errorf("/livez: %d %q, want 200", code, body)
	}
	code, body := get(t, httpURL(s, "/readyz"))
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "[-]linearizable_read failed") || !strings.Contains(body, "[+]serializable_read ok") {
		t.Errorf("/readyz: %d %q, want 503 with a failed linearizable_read", code, body)
	}
}

func TestGatewayRoundTrip(t *testing.T) {
	tc := newTestCluster(t, 1, nil)
	s := tc.servers[0]
	cli := tc.client()
	ctx := context.Background()
	u := func(p string) string { return httpURL(s, p) }

	// Put through JSON, get through gRPC.
	code, body := post(t, u("/v3/kv/put"), fmt.Sprintf(`{"key":%q,"value":%q}`, b64("foo"), b64("bar")))
	if code != 200 || !strings.HasPrefix(body, `{"header":{"cluster_id":"`) || !strings.Contains(body, `"revision":"2"`) {
		t.Fatalf("put: %d %s", code, body)
	}
	gr, err := cli.Get(ctx, "foo")
	if err != nil || len(gr.Kvs) != 1 || string(gr.Kvs[0].Value) != "bar" {
		t.Fatalf("gRPC get after JSON put: %v %v", gr, err)
	}
	// Put through gRPC, range through JSON: bytes in base64, int64 as strings.
	if _, err := cli.Put(ctx, "foo2", "baz"); err != nil {
		t.Fatal(err)
	}
	code, body = post(t, u("/v3/kv/range"), fmt.Sprintf(`{"key":%q,"range_end":%q}`, b64("foo"), b64("fop")))
	if code != 200 {
		t.Fatalf("range: %d %s", code, body)
	}
	var rr struct {
		Header map[string]string `json:"header"`
		Kvs    []struct {
			Key, Value, CreateRevision, ModRevision, Version string
		} `json:"kvs"`
		Count string `json:"count"`
	}
	if err := json.Unmarshal([]byte(body), &rr); err != nil {
		t.Fatalf("range body %s: %v", body, err)
	}
	if rr.Count != "2" || len(rr.Kvs) != 2 || rr.Kvs[1].Key != b64("foo2") || rr.Kvs[1].Value != b64("baz") || rr.Header["revision"] != "3" {
		t.Fatalf("range: %s", body)
	}
	if !strings.Contains(body, `"create_revision":"3","mod_revision":"3","version":"1"`) {
		t.Fatalf("range: proto field names and string int64s expected: %s", body)
	}

	// Txn through JSON (camelCase input accepted too, as protojson).
	code, body = post(t, u("/v3/kv/txn"), fmt.Sprintf(`{"compare":[{"key":%q,"result":"EQUAL","target":"VALUE","value":%q}],
		"success":[{"requestPut":{"key":%q,"value":%q}}],"failure":[{"request_range":{"key":%q}}]}`,
		b64("foo"), b64("bar"), b64("t"), b64("1"), b64("foo")))
	if code != 200 || !strings.Contains(body, `"succeeded":true`) {
		t.Fatalf("txn: %d %s", code, body)
	}
	if gr, err := cli.Get(ctx, "t"); err != nil || len(gr.Kvs) != 1 {
		t.Fatalf("txn's put not visible: %v %v", gr, err)
	}
	code, body = post(t, u("/v3/kv/deleterange"), fmt.Sprintf(`{"key":%q,"prev_kv":true}`, b64("t")))
	if code != 200 || !strings.Contains(body, `"deleted":"1"`) || !strings.Contains(body, `"prev_kvs":[`) {
		t.Fatalf("deleterange: %d %s", code, body)
	}

	// Leases.
	code, body = post(t, u("/v3/lease/grant"), `{"TTL":"60","ID":"4242"}`)
	if code != 200 || !strings.Contains(body, `"ID":"4242","TTL":"60"`) {
		t.Fatalf("lease grant: %d %s", code, body)
	}
	code, body = post(t, u("/v3/lease/timetolive"), `{"ID":"4242"}`)
	if code != 200 || !strings.Contains(body, `"ID":"4242"`) || !strings.Contains(body, `"grantedTTL":"60"`) {
		t.Fatalf("lease timetolive: %d %s", code, body)
	}
	code, body = post(t, u("/v3/lease/leases"), `{}`)
	if code != 200 || !strings.Contains(body, `"leases":[{"ID":"4242"}]`) {
		t.Fatalf("lease leases: %d %s", code, body)
	}
	if code, body = post(t, u("/v3/kv/lease/revoke"), `{"ID":"4242"}`); code != 200 {
		t.Fatalf("lease revoke: %d %s", code, body)
	}
	if code, body = post(t, u("/v3/lease/revoke"), `{"ID":"4242"}`); code != 404 || body != `{"error":"etcdserver: requested lease not found","message":"etcdserver: requested lease not found","code":5}` {
		t.Fatalf("revoke of a revoked lease: %d %s", code, body)
	}

	// Cluster and maintenance.
	code, body = post(t, u("/v3/cluster/member/list"), `{}`)
	if code != 200 || !strings.Contains(body, `"name":"m0"`) || !strings.Contains(body, `"clientURLs":["http://`) {
		t.Fatalf("member list: %d %s", code, body)
	}
	code, body = post(t, u("/v3/maintenance/status"), ``)
	if code != 200 || !strings.Contains(body, `"version":"3.6.0"`) || !strings.Contains(body, `"leader":"`) {
		t.Fatalf("status: %d %s", code, body)
	}

	// Compaction, then a read below it: etcd's error, HTTP 400.
	if code, body = post(t, u("/v3/kv/compaction"), `{"revision":"3","physical":true}`); code != 200 {
		t.Fatalf("compaction: %d %s", code, body)
	}
	code, body = post(t, u("/v3/kv/range"), fmt.Sprintf(`{"key":%q,"revision":"2"}`, b64("foo")))
	want := `{"error":"etcdserver: mvcc: required revision has been compacted","message":"etcdserver: mvcc: required revision has been compacted","code":11}`
	if code != 400 || body != want {
		t.Fatalf("range below compaction: %d %s, want 400 %s", code, body, want)
	}

	// Bad input never panics and gets the gateway's errors.
	for _, tc := range []struct {
		method, path, body string
		code               int
		grpcCode           string
	}{
		{"POST", "/v3/kv/put", `{"key":`, 400, `"code":3`},
		{"POST", "/v3/kv/put", `{"key":"not base64!"}`, 400, `"code":3`},
		{"POST", "/v3/kv/put", `{}`, 400, `"code":3`}, // empty key
		{"POST", "/v3/kv/range", `{"limit":"x"}`, 400, `"code":3`},
		{"POST", "/v3/kv/range", `[1,2]`, 400, `"code":3`},
		{"GET", "/v3/kv/range", ``, 501, `"code":12`}, // grpc-gateway v2: Unimplemented
		{"POST", "/v3/kv/nope", `{}`, 404, `"code":5`},
		{"POST", "/v3/auth/authenticate", `{"name":"x","password":"y"}`, 400, `"code":9`}, // auth not enabled
		{"POST", "/v3/maintenance/downgrade", `{}`, 501, `"code":12`},
	} {
		req, _ := http.NewRequest(tc.method, u(tc.path), strings.NewReader(tc.body))
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.grpcCode) || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s %s: %d %s %q, want %d with %s", tc.method, tc.path, tc.body, resp.StatusCode, b, resp.Header.Get("Content-Type"), tc.code, tc.grpcCode)
		}
	}
	// A body over the limit.
	big := `{"key":"` + strings.Repeat("A", 8<<20) + `"}`
	if code, body := post(t, u("/v3/kv/put"), big); code != 400 || !strings.Contains(body, "request is too large") {
		t.Errorf("huge body: %d %.200s", code, body)
	}
	// The old prefix still works, as in etcd.
	if code, body := post(t, u("/v3beta/kv/range"), fmt.Sprintf(`{"key":%q}`, b64("foo"))); code != 200 || !strings.Contains(body, b64("bar")) {
		t.Errorf("/v3beta/kv/range: %d %s", code, body)
	}
}

// watchLine is one line of the watch stream.
type watchLine struct {
	Result *struct {
		Header  map[string]string `json:"header"`
		WatchID string            `json:"watch_id"`
		Created bool              `json:"created"`
		Events  []struct {
			Type string `json:"type"`
			Kv   struct {
				Key, Value, ModRevision string
			} `json:"kv"`
		} `json:"events"`
		Canceled bool `json:"canceled"`
	} `json:"result"`
	Error json.RawMessage `json:"error"`
}

func TestGatewayWatch(t *testing.T) {
	tc := newTestCluster(t, 1, nil)
	s := tc.servers[0]
	cli := tc.client()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "w/before", "0"); err != nil {
		t.Fatal(err)
	}

	// The request body stays open: the client sends a cancel later, while
	// it reads events (full duplex over HTTP/1.1).
	pr, pw := io.Pipe()
	req, _ := http.NewRequestWithContext(ctx, "POST", httpURL(s, "/v3/watch"), pr)
	respc := make(chan *http.Response, 1)
	errc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			errc <- err
			return
		}
		respc <- resp
	}()
	fmt.Fprintf(pw, `{"create_request":{"key":%q,"range_end":%q,"start_revision":"2"}}`+"\n", b64("w/"), b64("w0"))
	var resp *http.Response
	select {
	case resp = <-respc:
	case err := <-errc:
		t.Fatal(err)
	case <-ctx.Done():
		t.Fatal("no response")
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("watch: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	lines := bufio.NewScanner(resp.Body)
	lines.Buffer(nil, 1<<20)
	next := func() watchLine {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("watch stream ended: %v", lines.Err())
		}
		var l watchLine
		if err := json.Unmarshal(lines.Bytes(), &l); err != nil || l.Result == nil {
			t.Fatalf("watch line %s: %v", lines.Bytes(), err)
		}
		return l
	}
	if l := next(); !l.Result.Created {
		t.Fatalf("first line is not the created response: %+v", l.Result)
	}
	// History from revision 2, then a live put.
	l := next()
	if len(l.Result.Events) != 1 || l.Result.Events[0].Kv.Key != b64("w/before") || l.Result.Events[0].Type != "" {
		t.Fatalf("history event: %+v", l.Result)
	}
	if _, err := cli.Put(ctx, "w/live", "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Delete(ctx, "w/live"); err != nil {
		t.Fatal(err)
	}
	l = next()
	if len(l.Result.Events) != 1 || l.Result.Events[0].Kv.Key != b64("w/live") || l.Result.Events[0].Kv.Value != b64("1") {
		t.Fatalf("live event: %+v", l.Result)
	}
	l = next()
	if len(l.Result.Events) != 1 || l.Result.Events[0].Type != "DELETE" {
		t.Fatalf("delete event: %+v", l.Result)
	}
	// Cancel through the still-open body.
	fmt.Fprintf(pw, `{"cancel_request":{"watch_id":%q}}`, "0")
	if l = next(); !l.Result.Canceled {
		t.Fatalf("cancel: %+v", l.Result)
	}
	pw.Close()
	// The stream stays open after the body ends (as etcd's gateway); the
	// member's watcher count drops when the client goes away.
	cancel()
	eventually(t, 10*time.Second, "condition", func() error {
		if w := s.Node.Metrics().Store.Watch.Watchers; w != 0 {
			return fmt.Errorf("%d watchers left", w)
		}
		return nil
	})
}

func TestGatewayWatchBadRequestEndsRequestsNotStream(t *testing.T) {
	tc := newTestCluster(t, 1, nil)
	s := tc.servers[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", httpURL(s, "/v3/watch"),
		strings.NewReader(fmt.Sprintf(`{"create_request":{"key":%q}} {"create_request":`, b64("x"))))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	if !sc.Scan() || !strings.Contains(sc.Text(), `"created":true`) {
		t.Fatalf("want the created line, got %q %v", sc.Text(), sc.Err())
	}
	if _, err := tc.client().Put(ctx, "x", "1"); err != nil {
		t.Fatal(err)
	}
	if !sc.Scan() || !strings.Contains(sc.Text(), b64("x")) {
		t.Fatalf("want the event line, got %q %v", sc.Text(), sc.Err())
	}
}
