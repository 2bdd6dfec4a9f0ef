package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	clog "github.com/containerd/log"
	"github.com/kelson-dev/kelson/internal/pki"
	"github.com/kelson-dev/kelson/nodeagent"
	"github.com/kelson-dev/kelson/nodeagent/node"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/tools/clientcmd"
)

const agentLong = `Run a node agent: Kelson's kubelet and kube-proxy. It registers this machine
as a Node, runs the pods the scheduler binds to it through containerd (its own
containerd child process unless --containerd-address), gives each pod a network
namespace on the node's bridge with an IP from the node's pod CIDR, routes to
the other nodes' pods through their node IPs, serves the pods' logs and exec on
--agent-port, programs Services with nftables and answers cluster DNS.

"kelson server" runs an agent itself unless --disable-agent; "kelson agent"
joins another machine to a server with a token: the server's DATA_DIR/token,
or a bootstrap token from "kelson token create". The agent checks the
server's CA against the hash the token carries, makes two keys under
DATA_DIR/tls and gets them signed by the server: a client certificate (the
agent is the user system:node:<node name> in the API) and a serving
certificate for its port. It then talks to the API with its certificate
only; a restart reuses the certificates (--token may then be left out), and
they are renewed when a third of their year is left (checked hourly; the
running agent uses the new ones without a restart); certificates that are
missing or expired are got again with the token.

The agent's state lives in --data-dir: containerd's root and state, the pods'
network namespaces and IP allocations, volumes and container logs. A restarted
agent adopts the pods that still run. It needs root, containerd and runc.`

const agentExample = `  # join the server at 192.168.1.10
  kelson agent --server https://192.168.1.10:6443 --token "$(ssh 192.168.1.10 cat default.kelson/token)"

  # with a kubeconfig instead of a token, and an existing containerd
  kelson agent --kubeconfig admin.kubeconfig --containerd-address /run/containerd/containerd.sock`

// agentFlags are the agent's flags; `kelson server` binds all but the
// API's (withAPI false) for the agent it runs.
type agentFlags struct {
	server, token, kubeconfig, dataDir string
	nodeName, containerdAddress        string
	nodeIPs, labels, taints            []string
	port                               int
	clusterCIDR, serviceCIDR           string
	clusterDNS, clusterDomain          string
	resolvConf                         string
}

func (a *agentFlags) bind(f *pflag.FlagSet, withAPI bool) {
	if withAPI {
		f.StringVar(&a.server, "server", "", "URL of a kelson server's API, like https://192.168.1.10:6443 (with --token)")
		f.StringVar(&a.token, "token", "", "join token: the server's DATA_DIR/token or one from kelson token create; $KELSON_TOKEN when unset (not needed once the node has its certificates)")
		f.StringVar(&a.kubeconfig, "kubeconfig", "", "kubeconfig file of the API, instead of --server and --token")
		f.StringVar(&a.dataDir, "data-dir", "agent.kelson", "directory of the agent's state: its certificates (DATA_DIR/tls), containerd, pod networks, volumes, logs")
		f.StringVar(&a.clusterCIDR, "cluster-cidr", "10.42.0.0/16", "the server's --cluster-cidr (pod addresses)")
		f.StringVar(&a.serviceCIDR, "service-cidr", "10.43.0.0/16", "the server's --service-cidr (Service ClusterIPs)")
	}
	f.StringVar(&a.nodeName, "node-name", "", "name of this machine's Node (default the host name)")
	f.StringSliceVar(&a.nodeIPs, "node-ip", nil, "the node's InternalIP (default the address of the default route's interface)")
	f.StringSliceVar(&a.labels, "node-label", nil, "Node labels, KEY=VALUE (comma-separated or repeated)")
	f.StringSliceVar(&a.taints, "node-taint", nil, "Node taints, KEY=VALUE:EFFECT (comma-separated or repeated)")
	f.StringVar(&a.containerdAddress, "containerd-address", "", "socket of an existing containerd (default: start one under the data dir)")
	f.IntVar(&a.port, "agent-port", 10250, "HTTPS port of the agent (logs and exec, which the API proxies)")
	f.StringVar(&a.clusterDNS, "cluster-dns", "", "cluster DNS address in pods' resolv.conf (default the 10th address of the service CIDR, 10.43.0.10)")
	f.StringVar(&a.clusterDomain, "cluster-domain", "cluster.local", "the cluster's DNS domain")
	f.StringVar(&a.resolvConf, "resolv-conf", "/etc/resolv.conf", "the host's resolver file: upstream of cluster DNS, and resolv.conf of dnsPolicy Default pods")
}

