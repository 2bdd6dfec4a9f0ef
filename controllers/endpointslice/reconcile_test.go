package endpointslice

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func testService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "svc-uid", Labels: map[string]string{"tier": "front"}},
		Spec: corev1.ServiceSpec{
			Selector:  map[string]string{"app": "web"},
			ClusterIP: "10.43.0.10",
			Ports:     []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}},
		},
	}
}

// testPod: pod i with IP 10.42.x.y on node n<i%3>, container port http
// (port given; 0 for none).
func testPod(i int, ready bool, port int32) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	ip := fmt.Sprintf("10.42.%d.%d", i/200, i%200+1)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%03d", i), Namespace: "default", UID: types.UID(fmt.Sprintf("pod-%d", i)), Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{NodeName: fmt.Sprintf("n%d", i%3), Containers: []corev1.Container{{Name: "c"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
	if port != 0 {
		p.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: port, Protocol: corev1.ProtocolTCP}}
	}
	return p
}

func zones(node string) string {
	if node == "n0" {
		return "zone-a"
	}
	return ""
}

// fakeAPI applies plans to an in-memory set of slices as the API would:
// generated names, resourceVersions that change on every write.
type fakeAPI struct {
	slices map[string]*discoveryv1.EndpointSlice
	n, rv  int
	writes int
}

func newFakeAPI() *fakeAPI { return &fakeAPI{slices: map[string]*discoveryv1.EndpointSlice{}} }

func (f *fakeAPI) apply(t *testing.T, p Plan) {
	t.Helper()
	for _, s := range p.Update {
		cur, ok := f.slices[s.Name]
		if !ok || cur.ResourceVersion != s.ResourceVersion {
			t.Fatalf("update of %s from a stale or missing slice", s.Name)
		}
		if cur.AddressType != s.AddressType {
			t.Fatalf("update of %s changes the immutable addressType", s.Name)
		}
		f.rv++
		s = s.DeepCopy()
		s.ResourceVersion = fmt.Sprint(f.rv)
		f.slices[s.Name] = s
	}
	for _, s := range p.Create {
		if s.Name != "" || s.GenerateName != "web-" {
			t.Fatalf("create with name %q generateName %q", s.Name, s.GenerateName)
		}
		f.n++
		f.rv++
		s = s.DeepCopy()
		s.Name, s.ResourceVersion = fmt.Sprintf("web-%d", f.n), fmt.Sprint(f.rv)
		f.slices[s.Name] = s
	}
	for _, s := range p.Delete {
		if _, ok := f.slices[s.Name]; !ok {
			t.Fatalf("delete of missing slice %s", s.Name)
		}
		delete(f.slices, s.Name)
	}
	f.writes += len(p.Update) + len(p.Create) + len(p.Delete)
}

