package endpoints

import (
	"fmt"
	"maps"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels and annotations of a managed Endpoints object.
const (
	// LabelHeadless marks the Endpoints of a headless Service.
	LabelHeadless = "service.kubernetes.io/headless"
	// LabelSkipMirror tells an EndpointSlice mirroring controller that
	// these Endpoints are a controller's, whose slices the EndpointSlice
	// controller writes; it also marks what this controller manages.
	LabelSkipMirror = "endpointslice.kubernetes.io/skip-mirror"
	// AnnotationOverCapacity is "truncated" when the Service has more
	// addresses than MaxAddresses.
	AnnotationOverCapacity = "endpoints.kubernetes.io/over-capacity"
)

// MaxAddresses is the most addresses one Endpoints object carries, as in
// Kubernetes; ready ones are kept first.
const MaxAddresses = 1000

// Desired is the Endpoints object svc's pods make: same name, the
// Service's labels (plus LabelHeadless for a headless Service and
// LabelSkipMirror), and the subsets Build returns. pods are the ones
// svc's selector matches.
func Desired(svc *corev1.Service, pods []*corev1.Pod) *corev1.Endpoints {
	subsets, truncated := Build(svc, pods)
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: svc.Namespace, Labels: maps.Clone(svc.Labels)},
		Subsets:    subsets,
	}
	if ep.Labels == nil {
		ep.Labels = map[string]string{}
	}
	delete(ep.Labels, LabelHeadless)
	if Headless(svc) {
		ep.Labels[LabelHeadless] = ""
	}
	ep.Labels[LabelSkipMirror] = "true"
	if truncated {
		ep.Annotations = map[string]string{AnnotationOverCapacity: "truncated"}
	}
	return ep
}

// Build groups svc's endpoints into subsets: each pod that Include
// admits (terminating ones only with publishNotReadyAddresses) is an
// address — ready when the pod is Ready or the Service publishes
// not-ready addresses, else not ready — with the ports svc's ports
// resolve to on it. A pod lacking a named target port has no address for
// that port; a pod with no port at all (of a Service that has ports) is
// left out. Addresses with the same ports share a subset. Everything is
// sorted, so equal inputs give equal outputs. truncated: more than
// MaxAddresses were found, the rest left out.
func Build(svc *corev1.Service, pods []*corev1.Pod) (subsets []corev1.EndpointSubset, truncated bool) {
	publishAll := svc.Spec.PublishNotReadyAddresses
	family := Families(svc)[0]
	type group struct {
		ports           []corev1.EndpointPort
		ready, notReady []corev1.EndpointAddress
	}
	groups := map[string]*group{}
	for _, pod := range pods {
		if !Include(pod, publishAll) || pod.Namespace != svc.Namespace {
			continue
		}
		ip := PodIP(pod, family)
		if ip == "" {
			continue
		}
		var ports []corev1.EndpointPort
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			if p, ok := FindPort(pod, sp); ok {
				ports = append(ports, corev1.EndpointPort{Name: sp.Name, Port: p, Protocol: protocol(sp.Protocol), AppProtocol: sp.AppProtocol})
			}
		}
		if len(ports) == 0 && len(svc.Spec.Ports) > 0 {
			continue
		}
		sortPorts(ports)
		key := portsKey(ports)
		g := groups[key]
		if g == nil {
			g = &group{ports: ports}
			groups[key] = g
		}
		addr := corev1.EndpointAddress{
			IP:       ip,
			Hostname: Hostname(pod, svc),
			TargetRef: &corev1.ObjectReference{
				Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID,
			},
		}
		if pod.Spec.NodeName != "" {
			n := pod.Spec.NodeName
			addr.NodeName = &n
		}
		if publishAll || PodReady(pod) {
			g.ready = append(g.ready, addr)
		} else {
			g.notReady = append(g.notReady, addr)
		}
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// Ready addresses first, then not-ready ones, up to MaxAddresses.
	room := MaxAddresses
	take := func(list []corev1.EndpointAddress) []corev1.EndpointAddress {
		sortAddresses(list)
		if len(list) > room {
			truncated = true
			list = list[:room]
		}
		room -= len(list)
		if len(list) == 0 {
			return nil
		}
		return list
	}
	for _, k := range keys {
		groups[k].ready = take(groups[k].ready)
	}
	for _, k := range keys {
		groups[k].notReady = take(groups[k].notReady)
	}
	for _, k := range keys {
		g := groups[k]
		if len(g.ready) == 0 && len(g.notReady) == 0 {
			continue
		}
		subsets = append(subsets, corev1.EndpointSubset{Addresses: g.ready, NotReadyAddresses: g.notReady, Ports: g.ports})
	}
	return subsets, truncated
}

func protocol(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

func sortPorts(ports []corev1.EndpointPort) {
	sort.Slice(ports, func(i, j int) bool {
		a, b := ports[i], ports[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Port != b.Port {
			return a.Port < b.Port
		}
		return a.Protocol < b.Protocol
	})
}

func portsKey(ports []corev1.EndpointPort) string {
	var b strings.Builder
	for _, p := range ports {
		app := ""
		if p.AppProtocol != nil {
			app = *p.AppProtocol
		}
		fmt.Fprintf(&b, "%s/%d/%s/%s,", p.Name, p.Port, p.Protocol, app)
	}
	return b.String()
}

func sortAddresses(list []corev1.EndpointAddress) {
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if a.IP != b.IP {
			return a.IP < b.IP
		}
		return refName(a) < refName(b)
	})
}

func refName(a corev1.EndpointAddress) string {
	if a.TargetRef == nil {
		return ""
	}
	return a.TargetRef.Namespace + "/" + a.TargetRef.Name
}
