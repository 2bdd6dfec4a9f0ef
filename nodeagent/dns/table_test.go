package dns

import (
	"sort"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func ptr[T any](v T) *T { return &v }

func testSnapshot() ([]*corev1.Service, []*discoveryv1.EndpointSlice) {
	svcs := []*corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}, Spec: corev1.ServiceSpec{
			ClusterIP: "10.96.0.5", Ports: []corev1.ServicePort{
				{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80},
				{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53},
				{Protocol: corev1.ProtocolTCP, Port: 9090}, // unnamed: no SRV
			}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "db", Name: "pg"}, Spec: corev1.ServiceSpec{
			ClusterIP: "None", Ports: []corev1.ServicePort{{Name: "sql", Port: 5432}}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "ext"}, Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeExternalName, ExternalName: "example.org"}},
	}
	slices := []*discoveryv1.EndpointSlice{{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "db", Name: "pg-1", Labels: map[string]string{discoveryv1.LabelServiceName: "pg"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("sql"), Protocol: ptr(corev1.ProtocolTCP), Port: ptr(int32(5432))}},
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.244.1.2"}, Hostname: ptr("pg-0"), Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}},
			{Addresses: []string{"10.244.1.3"}},
			{Addresses: []string{"10.244.1.4"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(false)}},
		},
	}}
	return svcs, slices
}

func TestLookup(t *testing.T) {
	svcs, slices := testSnapshot()
	tbl := Build("cluster.local", 5, svcs, slices)
	for _, tc := range []struct {
		name   string
		qtype  uint16
		inZone bool
		rcode  int
		want   []string // answers' data, sorted
		extra  []string
	}{
		{"web.default.svc.cluster.local.", mdns.TypeA, true, mdns.RcodeSuccess, []string{"A 10.96.0.5"}, nil},
		{"WEB.Default.svc.cluster.local", mdns.TypeA, true, mdns.RcodeSuccess, []string{"A 10.96.0.5"}, nil},
		{"web.default.svc.cluster.local.", mdns.TypeAAAA, true, mdns.RcodeSuccess, nil, nil},
		{"_http._tcp.web.default.svc.cluster.local.", mdns.TypeSRV, true, mdns.RcodeSuccess,
			[]string{"SRV 0 100 80 web.default.svc.cluster.local."}, []string{"A 10.96.0.5"}},
		{"_dns._udp.web.default.svc.cluster.local.", mdns.TypeSRV, true, mdns.RcodeSuccess,
			[]string{"SRV 0 100 53 web.default.svc.cluster.local."}, []string{"A 10.96.0.5"}},
		{"_http._udp.web.default.svc.cluster.local.", mdns.TypeSRV, true, mdns.RcodeNameError, nil, nil},
		{"pg.db.svc.cluster.local.", mdns.TypeA, true, mdns.RcodeSuccess, []string{"A 10.244.1.2", "A 10.244.1.3"}, nil},
		{"pg-0.pg.db.svc.cluster.local.", mdns.TypeA, true, mdns.RcodeSuccess, []string{"A 10.244.1.2"}, nil},
		{"10-244-1-3.pg.db.svc.cluster.local.", mdns.TypeA, true, mdns.RcodeSuccess, []string{"A 10.244.1.3"}, nil},
		{"10-244-1-4.pg.db.svc.cluster.local.", mdns.TypeA, true, mdns.RcodeNameError, nil, nil},
		{"_sql._tcp.pg.db.svc.cluster.local.", mdns.TypeSRV, true, mdns.RcodeSuccess,
			[]string{"SRV 0 100 5432 10-244-1-3.pg.db.svc.cluster.local.", "SRV 0 100 5432 pg-0.pg.db.svc.cluster.local."},
			[]string{"A 10.244.1.2", "A 10.244.1.3"}},
		{"ext.default.svc.cluster.local.", mdns.TypeA, true, mdns.RcodeSuccess, []string{"CNAME example.org."}, nil},
		{"10-244-3-7.default.pod.cluster.local.", mdns.TypeA, true, mdns.RcodeSuccess, []string{"A 10.244.3.7"}, nil},
		{"10-244-3-777.default.pod.cluster.local.", mdns.TypeA, true, mdns.RcodeNameError, nil, nil},
		{"5.0.96.10.in-addr.arpa.", mdns.TypePTR, true, mdns.RcodeSuccess, []string{"PTR web.default.svc.cluster.local."}, nil},
		{"6.0.96.10.in-addr.arpa.", mdns.TypePTR, false, 0, nil, nil},
		{"nope.default.svc.cluster.local.", mdns.TypeA, true, mdns.RcodeNameError, nil, nil},
		{"web.nons.svc.cluster.local.", mdns.TypeA, true, mdns.RcodeNameError, nil, nil},
		// Empty non-terminals exist: NODATA, not NXDOMAIN.
		{"default.svc.cluster.local.", mdns.TypeA, true, mdns.RcodeSuccess, nil, nil},
		{"cluster.local.", mdns.TypeA, true, mdns.RcodeSuccess, nil, nil},
		{"example.org.", mdns.TypeA, false, 0, nil, nil},
		{"local.", mdns.TypeA, false, 0, nil, nil},
	} {
		t.Run(tc.name+"/"+mdns.TypeToString[tc.qtype], func(t *testing.T) {
			res := tbl.Lookup(mdns.Question{Name: tc.name, Qtype: tc.qtype, Qclass: mdns.ClassINET})
			if res.InZone != tc.inZone || res.Rcode != tc.rcode {
				t.Fatalf("inZone %v rcode %s, want %v %s", res.InZone, mdns.RcodeToString[res.Rcode], tc.inZone, mdns.RcodeToString[tc.rcode])
			}
			if got := rdata(res.Answer); strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("answer %q, want %q", got, tc.want)
			}
			if got := rdata(res.Extra); strings.Join(got, "|") != strings.Join(tc.extra, "|") {
				t.Fatalf("extra %q, want %q", got, tc.extra)
			}
		})
	}
}

// rdata renders records as "TYPE data", sorted.
func rdata(rrs []mdns.RR) []string {
	var out []string
	for _, rr := range rrs {
		f := strings.Split(rr.String(), "\t")
		out = append(out, f[3]+" "+f[4])
	}
	sort.Strings(out)
	return out
}

func TestBuildIsOrderIndependent(t *testing.T) {
	svcs, slices := testSnapshot()
	a := Build("", 5, svcs, slices)
	rs := make([]*corev1.Service, len(svcs))
	for i := range svcs {
		rs[len(svcs)-1-i] = svcs[i]
	}
	b := Build("cluster.local.", 5, rs, slices)
	if len(a.records) != len(b.records) {
		t.Fatalf("%d vs %d names", len(a.records), len(b.records))
	}
	for name, rrs := range a.records {
		if strings.Join(rdata(rrs), "|") != strings.Join(rdata(b.records[name]), "|") {
			t.Fatalf("%s: %v vs %v", name, rrs, b.records[name])
		}
	}
}
