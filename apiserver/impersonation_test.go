package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/apiserver/audit"
	"github.com/kelson-dev/kelson/apiserver/authn"
	"github.com/kelson-dev/kelson/apiserver/authz"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// check is an impersonate check of the table, in short: resource
// [subresource] namespace name.
type impCheck struct{ group, resource, sub, ns, name string }

func TestImpersonationParse(t *testing.T) {
	bob := &authn.User{Name: "bob", Groups: []string{"dev", authn.AllAuthenticated}}
	const auth = authn.AllAuthenticated
	for _, tc := range []struct {
		name    string
		headers map[string][]string
		none    bool   // no impersonation
		bad     string // a 400 whose message contains this
		user    *authn.User
		checks  []impCheck
	}{
		{name: "no headers", headers: map[string][]string{"Authorization": {"Bearer x"}}, none: true},
		{name: "empty user header", headers: map[string][]string{"Impersonate-User": {""}}, none: true},
		{name: "user", headers: map[string][]string{"Impersonate-User": {"jane"}},
			user:   &authn.User{Name: "jane", Groups: []string{auth}},
			checks: []impCheck{{"", "users", "", "", "jane"}}},
		{name: "header names in any case", headers: map[string][]string{"impersonate-user": {"jane"}, "IMPERSONATE-GROUP": {"g"}},
			user:   &authn.User{Name: "jane", Groups: []string{"g", auth}},
			checks: []impCheck{{"", "users", "", "", "jane"}, {"", "groups", "", "", "g"}}},
		{name: "user and groups", headers: map[string][]string{"Impersonate-User": {"jane"}, "Impersonate-Group": {"a", "b"}},
			user:   &authn.User{Name: "jane", Groups: []string{"a", "b", auth}},
			checks: []impCheck{{"", "users", "", "", "jane"}, {"", "groups", "", "", "a"}, {"", "groups", "", "", "b"}}},
		{name: "system:authenticated given is not doubled", headers: map[string][]string{"Impersonate-User": {"jane"}, "Impersonate-Group": {auth}},
			user:   &authn.User{Name: "jane", Groups: []string{auth}},
			checks: []impCheck{{"", "users", "", "", "jane"}, {"", "groups", "", "", auth}}},
		{name: "system:unauthenticated given: not authenticated", headers: map[string][]string{"Impersonate-User": {"jane"}, "Impersonate-Group": {authn.AllUnauthenticated}},
			user:   &authn.User{Name: "jane", Groups: []string{authn.AllUnauthenticated}},
			checks: []impCheck{{"", "users", "", "", "jane"}, {"", "groups", "", "", authn.AllUnauthenticated}}},
		{name: "anonymous", headers: map[string][]string{"Impersonate-User": {authn.Anonymous}},
			user:   &authn.User{Name: authn.Anonymous, Groups: []string{authn.AllUnauthenticated}},
			checks: []impCheck{{"", "users", "", "", authn.Anonymous}}},
		{name: "service account: its groups", headers: map[string][]string{"Impersonate-User": {"system:serviceaccount:ns1:x"}},
			user:   &authn.User{Name: "system:serviceaccount:ns1:x", Groups: []string{"system:serviceaccounts", "system:serviceaccounts:ns1", auth}},
			checks: []impCheck{{"", "serviceaccounts", "", "ns1", "x"}}},
		{name: "service account with groups: those only", headers: map[string][]string{"Impersonate-User": {"system:serviceaccount:ns1:x"}, "Impersonate-Group": {"g"}},
			user:   &authn.User{Name: "system:serviceaccount:ns1:x", Groups: []string{"g", auth}},
			checks: []impCheck{{"", "serviceaccounts", "", "ns1", "x"}, {"", "groups", "", "", "g"}}},
		{name: "malformed service account names are users", headers: map[string][]string{"Impersonate-User": {"system:serviceaccount::x"}},
			user:   &authn.User{Name: "system:serviceaccount::x", Groups: []string{auth}},
			checks: []impCheck{{"", "users", "", "", "system:serviceaccount::x"}}},
		{name: "service account name with a colon is a user", headers: map[string][]string{"Impersonate-User": {"system:serviceaccount:a:b:c"}},
			user:   &authn.User{Name: "system:serviceaccount:a:b:c", Groups: []string{auth}},
			checks: []impCheck{{"", "users", "", "", "system:serviceaccount:a:b:c"}}},
		{name: "extras: key lower case and percent-decoded, one check a value", headers: map[string][]string{
			"Impersonate-User": {"jane"}, "Impersonate-Extra-Scopes": {"view", "edit"}, "Impersonate-Extra-Example.com%2fteam": {"x"}},
			user: &authn.User{Name: "jane", Groups: []string{auth},
				Extra: map[string][]string{"scopes": {"view", "edit"}, "example.com/team": {"x"}}},
			checks: []impCheck{{"", "users", "", "", "jane"},
				{"authentication.k8s.io", "userextras", "example.com/team", "", "x"},
				{"authentication.k8s.io", "userextras", "scopes", "", "view"},
				{"authentication.k8s.io", "userextras", "scopes", "", "edit"}}},
		{name: "bad percent escape: the key as sent", headers: map[string][]string{"Impersonate-User": {"jane"}, "Impersonate-Extra-A%zz": {"v"}},
			user:   &authn.User{Name: "jane", Groups: []string{auth}, Extra: map[string][]string{"a%zz": {"v"}}},
			checks: []impCheck{{"", "users", "", "", "jane"}, {"authentication.k8s.io", "userextras", "a%zz", "", "v"}}},
		{name: "uid", headers: map[string][]string{"Impersonate-User": {"jane"}, "Impersonate-Uid": {"42"}},
			user:   &authn.User{Name: "jane", UID: "42", Groups: []string{auth}},
			checks: []impCheck{{"", "users", "", "", "jane"}, {"authentication.k8s.io", "uids", "", "", "42"}}},
		{name: "groups without a user", headers: map[string][]string{"Impersonate-Group": {"a", "b"}},
			bad: `requested [group "a", group "b"] without impersonating a user`},
		{name: "groups with an empty user", headers: map[string][]string{"Impersonate-User": {""}, "Impersonate-Group": {"a"}},
			bad: "without impersonating a user"},
		{name: "uid without a user", headers: map[string][]string{"Impersonate-Uid": {"42"}},
			bad: `requested [uid "42"] without impersonating a user`},
		{name: "extra without a user", headers: map[string][]string{"Impersonate-Extra-Scopes": {"v"}},
			bad: `requested [userextra scopes "v"] without impersonating a user`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			imp, ok, err := parseImpersonation(http.Header(tc.headers), bob)
			if tc.bad != "" {
				if err == nil || !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), tc.bad) {
					t.Fatalf("err = %v, want a 400 with %q", err, tc.bad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ok == tc.none {
				t.Fatalf("ok = %v, want %v", ok, !tc.none)
			}
			if tc.none {
				return
			}
			if !reflect.DeepEqual(imp.User, tc.user) {
				t.Errorf("user = %+v, want %+v", imp.User, tc.user)
			}
			var got []impCheck
			for _, c := range imp.Checks {
				if c.User != bob || c.Verb != "impersonate" || !c.ResourceRequest {
					t.Errorf("check %+v: not bob's impersonate resource request", c)
				}
				got = append(got, impCheck{c.Group, c.Resource, c.Subresource, c.Namespace, c.Name})
			}
			if !reflect.DeepEqual(got, tc.checks) {
				t.Errorf("checks = %v, want %v", got, tc.checks)
			}
		})
	}
}

