package kinds

// Leases (coordination.k8s.io) and EndpointSlices (discovery.k8s.io).

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func leaseKind() *Kind {
	k := base(coordGV, "Lease", "leases", "lease", true, obj[coordinationv1.Lease](), obj[coordinationv1.LeaseList]())
	k.Validate = func(o runtime.Object) field.ErrorList {
		s := &o.(*coordinationv1.Lease).Spec
		fld := field.NewPath("spec")
		var errs field.ErrorList
		if s.LeaseDurationSeconds != nil && *s.LeaseDurationSeconds <= 0 {
			errs = append(errs, field.Invalid(fld.Child("leaseDurationSeconds"), *s.LeaseDurationSeconds, "must be greater than 0"))
		}
		if s.LeaseTransitions != nil {
			errs = append(errs, nonNegative(int64(*s.LeaseTransitions), fld.Child("leaseTransitions"))...)
		}
		if s.Strategy != nil && *s.Strategy != coordinationv1.OldestEmulationVersion {
			errs = append(errs, field.NotSupported(fld.Child("strategy"), *s.Strategy, []coordinationv1.CoordinatedLeaseStrategy{coordinationv1.OldestEmulationVersion}))
		}
		return errs
	}
	k.Columns = []metav1.TableColumnDefinition{
		colName,
		col("Holder", "string", "holderIdentity contains the identity of the holder of a current lease.", false),
		colAge,
	}
	k.Cells = func(o runtime.Object) []interface{} {
		l := o.(*coordinationv1.Lease)
		holder := ""
		if l.Spec.HolderIdentity != nil {
			holder = *l.Spec.HolderIdentity
		}
		return []interface{}{l.Name, holder, age(l.CreationTimestamp)}
	}
	return k
}

var addressTypes = []discoveryv1.AddressType{discoveryv1.AddressTypeFQDN, discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6}

// EndpointSlice size limits.
const (
	maxSliceEndpoints = 1000
	maxSlicePorts     = 20000
	maxSliceAddresses = 100
)

func endpointSliceKind() *Kind {
	k := base(discoveryGV, "EndpointSlice", "endpointslices", "endpointslice", true, obj[discoveryv1.EndpointSlice](), obj[discoveryv1.EndpointSliceList]())
	k.Default = func(o runtime.Object) {
		es := o.(*discoveryv1.EndpointSlice)
		for i := range es.Ports {
			setDefault(&es.Ports[i].Name, "")
			setDefault(&es.Ports[i].Protocol, corev1.ProtocolTCP)
		}
	}
	k.Validate = func(o runtime.Object) field.ErrorList { return validateEndpointSlice(o.(*discoveryv1.EndpointSlice)) }
	k.ValidateUpdate = func(o, old runtime.Object) field.ErrorList {
		return immutable(o.(*discoveryv1.EndpointSlice).AddressType, old.(*discoveryv1.EndpointSlice).AddressType, field.NewPath("addressType"))
	}
	k.Columns = []metav1.TableColumnDefinition{
		colName,
		col("AddressType", "string", "Type of address carried by this EndpointSlice", false),
		col("Ports", "string", "Ports allowed by this EndpointSlice", false),
		col("Endpoints", "string", "Endpoints included in this EndpointSlice", false),
		colAge,
	}
	k.Cells = func(o runtime.Object) []interface{} {
		es := o.(*discoveryv1.EndpointSlice)
		var ports, addrs []string
		for _, p := range es.Ports {
			switch {
			case p.Port != nil:
				ports = append(ports, strconv.Itoa(int(*p.Port)))
			case p.Name != nil && *p.Name != "":
				ports = append(ports, *p.Name)
			default:
				ports = append(ports, "*")
			}
		}
		for _, e := range es.Endpoints {
			addrs = append(addrs, e.Addresses...)
		}
		return []interface{}{es.Name, string(es.AddressType), listWithMore(ports, 3), listWithMore(addrs, 3), age(es.CreationTimestamp)}
	}
	return k
}

// listWithMore joins up to max items with "," and says how many more;
// "<unset>" when empty.
func listWithMore(items []string, max int) string {
	if len(items) == 0 {
		return "<unset>"
	}
	if len(items) > max {
		return fmt.Sprintf("%s + %d more...", strings.Join(items[:max], ","), len(items)-max)
	}
	return strings.Join(items, ",")
}

func validateEndpointSlice(es *discoveryv1.EndpointSlice) field.ErrorList {
	var errs field.ErrorList
	if es.AddressType == "" {
		errs = append(errs, field.Required(field.NewPath("addressType"), ""))
	} else if !contains(addressTypes, es.AddressType) {
		errs = append(errs, field.NotSupported(field.NewPath("addressType"), es.AddressType, addressTypes))
	}
	ep := field.NewPath("endpoints")
	if len(es.Endpoints) > maxSliceEndpoints {
		errs = append(errs, field.TooMany(ep, len(es.Endpoints), maxSliceEndpoints))
	}
	for i, e := range es.Endpoints {
		ap := ep.Index(i).Child("addresses")
		if len(e.Addresses) == 0 {
			errs = append(errs, field.Required(ap, "must contain at least 1 address"))
		} else if len(e.Addresses) > maxSliceAddresses {
			errs = append(errs, field.TooMany(ap, len(e.Addresses), maxSliceAddresses))
		}
		for j, a := range e.Addresses {
			switch es.AddressType {
			case discoveryv1.AddressTypeIPv4:
				if ip, err := netip.ParseAddr(a); err != nil || !ip.Is4() {
					errs = append(errs, field.Invalid(ap.Index(j), a, "must be a valid IPv4 address"))
				}
			case discoveryv1.AddressTypeIPv6:
				if ip, err := netip.ParseAddr(a); err != nil || !ip.Is6() {
					errs = append(errs, field.Invalid(ap.Index(j), a, "must be a valid IPv6 address"))
				}
			case discoveryv1.AddressTypeFQDN:
				errs = append(errs, dns1123Subdomain(a, ap.Index(j))...)
			}
		}
		if e.NodeName != nil && *e.NodeName != "" {
			errs = append(errs, dns1123Subdomain(*e.NodeName, ep.Index(i).Child("nodeName"))...)
		}
	}
	pp := field.NewPath("ports")
	if len(es.Ports) > maxSlicePorts {
		errs = append(errs, field.TooMany(pp, len(es.Ports), maxSlicePorts))
	}
	names := map[string]bool{}
	for i, p := range es.Ports {
		ip := pp.Index(i)
		if p.Name != nil && *p.Name != "" {
			errs = append(errs, dns1123Label(*p.Name, ip.Child("name"))...)
		}
		name := ""
		if p.Name != nil {
			name = *p.Name
		}
		if names[name] {
			errs = append(errs, field.Duplicate(ip.Child("name"), name))
		}
		names[name] = true
		if p.Protocol == nil {
			errs = append(errs, field.Required(ip.Child("protocol"), ""))
		} else if !contains(portProtocols, *p.Protocol) {
			errs = append(errs, field.NotSupported(ip.Child("protocol"), *p.Protocol, portProtocols))
		}
		if p.Port != nil {
			for _, msg := range validation.IsValidPortNum(int(*p.Port)) {
				errs = append(errs, field.Invalid(ip.Child("port"), *p.Port, msg))
			}
		}
	}
	return errs
}
