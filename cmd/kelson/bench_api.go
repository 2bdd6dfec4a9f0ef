package main

import (
	"github.com/kelson-dev/kelson/bench"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

const benchAPILong = `Benchmark a Kubernetes API server — "kelson server" or kube-apiserver —
through client-go's typed clients (protobuf by default, --content-type json to
switch). Each subcommand is one workload on the pods of one namespace
(--namespace, created if missing, with its "default" service account;
deleted at the end with the pods the run made unless --keep):

  create  each request creates a pod (~1.5 KB: labels, one container with
          resources, env, ports and a probe)
  get     --objects pods preloaded, then gets of them by name, at random
  list    --objects pods preloaded, then lists of the whole namespace
          (--resource-version "" for a consistent list, "0" for any state;
          --raw leaves the answers undecoded)
  watch   --watchers watches over --watch-conns connections, then --writes
          writes (creates, then updates); delivery latency per event and a
          check that every watcher got every event once, in order
  mix     --objects pods preloaded, then create/update (get+update; 409s
          counted as update_conflicts)/get/list (label selector)/delete by
          --mix, with --watchers in the background (their latency: kind watch)

The shared flags of "kelson bench" apply where they make sense: --clients,
--conns (HTTP connections the clients share), --seed, --dial-timeout, --json,
--out; --endpoints and --target-leader do not (the kubeconfig names the
server). Preloading is not measured. With --server-pid the report adds the
server process's RSS before and after the measured phase and its CPU time
per request, read from /proc.`

const benchAPIExample = `  # 10,000 pod creates from 100 clients over 10 connections, with the server's CPU/RSS
  kelson bench api create --kubeconfig k.yaml --clients 100 --conns 10 --total 10000 --server-pid 1234

  # lists of 10,000 pods, consistent reads
  kelson bench api list --objects 10000 --total 50 --resource-version ""

  # 1000 watchers over 10 connections, 200 writes
  kelson bench api watch --watchers 1000 --watch-conns 10 --writes 200 --clients 10`

// apiOptions are the flags of every "bench api" workload.
type apiOptions struct {
	bench  *benchOptions
	common bench.APICommon
}

func benchAPICommand(o *benchOptions) *cobra.Command {
	a := &apiOptions{bench: o}
	cmd := &cobra.Command{
		Use:     "api <workload> [flags]",
		Short:   "Benchmark a Kubernetes API server (kelson server or kube-apiserver)",
		Long:    benchAPILong,
		Example: benchAPIExample,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown workload %q for \"kelson bench api\"; see kelson bench api --help", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	f := cmd.PersistentFlags()
	f.SortFlags = false
	f.StringVar(&a.common.Kubeconfig, "kubeconfig", "", "kubeconfig naming the API server and credentials (default $KUBECONFIG)")
	f.StringVar(&a.common.Namespace, "namespace", "", "namespace of the pods, created if missing (default kelson-bench)")
	f.BoolVar(&a.common.Keep, "keep", false, "keep the namespace and the pods at the end")
	f.StringVar(&a.common.ContentType, "content-type", "", "protobuf or json (default protobuf)")
	f.IntSliceVar(&a.common.ServerPIDs, "server-pid", nil, "PIDs of the API server's processes (comma-separated): report their summed RSS and CPU time per request (from /proc)")
	f.IntVar(&a.common.PreloadClients, "preload-clients", 0, "concurrent clients creating the preloaded pods (default 32)")
	cmd.AddCommand(a.createCommand(), a.getCommand(), a.listCommand(), a.watchCommand(), a.mixCommand())
	return cmd
}

// commonFor returns the API settings with the shared bench flags applied.
func (a *apiOptions) commonFor(cmd *cobra.Command, rate float64) (bench.APICommon, error) {
	for _, name := range []string{"endpoints", "target-leader"} {
		if fl := cmd.Flags().Lookup(name); fl != nil && fl.Changed {
			return bench.APICommon{}, usagef("--%s does not apply to \"kelson bench api\": the kubeconfig names the API server", name)
		}
	}
	bc := a.bench.commonFor(cmd, rate)
	c := a.common
	c.Conns, c.Clients, c.Rate, c.Seed, c.Progress = bc.Conns, bc.Clients, bc.Rate, bc.Seed, bc.Progress
	c.DialTimeout = bc.DialTimeout
	return c, nil
}

func addAPILoadFlags(f *pflag.FlagSet, total *int64, rate *float64, noun, def string) {
	f.Int64Var(total, "total", 0, "number of "+noun+" (default "+def+")")
	f.Float64Var(rate, "rate", 0, noun+" per second over all clients (0: no limit)")
}

func (a *apiOptions) createCommand() *cobra.Command {
	var c bench.APICreateConfig
	var rate float64
	var cmd *cobra.Command
	cmd = benchSub(a.bench, "create", "Create pods", "Each request creates a new pod (~1.5 KB) in the namespace.", 0,
		func([]string) (bench.Workload, error) {
			var err error
			c.APICommon, err = a.commonFor(cmd, rate)
			return c, err
		})
	addAPILoadFlags(cmd.Flags(), &c.Total, &rate, "creates", "10000")
	return cmd
}

func (a *apiOptions) getCommand() *cobra.Command {
	var c bench.APIGetConfig
	var rate float64
	var cmd *cobra.Command
	cmd = benchSub(a.bench, "get", "Get pods by name", "--objects pods are preloaded (not measured); each request gets one of them by name, at random.", 0,
		func([]string) (bench.Workload, error) {
			var err error
			c.APICommon, err = a.commonFor(cmd, rate)
			return c, err
		})
	f := cmd.Flags()
	addAPILoadFlags(f, &c.Total, &rate, "gets", "10000")
	f.IntVar(&c.Objects, "objects", 0, "pods preloaded (default 1000)")
	return cmd
}

func (a *apiOptions) listCommand() *cobra.Command {
	var c bench.APIListConfig
	var rate float64
	var cmd *cobra.Command
	cmd = benchSub(a.bench, "list", "List every pod of the namespace",
		`--objects pods are preloaded (not measured); each request lists every pod of
the namespace in one answer (no limit): the latency is the full list's.`, 0,
		func([]string) (bench.Workload, error) {
			var err error
			c.APICommon, err = a.commonFor(cmd, rate)
			return c, err
		})
	f := cmd.Flags()
	addAPILoadFlags(f, &c.Total, &rate, "lists", "100")
	f.IntVar(&c.Objects, "objects", 0, "pods preloaded (default 1000)")
	f.StringVar(&c.ResourceVersion, "resource-version", "", `resourceVersion of the lists: "" consistent (from the watch cache once current), "0" any state`)
	f.BoolVar(&c.Raw, "raw", false, "read the answers' bytes without decoding them: the latency without the client's decoding")
	return cmd
}

func (a *apiOptions) watchCommand() *cobra.Command {
	var c bench.APIWatchConfig
	var rate float64
	var cmd *cobra.Command
	cmd = benchSub(a.bench, "watch", "Watch fan-out: many watchers on the namespace's pods",
		`--watchers watches of the namespace's pods over --watch-conns connections;
then --writes writes by --clients clients at --rate per second: the first
half create pods, the second half update them. Reports each event's delivery
latency (from just before its write was sent to its receipt) and checks that
every watcher received every write's event exactly once, in resourceVersion
order.`, 0,
		func([]string) (bench.Workload, error) {
			var err error
			c.APICommon, err = a.commonFor(cmd, rate)
			return c, err
		})
	f := cmd.Flags()
	f.IntVar(&c.Watchers, "watchers", 0, "watches of the namespace's pods (default 1000)")
	f.IntVar(&c.WatchConns, "watch-conns", 0, "connections the watchers share (default 10)")
	f.Int64Var(&c.Writes, "writes", 0, "writes: creates, then updates of the created pods (default 100)")
	f.Float64Var(&rate, "rate", 0, "writes per second (0: no limit)")
	f.DurationVar(&c.DrainTimeout, "drain-timeout", 0, "how long to wait after the last write for every event (default 30s)")
	return cmd
}

func (a *apiOptions) mixCommand() *cobra.Command {
	var c bench.APIMixConfig
	var mix string
	var rate float64
	var cmd *cobra.Command
	cmd = benchSub(a.bench, "mix", "A Kubernetes-like mix of requests, with watchers",
		`--objects pods are preloaded (not measured); then --total requests drawn by
--mix: create a pod; update a live one (get, change a label, update; a 409
Conflict is counted as update_conflicts, not an error); get one; list the
pods of one app label (a tenth); delete one. A pod deleted under a get,
update or delete is counted as not_found, not an error. --watchers watch the
namespace meanwhile; their delivery latency is the kind "watch".`, 0,
		func([]string) (bench.Workload, error) {
			var err error
			if c.Mix, err = bench.ParseAPIMix(mix); err != nil {
				return nil, usageError{err}
			}
			c.APICommon, err = a.commonFor(cmd, rate)
			return c, err
		})
	f := cmd.Flags()
	addAPILoadFlags(f, &c.Total, &rate, "requests", "10000")
	f.IntVar(&c.Objects, "objects", 0, "pods preloaded (default 1000)")
	f.StringVar(&mix, "mix", "", "relative weights of the request kinds (default create=10,update=30,get=40,list=15,delete=5)")
	f.IntVar(&c.Watchers, "watchers", 0, "watchers in the background (default 10; -1: none)")
	f.StringVar(&c.ResourceVersion, "resource-version", "", `resourceVersion of the lists: "" consistent, "0" any state`)
	return cmd
}
