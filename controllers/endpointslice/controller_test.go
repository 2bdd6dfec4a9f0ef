package endpointslice_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/controllers/endpointslice"
	"github.com/kelson-dev/kelson/internal/testcluster"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// createPod creates pod name labelled app=web on node n1 with container
// port http (port; 0 for none), and sets the status a node agent would.
func createPod(t *testing.T, cs kubernetes.Interface, name, ip string, ready bool, port int32) {
	t.Helper()
	ctx := context.Background()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
	if port != 0 {
		p.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: port}}
	}
	p, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	setReady(t, cs, p, ip, ready)
}

func setReady(t *testing.T, cs kubernetes.Interface, p *corev1.Pod, ip string, ready bool) {
	t.Helper()
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.PodIP, p.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
	if _, err := cs.CoreV1().Pods("default").UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// describe lists svc's slices as sorted "ports: ip(flags) ..." entries,
// flags r(eady) s(erving) and the zone; one entry per slice.
func describe(cs kubernetes.Interface, svc string) ([]discoveryv1.EndpointSlice, string, error) {
	list, err := cs.DiscoveryV1().EndpointSlices("default").List(context.Background(), metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc})
	if err != nil {
		return nil, "", err
	}
	var entries []string
	for _, s := range list.Items {
		var ports, eps []string
		for _, p := range s.Ports {
			ports = append(ports, fmt.Sprint(*p.Port))
		}
		for _, e := range s.Endpoints {
			flags := ""
			if e.Conditions.Ready != nil && *e.Conditions.Ready {
				flags += "r"
			}
			if e.Conditions.Serving != nil && *e.Conditions.Serving {
				flags += "s"
			}
			if e.Zone != nil {
				flags += "@" + *e.Zone
			}
			eps = append(eps, e.Addresses[0]+"("+flags+")")
		}
		sort.Strings(eps)
		entries = append(entries, strings.Join(ports, ",")+": "+strings.Join(eps, " "))
	}
	sort.Strings(entries)
	return list.Items, strings.Join(entries, " | "), nil
}

func waitSlices(t *testing.T, cs kubernetes.Interface, svc, want string) []discoveryv1.EndpointSlice {
	t.Helper()
	var items []discoveryv1.EndpointSlice
	testcluster.Eventually(t, 30*time.Second, func() error {
		var got string
		var err error
		items, got, err = describe(cs, svc)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("slices of %s: %q, want %q", svc, got, want)
		}
		return nil
	})
	return items
}

func TestEndpointSlices(t *testing.T) {
	c := testcluster.Start(t)
	cs := c.Client
	ctx, cancel := context.WithCancel(context.Background())
	cctx := controllers.NewContext(cs, "test", testcluster.Logger())
	defer func() { cancel(); cctx.Close() }()
	ctrl := endpointslice.NewWithConfig(cctx, endpointslice.Config{MaxEndpointsPerSlice: 2})
	cctx.Start(ctx)
	go ctrl.Run(ctx)

	if _, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1",
		Labels: map[string]string{corev1.LabelTopologyZone: "zone-a"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc, err := cs.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web-headless", Namespace: "default"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, ClusterIP: corev1.ClusterIPNone},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// No pods: one placeholder slice, owned by the Service.
	items := waitSlices(t, cs, "web", ": ")
	s := items[0]
	if s.Labels[discoveryv1.LabelManagedBy] != endpointslice.ControllerName || s.AddressType != discoveryv1.AddressTypeIPv4 ||
		!strings.HasPrefix(s.Name, "web-") || len(s.OwnerReferences) != 1 || s.OwnerReferences[0].UID != svc.UID {
		t.Fatalf("placeholder slice %+v", s)
	}

	createPod(t, cs, "a", "10.42.0.5", true, 8080)
	createPod(t, cs, "b", "10.42.0.6", false, 8080)
	createPod(t, cs, "c", "10.42.0.7", true, 0) // no port named http
	waitSlices(t, cs, "web", "8080: 10.42.0.5(rs@zone-a) 10.42.0.6(@zone-a)")
	waitSlices(t, cs, "web-headless", ": 10.42.0.5(rs@zone-a) 10.42.0.6(@zone-a) | : 10.42.0.7(rs@zone-a)")
	hl, _, _ := describe(cs, "web-headless")
	if _, ok := hl[0].Labels["service.kubernetes.io/headless"]; !ok {
		t.Errorf("headless slice labels %v", hl[0].Labels)
	}

	// More than two endpoints: a second slice. Then b gets ready and a
	// is deleted.
	createPod(t, cs, "d", "10.42.0.8", true, 8080)
	waitSlices(t, cs, "web", "8080: 10.42.0.5(rs@zone-a) 10.42.0.6(@zone-a) | 8080: 10.42.0.8(rs@zone-a)")
	pb, _ := cs.CoreV1().Pods("default").Get(ctx, "b", metav1.GetOptions{})
	setReady(t, cs, pb, "10.42.0.6", true)
	waitSlices(t, cs, "web", "8080: 10.42.0.5(rs@zone-a) 10.42.0.6(rs@zone-a) | 8080: 10.42.0.8(rs@zone-a)")
	if err := cs.CoreV1().Pods("default").Delete(ctx, "a", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	items = waitSlices(t, cs, "web", "8080: 10.42.0.6(rs@zone-a) | 8080: 10.42.0.8(rs@zone-a)")

	// A slice deleted by hand: its endpoint moves into the other slice,
	// which has room; no duplicates appear.
	if err := cs.DiscoveryV1().EndpointSlices("default").Delete(ctx, items[0].Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitSlices(t, cs, "web", "8080: 10.42.0.6(rs@zone-a) 10.42.0.8(rs@zone-a)")
	time.Sleep(500 * time.Millisecond)
	waitSlices(t, cs, "web", "8080: 10.42.0.6(rs@zone-a) 10.42.0.8(rs@zone-a)")

	// The Service goes: so do its slices.
	if err := cs.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitSlices(t, cs, "web", "")
}
