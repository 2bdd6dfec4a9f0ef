package kinds

// Services and Endpoints: defaults, validation (ports, types, immutable
// clusterIP), what an update keeps from the stored Service, tables and
// selectable fields.

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func serviceKind() *Kind {
	k := base(coreGV, "Service", "services", "service", true, obj[corev1.Service](), obj[corev1.ServiceList]())
	k.ShortNames, k.Categories, k.HasStatus, k.StoragePrefix = []string{"svc"}, []string{"all"}, true, "services/specs"
	k.Default = func(o runtime.Object) { defaultService(o.(*corev1.Service)) }
	k.PrepareForCreate = func(o runtime.Object) { o.(*corev1.Service).Status = corev1.ServiceStatus{} }
	k.Validate = func(o runtime.Object) field.ErrorList { return validateService(o.(*corev1.Service)) }
	k.ValidateUpdate = func(o, old runtime.Object) field.ErrorList {
		return validateServiceUpdate(o.(*corev1.Service), old.(*corev1.Service))
	}
	k.PrepareForUpdate = func(o, old runtime.Object) { keepAllocated(o.(*corev1.Service), old.(*corev1.Service)) }
	k.ValidateName = nameIsDNS1035Label
	k.Columns = serviceColumns
	k.Cells = func(o runtime.Object) []interface{} { return serviceCells(o.(*corev1.Service), time.Now()) }
	k.Fields = func(o runtime.Object) fields.Set {
		s := o.(*corev1.Service)
		return fields.Set{"spec.clusterIP": s.Spec.ClusterIP, "spec.type": string(s.Spec.Type)}
	}
	return k
}

// defaultService sets Service defaults, including the IP family fields
// kube-apiserver sets at create in a single-stack IPv4 cluster (IPv6 if
// the clusterIP given is one).
func defaultService(svc *corev1.Service) {
	s := &svc.Spec
	setDefaultString(&s.SessionAffinity, corev1.ServiceAffinityNone)
	if s.SessionAffinity == corev1.ServiceAffinityNone {
		s.SessionAffinityConfig = nil
	}
	if s.SessionAffinity == corev1.ServiceAffinityClientIP {
		c := s.SessionAffinityConfig
		if c == nil || c.ClientIP == nil || c.ClientIP.TimeoutSeconds == nil {
			s.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr(corev1.DefaultClientIPServiceAffinitySeconds)}}
		}
	}
	setDefaultString(&s.Type, corev1.ServiceTypeClusterIP)
	for i := range s.Ports {
		setDefaultString(&s.Ports[i].Protocol, corev1.ProtocolTCP)
		defaultServicePortTarget(&s.Ports[i])
	}
	external := s.Type == corev1.ServiceTypeNodePort || s.Type == corev1.ServiceTypeLoadBalancer ||
		(s.Type == corev1.ServiceTypeClusterIP && len(s.ExternalIPs) > 0)
	if external {
		setDefaultString(&s.ExternalTrafficPolicy, corev1.ServiceExternalTrafficPolicyCluster)
	}
	if s.Type != corev1.ServiceTypeExternalName {
		setDefault(&s.InternalTrafficPolicy, corev1.ServiceInternalTrafficPolicyCluster)
	}
	if s.Type == corev1.ServiceTypeLoadBalancer {
		setDefault(&s.AllocateLoadBalancerNodePorts, true)
	}
	if len(s.ClusterIPs) == 0 && s.ClusterIP != "" {
		s.ClusterIPs = []string{s.ClusterIP}
	}
	if s.Type == corev1.ServiceTypeExternalName {
		return
	}
	if s.IPFamilyPolicy == nil {
		if s.ClusterIP == corev1.ClusterIPNone && len(s.Selector) == 0 {
			s.IPFamilyPolicy = ptr(corev1.IPFamilyPolicyRequireDualStack)
		} else {
			s.IPFamilyPolicy = ptr(corev1.IPFamilyPolicySingleStack)
		}
	}
	if len(s.IPFamilies) == 0 {
		family := corev1.IPv4Protocol
		if ip, err := netip.ParseAddr(s.ClusterIP); err == nil && ip.Is6() && !ip.Is4In6() {
			family = corev1.IPv6Protocol
		}
		s.IPFamilies = []corev1.IPFamily{family}
	}
}

