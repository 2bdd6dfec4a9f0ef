package admission

import (
	"context"
	"testing"

	"github.com/kelson-dev/kelson/apiserver/authn"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNodeName(t *testing.T) {
	for _, tc := range []struct {
		u    *authn.User
		want string
	}{
		{nil, ""},
		{&authn.User{Name: "system:node:a", Groups: []string{authn.NodesGroup}}, "a"},
		{&authn.User{Name: "system:node:a"}, ""}, // not in system:nodes
		{&authn.User{Name: "kelson-agent", Groups: []string{authn.NodesGroup}}, ""},
	} {
		if got := NodeName(tc.u); got != tc.want {
			t.Errorf("NodeName(%+v) = %q, want %q", tc.u, got, tc.want)
		}
	}
}

func TestNodeRestriction(t *testing.T) {
	f := newFakes()
	mine := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "mine", Namespace: "ns"}, Spec: corev1.PodSpec{NodeName: "a"}}
	theirs := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "theirs", Namespace: "ns"}, Spec: corev1.PodSpec{NodeName: "b"}}
	f.pods["ns/mine"], f.pods["ns/theirs"] = mine, theirs
	p := &NodeRestriction{Pods: f}
	node := func(name string, labels map[string]string) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	}
	asNode := func(a *Attributes) *Attributes {
		a.User = &authn.User{Name: "system:node:a", Groups: []string{authn.NodesGroup, authn.AllAuthenticated}}
		return a
	}
	lease := func(ns, name string) *Attributes {
		return asNode(attrs(Update, "leases", "", ns, name, nil, nil))
	}
	for _, tc := range []struct {
		name string
		a    *Attributes
		want string
	}{
		{"admin anything", attrs(Update, "nodes", "", "", "b", node("b", nil), node("b", nil)), ""},
		{"own node create", asNode(attrs(Create, "nodes", "", "", "a", node("a", map[string]string{"kubernetes.io/hostname": "a"}), nil)), ""},
		{"own node status", asNode(attrs(Update, "nodes", "status", "", "a", node("a", nil), node("a", nil))), ""},
		{"other node", asNode(attrs(Update, "nodes", "", "", "b", node("b", nil), node("b", nil))),
			`nodes "b" is forbidden: node "a" is not allowed to modify node "b"`},
		{"other node create", asNode(attrs(Create, "nodes", "", "", "b", node("b", nil), nil)),
			`nodes "b" is forbidden: node "a" is not allowed to modify node "b"`},
		{"other node delete", asNode(attrs(Delete, "nodes", "", "", "b", nil, node("b", nil))),
			`nodes "b" is forbidden: node "a" is not allowed to modify node "b"`},
		{"restricted label on create", asNode(attrs(Create, "nodes", "", "", "a", node("a", map[string]string{"node-restriction.kubernetes.io/pci": "yes"}), nil)),
			`nodes "a" is forbidden: node "a" is not allowed to set the following labels: node-restriction.kubernetes.io/pci`},
		{"restricted label changed", asNode(attrs(Update, "nodes", "", "", "a",
			node("a", map[string]string{"node-restriction.kubernetes.io/pci": "no"}), node("a", map[string]string{"node-restriction.kubernetes.io/pci": "yes", "node-restriction.kubernetes.io/x": "1"}))),
			`nodes "a" is forbidden: node "a" is not allowed to modify labels: node-restriction.kubernetes.io/pci, node-restriction.kubernetes.io/x`},
		{"restricted label kept", asNode(attrs(Update, "nodes", "", "", "a",
			node("a", map[string]string{"node-restriction.kubernetes.io/pci": "yes", "other": "1"}), node("a", map[string]string{"node-restriction.kubernetes.io/pci": "yes"}))), ""},
		{"pod create", asNode(attrs(Create, "pods", "", "ns", "new", &corev1.Pod{Spec: corev1.PodSpec{NodeName: "a"}}, nil)),
			`pods "new" is forbidden: node "a" can not create pods: Kelson has no mirror pods (static pods) a node could create`},
		{"own pod status", asNode(attrs(Update, "pods", "status", "ns", "mine", mine, mine)), ""},
		{"other pod status", asNode(attrs(Update, "pods", "status", "ns", "theirs", theirs, theirs)),
			`pods "theirs" is forbidden: node "a" can only update pod status for pods with spec.nodeName set to itself`},
		{"pod spec update", asNode(attrs(Update, "pods", "", "ns", "mine", mine, mine)),
			`pods "mine" is forbidden: unexpected operation UPDATE of pods: node "a" may only delete pods bound to it, update their status and evict them`},
		{"own pod delete", asNode(attrs(Delete, "pods", "", "ns", "mine", nil, mine)), ""},
		{"other pod delete", asNode(attrs(Delete, "pods", "", "ns", "theirs", nil, theirs)),
			`pods "theirs" is forbidden: node "a" can only delete pods with spec.nodeName set to itself`},
		{"own pod eviction", asNode(attrs(Create, "pods", "eviction", "ns", "mine", &policyv1.Eviction{}, nil)), ""},
		{"other pod eviction", asNode(attrs(Create, "pods", "eviction", "ns", "theirs", &policyv1.Eviction{}, nil)),
			`pods "theirs" is forbidden: node "a" can only evict pods with spec.nodeName set to itself`},
		{"missing pod eviction", asNode(attrs(Create, "pods", "eviction", "ns", "gone", &policyv1.Eviction{}, nil)), ""},
		{"own lease", lease("kube-node-lease", "a"), ""},
		{"other lease", lease("kube-node-lease", "b"), `leases.coordination.k8s.io "b" is forbidden: can only access node lease with the same name as the requesting node`},
		{"lease elsewhere", lease("default", "a"), `leases.coordination.k8s.io "a" is forbidden: can only access leases in the "kube-node-lease" system namespace`},
		{"configmap", asNode(attrs(Create, "configmaps", "", "ns", "c", &corev1.ConfigMap{}, nil)), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := p.Validate(context.Background(), tc.a)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}
