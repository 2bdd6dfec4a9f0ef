package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/apiserver/authn"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// The admission chain through the real server, with every plugin on
// (no controllers run: the tests create the service accounts and write
// quota status themselves).

// nodeTokens authenticates "Bearer node-<name>" as the node agent
// system:node:<name>; every other request is the admin's.
var nodeTokens = authn.Func(func(r *http.Request) (*authn.User, bool, error) {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer node-"); ok {
		return &authn.User{Name: authn.NodeUserPrefix + tok, Groups: []string{authn.NodesGroup}}, true, nil
	}
	return nil, false, nil
})

func newAdmissionServer(t *testing.T) *testServer {
	t.Helper()
	return startServerWith(t, Config{Store: startMember(t), DisableAdmissionPlugins: []string{},
		Authenticators: append([]authn.Authenticator{nodeTokens}, testAdmin...)})
}

// nodeClient is a clientset acting as node agent name.
func (ts *testServer) nodeClient(t *testing.T, name string) *kubernetes.Clientset {
	cfg := rest.CopyConfig(ts.config)
	cfg.BearerToken = "node-" + name
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// mustRefuse checks err is the Status of code with message want.
func mustRefuse(t *testing.T, err error, code int32, want string) {
	t.Helper()
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want %d %q", err, code, want)
	}
	if st := se.Status(); st.Code != code || st.Message != want {
		t.Fatalf("got %d %q\nwant %d %q", st.Code, st.Message, code, want)
	}
}

func pod(name string, cs ...corev1.Container) *corev1.Pod {
	if len(cs) == 0 {
		cs = []corev1.Container{{Name: "c", Image: "busybox"}}
	}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{Containers: cs}}
}

