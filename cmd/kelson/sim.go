package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	usagev1alpha1 "github.com/kelson-dev/kelson/api/metrics/v1alpha1"
	"github.com/kelson-dev/kelson/sim"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

const simLong = `Run simulated nodes: register --nodes nodes with the API, keep their Leases
(kube-node-lease) and Ready conditions fresh, and make every pod bound to them
go Running and Ready with an IP from the node's pod CIDR — as kubelet reports
them, without running any container. For testing controllers and schedulers
(Kelson's or kube-scheduler) at scale; it speaks only the Kubernetes API.

The nodes are named PREFIX-0 ... PREFIX-(N-1); nodes of those names that exist
are adopted, so a restarted "kelson sim" carries on with its nodes and pods.
A pod stays Pending until its node has a pod CIDR (spec.podCIDRs, set by the
node IPAM controller of "kelson server"), unless --assign-pod-cidrs.

Pod annotations script the containers (durations in seconds, "0.5", or Go
durations, "1m30s"):

  sim.kelson.dev/run-seconds          the containers exit this long after each start
  sim.kelson.dev/exit-code            ... with this code (alone: they exit at once)
  sim.kelson.dev/start-after-seconds  ContainerCreating this long first
  sim.kelson.dev/ready-after-seconds  Ready this long after each start
  sim.kelson.dev/never-ready          "true": running, never Ready
  sim.kelson.dev/termination-seconds  a deleted pod takes this long to stop

After an exit the pod's restartPolicy applies: Never ends it (Succeeded on
code 0, else Failed), OnFailure restarts on a non-zero code, Always restarts;
restarts back off as CrashLoopBackOff (10s doubling to 5m). A pod whose
activeDeadlineSeconds passes fails with DeadlineExceeded. A deleted pod stops
(Failed, exit code 137, unless it had finished) and is removed with grace 0.

With --report-usage every node reports its usage each --usage-interval
(metrics.kelson.dev NodeUsage, served as metrics.k8s.io), so "kubectl top"
and HorizontalPodAutoscalers work: a running container uses what these pod
annotations say (a quantity for every container, or NAME=QUANTITY items,
comma-separated), by default half its request (10m cpu, 32Mi memory without
one); a node uses its pods' sum plus 100m and 256Mi. Edits show at the next
report.

  sim.kelson.dev/cpu-usage            like 200m, or app=200m,sidecar=10m
  sim.kelson.dev/memory-usage         like 128Mi

On Ctrl-C the nodes stop renewing their Leases and go NotReady (the node
lifecycle controller's work), as stopped kubelets do; --delete-nodes-on-exit
deletes them instead.`

const simExample = `  # 100 nodes against a local kelson server
  kelson sim --kubeconfig default.kelson/admin.kubeconfig --nodes 100

  # GPU nodes of a pool, tainted, without a node IPAM controller
  kelson sim --nodes 10 --name-prefix gpu --cpu 32 --memory 128Gi \
    --extended-resources nvidia.com/gpu=8 --labels pool=gpu \
    --taints nvidia.com/gpu=present:NoSchedule --assign-pod-cidrs

  # a pod that fails after 5 s, to test a Job's retries
  kubectl annotate pod my-job-xyz sim.kelson.dev/run-seconds=5 sim.kelson.dev/exit-code=1

  # usage for kubectl top and autoscalers; a pod that asks for more replicas
  kelson sim --nodes 3 --report-usage
  kubectl annotate pod web-7d4b9 sim.kelson.dev/cpu-usage=900m --overwrite`

// simFlags are the flags of `kelson sim`.
type simFlags struct {
	kubeconfig, kubeContext          string
	nodes, pods, workers, maskSize   int
	namePrefix, cpu, memory, storage string
	labels, extended                 map[string]string
	taints                           []string
	leaseDuration                    time.Duration
	statusFrequency                  time.Duration
	assignCIDRs, deleteOnExit        bool
	clusterCIDR                      string
	reportUsage                      bool
	usageInterval                    time.Duration
}

