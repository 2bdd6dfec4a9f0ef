package garbagecollector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
)

// Config tunes a GarbageCollector. Zero values mean the defaults.
type Config struct {
	// Metadata is the client of objects' metadata; default one built on
	// the Context's clientset (same endpoint, transport and rate limit).
	Metadata metadata.Interface
	// Discovery finds the served resources; default the clientset's.
	Discovery discovery.DiscoveryInterface
	// Workers is how many objects are handled at once, per queue; default
	// 20 (kube-controller-manager's --concurrent-gc-syncs).
	Workers int
	// ResyncPeriod is how often discovery is read again to monitor new
	// resources and forget removed ones; default 30 s. CRD changes also
	// trigger it.
	ResyncPeriod time.Duration
	// VerifyDelay is how long a dependent that names an owner not yet
	// observed waits before it is checked against the API; default 1 s
	// (time for the owner's own event to arrive).
	VerifyDelay time.Duration
	// SyncTimeout bounds the wait for new monitors to list their resource
	// (workers pause meanwhile); default 60 s.
	SyncTimeout time.Duration
	// Ignored resources are never monitored; default Events (core and
	// events.k8s.io).
	Ignored []schema.GroupResource
	// AbsentCacheSize bounds the cache of owners known absent; default 1024.
	AbsentCacheSize int
}

func (c *Config) setDefaults() {
	if c.Workers <= 0 {
		c.Workers = 20
	}
	if c.ResyncPeriod <= 0 {
		c.ResyncPeriod = 30 * time.Second
	}
	if c.VerifyDelay <= 0 {
		c.VerifyDelay = time.Second
	}
	if c.SyncTimeout <= 0 {
		c.SyncTimeout = 60 * time.Second
	}
	if c.Ignored == nil {
		c.Ignored = defaultIgnored
	}
}

// GarbageCollector deletes objects whose owners are gone and carries out
// foreground and orphan deletions. See the package documentation.
type GarbageCollector struct {
	cfg  Config
	meta metadata.Interface
	disc discovery.DiscoveryInterface
	log  *slog.Logger
	err  error // from construction, returned by Run

	graph   *lockedGraph
	core    *collector
	stats   counters
	deleteQ controllers.Queue
	orphanQ controllers.Queue
	kick    chan struct{}
	started atomic.Bool

	// workerLock: workers hold it for reading while they handle an item;
	// a change of monitored resources holds it for writing until the new
	// monitors have listed, so no decision is made on a graph missing a
	// whole resource.
	workerLock sync.RWMutex

	mu       sync.Mutex // guards the fields below
	resMap   resourceMap
	monitors map[schema.GroupVersionResource]*monitor
}

// New builds the collector from the Context with the default Config. No
// IO: Run discovers the resources and starts the monitors.
func New(cctx *controllers.Context) *GarbageCollector { return NewWithConfig(cctx, Config{}) }

// NewWithConfig builds the collector with cfg.
func NewWithConfig(cctx *controllers.Context, cfg Config) *GarbageCollector {
	cfg.setDefaults()
	gc := &GarbageCollector{
		cfg:      cfg,
		meta:     cfg.Metadata,
		disc:     cfg.Discovery,
		log:      cctx.Logger,
		graph:    &lockedGraph{g: NewGraph()},
		deleteQ:  controllers.NewQueue("garbage_collector_attempt_to_delete"),
		orphanQ:  controllers.NewQueue("garbage_collector_attempt_to_orphan"),
		kick:     make(chan struct{}, 1),
		monitors: map[schema.GroupVersionResource]*monitor{},
	}
	if gc.log == nil {
		gc.log = slog.Default()
	}
	if gc.disc == nil && cctx.Client != nil {
		gc.disc = cctx.Client.Discovery()
	}
	if gc.meta == nil {
		gc.meta, gc.err = metadataFor(cctx.Client)
	}
	if gc.disc == nil && gc.err == nil {
		gc.err = errors.New("garbagecollector: no discovery client")
	}
	gc.core = &collector{
		graph:    gc.graph,
		absent:   newAbsentCache(cfg.AbsentCacheSize),
		mapping:  gc.mapping,
		recorder: cctx.RecorderFor("garbage-collector-controller"),
		log:      gc.log,
		stats:    &gc.stats,
	}
	if gc.meta != nil {
		gc.core.api = metadataAPI{gc.meta}
	}
	return gc
}

// metadataFor builds a metadata client on client's endpoint, transport and
// rate limiter.
func metadataFor(client kubernetes.Interface) (metadata.Interface, error) {
	if client == nil {
		return nil, errors.New("garbagecollector: no API client")
	}
	rc, ok := client.CoreV1().RESTClient().(*rest.RESTClient)
	if !ok || rc == nil {
		return nil, errors.New("garbagecollector: the API client is not a REST client; give Config.Metadata")
	}
	u := *rc.Get().URL() // the base URL + /api/v1
	u.Path = strings.TrimSuffix(u.Path, "/api/v1")
	u.RawQuery = ""
	cfg := &rest.Config{Host: u.String()}
	if l := rc.GetRateLimiter(); l != nil {
		cfg.RateLimiter = l
	} else {
		cfg.QPS = -1
	}
	mc, err := metadata.NewForConfigAndClient(cfg, rc.Client)
	if err != nil {
		return nil, fmt.Errorf("garbagecollector: metadata client: %w", err)
	}
	return mc, nil
}

