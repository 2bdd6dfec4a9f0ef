package kinds

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const nodePortService = `
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: NodePort
  selector:
    app: web
  ports:
  - name: http
    port: 80
    nodePort: 30080
  - name: https
    port: 443
    targetPort: 8443
`

const nodePortServiceDefaulted = `
type: NodePort
selector:
  app: web
ports:
- name: http
  port: 80
  protocol: TCP
  targetPort: 80
  nodePort: 30080
- name: https
  port: 443
  protocol: TCP
  targetPort: 8443
sessionAffinity: None
externalTrafficPolicy: Cluster
internalTrafficPolicy: Cluster
ipFamilyPolicy: SingleStack
ipFamilies: [IPv4]
`

func TestServiceDefaults(t *testing.T) {
	k := kindByName(t, "Service")
	cases := []struct{ name, in, want string }{
		{"nodeport", nodePortService, nodePortServiceDefaulted},
		{"clusterip", `
spec:
  ports: [{port: 8080}]
`, `
type: ClusterIP
ports: [{port: 8080, protocol: TCP, targetPort: 8080}]
sessionAffinity: None
internalTrafficPolicy: Cluster
ipFamilyPolicy: SingleStack
ipFamilies: [IPv4]
`},
		{"headless without selector", `
spec:
  clusterIP: None
`, `
type: ClusterIP
clusterIP: None
clusterIPs: [None]
sessionAffinity: None
internalTrafficPolicy: Cluster
ipFamilyPolicy: RequireDualStack
ipFamilies: [IPv4]
`},
		{"external name", `
spec:
  type: ExternalName
  externalName: db.example.com
`, `
type: ExternalName
externalName: db.example.com
sessionAffinity: None
`},
		{"client ip affinity, load balancer", `
spec:
  type: LoadBalancer
  sessionAffinity: ClientIP
  ports: [{port: 80, targetPort: http}]
`, `
type: LoadBalancer
sessionAffinity: ClientIP
sessionAffinityConfig: {clientIP: {timeoutSeconds: 10800}}
ports: [{port: 80, protocol: TCP, targetPort: http}]
externalTrafficPolicy: Cluster
internalTrafficPolicy: Cluster
allocateLoadBalancerNodePorts: true
ipFamilyPolicy: SingleStack
ipFamilies: [IPv4]
`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			svc := decode(t, k, c.in).(*corev1.Service)
			k.Default(svc)
			var want corev1.ServiceSpec
			decodeInto(t, c.want, &want)
			if got, w := toJSONMap(t, svc.Spec), toJSONMap(t, want); !reflect.DeepEqual(got, w) {
				t.Errorf("defaulted\n got %v\nwant %v", got, w)
			}
			if errs := k.Validate(svc); len(errs) != 0 {
				t.Errorf("defaulted service invalid: %v", errs)
			}
		})
	}
}

func TestServiceValidation(t *testing.T) {
	k := kindByName(t, "Service")
	cases := []struct {
		name   string
		mutate func(s *corev1.Service)
		want   []string
	}{
		{"no ports", func(s *corev1.Service) { s.Spec.Ports = nil }, []string{"spec.ports: Required value"}},
		{"port range", func(s *corev1.Service) { s.Spec.Ports[0].Port = 0 },
			[]string{"spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"}},
		{"target port range", func(s *corev1.Service) { s.Spec.Ports[1].TargetPort = intstr.FromInt32(70000) },
			[]string{"spec.ports[1].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive"}},
		{"node port range", func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 70000 },
			[]string{"spec.ports[0].nodePort: Invalid value: 70000: must be between 1 and 65535, inclusive"}},
		{"node port on ClusterIP", func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalTrafficPolicy = corev1.ServiceTypeClusterIP, ""
		}, []string{"spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"}},
		{"unnamed port of two", func(s *corev1.Service) { s.Spec.Ports[1].Name = "" },
			[]string{"spec.ports[1].name: Required value"}},
		{"duplicate port name", func(s *corev1.Service) { s.Spec.Ports[1].Name = "http" },
			[]string{`spec.ports[1].name: Duplicate value: "http"`}},
		{"type", func(s *corev1.Service) { s.Spec.Type = "Magic" },
			[]string{`spec.type: Unsupported value: "Magic": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"`}},
		{"bad cluster IP", func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.0.0.300", []string{"10.0.0.300"} },
			[]string{`spec.clusterIPs[0]: Invalid value: "10.0.0.300": must be a valid IP address`}},
		{"selector label", func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "no spaces"} },
			[]string{`spec.selector: Invalid value: "no spaces"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := decode(t, k, nodePortService).(*corev1.Service)
			k.Default(s)
			c.mutate(s)
			assertErrors(t, k.Validate(s), c.want)
		})
	}
	if msgs := k.ValidateName("9lives", false); len(msgs) == 0 {
		t.Error("service name starting with a digit accepted (must be a DNS-1035 label)")
	}
}

func TestServiceUpdate(t *testing.T) {
	k := kindByName(t, "Service")
	old := decode(t, k, nodePortService).(*corev1.Service)
	k.Default(old)
	old.Spec.ClusterIP, old.Spec.ClusterIPs = "10.96.0.10", []string{"10.96.0.10"}
	old.Spec.Ports[1].NodePort = 31443

	// A replace of the original manifest keeps the allocated values.
	s := decode(t, k, nodePortService).(*corev1.Service)
	k.Default(s)
	k.PrepareForUpdate(s, old)
	if s.Spec.ClusterIP != "10.96.0.10" || s.Spec.Ports[1].NodePort != 31443 || s.Spec.Ports[0].NodePort != 30080 {
		t.Errorf("allocated values not kept: %+v", s.Spec)
	}
	assertErrors(t, k.ValidateUpdate(s, old), nil)

	s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.11", []string{"10.96.0.11"}
	assertErrors(t, k.ValidateUpdate(s, old), []string{`spec.clusterIPs[0]: Invalid value: ["10.96.0.11"]: may not change once set`})

	ext := s.DeepCopy()
	ext.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "x.example"}
	assertErrors(t, k.ValidateUpdate(ext, old), nil)
}

func TestServiceCells(t *testing.T) {
	now := time.Now()
	k := kindByName(t, "Service")
	s := decode(t, k, nodePortService).(*corev1.Service)
	k.Default(s)
	s.CreationTimestamp = metav1.NewTime(now.Add(-3 * 24 * time.Hour))
	s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.10", []string{"10.96.0.10"}
	got := serviceCells(s, now)
	want := []interface{}{"web", "NodePort", "10.96.0.10", "<none>", "80:30080/TCP,443/TCP", "3d", "app=web"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cells %#v, want %#v", got, want)
	}
	s.Spec.Type = corev1.ServiceTypeLoadBalancer
	if got := serviceExternalIP(s); got != "<pending>" {
		t.Errorf("load balancer without ingress: %q", got)
	}
	s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "1.2.3.4"}}
	if got := serviceExternalIP(s); got != "1.2.3.4" {
		t.Errorf("load balancer ingress: %q", got)
	}
}

func TestEndpointsCells(t *testing.T) {
	ep := &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1"}, {IP: "10.0.0.2"}, {IP: "10.0.0.3"}, {IP: "10.0.0.4"}},
		Ports:     []corev1.EndpointPort{{Port: 80}},
	}}}
	if got, want := formatEndpoints(ep), "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 1 more..."; got != want {
		t.Errorf("endpoints %q, want %q", got, want)
	}
	if got := formatEndpoints(&corev1.Endpoints{}); got != "<none>" {
		t.Errorf("empty endpoints %q", got)
	}
}
