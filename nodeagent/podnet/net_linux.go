package podnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/types"
)

// Net is the node's pod network: one bridge, a namespace and veth per
// pod, persisted IPAM, host-gw routes. It is safe for concurrent use:
// Setup and Teardown of different UIDs run in parallel, those of one UID
// one after the other; SetRoutes calls are serialized.
type Net struct {
	cfg    Config
	pool   Pool
	log    *slog.Logger
	nodeNS netns.NsHandle
	node   *netlink.Handle // bound to nodeNS
	bridge int             // the bridge's ifindex
	mtu    int
	ipam   ipamStore
	nsDir  string

	routeMu sync.Mutex // serializes SetRoutes

	// ipamMu serializes the IPAM read-decide-claim (it is held across that
	// disk IO on purpose: the claim's exclusive link would catch a race,
	// the lock saves the retries) and guards last, the address handed out
	// last (allocation goes round from it). Lock order: a UID's lock, then
	// ipamMu; mu is never held with another.
	ipamMu sync.Mutex
	last   netip.Addr

	mu sync.Mutex
	// uidLocks holds one lock per UID being set up or torn down.
	uidLocks map[types.UID]*uidLock
}

type uidLock struct {
	mu   sync.Mutex
	refs int
}

var _ Network = (*Net)(nil)

// New prepares the node's side of the pod network in the node's network
// namespace (Config.NetNS, or the calling thread's): the state dirs, the
// bridge with the gateway address and its fixed MAC, up;
// net.ipv4.ip_forward=1 in that namespace; hairpin mode on the bridge's
// existing pod ports (those whose alias names a pod). It is
// idempotent: a restarted agent calls it again over the same StateDir and
// bridge. Close releases its handles (not the network, which outlives the
// agent).
func New(ctx context.Context, cfg Config) (*Net, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	pool, err := NewPool(cfg.PodCIDR)
	if err != nil {
		return nil, err
	}
	n := &Net{cfg: cfg, pool: pool, log: cfg.Logger, uidLocks: map[types.UID]*uidLock{},
		ipam: ipamStore{dir: filepath.Join(cfg.StateDir, "ipam")}, nsDir: filepath.Join(cfg.StateDir, "netns")}
	for _, d := range []string{n.ipam.dir, n.nsDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("podnet: creating the state dir: %w", err)
		}
	}
	if cfg.NetNS != "" {
		n.nodeNS, err = netns.GetFromPath(cfg.NetNS)
	} else {
		n.nodeNS, err = netns.Get()
	}
	if err != nil {
		return nil, fmt.Errorf("podnet: opening the node's network namespace: %w", err)
	}
	n.node, err = netlink.NewHandleAt(n.nodeNS, unix.NETLINK_ROUTE)
	if err != nil {
		n.nodeNS.Close()
		return nil, fmt.Errorf("podnet: netlink socket in the node's namespace: %w", err)
	}
	if err := n.init(ctx); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// Close releases the netlink socket and the namespace handle.
func (n *Net) Close() error {
	if n.node != nil {
		n.node.Close()
		n.node = nil
	}
	if n.nodeNS.IsOpen() {
		return n.nodeNS.Close()
	}
	return nil
}

// Gateway is the bridge's address.
func (n *Net) Gateway() netip.Addr { return n.pool.Gateway() }

// MTU is the MTU of the bridge and veths.
func (n *Net) MTU() int { return n.mtu }

func (n *Net) init(ctx context.Context) error {
	n.mtu = n.cfg.MTU
	if n.mtu == 0 {
		n.mtu = n.defaultMTU()
	}
	br, err := n.ensureBridge()
	if err != nil {
		return err
	}
	n.bridge = br.Attrs().Index
	if err := inNetNS(n.nodeNS, func() error {
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644)
	}); err != nil {
		return fmt.Errorf("podnet: enabling net.ipv4.ip_forward in the node's namespace: %w", err)
	}
	links, err := retryDump(func() ([]netlink.Link, error) { return n.node.LinkList() })
	if err != nil {
		return fmt.Errorf("podnet: listing links: %w", err)
	}
	for _, l := range links {
		// Only our pod ports: hairpin on an uplink an admin put on the
		// bridge would reflect flooded frames back onto that network.
		if l.Attrs().MasterIndex == n.bridge && strings.HasPrefix(l.Attrs().Alias, vethAliasPrefix) {
			if err := n.node.LinkSetHairpin(l, true); err != nil {
				n.log.Warn("podnet: hairpin mode on a bridge port", "port", l.Attrs().Name, "err", err)
			}
		}
	}
	return ctx.Err()
}