// config checks the flags (all but the API's) and builds the agent's
// Config; serviceCIDR and clusterCIDR come from the agent's own flags or
// the server's.
func (a *agentFlags) config(clusterCIDR, serviceCIDR netip.Prefix) (nodeagent.Config, error) {
	cfg := nodeagent.Config{ContainerdAddress: a.containerdAddress, Port: a.port, ClusterCIDR: clusterCIDR,
		ServiceCIDR: serviceCIDR, ClusterDomain: a.clusterDomain, ResolvConf: a.resolvConf}
	cfg.NodeName = strings.ToLower(a.nodeName)
	if cfg.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return cfg, usagef("no --node-name and the host name is unknown: %v", err)
		}
		cfg.NodeName = strings.ToLower(h)
	}
	for _, s := range a.nodeIPs {
		ip, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			return cfg, usagef("--node-ip %q: want an IP address, like 192.168.1.10", s)
		}
		cfg.NodeIPs = append(cfg.NodeIPs, ip)
	}
	var err error
	if cfg.Labels, err = node.ParseLabels(a.labels); err != nil {
		return cfg, usagef("--node-label: %v", err)
	}
	if cfg.Taints, err = node.ParseTaints(a.taints); err != nil {
		return cfg, usagef("--node-taint: %v", err)
	}
	if a.port < 1 || a.port > 65535 {
		return cfg, usagef("--agent-port %d: want a port from 1 to 65535", a.port)
	}
	if a.clusterDNS != "" {
		if cfg.ClusterDNS, err = netip.ParseAddr(a.clusterDNS); err != nil {
			return cfg, usagef("--cluster-dns %q: want an IP address inside the service CIDR, like 10.43.0.10", a.clusterDNS)
		}
		if !serviceCIDR.Contains(cfg.ClusterDNS) {
			return cfg, usagef("--cluster-dns %s is outside the service CIDR %s", cfg.ClusterDNS, serviceCIDR)
		}
	}
	return cfg, nil
}

