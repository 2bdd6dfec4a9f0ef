package main

import (
	"errors"
	"log/slog"

	"github.com/kelson-dev/kelson/bench"
	"github.com/spf13/cobra"
)

const benchPodsLong = `Measure real pods on one real node of this machine: a "kelson server
--disable-agent" and a "kelson agent" (its own containerd, runc) started by the
run inside network namespaces it makes — a node namespace linked by a veth to a
"LAN" namespace — so that nothing touches the host's network; the bench reaches
the API and the Services through sockets opened inside the node namespace. The
image (busybox httpd standing in for docker.io/library/httpd:latest, built
from busybox-static) is imported offline: image pulls are not measured.

  one pod at a time  --pods pods, each created once the one before is gone:
                     create → Running, create → Ready, delete → gone
  ClusterIP rules    --service-rounds pods behind one ClusterIP Service, one
                     at a time: from the pod seen Ready (and from its address
                     seen ready in the EndpointSlice) to the ClusterIP
                     answering from it, polled from the node every --poll
  pods at once       --burst pods created together (--clients creators):
                     create → Running and → Ready of each, first create → all
                     Ready
  memory             with the burst's pods running: the agent's RSS (VmRSS),
                     its containerd's, the per-container processes (containerd
                     shims, container log drivers: Pss from smaps_rollup),
                     and the server's

Latencies run from just before the create request to the receipt of the
watch event. The pods have no readiness probe (Ready = container started).
Everything the run made is removed at the end: pods, processes, mounts, the
work directory, the namespaces.

It needs root, containerd, runc and busybox-static; without them it exits 2
and says which is missing. The shared flags --json and --clients apply.`

const benchPodsExample = `  sudo kelson bench pods
  sudo kelson bench pods --pods 5 --burst 10 --service-rounds 3 --json`

func benchPodsCommand(o *benchOptions) *cobra.Command {
	var c bench.PodsConfig
	var verbose bool
	cmd := &cobra.Command{
		Use:     "pods",
		Short:   "Real pods on one node of this machine: create → Ready, Service rule updates, agent memory",
		Long:    benchPodsLong,
		Example: benchPodsExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c.Clients = o.common.Clients
			if o.progress && isTerminal(cmd.ErrOrStderr()) {
				c.Progress = bench.NewProgressBar(cmd.ErrOrStderr())
			}
			if verbose {
				c.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
				if c.ChildLogLevel == "" {
					c.ChildLogLevel = "info"
				}
			}
			res, err := bench.RunPods(cmd.Context(), c)
			if errors.Is(err, bench.ErrBadConfig) || errors.Is(err, bench.ErrPodsUnavailable) {
				return usageError{err}
			}
			if err != nil {
				return err
			}
			if o.jsonOut {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			return bench.WritePodsText(cmd.OutOrStdout(), res)
		},
	}
	f := cmd.Flags()
	f.IntVar(&c.Pods, "pods", 0, "pods created one at a time (default 20; negative: none)")
	f.IntVar(&c.Burst, "burst", 0, "pods created at once, then kept for the memory figures (default 30; negative: none)")
	f.IntVar(&c.ServiceRounds, "service-rounds", 0, "endpoint changes of the ClusterIP Service measured (default 10; negative: none)")
	f.DurationVar(&c.Timeout, "timeout", 0, "longest wait for a pod to be Ready or gone, or for the ClusterIP to answer (default 2m)")
	f.DurationVar(&c.PollInterval, "poll", 0, "pause between two requests to the ClusterIP (default 5ms)")
	f.StringVar(&c.Binary, "kelson", "", "the kelson binary run as server, agent and image import (default this one)")
	f.StringVar(&c.WorkDir, "work-dir", "", "where the run's directory is made and removed at the end (default /tmp; keep it short: containerd's socket lives below it)")
	f.StringVar(&c.LogDir, "log-dir", "", "keep the server's and the agent's logs (server.log, agent.log) in this directory")
	f.StringVar(&c.ChildLogLevel, "child-log-level", "", "--log-level of the server and the agent, whose logs --log-dir keeps (default warn; info with --verbose)")
	f.BoolVar(&verbose, "verbose", false, "log the run's steps on stderr, and the server's and agent's at level info (in --log-dir)")
	return cmd
}
