package podenv

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestParseResolvConf(t *testing.T) {
	got := ParseResolvConf([]byte(`# generated
nameserver 192.168.1.1
nameserver 8.8.8.8 # google
search old.example
search corp.example. lab.example .
domain ignored.example
options ndots:2 timeout:3
options ndots:1 rotate
; comment
garbage line
`))
	want := ResolvConf{
		Nameservers: []string{"192.168.1.1", "8.8.8.8"},
		Searches:    []string{"corp.example", "lab.example"},
		Options:     []string{"ndots:1", "timeout:3", "rotate"},
	}
	if !slices.Equal(got.Nameservers, want.Nameservers) || !slices.Equal(got.Searches, want.Searches) || !slices.Equal(got.Options, want.Options) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if s := string(want.Format()); s != "search corp.example lab.example\nnameserver 192.168.1.1\nnameserver 8.8.8.8\noptions ndots:1 timeout:3 rotate\n" {
		t.Errorf("Format = %q", s)
	}
	if (ResolvConf{}).Format() != nil && len((ResolvConf{}).Format()) != 0 {
		t.Error("empty resolv.conf should format empty")
	}
	for _, tc := range []struct {
		ns   []string
		want bool
	}{{nil, false}, {[]string{"127.0.0.53"}, true}, {[]string{"127.0.0.53", "::1"}, true}, {[]string{"127.0.0.53", "10.0.0.1"}, false}, {[]string{"bogus"}, false}} {
		if got := (ResolvConf{Nameservers: tc.ns}).OnlyLoopback(); got != tc.want {
			t.Errorf("OnlyLoopback(%v) = %v", tc.ns, got)
		}
	}
}

func TestPodDNS(t *testing.T) {
	host := ResolvConf{Nameservers: []string{"192.168.1.1"}, Searches: []string{"corp.example", "cluster.local"}, Options: []string{"ndots:1", "edns0"}}
	params := DNSParams{ClusterDNS: []netip.Addr{netip.MustParseAddr("10.43.0.10")}, ClusterDomain: "cluster.local", Host: host}
	many := make([]string, 40)
	for i := range many {
		many[i] = "d" + strings.Repeat("x", 60) + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ".example"
	}
	for _, tc := range []struct {
		name        string
		policy      corev1.DNSPolicy
		hostNetwork bool
		config      *corev1.PodDNSConfig
		params      *DNSParams
		want        string
		warn        string
	}{{
		name:   "cluster first",
		policy: corev1.DNSClusterFirst,
		want:   "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 10.43.0.10\noptions ndots:5\n",
	}, {
		name: "unset is cluster first",
		want: "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 10.43.0.10\noptions ndots:5\n",
	}, {
		name: "cluster first on host network is default", policy: corev1.DNSClusterFirst, hostNetwork: true,
		want: "search corp.example cluster.local\nnameserver 192.168.1.1\noptions ndots:1 edns0\n",
	}, {
		name: "cluster first with host net", policy: corev1.DNSClusterFirstWithHostNet, hostNetwork: true,
		want: "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 10.43.0.10\noptions ndots:5\n",
	}, {
		name: "default", policy: corev1.DNSDefault,
		want: "search corp.example cluster.local\nnameserver 192.168.1.1\noptions ndots:1 edns0\n",
	}, {
		name: "none", policy: corev1.DNSNone,
		config: &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1"}, Searches: []string{"a.example"}, Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr("2")}, {Name: "edns0"}}},
		want:   "search a.example\nnameserver 1.1.1.1\noptions ndots:2 edns0\n",
	}, {
		name: "none without config", policy: corev1.DNSNone, want: "",
	}, {
		name: "cluster first merged", policy: corev1.DNSClusterFirst,
		config: &corev1.PodDNSConfig{Nameservers: []string{"10.43.0.10", "1.1.1.1"}, Searches: []string{"svc.cluster.local", "x.example"}, Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr("2")}, {Name: "single-request"}}},
		want:   "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example x.example\nnameserver 10.43.0.10\nnameserver 1.1.1.1\noptions ndots:2 single-request\n",
	}, {
		name: "no cluster dns falls back", policy: corev1.DNSClusterFirst, params: &DNSParams{ClusterDomain: "cluster.local", Host: host},
		want: "search corp.example cluster.local\nnameserver 192.168.1.1\noptions ndots:1 edns0\n", warn: "MissingClusterDNS",
	}, {
		name: "too many nameservers", policy: corev1.DNSDefault,
		config: &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1", "8.8.8.8", "9.9.9.9"}},
		want:   "search corp.example cluster.local\nnameserver 192.168.1.1\nnameserver 1.1.1.1\nnameserver 8.8.8.8\noptions ndots:1 edns0\n", warn: "DNSConfigForming",
	}, {
		name: "too many searches", policy: corev1.DNSNone,
		config: &corev1.PodDNSConfig{Searches: many},
		warn:   "DNSConfigForming",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "shop"},
				Spec: corev1.PodSpec{DNSPolicy: tc.policy, HostNetwork: tc.hostNetwork, DNSConfig: tc.config}}
			p := params
			if tc.params != nil {
				p = *tc.params
			}
			got, warns := PodDNS(pod, p)
			if tc.warn != "" {
				if len(warns) != 1 || warns[0].Reason != tc.warn {
					t.Errorf("warnings %v, want %s", warns, tc.warn)
				}
			} else if len(warns) != 0 {
				t.Errorf("unexpected warnings %v", warns)
			}
			if tc.name == "too many searches" {
				if n := len(got.Searches); n > MaxSearchDomains || len(strings.Join(got.Searches, " ")) > MaxSearchListChars || n == 0 {
					t.Errorf("searches not trimmed: %d, %d chars", n, len(strings.Join(got.Searches, " ")))
				}
				return
			}
			if s := string(got.Format()); s != tc.want {
				t.Errorf("got\n%s\nwant\n%s", s, tc.want)
			}
		})
	}
}

