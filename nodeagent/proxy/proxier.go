package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Config configures a Proxier. The zero value of each field means its
// default.
type Config struct {
	// Informers, when set, is the agent's shared factory the Services and
	// EndpointSlices are watched through (its owner stops it); nil: the
	// Proxier's own.
	Informers informers.SharedInformerFactory
	// NodeIPs are the addresses NodePorts answer on (IPv4; others are
	// ignored). None: no NodePort rules.
	NodeIPs []netip.Addr
	// ClusterCIDR holds every pod IP; pod egress beyond it (and beyond
	// ServiceCIDR) is masqueraded, and so is traffic from outside it to a
	// Service. Zero: no such masquerading.
	ClusterCIDR netip.Prefix
	// ServiceCIDR holds the ClusterIPs. Zero: not excluded from the egress
	// masquerade.
	ServiceCIDR netip.Prefix
	// DNS redirects the cluster DNS Service to the node-local DNS server.
	// Zero: no redirect.
	DNS DNSRedirect
	// Logger receives sync errors and (at debug level) each apply. Default
	// slog.Default().
	Logger *slog.Logger
	// NetNSPath is the network namespace whose nftables the proxier
	// programs (a node of a test, or a node netns of several agents on one
	// machine). Default "": the agent's own.
	NetNSPath string
	// MinSyncInterval is the least time between two applies; changes
	// arriving closer are coalesced. Default 100ms.
	MinSyncInterval time.Duration
	// MaxSyncInterval is the most time between two applies (the table is
	// rewritten even without changes, repairing outside edits). Default 30s.
	MaxSyncInterval time.Duration
}

func (c *Config) ensureDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MinSyncInterval <= 0 {
		c.MinSyncInterval = 100 * time.Millisecond
	}
	if c.MaxSyncInterval <= 0 {
		c.MaxSyncInterval = 30 * time.Second
	}
}

// Metrics are a Proxier's counters.
type Metrics struct {
	// Applies counts successful table writes; Skipped counts syncs whose
	// rules were the ones already applied; Errors counts failed writes.
	Applies, Skipped, Errors int
	// LastApply is when the last successful write finished, and
	// LastApplyDuration how long it took (rule generation and netlink).
	LastApply         time.Time
	LastApplyDuration time.Duration
	// Chains and Sets of the applied table.
	Chains, Sets int
}

// Proxier keeps the "kelson" table in step with the cluster's Services
// and EndpointSlices: Run starts informers, and every change leads to a
// rewrite of the table within MinSyncInterval (plus the write itself).
type Proxier struct {
	client kubernetes.Interface
	cfg    Config
	table  *Table
	kick   chan struct{}

	mu struct {
		sync.Mutex
		metrics Metrics
	}
}

// New returns a Proxier; Run starts it.
func New(client kubernetes.Interface, cfg Config) *Proxier {
	cfg.ensureDefaults()
	return &Proxier{client: client, cfg: cfg, table: NewTable(cfg.NetNSPath), kick: make(chan struct{}, 1)}
}

// Metrics returns a copy of the counters; safe for concurrent use.
func (p *Proxier) Metrics() Metrics {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.metrics
}

// Cleanup removes the table (for an agent shutting down for good, or
// `kelson agent --cleanup`). Call it after Run returned.
func (p *Proxier) Cleanup() error { return p.table.Cleanup() }

func (p *Proxier) trigger() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Run watches Services and EndpointSlices and programs the table until
// ctx ends. It returns ctx's error, or an error if the informers never
// synced. The table is left in place when Run returns.
func (p *Proxier) Run(ctx context.Context) error {
	factory := p.cfg.Informers
	if factory == nil {
		factory = informers.NewSharedInformerFactory(p.client, 0)
		defer factory.Shutdown()
	}
	svcInf := factory.Core().V1().Services()
	sliceInf := factory.Discovery().V1().EndpointSlices()
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { p.trigger() },
		UpdateFunc: func(any, any) { p.trigger() },
		DeleteFunc: func(any) { p.trigger() },
	}
	if _, err := svcInf.Informer().AddEventHandler(h); err != nil {
		return fmt.Errorf("proxy: watch services: %w", err)
	}
	if _, err := sliceInf.Informer().AddEventHandler(h); err != nil {
		return fmt.Errorf("proxy: watch endpointslices: %w", err)
	}
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("proxy: informer for %v did not sync: check the API server is reachable", typ)
		}
	}
	svcLister, sliceLister := svcInf.Lister(), sliceInf.Lister()
	snapshot := func() (Snapshot, error) {
		svcs, err := svcLister.List(labels.Everything())
		if err != nil {
			return Snapshot{}, err
		}
		slices, err := sliceLister.List(labels.Everything())
		if err != nil {
			return Snapshot{}, err
		}
		return p.snapshot(svcs, slices), nil
	}

	var last string // rendering of the last applied ruleset
	timer := time.NewTimer(0)
	defer timer.Stop()
	periodic := true
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.kick:
			periodic = false
		case <-timer.C:
			periodic = true
		}
		start := time.Now()
		snap, err := snapshot()
		if err == nil {
			rs := Rules(snap)
			text := rs.String()
			if !periodic && text == last {
				p.mu.Lock()
				p.mu.metrics.Skipped++
				p.mu.Unlock()
			} else if err = p.table.Apply(rs); err == nil {
				last = text
				p.mu.Lock()
				m := &p.mu.metrics
				m.Applies++
				m.LastApply = time.Now()
				m.LastApplyDuration = m.LastApply.Sub(start)
				m.Chains, m.Sets = len(rs.Chains), len(rs.Sets)
				p.mu.Unlock()
				p.cfg.Logger.Debug("proxy: table applied", "chains", len(rs.Chains), "sets", len(rs.Sets), "took", time.Since(start))
			}
		}
		next := p.cfg.MaxSyncInterval
		if err != nil {
			last = "" // unknown state: the next sync writes
			p.mu.Lock()
			p.mu.metrics.Errors++
			p.mu.Unlock()
			p.cfg.Logger.Error("proxy: sync failed; retrying", "err", err)
			next = time.Second
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
		// Coalesce: whatever arrives during the next MinSyncInterval is
		// handled by one sync after it.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(p.cfg.MinSyncInterval):
		}
	}
}

func (p *Proxier) snapshot(svcs []*corev1.Service, slices []*discoveryv1.EndpointSlice) Snapshot {
	return Snapshot{
		NodeIPs:     p.cfg.NodeIPs,
		ClusterCIDR: p.cfg.ClusterCIDR,
		ServiceCIDR: p.cfg.ServiceCIDR,
		DNS:         p.cfg.DNS,
		Services:    svcs,
		Slices:      slices,
	}
}
