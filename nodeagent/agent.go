package nodeagent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"

	usagev1alpha1 "github.com/kelson-dev/kelson/api/metrics/v1alpha1"
	"github.com/kelson-dev/kelson/nodeagent/dns"
	"github.com/kelson-dev/kelson/nodeagent/node"
	"github.com/kelson-dev/kelson/nodeagent/podenv"
	"github.com/kelson-dev/kelson/nodeagent/podnet"
	"github.com/kelson-dev/kelson/nodeagent/pods"
	"github.com/kelson-dev/kelson/nodeagent/proxy"
	"github.com/kelson-dev/kelson/nodeagent/runtime/containerd"
	"github.com/kelson-dev/kelson/nodeagent/stream"
	"github.com/kelson-dev/kelson/nodeagent/volumes"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Agent is one node's agent. Build it with New, then Run.
type Agent struct {
	cfg Config
	// base names the node; every part adds its component to it.
	base, log *slog.Logger
}

// New checks cfg and fills in its defaults; it does no IO.
func New(cfg Config) (*Agent, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	base := cfg.Logger.With("node", cfg.NodeName)
	return &Agent{cfg: cfg, base: base, log: base.With("component", "agent")}, nil
}

// Run runs the agent until ctx ends: containerd (its own child unless
// ContainerdAddress), the Node and its Lease, then — once the server gave
// the node a pod CIDR — the pod network, cluster DNS, the Service proxy,
// the pod worker and the HTTPS port for logs and exec. Pods keep running
// when it returns; a new agent over the same DataDir adopts them.
func (a *Agent) Run(ctx context.Context) error {
	cfg := a.cfg
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("agent data dir %s: %w", cfg.DataDir, err)
	}
	api := *cfg.API
	if api.QPS == 0 && api.Burst == 0 {
		// client-go's default (5/s, burst 10) throttles status writes: a
		// burst of 30 pods waited seconds on it.
		api.QPS, api.Burst = 50, 100
	}
	api.UserAgent = "kelson-agent/" + cfg.NodeName
	api.ContentType = "application/vnd.kubernetes.protobuf"
	api.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	client, err := kubernetes.NewForConfig(&api)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	usageAPI := *cfg.API // JSON: NodeUsage has no protobuf
	usageAPI.QPS, usageAPI.Burst = api.QPS, api.Burst
	usage, err := usagev1alpha1.NewForConfig(&usageAPI)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}

	// The runtime first: without it nothing runs.
	address := cfg.ContainerdAddress
	var child *containerdChild
	if address == "" {
		child, err = startContainerdChild(ctx, containerd.DaemonConfig{Dir: filepath.Join(cfg.DataDir, "containerd"), Logger: a.base}, a.log)
		if err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		defer child.Stop()
		address = child.Address()
	}
	logDriver := cfg.LogDriver
	if logDriver == "" {
		if logDriver, err = os.Executable(); err != nil {
			return fmt.Errorf("agent: the log driver binary: %w", err)
		}
	}
	rt, err := containerd.Open(ctx, containerd.Config{Address: address, LogDriver: logDriver,
		StateDir: filepath.Join(cfg.DataDir, "runtime"), Logger: a.base})
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	defer rt.Close()

	nd, err := node.New(node.Config{
		NodeName: cfg.NodeName, Client: client, UsageClient: usage,
		PodUsage:       func(ctx context.Context) ([]node.PodUsage, error) { return podUsage(ctx, rt) },
		Healthy:        rt.Healthy,
		NodeIPs:        cfg.NodeIPs,
		Labels:         cfg.Labels,
		Taints:         cfg.Taints,
		DaemonPort:     int32(cfg.Port),
		DataDir:        cfg.DataDir,
		RuntimeVersion: rt.Version(ctx),
		KubeletVersion: cfg.KubeletVersion,
		Logger:         a.part("node"),
	})
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	nodeIP := nd.NodeIPs()[0]

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, ctx := errgroup.WithContext(ctx)
	// fail stops what runs already and returns err.
	fail := func(err error) error {
		cancel()
		_ = g.Wait()
		return err
	}
	g.Go(func() error { return nd.Run(ctx) })
	if child != nil {
		g.Go(func() error { child.run(ctx); return nil })
	}

	a.log.Info("waiting for the server to give this node a pod CIDR")
	podCIDR, err := nd.WaitForPodCIDR(ctx)
	if err != nil {
		if ctx.Err() != nil {
			_ = fail(nil)
			return nil
		}
		return fail(fmt.Errorf("agent: %w", err))
	}
	pn, err := podnet.New(ctx, podnet.Config{PodCIDR: podCIDR, StateDir: filepath.Join(cfg.DataDir, "net"), Logger: a.part("podnet")})
	if err != nil {
		return fail(fmt.Errorf("agent: pod network: %w", err))
	}
	defer pn.Close()
	gateway := pn.Gateway()
	a.log.Info("pod network ready", "pod_cidr", podCIDR, "gateway", gateway, "node_ip", nodeIP)

	factory := informers.NewSharedInformerFactory(client, 0)
	nodeInformer := factory.Core().V1().Nodes()
	kick := make(chan struct{}, 1)
	poke := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	_, _ = nodeInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { poke() }, UpdateFunc: func(any, any) { poke() }, DeleteFunc: func(any) { poke() },
	})
	services := factory.Core().V1().Services()

	env, err := podenv.New(podenv.Config{Client: client, Services: services.Lister(), ClusterDomain: cfg.ClusterDomain,
		ClusterDNS: []netip.Addr{cfg.ClusterDNS}, Root: filepath.Join(cfg.DataDir, "pods"), HostResolvConf: cfg.ResolvConf,
		NodeName: cfg.NodeName, NodeIP: nodeIP, Logger: a.base})
	if err != nil {
		return fail(fmt.Errorf("agent: %w", err))
	}
	vols, err := volumes.New(volumes.Config{Root: filepath.Join(cfg.DataDir, "pods"), Client: client, NodeName: cfg.NodeName,
		ContainerEnv: env.Env, Logger: a.base})
	if err != nil {
		return fail(fmt.Errorf("agent: %w", err))
	}
	logRoot := filepath.Join(cfg.DataDir, "logs")
	pm, err := pods.New(pods.Config{NodeName: cfg.NodeName, NodeIP: nodeIP, Client: client, Runtime: rt, Network: pn,
		Volumes: vols, Env: env, LogRoot: logRoot, Logger: a.part("pods")})
	if err != nil {
		return fail(fmt.Errorf("agent: %w", err))
	}

	dnsAddr := netip.AddrPortFrom(gateway, 53)
	dnsServer := dns.New(client, dns.Config{Listen: dnsAddr.String(), Domain: cfg.ClusterDomain, Upstreams: cfg.ResolvConf, Informers: factory, Logger: a.part("dns")})
	px := proxy.New(client, proxy.Config{NodeIPs: nd.NodeIPs(), ClusterCIDR: cfg.ClusterCIDR, ServiceCIDR: cfg.ServiceCIDR,
		DNS: proxy.DNSRedirect{ServiceIP: cfg.ClusterDNS, Target: dnsAddr}, Informers: factory, Logger: a.part("proxy")})

	tlsConf, err := a.servingTLS(nodeIP)
	if err != nil {
		return fail(err)
	}
	srv, err := stream.New(stream.Config{Runtime: rt, LogRoot: logRoot, Logger: a.part("stream"), TLS: tlsConf, ClientCAs: cfg.ClientCAs})
	if err != nil {
		return fail(fmt.Errorf("agent: %w", err))
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.BindAddress.String(), strconv.Itoa(cfg.Port)))
	if err != nil {
		return fail(fmt.Errorf("agent: listen on the agent port: %w: is another agent (or kubelet) running? choose another --agent-port", err))
	}

	factory.Start(ctx.Done())
	g.Go(func() error { a.syncRoutes(ctx, pn, nodeInformer.Lister(), kick); return nil })
	g.Go(func() error { return pm.Run(ctx) })
	g.Go(func() error { return dnsServer.Run(ctx) })
	g.Go(func() error { return px.Run(ctx) })
	g.Go(func() error { return srv.Serve(ctx, ln) })
	a.log.Info("agent running", "port", cfg.Port, "cluster_dns", cfg.ClusterDNS,
		"port_cert_from_ca", cfg.ServingCert != nil || cfg.GetServingCert != nil, "port_clients_verified", cfg.ClientCAs != nil)
	err = g.Wait()
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// servingTLS is the agent port's TLS: Config.GetServingCert's
// certificate at each handshake, or Config.ServingCert (both from the
// cluster CA, for the node's names and addresses), else a self-signed
// certificate for the node's name and address made at each start (tests;
// an API server that verifies agents refuses it). Callers are
// authenticated by the stream server against Config.ClientCAs.
func (a *Agent) servingTLS(nodeIP netip.Addr) (*tls.Config, error) {
	if get := a.cfg.GetServingCert; get != nil {
		if _, err := get(); err != nil {
			return nil, fmt.Errorf("agent: serving certificate: %w", err)
		}
		return &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return get() },
			MinVersion: tls.VersionTLS12}, nil
	}
	if c := a.cfg.ServingCert; c != nil {
		return &tls.Config{Certificates: []tls.Certificate{*c}, MinVersion: tls.VersionTLS12}, nil
	}
	tc, err := stream.SelfSigned(a.cfg.NodeName, nodeIP.String())
	if err != nil {
		return nil, fmt.Errorf("agent: serving certificate: %w", err)
	}
	return tc, nil
}

// part is the logger of one part of the agent.
func (a *Agent) part(name string) *slog.Logger { return a.base.With("component", name) }
