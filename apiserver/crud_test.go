package apiserver

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

var metav1GetOptions = metav1.GetOptions{}

const httpdDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: httpd-deployment
spec:
  replicas: 2
  selector:
    matchLabels:
      app: httpd_pod
  template:
    metadata:
      labels:
        app: httpd_pod
    spec:
      containers:
      - name: httpd
        image: httpd
`

func TestDeploymentCRUD(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		ctx := context.Background()
		var d appsv1.Deployment
		if err := yaml.UnmarshalStrict([]byte(httpdDeployment), &d); err != nil {
			t.Fatal(err)
		}
		deps := ts.client.AppsV1().Deployments("default")
		created, err := deps.Create(ctx, &d, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if created.UID == "" || created.ResourceVersion == "" || created.Generation != 1 || created.CreationTimestamp.IsZero() {
			t.Fatalf("server-owned metadata missing: %+v", created.ObjectMeta)
		}
		if _, err := deps.Create(ctx, &d, metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
			t.Fatalf("second create: want AlreadyExists, got %v", err)
		}
		got, err := deps.Get(ctx, "httpd-deployment", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		if got.ResourceVersion != created.ResourceVersion || *got.Spec.Replicas != 2 {
			t.Fatalf("get returned %+v", got)
		}

		// Update with a stale resourceVersion conflicts; with the current one it works.
		got.Spec.Template.Spec.Containers[0].Image = "httpd:2.4"
		updated, err := deps.Update(ctx, got, metav1.UpdateOptions{})
		if err != nil {
			t.Fatalf("update: %v", err)
		}
		if updated.Generation != 2 {
			t.Fatalf("generation after a spec change = %d, want 2", updated.Generation)
		}
		if _, err := deps.Update(ctx, got, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
			t.Fatalf("stale update: want Conflict, got %v", err)
		}

		// Status writes through /status only; they do not bump generation.
		st := updated.DeepCopy()
		st.Status.Replicas = 7
		st2, err := deps.UpdateStatus(ctx, st, metav1.UpdateOptions{})
		if err != nil {
			t.Fatalf("update status: %v", err)
		}
		if st2.Status.Replicas != 7 || st2.Generation != 2 {
			t.Fatalf("status update: replicas %d generation %d", st2.Status.Replicas, st2.Generation)
		}
		st2.Status.Replicas = 1
		st2.Labels = map[string]string{"x": "y"}
		st3, err := deps.Update(ctx, st2, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if st3.Status.Replicas != 7 || st3.Labels["x"] != "y" || st3.Generation != 2 {
			t.Fatalf("a main update changed status or generation: %+v", st3)
		}

		// Strategic merge patch, then scale.
		p, err := deps.Patch(ctx, "httpd-deployment", types.StrategicMergePatchType,
			[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"httpd","image":"httpd:2.4.62"}]}}}}`), metav1.PatchOptions{})
		if err != nil {
			t.Fatalf("patch: %v", err)
		}
		if p.Spec.Template.Spec.Containers[0].Image != "httpd:2.4.62" || len(p.Spec.Template.Spec.Containers) != 1 {
			t.Fatalf("patched containers %+v", p.Spec.Template.Spec.Containers)
		}
		sc, err := deps.GetScale(ctx, "httpd-deployment", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get scale: %v", err)
		}
		sc.Spec.Replicas = 5
		if _, err := deps.UpdateScale(ctx, "httpd-deployment", sc, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("update scale: %v", err)
		}
		got, _ = deps.Get(ctx, "httpd-deployment", metav1.GetOptions{})
		if *got.Spec.Replicas != 5 {
			t.Fatalf("replicas after scale = %d", *got.Spec.Replicas)
		}

		if err := deps.Delete(ctx, "httpd-deployment", metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete: %v", err)
		}
		if _, err := deps.Get(ctx, "httpd-deployment", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("get after delete: want NotFound, got %v", err)
		}
	})
}

func TestCreateErrors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		ctx := context.Background()
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "Bad_Name"}}
		_, err := ts.client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "metadata.name") {
			t.Fatalf("bad name: want Invalid on metadata.name, got %v", err)
		}
		cm.Name = "ok"
		_, err = ts.client.CoreV1().ConfigMaps("nowhere").Create(ctx, cm, metav1.CreateOptions{})
		if !apierrors.IsNotFound(err) {
			t.Fatalf("create in a missing namespace: want NotFound, got %v", err)
		}
		cm.GenerateName, cm.Name = "gen-", ""
		c, err := ts.client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{})
		if err != nil || !strings.HasPrefix(c.Name, "gen-") || len(c.Name) != len("gen-")+5 {
			t.Fatalf("generateName: %v %v", c, err)
		}
		c, err = ts.client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "dry"}},
			metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil || c.Name != "dry" {
			t.Fatalf("dry-run create: %v", err)
		}
		if _, err := ts.client.CoreV1().ConfigMaps("default").Get(ctx, "dry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("a dry-run create was stored: %v", err)
		}
	})
}

