package podenv

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Limits on a pod's resolv.conf, Kubernetes' (glibc reads at most 3
// nameservers).
const (
	MaxNameservers     = 3
	MaxSearchDomains   = 32
	MaxSearchListChars = 2048
	// DefaultNdots is the ndots option of cluster DNS: names with fewer
	// than 5 dots are tried with the search domains first.
	DefaultNdots = "ndots:5"
)

// ResolvConf is the content of a resolv.conf.
type ResolvConf struct {
	Nameservers, Searches, Options []string
}

// ParseResolvConf reads nameserver, search and options lines; comments
// (# or ;) and other lines are ignored; the last search line wins (a
// trailing dot and "." itself are dropped), options accumulate (a later
// option of the same name replaces an earlier one).
func ParseResolvConf(data []byte) ResolvConf {
	var r ResolvConf
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) >= 2 {
				r.Nameservers = append(r.Nameservers, f[1])
			}
		case "search":
			r.Searches = nil
			for _, s := range f[1:] {
				if s != "." {
					r.Searches = append(r.Searches, strings.TrimSuffix(s, "."))
				}
			}
		case "options":
			r.Options = mergeOptions(r.Options, f[1:])
		}
	}
	return r
}

// Format renders r: search, nameserver and options lines, the layout
// container runtimes write.
func (r ResolvConf) Format() []byte {
	var b bytes.Buffer
	if len(r.Searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(r.Searches, " "))
	}
	for _, ns := range r.Nameservers {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if len(r.Options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(r.Options, " "))
	}
	return b.Bytes()
}

// OnlyLoopback says whether every nameserver of r is a loopback address
// (systemd-resolved's 127.0.0.53): a pod in its own network namespace
// cannot reach those.
func (r ResolvConf) OnlyLoopback() bool {
	if len(r.Nameservers) == 0 {
		return false
	}
	for _, ns := range r.Nameservers {
		a, err := netip.ParseAddr(ns)
		if err != nil || !a.IsLoopback() {
			return false
		}
	}
	return true
}

// DNSParams is the node's side of a pod's DNS.
type DNSParams struct {
	ClusterDNS    []netip.Addr
	ClusterDomain string
	// Host is the node's resolv.conf (for dnsPolicy Default, and the
	// search domains ClusterFirst appends).
	Host ResolvConf
}

// PodDNS is pod's resolv.conf per its dnsPolicy, as Kubernetes
// documents:
//
//   - ClusterFirst (the default): nameservers the cluster DNS; search
//     <ns>.svc.<domain> svc.<domain> <domain> then the host's search
//     domains; options ndots:5. A hostNetwork pod, or a node without
//     cluster DNS, gets Default instead (the latter with a warning).
//   - ClusterFirstWithHostNet: ClusterFirst, also for hostNetwork pods.
//   - Default: the node's resolv.conf.
//   - None: nothing but dnsConfig.
//
// dnsConfig is then merged: its nameservers and searches appended
// (duplicates dropped), its options replacing those of the same name.
// At most 3 nameservers, 32 search domains and 2048 characters of search
// list are kept; cutting more gives a warning.
func PodDNS(pod *corev1.Pod, p DNSParams) (ResolvConf, []Warning) {
	var warns []Warning
	cluster := false
	switch pod.Spec.DNSPolicy {
	case corev1.DNSNone:
	case corev1.DNSClusterFirstWithHostNet:
		cluster = true
	case corev1.DNSDefault:
	default: // ClusterFirst or unset
		cluster = !pod.Spec.HostNetwork
	}
	if cluster && len(p.ClusterDNS) == 0 {
		cluster = false
		warns = append(warns, Warning{"MissingClusterDNS", `the node agent has no cluster DNS IP configured and cannot create the pod using "ClusterFirst" policy; falling back to "Default" policy`})
	}
	var r ResolvConf
	switch {
	case pod.Spec.DNSPolicy == corev1.DNSNone:
	case cluster:
		for _, a := range p.ClusterDNS {
			r.Nameservers = append(r.Nameservers, a.String())
		}
		d := strings.TrimSuffix(p.ClusterDomain, ".")
		r.Searches = dedupe(append([]string{pod.Namespace + ".svc." + d, "svc." + d, d}, p.Host.Searches...))
		r.Options = []string{DefaultNdots}
	default:
		r.Nameservers = append([]string(nil), p.Host.Nameservers...)
		r.Searches = append([]string(nil), p.Host.Searches...)
		r.Options = append([]string(nil), p.Host.Options...)
	}
	if c := pod.Spec.DNSConfig; c != nil {
		r.Nameservers = dedupe(append(r.Nameservers, c.Nameservers...))
		r.Searches = dedupe(append(r.Searches, c.Searches...))
		var opts []string
		for _, o := range c.Options {
			if o.Value != nil {
				opts = append(opts, o.Name+":"+*o.Value)
			} else {
				opts = append(opts, o.Name)
			}
		}
		r.Options = mergeOptions(r.Options, opts)
	}
	if len(r.Nameservers) > MaxNameservers {
		r.Nameservers = r.Nameservers[:MaxNameservers]
		warns = append(warns, Warning{"DNSConfigForming", "Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: " + strings.Join(r.Nameservers, " ")})
	}
	if trimmed, cut := trimSearches(r.Searches); cut {
		r.Searches = trimmed
		warns = append(warns, Warning{"DNSConfigForming", "Search Line limits were exceeded, some search paths have been omitted, the applied search line is: " + strings.Join(r.Searches, " ")})
	}
	return r, warns
}

func trimSearches(s []string) ([]string, bool) {
	cut := false
	if len(s) > MaxSearchDomains {
		s, cut = s[:MaxSearchDomains], true
	}
	for len(s) > 0 && len(strings.Join(s, " ")) > MaxSearchListChars {
		s, cut = s[:len(s)-1], true
	}
	return s, cut
}

// mergeOptions appends add to base; an option of add replaces one of
// base with the same name (the part before ':').
func mergeOptions(base, add []string) []string {
	out := append([]string(nil), base...)
	for _, o := range add {
		name, _, _ := strings.Cut(o, ":")
		replaced := false
		for i, e := range out {
			if en, _, _ := strings.Cut(e, ":"); en == name {
				out[i], replaced = o, true
				break
			}
		}
		if !replaced {
			out = append(out, o)
		}
	}
	return out
}