func (s *simFlags) bind(f *pflag.FlagSet) {
	f.StringVar(&s.kubeconfig, "kubeconfig", "", "kubeconfig file of the API (default $KUBECONFIG, then ~/.kube/config)")
	f.StringVar(&s.kubeContext, "context", "", "kubeconfig context to use (default its current context)")
	f.IntVar(&s.nodes, "nodes", 1, "number of nodes to simulate")
	f.StringVar(&s.namePrefix, "name-prefix", sim.DefaultNamePrefix, "node names are PREFIX-0, PREFIX-1, ...")
	f.StringVar(&s.cpu, "cpu", "8", "CPU capacity of each node (a quantity: 8, 500m)")
	f.StringVar(&s.memory, "memory", "32Gi", "memory capacity of each node (a quantity: 32Gi)")
	f.StringVar(&s.storage, "ephemeral-storage", "100Gi", "ephemeral-storage capacity of each node")
	f.IntVar(&s.pods, "pods", sim.DefaultPods, "pod capacity of each node")
	f.StringToStringVar(&s.extended, "extended-resources", nil, "more capacity of each node, NAME=QUANTITY (comma-separated or repeated), like example.com/gpu=4")
	f.StringToStringVar(&s.labels, "labels", nil, "more node labels, KEY=VALUE (comma-separated or repeated)")
	f.StringSliceVar(&s.taints, "taints", nil, "node taints, KEY=VALUE:EFFECT or KEY:EFFECT (comma-separated or repeated)")
	f.DurationVar(&s.leaseDuration, "lease-duration", 40*time.Second, "node Leases' duration; they are renewed every quarter of it")
	f.DurationVar(&s.statusFrequency, "node-status-update-frequency", 10*time.Second, "how often node status is checked and written when changed (written anyway every 5m)")
	f.BoolVar(&s.assignCIDRs, "assign-pod-cidrs", false, "give nodes without a pod CIDR one from --cluster-cidr (when no node IPAM controller runs)")
	f.StringVar(&s.clusterCIDR, "cluster-cidr", "10.42.0.0/16", "pod IP range split into node pod CIDRs (with --assign-pod-cidrs)")
	f.IntVar(&s.maskSize, "node-cidr-mask-size", 24, "prefix length of each node's pod CIDR (with --assign-pod-cidrs)")
	f.IntVar(&s.workers, "workers", 32, "concurrent pod writes (node writes have their own 64)")
	f.BoolVar(&s.deleteOnExit, "delete-nodes-on-exit", false, "delete the nodes and their Leases on exit (default: leave them to go NotReady)")
	f.BoolVar(&s.reportUsage, "report-usage", false, "report each node's and pod's usage (for kubectl top and HorizontalPodAutoscalers), from the pods' sim.kelson.dev/cpu-usage and memory-usage annotations or half their requests")
	f.DurationVar(&s.usageInterval, "usage-interval", sim.DefaultUsageInterval, "how often each node reports its usage (with --report-usage), up to 1m")
}

// simRun runs a simulator; tests replace it.
type simRun func(ctx context.Context, cfg sim.Config, out io.Writer) error