func (f *fakeAPI) list() []*discoveryv1.EndpointSlice {
	var out []*discoveryv1.EndpointSlice
	for _, s := range f.slices {
		out = append(out, s.DeepCopy())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// describe renders the slices: "name[ports]: pod(flags) ..." with flags
// r(eady) s(erving) t(erminating) and the zone.
func (f *fakeAPI) describe() string {
	var lines []string
	for _, s := range f.list() {
		var ports, eps []string
		for _, p := range s.Ports {
			ports = append(ports, fmt.Sprintf("%s:%d", deref(p.Name), derefInt(p.Port)))
		}
		for _, e := range s.Endpoints {
			flags := ""
			if *e.Conditions.Ready {
				flags += "r"
			}
			if *e.Conditions.Serving {
				flags += "s"
			}
			if *e.Conditions.Terminating {
				flags += "t"
			}
			if e.Zone != nil {
				flags += "@" + *e.Zone
			}
			eps = append(eps, e.TargetRef.Name+"("+flags+")")
		}
		lines = append(lines, fmt.Sprintf("%s %s[%s]: %s", s.Name, s.AddressType, strings.Join(ports, ","), strings.Join(eps, " ")))
	}
	return strings.Join(lines, "\n")
}

func TestReconcileBasics(t *testing.T) {
	svc := testService()
	api := newFakeAPI()
	step := func(pods []*corev1.Pod, want string) {
		t.Helper()
		api.apply(t, Reconcile(svc, pods, zones, api.list(), 2))
		if got := api.describe(); got != want {
			t.Fatalf("slices\n%s\nwant\n%s", got, want)
		}
		if p := Reconcile(svc, pods, zones, api.list(), 2); !p.Empty() {
			t.Fatalf("a second reconcile plans %d creates, %d updates, %d deletes", len(p.Create), len(p.Update), len(p.Delete))
		}
	}
	// No pods: one placeholder.
	step(nil, "web-1 IPv4[]: ")
	s := api.slices["web-1"]
	if s.Labels[discoveryv1.LabelServiceName] != "web" || s.Labels[discoveryv1.LabelManagedBy] != ControllerName || s.Labels["tier"] != "front" {
		t.Fatalf("labels %v", s.Labels)
	}
	if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].UID != "svc-uid" || !*s.OwnerReferences[0].Controller {
		t.Fatalf("owner references %v", s.OwnerReferences)
	}
	// Pods arrive: the placeholder is reused, then a second slice.
	pods := []*corev1.Pod{testPod(0, true, 8080), testPod(1, false, 8080), testPod(2, true, 8080)}
	step(pods, "web-1 IPv4[http:8080]: p000(rs@zone-a) p001()\nweb-2 IPv4[http:8080]: p002(rs)")
	// p001 becomes ready: only web-1 changes.
	before := api.slices["web-2"].ResourceVersion
	pods[1] = testPod(1, true, 8080)
	step(pods, "web-1 IPv4[http:8080]: p000(rs@zone-a) p001(rs)\nweb-2 IPv4[http:8080]: p002(rs)")
	if api.slices["web-2"].ResourceVersion != before {
		t.Fatal("an unchanged slice was rewritten")
	}
	// p000 terminates: not ready, still serving.
	now := metav1.Now()
	pods[0] = testPod(0, true, 8080)
	pods[0].DeletionTimestamp = &now
	step(pods, "web-1 IPv4[http:8080]: p000(st@zone-a) p001(rs)\nweb-2 IPv4[http:8080]: p002(rs)")
	// p000 gone, p003 added: it goes into web-1, being updated anyway.
	pods = []*corev1.Pod{pods[1], pods[2], testPod(3, false, 8080)}
	step(pods, "web-1 IPv4[http:8080]: p001(rs) p003(@zone-a)\nweb-2 IPv4[http:8080]: p002(rs)")
	// p004 has its http port elsewhere: a slice of its own port set.
	pods = append(pods, testPod(4, true, 9090))
	step(pods, "web-1 IPv4[http:8080]: p001(rs) p003(@zone-a)\nweb-2 IPv4[http:8080]: p002(rs)\nweb-3 IPv4[http:9090]: p004(rs)")
	// p005 has no http port at all: left out.
	step(append(pods, testPod(5, true, 0)), "web-1 IPv4[http:8080]: p001(rs) p003(@zone-a)\nweb-2 IPv4[http:8080]: p002(rs)\nweb-3 IPv4[http:9090]: p004(rs)")
	// Everything gone: one placeholder remains.
	step(nil, "web-1 IPv4[]: ")
}

func TestReconcilePublishNotReady(t *testing.T) {
	svc := testService()
	svc.Spec.PublishNotReadyAddresses = true
	now := metav1.Now()
	term := testPod(1, false, 8080)
	term.DeletionTimestamp = &now
	api := newFakeAPI()
	api.apply(t, Reconcile(svc, []*corev1.Pod{testPod(0, false, 8080), term}, zones, nil, 100))
	if got, want := api.describe(), "web-1 IPv4[http:8080]: p000(rs@zone-a) p001(rst)"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestReconcileForeignAndHeadless(t *testing.T) {
	svc := testService()
	svc.Spec.ClusterIP = corev1.ClusterIPNone
	svc.Spec.Ports = nil
	yes := true
	stale := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "web-old", Namespace: "default", ResourceVersion: "1",
			OwnerReferences: []metav1.OwnerReference{{Kind: "Service", Name: "web", UID: "old-uid", Controller: &yes}}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	p := Reconcile(svc, []*corev1.Pod{testPod(0, true, 0)}, zones, []*discoveryv1.EndpointSlice{stale}, 100)
	if len(p.Delete) != 1 || p.Delete[0].Name != "web-old" || len(p.Create) != 1 || len(p.Update) != 0 {
		t.Fatalf("plan %+v", p)
	}
	c := p.Create[0]
	if _, ok := c.Labels["service.kubernetes.io/headless"]; !ok || len(c.Ports) != 0 || len(c.Endpoints) != 1 {
		t.Fatalf("headless slice %+v", c)
	}
}

// TestReconcileModel drives Reconcile with random pod churn, applying
// each plan to a fake API, and checks after every step: every endpoint
// is in exactly one slice of its port set, with its current conditions;
// no slice exceeds the limit; a second Reconcile plans nothing; and a
// step that changes one pod rewrites at most two slices.
func TestReconcileModel(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	svc := testService()
	const max = 7
	api := newFakeAPI()
	pods := map[int]*corev1.Pod{}
	next := 0
	for step := range 400 {
		keys := make([]int, 0, len(pods))
		for i := range pods {
			keys = append(keys, i)
		}
		sort.Ints(keys)
		switch op := r.IntN(10); {
		case op < 4 || len(pods) == 0:
			port := int32(8080)
			if r.IntN(5) == 0 {
				port = 9090
			}
			pods[next] = testPod(next, r.IntN(2) == 0, port)
			next++
		case op < 7:
			i := keys[r.IntN(len(keys))]
			pods[i] = testPod(i, !podReadyOf(pods[i]), pods[i].Spec.Containers[0].Ports[0].ContainerPort)
		default:
			delete(pods, keys[r.IntN(len(keys))])
		}
		var list []*corev1.Pod
		for _, i := range keys {
			if p := pods[i]; p != nil {
				list = append(list, p)
			}
		}
		if p := pods[next-1]; p != nil && (len(keys) == 0 || keys[len(keys)-1] != next-1) {
			list = append(list, p)
		}
		writes := api.writes
		api.apply(t, Reconcile(svc, list, zones, api.list(), max))
		if step > 0 && api.writes-writes > 2 {
			t.Fatalf("seed %d step %d: one pod change took %d writes", seed, step, api.writes-writes)
		}
		if p := Reconcile(svc, list, zones, api.list(), max); !p.Empty() {
			t.Fatalf("seed %d step %d: not converged: %+v", seed, step, p)
		}
		seen := map[string]bool{}
		for _, s := range api.list() {
			if len(s.Endpoints) > max {
				t.Fatalf("seed %d step %d: slice %s has %d endpoints", seed, step, s.Name, len(s.Endpoints))
			}
			if len(s.Endpoints) == 0 && len(api.slices) > 1 {
				t.Fatalf("seed %d step %d: empty slice %s beside others", seed, step, s.Name)
			}
			for _, e := range s.Endpoints {
				name := e.TargetRef.Name
				if seen[name] {
					t.Fatalf("seed %d step %d: %s in two slices", seed, step, name)
				}
				seen[name] = true
				var i int
				fmt.Sscanf(name, "p%d", &i)
				p := pods[i]
				if p == nil {
					t.Fatalf("seed %d step %d: deleted pod %s still in %s", seed, step, name, s.Name)
				}
				if *e.Conditions.Ready != podReadyOf(p) || *s.Ports[0].Port != p.Spec.Containers[0].Ports[0].ContainerPort {
					t.Fatalf("seed %d step %d: %s stale in %s", seed, step, name, s.Name)
				}
			}
		}
		if len(seen) != len(pods) {
			t.Fatalf("seed %d step %d: %d endpoints for %d pods", seed, step, len(seen), len(pods))
		}
	}
}

func podReadyOf(p *corev1.Pod) bool { return p.Status.Conditions[0].Status == corev1.ConditionTrue }