func TestHostsFile(t *testing.T) {
	const local = "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n"
	long := strings.Repeat("a", 62) + "-b"
	ip := netip.MustParseAddr("10.42.0.7")
	ip6 := netip.MustParseAddr("fd00::7")
	for _, tc := range []struct {
		name string
		pod  corev1.Pod
		ips  []netip.Addr
		want string
	}{{
		name: "plain", pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop"}}, ips: []netip.Addr{ip},
		want: local + "10.42.0.7\tweb-1\n",
	}, {
		name: "hostname and subdomain, dual stack",
		pod:  corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop"}, Spec: corev1.PodSpec{Hostname: "h", Subdomain: "sub"}},
		ips:  []netip.Addr{ip, ip6},
		want: local + "10.42.0.7\th.sub.shop.svc.cluster.local\th\nfd00::7\th.sub.shop.svc.cluster.local\th\n",
	}, {
		name: "long name", pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: long, Namespace: "shop"}}, ips: []netip.Addr{ip},
		want: local + "10.42.0.7\t" + strings.Repeat("a", 62) + "\n",
	}, {
		name: "no ip",
		pod:  corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "shop"}},
		want: local,
	}, {
		name: "aliases",
		pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "shop"}, Spec: corev1.PodSpec{HostAliases: []corev1.HostAlias{
			{IP: "127.0.0.1", Hostnames: []string{"foo.local", "bar.local"}}, {IP: "10.1.2.3", Hostnames: []string{"foo.remote"}}, {IP: "1.1.1.1"}}}},
		ips:  []netip.Addr{ip},
		want: local + "10.42.0.7\tp\n\n# Entries added by HostAliases.\n127.0.0.1\tfoo.local\tbar.local\n10.1.2.3\tfoo.remote\n",
	}, {
		name: "host network",
		pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "shop"}, Spec: corev1.PodSpec{HostNetwork: true, HostAliases: []corev1.HostAlias{
			{IP: "10.1.2.3", Hostnames: []string{"foo"}}}}},
		ips:  []netip.Addr{ip},
		want: "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\nnode1\n\n# Entries added by HostAliases.\n10.1.2.3\tfoo\n",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(HostsFile(&tc.pod, tc.ips, "cluster.local", []byte("127.0.0.1 localhost\nnode1")))
			if got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestPodIPs(t *testing.T) {
	pod := &corev1.Pod{Status: corev1.PodStatus{PodIP: "10.0.0.1", PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}, {IP: "fd00::1"}, {IP: "junk"}}}}
	got := PodIPs(pod, netip.MustParseAddr("10.0.0.9"))
	want := []netip.Addr{netip.MustParseAddr("10.0.0.9"), netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fd00::1")}
	if !slices.Equal(got, want) {
		t.Errorf("got %v", got)
	}
	if got := PodIPs(&corev1.Pod{}, netip.Addr{}); len(got) != 0 {
		t.Errorf("got %v", got)
	}
}
