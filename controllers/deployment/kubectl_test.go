package deployment_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/controllers/deployment"
	"github.com/kelson-dev/kelson/controllers/internal/fakekubelet"
	appsv1 "k8s.io/api/apps/v1"
)

const httpdYAML = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: httpd
  labels: {app: httpd}
spec:
  replicas: 2
  selector:
    matchLabels: {app: httpd}
  template:
    metadata:
      labels: {app: httpd}
    spec:
      containers:
      - name: httpd
        image: httpd:2.4
        ports:
        - containerPort: 80
`

// TestKubectl walks a user through a Deployment's life with kubectl:
// apply, rollout status (2/2 READY), set image, rollout history, rollout
// undo, scale, rollout pause/resume/restart. kubectl's history and undo
// are client-side: they read the ReplicaSets' controller references and
// revision annotations, which this checks too.
func TestKubectl(t *testing.T) {
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Skip("kubectl is not on the PATH")
	}
	e := start(t, fakekubelet.Config{Jitter: 50 * time.Millisecond})
	kubectl := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(e.ctx, "kubectl", append([]string{"--kubeconfig", e.Kubeconfig, "-n", ns}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	expect := func(out string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Fatalf("output lacks %q:\n%s", w, out)
			}
		}
	}
	expectRE := func(out, re string) {
		t.Helper()
		if !regexp.MustCompile(re).MatchString(out) {
			t.Fatalf("output does not match %s:\n%s", re, out)
		}
	}
	status := func() {
		t.Helper()
		expect(kubectl("rollout", "status", "deployment/httpd", "--timeout=60s"), `deployment "httpd" successfully rolled out`)
	}
	file := filepath.Join(t.TempDir(), "httpd.yaml")
	if err := os.WriteFile(file, []byte(httpdYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	expect(kubectl("apply", "-f", file), "deployment.apps/httpd created")
	status()
	// NAME READY UP-TO-DATE AVAILABLE AGE; NAME DESIRED CURRENT READY AGE
	expectRE(kubectl("get", "deployment", "httpd"), `(?m)^httpd\s+2/2\s+2\s+2\s`)
	expectRE(kubectl("get", "rs", "-l", "app=httpd"), `(?m)^httpd-\w+\s+2\s+2\s+2\s`)

	expect(kubectl("set", "image", "deployment/httpd", "httpd=httpd:2.4.62"), "deployment.apps/httpd image updated")
	expect(kubectl("annotate", "deployment/httpd", deployment.AnnotationChangeCause+"=upgrade to 2.4.62"), "annotated")
	status()
	// the change-cause reaches the new ReplicaSet on its next sync
	eventually(t, func() error {
		out := kubectl("rollout", "history", "deployment/httpd")
		if !regexp.MustCompile(`(?m)^2\s+upgrade to 2.4.62$`).MatchString(out) || !regexp.MustCompile(`(?m)^1\s+<none>$`).MatchString(out) {
			return fmt.Errorf("history:\n%s", out)
		}
		return nil
	})
	expect(kubectl("rollout", "history", "deployment/httpd", "--revision=1"), "Image:", "httpd:2.4")

	expect(kubectl("rollout", "undo", "deployment/httpd"), "deployment.apps/httpd rolled back")
	status()
	eventually(t, func() error { return e.complete("httpd", 2, "httpd:2.4") })
	out := kubectl("rollout", "history", "deployment/httpd")
	expectRE(out, `(?m)^2\s+upgrade to 2.4.62$`)
	expectRE(out, `(?m)^3\s+<none>$`)
	if regexp.MustCompile(`(?m)^1\s`).MatchString(out) {
		t.Fatalf("revision 1 became 3 and should be gone from the history:\n%s", out)
	}
	expect(kubectl("get", "deployment", "httpd", "-o", "jsonpath={.metadata.annotations}"), `"deployment.kubernetes.io/revision":"3"`)

	expect(kubectl("scale", "deployment/httpd", "--replicas=3"), "deployment.apps/httpd scaled")
	status()
	expectRE(kubectl("get", "deployment", "httpd"), `(?m)^httpd\s+3/3\s+3\s+3\s`)

	d0, err := e.Client.AppsV1().Deployments(ns).Get(e.ctx, "httpd", getOpts)
	if err != nil {
		t.Fatal(err)
	}
	expect(kubectl("rollout", "pause", "deployment/httpd"), "deployment.apps/httpd paused")
	expect(kubectl("set", "image", "deployment/httpd", "httpd=httpd:2.4.63"), "image updated")
	eventually(t, func() error {
		d, err := e.Client.AppsV1().Deployments(ns).Get(e.ctx, "httpd", getOpts)
		if err != nil {
			return err
		}
		if c := condition(d, appsv1.DeploymentProgressing); d.Status.ObservedGeneration != d.Generation || c == nil || c.Reason != deployment.ReasonPaused {
			return fmt.Errorf("not paused yet: %+v", d.Status)
		}
		return nil
	})
	if pods, err := e.pods(d0); err != nil || len(pods) != 3 || pods[0].Spec.Containers[0].Image != "httpd:2.4" {
		t.Fatalf("a paused deployment rolled out: %v", err)
	}
	expect(kubectl("rollout", "resume", "deployment/httpd"), "deployment.apps/httpd resumed")
	status()
	eventually(t, func() error { return e.complete("httpd", 3, "httpd:2.4.63") })

	expect(kubectl("rollout", "restart", "deployment/httpd"), "deployment.apps/httpd restarted")
	status()
	d, err := e.Client.AppsV1().Deployments(ns).Get(e.ctx, "httpd", getOpts)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Spec.Template.Annotations) == 0 || d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] == "" || deployment.Revision(d) != 5 {
		t.Fatalf("after restart: template annotations %v, revision %d", d.Spec.Template.Annotations, deployment.Revision(d))
	}
	eventually(t, func() error { return e.complete("httpd", 3, "httpd:2.4.63") })
	expect(kubectl("describe", "deployment", "httpd"), "ScalingReplicaSet", "deployment-controller", "NewReplicaSetAvailable")
}
