package admission

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/kelson-dev/kelson/apiserver/authn"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// NodeRestriction limits what a node agent (user system:node:<name> in
// group system:nodes) may write, as kube-apiserver's plugin of that name:
//
//   - its own Node only (create, update, patch, status, delete), without
//     setting or changing labels under node-restriction.kubernetes.io/;
//   - pods: no creates (Kubernetes lets a node create mirror pods; Kelson
//     has none), no updates but of the status of pods bound to it,
//     deletes and evictions of pods bound to it only;
//   - leases: only its own, in kube-node-lease.
//
// Other users, and writes of other resources, pass. Which resources a
// node may touch at all is the Node authorizer's business.
type NodeRestriction struct {
	Pods PodGetter
}

// nodeRestrictionPrefix: labels a node may not set on itself (they are
// for admins to steer workloads with).
const nodeRestrictionPrefix = "node-restriction.kubernetes.io/"

// NodeLeaseNamespace holds the nodes' heartbeat Leases.
const NodeLeaseNamespace = "kube-node-lease"

// Handles every write.
func (p *NodeRestriction) Handles(op Operation) bool { return op != Connect }

// NodeName is the node a user acts for: "" unless the user is
// system:node:<name> in group system:nodes.
func NodeName(u *authn.User) string {
	if u == nil || !u.InGroup(authn.NodesGroup) || !strings.HasPrefix(u.Name, authn.NodeUserPrefix) {
		return ""
	}
	return strings.TrimPrefix(u.Name, authn.NodeUserPrefix)
}

// Validate refuses what the type's doc rules out.
func (p *NodeRestriction) Validate(ctx context.Context, a *Attributes) error {
	node := NodeName(a.User)
	if node == "" {
		return nil
	}
	switch {
	case a.is("", "nodes"):
		return nodeWrite(a, node)
	case a.is("", "pods"):
		return p.podWrite(ctx, a, node)
	case a.is("coordination.k8s.io", "leases"):
		if a.Namespace != NodeLeaseNamespace {
			return forbiddenf(a, "can only access leases in the %q system namespace", NodeLeaseNamespace)
		}
		if a.Name != node {
			return forbiddenf(a, "can only access node lease with the same name as the requesting node")
		}
	}
	return nil
}

// nodeWrite decides a node's write of a Node.
func nodeWrite(a *Attributes, node string) error {
	if a.Name != node {
		return forbiddenf(a, "node %q is not allowed to modify node %q", node, a.Name)
	}
	n, _ := a.Object.(*corev1.Node)
	old, _ := a.OldObject.(*corev1.Node)
	switch {
	case a.Operation == Create && n != nil:
		if bad := restrictedLabels(n.Labels, nil); len(bad) > 0 {
			return forbiddenf(a, "node %q is not allowed to set the following labels: %s", node, strings.Join(bad, ", "))
		}
	case a.Operation == Update && n != nil && old != nil:
		if bad := restrictedLabels(n.Labels, old.Labels); len(bad) > 0 {
			return forbiddenf(a, "node %q is not allowed to modify labels: %s", node, strings.Join(bad, ", "))
		}
	}
	return nil
}

// restrictedLabels are the labels under node-restriction.kubernetes.io/
// that differ between labels and old (added, changed or removed), sorted.
func restrictedLabels(labels, old map[string]string) []string {
	var bad []string
	for k, v := range labels {
		if strings.HasPrefix(k, nodeRestrictionPrefix) {
			if ov, ok := old[k]; !ok || ov != v {
				bad = append(bad, k)
			}
		}
	}
	for k := range old {
		if _, ok := labels[k]; !ok && strings.HasPrefix(k, nodeRestrictionPrefix) {
			bad = append(bad, k)
		}
	}
	sort.Strings(bad)
	return bad
}

// podWrite decides a node's write of a pod.
func (p *NodeRestriction) podWrite(ctx context.Context, a *Attributes, node string) error {
	switch {
	case a.Operation == Create && a.Subresource == "":
		return forbiddenf(a, "node %q can not create pods: Kelson has no mirror pods (static pods) a node could create", node)
	case a.Operation == Create && a.Subresource == "eviction":
		pod, err := p.Pods.GetPod(ctx, a.Namespace, a.Name)
		if apierrors.IsNotFound(err) {
			return nil // the eviction answers 404 itself
		}
		if err != nil {
			return err
		}
		if pod.Spec.NodeName != node {
			return forbiddenf(a, "node %q can only evict pods with spec.nodeName set to itself", node)
		}
	case a.Operation == Update && a.Subresource == "status":
		if old, ok := a.OldObject.(*corev1.Pod); !ok || old.Spec.NodeName != node {
			return forbiddenf(a, "node %q can only update pod status for pods with spec.nodeName set to itself", node)
		}
	case a.Operation == Delete && a.Subresource == "":
		if old, ok := a.OldObject.(*corev1.Pod); !ok || old.Spec.NodeName != node {
			return forbiddenf(a, "node %q can only delete pods with spec.nodeName set to itself", node)
		}
	default:
		return forbidden(a, fmt.Errorf("unexpected operation %s of %s: node %q may only delete pods bound to it, update their status and evict them",
			a.Operation, strings.TrimSuffix("pods/"+a.Subresource, "/"), node))
	}
	return nil
}