func TestImpersonationForbiddenMessage(t *testing.T) {
	bob := &authn.User{Name: "bob"}
	imp := func(group, resource, sub, ns, name string) authz.Attributes {
		return authz.Attributes{User: bob, Verb: "impersonate", ResourceRequest: true, Group: group, Resource: resource,
			Subresource: sub, Namespace: ns, Name: name}
	}
	for _, tc := range []struct {
		a      authz.Attributes
		reason string
		want   string
	}{
		{imp("", "users", "", "", "jane"), "",
			`users "jane" is forbidden: User "bob" cannot impersonate resource "users" in API group "" at the cluster scope`},
		{imp("", "groups", "", "", "admins"), "",
			`groups "admins" is forbidden: User "bob" cannot impersonate resource "groups" in API group "" at the cluster scope`},
		{imp("", "serviceaccounts", "", "ns1", "x"), "",
			`serviceaccounts "x" is forbidden: User "bob" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "ns1"`},
		{imp("authentication.k8s.io", "userextras", "scopes", "", "view"), "no",
			`userextras.authentication.k8s.io "view" is forbidden: User "bob" cannot impersonate resource "userextras/scopes" in API group "authentication.k8s.io" at the cluster scope: no`},
		{imp("authentication.k8s.io", "uids", "", "", "42"), "",
			`uids.authentication.k8s.io "42" is forbidden: User "bob" cannot impersonate resource "uids" in API group "authentication.k8s.io" at the cluster scope`},
	} {
		err := impersonationForbidden(tc.a, tc.reason)
		if !apierrors.IsForbidden(err) || err.Error() != tc.want {
			t.Errorf("got %v\nwant %s", err, tc.want)
		}
	}
}

