package podenv

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// maxHostnameLen: a pod name longer than this is cut for its hostname.
const maxHostnameLen = 63

// Hostname is the pod's hostname and, when it has a subdomain, its
// domain (<subdomain>.<ns>.svc.<clusterDomain>): spec.hostname, or the
// pod's name cut to 63 characters (without a trailing '-' or '.').
func Hostname(pod *corev1.Pod, clusterDomain string) (hostname, domain string) {
	hostname = pod.Spec.Hostname
	if hostname == "" {
		hostname = pod.Name
		if len(hostname) > maxHostnameLen {
			hostname = strings.TrimRight(hostname[:maxHostnameLen], "-.")
		}
	}
	if pod.Spec.Subdomain != "" {
		domain = pod.Spec.Subdomain + "." + pod.Namespace + ".svc." + strings.TrimSuffix(clusterDomain, ".")
	}
	return hostname, domain
}

// HostsFile is the pod's /etc/hosts, as Kubernetes manages it: the
// localhost and IPv6 lines, then a line per pod IP naming the pod's
// hostname (with its FQDN first when it has a subdomain), then the
// hostAliases. A hostNetwork pod gets the node's hosts file (hostHosts)
// and its hostAliases instead.
func HostsFile(pod *corev1.Pod, podIPs []netip.Addr, clusterDomain string, hostHosts []byte) []byte {
	var b bytes.Buffer
	if pod.Spec.HostNetwork {
		b.WriteString("# Kubernetes-managed hosts file (host network).\n")
		b.Write(hostHosts)
		if len(hostHosts) > 0 && hostHosts[len(hostHosts)-1] != '\n' {
			b.WriteByte('\n')
		}
	} else {
		b.WriteString("# Kubernetes-managed hosts file.\n")
		b.WriteString("127.0.0.1\tlocalhost\n")
		b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
		b.WriteString("fe00::0\tip6-localnet\n")
		b.WriteString("fe00::0\tip6-mcastprefix\n")
		b.WriteString("fe00::1\tip6-allnodes\n")
		b.WriteString("fe00::2\tip6-allrouters\n")
		host, domain := Hostname(pod, clusterDomain)
		for _, ip := range podIPs {
			if domain != "" {
				fmt.Fprintf(&b, "%s\t%s.%s\t%s\n", ip, host, domain, host)
			} else {
				fmt.Fprintf(&b, "%s\t%s\n", ip, host)
			}
		}
	}
	if len(pod.Spec.HostAliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, a := range pod.Spec.HostAliases {
			if len(a.Hostnames) == 0 {
				continue
			}
			fmt.Fprintf(&b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
		}
	}
	return b.Bytes()
}

// PodIPs are the pod's addresses: ip first when valid, then the other
// valid addresses of status.podIPs.
func PodIPs(pod *corev1.Pod, ip netip.Addr) []netip.Addr {
	var out []netip.Addr
	if ip.IsValid() {
		out = append(out, ip)
	}
	add := func(s string) {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return
		}
		for _, o := range out {
			if o == a {
				return
			}
		}
		out = append(out, a)
	}
	for _, p := range pod.Status.PodIPs {
		add(p.IP)
	}
	add(pod.Status.PodIP)
	return out
}
