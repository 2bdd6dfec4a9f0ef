package controllers

import (
	"context"
	"log/slog"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
)

// Context is what a controller is built from. The manager makes one per
// leadership term; controllers share its informer factory, so each
// resource is listed and watched once per process.
type Context struct {
	// Client writes (and reads what the informers do not cache).
	Client kubernetes.Interface
	// Informers is the shared factory; a controller asks it for the
	// informers it needs in its constructor, and the manager starts it after
	// every constructor has run.
	Informers informers.SharedInformerFactory
	// Recorder records Events on objects with Kubernetes' reasons, as the
	// component named at NewContext.
	Recorder record.EventRecorder
	// Logger is the component's logger.
	Logger *slog.Logger
	// Cluster holds the cluster-wide settings some controllers need.
	Cluster Cluster
	// Now is the clock of decisions that depend on time (deadlines, TTLs,
	// cron); default time.Now. Tests replace it.
	Now func() time.Time

	broadcaster record.EventBroadcaster
}

// Cluster is the cluster-wide configuration given to controllers.
type Cluster struct {
	// ClusterCIDR is where nodes' pod CIDRs come from [--cluster-cidr];
	// default 10.42.0.0/16.
	ClusterCIDR *net.IPNet
	// NodeCIDRMaskSize is the prefix length of one node's pod CIDR;
	// default 24.
	NodeCIDRMaskSize int
}

// ResyncPeriod is the shared informers' resync: a periodic re-delivery of
// every cached object to the handlers, so a missed edge heals.
const ResyncPeriod = 10 * time.Minute

// NewContext builds a Context whose Events are written through client as
// component (the Event's source, e.g. "deployment-controller"). Close
// stops the event broadcaster.
func NewContext(client kubernetes.Interface, component string, log *slog.Logger) *Context {
	if log == nil {
		log = slog.Default()
	}
	b := record.NewBroadcaster()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	return &Context{
		Client:      client,
		Informers:   informers.NewSharedInformerFactory(client, ResyncPeriod),
		Recorder:    b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component}),
		Logger:      log,
		Now:         time.Now,
		broadcaster: b,
	}
}

// RecorderFor is a recorder whose Events name component as their source
// ("replicaset-controller", "default-scheduler"), sharing this Context's
// broadcaster.
func (c *Context) RecorderFor(component string) record.EventRecorder {
	if c.broadcaster == nil {
		return c.Recorder
	}
	return c.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
}

// Start starts the informers every constructor asked for.
func (c *Context) Start(ctx context.Context) { c.Informers.Start(ctx.Done()) }

// Close stops the informers and the event broadcaster (after flushing
// what it can).
func (c *Context) Close() {
	c.Informers.Shutdown()
	if c.broadcaster != nil {
		c.broadcaster.Shutdown()
	}
}
