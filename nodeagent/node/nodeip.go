package node

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Node IP detection when --node-ip is not given: SelectNodeIPs is the
// pure choice over the interfaces and the default routes; DetectNodeIPs
// gathers them (net.Interfaces and /proc/thread-self/net/route and
// ipv6_route, so a thread switched into a network namespace sees that
// namespace's).

// ErrNoNodeIP: no interface has an address to report.
var ErrNoNodeIP = errors.New("node: no global unicast address on any interface; set --node-ip")

// Interface is a network interface as SelectNodeIPs sees it.
type Interface struct {
	Name     string
	Up       bool
	Loopback bool
	Addrs    []netip.Addr
}

// DefaultRoutes names the interfaces holding the default routes ("" if
// none).
type DefaultRoutes struct {
	V4, V6 string
}

// SelectNodeIPs chooses the node's InternalIP: the first global unicast
// IPv4 address of the interface holding the IPv4 default route; else the
// first global unicast IPv6 address of the one holding the IPv6 default
// route; else the first global unicast IPv4 address of any interface that
// is up and not loopback, then the first such IPv6 one. Private ranges
// (10/8, fd00::/8) count as global unicast; loopback and link-local
// addresses never do.
//
// Example: eth0 {10.0.0.5, fe80::1} up with the IPv4 default route, eth1
// {192.168.1.2} up: [10.0.0.5].
func SelectNodeIPs(ifaces []Interface, routes DefaultRoutes) ([]netip.Addr, error) {
	usable := func(a netip.Addr, v4 bool) bool {
		a = a.Unmap()
		return a.IsGlobalUnicast() && a.Is4() == v4
	}
	find := func(name string, v4 bool) (netip.Addr, bool) {
		for _, ifc := range ifaces {
			if name != "" && ifc.Name != name {
				continue
			}
			if !ifc.Up || (name == "" && ifc.Loopback) {
				continue
			}
			for _, a := range ifc.Addrs {
				if usable(a, v4) {
					return a.Unmap(), true
				}
			}
		}
		return netip.Addr{}, false
	}
	if routes.V4 != "" {
		if a, ok := find(routes.V4, true); ok {
			return []netip.Addr{a}, nil
		}
	}
	if routes.V6 != "" {
		if a, ok := find(routes.V6, false); ok {
			return []netip.Addr{a}, nil
		}
	}
	for _, v4 := range []bool{true, false} {
		if a, ok := find("", v4); ok {
			return []netip.Addr{a}, nil
		}
	}
	return nil, ErrNoNodeIP
}

// Route flags of /proc/net/route and ipv6_route (linux/route.h).
const (
	rtfUp     = 0x0001
	rtfReject = 0x0200
)

// parseDefaultRouteV4 returns the interface of the IPv4 default route
// with the lowest metric in /proc/net/route's content ("" if none).
func parseDefaultRouteV4(content string) string {
	best, bestMetric := "", uint64(0)
	for i, line := range strings.Split(content, "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) < 8 {
			continue // header or junk
		}
		dest, err1 := strconv.ParseUint(f[1], 16, 32)
		flags, err2 := strconv.ParseUint(f[3], 16, 32)
		metric, err3 := strconv.ParseUint(f[6], 10, 64)
		mask, err4 := strconv.ParseUint(f[7], 16, 32)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			continue
		}
		if dest != 0 || mask != 0 || flags&rtfUp == 0 || flags&rtfReject != 0 {
			continue
		}
		if best == "" || metric < bestMetric {
			best, bestMetric = f[0], metric
		}
	}
	return best
}

// parseDefaultRouteV6 returns the interface of the IPv6 default route
// (::/0, up, not a reject route, not on lo) with the lowest metric in
// /proc/net/ipv6_route's content ("" if none).
func parseDefaultRouteV6(content string) string {
	best, bestMetric := "", uint64(0)
	for line := range strings.SplitSeq(content, "\n") {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		dest, err := hex.DecodeString(f[0])
		if err != nil || len(dest) != 16 || f[1] != "00" {
			continue
		}
		if binary.BigEndian.Uint64(dest[:8]) != 0 || binary.BigEndian.Uint64(dest[8:]) != 0 {
			continue
		}
		metric, err1 := strconv.ParseUint(f[5], 16, 32)
		flags, err2 := strconv.ParseUint(f[8], 16, 32)
		if err1 != nil || err2 != nil || flags&rtfUp == 0 || flags&rtfReject != 0 || f[9] == "lo" {
			continue
		}
		if best == "" || metric < bestMetric {
			best, bestMetric = f[9], metric
		}
	}
	return best
}

// DetectNodeIPs chooses the node's InternalIP in the calling thread's
// network namespace (SelectNodeIPs); hostFS is the host's root (it reads
// proc/thread-self/net/route and ipv6_route; a missing file means no
// default route of that family).
func DetectNodeIPs(hostFS fs.FS) ([]netip.Addr, error) {
	var routes DefaultRoutes
	if b, err := fs.ReadFile(hostFS, "proc/thread-self/net/route"); err == nil {
		routes.V4 = parseDefaultRouteV4(string(b))
	}
	if b, err := fs.ReadFile(hostFS, "proc/thread-self/net/ipv6_route"); err == nil {
		routes.V6 = parseDefaultRouteV6(string(b))
	}
	nifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("node: list network interfaces to find the node IP (or set --node-ip): %w", err)
	}
	ifaces := make([]Interface, 0, len(nifs))
	for _, ni := range nifs {
		ifc := Interface{Name: ni.Name, Up: ni.Flags&net.FlagUp != 0, Loopback: ni.Flags&net.FlagLoopback != 0}
		addrs, err := ni.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				ifc.Addrs = append(ifc.Addrs, p.Addr())
			}
		}
		ifaces = append(ifaces, ifc)
	}
	return SelectNodeIPs(ifaces, routes)
}
