package podnet

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
)

// DefaultRouteProtocol marks the routes SetRoutes owns (rtm_protocol; the
// kernel keeps it and lets a dump filter on it). 0..4 are the kernel's,
// the numbers of /etc/iproute2/rt_protos name routing daemons; 77 is
// unused by them.
const DefaultRouteProtocol = 77

// RouteDiff is what SetRoutes changes: routes to add or replace (Replace,
// a new CIDR or a CIDR whose node IP changed) and CIDRs whose route to
// delete.
type RouteDiff struct {
	Replace []NodeRoute
	Delete  []NodeRoute
}

// Empty says whether there is nothing to do.
func (d RouteDiff) Empty() bool { return len(d.Replace) == 0 && len(d.Delete) == 0 }

// DesiredRoutes cleans the caller's route list: IPv4 only, CIDRs masked,
// one route per CIDR (the first wins; the later ones are reported),
// nothing overlapping the node's own CIDR (routed by the bridge) and no
// route through an address inside a pod CIDR. The rejected routes come
// back with the reason, for the caller to log; the result is sorted by
// CIDR.
func DesiredRoutes(own netip.Prefix, routes []NodeRoute) (keep []NodeRoute, rejected []error) {
	seen := map[netip.Prefix]bool{}
	for _, r := range routes {
		c := r.PodCIDR.Masked()
		switch {
		case !c.IsValid() || !c.Addr().Is4():
			rejected = append(rejected, fmt.Errorf("podnet: route %v via %v: the pod CIDR is not IPv4", r.PodCIDR, r.NodeIP))
		case !r.NodeIP.IsValid() || !r.NodeIP.Is4():
			rejected = append(rejected, fmt.Errorf("podnet: route %v via %v: the node IP is not IPv4", r.PodCIDR, r.NodeIP))
		case own.IsValid() && c.Overlaps(own):
			rejected = append(rejected, fmt.Errorf("podnet: route %v via %v overlaps this node's pod CIDR %v", r.PodCIDR, r.NodeIP, own))
		case c.Contains(r.NodeIP) || (own.IsValid() && own.Contains(r.NodeIP)):
			rejected = append(rejected, fmt.Errorf("podnet: route %v via %v: the node IP is inside a pod CIDR", r.PodCIDR, r.NodeIP))
		case seen[c]:
			rejected = append(rejected, fmt.Errorf("podnet: route %v via %v: a second route for that CIDR is ignored", r.PodCIDR, r.NodeIP))
		default:
			seen[c] = true
			keep = append(keep, NodeRoute{PodCIDR: c, NodeIP: r.NodeIP})
		}
	}
	sortRoutes(keep)
	return keep, rejected
}

// DiffRoutes compares the routes the node has (of our protocol) with the
// desired ones. A current route whose CIDR is not desired, a second one
// for a CIDR, or one through another node IP is deleted; a desired route
// not present is added (replace: it overwrites a route of the same CIDR
// at the same metric, so a CIDR that moved to another node changes in one
// step and its old route's delete then finds nothing, which is fine).
func DiffRoutes(current, desired []NodeRoute) RouteDiff {
	want := map[netip.Prefix]netip.Addr{}
	for _, r := range desired {
		want[r.PodCIDR] = r.NodeIP
	}
	have := map[netip.Prefix]bool{}
	var d RouteDiff
	for _, r := range current {
		via, ok := want[r.PodCIDR]
		if ok && via == r.NodeIP && !have[r.PodCIDR] {
			have[r.PodCIDR] = true
			continue
		}
		d.Delete = append(d.Delete, r)
	}
	for _, r := range desired {
		if !have[r.PodCIDR] {
			d.Replace = append(d.Replace, r)
		}
	}
	sortRoutes(d.Replace)
	sortRoutes(d.Delete)
	return d
}

func sortRoutes(rs []NodeRoute) {
	slices.SortFunc(rs, func(a, b NodeRoute) int {
		if c := a.PodCIDR.Addr().Compare(b.PodCIDR.Addr()); c != 0 {
			return c
		}
		if c := cmp.Compare(a.PodCIDR.Bits(), b.PodCIDR.Bits()); c != 0 {
			return c
		}
		return a.NodeIP.Compare(b.NodeIP)
	})
}