// Run discovers the served resources, monitors them, waits for the graph
// to be built, then collects until ctx ends.
func (gc *GarbageCollector) Run(ctx context.Context) error {
	if gc.err != nil {
		return gc.err
	}
	defer gc.orphanQ.ShutDown()
	defer gc.deleteQ.ShutDown()
	defer gc.stopMonitors()

	var rm resourceMap
	for delay := time.Second; ; delay = min(2*delay, 30*time.Second) {
		var err error
		if rm, _, err = gc.discover(); err == nil {
			break
		}
		gc.log.Warn("garbage collector: discovery failed; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
	}
	started := gc.syncMonitors(rm)
	if !waitSynced(ctx, started, gc.cfg.SyncTimeout) {
		if ctx.Err() != nil {
			return nil
		}
		gc.log.Warn("garbage collector: some resources did not list in time; starting anyway", "unsynced", unsynced(started))
	}
	gc.log.Info("garbage collector started", "resources", len(started))
	gc.started.Store(true)

	var wg sync.WaitGroup
	for range gc.cfg.Workers {
		wg.Add(2)
		go func() { defer wg.Done(); gc.work(ctx, gc.deleteQ, gc.core.attemptToDelete) }()
		go func() { defer wg.Done(); gc.work(ctx, gc.orphanQ, gc.core.attemptToOrphan) }()
	}
	gc.resyncLoop(ctx)
	gc.deleteQ.ShutDown()
	gc.orphanQ.ShutDown()
	wg.Wait()
	return nil
}

// resyncLoop reads discovery every ResyncPeriod and when a CRD changes,
// until ctx ends, and brings the monitors in line.
func (gc *GarbageCollector) resyncLoop(ctx context.Context) {
	t := time.NewTicker(gc.cfg.ResyncPeriod)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-gc.kick:
			// Let a burst of CRD events settle into one discovery, and
			// ask at most once a second (unknown kinds kick too).
			wait := max(200*time.Millisecond, time.Second-time.Since(last))
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		last = time.Now()
		rm, _, err := gc.discover()
		if err != nil {
			gc.log.Warn("garbage collector: discovery failed; keeping the monitored resources", "err", err)
			continue
		}
		if sameMonitored(rm, gc.resources()) {
			gc.setResources(rm) // versions of kinds may have changed
			continue
		}
		gc.workerLock.Lock()
		started := gc.syncMonitors(rm)
		if !waitSynced(ctx, started, gc.cfg.SyncTimeout) && ctx.Err() == nil {
			gc.log.Warn("garbage collector: new resources did not list in time", "unsynced", unsynced(started))
		}
		gc.workerLock.Unlock()
	}
}

func sameMonitored(a, b resourceMap) bool {
	if len(a.monitored) != len(b.monitored) {
		return false
	}
	for gvr := range a.monitored {
		if _, ok := b.monitored[gvr]; !ok {
			return false
		}
	}
	return true
}

func unsynced(ms []*monitor) []string {
	var out []string
	for _, m := range ms {
		if !m.informer.HasSynced() {
			out = append(out, m.res.GVR.String())
		}
	}
	return out
}

// work takes UIDs from q and handles them with sync until q shuts down.
// An error re-queues the UID with back-off.
func (gc *GarbageCollector) work(ctx context.Context, q controllers.Queue, sync func(context.Context, types.UID) error) {
	for {
		key, quit := q.Get()
		if quit {
			return
		}
		gc.workerLock.RLock()
		err := sync(ctx, types.UID(key))
		gc.workerLock.RUnlock()
		if err != nil {
			if ctx.Err() == nil {
				gc.log.Debug("garbage collector: retrying with back-off", "uid", key, "err", err)
			}
			q.AddRateLimited(key)
		} else {
			q.Forget(key)
		}
		q.Done(key)
	}
}

// apply queues the work a graph change asks for.
func (gc *GarbageCollector) apply(eff Effects) {
	for _, uid := range eff.Delete {
		gc.deleteQ.Add(string(uid))
	}
	for _, uid := range eff.Verify {
		gc.deleteQ.AddAfter(string(uid), gc.cfg.VerifyDelay)
	}
	for _, uid := range eff.Orphan {
		gc.orphanQ.Add(string(uid))
	}
}

func (gc *GarbageCollector) resources() resourceMap {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	return gc.resMap
}

func (gc *GarbageCollector) setResources(rm resourceMap) {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	gc.resMap = rm
}

// mapping resolves an ownerReference's kind; an unknown one asks for a
// fresh discovery.
func (gc *GarbageCollector) mapping(apiVersion, kind string) (apiResource, error) {
	ar, err := gc.resources().mapping(apiVersion, kind)
	if err != nil {
		gc.kickDiscovery()
	}
	return ar, err
}

// Started reports whether Run has built the graph of every resource and
// started its workers.
func (gc *GarbageCollector) Started() bool { return gc.started.Load() }

// Stats are the collector's counters since it was built.
type Stats struct {
	// Nodes in the graph, and of those virtual ones (owners named but not
	// observed).
	Nodes, Virtual int
	// Monitors: resources watched.
	Monitors int
	// OwnerLookups: owners read from the API because the graph could not
	// vouch for them.
	OwnerLookups int64
	// DependentReads: objects read again after a write found them changed.
	DependentReads int64
	// Deletes and Patches sent.
	Deletes, Patches int64
	// InvalidRefs: OwnerRefInvalidNamespace reports.
	InvalidRefs int64
}

// Stats returns the current counters.
func (gc *GarbageCollector) Stats() Stats {
	nodes, virtual := gc.graph.size()
	gc.mu.Lock()
	monitors := len(gc.monitors)
	gc.mu.Unlock()
	return Stats{
		Nodes: nodes, Virtual: virtual, Monitors: monitors,
		OwnerLookups:   gc.stats.ownerLookups.Load(),
		DependentReads: gc.stats.dependentReads.Load(),
		Deletes:        gc.stats.deletes.Load(),
		Patches:        gc.stats.patches.Load(),
		InvalidRefs:    gc.stats.invalidRefs.Load(),
	}
}
