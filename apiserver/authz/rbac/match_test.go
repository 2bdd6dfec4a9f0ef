package rbac

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/kelson-dev/kelson/apiserver/authz"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// script is a datadriven case's input: YAML.
type script struct {
	Rules     []rbacv1.PolicyRule `json:"rules"`
	Requests  []string            `json:"requests"`
	Owner     []rbacv1.PolicyRule `json:"owner"`
	Requested []rbacv1.PolicyRule `json:"requested"`
}

// parseRequest reads "verb group:resource[/sub] [name]" or "verb /path".
func parseRequest(t *testing.T, s string) authz.Attributes {
	f := strings.Fields(s)
	if len(f) < 2 {
		t.Fatalf("bad request %q", s)
	}
	a := authz.Attributes{Verb: f[0]}
	if strings.HasPrefix(f[1], "/") {
		a.Path = f[1]
		return a
	}
	a.ResourceRequest = true
	group, res, ok := strings.Cut(f[1], ":")
	if !ok {
		t.Fatalf("bad resource %q (want group:resource, \"\" group as :pods)", f[1])
	}
	a.Group = group
	a.Resource, a.Subresource, _ = strings.Cut(res, "/")
	if len(f) > 2 {
		a.Name = f[2]
	}
	return a
}

// TestRules runs testdata/rules: `match` prints allow/deny for each
// request against the rules; `covers` prints what owner lacks of
// requested.
func TestRules(t *testing.T) {
	datadriven.RunTest(t, "testdata/rules", func(t *testing.T, d *datadriven.TestData) string {
		var sc script
		if err := yaml.UnmarshalStrict([]byte(d.Input), &sc); err != nil {
			d.Fatalf(t, "input: %v", err)
		}
		var b strings.Builder
		switch d.Cmd {
		case "match":
			for _, r := range sc.Requests {
				verdict := "deny"
				if AllowsAny(sc.Rules, parseRequest(t, r)) {
					verdict = "allow"
				}
				fmt.Fprintf(&b, "%s: %s\n", r, verdict)
			}
		case "covers":
			ok, missing := Covers(sc.Owner, sc.Requested)
			fmt.Fprintf(&b, "covered: %v\n", ok)
			for _, m := range missing {
				fmt.Fprintf(&b, "%s\n", CompactString(m))
			}
		default:
			d.Fatalf(t, "unknown command %s", d.Cmd)
		}
		return b.String()
	})
}
