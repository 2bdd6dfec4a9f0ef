package endpoints

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// pod is a test pod in ns "default" labelled app=web: ip "" means none,
// ports are "name:port" container ports.
func pod(name, ip, node string, ready bool, ports ...string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip},
	}
	if ip != "" {
		p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	}
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
	for _, s := range ports {
		var n string
		var port int32
		fmt.Sscanf(strings.Replace(s, ":", " ", 1), "%s %d", &n, &port)
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{Name: n, ContainerPort: port, Protocol: corev1.ProtocolTCP})
	}
	return p
}

func service(ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"tier": "front"}},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, ClusterIP: "10.43.0.10", Ports: ports},
	}
}

func named(name string, port int32, target string) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: port, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString(target)}
}

func numbered(name string, port, target int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: port, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(target)}
}

// render prints subsets one per line: "ready=[ip(node)...] notready=[...] ports=[name:port...]".
func render(subsets []corev1.EndpointSubset) string {
	var b strings.Builder
	addrs := func(list []corev1.EndpointAddress) string {
		var s []string
		for _, a := range list {
			x := a.IP
			if a.NodeName != nil {
				x += "@" + *a.NodeName
			}
			if a.Hostname != "" {
				x += "(" + a.Hostname + ")"
			}
			if a.TargetRef != nil {
				x += "<" + a.TargetRef.Name + ">"
			}
			s = append(s, x)
		}
		return strings.Join(s, " ")
	}
	for _, ss := range subsets {
		var ports []string
		for _, p := range ss.Ports {
			ports = append(ports, fmt.Sprintf("%s:%d", p.Name, p.Port))
		}
		fmt.Fprintf(&b, "ready=[%s] notready=[%s] ports=[%s]\n", addrs(ss.Addresses), addrs(ss.NotReadyAddresses), strings.Join(ports, " "))
	}
	return b.String()
}

func TestBuild(t *testing.T) {
	now := metav1.Now()
	terminating := pod("t", "10.42.0.9", "n1", true, "http:8080")
	terminating.DeletionTimestamp = &now
	succeeded := pod("s", "10.42.0.8", "n1", false, "http:8080")
	succeeded.Status.Phase = corev1.PodSucceeded
	withHost := pod("h", "10.42.0.4", "n1", true, "http:8080")
	withHost.Spec.Hostname, withHost.Spec.Subdomain = "web-0", "web"
	otherSub := pod("o", "10.42.0.3", "n1", true, "http:8080")
	otherSub.Spec.Hostname, otherSub.Spec.Subdomain = "web-1", "other"
	headless := service()
	headless.Spec.ClusterIP = corev1.ClusterIPNone
	publish := service(named("http", 80, "http"))
	publish.Spec.PublishNotReadyAddresses = true

	cases := []struct {
		name string
		svc  *corev1.Service
		pods []*corev1.Pod
		want string
	}{
		{"ready and not ready", service(named("http", 80, "http")),
			[]*corev1.Pod{pod("a", "10.42.0.5", "n1", true, "http:8080"), pod("b", "10.42.1.7", "n2", false, "http:8080")},
			"ready=[10.42.0.5@n1<a>] notready=[10.42.1.7@n2<b>] ports=[http:8080]\n"},
		{"no IP yet", service(named("http", 80, "http")),
			[]*corev1.Pod{pod("a", "", "n1", true, "http:8080")}, ""},
		{"named port missing on one pod", service(named("http", 80, "http")),
			[]*corev1.Pod{pod("a", "10.42.0.5", "n1", true, "http:8080"), pod("c", "10.42.0.6", "n1", true, "web:9090")},
			"ready=[10.42.0.5@n1<a>] notready=[] ports=[http:8080]\n"},
		{"named port differs per pod", service(named("http", 80, "http")),
			[]*corev1.Pod{pod("a", "10.42.0.5", "n1", true, "http:8080"), pod("c", "10.42.0.6", "n1", true, "http:9090")},
			"ready=[10.42.0.5@n1<a>] notready=[] ports=[http:8080]\nready=[10.42.0.6@n1<c>] notready=[] ports=[http:9090]\n"},
		{"two ports, one missing on a pod", service(named("http", 80, "http"), numbered("metrics", 9100, 9100)),
			[]*corev1.Pod{pod("a", "10.42.0.5", "n1", true, "http:8080"), pod("c", "10.42.0.6", "", false)},
			"ready=[10.42.0.5@n1<a>] notready=[] ports=[http:8080 metrics:9100]\nready=[] notready=[10.42.0.6<c>] ports=[metrics:9100]\n"},
		{"numbered target, zero means the port", service(numbered("", 80, 0)),
			[]*corev1.Pod{pod("a", "10.42.0.5", "n1", true)},
			"ready=[10.42.0.5@n1<a>] notready=[] ports=[:80]\n"},
		{"terminating and finished pods are out", service(named("http", 80, "http")),
			[]*corev1.Pod{terminating, succeeded, pod("a", "10.42.0.5", "n1", true, "http:8080")},
			"ready=[10.42.0.5@n1<a>] notready=[] ports=[http:8080]\n"},
		{"publishNotReadyAddresses: all ready, terminating in", publish,
			[]*corev1.Pod{terminating, pod("b", "10.42.1.7", "n2", false, "http:8080")},
			"ready=[10.42.0.9@n1<t> 10.42.1.7@n2<b>] notready=[] ports=[http:8080]\n"},
		{"hostname only under its subdomain", service(named("http", 80, "http")),
			[]*corev1.Pod{withHost, otherSub},
			"ready=[10.42.0.3@n1<o> 10.42.0.4@n1(web-0)<h>] notready=[] ports=[http:8080]\n"},
		{"headless without ports", headless,
			[]*corev1.Pod{pod("a", "10.42.0.5", "n1", true), pod("b", "10.42.1.7", "n2", false)},
			"ready=[10.42.0.5@n1<a>] notready=[10.42.1.7@n2<b>] ports=[]\n"},
		{"no pods", service(named("http", 80, "http")), nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			subsets, truncated := Build(c.svc, c.pods)
			if got := render(subsets); got != c.want || truncated {
				t.Errorf("got (truncated %v)\n%s\nwant\n%s", truncated, got, c.want)
			}
			// Order of the pods does not matter.
			rev := make([]*corev1.Pod, len(c.pods))
			for i, p := range c.pods {
				rev[len(rev)-1-i] = p
			}
			again, _ := Build(c.svc, rev)
			if NeedsUpdate(&corev1.Endpoints{Subsets: subsets}, &corev1.Endpoints{Subsets: again}) {
				t.Errorf("pod order changed the subsets:\n%s\n%s", render(subsets), render(again))
			}
		})
	}
}

