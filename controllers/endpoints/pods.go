package endpoints

import (
	"net/netip"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// What the Endpoints and EndpointSlice controllers share: which pods
// back a Service, their readiness, their address and the port a Service
// port reaches on them.

// PodReady reports whether pod's Ready condition is True.
func PodReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Terminating reports whether pod is being deleted.
func Terminating(pod *corev1.Pod) bool { return pod.DeletionTimestamp != nil }

// Include reports whether pod is an endpoint at all: it has an IP and has
// not finished (phase Succeeded or Failed); a terminating pod only when
// includeTerminating.
func Include(pod *corev1.Pod, includeTerminating bool) bool {
	if pod.Status.PodIP == "" && len(pod.Status.PodIPs) == 0 {
		return false
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	return includeTerminating || !Terminating(pod)
}

// Selects reports whether svc has a selector that matches pod. A Service
// without a selector (nil or empty) selects nothing: its endpoints are
// the user's.
func Selects(svc *corev1.Service, pod *corev1.Pod) bool {
	if len(svc.Spec.Selector) == 0 || svc.Namespace != pod.Namespace {
		return false
	}
	return labels.SelectorFromValidatedSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels))
}

// ServicesSelecting lists the Services of pod's namespace whose selector
// matches pod's labels.
func ServicesSelecting(services corelisters.ServiceLister, pod *corev1.Pod) []*corev1.Service {
	all, err := services.Services(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*corev1.Service
	for _, svc := range all {
		if Selects(svc, pod) {
			out = append(out, svc)
		}
	}
	return out
}

// SelectedPods lists the pods svc's selector matches.
func SelectedPods(pods corelisters.PodLister, svc *corev1.Service) ([]*corev1.Pod, error) {
	if len(svc.Spec.Selector) == 0 {
		return nil, nil
	}
	list, err := pods.Pods(svc.Namespace).List(labels.SelectorFromValidatedSet(svc.Spec.Selector))
	if err != nil {
		return nil, err
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return list, nil
}

// FindPort resolves a Service port's targetPort on pod: a number is
// itself (0 means the Service port), a name is the container port of
// that name and the Service port's protocol, in the pod's containers or
// its sidecars (init containers that restart always). ok is false when
// the pod has no such named port.
func FindPort(pod *corev1.Pod, sp *corev1.ServicePort) (port int32, ok bool) {
	tp := sp.TargetPort
	if tp.Type == intstr.Int {
		if tp.IntVal == 0 {
			return sp.Port, true
		}
		return tp.IntVal, true
	}
	if tp.StrVal == "" {
		return sp.Port, true
	}
	proto := sp.Protocol
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	find := func(cs []corev1.Container, sidecarsOnly bool) (int32, bool) {
		for i := range cs {
			if sidecarsOnly && (cs[i].RestartPolicy == nil || *cs[i].RestartPolicy != corev1.ContainerRestartPolicyAlways) {
				continue
			}
			for _, p := range cs[i].Ports {
				pp := p.Protocol
				if pp == "" {
					pp = corev1.ProtocolTCP
				}
				if p.Name == tp.StrVal && pp == proto {
					return p.ContainerPort, true
				}
			}
		}
		return 0, false
	}
	if p, ok := find(pod.Spec.Containers, false); ok {
		return p, true
	}
	return find(pod.Spec.InitContainers, true)
}

// Hostname is the DNS host name pod has under svc: spec.hostname when the
// pod's spec.subdomain names svc, else "".
func Hostname(pod *corev1.Pod, svc *corev1.Service) string {
	if pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name && pod.Namespace == svc.Namespace {
		return pod.Spec.Hostname
	}
	return ""
}

// PodIP is pod's address of the given family ("" when it has none).
func PodIP(pod *corev1.Pod, family corev1.IPFamily) string {
	ips := pod.Status.PodIPs
	if len(ips) == 0 && pod.Status.PodIP != "" {
		ips = []corev1.PodIP{{IP: pod.Status.PodIP}}
	}
	for _, ip := range ips {
		a, err := netip.ParseAddr(ip.IP)
		if err != nil {
			continue
		}
		if a.Unmap().Is4() == (family != corev1.IPv6Protocol) {
			return a.Unmap().String()
		}
	}
	return ""
}

// Families are the IP families svc's endpoints are of: spec.ipFamilies,
// or IPv4 when unset.
func Families(svc *corev1.Service) []corev1.IPFamily {
	if len(svc.Spec.IPFamilies) == 0 {
		return []corev1.IPFamily{corev1.IPv4Protocol}
	}
	return svc.Spec.IPFamilies
}

// Headless reports whether svc has no cluster IP.
func Headless(svc *corev1.Service) bool { return svc.Spec.ClusterIP == corev1.ClusterIPNone }

// PodChanged reports whether an update of a pod can change the
// endpoints of the Services selecting it: labels, addresses, readiness,
// deletion, phase, host names, node or ports.
func PodChanged(old, cur *corev1.Pod) bool {
	if old.ResourceVersion == cur.ResourceVersion {
		return false // a resync
	}
	return !labels.Equals(old.Labels, cur.Labels) ||
		old.Status.PodIP != cur.Status.PodIP ||
		!apiequality.Semantic.DeepEqual(old.Status.PodIPs, cur.Status.PodIPs) ||
		PodReady(old) != PodReady(cur) ||
		Terminating(old) != Terminating(cur) ||
		old.Status.Phase != cur.Status.Phase ||
		old.Spec.Hostname != cur.Spec.Hostname || old.Spec.Subdomain != cur.Spec.Subdomain ||
		old.Spec.NodeName != cur.Spec.NodeName ||
		!apiequality.Semantic.DeepEqual(containerPorts(old), containerPorts(cur))
}

func containerPorts(pod *corev1.Pod) [][]corev1.ContainerPort {
	var out [][]corev1.ContainerPort
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			out = append(out, cs[i].Ports)
		}
	}
	return out
}
