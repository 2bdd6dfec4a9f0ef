package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	usagev1alpha1 "github.com/kelson-dev/kelson/api/metrics/v1alpha1"
	"github.com/kelson-dev/kelson/internal/testcluster"
	"github.com/kelson-dev/kelson/sim"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// testKubeconfig is a kubeconfig whose server is never contacted (the
// runner is replaced).
func testKubeconfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	kc := `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "http://127.0.0.1:1"}
users:
- name: u
  user: {}
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
`
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runSimCapture runs `kelson sim ARGS` with a runner that records the
// Config; usage says whether the error is the user's (exit code 2).
func runSimCapture(t *testing.T, args ...string) (cfg sim.Config, err error, usage bool) {
	t.Helper()
	root := newRootCommand(runners{})
	if old, _, ferr := root.Find([]string{"sim"}); ferr == nil && old != nil && old.Name() == "sim" {
		root.RemoveCommand(old)
	} else {
		t.Fatal("kelson has no sim command")
	}
	root.AddCommand(newSimCommand(func(_ context.Context, c sim.Config, _ io.Writer) error {
		cfg = c
		return nil
	}))
	root.SetArgs(append([]string{"sim"}, args...))
	root.SetOut(io.Discard)
	root.SetErr(io.Discard)
	err = root.ExecuteContext(context.Background())
	var ue usageError
	return cfg, err, errors.As(err, &ue)
}

