package podnet

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/types"
)

// vethAliasPrefix starts the alias (IFLA_IFALIAS) of a pod's host veth;
// the UID follows. It tells a veth of ours from a hash collision.
const vethAliasPrefix = "kelson-pod:"

// NetNSPath is where the pod's namespace is bind-mounted.
func (n *Net) NetNSPath(uid types.UID) string { return filepath.Join(n.nsDir, string(uid)) }

// Setup makes (or finds, or repairs) the pod's network: the IP, the
// namespace file, the veth pair (host side on the bridge, hairpin on; pod
// side eth0 with the IP), lo up and the default route via the gateway.
// Each step checks what exists first, so a second call for the same UID
// changes nothing and returns the same Attachment, and a call after a
// crash half-way finishes the job.
func (n *Net) Setup(ctx context.Context, pod PodRef) (Attachment, error) {
	if err := ValidUID(pod.UID); err != nil {
		return Attachment{}, err
	}
	unlock := n.lockUID(pod.UID)
	defer unlock()
	ip, err := n.allocate(pod.UID)
	if err != nil {
		return Attachment{}, err
	}
	if err := ctx.Err(); err != nil {
		return Attachment{}, err
	}
	att := Attachment{NetNSPath: n.NetNSPath(pod.UID), IP: ip, Gateway: n.pool.Gateway()}
	if err := n.ensureNetNS(att.NetNSPath); err != nil {
		return Attachment{}, err
	}
	podNS, err := netns.GetFromPath(att.NetNSPath)
	if err != nil {
		return Attachment{}, fmt.Errorf("podnet: opening %s: %w", att.NetNSPath, err)
	}
	defer podNS.Close()
	ph, err := netlink.NewHandleAt(podNS, unix.NETLINK_ROUTE)
	if err != nil {
		return Attachment{}, fmt.Errorf("podnet: netlink socket in the pod's namespace: %w", err)
	}
	defer ph.Close()
	if err := n.ensureVeth(pod.UID, podNS, ph, ip); err != nil {
		return Attachment{}, fmt.Errorf("podnet: pod %s/%s (%s): %w", pod.Namespace, pod.Name, pod.UID, err)
	}
	if err := n.configurePod(ph, ip); err != nil {
		return Attachment{}, fmt.Errorf("podnet: pod %s/%s (%s): %w", pod.Namespace, pod.Name, pod.UID, err)
	}
	return att, nil
}

// allocate returns the UID's address, claiming a new one if it has none.
func (n *Net) allocate(uid types.UID) (netip.Addr, error) {
	n.ipamMu.Lock()
	defer n.ipamMu.Unlock()
	for range 10 {
		used, bad, err := n.ipam.load()
		if err != nil {
			return netip.Addr{}, err
		}
		for _, e := range bad {
			n.log.Warn("podnet: IPAM", "err", e)
		}
		a, fresh, err := n.pool.Allocate(used, uid, n.last)
		if err != nil || !fresh {
			return a, err
		}
		switch err := n.ipam.claim(a, uid); {
		case errors.Is(err, errTaken):
			continue // claimed by another process since load; decide again
		case err != nil:
			return netip.Addr{}, err
		}
		n.last = a
		return a, nil
	}
	return netip.Addr{}, fmt.Errorf("podnet: IPAM: lost the race for an address 10 times; is another agent using %s?", n.ipam.dir)
}

// ensureNetNS makes the namespace file unless it is a mounted namespace
// already (a file left unmounted by a crash is reused).
func (n *Net) ensureNetNS(path string) error {
	ok, err := isNetNSFile(path)
	if err != nil || ok {
		return err
	}
	return makeNetNSFile(path)
}

// ensureVeth makes sure the host veth exists, is ours, is paired with the
// pod's eth0, is on the bridge with hairpin mode, and is up.
func (n *Net) ensureVeth(uid types.UID, podNS netns.NsHandle, ph *netlink.Handle, ip netip.Addr) error {
	name := HostVethName(uid)
	alias := vethAliasPrefix + string(uid)
	host, err := n.node.LinkByName(name)
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("looking up %s: %w", name, err)
	}
	// An empty alias is ours too: a crash between creating the veth and
	// naming it.
	if host != nil && host.Attrs().Alias != alias && host.Attrs().Alias != "" {
		return fmt.Errorf("%w: %s belongs to %q, not to this pod; tear that pod down first", ErrNameCollision, name, host.Attrs().Alias)
	}
	eth0, err := ph.LinkByName(PodInterface)
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("looking up %s in the pod's namespace: %w", PodInterface, err)
	}
	paired := host != nil && eth0 != nil && host.Type() == "veth" && eth0.Type() == "veth" &&
		host.Attrs().ParentIndex == eth0.Attrs().Index && eth0.Attrs().ParentIndex == host.Attrs().Index
	if !paired {
		if host != nil || eth0 != nil {
			n.log.Info("podnet: repairing a half-made veth", "uid", uid, "host", host != nil, "eth0", eth0 != nil)
		}
		if host != nil {
			if err := n.node.LinkDel(host); err != nil && !isNotFound(err) {
				return fmt.Errorf("deleting the unpaired %s: %w", name, err)
			}
		}
		if eth0 != nil {
			if err := ph.LinkDel(eth0); err != nil && !isNotFound(err) {
				return fmt.Errorf("deleting the unpaired %s in the pod's namespace: %w", PodInterface, err)
			}
		}
		la := netlink.NewLinkAttrs()
		la.Name, la.MTU, la.MasterIndex = name, n.mtu, n.bridge
		veth := &netlink.Veth{LinkAttrs: la, PeerName: PodInterface, PeerNamespace: netlink.NsFd(podNS), PeerMTU: uint32(n.mtu), PeerHardwareAddr: PodMAC(ip)}
		if err := n.node.LinkAdd(veth); err != nil {
			return fmt.Errorf("creating veth %s (peer %s in the pod's namespace): %w", name, PodInterface, err)
		}
		if host, err = n.node.LinkByName(name); err != nil {
			return fmt.Errorf("finding %s after creating it: %w", name, err)
		}
	}
	if host.Attrs().Alias != alias {
		if err := n.node.LinkSetAlias(host, alias); err != nil {
			return fmt.Errorf("naming %s with its pod's UID: %w", name, err)
		}
	}
	if host.Attrs().MasterIndex != n.bridge {
		if err := n.node.LinkSetMasterByIndex(host, n.bridge); err != nil {
			return fmt.Errorf("attaching %s to bridge %s: %w", name, n.cfg.BridgeName, err)
		}
	}
	if err := n.node.LinkSetHairpin(host, true); err != nil {
		return fmt.Errorf("hairpin mode on %s: %w", name, err)
	}
	if err := n.node.LinkSetUp(host); err != nil {
		return fmt.Errorf("setting %s up: %w", name, err)
	}
	return nil
}