// impersonationServer: an RBAC server with jane (devRole in dev), bob
// (nothing), carol (may impersonate the user jane, and nothing else) and
// dave (edit in dev: impersonates dev's service accounts).
func impersonationServer(t *testing.T) *rbacServer {
	t.Helper()
	rs := newRBACServer(t, startMember(t), map[string]*authn.User{
		"jane": {Name: "jane"}, "bob": {Name: "bob"}, "carol": {Name: "carol"}, "dave": {Name: "dave"}})
	a := rs.admin
	subject := func(name string) []rbacv1.Subject {
		return []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: name}}
	}
	mustCreate(t, a.CoreV1().Namespaces().Create, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "dev"}})
	mustCreate(t, a.RbacV1().Roles("dev").Create, devRole)
	mustCreate(t, a.RbacV1().RoleBindings("dev").Create, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "jane"},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "dev-worker"}, Subjects: subject("jane")})
	mustCreate(t, a.RbacV1().ClusterRoles().Create, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "impersonate-jane"},
		Rules: []rbacv1.PolicyRule{{Verbs: []string{"impersonate"}, APIGroups: []string{""}, Resources: []string{"users"}, ResourceNames: []string{"jane"}}}})
	mustCreate(t, a.RbacV1().ClusterRoleBindings().Create, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "carol"},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "impersonate-jane"}, Subjects: subject("carol")})
	mustCreate(t, a.RbacV1().RoleBindings("dev").Create, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "dave"},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"}, Subjects: subject("dave")})
	eventually(t, 20*time.Second, func() error {
		for _, tok := range []string{"jane", "dave"} {
			if code, _ := rs.do(tok, "GET", "/api/v1/namespaces/dev/pods", ""); code != 200 {
				return fmt.Errorf("%s's binding is not in the cache yet", tok)
			}
		}
		if code, _ := rs.doAs("carol", "GET", "/api/v1/namespaces/dev/pods", "", "Impersonate-User", "jane"); code != 200 {
			return fmt.Errorf("carol's binding is not in the cache yet")
		}
		return nil
	})
	return rs
}

// doAs sends one request with headers (name, value pairs).
func (rs *rbacServer) doAs(token, method, path, body string, headers ...string) (int, string) {
	rs.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, rs.url+path, strings.NewReader(body))
	if err != nil {
		rs.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := rs.http.Do(req)
	if err != nil {
		rs.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 1<<16)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}

// whoami asks, as token with headers, who the server takes it for.
func (rs *rbacServer) whoami(token string, headers ...string) authenticationv1.UserInfo {
	rs.t.Helper()
	code, out := rs.doAs(token, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
		`{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`, headers...)
	var r authenticationv1.SelfSubjectReview
	if code != 201 || json.Unmarshal([]byte(out), &r) != nil {
		rs.t.Fatalf("SelfSubjectReview %v: %d %s", headers, code, out)
	}
	return r.Status.UserInfo
}

