package stream

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/testcluster"
	"github.com/kelson-dev/kelson/nodeagent/runtime"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/remotecommand"
	clientexec "k8s.io/client-go/util/exec"
)

// TestKubectl runs the real kubectl (the one on the PATH) against a test
// cluster whose node n1 is this package's server (a fake runtime behind
// it) on 127.0.0.1: kubectl logs [-f] [--previous] [--tail] and kubectl
// exec [-i] go through the apiserver's proxy to the agent.
func TestKubectl(t *testing.T) {
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Skip("kubectl is not on the PATH: this test drives the real client")
	}
	c := testcluster.Start(t)
	a := startAgent(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	node, err := c.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(a.port)
	if _, err := c.Client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod, err := c.Client.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "httpd", Image: "httpd"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	old := instance(a.root, "default", "web", pod.UID, "httpd", 0, runtime.StateExited, now.Add(-time.Minute))
	cur := instance(a.root, "default", "web", pod.UID, "httpd", 1, runtime.StateRunning, now)
	a.rt.add(old)
	a.rt.add(cur)
	newLogWriter(t, old.LogPath, now.Add(-time.Minute)).write("stdout F crashed once")
	w := newLogWriter(t, cur.LogPath, now)
	w.write("stdout F It works!", "stderr F a warning", "stdout P a long ", "stdout F line")

	dir := t.TempDir()
	kubectl := func(stdin string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", c.Kubeconfig, "-n", "default"}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+dir, "KUBECACHEDIR="+filepath.Join(dir, "cache"))
		if stdin != "" {
			cmd.Stdin = strings.NewReader(stdin)
		}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	mustRun := func(stdin string, args ...string) string {
		t.Helper()
		out, err := kubectl(stdin, args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}

	if out := mustRun("", "logs", "web"); out != "It works!\na warning\na long line\n" {
		t.Errorf("kubectl logs: %q", out)
	}
	if out := mustRun("", "logs", "web", "--previous"); out != "crashed once\n" {
		t.Errorf("kubectl logs --previous: %q", out)
	}
	if out := mustRun("", "logs", "web", "--tail=1", "-c", "httpd"); out != "a long line\n" {
		t.Errorf("kubectl logs --tail=1: %q", out)
	}
	if out, err := kubectl("", "logs", "web", "-c", "nope"); err == nil || !strings.Contains(out, "container nope is not valid for pod web") {
		t.Errorf("kubectl logs -c nope: %v\n%s", err, out)
	}

	if out := mustRun("", "exec", "web", "--", "echo", "hello", "from", "exec"); out != "hello from exec\n" {
		t.Errorf("kubectl exec echo: %q", out)
	}
	if out := mustRun("piped\nthrough cat\n", "exec", "-i", "web", "--", "cat"); out != "piped\nthrough cat\n" {
		t.Errorf("kubectl exec -i cat: %q", out)
	}
	out, err := kubectl("", "exec", "web", "--", "exit", "3")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 || !strings.Contains(out, "command terminated with exit code 3") {
		t.Errorf("kubectl exec exit 3: %v\n%s", err, out)
	}

	// client-go's SPDY executor (older kubectl, kubectl's fallback, Go
	// tools) through the apiserver's proxy.
	u, _ := url.Parse(c.URL + "/api/v1/namespaces/default/pods/web/exec?command=exit&command=4&stdout=true")
	ex, err := remotecommand.NewSPDYExecutor(c.Config, "POST", u)
	if err != nil {
		t.Fatal(err)
	}
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: io.Discard})
	var ce clientexec.CodeExitError
	if !errors.As(err, &ce) || ce.Code != 4 {
		t.Errorf("SPDY exec through the apiserver: %v, want exit code 4", err)
	}

	// kubectl logs -f: the backlog, then new lines, and the end when the
	// container exits.
	cmd := exec.CommandContext(ctx, "kubectl", "--kubeconfig", c.Kubeconfig, "-n", "default", "logs", "-f", "web", "--tail=1")
	cmd.Env = append(os.Environ(), "HOME="+dir, "KUBECACHEDIR="+filepath.Join(dir, "cache"))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(stdout)
	next := func() string {
		t.Helper()
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("kubectl logs -f: %v (read %q)\n%s", err, l, stderr.String())
		}
		return l
	}
	if l := next(); l != "a long line\n" {
		t.Fatalf("kubectl logs -f backlog: %q", l)
	}
	w.write("stdout F a new line")
	if l := next(); l != "a new line\n" {
		t.Fatalf("kubectl logs -f: %q", l)
	}
	w.write("stdout F last words")
	a.rt.setState(cur.ID, runtime.StateExited)
	if l := next(); l != "last words\n" {
		t.Fatalf("kubectl logs -f: %q", l)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("kubectl logs -f did not end cleanly when the container exited: %v\n%s", err, stderr.String())
	}
}
