package podnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// SetRoutes makes the node's host-gw routes exactly routes: one route per
// other node's pod CIDR via that node's IP, in the main table, marked
// with Config.RouteProtocol. Routes of any other protocol are never read
// or changed; routes of ours not in routes are deleted. A route the
// kernel refuses (typically a node IP not on a connected subnet: host-gw
// needs the nodes on one L2 segment) is reported in the joined error and
// the others are still applied. Invalid entries (see DesiredRoutes) are
// logged and skipped.
func (n *Net) SetRoutes(ctx context.Context, routes []NodeRoute) error {
	n.routeMu.Lock()
	defer n.routeMu.Unlock()
	desired, rejected := DesiredRoutes(n.pool.Prefix, routes)
	for _, e := range rejected {
		n.log.Warn("podnet: route skipped", "err", e)
	}
	filter := &netlink.Route{Table: unix.RT_TABLE_MAIN, Protocol: netlink.RouteProtocol(n.cfg.RouteProtocol)}
	have, err := retryDump(func() ([]netlink.Route, error) {
		return n.node.RouteListFiltered(netlink.FAMILY_V4, filter, netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
	})
	if err != nil {
		return fmt.Errorf("podnet: listing routes: %w", err)
	}
	current := make([]NodeRoute, 0, len(have))
	byKey := map[NodeRoute][]netlink.Route{}
	for _, r := range have {
		nr := toNodeRoute(r)
		current = append(current, nr)
		byKey[nr] = append(byKey[nr], r)
	}
	d := DiffRoutes(current, desired)
	var errs []error
	for _, r := range d.Replace {
		if err := ctx.Err(); err != nil {
			return err
		}
		nr := &netlink.Route{
			Dst:      &net.IPNet{IP: r.PodCIDR.Addr().AsSlice(), Mask: net.CIDRMask(r.PodCIDR.Bits(), 32)},
			Gw:       r.NodeIP.AsSlice(),
			Protocol: netlink.RouteProtocol(n.cfg.RouteProtocol),
			Table:    unix.RT_TABLE_MAIN,
			Scope:    netlink.SCOPE_UNIVERSE,
		}
		if err := n.node.RouteReplace(nr); err != nil {
			errs = append(errs, fmt.Errorf("podnet: route %v via %v: %w (host-gw needs the node IP on a connected subnet)", r.PodCIDR, r.NodeIP, err))
		}
	}
	for _, r := range d.Delete {
		rs := byKey[r]
		if len(rs) == 0 {
			continue
		}
		k := rs[0]
		byKey[r] = rs[1:]
		if err := n.node.RouteDel(&k); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("podnet: deleting route %v via %v: %w", r.PodCIDR, r.NodeIP, err))
		}
	}
	if !d.Empty() {
		n.log.Info("podnet: routes updated", "replaced", len(d.Replace), "deleted", len(d.Delete))
	}
	return errors.Join(errs...)
}

// toNodeRoute reads a kernel route as a NodeRoute (an unset part stays
// the zero value, which DiffRoutes never wants and so deletes).
func toNodeRoute(r netlink.Route) NodeRoute {
	var nr NodeRoute
	if r.Dst != nil {
		if a, ok := netip.AddrFromSlice(r.Dst.IP); ok {
			ones, _ := r.Dst.Mask.Size()
			nr.PodCIDR = netip.PrefixFrom(a.Unmap(), ones)
		}
	}
	if a, ok := netip.AddrFromSlice(r.Gw); ok {
		nr.NodeIP = a.Unmap()
	}
	return nr
}