// keepAllocated copies into an update the clusterIP, node ports and
// health-check node port of the stored Service when the update leaves
// them empty and the type still needs them (so that a replace of a
// manifest without them does not fail as "may not change once set").
func keepAllocated(svc, old *corev1.Service) {
	s, o := &svc.Spec, &old.Spec
	if s.Type != corev1.ServiceTypeExternalName && o.Type != corev1.ServiceTypeExternalName && s.ClusterIP == "" {
		s.ClusterIP, s.ClusterIPs = o.ClusterIP, append([]string(nil), o.ClusterIPs...)
	}
	if needsNodePorts(s.Type) && needsNodePorts(o.Type) {
		used := map[int32]bool{}
		for _, p := range s.Ports {
			used[p.NodePort] = true
		}
		byName := map[string]int32{}
		for _, p := range o.Ports {
			byName[p.Name] = p.NodePort
		}
		for i := range s.Ports {
			if p := &s.Ports[i]; p.NodePort == 0 && !used[byName[p.Name]] {
				p.NodePort = byName[p.Name]
			}
		}
	}
	if s.HealthCheckNodePort == 0 && s.Type == corev1.ServiceTypeLoadBalancer && o.Type == corev1.ServiceTypeLoadBalancer &&
		s.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal && o.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
		s.HealthCheckNodePort = o.HealthCheckNodePort
	}
}

func needsNodePorts(t corev1.ServiceType) bool {
	return t == corev1.ServiceTypeNodePort || t == corev1.ServiceTypeLoadBalancer
}

// validateClusterIPs checks clusterIP, clusterIPs, ipFamilies and
// ipFamilyPolicy agree with each other.
func validateClusterIPs(s *corev1.ServiceSpec) field.ErrorList {
	if s.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	var errs field.ErrorList
	ips := field.NewPath("spec", "clusterIPs")
	if s.ClusterIP != "" {
		if len(s.ClusterIPs) == 0 {
			errs = append(errs, field.Required(ips, ""))
		} else if s.ClusterIPs[0] != s.ClusterIP {
			errs = append(errs, field.Invalid(ips, s.ClusterIPs, "first value must match `clusterIP`"))
		}
	} else if len(s.ClusterIPs) != 0 {
		errs = append(errs, field.Invalid(ips, s.ClusterIPs, "must be empty when `clusterIP` is not specified"))
	}
	families := field.NewPath("spec", "ipFamilies")
	seen := map[corev1.IPFamily]bool{}
	for i, f := range s.IPFamilies {
		if !contains(ipFamilies, f) {
			errs = append(errs, field.NotSupported(families.Index(i), f, ipFamilies))
		}
		if seen[f] {
			errs = append(errs, field.Duplicate(families.Index(i), f))
		}
		seen[f] = true
	}
	if p := s.IPFamilyPolicy; p != nil && !contains(ipFamilyPolicies, *p) {
		errs = append(errs, field.NotSupported(field.NewPath("spec", "ipFamilyPolicy"), *p, ipFamilyPolicies))
	}
	for i, ip := range s.ClusterIPs {
		if i == 0 && ip == corev1.ClusterIPNone {
			if len(s.ClusterIPs) > 1 {
				errs = append(errs, field.Invalid(ips, s.ClusterIPs, "'None' must be the first and only value"))
			}
			continue
		}
		errs = append(errs, validation.IsValidIPForLegacyField(ips.Index(i), ip, false, nil)...)
	}
	if len(s.ClusterIPs) > 2 {
		errs = append(errs, field.Invalid(ips, s.ClusterIPs, "may only hold up to 2 values"))
	}
	return errs
}

var (
	ipFamilies        = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	ipFamilyPolicies  = []corev1.IPFamilyPolicy{corev1.IPFamilyPolicyPreferDualStack, corev1.IPFamilyPolicyRequireDualStack, corev1.IPFamilyPolicySingleStack}
	serviceTypes      = []corev1.ServiceType{corev1.ServiceTypeClusterIP, corev1.ServiceTypeExternalName, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort}
	sessionAffinities = []corev1.ServiceAffinity{corev1.ServiceAffinityClientIP, corev1.ServiceAffinityNone}
	trafficPolicies   = []corev1.ServiceExternalTrafficPolicy{corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal}
)

