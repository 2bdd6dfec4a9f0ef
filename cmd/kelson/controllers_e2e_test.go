package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/testcluster"
	"github.com/kelson-dev/kelson/sim"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func clientFor(t *testing.T, kubeconfig string) *kubernetes.Clientset {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS = -1
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// leaseHolder returns the index (into names) of the server holding a
// kube-system Lease, whose identity is "<host>_<member name>_<random>".
func leaseHolder(ctx context.Context, cs kubernetes.Interface, lease string, names []string) (int, error) {
	l, err := cs.CoordinationV1().Leases("kube-system").Get(ctx, lease, metav1.GetOptions{})
	if err != nil {
		return -1, err
	}
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
		return -1, fmt.Errorf("lease %s has no holder", lease)
	}
	id := *l.Spec.HolderIdentity
	for i, n := range names {
		if strings.Contains(id, "_"+n+"_") {
			return i, nil
		}
	}
	return -1, fmt.Errorf("lease %s held by %q, not one of %v", lease, id, names)
}

// rolledOut reports whether a deployment's rollout is complete: what
// `kubectl rollout status` waits for.
func rolledOut(d *appsv1.Deployment) error {
	s, want := d.Status, *d.Spec.Replicas
	if s.ObservedGeneration < d.Generation || s.UpdatedReplicas != want || s.ReadyReplicas != want ||
		s.AvailableReplicas != want || s.Replicas != want {
		return fmt.Errorf("generation %d observed %d; replicas %d updated %d ready %d available %d, want %d",
			d.Generation, s.ObservedGeneration, s.Replicas, s.UpdatedReplicas, s.ReadyReplicas, s.AvailableReplicas, want)
	}
	return nil
}

// TestControllerFailoverMidRollout: three servers elect one controller
// manager and one scheduler; a Deployment rolls out on simulated nodes; the
// server leading the controllers is killed (SIGKILL: no lease release)
// halfway through a rolling update; another server takes over and the
// rollout completes with exactly the desired pods, one ReplicaSet per
// template, no pod created twice.
func TestControllerFailoverMidRollout(t *testing.T) {
	names := []string{"a", "b", "c"}
	procs, kubeconfigs, _ := startServers(t, names)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	var leader int
	testcluster.Eventually(t, 90*time.Second, func() (err error) {
		leader, err = leaseHolder(ctx, clientFor(t, kubeconfigs[0]), "kube-controller-manager", names)
		return err
	})
	survivor := (leader + 1) % len(names)
	cs := clientFor(t, kubeconfigs[survivor])

	// Simulated nodes, through a server that stays up.
	s, err := sim.New(sim.Config{Client: cs, Nodes: 3, NamePrefix: "e2e", Logger: testcluster.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	simCtx, stopSim := context.WithCancel(ctx)
	simDone := make(chan error, 1)
	go func() { simDone <- s.Run(simCtx) }()
	defer func() { stopSim(); <-simDone }()

	replicas := int32(6)
	labels := map[string]string{"app": "web"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				// Each pod is Ready 2 s after it starts: a rolling
				// update of 6 pods, one at a time, takes a while.
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{"sim.kelson.dev/ready-after-seconds": "2"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "httpd", Image: "httpd:2.4"}}},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deployments := cs.AppsV1().Deployments("default")
	testcluster.Eventually(t, 120*time.Second, func() error {
		d, err := deployments.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		return rolledOut(d)
	})

	patch := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"httpd","image":"httpd:2.4.62"}]}}}}`)
	if _, err := deployments.Patch(ctx, "web", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	// Halfway: some new pods exist, the update is not done.
	testcluster.Eventually(t, 60*time.Second, func() error {
		d, err := deployments.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.Status.UpdatedReplicas < 1 {
			return errors.New("the rolling update has not started")
		}
		return nil
	})
	procs[leader].cmd.Process.Signal(syscall.SIGKILL)
	killed := time.Now()

	testcluster.Eventually(t, 90*time.Second, func() error {
		i, err := leaseHolder(ctx, cs, "kube-controller-manager", names)
		if err != nil {
			return err
		}
		if i == leader {
			return errors.New("the killed server still holds the lease")
		}
		return nil
	})
	t.Logf("controllers taken over %v after the kill", time.Since(killed).Round(100*time.Millisecond))

	testcluster.Eventually(t, 180*time.Second, func() error {
		d, err := deployments.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if err := rolledOut(d); err != nil {
			return err
		}
		pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return err
		}
		live := 0
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil {
				live++
			}
		}
		if live != int(replicas) {
			return fmt.Errorf("%d live pods, want %d", live, replicas)
		}
		return nil
	})
	rses, err := cs.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rses.Items) != 2 {
		t.Fatalf("%d ReplicaSets, want 2 (one per template): a ReplicaSet was created twice", len(rses.Items))
	}
	for _, rs := range rses.Items {
		if want := int32(0); rs.Spec.Template.Spec.Containers[0].Image == "httpd:2.4.62" {
			want = replicas
			if *rs.Spec.Replicas != want {
				t.Errorf("new ReplicaSet %s: %d replicas, want %d", rs.Name, *rs.Spec.Replicas, want)
			}
		} else if *rs.Spec.Replicas != want {
			t.Errorf("old ReplicaSet %s: %d replicas, want 0", rs.Name, *rs.Spec.Replicas)
		}
	}
}

// walkthrough reads one of the README walkthrough's files (examples/,
// the apiserver issue's YAML verbatim).
func walkthrough(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestWalkthroughOnSimNodes: the README's walkthrough with the binaries a
// user runs — kelson server, kelson sim, kubectl — reaching 2/2 READY,
// then an image change and `kubectl rollout undo`.
func TestWalkthroughOnSimNodes(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not on the PATH")
	}
	_, kubeconfigs, _ := startServers(t, []string{"w"})
	kc := kubeconfigs[0]
	startProc(t, "sim", "--kubeconfig", kc, "--nodes", "2", "--log-format", "text")
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", kc}, args...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if strings.Contains(strings.Join(args, " "), "-f -") {
			cmd.Stdin = strings.NewReader(walkthrough(t, "httpd_deployment.yaml"))
		}
		if err := cmd.Run(); err != nil {
			t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	run("apply", "-f", "-")
	run("rollout", "status", "deployment/httpd-deployment", "--timeout", "150s")
	if out := run("get", "deployment", "httpd-deployment", "--no-headers"); !strings.Contains(out, "2/2") {
		t.Fatalf("kubectl get deployment: %q, want 2/2 READY", out)
	}
	run("set", "image", "deployment/httpd-deployment", "httpd=httpd:2.4.62")
	run("rollout", "status", "deployment/httpd-deployment", "--timeout", "150s")
	if out := run("rollout", "history", "deployment/httpd-deployment"); !strings.Contains(out, "2 ") {
		t.Fatalf("rollout history: %q, want revisions 1 and 2", out)
	}
	run("rollout", "undo", "deployment/httpd-deployment")
	run("rollout", "status", "deployment/httpd-deployment", "--timeout", "150s")
	if out := run("get", "deployment", "httpd-deployment", "-o", "jsonpath={.spec.template.spec.containers[0].image}"); out != "httpd" {
		t.Fatalf("image after undo: %q, want httpd", out)
	}
	if out := run("get", "pods", "-l", "app=httpd_pod", "--no-headers"); strings.Count(out, "Running") != 2 {
		t.Fatalf("pods after undo:\n%s\nwant 2 Running", out)
	}
}
