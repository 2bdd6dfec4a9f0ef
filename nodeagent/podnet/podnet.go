package podnet

import (
	"context"
	"net/netip"

	"k8s.io/apimachinery/pkg/types"
)

// PodRef names the pod a namespace is for.
type PodRef struct {
	UID             types.UID
	Namespace, Name string
}

// Attachment is a pod's network: the namespace its containers join and
// its IP.
type Attachment struct {
	NetNSPath string
	IP        netip.Addr
	// Gateway is the bridge's address, the pod's default route and the
	// address the node's cluster DNS answers on.
	Gateway netip.Addr
}

// NodeRoute says pod CIDR PodCIDR lives on the node at NodeIP.
type NodeRoute struct {
	PodCIDR netip.Prefix
	NodeIP  netip.Addr
}

// Network is what the pod worker and the agent use.
type Network interface {
	// Setup makes (or finds) the pod's namespace and address; calling it
	// again for the same UID returns the same Attachment.
	Setup(ctx context.Context, pod PodRef) (Attachment, error)
	// Teardown removes the pod's namespace, veth and address; tearing down
	// an unknown UID is a no-op.
	Teardown(ctx context.Context, uid types.UID) error
	// SetRoutes makes the node's routes to other nodes' pod CIDRs exactly
	// routes (the node's own CIDR excluded by the caller).
	SetRoutes(ctx context.Context, routes []NodeRoute) error
	// Attached lists the UIDs that have network state on disk (a namespace
	// or an IP), so the agent can tear down the ones it no longer runs
	// (after a restart, or a Teardown that failed).
	Attached(ctx context.Context) ([]types.UID, error)
}
