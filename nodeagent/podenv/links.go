package podenv

import (
	"net"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MasterService is the Service of the default namespace whose link
// variables every pod gets, even with enableServiceLinks false.
const MasterService = "kubernetes"

// Var is one environment variable.
type Var struct{ Name, Value string }

// LinkedServices picks the Services whose link variables a pod of
// namespace ns gets, sorted by name: the "kubernetes" Service of the
// default namespace always, and with enableLinks every Service of ns (a
// Service of ns named "kubernetes" wins over the default one). Services
// without a cluster IP (headless, or not allocated yet) give nothing.
func LinkedServices(ns string, enableLinks bool, services []*corev1.Service) []*corev1.Service {
	byName := map[string]*corev1.Service{}
	for _, s := range services {
		if s == nil || s.Spec.ClusterIP == "" || s.Spec.ClusterIP == corev1.ClusterIPNone {
			continue
		}
		switch {
		case enableLinks && s.Namespace == ns:
			byName[s.Name] = s
		case s.Namespace == metav1.NamespaceDefault && s.Name == MasterService:
			if _, ok := byName[s.Name]; !ok {
				byName[s.Name] = s
			}
		}
	}
	out := make([]*corev1.Service, 0, len(byName))
	for _, s := range byName {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ServiceLinkVars are the Docker-link style variables of the services
// (in that order): for a Service named redis-primary with cluster IP
// 10.0.0.11 and port 6379/TCP named "redis":
//
//	REDIS_PRIMARY_SERVICE_HOST=10.0.0.11
//	REDIS_PRIMARY_SERVICE_PORT=6379
//	REDIS_PRIMARY_SERVICE_PORT_REDIS=6379
//	REDIS_PRIMARY_PORT=tcp://10.0.0.11:6379
//	REDIS_PRIMARY_PORT_6379_TCP=tcp://10.0.0.11:6379
//	REDIS_PRIMARY_PORT_6379_TCP_PROTO=tcp
//	REDIS_PRIMARY_PORT_6379_TCP_PORT=6379
//	REDIS_PRIMARY_PORT_6379_TCP_ADDR=10.0.0.11
//
// SERVICE_PORT and PORT name the first port. Services without a cluster
// IP are skipped.
func ServiceLinkVars(services []*corev1.Service) []Var {
	var out []Var
	for _, s := range services {
		ip := s.Spec.ClusterIP
		if ip == "" || ip == corev1.ClusterIPNone {
			continue
		}
		name := envName(s.Name)
		out = append(out, Var{name + "_SERVICE_HOST", ip})
		if len(s.Spec.Ports) == 0 {
			continue
		}
		out = append(out, Var{name + "_SERVICE_PORT", strconv.Itoa(int(s.Spec.Ports[0].Port))})
		for _, p := range s.Spec.Ports {
			if p.Name != "" {
				out = append(out, Var{name + "_SERVICE_PORT_" + envName(p.Name), strconv.Itoa(int(p.Port))})
			}
		}
		for i, p := range s.Spec.Ports {
			proto := string(p.Protocol)
			if proto == "" {
				proto = string(corev1.ProtocolTCP)
			}
			port := strconv.Itoa(int(p.Port))
			url := strings.ToLower(proto) + "://" + net.JoinHostPort(ip, port)
			if i == 0 {
				out = append(out, Var{name + "_PORT", url})
			}
			prefix := name + "_PORT_" + port + "_" + strings.ToUpper(proto)
			out = append(out,
				Var{prefix, url},
				Var{prefix + "_PROTO", strings.ToLower(proto)},
				Var{prefix + "_PORT", port},
				Var{prefix + "_ADDR", ip})
		}
	}
	return out
}

func envName(s string) string { return strings.ToUpper(strings.ReplaceAll(s, "-", "_")) }
