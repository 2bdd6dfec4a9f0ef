package podnet

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
)

// Config configures a Net. The zero value of every field but PodCIDR and
// StateDir means its default.
type Config struct {
	// PodCIDR is the node's pod CIDR (a /24 from the server's nodeipam
	// controller). Required. Its first address is the bridge's (the pods'
	// gateway); pods get the others but the network and broadcast ones.
	PodCIDR netip.Prefix
	// BridgeName is the node's bridge. Default "kelson0". An existing
	// bridge of that name is reused (its IPv4 addresses other than the
	// gateway are removed); an existing link of another kind is an error.
	BridgeName string
	// StateDir holds the IPAM files (StateDir/ipam/<ip>, naming the pod
	// UID) and the pods' network namespaces (StateDir/netns/<uid>, nsfs
	// bind mounts). Required; the agent passes a directory under its data
	// dir. It must survive an agent restart for pods to keep their IPs.
	StateDir string
	// MTU of the bridge and of both ends of every veth. Default: the MTU
	// of the node's default-route interface, or 1500 without one.
	MTU int
	// RouteProtocol marks the host-gw routes SetRoutes owns; routes of
	// any other protocol are never touched. Default DefaultRouteProtocol
	// (77). Must be 5..255.
	RouteProtocol int
	// NetNS is the path of the node's network namespace (e.g.
	// /run/netns/NAME or /proc/PID/ns/net). Default "": the namespace of
	// the OS thread that calls New (the host's, for the agent). Every
	// later call works in it from any goroutine.
	NetNS string
	// Logger gets what podnet repairs or rejects. Default: discard.
	Logger *slog.Logger
}

// DefaultBridgeName is the bridge's name when Config.BridgeName is empty.
const DefaultBridgeName = "kelson0"

// withDefaults fills the defaults (but MTU, which needs the netns) and
// validates.
func (c Config) withDefaults() (Config, error) {
	if c.BridgeName == "" {
		c.BridgeName = DefaultBridgeName
	}
	if len(c.BridgeName) > 15 {
		return c, fmt.Errorf("%w: BridgeName %q is longer than 15 characters", ErrBadConfig, c.BridgeName)
	}
	if c.StateDir == "" {
		return c, fmt.Errorf("%w: StateDir is required (a directory under the agent's data dir)", ErrBadConfig)
	}
	c.StateDir = filepath.Clean(c.StateDir)
	if c.RouteProtocol == 0 {
		c.RouteProtocol = DefaultRouteProtocol
	}
	if c.RouteProtocol < 5 || c.RouteProtocol > 255 {
		return c, fmt.Errorf("%w: RouteProtocol %d: want 5..255 (0..4 are the kernel's)", ErrBadConfig, c.RouteProtocol)
	}
	if c.MTU < 0 || (c.MTU != 0 && c.MTU < 576) || c.MTU > 65535 {
		return c, fmt.Errorf("%w: MTU %d: want 0 (default) or 576..65535", ErrBadConfig, c.MTU)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c, nil
}