// defaultMTU is the MTU of the link of the node's IPv4 default route, or
// 1500.
func (n *Net) defaultMTU() int {
	routes, err := retryDump(func() ([]netlink.Route, error) {
		return n.node.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return 1500
	}
	for _, r := range routes {
		if (r.Dst == nil || isDefaultDst(r.Dst)) && r.LinkIndex > 0 {
			if l, err := n.node.LinkByIndex(r.LinkIndex); err == nil && l.Attrs().MTU > 0 {
				return l.Attrs().MTU
			}
		}
	}
	return 1500
}

func isDefaultDst(d *net.IPNet) bool {
	ones, _ := d.Mask.Size()
	return ones == 0
}

// ensureBridge finds or makes the bridge, gives it exactly the gateway
// address among IPv4 ones, and sets it up.
func (n *Net) ensureBridge() (netlink.Link, error) {
	name := n.cfg.BridgeName
	l, err := n.node.LinkByName(name)
	switch {
	case isNotFound(err):
		la := netlink.NewLinkAttrs()
		la.Name, la.MTU, la.HardwareAddr = name, n.mtu, BridgeMAC(name, n.pool.Prefix)
		if err := n.node.LinkAdd(&netlink.Bridge{LinkAttrs: la}); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("podnet: creating bridge %s: %w", name, err)
		}
		if l, err = n.node.LinkByName(name); err != nil {
			return nil, fmt.Errorf("podnet: finding bridge %s after creating it: %w", name, err)
		}
	case err != nil:
		return nil, fmt.Errorf("podnet: looking up bridge %s: %w", name, err)
	}
	if l.Type() != "bridge" {
		return nil, fmt.Errorf("%w: a link named %s exists and is a %s, not a bridge; remove it or set BridgeName", ErrBadConfig, name, l.Type())
	}
	if mac := BridgeMAC(name, n.pool.Prefix); l.Attrs().HardwareAddr.String() != mac.String() {
		// Also makes an address the kernel chose (from the ports) a set
		// one, which the kernel then leaves alone.
		if err := n.node.LinkSetHardwareAddr(l, mac); err != nil {
			return nil, fmt.Errorf("podnet: setting %s's MAC to %s: %w", name, mac, err)
		}
	}
	gw := &net.IPNet{IP: n.pool.Gateway().AsSlice(), Mask: net.CIDRMask(n.pool.Prefix.Bits(), 32)}
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return n.node.AddrList(l, netlink.FAMILY_V4) })
	if err != nil {
		return nil, fmt.Errorf("podnet: listing the bridge's addresses: %w", err)
	}
	for _, a := range addrs {
		if a.IPNet.String() != gw.String() {
			n.log.Info("podnet: removing a stale address from the bridge", "bridge", name, "addr", a.IPNet.String())
			if err := n.node.AddrDel(l, &a); err != nil {
				return nil, fmt.Errorf("podnet: removing stale address %s from %s: %w", a.IPNet, name, err)
			}
		}
	}
	if err := n.node.AddrReplace(l, &netlink.Addr{IPNet: gw}); err != nil {
		return nil, fmt.Errorf("podnet: giving %s the gateway address %s: %w", name, gw, err)
	}
	if err := n.node.LinkSetUp(l); err != nil {
		return nil, fmt.Errorf("podnet: setting %s up: %w", name, err)
	}
	return l, nil
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf)
}

// retryDump retries a netlink dump the kernel interrupted (its result may
// be inconsistent) a few times.
func retryDump[T any](f func() ([]T, error)) ([]T, error) {
	var (
		out []T
		err error
	)
	for range 5 {
		out, err = f()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return out, err
		}
	}
	return out, err
}

// lockUID serializes the work on one UID; call the returned func to
// unlock.
func (n *Net) lockUID(uid types.UID) func() {
	n.mu.Lock()
	l := n.uidLocks[uid]
	if l == nil {
		l = &uidLock{}
		n.uidLocks[uid] = l
	}
	l.refs++
	n.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		n.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(n.uidLocks, uid)
		}
		n.mu.Unlock()
	}
}
