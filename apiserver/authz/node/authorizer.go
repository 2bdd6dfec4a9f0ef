package node

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/kelson-dev/kelson/apiserver/authn"
	"github.com/kelson-dev/kelson/apiserver/authz"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
)

// LeaseNamespace holds the nodes' heartbeat Leases.
const LeaseNamespace = "kube-node-lease"

// Graph is what the node authorizer reads: pods by node, and claims. The
// API server implements it over its watch caches (a scan of the pods of a
// namespace is fine). Objects returned are shared and not modified.
// Methods must be safe for concurrent use.
type Graph interface {
	// PodsOnNode returns the pods whose spec.nodeName is node, in
	// namespace ("" for every namespace).
	PodsOnNode(ctx context.Context, namespace, node string) ([]*corev1.Pod, error)
	// Pod returns one pod, nil if there is none.
	Pod(ctx context.Context, namespace, name string) (*corev1.Pod, error)
	// PersistentVolumeClaim returns one claim, nil if there is none.
	PersistentVolumeClaim(ctx context.Context, namespace, name string) (*corev1.PersistentVolumeClaim, error)
}

// Authorizer is the node authorizer over a Graph; build it with New.
type Authorizer struct {
	graph Graph
}

// New returns the node authorizer reading g.
func New(g Graph) *Authorizer { return &Authorizer{graph: g} }

// NodeName returns the node u acts for: u is system:node:<name> in the
// group system:nodes.
func NodeName(u *authn.User) (string, bool) {
	if u == nil || !u.InGroup(authn.NodesGroup) || !strings.HasPrefix(u.Name, authn.NodeUserPrefix) {
		return "", false
	}
	name := strings.TrimPrefix(u.Name, authn.NodeUserPrefix)
	return name, name != ""
}

// Authorize decides the requests of node users (see the package
// documentation for the table); it has no opinion on anyone else's and on
// anything a node may not do, with a reason for those it looked at.
func (z *Authorizer) Authorize(ctx context.Context, a authz.Attributes) (authz.Decision, string, error) {
	node, ok := NodeName(a.User)
	if !ok || !a.ResourceRequest {
		return authz.NoOpinion, "", nil
	}
	allowed, reason, err := z.decide(ctx, node, a)
	if err != nil {
		return authz.NoOpinion, "", fmt.Errorf("node authorizer: %w", err)
	}
	if allowed {
		return authz.Allow, "", nil
	}
	return authz.NoOpinion, reason, nil
}

// noRelation is kube-apiserver's reason for an object no pod of the node
// references.
func noRelation(node string) string {
	return fmt.Sprintf("no relationship found between node '%s' and this object", node)
}

func verbIn(a authz.Attributes, verbs ...string) bool { return slices.Contains(verbs, a.Verb) }

// decide: whether node may do a, and why not.
func (z *Authorizer) decide(ctx context.Context, node string, a authz.Attributes) (bool, string, error) {
	switch a.Group {
	case "":
		return z.decideCore(ctx, node, a)
	case "events.k8s.io":
		return a.Resource == "events" && a.Subresource == "" && verbIn(a, "create", "update", "patch"), "", nil
	case "discovery.k8s.io":
		// The agent's proxy and DNS watch every EndpointSlice.
		return a.Resource == "endpointslices" && a.Subresource == "" && verbIn(a, "get", "list", "watch"), "", nil
	case "coordination.k8s.io":
		if a.Resource != "leases" || a.Subresource != "" {
			return false, "", nil
		}
		if a.Namespace != LeaseNamespace {
			return false, fmt.Sprintf("can only access node lease in the %s namespace", LeaseNamespace), nil
		}
		return ownObject(node, a, "create", "get", "update", "patch")
	case "metrics.kelson.dev":
		// The node's usage report (NodeUsage, named after the node).
		if a.Resource != "nodeusages" || a.Subresource != "" {
			return false, "", nil
		}
		return ownObject(node, a, "create", "get", "update", "patch")
	}
	return false, "", nil
}

// ownObject allows the verbs on the object named after node; create has
// no name to check (admission checks the object's).
func ownObject(node string, a authz.Attributes, verbs ...string) (bool, string, error) {
	if !verbIn(a, verbs...) {
		return false, "", nil
	}
	if a.Verb == "create" && a.Name == "" {
		return true, "", nil
	}
	if a.Name != node {
		return false, fmt.Sprintf("node '%s' can only access its own %s", node, a.Resource), nil
	}
	return true, "", nil
}

