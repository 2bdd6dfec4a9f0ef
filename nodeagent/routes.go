package nodeagent

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"github.com/kelson-dev/kelson/nodeagent/podnet"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// nodeRoutes is host-gw's routing table: every other node's pod CIDR
// through its first InternalIP. Nodes without a pod CIDR or an
// InternalIP, and the agent's own node, have no route. Sorted by CIDR,
// so equal inputs give equal tables.
func nodeRoutes(nodes []*corev1.Node, self string) []podnet.NodeRoute {
	var routes []podnet.NodeRoute
	for _, n := range nodes {
		if n.Name == self {
			continue
		}
		cidr := n.Spec.PodCIDR
		if cidr == "" && len(n.Spec.PodCIDRs) > 0 {
			cidr = n.Spec.PodCIDRs[0]
		}
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			continue
		}
		var ip netip.Addr
		for _, a := range n.Status.Addresses {
			if a.Type != corev1.NodeInternalIP {
				continue
			}
			if x, err := netip.ParseAddr(a.Address); err == nil && x.Is4() == p.Addr().Is4() {
				ip = x
				break
			}
		}
		if !ip.IsValid() {
			continue
		}
		routes = append(routes, podnet.NodeRoute{PodCIDR: p.Masked(), NodeIP: ip})
	}
	slices.SortFunc(routes, func(a, b podnet.NodeRoute) int { return a.PodCIDR.Addr().Compare(b.PodCIDR.Addr()) })
	return routes
}

// syncRoutes keeps pn's host-gw routes equal to nodeRoutes of the Node
// informer: at every change (kick) and every 30 s.
func (a *Agent) syncRoutes(ctx context.Context, pn podnet.Network, nodes corelisters.NodeLister, kick <-chan struct{}) {
	var last []podnet.NodeRoute
	applied := false
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		list, err := nodes.List(labels.Everything())
		if err == nil {
			want := nodeRoutes(list, a.cfg.NodeName)
			if !applied || !slices.Equal(want, last) {
				if err := pn.SetRoutes(ctx, want); err != nil {
					a.log.Warn("setting the routes to other nodes' pods failed; retrying", "err", err)
				} else {
					last, applied = want, true
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-t.C:
		}
	}
}
