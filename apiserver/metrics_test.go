package apiserver_test

// The resource metrics API end to end: node agents' usage reports
// (metrics.kelson.dev NodeUsage) written through the API, metrics.k8s.io
// read with client-go's metrics clientset (JSON and protobuf), raw HTTP
// for tables and refused verbs, and kubectl top.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	usagev1alpha1 "github.com/kelson-dev/kelson/api/metrics/v1alpha1"
	"github.com/kelson-dev/kelson/internal/testcluster"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
)

const metricsTimeout = 30 * time.Second

func rl(cpu, mem string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
}

// metricsFixture is a cluster with nodes, pods and usage clients.
type metricsFixture struct {
	t       *testing.T
	c       *testcluster.Cluster
	cs      *kubernetes.Clientset
	usage   *usagev1alpha1.Client
	metrics *metricsclient.Clientset
}

func newMetricsFixture(t *testing.T) *metricsFixture {
	t.Helper()
	c := testcluster.Start(t)
	u, err := usagev1alpha1.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	m, err := metricsclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	return &metricsFixture{t: t, c: c, cs: c.Client, usage: u, metrics: m}
}

// node creates a node with labels and allocatable 4 cpu, 8Gi.
func (f *metricsFixture) node(name string, labels map[string]string) *corev1.Node {
	f.t.Helper()
	ctx := context.Background()
	n, err := f.cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	n.Status.Capacity, n.Status.Allocatable = rl("4", "8Gi"), rl("4", "8Gi")
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	if n, err = f.cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		f.t.Fatal(err)
	}
	return n
}

func (f *metricsFixture) namespace(name string) {
	f.t.Helper()
	_, err := f.cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
}

// pod creates a pod bound to node ("" unbound).
func (f *metricsFixture) pod(ns, name, node string, labels map[string]string) {
	f.t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if _, err := f.cs.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

// report writes a node's usage report, age old.
func (f *metricsFixture) report(node string, age time.Duration, cpu, mem string, pods ...usagev1alpha1.PodUsage) {
	f.t.Helper()
	u := &usagev1alpha1.NodeUsage{ObjectMeta: metav1.ObjectMeta{Name: node},
		Timestamp: metav1.NewTime(time.Now().Add(-age)), Window: metav1.Duration{Duration: 15 * time.Second},
		Usage: rl(cpu, mem), Pods: pods}
	if _, err := f.usage.Report(context.Background(), u); err != nil {
		f.t.Fatalf("report %s: %v", node, err)
	}
}

func pu(ns, name string, containers ...usagev1alpha1.ContainerUsage) usagev1alpha1.PodUsage {
	return usagev1alpha1.PodUsage{Namespace: ns, Name: name, Containers: containers}
}

func cu(name, cpu, mem string) usagev1alpha1.ContainerUsage {
	return usagev1alpha1.ContainerUsage{Name: name, Usage: rl(cpu, mem)}
}

// raw sends a request with an Accept header (and an empty JSON body),
// returning code and body.
func (f *metricsFixture) raw(method, path, accept string) (int, []byte) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.c.URL+path, strings.NewReader("{}"))
	if err != nil {
		f.t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp.StatusCode, b
}

