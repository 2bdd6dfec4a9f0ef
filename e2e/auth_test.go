package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// TestEtcdctlAuth drives etcd's authentication with the real etcdctl
// against three members: users, roles and permissions set up and enabled
// through one member hold on every member, a key outside a granted prefix
// is refused, and all of it survives a restart of every member.
func TestEtcdctlAuth(t *testing.T) {
	needEtcdctl(t)
	c := newCluster(t, clusterOptions{size: 3, extra: []string{"--bcrypt-cost", "4"}})
	first := etcdctl{endpoints: c.Members[0].Endpoint()}
	// One command per line: the script etcd's docs walk through.
	for _, step := range []struct {
		args []string
		out  string
	}{
		{[]string{"user", "add", "root:rootpw"}, "User root created"},
		{[]string{"role", "add", "root"}, "Role root created"},
		{[]string{"user", "grant-role", "root", "root"}, "Role root is granted to user root"},
		{[]string{"user", "add", "alice:alicepw"}, "User alice created"},
		{[]string{"role", "add", "app"}, "Role app created"},
		{[]string{"role", "grant-permission", "app", "readwrite", "--prefix=true", "/app/"}, "Role app updated"},
		{[]string{"role", "grant-permission", "app", "read", "/config"}, "Role app updated"},
		{[]string{"role", "grant-permission", "app", "write", "--from-key", "zz"}, "Role app updated"},
		{[]string{"user", "grant-role", "alice", "app"}, "Role app is granted to user alice"},
		{[]string{"user", "list"}, "alice\nroot"},
		{[]string{"role", "list"}, "app\nroot"},
		{[]string{"user", "get", "alice"}, "User: alice\nRoles: app"},
		{[]string{"role", "get", "app"}, "Role app\nKV Read:\n\t[/app/, /app0) (prefix /app/)\n\t/config\nKV Write:\n\t[/app/, /app0) (prefix /app/)\n\t[zz, <open ended>"},
		{[]string{"auth", "enable"}, "Authentication Enabled"},
	} {
		got := first.ok(t, step.args...)
		if !strings.HasPrefix(got, step.out) {
			t.Fatalf("etcdctl %s:\n got %q\nwant %q", strings.Join(step.args, " "), got, step.out)
		}
	}
	first.ok(t, "--user", "root:rootpw", "put", "/config", "c")

	check := func(when string) {
		t.Helper()
		for _, m := range c.Members {
			e := etcdctl{endpoints: m.Endpoint()}
			what := fmt.Sprintf("%s, member %s", when, m.Name)
			if out := e.fails(t, "get", "/app/a"); !strings.Contains(out, "user name is empty") {
				t.Fatalf("%s: anonymous get: %s", what, out)
			}
			want(t, what+": alice put", e.ok(t, "--user", "alice:alicepw", "put", "/app/"+m.Name, "v"), "OK")
			want(t, what+": alice get", e.ok(t, "--user", "alice:alicepw", "get", "/app/"+m.Name, "--print-value-only"), "v")
			want(t, what+": alice reads /config", e.ok(t, "--user", "alice:alicepw", "get", "/config", "--print-value-only"), "c")
			want(t, what+": alice writes past zz", e.ok(t, "--user", "alice:alicepw", "put", "zzz", "v"), "OK")
			for _, args := range [][]string{
				{"put", "/other", "v"},
				{"put", "/config", "v"},
				{"get", "/", "--prefix"},
				{"get", "zzz"},
				{"del", "/app", "--prefix"},
				{"user", "list"},
				{"snapshot", "save", t.TempDir() + "/s.db"},
			} {
				if out := e.fails(t, append([]string{"--user", "alice:alicepw"}, args...)...); !strings.Contains(out, "permission denied") {
					t.Fatalf("%s: alice %v: %s", what, args, out)
				}
			}
			if out := e.fails(t, "--user", "alice:wrong", "get", "/app/a"); !strings.Contains(out, "authentication failed, invalid user ID or password") {
				t.Fatalf("%s: wrong password: %s", what, out)
			}
			want(t, what+": root", e.ok(t, "--user", "root:rootpw", "get", "/other", "--print-value-only"), "")
		}
	}
	check("after auth enable")

	for _, m := range c.Members {
		m.Term()
	}
	for _, m := range c.Members {
		m.Start()
	}
	for _, m := range c.Members {
		m.WaitServing()
	}
	waitAuthLeader(t, c, "root", "rootpw")
	check("after restarting every member")

	// Changes after the restart, through another member.
	last := etcdctl{endpoints: c.Members[2].Endpoint()}
	root := func(args ...string) string { return last.ok(t, append([]string{"--user", "root:rootpw"}, args...)...) }
	want(t, "revoke", root("role", "revoke-permission", "app", "/app/", "--prefix=true"), "Permission of range [/app/, /app0) is revoked from role app")
	if out := first.fails(t, "--user", "alice:alicepw", "put", "/app/a", "v"); !strings.Contains(out, "permission denied") {
		t.Fatalf("alice after revoke-permission: %s", out)
	}
	want(t, "passwd", last.okIn(t, "newpw\n", "--user", "root:rootpw", "user", "passwd", "alice", "--interactive=false"), "Password updated")
	if out := first.fails(t, "--user", "alice:alicepw", "get", "/config"); !strings.Contains(out, "authentication failed") {
		t.Fatalf("old password after passwd: %s", out)
	}
	want(t, "new password", first.ok(t, "--user", "alice:newpw", "get", "/config", "--print-value-only"), "c")
	want(t, "revoke-role", root("user", "revoke-role", "alice", "app"), "Role app is revoked from user alice")
	if out := first.fails(t, "--user", "alice:newpw", "get", "/config"); !strings.Contains(out, "permission denied") {
		t.Fatalf("alice without role: %s", out)
	}
	want(t, "user delete", root("user", "delete", "alice"), "User alice deleted")
	want(t, "role delete", root("role", "delete", "app"), "Role app deleted")
	if out := last.fails(t, "--user", "root:rootpw", "user", "delete", "root"); !strings.Contains(out, "invalid auth management") {
		t.Fatalf("delete root with auth on: %s", out)
	}
	want(t, "auth disable", root("auth", "disable"), "Authentication Disabled")
	want(t, "anonymous again", first.ok(t, "put", "free", "v"), "OK")
}

