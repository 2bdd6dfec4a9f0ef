package endpointslice

import (
	"fmt"
	"maps"
	"sort"
	"strings"

	"github.com/kelson-dev/kelson/controllers/endpoints"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels of a managed EndpointSlice.
const (
	// ControllerName is the value of LabelManagedBy on the slices this
	// controller owns.
	ControllerName = "endpointslice-controller.k8s.io"
	// LabelZone is the Node label an endpoint's zone comes from.
	LabelZone = corev1.LabelTopologyZone
)

// Plan is what one sync writes: slices to create (GenerateName set),
// existing slices to update (deep copies carrying their
// resourceVersion) and slices to delete.
type Plan struct {
	Create, Update, Delete []*discoveryv1.EndpointSlice
}

// Empty reports whether the plan writes nothing.
func (p Plan) Empty() bool { return len(p.Create)+len(p.Update)+len(p.Delete) == 0 }

// Reconcile plans svc's EndpointSlices from the pods its selector
// matches and the slices that exist for it (those labelled with its name
// and managed by this controller). zone names a node's zone ("" when
// unknown); maxPerSlice bounds the endpoints of one slice.
//
// Endpoints are grouped by address type and resolved port set; each
// group fills slices of up to maxPerSlice endpoints. To keep churn low an
// existing slice is edited in place: endpoints that are gone or changed
// are removed or replaced, new ones go first into slices already being
// updated, then into the fullest unchanged slice that takes them all,
// then into new slices; a slice left empty is reused for a slice to be
// created (same address type) or deleted. A Service without endpoints
// keeps one empty placeholder slice. Slices owned by another object (a
// Service of the same name deleted and created again) are deleted.
func Reconcile(svc *corev1.Service, pods []*corev1.Pod, zone func(node string) string, existing []*discoveryv1.EndpointSlice, maxPerSlice int) Plan {
	if maxPerSlice < 1 {
		maxPerSlice = DefaultMaxEndpointsPerSlice
	}
	var plan Plan
	var owned []*discoveryv1.EndpointSlice
	for _, s := range existing {
		if ownedBy(s, svc) {
			owned = append(owned, s)
		} else {
			plan.Delete = append(plan.Delete, s)
		}
	}
	sort.Slice(owned, func(i, j int) bool { return owned[i].Name < owned[j].Name })
	want := desiredGroups(svc, pods, zone)
	meta := sliceMeta(svc)
	if len(want) == 0 {
		return placeholder(svc, meta, owned, plan)
	}

	byGroup := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range owned {
		k := groupKey(s.AddressType, s.Ports)
		byGroup[k] = append(byGroup[k], s)
	}
	var free []*discoveryv1.EndpointSlice // emptied slices, reusable
	var creates []*discoveryv1.EndpointSlice
	for _, k := range sortedKeys(byGroup) {
		if _, ok := want[k]; !ok {
			free = append(free, byGroup[k]...)
		}
	}
	for _, k := range sortedKeys(want) {
		g := want[k]
		work := fillGroup(g, byGroup[k], meta, maxPerSlice)
		for _, w := range work {
			switch {
			case len(w.endpoints) == 0:
				free = append(free, w.orig)
			case w.orig == nil:
				creates = append(creates, newSlice(svc, meta, g, w.endpoints))
			case w.changed || !metaEqual(w.orig, meta):
				s := w.orig.DeepCopy()
				applyMeta(s, meta)
				s.Ports, s.Endpoints = g.ports, w.endpoints
				plan.Update = append(plan.Update, s)
			}
		}
	}
	// A slice to create takes the place of an emptied one of its address
	// type: one update instead of a delete and a create.
	for _, c := range creates {
		i := indexOf(free, func(s *discoveryv1.EndpointSlice) bool { return s.AddressType == c.AddressType })
		if i < 0 {
			plan.Create = append(plan.Create, c)
			continue
		}
		s := free[i].DeepCopy()
		free = append(free[:i], free[i+1:]...)
		applyMeta(s, meta)
		s.Ports, s.Endpoints = c.Ports, c.Endpoints
		plan.Update = append(plan.Update, s)
	}
	plan.Delete = append(plan.Delete, free...)
	return plan
}

// group is the desired endpoints of one address type and port set.
type group struct {
	addressType discoveryv1.AddressType
	ports       []discoveryv1.EndpointPort
	endpoints   map[string]discoveryv1.Endpoint // by endpointKey
}

// desiredGroups computes every endpoint of svc, grouped by groupKey.
func desiredGroups(svc *corev1.Service, pods []*corev1.Pod, zone func(string) string) map[string]*group {
	out := map[string]*group{}
	if len(svc.Spec.Selector) == 0 {
		return out
	}
	publishAll := svc.Spec.PublishNotReadyAddresses
	for _, family := range endpoints.Families(svc) {
		at := discoveryv1.AddressTypeIPv4
		if family == corev1.IPv6Protocol {
			at = discoveryv1.AddressTypeIPv6
		}
		for _, pod := range pods {
			if pod.Namespace != svc.Namespace || !endpoints.Include(pod, true) {
				continue
			}
			ip := endpoints.PodIP(pod, family)
			if ip == "" {
				continue
			}
			var ports []discoveryv1.EndpointPort
			for i := range svc.Spec.Ports {
				sp := &svc.Spec.Ports[i]
				if p, ok := endpoints.FindPort(pod, sp); ok {
					name, proto := sp.Name, sp.Protocol
					if proto == "" {
						proto = corev1.ProtocolTCP
					}
					ports = append(ports, discoveryv1.EndpointPort{Name: &name, Protocol: &proto, Port: &p, AppProtocol: sp.AppProtocol})
				}
			}
			if len(ports) == 0 && len(svc.Spec.Ports) > 0 {
				continue
			}
			sortPorts(ports)
			k := groupKey(at, ports)
			g := out[k]
			if g == nil {
				g = &group{addressType: at, ports: ports, endpoints: map[string]discoveryv1.Endpoint{}}
				out[k] = g
			}
			e := podEndpoint(svc, pod, ip, publishAll, zone)
			g.endpoints[endpointKey(e)] = e
		}
	}
	return out
}

// podEndpoint is pod's endpoint: ready when Ready and not terminating
// (or the Service publishes not-ready addresses), serving when Ready
// whatever its termination, terminating when being deleted.
func podEndpoint(svc *corev1.Service, pod *corev1.Pod, ip string, publishAll bool, zone func(string) string) discoveryv1.Endpoint {
	podReady, terminating := endpoints.PodReady(pod), endpoints.Terminating(pod)
	ready := publishAll || (podReady && !terminating)
	serving := publishAll || podReady
	e := discoveryv1.Endpoint{
		Addresses:  []string{ip},
		Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
	}
	if h := endpoints.Hostname(pod, svc); h != "" {
		e.Hostname = &h
	}
	if n := pod.Spec.NodeName; n != "" {
		e.NodeName = &n
		if z := zone(n); z != "" {
			e.Zone = &z
		}
	}
	return e
}

// work is one slice being planned: orig nil for a new one.
type work struct {
	orig      *discoveryv1.EndpointSlice
	endpoints []discoveryv1.Endpoint
	changed   bool
}

// fillGroup places g's endpoints into its existing slices (editing them
// in place) and new ones.
func fillGroup(g *group, slices []*discoveryv1.EndpointSlice, meta sliceMetadata, max int) []*work {
	placed := map[string]bool{}
	var out []*work
	for _, s := range slices {
		w := &work{orig: s}
		for _, e := range s.Endpoints {
			k := endpointKey(e)
			d, ok := g.endpoints[k]
			if !ok || placed[k] || len(w.endpoints) >= max {
				w.changed = true // gone, a duplicate, or over the limit
				continue
			}
			placed[k] = true
			if apiequality.Semantic.DeepEqual(e, d) {
				w.endpoints = append(w.endpoints, e)
			} else {
				w.endpoints = append(w.endpoints, d)
				w.changed = true
			}
		}
		out = append(out, w)
	}
	var rest []discoveryv1.Endpoint
	for _, k := range sortedKeys(g.endpoints) {
		if !placed[k] {
			rest = append(rest, g.endpoints[k])
		}
	}
	// 1. Into slices being written anyway.
	for _, w := range out {
		if len(rest) == 0 {
			break
		}
		if w.changed || !metaEqual(w.orig, meta) {
			n := min(max-len(w.endpoints), len(rest))
			if n > 0 {
				w.endpoints, rest = append(w.endpoints, rest[:n]...), rest[n:]
				w.changed = true
			}
		}
	}
	// 2. All of the rest into the fullest unchanged slice with room.
	if len(rest) > 0 {
		var best *work
		for _, w := range out {
			if !w.changed && len(w.endpoints) > 0 && len(w.endpoints)+len(rest) <= max && (best == nil || len(w.endpoints) > len(best.endpoints)) {
				best = w
			}
		}
		if best != nil {
			best.endpoints, rest = append(best.endpoints, rest...), nil
			best.changed = true
		}
	}
	// 3. New slices.
	for len(rest) > 0 {
		n := min(max, len(rest))
		out = append(out, &work{endpoints: rest[:n:n], changed: true})
		rest = rest[n:]
	}
	return out
}

// placeholder plans the one empty slice of a Service without endpoints:
// an existing slice of the primary address type is kept (emptied),
// every other one deleted.
func placeholder(svc *corev1.Service, meta sliceMetadata, owned []*discoveryv1.EndpointSlice, plan Plan) Plan {
	at := discoveryv1.AddressTypeIPv4
	if endpoints.Families(svc)[0] == corev1.IPv6Protocol {
		at = discoveryv1.AddressTypeIPv6
	}
	keep := -1
	for i, s := range owned {
		if s.AddressType != at {
			continue
		}
		if keep < 0 || (len(s.Endpoints) == 0 && len(s.Ports) == 0 && len(owned[keep].Endpoints)+len(owned[keep].Ports) > 0) {
			keep = i
		}
	}
	for i, s := range owned {
		if i != keep {
			plan.Delete = append(plan.Delete, s)
		}
	}
	if keep < 0 {
		plan.Create = append(plan.Create, newSlice(svc, meta, &group{addressType: at}, nil))
		return plan
	}
	s := owned[keep]
	if len(s.Endpoints) == 0 && len(s.Ports) == 0 && metaEqual(s, meta) {
		return plan
	}
	s = s.DeepCopy()
	applyMeta(s, meta)
	s.Ports, s.Endpoints = nil, nil
	plan.Update = append(plan.Update, s)
	return plan
}

// sliceMetadata is what a managed slice's metadata must carry.
type sliceMetadata struct {
	labels map[string]string
	owner  metav1.OwnerReference
}

func sliceMeta(svc *corev1.Service) sliceMetadata {
	l := maps.Clone(svc.Labels)
	if l == nil {
		l = map[string]string{}
	}
	delete(l, endpoints.LabelHeadless)
	if endpoints.Headless(svc) {
		l[endpoints.LabelHeadless] = ""
	}
	l[discoveryv1.LabelServiceName] = svc.Name
	l[discoveryv1.LabelManagedBy] = ControllerName
	yes := true
	return sliceMetadata{labels: l, owner: metav1.OwnerReference{
		APIVersion: "v1", Kind: "Service", Name: svc.Name, UID: svc.UID, Controller: &yes, BlockOwnerDeletion: &yes,
	}}
}

func metaEqual(s *discoveryv1.EndpointSlice, m sliceMetadata) bool {
	if !maps.Equal(s.Labels, m.labels) {
		return false
	}
	for _, o := range s.OwnerReferences {
		if apiequality.Semantic.DeepEqual(o, m.owner) {
			return true
		}
	}
	return false
}

func applyMeta(s *discoveryv1.EndpointSlice, m sliceMetadata) {
	s.Labels = maps.Clone(m.labels)
	var refs []metav1.OwnerReference
	for _, o := range s.OwnerReferences {
		if o.UID != m.owner.UID {
			refs = append(refs, o)
		}
	}
	s.OwnerReferences = append(refs, m.owner)
}

func newSlice(svc *corev1.Service, m sliceMetadata, g *group, eps []discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{GenerateName: svc.Name + "-", Namespace: svc.Namespace},
		AddressType: g.addressType,
		Ports:       g.ports,
		Endpoints:   eps,
	}
	applyMeta(s, m)
	return s
}