func TestSimDefaults(t *testing.T) {
	cfg, err, _ := runSimCapture(t, "--kubeconfig", testKubeconfig(t))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Client == nil || cfg.Logger == nil || cfg.Nodes != 1 || cfg.NamePrefix != "sim-node" || cfg.CPU.String() != "8" ||
		cfg.Memory.String() != "32Gi" || cfg.Pods != 110 || cfg.LeaseDuration != 40*time.Second || cfg.AssignPodCIDRs || cfg.DeleteNodesOnExit {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestSimFlags(t *testing.T) {
	cfg, err, _ := runSimCapture(t, "--kubeconfig", testKubeconfig(t), "--nodes", "5000", "--name-prefix", "gpu",
		"--cpu", "32", "--memory", "128Gi", "--pods", "250", "--ephemeral-storage", "1Ti",
		"--extended-resources", "nvidia.com/gpu=8", "--labels", "pool=gpu,zone=a", "--labels", "rack=7",
		"--taints", "nvidia.com/gpu=present:NoSchedule", "--taints", "spot:PreferNoSchedule",
		"--lease-duration", "20s", "--node-status-update-frequency", "5s", "--assign-pod-cidrs", "--cluster-cidr", "10.0.0.0/8",
		"--node-cidr-mask-size", "25", "--workers", "64", "--delete-nodes-on-exit")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Nodes != 5000 || cfg.NamePrefix != "gpu" || cfg.CPU.String() != "32" || cfg.Memory.String() != "128Gi" || cfg.Pods != 250 ||
		cfg.EphemeralStorage.String() != "1Ti" || cfg.ExtraResources.Name("nvidia.com/gpu", "").Value() != 8 ||
		cfg.Labels["pool"] != "gpu" || cfg.Labels["zone"] != "a" || cfg.Labels["rack"] != "7" ||
		len(cfg.Taints) != 2 || cfg.Taints[0] != (corev1.Taint{Key: "nvidia.com/gpu", Value: "present", Effect: corev1.TaintEffectNoSchedule}) ||
		cfg.Taints[1] != (corev1.Taint{Key: "spot", Effect: corev1.TaintEffectPreferNoSchedule}) ||
		cfg.LeaseDuration != 20*time.Second || cfg.NodeStatusUpdateFrequency != 5*time.Second || !cfg.AssignPodCIDRs ||
		cfg.ClusterCIDR.String() != "10.0.0.0/8" || cfg.NodeCIDRMaskSize != 25 || cfg.Workers != 64 || !cfg.DeleteNodesOnExit {
		t.Fatalf("config: %+v", cfg)
	}
}

func TestSimUsageErrors(t *testing.T) {
	kc := testKubeconfig(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--cpu", "lots"}, "--cpu"},
		{[]string{"--memory", "-1Gi"}, "--memory"},
		{[]string{"--extended-resources", "x.com/gpu=many"}, "--extended-resources x.com/gpu"},
		{[]string{"--extended-resources", "a/b/c=1"}, "--extended-resources name"},
		{[]string{"--taints", "dedicated=infra"}, "--taints"},
		{[]string{"--taints", "k:Sometimes"}, "effect"},
		{[]string{"--labels", "bad key=v"}, "--labels key"},
		{[]string{"--nodes", "0"}, "--nodes"},
		{[]string{"--pods", "0"}, "--pods"},
		{[]string{"--name-prefix", "Bad_Name"}, "--name-prefix"},
		{[]string{"--lease-duration", "1s"}, "--lease-duration"},
		{[]string{"--node-status-update-frequency", "0s"}, "--node-status-update-frequency"},
		{[]string{"--cluster-cidr", "nope"}, "--cluster-cidr"},
		{[]string{"--assign-pod-cidrs", "--nodes", "300"}, "--cluster-cidr 10.42.0.0/16"},
		{[]string{"--assign-pod-cidrs", "--node-cidr-mask-size", "8"}, "--node-cidr-mask-size"},
		{[]string{"--kubeconfig", filepath.Join(t.TempDir(), "missing")}, "kubeconfig"},
		{[]string{"--no-such-flag"}, "--no-such-flag"},
		{[]string{"extra"}, "no arguments"},
	} {
		args := append([]string{"--kubeconfig", kc}, c.args...)
		_, err, usage := runSimCapture(t, args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v; want an error naming %q", c.args, err, c.want)
			continue
		}
		if !usage && !strings.Contains(c.want, "no-such-flag") {
			t.Errorf("%q: %v is not a usage error", c.args, err)
		}
	}
	// Through execute: exit code 2 and a message.
	var errOut bytes.Buffer
	if code := execute(context.Background(), []string{"sim", "--cpu", "lots"}, io.Discard, &errOut, defaultRunners()); code != 2 ||
		!strings.HasPrefix(errOut.String(), "kelson: --cpu") {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
}

// TestSimCommandRuns: `kelson sim` against a real API prints its summary
// and runs a pod.
func TestSimCommandRuns(t *testing.T) {
	c := testcluster.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- execute(ctx, []string{"sim", "--kubeconfig", c.Kubeconfig, "--nodes", "2", "--name-prefix", "cmd",
			"--assign-pod-cidrs", "--delete-nodes-on-exit", "--log-level", "error"}, &out, io.Discard, defaultRunners())
	}()
	testcluster.Eventually(t, 60*time.Second, func() error {
		if !strings.Contains(out.String(), "kelson sim: 2 nodes registered (cmd-0 ... cmd-1)") {
			return errors.New("no summary yet: " + out.String())
		}
		return nil
	})
	_, err := c.Client.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec:       corev1.PodSpec{NodeName: "cmd-1", Containers: []corev1.Container{{Name: "a", Image: "a"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, 60*time.Second, func() error {
		p, err := c.Client.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.Phase != corev1.PodRunning {
			return errors.New("phase " + string(p.Status.Phase))
		}
		return nil
	})
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d", code)
	}
	nodes, err := c.Client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil || len(nodes.Items) != 0 {
		t.Fatalf("nodes left after --delete-nodes-on-exit: %v %v", nodes, err)
	}
}

// --report-usage: the Config asks for reports with a usage client, and
// `kelson sim` against a real API writes them.
func TestSimReportUsageFlags(t *testing.T) {
	kc := testKubeconfig(t)
	cfg, err, _ := runSimCapture(t, "--kubeconfig", kc)
	if err != nil || cfg.ReportUsage || cfg.UsageClient != nil || cfg.UsageInterval != 15*time.Second {
		t.Fatalf("defaults: %v %v %v (%v)", cfg.ReportUsage, cfg.UsageClient, cfg.UsageInterval, err)
	}
	cfg, err, _ = runSimCapture(t, "--kubeconfig", kc, "--report-usage", "--usage-interval", "2s")
	if err != nil || !cfg.ReportUsage || cfg.UsageClient == nil || cfg.UsageInterval != 2*time.Second {
		t.Fatalf("--report-usage: %v %v %v (%v)", cfg.ReportUsage, cfg.UsageClient, cfg.UsageInterval, err)
	}
	for _, v := range []string{"0s", "5m"} {
		if _, err, usage := runSimCapture(t, "--kubeconfig", kc, "--report-usage", "--usage-interval", v); !usage ||
			!strings.Contains(err.Error(), "--usage-interval "+v) {
			t.Errorf("--usage-interval %s: %v (usage error %v)", v, err, usage)
		}
	}

	c := testcluster.Start(t)
	uc, err := usagev1alpha1.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- execute(ctx, []string{"sim", "--kubeconfig", c.Kubeconfig, "--nodes", "2", "--name-prefix", "top",
			"--report-usage", "--usage-interval", "1s", "--log-level", "error"}, io.Discard, io.Discard, defaultRunners())
	}()
	testcluster.Eventually(t, 60*time.Second, func() error {
		l, err := uc.List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		if len(l.Items) != 2 {
			return fmt.Errorf("%d reports", len(l.Items))
		}
		for _, u := range l.Items {
			if cpu := u.Usage[corev1.ResourceCPU]; cpu.String() != "100m" || len(u.OwnerReferences) != 1 {
				return fmt.Errorf("report %s: usage %v owners %v", u.Name, u.Usage, u.OwnerReferences)
			}
		}
		return nil
	})
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d", code)
	}
}
