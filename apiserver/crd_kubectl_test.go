package apiserver

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// try runs kubectl and returns its combined output and error.
func (k *kubectl) try(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", k.kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+k.dir, "KUBECACHEDIR="+filepath.Join(k.dir, "cache"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

const widgetCR = `apiVersion: example.com/v1
kind: Widget
metadata:
  name: my-widget
spec:
  size: large
  replicas: 2
`

// kubectl drives a CRD and its custom resources: apply, get with the
// printer columns, explain from the OpenAPI schema, delete.
func TestKubectlCRD(t *testing.T) {
	ts := newTestServer(t, startMember(t))
	k := newKubectl(t, ts)
	k.run(false, "apply", "-f", k.file("crd.yaml", widgetCRD))
	// kubectl wait fails at once on an object without conditions yet (as
	// against kube-apiserver, whose controller writes them just after the
	// create); try again until the registrar has.
	waitFor(t, "kubectl wait", func() bool {
		out, err := k.try("wait", "--for=condition=Established", "--timeout=30s", "crd/widgets.example.com")
		return err == nil && strings.Contains(out, "condition met")
	})
	mustContain(t, k.run(false, "get", "crd"), "widgets.example.com")
	out := k.run(false, "apply", "-f", k.file("cr.yaml", widgetCR))
	mustContain(t, out, "widget.example.com/my-widget created")
	out = k.run(false, "get", "widgets")
	mustContain(t, out, "SIZE", "REPLICAS", "my-widget", "large")
	mustContain(t, k.run(false, "get", "wd", "my-widget", "-o", "yaml"), "color: blue", "replicas: 2")
	out = k.run(false, "explain", "widget.spec")
	mustContain(t, out, "KIND:", "Widget", "size", "How big the widget is.")
	out = k.run(false, "apply", "--server-side", "-f", k.file("cr2.yaml", strings.Replace(widgetCR, "replicas: 2", "replicas: 3", 1)))
	mustContain(t, out, "serverside-applied")
	k.run(false, "scale", "widget/my-widget", "--replicas=4")
	mustContain(t, k.run(false, "get", "widget", "my-widget"), "4")
	out = k.run(true, "apply", "-f", k.file("bad.yaml", strings.Replace(widgetCR, "size: large", "size: 12", 1)))
	mustContain(t, out, "spec.size")
	k.run(false, "delete", "crd", "widgets.example.com")
	out = k.run(true, "get", "widgets")
	if !strings.Contains(out, "the server doesn't have a resource type") && !strings.Contains(out, "could not find the requested resource") {
		t.Fatalf("get widgets after the CRD's deletion: %s", out)
	}
}