func TestNodeUsageWrites(t *testing.T) {
	f := newMetricsFixture(t)
	ctx := context.Background()

	// Validation errors are 422 with Kubernetes' causes.
	bad := &usagev1alpha1.NodeUsage{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Usage: rl("-1", "1Gi"),
		Pods: []usagev1alpha1.PodUsage{pu("shop", "web"), pu("shop", "web", cu("c", "1", "1Mi"))}}
	_, err := f.usage.Create(ctx, bad)
	if !apierrors.IsInvalid(err) {
		t.Fatalf("invalid report: %v", err)
	}
	for _, want := range []string{"timestamp: Required value", "window: Invalid value", `usage[cpu]: Invalid value: "-1"`,
		"pods[0].containers: Required value", `pods[1]: Duplicate value: "shop/web"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	many := &usagev1alpha1.NodeUsage{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Timestamp: metav1.Now(), Window: metav1.Duration{Duration: time.Second}}
	for i := 0; i <= usagev1alpha1.MaxPods; i++ {
		many.Pods = append(many.Pods, pu("shop", fmt.Sprintf("p%d", i), cu("c", "1m", "1Mi")))
	}
	if _, err := f.usage.Create(ctx, many); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "must have at most 500 items") {
		t.Fatalf("501 pods: %v", err)
	}
	if _, err := f.usage.Create(ctx, &usagev1alpha1.NodeUsage{ObjectMeta: metav1.ObjectMeta{Name: "Bad_Node"},
		Timestamp: metav1.Now(), Window: metav1.Duration{Duration: time.Second}}); !apierrors.IsInvalid(err) {
		t.Fatalf("bad node name: %v", err)
	}

	// Report creates, then replaces.
	f.report("n1", 0, "1", "2Gi", pu("shop", "web", cu("c", "250m", "64Mi")))
	got, err := f.usage.Get(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if got.UID == "" || len(got.Pods) != 1 || got.Window.Duration != 15*time.Second {
		t.Fatalf("stored %+v", got)
	}
	if q := got.Pods[0].Containers[0].Usage[corev1.ResourceCPU]; q.String() != "250m" {
		t.Fatalf("stored cpu %s", q.String())
	}
	f.report("n1", 0, "2", "2Gi")
	again, err := f.usage.Get(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if again.UID != got.UID || len(again.Pods) != 0 || again.ResourceVersion == got.ResourceVersion {
		t.Fatalf("replaced %+v", again)
	}
	list, err := f.usage.List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("list %v %v", list, err)
	}

	// Server-side apply (deduced structure) and a merge patch.
	apply := fmt.Sprintf(`{"apiVersion":"metrics.kelson.dev/v1alpha1","kind":"NodeUsage","metadata":{"name":"n2"},`+
		`"timestamp":%q,"window":"10s","usage":{"cpu":"500m"}}`, time.Now().UTC().Format(time.RFC3339))
	res := f.cs.CoreV1().RESTClient().Patch(types.ApplyPatchType).AbsPath("/apis/metrics.kelson.dev/v1alpha1/nodeusages/n2").
		Param("fieldManager", "agent").Body([]byte(apply)).Do(ctx)
	if err := res.Error(); err != nil {
		t.Fatalf("apply: %v", err)
	}
	res = f.cs.CoreV1().RESTClient().Patch(types.MergePatchType).AbsPath("/apis/metrics.kelson.dev/v1alpha1/nodeusages/n2").
		Body([]byte(`{"usage":{"memory":"1Gi"}}`)).Do(ctx)
	if err := res.Error(); err != nil {
		t.Fatalf("merge patch: %v", err)
	}
	n2, err := f.usage.Get(ctx, "n2")
	if err != nil {
		t.Fatal(err)
	}
	if len(n2.Usage) != 2 || len(n2.ManagedFields) == 0 || n2.ManagedFields[0].Manager != "agent" {
		t.Fatalf("applied and patched %+v", n2)
	}

	// JSON only: protobuf is not served, JSON is when offered too.
	if code, body := f.raw("GET", "/apis/metrics.kelson.dev/v1alpha1/nodeusages/n1", "application/vnd.kubernetes.protobuf"); code != http.StatusNotAcceptable {
		t.Fatalf("protobuf: %d %s", code, body)
	}
	if code, body := f.raw("GET", "/apis/metrics.kelson.dev/v1alpha1/nodeusages/n1", "application/vnd.kubernetes.protobuf,application/json"); code != http.StatusOK || !strings.Contains(string(body), `"kind":"NodeUsage"`) {
		t.Fatalf("protobuf or JSON: %d %s", code, body)
	}
	// Its table.
	code, body := f.raw("GET", "/apis/metrics.kelson.dev/v1alpha1/nodeusages", "application/json;as=Table;v=v1;g=meta.k8s.io")
	if code != http.StatusOK || !strings.Contains(string(body), `"name":"Reported"`) || !strings.Contains(string(body), `"cells":["n1","2","2Gi",0,"15s"`) {
		t.Fatalf("table: %d %s", code, body)
	}
	if err := f.usage.Delete(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
}

func TestMetricsAPI(t *testing.T) {
	f := newMetricsFixture(t)
	ctx := context.Background()
	f.node("n1", map[string]string{"role": "web"})
	f.node("n2", map[string]string{"role": "db"})
	f.node("n3", nil) // stale report
	f.node("n4", nil) // no report
	f.namespace("shop")
	f.pod("shop", "web-1", "n1", map[string]string{"app": "web"})
	f.pod("shop", "web-2", "n2", map[string]string{"app": "web"})
	f.pod("shop", "db-1", "n2", map[string]string{"app": "db"})
	f.pod("shop", "pending", "", map[string]string{"app": "web"})
	f.pod("shop", "old", "n3", map[string]string{"app": "web"})
	f.pod("default", "tool", "n1", nil)
	f.report("n1", 5*time.Second, "1", "2Gi",
		pu("shop", "web-1", cu("c", "250m", "64Mi"), cu("sidecar", "50m", "16Mi")),
		pu("shop", "db-1", cu("c", "999", "1Gi")),  // not on n1: ignored
		pu("shop", "pending", cu("c", "1", "1Mi")), // not bound: ignored
		pu("shop", "gone", cu("c", "1", "1Mi")),    // no such pod: ignored
		pu("default", "tool", cu("c", "10m", "8Mi")))
	f.report("n2", 5*time.Second, "3", "6Gi", pu("shop", "web-2", cu("c", "100m", "32Mi")), pu("shop", "db-1", cu("c", "2", "4Gi")))
	f.report("n3", 3*time.Minute, "1", "1Gi", pu("shop", "old", cu("c", "1", "1Mi")))
	m := f.metrics.MetricsV1beta1()

	nodeNames := func(l *metricsv1beta1.NodeMetricsList) []string {
		var out []string
		for _, n := range l.Items {
			out = append(out, n.Name)
		}
		return out
	}
	podNames := func(l *metricsv1beta1.PodMetricsList) []string {
		var out []string
		for _, p := range l.Items {
			out = append(out, p.Namespace+"/"+p.Name)
		}
		sort.Strings(out)
		return out
	}
	eq := func(what string, got []string, want ...string) {
		t.Helper()
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: %v, want %v", what, got, want)
		}
	}

	// Nodes: fresh reports only, selectors on the nodes.
	nl, err := m.NodeMetricses().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eq("nodes", nodeNames(nl), "n1", "n2")
	nl, _ = m.NodeMetricses().List(ctx, metav1.ListOptions{LabelSelector: "role=web"})
	eq("nodes role=web", nodeNames(nl), "n1")
	nl, _ = m.NodeMetricses().List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=n2"})
	eq("nodes name=n2", nodeNames(nl), "n2")
	if _, err := m.NodeMetricses().List(ctx, metav1.ListOptions{LabelSelector: "role in ("}); !apierrors.IsBadRequest(err) {
		t.Errorf("bad selector: %v", err)
	}
	n1, err := m.NodeMetricses().Get(ctx, "n1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cpu := n1.Usage[corev1.ResourceCPU]; cpu.String() != "1" || n1.Labels["role"] != "web" || n1.Window.Duration != 15*time.Second {
		t.Errorf("n1 %+v", n1)
	}
	for _, name := range []string{"n3", "n4", "nope"} {
		_, err := m.NodeMetricses().Get(ctx, name, metav1.GetOptions{})
		if !apierrors.IsNotFound(err) || !strings.Contains(err.Error(), fmt.Sprintf(`nodemetrics.metrics.k8s.io %q not found`, name)) {
			t.Errorf("get %s: %v", name, err)
		}
	}

	// Pods: bound to the reporting node, existing, selectors on the pods.
	pl, err := m.PodMetricses("shop").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eq("shop pods", podNames(pl), "shop/db-1", "shop/web-1", "shop/web-2")
	pl, _ = m.PodMetricses("shop").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	eq("shop app=web", podNames(pl), "shop/web-1", "shop/web-2")
	pl, _ = m.PodMetricses("shop").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=n2"})
	eq("shop on n2", podNames(pl), "shop/db-1", "shop/web-2")
	pl, _ = m.PodMetricses("").List(ctx, metav1.ListOptions{})
	eq("all pods", podNames(pl), "default/tool", "shop/db-1", "shop/web-1", "shop/web-2")
	if _, err := m.PodMetricses("shop").List(ctx, metav1.ListOptions{FieldSelector: "spec.nope=x"}); !apierrors.IsBadRequest(err) {
		t.Errorf("unknown field: %v", err)
	}
	db, err := m.PodMetricses("shop").Get(ctx, "db-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cpu := db.Containers[0].Usage[corev1.ResourceCPU]; len(db.Containers) != 1 || cpu.String() != "2" || db.Labels["app"] != "db" {
		t.Errorf("db-1 from its own node's report: %+v", db)
	}
	web, err := m.PodMetricses("shop").Get(ctx, "web-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(web.Containers) != 2 || web.Containers[1].Name != "sidecar" {
		t.Errorf("web-1 %+v", web)
	}
	for _, name := range []string{"pending", "old", "gone"} {
		_, err := m.PodMetricses("shop").Get(ctx, name, metav1.GetOptions{})
		if !apierrors.IsNotFound(err) || !strings.Contains(err.Error(), fmt.Sprintf(`podmetrics.metrics.k8s.io "shop/%s" not found`, name)) {
			t.Errorf("get %s: %v", name, err)
		}
	}

	// Protobuf, as clients that prefer it read.
	pcfg := rest.CopyConfig(f.c.Config)
	pcfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf"
	pm, err := metricsclient.NewForConfig(pcfg)
	if err != nil {
		t.Fatal(err)
	}
	pl, err = pm.MetricsV1beta1().PodMetricses("shop").List(ctx, metav1.ListOptions{LabelSelector: "app=db"})
	if err != nil {
		t.Fatalf("protobuf: %v", err)
	}
	eq("protobuf", podNames(pl), "shop/db-1")

	// Table, as kubectl get podmetrics asks.
	code, body := f.raw("GET", "/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods/web-1", "application/json;as=Table;v=v1;g=meta.k8s.io")
	if code != http.StatusOK || !strings.Contains(string(body), `"cells":["web-1","300m","80Mi","15s"]`) {
		t.Errorf("table: %d %s", code, body)
	}

	// Read-only: writes and watches are 405.
	for _, req := range []struct{ method, path string }{
		{"POST", "/apis/metrics.k8s.io/v1beta1/nodes"},
		{"PUT", "/apis/metrics.k8s.io/v1beta1/nodes/n1"},
		{"DELETE", "/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods/web-1"},
		{"PATCH", "/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods/web-1"},
		{"GET", "/apis/metrics.k8s.io/v1beta1/pods?watch=1"},
	} {
		if code, body := f.raw(req.method, req.path, ""); code != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: %d %s", req.method, req.path, code, body)
		}
	}
	if code, _ := f.raw("GET", "/apis/metrics.k8s.io/v1/nodes", ""); code != http.StatusNotFound {
		t.Errorf("v1: %d", code)
	}

	// Discovery lists the group, with get and list only.
	groups, err := f.cs.Discovery().ServerGroups()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, g := range groups.Groups {
		if g.Name == "metrics.k8s.io" {
			found = g.PreferredVersion.Version == "v1beta1"
		}
	}
	if !found {
		t.Errorf("metrics.k8s.io/v1beta1 not discovered: %+v", groups)
	}
	rs, err := f.cs.Discovery().ServerResourcesForGroupVersion("metrics.k8s.io/v1beta1")
	if err != nil {
		t.Fatal(err)
	}
	var desc []string
	for _, r := range rs.APIResources {
		desc = append(desc, fmt.Sprintf("%s/%s/%v/%v", r.Name, r.Kind, r.Namespaced, r.Verbs))
	}
	eq("resources", desc, "nodes/NodeMetrics/false/[get list]", "pods/PodMetrics/true/[get list]")

	// A report going stale takes its node and pods out; a new one brings
	// them back.
	f.report("n2", 3*time.Minute, "3", "6Gi", pu("shop", "web-2", cu("c", "100m", "32Mi")))
	nl, _ = m.NodeMetricses().List(ctx, metav1.ListOptions{})
	eq("after n2 went stale", nodeNames(nl), "n1")
	pl, _ = m.PodMetricses("shop").List(ctx, metav1.ListOptions{})
	eq("pods after n2 went stale", podNames(pl), "shop/web-1")
	f.report("n2", 0, "3", "6Gi", pu("shop", "web-2", cu("c", "100m", "32Mi")))
	testcluster.Eventually(t, metricsTimeout, func() error {
		pl, err := m.PodMetricses("shop").List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		if got := strings.Join(podNames(pl), ","); got != "shop/web-1,shop/web-2" {
			return fmt.Errorf("pods %s", got)
		}
		return nil
	})
}

// kubectl top reads the API as users do.
func TestKubectlTop(t *testing.T) {
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Skip("kubectl is not on the PATH")
	}
	f := newMetricsFixture(t)
	f.node("n1", nil)
	f.node("n2", nil)
	f.namespace("shop")
	f.pod("shop", "web-1", "n1", map[string]string{"app": "web"})
	f.pod("shop", "web-2", "n2", map[string]string{"app": "web"})
	f.pod("shop", "db-1", "n2", map[string]string{"app": "db"})
	f.report("n1", 0, "1", "2Gi", pu("shop", "web-1", cu("c", "250m", "64Mi"), cu("sidecar", "50m", "16Mi")))
	f.report("n2", 0, "3", "6Gi", pu("shop", "web-2", cu("c", "100m", "32Mi")), pu("shop", "db-1", cu("c", "2", "4Gi")))

	dir := t.TempDir()
	kubectl := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", f.c.Kubeconfig}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+dir, "KUBECACHEDIR="+filepath.Join(dir, "cache"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	lines := func(out string) []string {
		var ls []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			ls = append(ls, strings.Join(strings.Fields(l), " "))
		}
		return ls
	}
	eq := func(what string, got []string, want ...string) {
		t.Helper()
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s:\n%s\nwant:\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	// Percentages of allocatable (4 cpu, 8Gi).
	eq("top node", lines(kubectl("top", "node")),
		"NAME CPU(cores) CPU(%) MEMORY(bytes) MEMORY(%)",
		"n1 1000m 25% 2048Mi 25%",
		"n2 3000m 75% 6144Mi 75%")
	eq("top pod", lines(kubectl("top", "pod", "-n", "shop")),
		"NAME CPU(cores) MEMORY(bytes)",
		"db-1 2000m 4096Mi",
		"web-1 300m 80Mi",
		"web-2 100m 32Mi")
	eq("top pod --containers -l app=web", lines(kubectl("top", "pod", "-n", "shop", "-l", "app=web", "--containers")),
		"POD NAME CPU(cores) MEMORY(bytes)",
		"web-1 c 250m 64Mi",
		"web-1 sidecar 50m 16Mi",
		"web-2 c 100m 32Mi")
	eq("top node n2", lines(kubectl("top", "node", "n2")),
		"NAME CPU(cores) CPU(%) MEMORY(bytes) MEMORY(%)",
		"n2 3000m 75% 6144Mi 75%")
	out := kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods/db-1")
	var pm metricsv1beta1.PodMetrics
	if err := json.Unmarshal([]byte(out), &pm); err != nil || pm.Name != "db-1" {
		t.Errorf("get --raw: %v %s", err, out)
	}
	eq("get podmetrics", lines(kubectl("get", "pods.metrics.k8s.io", "-n", "shop", "web-1")),
		"NAME CPU MEMORY WINDOW",
		"web-1 300m 80Mi 15s")
}