// TestAuthTokenExpiresOverGateway: a simple token from a member started
// with --auth-token-ttl 1 works at once and is refused ("invalid auth
// token", HTTP 401) once unused for longer than that, through etcd's JSON
// gateway with the token in the Authorization header, as curl would.
func TestAuthTokenExpiresOverGateway(t *testing.T) {
	needEtcdctl(t)
	c := newCluster(t, clusterOptions{size: 1, extra: []string{"--bcrypt-cost", "4", "--auth-token-ttl", "1"}})
	m := c.Members[0]
	e := etcdctl{endpoints: m.Endpoint()}
	e.ok(t, "user", "add", "root:rootpw")
	e.ok(t, "user", "grant-role", "root", "root")
	e.ok(t, "auth", "enable")
	post := func(path, token, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", m.ClientURL+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := post("/v3/auth/authenticate", "", `{"name":"root","password":"rootpw"}`)
	var auth struct{ Token string }
	if err := json.NewDecoder(bytes.NewReader([]byte(body))).Decode(&auth); code != 200 || err != nil || auth.Token == "" {
		t.Fatalf("authenticate: %d %s", code, body)
	}
	if code, body := post("/v3/kv/put", auth.Token, `{"key":"YQ==","value":"Yg=="}`); code != 200 {
		t.Fatalf("put with a fresh token: %d %s", code, body)
	}
	if code, body := post("/v3/kv/range", "", `{"key":"YQ=="}`); code != 400 || !strings.Contains(body, "user name is empty") {
		t.Fatalf("range without a token: %d %s", code, body)
	}
	time.Sleep(3 * time.Second) // three times the TTL, unused
	if code, body := post("/v3/kv/range", auth.Token, `{"key":"YQ=="}`); code != 401 || !strings.Contains(body, "invalid auth token") {
		t.Fatalf("range with an expired token: %d %s", code, body)
	}
}

// waitAuthLeader waits until every member, asked as user, names the same
// leader (cluster.WaitLeader asks anonymously, which auth refuses).
func waitAuthLeader(t *testing.T, c *cluster, user, pw string) {
	t.Helper()
	deadline := time.Now().Add(leaderTimeout)
	var last error
	for time.Now().Before(deadline) {
		leaders := map[uint64]bool{}
		var err error
		for _, m := range c.Members {
			var cli *clientv3.Client
			cli, err = clientv3.New(clientv3.Config{Endpoints: []string{m.ClientURL}, Username: user, Password: pw, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
			if err != nil {
				break
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			st, serr := cli.Status(ctx, m.ClientURL)
			cancel()
			cli.Close()
			if serr != nil {
				err = serr
				break
			}
			leaders[st.Leader] = true
		}
		if err == nil && len(leaders) == 1 && !leaders[0] {
			return
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no agreed leader after %v: %v", leaderTimeout, last)
}