func TestImpersonationRBAC(t *testing.T) {
	rs := impersonationServer(t)
	const devPods, defaultPods = "/api/v1/namespaces/dev/pods", "/api/v1/namespaces/default/pods"
	for _, tc := range []struct {
		name    string
		token   string
		path    string
		headers []string
		code    int
		msg     string
	}{
		// The admin (system:masters) as jane: jane's permissions.
		{"admin as jane, jane's namespace", "admin", devPods, []string{"Impersonate-User", "jane"}, 200, ""},
		{"admin as jane, elsewhere", "admin", defaultPods, []string{"Impersonate-User", "jane"}, 403,
			`pods is forbidden: User \"jane\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\"`},
		{"admin as jane in system:masters", "admin", defaultPods, []string{"Impersonate-User", "jane", "Impersonate-Group", "system:masters"}, 200, ""},
		// Without the right to impersonate.
		{"bob as jane", "bob", devPods, []string{"Impersonate-User", "jane"}, 403,
			`users \"jane\" is forbidden: User \"bob\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope`},
		{"jane as the admin", "jane", defaultPods, []string{"Impersonate-User", "system:admin", "Impersonate-Group", "system:masters"}, 403,
			`User \"jane\" cannot impersonate resource \"users\"`},
		// carol may be jane, and only jane.
		{"carol as jane", "carol", devPods, []string{"Impersonate-User", "jane"}, 200, ""},
		{"carol as jane, jane's limits", "carol", "/api/v1/namespaces/dev/secrets", []string{"Impersonate-User", "jane"}, 403,
			`User \"jane\" cannot list resource \"secrets\"`},
		{"carol as alice", "carol", devPods, []string{"Impersonate-User", "alice"}, 403,
			`users \"alice\" is forbidden: User \"carol\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope`},
		{"carol as jane in a group", "carol", devPods, []string{"Impersonate-User", "jane", "Impersonate-Group", "admins"}, 403,
			`groups \"admins\" is forbidden: User \"carol\" cannot impersonate resource \"groups\"`},
		{"carol as jane with an extra", "carol", devPods, []string{"Impersonate-User", "jane", "Impersonate-Extra-Scopes", "view"}, 403,
			`userextras.authentication.k8s.io \"view\" is forbidden: User \"carol\" cannot impersonate resource \"userextras/scopes\" in API group \"authentication.k8s.io\"`},
		{"carol as jane with a uid", "carol", devPods, []string{"Impersonate-User", "jane", "Impersonate-Uid", "42"}, 403,
			`uids.authentication.k8s.io \"42\" is forbidden: User \"carol\" cannot impersonate resource \"uids\"`},
		{"carol as jane's service account", "carol", devPods, []string{"Impersonate-User", "system:serviceaccount:dev:x"}, 403,
			`serviceaccounts \"x\" is forbidden: User \"carol\" cannot impersonate resource \"serviceaccounts\" in API group \"\" in the namespace \"dev\"`},
		// dave (edit in dev) may be dev's service accounts, not others'.
		{"dave as dev's service account", "dave", devPods, []string{"Impersonate-User", "system:serviceaccount:dev:x"}, 403,
			`User \"system:serviceaccount:dev:x\" cannot list resource \"pods\"`},
		{"dave as default's service account", "dave", devPods, []string{"Impersonate-User", "system:serviceaccount:default:x"}, 403,
			`serviceaccounts \"x\" is forbidden: User \"dave\" cannot impersonate resource \"serviceaccounts\" in API group \"\" in the namespace \"default\"`},
		// Malformed requests.
		{"groups without a user", "admin", devPods, []string{"Impersonate-Group", "system:masters"}, 400, "without impersonating a user"},
		{"uid without a user", "admin", devPods, []string{"Impersonate-Uid", "42"}, 400, "without impersonating a user"},
		{"bob: groups without a user", "bob", devPods, []string{"Impersonate-Group", "system:masters"}, 400, "without impersonating a user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := rs.doAs(tc.token, "GET", tc.path, "", tc.headers...)
			if code != tc.code || !strings.Contains(out, tc.msg) {
				t.Fatalf("%d %s\nwant %d with %s", code, out, tc.code, tc.msg)
			}
		})
	}

	// Who the server takes an impersonated request for.
	for _, tc := range []struct {
		headers []string
		want    authenticationv1.UserInfo
	}{
		{[]string{"Impersonate-User", "jane"}, authenticationv1.UserInfo{Username: "jane", Groups: []string{authn.AllAuthenticated}}},
		{[]string{"Impersonate-User", "jane", "Impersonate-Group", "a", "Impersonate-Group", "b", "Impersonate-Uid", "42",
			"Impersonate-Extra-Example.com%2fTeam", "red"},
			authenticationv1.UserInfo{Username: "jane", UID: "42", Groups: []string{"a", "b", authn.AllAuthenticated},
				Extra: map[string]authenticationv1.ExtraValue{"example.com/team": {"red"}}}},
		{[]string{"Impersonate-User", "system:serviceaccount:default:x"}, authenticationv1.UserInfo{Username: "system:serviceaccount:default:x",
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:default", authn.AllAuthenticated}}},
	} {
		if got := rs.whoami("admin", tc.headers...); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("whoami %v = %+v, want %+v", tc.headers, got, tc.want)
		}
	}
	if got := rs.whoami("carol", "Impersonate-User", "jane"); got.Username != "jane" {
		t.Errorf("carol as jane is %+v", got)
	}
	// Writes are the impersonated user's too: jane may not create a pod.
	if code, out := rs.doAs("carol", "POST", devPods, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i"}]}}`,
		"Impersonate-User", "jane"); code != 403 || !strings.Contains(out, `User \"jane\" cannot create resource \"pods\"`) {
		t.Fatalf("carol as jane creating a pod: %d %s", code, out)
	}
}

