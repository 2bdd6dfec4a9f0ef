package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	clog "github.com/containerd/log"
	"github.com/kelson-dev/kelson/nodeagent"
	"github.com/kelson-dev/kelson/nodeagent/node"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

const agentLong = `Run a node agent: Kelson's kubelet and kube-proxy. It registers this machine
as a Node, runs the pods the scheduler binds to it through containerd (its own
containerd child process unless --containerd-address), gives each pod a network
namespace on the node's bridge with an IP from the node's pod CIDR, routes to
the other nodes' pods through their node IPs, serves the pods' logs and exec on
--agent-port, programs Services with nftables and answers cluster DNS.

"kelson server" runs an agent itself unless --disable-agent; "kelson agent"
joins another machine to a server, with the token from the server's data dir
(DATA_DIR/token): the agent checks the server's certificate against the CA
hash the token carries. (The API does not authenticate requests yet: the
security work adds that.)

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
		f.StringVar(&a.token, "token", "", "the server's join token (its DATA_DIR/token); $KELSON_TOKEN when unset")
		f.StringVar(&a.kubeconfig, "kubeconfig", "", "kubeconfig file of the API, instead of --server and --token")
		f.StringVar(&a.dataDir, "data-dir", "agent.kelson", "directory of the agent's state: containerd, pod networks, volumes, logs")
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

// apiConfig is how `kelson agent` reaches the API: a kubeconfig, or the
// server's URL and token.
func (a *agentFlags) apiConfig(ctx context.Context) (*rest.Config, error) {
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
		return rc, nil
	case a.server == "" || token == "":
		return nil, usagef("kelson agent needs the API: --server URL and --token TOKEN (the server's DATA_DIR/token), or --kubeconfig FILE")
	}
	return joinConfig(ctx, a.server, token)
}

// A join token is the cluster CA's hash and a secret, as k3s writes them:
// K10<sha256 of the CA certificate's PEM, hex>::server:<secret>.
func parseToken(token string) (caHash, secret string, err error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(token), "K10")
	hash, secret, ok2 := strings.Cut(rest, "::server:")
	if !ok || !ok2 || len(hash) != 64 || secret == "" {
		return "", "", usagef("--token: not a kelson join token (want K10<hash>::server:<secret>, the content of the server's DATA_DIR/token)")
	}
	if _, err := hex.DecodeString(hash); err != nil {
		return "", "", usagef("--token: the CA hash is not hex")
	}
	return hash, secret, nil
}

// joinConfig fetches the server's CA from /cacerts, checks it against the
// token's hash, and returns a config trusting only that CA.
func joinConfig(ctx context.Context, server, token string) (*rest.Config, error) {
	hash, secret, err := parseToken(token)
	if err != nil {
		return nil, err
	}
	server = strings.TrimRight(server, "/")
	if !strings.HasPrefix(server, "https://") {
		return nil, usagef("--server %q: want https://HOST:PORT", server)
	}
	// The CA is not known yet: this one request does not verify the
	// server; its answer is checked against the token's hash instead.
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, server+"/cacerts", nil)
	if err != nil {
		return nil, usagef("--server %q: %v", server, err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch the cluster CA from %s: %w", server, err)
	}
	defer resp.Body.Close()
	ca, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch the cluster CA from %s/cacerts: status %s, %v", server, resp.Status, err)
	}
	sum := sha256.Sum256(ca)
	if hex.EncodeToString(sum[:]) != strings.ToLower(hash) {
		return nil, fmt.Errorf("the CA of %s does not match the token's hash: wrong server, or a token of another cluster", server)
	}
	return &rest.Config{Host: server, BearerToken: secret, TLSClientConfig: rest.TLSClientConfig{CAData: ca}}, nil
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
			if cfg.API, err = af.apiConfig(cmd.Context()); err != nil {
				return err
			}
			log, stop, err := proc.start(cmd.ErrOrStderr(), nil)
			if err != nil {
				return err
			}
			defer stop()
			cfg.Logger = log
			return run(cmd.Context(), cfg)
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
