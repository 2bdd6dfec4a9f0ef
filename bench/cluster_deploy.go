package bench

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// DeployConfig is `kelson bench deploy`: one Deployment of Replicas pods
// onto Nodes simulated nodes — from its create to every pod Ready, then a
// rolling update of its image to every new pod Ready and the old ones gone.
// It measures the controllers, the scheduler and the API together.
type DeployConfig struct {
	ClusterCommon
	// Replicas of the Deployment [--replicas]; default 1,000.
	Replicas int `json:"replicas"`
	// Timeout bounds each phase [--timeout]; default 10m.
	Timeout time.Duration `json:"timeout"`
}

// DeployResult is one run's figures.
type DeployResult struct {
	Config DeployConfig `json:"config"`
	Nodes  int          `json:"nodes"`
	// Ready: from the create to status.readyReplicas = Replicas.
	Ready time.Duration `json:"ready_ns"`
	// Rollout: from the image change to every replica updated, ready and
	// available, and no old one left.
	Rollout time.Duration `json:"rollout_ns"`
}

// RunDeploy runs the deploy workload.
func RunDeploy(ctx context.Context, cfg DeployConfig) (*DeployResult, error) {
	cfg.ClusterCommon = cfg.ClusterCommon.withDefaults("kelson-bench-deploy", 100)
	if cfg.Replicas == 0 {
		cfg.Replicas = 1000
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Minute
	}
	if cfg.Replicas < 0 || cfg.Nodes < 0 {
		return nil, fmt.Errorf("%w: --replicas and --nodes must not be negative", ErrBadConfig)
	}
	cs, err := clusterClient(cfg.ClusterCommon)
	if err != nil {
		return nil, err
	}
	if err := ensureNamespace(ctx, cs, cfg.Namespace); err != nil {
		return nil, err
	}
	defer cleanupCluster(cfg.ClusterCommon, cs, "deploy")
	stopNodes, err := startNodes(ctx, cfg.ClusterCommon, cs)
	if err != nil {
		return nil, err
	}
	defer stopNodes()
	nodes, err := readyNodes(ctx, cs)
	if err != nil {
		return nil, err
	}
	if nodes == 0 {
		return nil, fmt.Errorf("bench: no Ready node: give --nodes, or start `kelson sim` with --external-nodes")
	}

	replicas := int32(cfg.Replicas)
	labels := map[string]string{"app": "bench-deploy", schedBenchLabel: "deploy"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "bench", Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: podTemplate(labels, "registry.k8s.io/pause:3.10"),
		},
	}
	res := &DeployResult{Config: cfg, Nodes: nodes}
	start := time.Now()
	created, err := cs.AppsV1().Deployments(cfg.Namespace).Create(ctx, d, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("bench: create the deployment: %w", err)
	}
	if err := waitRollout(ctx, cs, cfg, created.Generation, "ready", cfg.Progress); err != nil {
		return nil, err
	}
	res.Ready = time.Since(start)

	start = time.Now()
	patch := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"registry.k8s.io/pause:3.10.1"}]}}}}`)
	updated, err := cs.AppsV1().Deployments(cfg.Namespace).Patch(ctx, "bench", types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return nil, fmt.Errorf("bench: change the image: %w", err)
	}
	if err := waitRollout(ctx, cs, cfg, updated.Generation, "rollout", cfg.Progress); err != nil {
		return nil, err
	}
	res.Rollout = time.Since(start)
	if cfg.Progress != nil {
		cfg.Progress.Finish()
	}
	return res, nil
}

// waitRollout watches the deployment until its status reports generation
// observed and every replica updated, ready and available, with no other
// replica left — what `kubectl rollout status` waits for.
func waitRollout(ctx context.Context, cs kubernetes.Interface, cfg DeployConfig, generation int64, phase string, p Progress) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	want := int32(cfg.Replicas)
	for {
		w, err := cs.AppsV1().Deployments(cfg.Namespace).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=bench"})
		if err != nil {
			return fmt.Errorf("bench: watch the deployment: %w", err)
		}
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error {
				w.Stop()
				return fmt.Errorf("bench: deployment watch: %v", apierrors.FromObject(ev.Object))
			}
			d, ok := ev.Object.(*appsv1.Deployment)
			if !ok {
				continue
			}
			s := d.Status
			if p != nil {
				p.Update(phase, int64(min(s.UpdatedReplicas, s.ReadyReplicas)), int64(want))
			}
			if s.ObservedGeneration >= generation && s.UpdatedReplicas == want && s.ReadyReplicas == want &&
				s.AvailableReplicas == want && s.Replicas == want {
				w.Stop()
				return nil
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("bench: the deployment's %s phase did not finish within %v (is the controller manager running?)", phase, cfg.Timeout)
		}
	}
}