// ownedBy reports whether s's controller owner is svc (this incarnation
// of it).
func ownedBy(s *discoveryv1.EndpointSlice, svc *corev1.Service) bool {
	for _, o := range s.OwnerReferences {
		if o.Controller != nil && *o.Controller {
			return o.Kind == "Service" && o.UID == svc.UID
		}
	}
	return false
}

// endpointKey identifies an endpoint across syncs: its pod, or its
// address when it names none.
func endpointKey(e discoveryv1.Endpoint) string {
	if r := e.TargetRef; r != nil && r.Name != "" {
		return "pod/" + r.Namespace + "/" + r.Name
	}
	return "addr/" + strings.Join(e.Addresses, ",")
}

func groupKey(at discoveryv1.AddressType, ports []discoveryv1.EndpointPort) string {
	var b strings.Builder
	b.WriteString(string(at))
	sorted := append([]discoveryv1.EndpointPort(nil), ports...)
	sortPorts(sorted)
	for _, p := range sorted {
		fmt.Fprintf(&b, "|%s/%d/%s/%s", deref(p.Name), derefInt(p.Port), derefProto(p.Protocol), deref(p.AppProtocol))
	}
	return b.String()
}

func sortPorts(ports []discoveryv1.EndpointPort) {
	sort.Slice(ports, func(i, j int) bool {
		a, b := ports[i], ports[j]
		if deref(a.Name) != deref(b.Name) {
			return deref(a.Name) < deref(b.Name)
		}
		return derefInt(a.Port) < derefInt(b.Port)
	})
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func derefInt(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

func derefProto(p *corev1.Protocol) corev1.Protocol {
	if p == nil {
		return corev1.ProtocolTCP
	}
	return *p
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func indexOf[T any](list []T, f func(T) bool) int {
	for i, x := range list {
		if f(x) {
			return i
		}
	}
	return -1
}