// configurePod gives eth0 exactly ip (with the pod CIDR's mask), sets lo
// and eth0 up and makes the default route via the gateway.
func (n *Net) configurePod(ph *netlink.Handle, ip netip.Addr) error {
	lo, err := ph.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("looking up lo in the pod's namespace: %w", err)
	}
	if err := ph.LinkSetUp(lo); err != nil {
		return fmt.Errorf("setting lo up: %w", err)
	}
	eth0, err := ph.LinkByName(PodInterface)
	if err != nil {
		return fmt.Errorf("looking up %s: %w", PodInterface, err)
	}
	if mac := PodMAC(ip); eth0.Attrs().HardwareAddr.String() != mac.String() {
		if err := ph.LinkSetHardwareAddr(eth0, mac); err != nil {
			return fmt.Errorf("setting %s's MAC to %s: %w", PodInterface, mac, err)
		}
	}
	want := &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(n.pool.Prefix.Bits(), 32)}
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return ph.AddrList(eth0, netlink.FAMILY_V4) })
	if err != nil {
		return fmt.Errorf("listing %s's addresses: %w", PodInterface, err)
	}
	for _, a := range addrs {
		if a.IPNet.String() != want.String() {
			if err := ph.AddrDel(eth0, &a); err != nil {
				return fmt.Errorf("removing stale address %s from %s: %w", a.IPNet, PodInterface, err)
			}
		}
	}
	if err := ph.AddrReplace(eth0, &netlink.Addr{IPNet: want}); err != nil {
		return fmt.Errorf("giving %s address %s: %w", PodInterface, want, err)
	}
	if err := ph.LinkSetUp(eth0); err != nil {
		return fmt.Errorf("setting %s up: %w", PodInterface, err)
	}
	def := &netlink.Route{
		LinkIndex: eth0.Attrs().Index,
		Dst:       &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)},
		Gw:        n.pool.Gateway().AsSlice(),
		Scope:     netlink.SCOPE_UNIVERSE,
	}
	if err := ph.RouteReplace(def); err != nil {
		return fmt.Errorf("default route via %s: %w", n.pool.Gateway(), err)
	}
	return nil
}

// Teardown deletes the pod's host veth (its eth0 goes with it), unmounts
// and removes its namespace file and frees its IP. Each step tolerates
// the thing being gone, so tearing down an unknown or half-torn-down UID
// is a no-op or finishes the job. A process still inside the namespace
// keeps it alive (without a veth) until it exits.
func (n *Net) Teardown(ctx context.Context, uid types.UID) error {
	if ValidUID(uid) != nil {
		return nil // no state can exist under a name Setup refuses
	}
	unlock := n.lockUID(uid)
	defer unlock()
	var errs []error
	name := HostVethName(uid)
	host, err := n.node.LinkByName(name)
	switch {
	case isNotFound(err):
	case err != nil:
		errs = append(errs, fmt.Errorf("podnet: looking up %s: %w", name, err))
	case host.Attrs().Alias != vethAliasPrefix+string(uid) && host.Attrs().Alias != "":
		n.log.Warn("podnet: teardown leaves a veth of another pod alone", "uid", uid, "veth", name, "alias", host.Attrs().Alias)
	default:
		if err := n.node.LinkDel(host); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("podnet: deleting %s: %w", name, err))
		}
	}
	if err := removeNetNSFile(n.NetNSPath(uid)); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		// Free the IP last, and only once the rest is gone: a retried
		// Teardown finds it still allocated rather than reused.
		n.ipamMu.Lock()
		err := n.ipam.release(uid)
		n.ipamMu.Unlock()
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Attached lists the UIDs with state on disk (a namespace file or an IP),
// sorted, so the agent can tear down the pods it no longer runs.
func (n *Net) Attached(ctx context.Context) ([]types.UID, error) {
	set := map[types.UID]bool{}
	ents, err := os.ReadDir(n.nsDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("podnet: listing namespaces: %w", err)
	}
	for _, e := range ents {
		if uid := types.UID(e.Name()); ValidUID(uid) == nil && !strings.HasPrefix(e.Name(), tmpPrefix) {
			set[uid] = true
		}
	}
	n.ipamMu.Lock()
	used, _, err := n.ipam.load()
	n.ipamMu.Unlock()
	if err != nil {
		return nil, err
	}
	for _, uid := range used {
		if ValidUID(uid) == nil {
			set[uid] = true
		}
	}
	out := make([]types.UID, 0, len(set))
	for uid := range set {
		out = append(out, uid)
	}
	slices.Sort(out)
	return out, ctx.Err()
}