func (z *Authorizer) decideCore(ctx context.Context, node string, a authz.Attributes) (bool, string, error) {
	switch a.Resource {
	case "nodes":
		switch a.Subresource {
		case "":
			// Every node is read (routes to their pod CIDRs); a node
			// registers itself and updates its own.
			if verbIn(a, "get", "list", "watch") {
				return true, "", nil
			}
			return ownObject(node, a, "create", "update", "patch")
		case "status":
			return ownObject(node, a, "get", "update", "patch")
		}
		return false, "", nil
	case "pods":
		return z.decidePods(ctx, node, a)
	case "events":
		return a.Subresource == "" && verbIn(a, "create", "update", "patch"), "", nil
	case "services":
		// Service environment variables, the proxy and DNS.
		return a.Subresource == "" && verbIn(a, "get", "list", "watch"), "", nil
	case "secrets", "configmaps", "persistentvolumeclaims":
		if a.Subresource != "" || a.Verb != "get" || a.Name == "" {
			return false, noRelation(node), nil
		}
		pods, err := z.graph.PodsOnNode(ctx, a.Namespace, node)
		if err != nil {
			return false, "", err
		}
		for _, p := range pods {
			var uses bool
			switch a.Resource {
			case "secrets":
				uses = ReferencesSecret(p, a.Name)
			case "configmaps":
				uses = ReferencesConfigMap(p, a.Name)
			default:
				uses = slices.Contains(Claims(p), a.Name)
			}
			if uses {
				return true, "", nil
			}
		}
		return false, noRelation(node), nil
	case "persistentvolumes":
		if a.Subresource != "" || a.Verb != "get" || a.Name == "" {
			return false, noRelation(node), nil
		}
		return z.usesVolume(ctx, node, a.Name)
	case "serviceaccounts":
		// A token for the account of a pod of the node.
		if a.Subresource != "token" || a.Verb != "create" || a.Name == "" {
			return false, noRelation(node), nil
		}
		pods, err := z.graph.PodsOnNode(ctx, a.Namespace, node)
		if err != nil {
			return false, "", err
		}
		for _, p := range pods {
			if ServiceAccountOf(p) == a.Name {
				return true, "", nil
			}
		}
		return false, noRelation(node), nil
	}
	return false, "", nil
}

// usesVolume: a pod of the node uses a claim bound to the volume pv.
func (z *Authorizer) usesVolume(ctx context.Context, node, pv string) (bool, string, error) {
	pods, err := z.graph.PodsOnNode(ctx, "", node)
	if err != nil {
		return false, "", err
	}
	for _, p := range pods {
		for _, claim := range Claims(p) {
			c, err := z.graph.PersistentVolumeClaim(ctx, p.Namespace, claim)
			if err != nil {
				return false, "", err
			}
			if c != nil && c.Spec.VolumeName == pv {
				return true, "", nil
			}
		}
	}
	return false, noRelation(node), nil
}

// decidePods: a node lists and watches the pods bound to it (the field
// selector spec.nodeName=<node> is required), reads, updates the status
// of and deletes those pods. A pod that does not exist may be asked for
// (the answer is 404), so an agent racing a deletion sees NotFound.
func (z *Authorizer) decidePods(ctx context.Context, node string, a authz.Attributes) (bool, string, error) {
	switch {
	case a.Subresource == "" && verbIn(a, "list", "watch"):
		sel, err := fields.ParseSelector(a.FieldSelector)
		if err == nil {
			if v, ok := sel.RequiresExactMatch("spec.nodeName"); ok && v == node {
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("can only list/watch pods with spec.nodeName=%s field selector", node), nil
	case a.Subresource == "" && verbIn(a, "get", "delete"),
		a.Subresource == "status" && verbIn(a, "get", "update", "patch"):
		if a.Name == "" {
			return false, noRelation(node), nil
		}
		p, err := z.graph.Pod(ctx, a.Namespace, a.Name)
		if err != nil {
			return false, "", err
		}
		if p == nil || p.Spec.NodeName == node {
			return true, "", nil
		}
		return false, noRelation(node), nil
	}
	return false, "", nil
}