func TestServiceAllocation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		ctx := context.Background()
		svcs := ts.client.CoreV1().Services("default")
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 8080, TargetPort: intstr.FromInt32(80), NodePort: 30000}}}}
		if _, err := svcs.Create(ctx, svc, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
			t.Fatalf("a nodePort on a ClusterIP service: want Invalid, got %v", err)
		}
		svc.Spec.Type = corev1.ServiceTypeNodePort
		low := svc.DeepCopy()
		low.Spec.Ports[0].NodePort = 80
		if _, err := svcs.Create(ctx, low, metav1.CreateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "not in the valid range") {
			t.Fatalf("a nodePort outside the range: want Invalid, got %v", err)
		}
		c, err := svcs.Create(ctx, svc, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if c.Spec.ClusterIP == "" || !strings.HasPrefix(c.Spec.ClusterIP, "10.43.") || c.Spec.Ports[0].NodePort != 30000 {
			t.Fatalf("allocations: clusterIP %q nodePort %d", c.Spec.ClusterIP, c.Spec.Ports[0].NodePort)
		}
		other := svc.DeepCopy()
		other.Name = "web2"
		if _, err := svcs.Create(ctx, other, metav1.CreateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "already allocated") {
			t.Fatalf("a taken nodePort: want Invalid already allocated, got %v", err)
		}
		other.Spec.Ports[0].NodePort = 0
		o, err := svcs.Create(ctx, other, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if o.Spec.ClusterIP == c.Spec.ClusterIP || o.Spec.Ports[0].NodePort == 30000 || o.Spec.Ports[0].NodePort == 0 {
			t.Fatalf("second service reused an allocation: %s %d", o.Spec.ClusterIP, o.Spec.Ports[0].NodePort)
		}
		// Deleting releases: the port can be taken again.
		if err := svcs.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		again := svc.DeepCopy()
		again.Name = "web3"
		again.Spec.ClusterIP = c.Spec.ClusterIP
		if _, err := svcs.Create(ctx, again, metav1.CreateOptions{}); err != nil {
			t.Fatalf("reuse after delete: %v", err)
		}
		k, err := svcs.Get(ctx, "kubernetes", metav1.GetOptions{})
		if err != nil || k.Spec.ClusterIP != "10.43.0.1" {
			t.Fatalf("the kubernetes service: %v %v", k, err)
		}
		_ = ptr.To(1)
	})
}

// A client speaking protobuf both ways (as kube's own components do) can
// create, read, list and watch.
func TestProtobufClient(t *testing.T) {
	ts := newTestServer(t, startMember(t))
	ctx := context.Background()
	pods := ts.proto.CoreV1().Pods("default")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	w, err := pods.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	c, err := pods.Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if c.Spec.RestartPolicy != corev1.RestartPolicyAlways || c.Spec.Containers[0].ImagePullPolicy != corev1.PullAlways {
		t.Fatalf("pod defaults: %+v", c.Spec)
	}
	if _, err := pods.Get(ctx, "p", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	l, err := pods.List(ctx, metav1.ListOptions{})
	if err != nil || len(l.Items) != 1 {
		t.Fatalf("list: %v %v", l, err)
	}
	if ev := nextEvent(t, w); ev.Object.(*corev1.Pod).Name != "p" {
		t.Fatalf("watch event %v", ev)
	}
}

// pods/binding sets the node once; pods/eviction deletes the pod.
func TestBindingAndEviction(t *testing.T) {
	ts := newTestServer(t, startMember(t))
	ctx := context.Background()
	pods := ts.client.CoreV1().Pods("default")
	for _, name := range []string{"bound", "evicted"} {
		if _, err := pods.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	bind := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "bound"}, Target: corev1.ObjectReference{Kind: "Node", Name: "n1"}}
	if err := pods.Bind(ctx, bind, metav1.CreateOptions{}); err != nil {
		t.Fatalf("bind: %v", err)
	}
	if p, _ := pods.Get(ctx, "bound", metav1.GetOptions{}); p.Spec.NodeName != "n1" {
		t.Fatalf("nodeName after bind = %q", p.Spec.NodeName)
	}
	if err := pods.Bind(ctx, bind, metav1.CreateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("second bind: want Conflict, got %v", err)
	}
	if err := pods.EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "evicted", Namespace: "default"}}); err != nil {
		t.Fatalf("evict: %v", err)
	}
	if _, err := pods.Get(ctx, "evicted", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after eviction: want NotFound, got %v", err)
	}
}

// TestFinishedPodWithFinalizerGoes: a bound pod deleted with a grace
// period that then finishes, and whose finalizer is removed after a second
// delete, is gone — the second delete drops the grace period (nothing is
// left to stop), as Kubernetes does.
func TestFinishedPodWithFinalizerGoes(t *testing.T) {
	ts := newTestServer(t, startMember(t))
	ctx := context.Background()
	pods := ts.client.CoreV1().Pods("default")
	p, err := pods.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Finalizers: []string{"example.com/hold"}},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "p", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	p, _ = pods.Get(ctx, "p", metav1.GetOptions{})
	if p.DeletionGracePeriodSeconds == nil || *p.DeletionGracePeriodSeconds != 30 {
		t.Fatalf("first delete: grace %v, want 30", p.DeletionGracePeriodSeconds)
	}
	p.Status.Phase = corev1.PodFailed
	if p, err = pods.UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "p", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	p, _ = pods.Get(ctx, "p", metav1.GetOptions{})
	if p.DeletionGracePeriodSeconds == nil || *p.DeletionGracePeriodSeconds != 0 {
		t.Fatalf("delete of a finished pod: grace %v, want 0", p.DeletionGracePeriodSeconds)
	}
	p.Finalizers = nil
	if _, err := pods.Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx, "p", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after its finalizer went: want NotFound, got %v", err)
	}
}