func validateService(svc *corev1.Service) field.ErrorList {
	s := &svc.Spec
	fld := field.NewPath("spec")
	var errs field.ErrorList
	headless := s.ClusterIP == corev1.ClusterIPNone
	if len(s.Ports) == 0 && !headless && s.Type != corev1.ServiceTypeExternalName {
		errs = append(errs, field.Required(fld.Child("ports"), ""))
	}
	switch {
	case s.Type == "":
		errs = append(errs, field.Required(fld.Child("type"), ""))
	case !contains(serviceTypes, s.Type):
		errs = append(errs, field.NotSupported(fld.Child("type"), s.Type, serviceTypes))
	case s.Type == corev1.ServiceTypeExternalName:
		if s.ClusterIP != "" {
			errs = append(errs, field.Forbidden(fld.Child("clusterIP"), "may not be set for ExternalName services"))
		}
		if s.ExternalName == "" {
			errs = append(errs, field.Required(fld.Child("externalName"), ""))
		} else {
			for _, msg := range validation.IsDNS1123Subdomain(strings.TrimSuffix(s.ExternalName, ".")) {
				errs = append(errs, field.Invalid(fld.Child("externalName"), s.ExternalName, msg))
			}
		}
	}
	errs = append(errs, validateClusterIPs(s)...)
	names := map[string]bool{}
	type key struct {
		proto corev1.Protocol
		port  int32
	}
	seenPorts, seenNodePorts := map[key]bool{}, map[key]bool{}
	for i := range s.Ports {
		p := &s.Ports[i]
		pp := fld.Child("ports").Index(i)
		if len(s.Ports) > 1 && p.Name == "" {
			errs = append(errs, field.Required(pp.Child("name"), ""))
		} else if p.Name != "" {
			errs = append(errs, dns1123Label(p.Name, pp.Child("name"))...)
			if names[p.Name] {
				errs = append(errs, field.Duplicate(pp.Child("name"), p.Name))
			}
			names[p.Name] = true
		}
		for _, msg := range validation.IsValidPortNum(int(p.Port)) {
			errs = append(errs, field.Invalid(pp.Child("port"), p.Port, msg))
		}
		if p.Protocol == "" {
			errs = append(errs, field.Required(pp.Child("protocol"), ""))
		} else if !contains(portProtocols, p.Protocol) {
			errs = append(errs, field.NotSupported(pp.Child("protocol"), p.Protocol, portProtocols))
		}
		errs = append(errs, validatePortNumOrName(p.TargetPort, pp.Child("targetPort"))...)
		if k := (key{p.Protocol, p.Port}); seenPorts[k] {
			errs = append(errs, field.Duplicate(pp, corev1.ServicePort{Protocol: p.Protocol, Port: p.Port}))
		} else {
			seenPorts[k] = true
		}
		if p.NodePort == 0 {
			continue
		}
		switch {
		case s.Type == corev1.ServiceTypeClusterIP:
			errs = append(errs, field.Forbidden(pp.Child("nodePort"), "may not be used when `type` is 'ClusterIP'"))
		case p.NodePort < 1 || p.NodePort > 65535:
			errs = append(errs, field.Invalid(pp.Child("nodePort"), p.NodePort, "must be between 1 and 65535, inclusive"))
		}
		// The configured node port range is the allocator's to check
		// (the API server's --service-node-port-range), as in Kubernetes.
		if k := (key{p.Protocol, p.NodePort}); seenNodePorts[k] {
			errs = append(errs, field.Duplicate(pp.Child("nodePort"), p.NodePort))
		} else {
			seenNodePorts[k] = true
		}
	}
	errs = append(errs, metav1validation.ValidateLabels(s.Selector, fld.Child("selector"))...)
	if s.SessionAffinity == "" {
		errs = append(errs, field.Required(fld.Child("sessionAffinity"), ""))
	} else if !contains(sessionAffinities, s.SessionAffinity) {
		errs = append(errs, field.NotSupported(fld.Child("sessionAffinity"), s.SessionAffinity, sessionAffinities))
	}
	if s.ExternalTrafficPolicy != "" {
		if !contains(trafficPolicies, s.ExternalTrafficPolicy) {
			errs = append(errs, field.NotSupported(fld.Child("externalTrafficPolicy"), s.ExternalTrafficPolicy, trafficPolicies))
		} else if !needsNodePorts(s.Type) && !(s.Type == corev1.ServiceTypeClusterIP && len(s.ExternalIPs) > 0) {
			errs = append(errs, field.Invalid(fld.Child("externalTrafficPolicy"), s.ExternalTrafficPolicy, "may only be set for externally-accessible services"))
		}
	}
	for i, ip := range s.ExternalIPs {
		errs = append(errs, validation.IsValidIPForLegacyField(fld.Child("externalIPs").Index(i), ip, false, nil)...)
	}
	return errs
}

