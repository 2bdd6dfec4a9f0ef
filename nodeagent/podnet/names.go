package podnet

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"k8s.io/apimachinery/pkg/types"
)

// PodInterface is the name of the pod's side of its veth pair, inside the
// pod's network namespace.
const PodInterface = "eth0"

// HostVethName is the node-side name of the pod's veth: "veth" and the
// first 8 hex digits of the SHA-256 of the UID (12 characters, under the
// kernel's 15). The same UID always gives the same name, so a restarted
// agent finds the veth of every pod it set up; two UIDs collide with
// probability about n²/2³³ (1e-7 for 30 pods), and a collision is caught
// by Setup (the veth's peer is not that pod's eth0) rather than silently
// sharing a link.
func HostVethName(uid types.UID) string {
	sum := sha256.Sum256([]byte(uid))
	return "veth" + hex.EncodeToString(sum[:4])
}

// maxUIDLen bounds a UID used as a file name (NAME_MAX is 255; Kubernetes
// UIDs are 36-character UUIDs).
const maxUIDLen = 200

// ValidUID says whether uid can name the pod's files under StateDir: not
// empty, not "." or "..", at most 200 bytes, only letters, digits and
// "-_.". Kubernetes UIDs (UUIDs) always are.
func ValidUID(uid types.UID) error {
	s := string(uid)
	if s == "" || s == "." || s == ".." || len(s) > maxUIDLen {
		return fmt.Errorf("%w: %q (want a UUID-like name of 1..%d characters)", ErrBadUID, s, maxUIDLen)
	}
	if i := strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}); i >= 0 {
		return fmt.Errorf("%w: %q has %q at byte %d (only letters, digits and -_. are allowed)", ErrBadUID, s, s[i], i)
	}
	return nil
}

// BridgeMAC is the bridge's hardware address: locally administered,
// unicast, derived from the bridge's name and the pod CIDR. Set
// explicitly, it stops the kernel from giving the bridge the lowest MAC
// of its ports (which changes as pods come and go and would leave every
// pod's ARP entry for the gateway stale), and it stays the same across an
// agent restart or a recreated bridge.
func BridgeMAC(bridge string, cidr netip.Prefix) net.HardwareAddr {
	sum := sha256.Sum256([]byte(bridge + "/" + cidr.Masked().String()))
	mac := net.HardwareAddr(sum[:6])
	mac[0] = mac[0]&0xfc | 0x02 // unicast, locally administered
	return mac
}

// PodMAC is the hardware address of a pod's eth0: 02:4b (locally
// administered, unicast) followed by the four bytes of its IPv4 address.
// IPs are unique on a node's bridge, so MACs are too, and a pod that gets
// a freed IP gets the MAC its predecessor had: the other pods' and the
// node's ARP entries for that IP stay right instead of pointing at a
// vanished MAC until they expire.
func PodMAC(ip netip.Addr) net.HardwareAddr {
	a := ip.As4()
	return net.HardwareAddr{0x02, 0x4b, a[0], a[1], a[2], a[3]}
}