func TestDesiredLabels(t *testing.T) {
	svc := service(named("http", 80, "http"))
	svc.Labels[LabelHeadless] = "stale"
	ep := Desired(svc, nil)
	if _, ok := ep.Labels[LabelHeadless]; ok || ep.Labels["tier"] != "front" || ep.Labels[LabelSkipMirror] != "true" {
		t.Errorf("labels %v", ep.Labels)
	}
	svc.Spec.ClusterIP = corev1.ClusterIPNone
	if ep := Desired(svc, nil); ep.Labels[LabelHeadless] != "" || len(ep.Labels) != 3 {
		t.Errorf("headless labels %v", ep.Labels)
	}
	if svc.Labels[LabelHeadless] != "stale" {
		t.Error("Desired changed the Service's labels")
	}
}

func TestBuildTruncates(t *testing.T) {
	var pods []*corev1.Pod
	for i := range MaxAddresses + 10 {
		pods = append(pods, pod(fmt.Sprintf("p%d", i), fmt.Sprintf("10.42.%d.%d", i/250, i%250+1), "n1", i >= 20, "http:8080"))
	}
	subsets, truncated := Build(service(named("http", 80, "http")), pods)
	if !truncated || len(subsets) != 1 {
		t.Fatalf("truncated %v, %d subsets", truncated, len(subsets))
	}
	if r, nr := len(subsets[0].Addresses), len(subsets[0].NotReadyAddresses); r != MaxAddresses-10 || nr != 10 {
		t.Fatalf("%d ready, %d not ready; want all %d ready and 10 not ready", r, nr, MaxAddresses-10)
	}
	if ep := Desired(service(named("http", 80, "http")), pods); ep.Annotations[AnnotationOverCapacity] != "truncated" {
		t.Errorf("annotations %v", ep.Annotations)
	}
}

func TestFindPort(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	p := pod("a", "10.0.0.1", "", true, "http:8080")
	p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP})
	p.Spec.InitContainers = []corev1.Container{
		{Name: "init", Ports: []corev1.ContainerPort{{Name: "once", ContainerPort: 1}}},
		{Name: "side", RestartPolicy: &always, Ports: []corev1.ContainerPort{{Name: "proxy", ContainerPort: 15001}}},
	}
	udp := named("dns", 53, "dns")
	udp.Protocol = corev1.ProtocolUDP
	cases := []struct {
		sp   corev1.ServicePort
		want int32
		ok   bool
	}{
		{named("http", 80, "http"), 8080, true},
		{named("x", 80, "nope"), 0, false},
		{named("dns", 53, "dns"), 0, false}, // TCP service port, UDP container port
		{udp, 53, true},
		{named("p", 80, "proxy"), 15001, true},
		{named("o", 80, "once"), 0, false},
		{numbered("n", 80, 8443), 8443, true},
	}
	for _, c := range cases {
		got, ok := FindPort(p, &c.sp)
		if got != c.want || ok != c.ok {
			t.Errorf("%s→%s: %d %v, want %d %v", c.sp.Name, c.sp.TargetPort.String(), got, ok, c.want, c.ok)
		}
	}
}
