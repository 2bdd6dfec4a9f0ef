package apiserver

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The walkthrough of the apiserver issue, through the real kubectl on the
// machine, against an in-process server on a Kelson member.

const httpdService = `apiVersion: v1
kind: Service
metadata:
  name: httpd-src
spec:
  %s
  selector:
    app: httpd_pod
  ports:
  - name: http
    protocol: TCP
    nodePort: 30000
    port: 8080
    targetPort: 80
`

type kubectl struct {
	t          *testing.T
	kubeconfig string
	dir        string
}

func newKubectl(t *testing.T, ts *testServer) *kubectl {
	t.Helper()
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Skip("kubectl is not on the PATH: the kubectl walkthrough needs the real client")
	}
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: %q}
contexts:
- name: test
  context: {cluster: test, user: test, namespace: default}
current-context: test
users:
- name: test
  user: {}
`, ts.http.URL)
	if err := os.WriteFile(kc, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return &kubectl{t: t, kubeconfig: kc, dir: dir}
}

// run runs kubectl and returns its combined output; a failure fails the
// test unless wantErr.
func (k *kubectl) run(wantErr bool, args ...string) string {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", k.kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+k.dir, "KUBECACHEDIR="+filepath.Join(k.dir, "cache"))
	out, err := cmd.CombinedOutput()
	if (err != nil) != wantErr {
		k.t.Fatalf("kubectl %s: err=%v (wantErr %v)\n%s", strings.Join(args, " "), err, wantErr, out)
	}
	return string(out)
}

func (k *kubectl) file(name, content string) string {
	p := filepath.Join(k.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		k.t.Fatal(err)
	}
	return p
}

func mustContain(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Fatalf("output lacks %q:\n%s", w, out)
		}
	}
}

func TestKubectlWalkthrough(t *testing.T) {
	ts := newTestServer(t, startMember(t))
	k := newKubectl(t, ts)

	mustContain(t, k.run(false, "get", "ns"), "default", "kube-system")
	dep := k.file("httpd_deployment.yaml", httpdDeployment)
	mustContain(t, k.run(false, "apply", "-f", dep), "deployment.apps/httpd-deployment created")
	out := k.run(false, "get", "deployment", "-o", "wide")
	mustContain(t, out, "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR",
		"httpd-deployment", "0/2", "httpd", "app=httpd_pod")

	var obj map[string]any
	if err := json.Unmarshal([]byte(k.run(false, "get", "deployment", "httpd-deployment", "-o", "json")), &obj); err != nil {
		t.Fatalf("-o json: %v", err)
	}
	spec := obj["spec"].(map[string]any)
	strategy := spec["strategy"].(map[string]any)
	if strategy["type"] != "RollingUpdate" || spec["revisionHistoryLimit"] != float64(10) || spec["progressDeadlineSeconds"] != float64(600) {
		t.Fatalf("deployment defaults: %v", spec)
	}
	mustContain(t, k.run(false, "get", "deployment", "httpd-deployment", "-o", "yaml"), "kind: Deployment", "maxSurge: 25%")
	mustContain(t, k.run(false, "describe", "deployment", "httpd-deployment"), "Replicas:", "StrategyType:", "RollingUpdate")

	mustContain(t, k.run(false, "scale", "deployment", "httpd-deployment", "--replicas=3"), "scaled")
	mustContain(t, k.run(false, "get", "deployment", "httpd-deployment"), "0/3")
	// apply again: the three-way merge puts replicas back to the file's 2.
	mustContain(t, k.run(false, "apply", "-f", dep), "deployment.apps/httpd-deployment configured")
	mustContain(t, k.run(false, "get", "deployment", "httpd-deployment"), "0/2")
	mustContain(t, k.run(false, "patch", "deployment", "httpd-deployment", "-p", `{"metadata":{"labels":{"tier":"web"}}}`), "patched")
	mustContain(t, k.run(false, "get", "deployment", "-l", "tier=web"), "httpd-deployment")

	// The service: first without `type: NodePort` (a nodePort on a
	// ClusterIP service is refused), then with it.
	svc := k.file("svc-clusterip.yaml", fmt.Sprintf(httpdService, ""))
	mustContain(t, k.run(true, "apply", "-f", svc), "nodePort", "Forbidden")
	svc = k.file("svc-nodeport.yaml", fmt.Sprintf(httpdService, "type: NodePort"))
	mustContain(t, k.run(false, "apply", "-f", svc), "service/httpd-src created")
	mustContain(t, k.run(false, "get", "service", "-o", "wide"), "httpd-src", "NodePort", "8080:30000/TCP", "app=httpd_pod", "10.43.")

	mustContain(t, k.run(false, "explain", "deployment.spec.strategy"), "RollingUpdate")
	mustContain(t, k.run(false, "api-resources"), "deployments", "deploy", "apps/v1")

	mustContain(t, k.run(false, "create", "namespace", "walk"), "namespace/walk created")
	mustContain(t, k.run(false, "create", "configmap", "cfg", "-n", "walk", "--from-literal=a=b"), "configmap/cfg created")
	mustContain(t, k.run(false, "create", "secret", "generic", "sec", "-n", "walk", "--from-literal=p=q"), "secret/sec created")
	mustContain(t, k.run(false, "get", "configmap,secret", "-n", "walk"), "cfg", "sec", "Opaque")

	// Server-side apply: a second manager's conflicting field is refused
	// without --force-conflicts.
	mustContain(t, k.run(false, "apply", "--server-side", "-f", dep), "serverside-applied")
	mustContain(t, k.run(true, "apply", "--server-side", "--field-manager", "other", "-f",
		k.file("other.yaml", strings.Replace(httpdDeployment, "replicas: 2", "replicas: 4", 1))), "conflict")

	// get -w sees a change made while it watches.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	watch := exec.CommandContext(ctx, "kubectl", "--kubeconfig", k.kubeconfig, "get", "deployment", "-w")
	watch.Env = append(os.Environ(), "HOME="+k.dir)
	stdout, err := watch.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || !lines.Scan() { // header and the current row
		t.Fatalf("get -w printed nothing")
	}
	k.run(false, "scale", "deployment", "httpd-deployment", "--replicas=6")
	found := false
	for lines.Scan() {
		if strings.Contains(lines.Text(), "0/6") {
			found = true
			break
		}
	}
	watch.Process.Kill()
	watch.Wait()
	if !found {
		t.Fatal("get -w never showed the scaled deployment")
	}

	mustContain(t, k.run(false, "delete", "-f", svc), "deleted")
	mustContain(t, k.run(false, "delete", "deployment", "httpd-deployment"), "deleted")
	mustContain(t, k.run(false, "get", "deployment"), "No resources found")
	mustContain(t, k.run(false, "delete", "namespace", "walk"), "deleted")
}
