package endpoints_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/controllers/endpoints"
	"github.com/kelson-dev/kelson/internal/testcluster"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// createPod creates a pod labelled app=web with the named container ports
// ("name:port"), then gives it the status a node agent would: Running,
// ip, and Ready as asked.
func createPod(t *testing.T, cs kubernetes.Interface, name, ip string, ready bool, ports ...string) {
	t.Helper()
	ctx := context.Background()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
	for _, s := range ports {
		var n string
		var port int32
		fmt.Sscanf(strings.Replace(s, ":", " ", 1), "%s %d", &n, &port)
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{Name: n, ContainerPort: port})
	}
	p, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	setStatus(t, cs, p, ip, ready)
}

func setStatus(t *testing.T, cs kubernetes.Interface, p *corev1.Pod, ip string, ready bool) {
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

// summary renders an Endpoints' subsets as "ready=[ip...] notready=[ip...] ports=[p...]" lines.
func summary(ep *corev1.Endpoints) string {
	var lines []string
	for _, ss := range ep.Subsets {
		var r, nr, ports []string
		for _, a := range ss.Addresses {
			r = append(r, a.IP)
		}
		for _, a := range ss.NotReadyAddresses {
			nr = append(nr, a.IP)
		}
		for _, p := range ss.Ports {
			ports = append(ports, fmt.Sprint(p.Port))
		}
		lines = append(lines, fmt.Sprintf("ready=[%s] notready=[%s] ports=[%s]", strings.Join(r, " "), strings.Join(nr, " "), strings.Join(ports, " ")))
	}
	return strings.Join(lines, "; ")
}

func waitEndpoints(t *testing.T, cs kubernetes.Interface, name, want string) *corev1.Endpoints {
	t.Helper()
	var ep *corev1.Endpoints
	testcluster.Eventually(t, 30*time.Second, func() error {
		var err error
		ep, err = cs.CoreV1().Endpoints("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if got := summary(ep); got != want {
			return fmt.Errorf("endpoints %s: %q, want %q", name, got, want)
		}
		return nil
	})
	return ep
}

func TestEndpoints(t *testing.T) {
	c := testcluster.Start(t)
	cs := c.Client
	ctx, cancel := context.WithCancel(context.Background())
	cctx := controllers.NewContext(cs, "test", testcluster.Logger())
	defer func() { cancel(); cctx.Close() }()
	ctrl := endpoints.New(cctx)
	cctx.Start(ctx)
	go ctrl.Run(ctx)

	mk := func(svc *corev1.Service) {
		t.Helper()
		if _, err := cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mk(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	})
	mk(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web-headless", Namespace: "default"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, ClusterIP: corev1.ClusterIPNone},
	})
	// A Service without a selector and its user's Endpoints.
	mk(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "manual", Namespace: "default"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 5432}}},
	})
	manual, err := cs.CoreV1().Endpoints("default").Create(ctx, &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "manual", Namespace: "default"},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.168.1.10"}},
			Ports: []corev1.EndpointPort{{Port: 5432}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// A Service with no pods has empty Endpoints.
	waitEndpoints(t, cs, "web", "")

	createPod(t, cs, "a", "10.42.0.5", true, "http:8080")
	createPod(t, cs, "b", "10.42.0.6", false, "http:8080")
	createPod(t, cs, "c", "10.42.0.7", true, "metrics:9100") // no port named http
	waitEndpoints(t, cs, "web", "ready=[10.42.0.5] notready=[10.42.0.6] ports=[8080]")
	hl := waitEndpoints(t, cs, "web-headless", "ready=[10.42.0.5 10.42.0.7] notready=[10.42.0.6] ports=[]")
	if _, ok := hl.Labels[endpoints.LabelHeadless]; !ok {
		t.Errorf("headless Endpoints labels %v", hl.Labels)
	}
	if a := hl.Subsets[0].Addresses[0]; a.TargetRef == nil || a.TargetRef.Kind != "Pod" || a.TargetRef.Name != "a" || a.TargetRef.UID == "" {
		t.Errorf("address %+v: want a targetRef to pod a", a)
	}

	// Nothing changed: no write.
	ep, _ := cs.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{})
	svc, _ := cs.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
	svc.Annotations = map[string]string{"touched": "yes"}
	if _, err := cs.CoreV1().Services("default").Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if again, _ := cs.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{}); again.ResourceVersion != ep.ResourceVersion {
		t.Errorf("an unchanged Service rewrote its Endpoints: %s -> %s", ep.ResourceVersion, again.ResourceVersion)
	}

	// a becomes not ready; b is deleted.
	pa, _ := cs.CoreV1().Pods("default").Get(ctx, "a", metav1.GetOptions{})
	setStatus(t, cs, pa, "10.42.0.5", false)
	waitEndpoints(t, cs, "web", "ready=[] notready=[10.42.0.5 10.42.0.6] ports=[8080]")
	if err := cs.CoreV1().Pods("default").Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitEndpoints(t, cs, "web", "ready=[] notready=[10.42.0.5] ports=[8080]")
	waitEndpoints(t, cs, "web-headless", "ready=[10.42.0.7] notready=[10.42.0.5] ports=[]")

	// Deleted Endpoints of a Service with a selector come back; the
	// Endpoints of a deleted Service go.
	if err := cs.CoreV1().Endpoints("default").Delete(ctx, "web-headless", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitEndpoints(t, cs, "web-headless", "ready=[10.42.0.7] notready=[10.42.0.5] ports=[]")
	if err := cs.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, 30*time.Second, func() error {
		_, err := cs.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("endpoints web still there (%v)", err)
	})

	// The user's Endpoints were never touched.
	if m, err := cs.CoreV1().Endpoints("default").Get(ctx, "manual", metav1.GetOptions{}); err != nil || m.ResourceVersion != manual.ResourceVersion {
		t.Errorf("user-managed Endpoints changed: %v %v", m, err)
	}
}