// newSimCommand is `kelson sim`: flags -> sim.Config -> run.
func newSimCommand(run simRun) *cobra.Command {
	var (
		sf   simFlags
		proc processFlags
	)
	cmd := &cobra.Command{
		Use:     "sim [flags]",
		Short:   "Run simulated nodes whose pods go Running without containers (for tests and scale benchmarks)",
		Long:    simLong,
		Example: simExample,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("kelson sim takes no arguments, got %q (flags are --flag value or --flag=value)", args)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := sf.config()
			if err != nil {
				return err
			}
			if err = sf.clients(&cfg); err != nil {
				return err
			}
			log, stop, err := proc.start(cmd.ErrOrStderr(), nil) // no member: the profiler alone
			if err != nil {
				return err
			}
			defer stop()
			cfg.Logger = log
			return run(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	sf.bind(f)
	proc.bind(f)
	return cmd
}

// config checks the flags and builds the sim.Config (without its client).
func (s *simFlags) config() (sim.Config, error) {
	cfg := sim.Config{
		Nodes:                     s.nodes,
		NamePrefix:                s.namePrefix,
		Pods:                      s.pods,
		Labels:                    s.labels,
		LeaseDuration:             s.leaseDuration,
		NodeStatusUpdateFrequency: s.statusFrequency,
		AssignPodCIDRs:            s.assignCIDRs,
		NodeCIDRMaskSize:          s.maskSize,
		Workers:                   s.workers,
		DeleteNodesOnExit:         s.deleteOnExit,
		ReportUsage:               s.reportUsage,
		UsageInterval:             s.usageInterval,
	}
	if s.nodes < 1 {
		return cfg, usagef("--nodes %d: want at least 1", s.nodes)
	}
	if s.pods < 1 {
		return cfg, usagef("--pods %d: want at least 1", s.pods)
	}
	if s.workers < 1 {
		return cfg, usagef("--workers %d: want at least 1", s.workers)
	}
	if s.leaseDuration < 4*time.Second {
		return cfg, usagef("--lease-duration %v: want at least 4s (it is renewed every quarter of it)", s.leaseDuration)
	}
	if s.statusFrequency <= 0 || s.statusFrequency > 5*time.Minute {
		return cfg, usagef("--node-status-update-frequency %v: want a positive duration up to 5m", s.statusFrequency)
	}
	if s.usageInterval <= 0 || s.usageInterval > time.Minute {
		return cfg, usagef("--usage-interval %v: want a positive duration up to 1m (the API ignores reports older than 2m)", s.usageInterval)
	}
	var err error
	for _, q := range []struct {
		flag, v string
		dst     *resource.Quantity
	}{{"--cpu", s.cpu, &cfg.CPU}, {"--memory", s.memory, &cfg.Memory}, {"--ephemeral-storage", s.storage, &cfg.EphemeralStorage}} {
		if *q.dst, err = parsePositiveQuantity(q.flag, q.v); err != nil {
			return cfg, err
		}
	}
	for name, v := range s.extended {
		q, err := parsePositiveQuantity("--extended-resources "+name, v)
		if err != nil {
			return cfg, err
		}
		if cfg.ExtraResources == nil {
			cfg.ExtraResources = corev1.ResourceList{}
		}
		cfg.ExtraResources[corev1.ResourceName(name)] = q
	}
	for _, t := range s.taints {
		taint, err := sim.ParseTaint(t)
		if err != nil {
			return cfg, usagef("--taints: %v", err)
		}
		cfg.Taints = append(cfg.Taints, taint)
	}
	p, err := netip.ParsePrefix(strings.TrimSpace(s.clusterCIDR))
	if err != nil {
		return cfg, usagef("--cluster-cidr %q: want an IP range in CIDR notation, like 10.42.0.0/16", s.clusterCIDR)
	}
	cfg.ClusterCIDR = p
	// The rest (names, labels, CIDR sizes) is the library's to check.
	if err := cfg.Validate(); err != nil {
		msg := strings.TrimPrefix(err.Error(), sim.ErrBadConfig.Error()+": ")
		return cfg, usagef("%s", flagNames(msg))
	}
	return cfg, nil
}

// flagNames words a sim.Config error in the command's flag names.
func flagNames(msg string) string {
	return strings.NewReplacer("name prefix", "--name-prefix", "label key", "--labels key", "label ", "--labels ",
		"cluster CIDR", "--cluster-cidr", "node CIDR mask size", "--node-cidr-mask-size", "resource name", "--extended-resources name",
		"UsageInterval", "--usage-interval").Replace(msg)
}

func parsePositiveQuantity(flag, v string) (resource.Quantity, error) {
	q, err := resource.ParseQuantity(strings.TrimSpace(v))
	if err != nil || q.Sign() <= 0 {
		return resource.Quantity{}, usagef("%s %q: want a positive quantity, like 8, 500m or 32Gi", flag, v)
	}
	return q, nil
}

// clients sets cfg's API clients (Client, and UsageClient with
// ReportUsage) from the kubeconfig: --kubeconfig, else $KUBECONFIG, else
// ~/.kube/config; no client-side rate limit.
func (s *simFlags) clients(cfg *sim.Config) error {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = s.kubeconfig
	kc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: s.kubeContext})
	rc, err := kc.ClientConfig()
	if err != nil {
		where := s.kubeconfig
		if where == "" {
			where = "$KUBECONFIG or ~/.kube/config"
		}
		return usagef("kubeconfig %s: %v; point --kubeconfig at the file a kelson server writes (DATA_DIR/admin.kubeconfig)", where, err)
	}
	rc = simRESTConfig(rc)
	// Protobuf both ways for the built-in kinds (the usage reports are
	// JSON-only: their client keeps rc's JSON).
	pc := rest.CopyConfig(rc)
	pc.ContentType = "application/vnd.kubernetes.protobuf"
	pc.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	if cfg.Client, err = kubernetes.NewForConfig(pc); err != nil {
		return err
	}
	if cfg.ReportUsage {
		if cfg.UsageClient, err = usagev1alpha1.NewForConfig(rc); err != nil {
			return err
		}
	}
	return nil
}

// simRESTConfig is rc without a client-side rate limit, as kelson-sim.
func simRESTConfig(rc *rest.Config) *rest.Config {
	rc = rest.CopyConfig(rc)
	rc.QPS, rc.Burst = -1, 0
	rc.UserAgent = "kelson-sim"
	return rc
}

// runSim checks that the API answers, runs the simulator, and prints a
// line when the nodes are registered.
func runSim(ctx context.Context, cfg sim.Config, out io.Writer) error {
	if _, err := cfg.Client.Discovery().ServerVersion(); err != nil {
		return fmt.Errorf("the API does not answer: %w: is the server running, and is the kubeconfig right?", err)
	}
	s, err := sim.New(cfg)
	if err != nil {
		return usageError{err}
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-s.Registered():
		names := s.NodeNames()
		span := names[0]
		if len(names) > 1 {
			span += " ... " + names[len(names)-1]
		}
		fmt.Fprintf(out, "kelson sim: %d nodes registered (%s) in %v; pods bound to them will run. Ctrl-C to stop.\n",
			len(names), span, time.Since(start).Round(time.Millisecond))
	case err := <-done:
		return err
	}
	err = <-done
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