// apiConfig is how `kelson agent` reaches the API: a kubeconfig (nil
// credentials), or the server's URL and a join token, through which the
// node gets its certificates (join.go): cfg's API, GetServingCert and
// ClientCAs are set, and the credentials returned for their renewal loop.
func (a *agentFlags) apiConfig(ctx context.Context, cfg *nodeagent.Config, log *slog.Logger) (*nodeCredentials, error) {
	token := a.token
	if token == "" {
		token = os.Getenv("KELSON_TOKEN")
	}
	switch {
	case a.kubeconfig != "" && (a.server != "" || token != ""):
		return nil, usagef("give --kubeconfig, or --server and --token, not both")
	case a.kubeconfig != "":
		rc, err := clientcmd.BuildConfigFromFlags("", a.kubeconfig)
		if err != nil {
			return nil, usagef("--kubeconfig %s: %v", a.kubeconfig, err)
		}
		cfg.API = rc
		return nil, nil
	case a.server == "":
		return nil, usagef("kelson agent needs the API: --server URL and --token TOKEN (the server's DATA_DIR/token, or one from kelson token create), or --kubeconfig FILE")
	}
	server := strings.TrimRight(a.server, "/")
	if !strings.HasPrefix(server, "https://") {
		return nil, usagef("--server %q: want https://HOST:PORT", a.server)
	}
	dir := filepath.Join(cfg.DataDir, nodeTLSDir)
	var caPEM []byte
	var bearer string
	if token != "" {
		t, err := parseToken(token)
		if err != nil {
			return nil, err
		}
		bearer = t.bearer()
		if caPEM, err = fetchCA(ctx, server, t.CAHash, dir); err != nil {
			return nil, err
		}
	} else {
		// A restart without the token: the CA and certificates it got.
		b, err := os.ReadFile(filepath.Join(dir, nodeCAFile))
		if err != nil {
			return nil, usagef("kelson agent needs --token to join %s (this node has no certificates in %s yet)", server, dir)
		}
		caPEM = b
	}
	ca, err := pki.ParseCertPEM(caPEM)
	if err != nil {
		return nil, fmt.Errorf("the cluster CA: %w", err)
	}
	ips := cfg.NodeIPs
	if len(ips) == 0 {
		// The agent detects the same addresses when it starts.
		ips, _ = node.DetectNodeIPs(os.DirFS("/"))
	}
	creds := &nodeCredentials{dir: dir, name: cfg.NodeName, hostnames: nodeHostnames(), ca: ca, caPEM: caPEM,
		iss: httpIssuer{server: server, caPEM: caPEM, bearer: bearer, certFile: filepath.Join(dir, nodeClientCertFile),
			keyFile: filepath.Join(dir, nodeClientKeyFile)},
		now: time.Now, log: log}
	for _, ip := range ips {
		creds.ips = append(creds.ips, net.IP(ip.AsSlice()))
	}
	if _, err := creds.ensure(ctx); err != nil {
		if errors.Is(err, errJoinRefused) {
			return nil, fmt.Errorf("join %s as node %s: %w", server, cfg.NodeName, err)
		}
		return nil, err
	}
	cfg.API = creds.restConfig(server)
	serving, pool, err := creds.serving()
	if err != nil {
		return nil, err
	}
	cfg.GetServingCert, cfg.ClientCAs = serving.Get, pool
	return creds, nil
}

// agentRun runs an agent; tests replace it.
type agentRun func(ctx context.Context, cfg nodeagent.Config) error

func runAgent(ctx context.Context, cfg nodeagent.Config) error {
	if err := cfg.Preflight(); err != nil {
		return err
	}
	quietContainerdClient()
	a, err := nodeagent.New(cfg)
	if err != nil {
		return usageError{err}
	}
	return a.Run(ctx)
}

// newAgentCommand is `kelson agent`: flags -> nodeagent.Config -> run.
func newAgentCommand(run agentRun) *cobra.Command {
	var (
		af   agentFlags
		proc processFlags
	)
	cmd := &cobra.Command{
		Use:     "agent [flags]",
		Short:   "Run a node agent (kubelet and kube-proxy) that joins a kelson server",
		Long:    agentLong,
		Example: agentExample,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("kelson agent takes no arguments, got %q (flags are --flag value or --flag=value)", args)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			clusterCIDR, err := parseCIDRFlag("--cluster-cidr", af.clusterCIDR)
			if err != nil {
				return err
			}
			serviceCIDR, err := parseCIDRFlag("--service-cidr", af.serviceCIDR)
			if err != nil {
				return err
			}
			cfg, err := af.config(prefixOf(clusterCIDR), prefixOf(serviceCIDR))
			if err != nil {
				return err
			}
			cfg.DataDir = af.dataDir
			log, stop, err := proc.start(cmd.ErrOrStderr(), nil)
			if err != nil {
				return err
			}
			defer stop()
			cfg.Logger = log
			creds, err := af.apiConfig(cmd.Context(), &cfg, log)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			if creds != nil {
				go creds.renewLoop(ctx, renewCheckInterval)
			}
			return run(ctx, cfg)
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	af.bind(f, true)
	proc.bind(f)
	return cmd
}

// quietContainerdClient turns the containerd client's process-wide logger
// down to errors: what it logs at info and warning ("fetch failed" on
// every pull without a registry) reaches the agent's log through the
// errors it returns.
func quietContainerdClient() { _ = clog.SetLevel("error") }
