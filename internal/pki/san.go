package pki

import (
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"strings"
)

// ErrBadSAN is returned for a --tls-san value that is neither an IP address
// nor a DNS name.
var ErrBadSAN = errors.New("pki: bad subject alternative name")

// SANs are the subject alternative names of a serving certificate.
type SANs struct {
	DNS []string
	IPs []net.IP
}

// kubernetesNames are the names the `kubernetes` Service answers to inside
// a cluster.
var kubernetesNames = []string{
	"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
}

// ServingSANs returns the names the API's serving certificate must carry:
// localhost, 127.0.0.1 and ::1; hostname (if not empty); bind (unless it is
// nil or unspecified, 0.0.0.0 or ::); the first address of serviceCIDR (the
// `kubernetes` Service's ClusterIP, e.g. 10.43.0.1); the kubernetes.default
// names; and extra, each an IP or a DNS name (as k3s's --tls-san). The result
// is sorted and has no duplicates, so two lists compare with Equal.
func ServingSANs(hostname string, bind net.IP, serviceCIDR *net.IPNet, extra []string) (SANs, error) {
	s := SANs{DNS: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}}
	s.DNS = append(s.DNS, kubernetesNames...)
	if h := strings.ToLower(strings.TrimSpace(hostname)); h != "" && validDNSName(h) {
		s.DNS = append(s.DNS, h)
	}
	if bind != nil && !bind.IsUnspecified() {
		s.IPs = append(s.IPs, bind)
	}
	if serviceCIDR != nil {
		ip, err := FirstIP(serviceCIDR)
		if err != nil {
			return SANs{}, err
		}
		s.IPs = append(s.IPs, ip)
	}
	for _, e := range extra {
		e = strings.TrimSpace(e)
		if ip := net.ParseIP(e); ip != nil {
			s.IPs = append(s.IPs, ip)
			continue
		}
		if !validDNSName(e) {
			return SANs{}, fmt.Errorf("%w: --tls-san %q is neither an IP address nor a DNS name (like api.example.com)", ErrBadSAN, e)
		}
		s.DNS = append(s.DNS, strings.ToLower(e))
	}
	return s.normalized(), nil
}

// FirstIP returns the first usable address of a CIDR: the network address
// plus one (10.43.0.1 for 10.43.0.0/16). It is the ClusterIP of the
// `kubernetes` Service.
func FirstIP(cidr *net.IPNet) (net.IP, error) {
	ones, bits := cidr.Mask.Size()
	if bits == 0 || bits-ones < 2 {
		return nil, fmt.Errorf("pki: service CIDR %s is too small: it needs room for at least two addresses", cidr)
	}
	base := cidr.IP.Mask(cidr.Mask)
	if v4 := base.To4(); v4 != nil && bits == 32 {
		base = v4
	}
	n := new(big.Int).SetBytes(base)
	n.Add(n, big.NewInt(1))
	out := make(net.IP, len(base))
	n.FillBytes(out)
	return out, nil
}

// Equal reports whether two normalized SAN lists are the same.
func (s SANs) Equal(o SANs) bool {
	a, b := s.normalized(), o.normalized()
	return slices.Equal(a.DNS, b.DNS) && slices.EqualFunc(a.IPs, b.IPs, net.IP.Equal)
}

// String lists the names, for logs and errors.
func (s SANs) String() string {
	parts := slices.Clone(s.DNS)
	for _, ip := range s.IPs {
		parts = append(parts, ip.String())
	}
	return strings.Join(parts, ",")
}

// normalized returns the lists sorted, lower-cased and without duplicates;
// IPv4 addresses in their 4-byte form.
func (s SANs) normalized() SANs {
	var out SANs
	for _, d := range s.DNS {
		out.DNS = append(out.DNS, strings.ToLower(d))
	}
	slices.Sort(out.DNS)
	out.DNS = slices.Compact(out.DNS)
	for _, ip := range s.IPs {
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		out.IPs = append(out.IPs, ip)
	}
	slices.SortFunc(out.IPs, func(a, b net.IP) int {
		if len(a) != len(b) {
			return len(a) - len(b)
		}
		return strings.Compare(string(a), string(b))
	})
	out.IPs = slices.CompactFunc(out.IPs, net.IP.Equal)
	return out
}

// validDNSName accepts host names made of letters, digits, '-' and '.', with
// labels of 1 to 63 characters, and a leading "*." wildcard.
func validDNSName(s string) bool {
	s = strings.TrimPrefix(s, "*.")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
