package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"syscall"
	"time"

	"github.com/kelson-dev/kelson/bench"
	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/controllers/scheduler"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// The cluster workloads: the controllers and the scheduler measured through
// the API, with simulated nodes registered by the run itself.

func bindClusterFlags(f *pflag.FlagSet, c *bench.ClusterCommon, defNodes string) {
	f.StringVar(&c.Kubeconfig, "kubeconfig", "", "kubeconfig naming the API server and credentials (default $KUBECONFIG)")
	f.StringVar(&c.Namespace, "namespace", "", "namespace of the workload, created if missing and deleted at the end")
	f.BoolVar(&c.Keep, "keep", false, "keep the namespace, its objects and the simulated nodes at the end")
	f.IntVar(&c.Nodes, "nodes", 0, "simulated nodes registered by this run before it measures (default "+defNodes+")")
	f.StringVar(&c.NodePrefix, "node-prefix", "", `names of the simulated nodes: PREFIX-0, PREFIX-1, ... (default "bench-node")`)
	f.BoolVar(&c.External, "external-nodes", false, "register no node: use the nodes the cluster has (a `kelson sim`, real agents)")
}

// clusterCommon applies the shared bench flags: --clients and a progress bar.
func (o *benchOptions) clusterCommon(cmd *cobra.Command, c bench.ClusterCommon) bench.ClusterCommon {
	c.Clients = o.common.Clients
	if o.progress && isTerminal(cmd.ErrOrStderr()) {
		c.Progress = bench.NewProgressBar(cmd.ErrOrStderr())
	}
	return c
}

func benchSchedulerCommand(o *benchOptions) *cobra.Command {
	var c bench.SchedulerConfig
	var startScheduler string
	cmd := &cobra.Command{
		Use:   "scheduler",
		Short: "Pods scheduled per second onto simulated nodes, through the API",
		Long: `Register --nodes simulated nodes (8 CPUs, 32Gi, 110 pods each), then create
--pods pods (100m CPU, 128Mi requested) from --clients clients and measure,
from the first create to the last binding seen through a watch, how fast the
cluster's scheduler places them: the real path (API writes, the scheduler's
informers, its decisions, pods/binding, the watch back). The scheduler is
whichever runs against the API server: kelson server's own, or kube-scheduler
beside a "kelson server --disable scheduler".

Nodes need pod CIDRs only for the pods to start, not to be scheduled; with
thousands of nodes give the server a --cluster-cidr wide enough (a /10 holds
16,384 nodes' /24s).`,
		Example: `  kelson bench scheduler --kubeconfig default.kelson/admin.kubeconfig --nodes 5000 --pods 10000 --clients 64`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c.ClusterCommon = o.clusterCommon(cmd, c.ClusterCommon)
			c.StartScheduler = startSchedulerFunc(startScheduler, c.Kubeconfig)
			res, err := bench.RunScheduler(cmd.Context(), c)
			if err != nil {
				return err
			}
			if o.jsonOut {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			printSchedulerResult(cmd.OutOrStdout(), res)
			return nil
		},
	}
	f := cmd.Flags()
	bindClusterFlags(f, &c.ClusterCommon, "5000")
	f.IntVar(&c.Pods, "pods", 0, "pods to schedule (default 10000)")
	f.DurationVar(&c.Stall, "stall", 0, "fail when no pod was bound for this long (default 1m)")
	f.StringVar(&startScheduler, "start-scheduler", "", `create every pod first, then start a scheduler and measure it alone: "kelson" (Kelson's, in this process) or a shell command (kube-scheduler ...); the server must run none (--disable scheduler)`)
	return cmd
}

func benchDeployCommand(o *benchOptions) *cobra.Command {
	var c bench.DeployConfig
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "A Deployment's pods from create to Ready, then a full rolling update",
		Long: `Register --nodes simulated nodes, create one Deployment of --replicas pods and
measure the time until all of them are Ready (what "kubectl rollout status"
waits for), then change its image and measure the rolling update until every
replica is updated, ready and available and no old one is left. The
controllers, the scheduler and the API are measured together.`,
		Example: `  kelson bench deploy --kubeconfig default.kelson/admin.kubeconfig --nodes 100 --replicas 1000`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c.ClusterCommon = o.clusterCommon(cmd, c.ClusterCommon)
			res, err := bench.RunDeploy(cmd.Context(), c)
			if err != nil {
				return err
			}
			if o.jsonOut {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deployment of %d replicas on %d nodes\n  create → all Ready:      %v\n  rolling update → done:   %v\n",
				c.Replicas, res.Nodes, res.Ready.Round(time.Millisecond), res.Rollout.Round(time.Millisecond))
			return nil
		},
	}
	f := cmd.Flags()
	bindClusterFlags(f, &c.ClusterCommon, "100")
	f.IntVar(&c.Replicas, "replicas", 0, "replicas of the Deployment (default 1000)")
	f.DurationVar(&c.Timeout, "timeout", 0, "bound of each phase (default 10m)")
	return cmd
}

func printSchedulerResult(w io.Writer, r *bench.SchedulerResult) {
	fmt.Fprintf(w, "Scheduled %d pods onto %d Ready nodes (%d used, at most %d on one)\n", r.Config.Pods, r.Nodes, r.NodesUsed, r.MaxPerNode)
	fmt.Fprintf(w, "  creates:     %v (%.0f pods/s)\n", r.Create.Round(time.Millisecond), float64(r.Config.Pods)/r.Create.Seconds())
	from := "the first create"
	if r.Config.Precreated {
		from = "the scheduler's start (pods created before)"
	}
	fmt.Fprintf(w, "  scheduling:  %v from %s to the last binding: %.0f pods/s\n", r.Schedule.Round(time.Millisecond), from, r.PodsPerSecond)
	fmt.Fprintf(w, "  create → bound latency: %s\n", r.Latency)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// startSchedulerFunc turns --start-scheduler into the bench's hook:
// "kelson" runs Kelson's scheduler in this process (through the API, as
// the server would); anything else is a shell command started once the
// pods exist and killed at the end (e.g. a kube-scheduler).
func startSchedulerFunc(spec, kubeconfig string) func(ctx context.Context) (func(), error) {
	if spec == "" {
		return nil
	}
	return func(ctx context.Context) (func(), error) {
		ctx, cancel := context.WithCancel(ctx)
		if spec == "kelson" {
			rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				cancel()
				return nil, err
			}
			rc.QPS, rc.Burst = -1, 0
			rc.ContentType = "application/vnd.kubernetes.protobuf"
			rc.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
			cs, err := kubernetes.NewForConfig(rc)
			if err != nil {
				cancel()
				return nil, err
			}
			cctx := controllers.NewContext(cs, "default-scheduler", slog.New(slog.DiscardHandler))
			s := scheduler.New(cctx)
			cctx.Start(ctx)
			done := make(chan struct{})
			go func() { defer close(done); s.Run(ctx) }()
			return func() { cancel(); <-done; cctx.Close() }, nil
		}
		// Its own process group, so that stopping it stops what the shell
		// started too; output to /dev/null (a pipe held by a child would
		// keep Wait waiting).
		cmd := exec.CommandContext(ctx, "sh", "-c", spec)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		cmd.WaitDelay = 10 * time.Second
		if err := cmd.Start(); err != nil {
			cancel()
			return nil, err
		}
		return func() { cancel(); cmd.Wait() }, nil
	}
}