// createNamespace makes a namespace with labels and its default service
// account (the controller's job in a cluster).
func createNamespace(t *testing.T, cs kubernetes.Interface, name string, labels map[string]string) {
	t.Helper()
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ServiceAccounts(name).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestAdmission(t *testing.T) {
	ts := newAdmissionServer(t)
	cs := ts.client
	ctx := context.Background()
	create := metav1.CreateOptions{}

	t.Run("NamespaceLifecycle", func(t *testing.T) {
		_, err := cs.CoreV1().ConfigMaps("nope").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}}, create)
		mustRefuse(t, err, 404, `namespaces "nope" not found`)
		mustRefuse(t, cs.CoreV1().Namespaces().Delete(ctx, "kube-system", metav1.DeleteOptions{}), 403,
			`namespaces "kube-system" is forbidden: this namespace may not be deleted`)
		// A namespace whose content waits on a finalizer stays terminating.
		createNamespace(t, cs, "dying", nil)
		if _, err := cs.CoreV1().ConfigMaps("dying").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "held",
			Finalizers: []string{"test/hold"}}}, create); err != nil {
			t.Fatal(err)
		}
		if err := cs.CoreV1().Namespaces().Delete(ctx, "dying", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err = cs.CoreV1().ConfigMaps("dying").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "late"}}, create)
		mustRefuse(t, err, 403, `configmaps "late" is forbidden: unable to create new content in namespace dying because it is being terminated`)
		if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			t.Errorf("no NamespaceTerminating cause: %#v", err)
		}
	})

	t.Run("ServiceAccount", func(t *testing.T) {
		// The default account appears a moment after the namespace (as
		// the controller makes it): the pod waits for it.
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "young"}}, create); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(500 * time.Millisecond)
			cs.CoreV1().ServiceAccounts("young").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, create)
		}()
		p, err := cs.CoreV1().Pods("young").Create(ctx, pod("p"), create)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.ServiceAccountName != "default" || len(p.Spec.Volumes) != 1 || !strings.HasPrefix(p.Spec.Volumes[0].Name, "kube-api-access-") ||
			len(p.Spec.Volumes[0].Name) != len("kube-api-access-")+5 || p.Spec.Volumes[0].Projected == nil {
			t.Fatalf("pod spec %+v", p.Spec)
		}
		if m := p.Spec.Containers[0].VolumeMounts; len(m) != 1 || m[0].MountPath != "/var/run/secrets/kubernetes.io/serviceaccount" || !m[0].ReadOnly {
			t.Fatalf("mounts %+v", m)
		}
		off := pod("off")
		off.Spec.AutomountServiceAccountToken = new(bool)
		if p, err := cs.CoreV1().Pods("young").Create(ctx, off, create); err != nil || len(p.Spec.Volumes) != 0 {
			t.Fatalf("automount off: %v %+v", err, p)
		}
		other := pod("other")
		other.Spec.ServiceAccountName = "builder"
		_, err = cs.CoreV1().Pods("young").Create(ctx, other, create)
		mustRefuse(t, err, 403, `pods "other" is forbidden: error looking up service account young/builder: serviceaccount "builder" not found`)
	})

	t.Run("LimitRanger", func(t *testing.T) {
		createNamespace(t, cs, "limited", nil)
		if _, err := cs.CoreV1().LimitRanges("limited").Create(ctx, &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "lr"},
			Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer,
				Default: corev1.ResourceList{"cpu": apiresource.MustParse("500m")}, Max: corev1.ResourceList{"cpu": apiresource.MustParse("1")}}}}}, create); err != nil {
			t.Fatal(err)
		}
		waitCached(t, func() bool {
			_, err := cs.CoreV1().Pods("limited").Create(ctx, pod("probe"), metav1.CreateOptions{DryRun: []string{"All"}})
			return err == nil
		})
		p, err := cs.CoreV1().Pods("limited").Create(ctx, pod("p"), create)
		if err != nil {
			t.Fatal(err)
		}
		if l, r := p.Spec.Containers[0].Resources.Limits["cpu"], p.Spec.Containers[0].Resources.Requests["cpu"]; l.String() != "500m" || r.String() != "500m" {
			// the range's defaultRequest defaults to its default
			t.Fatalf("resources %+v", p.Spec.Containers[0].Resources)
		}
		if p.Annotations["kubernetes.io/limit-ranger"] == "" {
			t.Errorf("no limit-ranger annotation: %v", p.Annotations)
		}
		big := pod("big", corev1.Container{Name: "c", Image: "busybox", Resources: corev1.ResourceRequirements{
			Limits: corev1.ResourceList{"cpu": apiresource.MustParse("2")}}})
		_, err = cs.CoreV1().Pods("limited").Create(ctx, big, create)
		mustRefuse(t, err, 403, `pods "big" is forbidden: maximum cpu usage per Container is 1, but limit is 2`)
	})

	t.Run("PodSecurity", func(t *testing.T) {
		createNamespace(t, cs, "strict", map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
		var err error
		waitCached(t, func() bool {
			_, err = cs.CoreV1().Pods("strict").Create(ctx, pod("x"), create)
			return err != nil
		})
		mustRefuse(t, err, 403, `pods "x" is forbidden: violates PodSecurity "restricted:latest": `+
			`allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), `+
			`unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), `+
			`runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), `+
			`seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`)

		// warn: admitted, with a Warning header.
		createNamespace(t, cs, "warned", map[string]string{"pod-security.kubernetes.io/warn": "baseline"})
		var mu sync.Mutex
		var warnings []string
		cfg := rest.CopyConfig(ts.config)
		cfg.WarningHandler = warningFunc(func(code int, agent, text string) {
			mu.Lock()
			defer mu.Unlock()
			warnings = append(warnings, fmt.Sprintf("%d %s %s", code, agent, text))
		})
		wcs := kubernetes.NewForConfigOrDie(cfg)
		priv := pod("priv")
		priv.Spec.HostNetwork = true
		want := `299 - would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`
		waitCached(t, func() bool {
			mu.Lock()
			warnings = nil
			mu.Unlock()
			_, err := wcs.CoreV1().Pods("warned").Create(ctx, priv, metav1.CreateOptions{DryRun: []string{"All"}})
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			return len(warnings) == 1 && warnings[0] == want
		})
	})

	t.Run("ResourceQuota", func(t *testing.T) {
		createNamespace(t, cs, "quota", nil)
		q, err := cs.CoreV1().ResourceQuotas("quota").Create(ctx, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q"},
			Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"pods": apiresource.MustParse("1")}}}, create)
		if err != nil {
			t.Fatal(err)
		}
		// What the resourcequota controller would write.
		q.Status = corev1.ResourceQuotaStatus{Hard: q.Spec.Hard, Used: corev1.ResourceList{"pods": apiresource.MustParse("0")}}
		if _, err := cs.CoreV1().ResourceQuotas("quota").UpdateStatus(ctx, q, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		used := func() string {
			q, err := cs.CoreV1().ResourceQuotas("quota").Get(ctx, "q", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			u := q.Status.Used["pods"]
			return u.String()
		}
		waitCached(t, func() bool {
			q, _, _ := ts.srv.lookup(resourceQuotaGVR).cache.Get(ts.srv.lookup(resourceQuotaGVR).key("quota", "q"))
			return q.Obj != nil && len(q.Obj.(*corev1.ResourceQuota).Status.Hard) > 0
		})
		// A dry run decides and charges nothing.
		if _, err := cs.CoreV1().Pods("quota").Create(ctx, pod("a"), metav1.CreateOptions{DryRun: []string{"All"}}); err != nil {
			t.Fatal(err)
		}
		if u := used(); u != "0" {
			t.Fatalf("a dry run charged the quota: used %s", u)
		}
		if _, err := cs.CoreV1().Pods("quota").Create(ctx, pod("a"), create); err != nil {
			t.Fatal(err)
		}
		if u := used(); u != "1" {
			t.Fatalf("used %s after a create, want 1", u)
		}
		_, err = cs.CoreV1().Pods("quota").Create(ctx, pod("b"), create)
		mustRefuse(t, err, 403, `pods "b" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1`)
	})

	t.Run("NodeRestriction", func(t *testing.T) {
		na := ts.nodeClient(t, "a")
		for _, n := range []string{"a", "b"} {
			if _, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}}, create); err != nil {
				t.Fatal(err)
			}
		}
		nb, err := na.CoreV1().Nodes().Get(ctx, "b", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		nb.Labels = map[string]string{"x": "y"}
		_, err = na.CoreV1().Nodes().Update(ctx, nb, metav1.UpdateOptions{})
		mustRefuse(t, err, 403, `nodes "b" is forbidden: node "a" is not allowed to modify node "b"`)
		own, _ := na.CoreV1().Nodes().Get(ctx, "a", metav1.GetOptions{})
		own.Labels = map[string]string{"node-restriction.kubernetes.io/pci": "true"}
		_, err = na.CoreV1().Nodes().Update(ctx, own, metav1.UpdateOptions{})
		mustRefuse(t, err, 403, `nodes "a" is forbidden: node "a" is not allowed to modify labels: node-restriction.kubernetes.io/pci`)
		own.Labels = map[string]string{"mine": "ok"}
		if _, err := na.CoreV1().Nodes().Update(ctx, own, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}

		createNamespace(t, cs, "work", nil)
		for _, bind := range []struct{ pod, node string }{{"on-a", "a"}, {"on-b", "b"}} {
			p := pod(bind.pod)
			p.Spec.NodeName = bind.node
			if _, err := cs.CoreV1().Pods("work").Create(ctx, p, create); err != nil {
				t.Fatal(err)
			}
		}
		_, err = na.CoreV1().Pods("work").Create(ctx, pod("mine"), create)
		mustRefuse(t, err, 403, `pods "mine" is forbidden: node "a" can not create pods: Kelson has no mirror pods (static pods) a node could create`)
		onB, _ := cs.CoreV1().Pods("work").Get(ctx, "on-b", metav1.GetOptions{})
		onB.Status.Phase = corev1.PodRunning
		_, err = na.CoreV1().Pods("work").UpdateStatus(ctx, onB, metav1.UpdateOptions{})
		mustRefuse(t, err, 403, `pods "on-b" is forbidden: node "a" can only update pod status for pods with spec.nodeName set to itself`)
		onA, _ := cs.CoreV1().Pods("work").Get(ctx, "on-a", metav1.GetOptions{})
		onA.Status.Phase = corev1.PodRunning
		if _, err := na.CoreV1().Pods("work").UpdateStatus(ctx, onA, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		err = na.CoreV1().Pods("work").EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "on-b", Namespace: "work"}})
		mustRefuse(t, err, 403, `pods "on-b" is forbidden: node "a" can only evict pods with spec.nodeName set to itself`)
		zero := int64(0)
		err = na.CoreV1().Pods("work").Delete(ctx, "on-b", metav1.DeleteOptions{GracePeriodSeconds: &zero})
		mustRefuse(t, err, 403, `pods "on-b" is forbidden: node "a" can only delete pods with spec.nodeName set to itself`)
		if err := na.CoreV1().Pods("work").Delete(ctx, "on-a", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
			t.Fatal(err)
		}
		lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "b"}}
		_, err = na.CoordinationV1().Leases("kube-node-lease").Create(ctx, lease, create)
		mustRefuse(t, err, 403, `leases.coordination.k8s.io "b" is forbidden: can only access node lease with the same name as the requesting node`)
		lease.Name = "a"
		if _, err := na.CoordinationV1().Leases("kube-node-lease").Create(ctx, lease, create); err != nil {
			t.Fatal(err)
		}
	})
}