// validateServiceUpdate: cluster IPs may be added or released (dual
// stack upgrade or downgrade) but the primary, and any IP kept, may not
// change once set, unless the Service is changing to or from
// ExternalName or stays headless; the primary IP family may not change.
func validateServiceUpdate(svc, old *corev1.Service) field.ErrorList {
	s, o := &svc.Spec, &old.Spec
	if s.Type == corev1.ServiceTypeExternalName || o.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	if s.ClusterIP == corev1.ClusterIPNone && o.ClusterIP == corev1.ClusterIPNone {
		return nil
	}
	ips := field.NewPath("spec", "clusterIPs")
	var errs field.ErrorList
	switch {
	case len(o.ClusterIPs) == len(s.ClusterIPs):
		for i, ip := range o.ClusterIPs {
			if ip != s.ClusterIPs[i] {
				errs = append(errs, field.Invalid(ips.Index(i), s.ClusterIPs, "may not change once set"))
			}
		}
	case len(o.ClusterIPs) > len(s.ClusterIPs):
		if len(s.ClusterIPs) == 0 {
			errs = append(errs, field.Invalid(ips.Index(0), s.ClusterIPs, "primary clusterIP can not be unset"))
		} else if s.ClusterIPs[0] != o.ClusterIPs[0] {
			errs = append(errs, field.Invalid(ips.Index(0), s.ClusterIPs, "may not change once set"))
		}
	default:
		if len(o.ClusterIPs) > 0 && s.ClusterIPs[0] != o.ClusterIPs[0] {
			errs = append(errs, field.Invalid(ips.Index(0), s.ClusterIPs, "may not change once set"))
		}
	}
	if len(o.IPFamilies) > 0 && len(s.IPFamilies) > 0 && s.IPFamilies[0] != o.IPFamilies[0] {
		errs = append(errs, field.Invalid(field.NewPath("spec", "ipFamilies").Index(0), s.IPFamilies, "may not change once set"))
	}
	return errs
}

var serviceColumns = []metav1.TableColumnDefinition{
	colName,
	col("Type", "string", "type determines how the Service is exposed.", false),
	col("Cluster-IP", "string", "clusterIP is the IP address of the service and is usually assigned randomly.", false),
	col("External-IP", "string", "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.", false),
	col("Port(s)", "string", "The list of ports that are exposed by this service.", false),
	colAge,
	col("Selector", "string", "Route service traffic to pods with label keys and values matching this selector.", true),
}

func serviceCells(svc *corev1.Service, now time.Time) []interface{} {
	clusterIP := "<none>"
	if len(svc.Spec.ClusterIPs) > 0 {
		clusterIP = svc.Spec.ClusterIPs[0]
	}
	return []interface{}{
		svc.Name, string(svc.Spec.Type), clusterIP, serviceExternalIP(svc),
		servicePorts(svc.Spec.Ports), ageAt(svc.CreationTimestamp, now), formatLabels(svc.Spec.Selector),
	}
}

// serviceExternalIP is the EXTERNAL-IP cell.
func serviceExternalIP(svc *corev1.Service) string {
	switch svc.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		return joinOr(svc.Spec.ExternalIPs, ",")
	case corev1.ServiceTypeLoadBalancer:
		seen := map[string]bool{}
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if in.IP != "" {
				seen[in.IP] = true
			} else if in.Hostname != "" {
				seen[in.Hostname] = true
			}
		}
		ips := append(sortedKeys(seen), svc.Spec.ExternalIPs...)
		if len(ips) == 0 {
			return "<pending>"
		}
		return strings.Join(ips, ",")
	case corev1.ServiceTypeExternalName:
		return svc.Spec.ExternalName
	}
	return "<unknown>"
}