// TestImpersonationAudited: the event's user is the sender, its
// impersonatedUser the user acted as.
func TestImpersonationAudited(t *testing.T) {
	ts, lines := startAudited(t)
	req, _ := http.NewRequest(http.MethodGet, ts.http.URL+"/api/v1/namespaces/default/configmaps", nil)
	req.Header.Set("Authorization", "Bearer admin-token")
	req.Header.Set("Impersonate-User", "jane")
	req.Header.Set("Impersonate-Group", "g")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("as jane: %d", resp.StatusCode)
	}
	id := resp.Header.Get("Audit-Id")
	ev := lines.waitEvent(t, "list as jane", func(ev audit.Event) bool { return ev.AuditID == id && ev.Stage == audit.StageResponseComplete })
	want := &authenticationv1.UserInfo{Username: "jane", Groups: []string{"g", authn.AllAuthenticated}}
	if ev.User.Username != "system:admin" || !reflect.DeepEqual(ev.ImpersonatedUser, want) {
		t.Fatalf("user %+v, impersonated %+v; want system:admin as %+v", ev.User, ev.ImpersonatedUser, want)
	}
	// Without impersonation: no impersonatedUser.
	req.Header.Del("Impersonate-User")
	req.Header.Del("Impersonate-Group")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id = resp.Header.Get("Audit-Id")
	ev = lines.waitEvent(t, "list as admin", func(ev audit.Event) bool { return ev.AuditID == id && ev.Stage == audit.StageResponseComplete })
	if ev.ImpersonatedUser != nil {
		t.Fatalf("impersonatedUser %+v without impersonation", ev.ImpersonatedUser)
	}
}

// TestImpersonationKubectl: kubectl --as, --as-group against Node,RBAC.
func TestImpersonationKubectl(t *testing.T) {
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Skip("kubectl is not on the PATH")
	}
	rs := impersonationServer(t)
	dir := t.TempDir()
	kubectl := rs.kubectlAs(t, dir)
	mustContain(t, kubectl("admin", false, "auth", "can-i", "list", "pods", "--as", "jane"), "yes")
	mustContain(t, kubectl("admin", true, "auth", "can-i", "delete", "pods", "--as", "jane"), "no")
	mustContain(t, kubectl("admin", true, "auth", "can-i", "list", "pods", "-n", "default", "--as", "jane"), "no")
	mustContain(t, kubectl("carol", false, "auth", "can-i", "list", "pods", "--as", "jane"), "yes")
	mustContain(t, kubectl("carol", true, "auth", "can-i", "list", "pods", "--as", "alice"),
		`users "alice" is forbidden: User "carol" cannot impersonate resource "users" in API group "" at the cluster scope`)
	mustContain(t, kubectl("admin", true, "auth", "can-i", "list", "pods", "--as", "system:serviceaccount:default:x"), "no")
	mustContain(t, kubectl("admin", false, "auth", "can-i", "list", "pods", "--as", "jane", "--as-group", "system:masters", "-n", "default"), "yes")

	mustContain(t, kubectl("carol", false, "get", "pods", "--as", "jane"), "No resources found in dev namespace")
	// kubectl's discovery reports a 403 as "Forbidden: unknown" (as it
	// does against kube-apiserver); a request of its own shows the message.
	mustContain(t, kubectl("bob", true, "get", "pods", "--as", "jane"), "Error from server (Forbidden)")
	mustContain(t, kubectl("bob", true, "get", "--raw", "/api/v1/namespaces/dev/pods", "--as", "jane"),
		`users "jane" is forbidden: User "bob" cannot impersonate resource "users" in API group "" at the cluster scope`)
	mustContain(t, kubectl("admin", true, "get", "pods", "-n", "default", "--as", "system:serviceaccount:default:x"),
		`pods is forbidden: User "system:serviceaccount:default:x" cannot list resource "pods" in API group "" in the namespace "default"`)
	// kubectl itself refuses --as-group without --as (the server's 400
	// for the same headers: TestImpersonationRBAC).
	mustContain(t, kubectl("admin", true, "get", "pods", "--as-group", "system:masters"), "without impersonating a user")
	mustContain(t, kubectl("admin", false, "auth", "whoami", "--as", "jane", "--as-group", "a", "--as-uid", "42", "-o", "jsonpath={.status.userInfo}"),
		`"username":"jane"`, `"uid":"42"`, `"groups":["a","system:authenticated"]`)
}