// waitCached retries cond until it holds: the plugins read the watch
// caches, which follow a write shortly after it.
func waitCached(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("the condition never held")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type warningFunc func(code int, agent, text string)

func (f warningFunc) HandleWarningHeader(code int, agent, text string) { f(code, agent, text) }

// One refusal per plugin as kubectl shows it.
func TestAdmissionKubectl(t *testing.T) {
	ts := newAdmissionServer(t)
	k := newKubectl(t, ts)
	expect := func(out, want string) {
		t.Helper()
		if !strings.Contains(out, want) {
			t.Fatalf("kubectl said\n%s\nwant it to contain\n%s", out, want)
		}
	}
	expect(k.run(true, "delete", "namespace", "kube-public"),
		`Error from server (Forbidden): namespaces "kube-public" is forbidden: this namespace may not be deleted`)

	// No controller makes the default account here: refused after the
	// short wait a young namespace gets.
	k.run(false, "create", "namespace", "app")
	expect(k.run(true, "run", "-n", "app", "web", "--image=busybox"),
		`Error from server (Forbidden): pods "web" is forbidden: error looking up service account app/default: serviceaccount "default" not found`)
	k.run(false, "create", "serviceaccount", "-n", "app", "default")

	k.run(false, "apply", "-n", "app", "-f", k.file("limits.yaml", `apiVersion: v1
kind: LimitRange
metadata: {name: lr}
spec:
  limits:
  - type: Container
    max: {memory: 64Mi}
`))
	big := k.file("big.yaml", `apiVersion: v1
kind: Pod
metadata: {name: big}
spec:
  containers:
  - name: c
    image: busybox
    resources: {limits: {memory: 1Gi}}
`)
	waitCached(t, func() bool {
		out, err := k.try("create", "-n", "app", "-f", big, "--dry-run=server")
		return err != nil && strings.Contains(out, "maximum memory usage per Container is 64Mi, but limit is 1Gi")
	})
	expect(k.run(true, "create", "-n", "app", "-f", big),
		`Error from server (Forbidden): error when creating "`+big+`": pods "big" is forbidden: maximum memory usage per Container is 64Mi, but limit is 1Gi`)

	k.run(false, "label", "namespace", "app", "pod-security.kubernetes.io/enforce=baseline", "pod-security.kubernetes.io/warn=restricted")
	hostnet := k.file("hostnet.yaml", `apiVersion: v1
kind: Pod
metadata: {name: hostnet}
spec:
  hostNetwork: true
  containers:
  - {name: c, image: busybox, resources: {limits: {memory: 32Mi}}}
`)
	var out string
	waitCached(t, func() bool {
		var err error
		out, err = k.try("create", "-n", "app", "-f", hostnet)
		return err != nil
	})
	expect(out, `pods "hostnet" is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`)
	expect(k.run(false, "create", "deployment", "-n", "app", "web", "--image=busybox"),
		`Warning: would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false`)

	k.run(false, "create", "quota", "-n", "app", "q", "--hard=count/configmaps=0")
	k.run(false, "patch", "quota", "-n", "app", "q", "--subresource=status", "--type=merge",
		"-p", `{"status":{"hard":{"count/configmaps":"0"},"used":{"count/configmaps":"0"}}}`)
	waitCached(t, func() bool {
		var err error
		out, err = k.try("create", "configmap", "-n", "app", "cm")
		return err != nil
	})
	expect(out, `configmaps "cm" is forbidden: exceeded quota: q, requested: count/configmaps=1, used: count/configmaps=0, limited: count/configmaps=0`)

	for _, n := range []string{"a", "b"} {
		k.run(false, "apply", "-f", k.file("node-"+n+".yaml", "apiVersion: v1\nkind: Node\nmetadata: {name: "+n+"}\n"))
	}
	// kubectl sends credentials over TLS only: node a talks to the same
	// server through a TLS listener.
	tlsSrv := httptest.NewTLSServer(ts.srv.Handler())
	t.Cleanup(tlsSrv.Close)
	nodeKC := k.file("node-a.kubeconfig", fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: %q, insecure-skip-tls-verify: true}
contexts:
- name: test
  context: {cluster: test, user: node-a}
current-context: test
users:
- name: node-a
  user: {token: node-a}
`, tlsSrv.URL))
	k.run(false, "--kubeconfig", nodeKC, "label", "node", "a", "disk=ssd")
	expect(k.run(true, "--kubeconfig", nodeKC, "label", "node", "b", "disk=ssd"),
		`Error from server (Forbidden): nodes "b" is forbidden: node "a" is not allowed to modify node "b"`)
}