// servicePorts is the PORT(S) cell: "80/TCP,443:30443/TCP".
func servicePorts(ports []corev1.ServicePort) string {
	out := make([]string, 0, len(ports))
	for _, p := range ports {
		if p.NodePort != 0 {
			out = append(out, fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol))
		} else {
			out = append(out, fmt.Sprintf("%d/%s", p.Port, p.Protocol))
		}
	}
	return joinOr(out, ",")
}

func endpointsKind() *Kind {
	k := base(coreGV, "Endpoints", "endpoints", "endpoints", true, obj[corev1.Endpoints](), obj[corev1.EndpointsList]())
	k.ShortNames, k.StoragePrefix = []string{"ep"}, "services/endpoints"
	k.Default = func(o runtime.Object) {
		ep := o.(*corev1.Endpoints)
		for i := range ep.Subsets {
			for j := range ep.Subsets[i].Ports {
				setDefaultString(&ep.Subsets[i].Ports[j].Protocol, corev1.ProtocolTCP)
			}
		}
	}
	k.Validate = func(o runtime.Object) field.ErrorList { return validateEndpoints(o.(*corev1.Endpoints)) }
	k.Columns = []metav1.TableColumnDefinition{
		colName,
		col("Endpoints", "string", "Endpoints of the service", false),
		colAge,
	}
	k.Cells = func(o runtime.Object) []interface{} {
		ep := o.(*corev1.Endpoints)
		return []interface{}{ep.Name, formatEndpoints(ep), age(ep.CreationTimestamp)}
	}
	return k
}

func validateEndpoints(ep *corev1.Endpoints) field.ErrorList {
	var errs field.ErrorList
	for i, ss := range ep.Subsets {
		sp := field.NewPath("subsets").Index(i)
		for j, a := range ss.Addresses {
			errs = append(errs, validation.IsValidIPForLegacyField(sp.Child("addresses").Index(j).Child("ip"), a.IP, false, nil)...)
		}
		for j, a := range ss.NotReadyAddresses {
			errs = append(errs, validation.IsValidIPForLegacyField(sp.Child("notReadyAddresses").Index(j).Child("ip"), a.IP, false, nil)...)
		}
		for j, p := range ss.Ports {
			pp := sp.Child("ports").Index(j)
			if len(ss.Ports) > 1 && p.Name == "" {
				errs = append(errs, field.Required(pp.Child("name"), ""))
			} else if p.Name != "" {
				errs = append(errs, dns1123Label(p.Name, pp.Child("name"))...)
			}
			for _, msg := range validation.IsValidPortNum(int(p.Port)) {
				errs = append(errs, field.Invalid(pp.Child("port"), p.Port, msg))
			}
			if p.Protocol == "" {
				errs = append(errs, field.Required(pp.Child("protocol"), ""))
			} else if !contains(portProtocols, p.Protocol) {
				errs = append(errs, field.NotSupported(pp.Child("protocol"), p.Protocol, portProtocols))
			}
		}
	}
	return errs
}

// formatEndpoints is the ENDPOINTS cell: up to three "ip:port", then
// " + N more...".
func formatEndpoints(ep *corev1.Endpoints) string {
	const max = 3
	var list []string
	count := 0
	for _, ss := range ep.Subsets {
		if len(ss.Ports) == 0 {
			count += len(ss.Addresses)
			for _, a := range ss.Addresses {
				if len(list) < max {
					list = append(list, a.IP)
				}
			}
			continue
		}
		for _, p := range ss.Ports {
			count += len(ss.Addresses)
			for _, a := range ss.Addresses {
				if len(list) < max {
					list = append(list, net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
				}
			}
		}
	}
	if len(list) == 0 {
		return "<none>"
	}
	if count > max {
		return fmt.Sprintf("%s + %d more...", strings.Join(list, ","), count-max)
	}
	return strings.Join(list, ",")
}
