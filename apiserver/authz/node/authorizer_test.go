package node

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/kelson-dev/kelson/apiserver/authn"
	"github.com/kelson-dev/kelson/apiserver/authz"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// memGraph is a Graph over lists.
type memGraph struct {
	pods   []*corev1.Pod
	claims []*corev1.PersistentVolumeClaim
}

func (g *memGraph) PodsOnNode(_ context.Context, ns, node string) ([]*corev1.Pod, error) {
	var out []*corev1.Pod
	for _, p := range g.pods {
		if p.Spec.NodeName == node && (ns == "" || p.Namespace == ns) {
			out = append(out, p)
		}
	}
	return out, nil
}

func (g *memGraph) Pod(_ context.Context, ns, name string) (*corev1.Pod, error) {
	for _, p := range g.pods {
		if p.Namespace == ns && p.Name == name {
			return p, nil
		}
	}
	return nil, nil
}

func (g *memGraph) PersistentVolumeClaim(_ context.Context, ns, name string) (*corev1.PersistentVolumeClaim, error) {
	for _, c := range g.claims {
		if c.Namespace == ns && c.Name == name {
			return c, nil
		}
	}
	return nil, nil
}

// TestNodeAuthorizer runs testdata/node:
//
//	pods / claims: YAML lists that replace the graph's
//	authorize user=<name> [groups=a,b]: one request a line,
//	  "verb [group:]resource[/sub] [ns/]name [fieldSelector]"
//	  ("-" for no name), printing the decision and reason.
func TestNodeAuthorizer(t *testing.T) {
	g := &memGraph{}
	z := New(g)
	datadriven.RunTest(t, "testdata/node", func(t *testing.T, d *datadriven.TestData) string {
		switch d.Cmd {
		case "pods":
			g.pods = nil
			if err := yaml.UnmarshalStrict([]byte(d.Input), &g.pods); err != nil {
				d.Fatalf(t, "pods: %v", err)
			}
			return ""
		case "claims":
			g.claims = nil
			if err := yaml.UnmarshalStrict([]byte(d.Input), &g.claims); err != nil {
				d.Fatalf(t, "claims: %v", err)
			}
			return ""
		case "authorize":
			var name, groups string
			d.ScanArgs(t, "user", &name)
			groups = authn.NodesGroup
			if d.HasArg("groups") {
				d.ScanArgs(t, "groups", &groups)
			}
			u := &authn.User{Name: name, Groups: strings.Split(groups, ",")}
			var b strings.Builder
			for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
				a := parse(t, line)
				a.User = u
				dec, reason, err := z.Authorize(context.Background(), a)
				if err != nil {
					t.Fatalf("%s: %v", line, err)
				}
				fmt.Fprintf(&b, "%s: %s", line, dec)
				if reason != "" {
					fmt.Fprintf(&b, " (%s)", reason)
				}
				b.WriteString("\n")
			}
			return b.String()
		}
		d.Fatalf(t, "unknown command %s", d.Cmd)
		return ""
	})
}

func parse(t *testing.T, line string) authz.Attributes {
	f := strings.Fields(line)
	if len(f) < 3 {
		t.Fatalf("bad request %q", line)
	}
	a := authz.Attributes{Verb: f[0], ResourceRequest: true}
	res := f[1]
	if group, r, ok := strings.Cut(res, ":"); ok {
		a.Group, res = group, r
	}
	a.Resource, a.Subresource, _ = strings.Cut(res, "/")
	if f[2] != "-" {
		if ns, name, ok := strings.Cut(f[2], "/"); ok {
			a.Namespace, a.Name = ns, name
		} else {
			a.Name = f[2]
		}
	}
	if len(f) > 3 {
		if ns, ok := strings.CutPrefix(f[3], "ns="); ok {
			a.Namespace = ns
		} else {
			a.FieldSelector = f[3]
		}
	}
	return a
}
