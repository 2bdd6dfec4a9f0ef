package pods

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/kelson-dev/kelson/nodeagent/podnet"
	"github.com/kelson-dev/kelson/nodeagent/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
)

// Config configures a Manager. Fields marked required must be set; the
// others have the defaults stated.
type Config struct {
	// NodeName is the Node this agent runs (required): the Manager runs
	// the pods whose spec.nodeName is it.
	NodeName string
	// NodeIP is the node's address: every pod's hostIP, and the pod IP of
	// hostNetwork pods (required).
	NodeIP netip.Addr
	// Client reaches the API (required). The Manager watches pods with a
	// field selector spec.nodeName=NodeName, writes their status and
	// deletes them once stopped.
	Client kubernetes.Interface
	// Runtime, Network, Volumes and Env are the parts the worker drives
	// (required).
	Runtime runtime.Runtime
	Network podnet.Network
	Volumes Volumes
	Env     Env
	// LogRoot is where container logs go, laid out by runtime.LogPath;
	// default /var/log/pods.
	LogRoot string
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Now is the clock of decisions; default time.Now.
	Now func() time.Time
	// Recorder records Events; default a recorder writing through Client
	// as component "kubelet" on host NodeName (stopped with Run).
	Recorder record.EventRecorder
	// Workers is how many pods are synced at once; default 8. One pod is
	// never synced by two workers at once.
	Workers int
	// Resync is how often every pod is synced and orphans are looked for;
	// default 10 s.
	Resync time.Duration
	// BackoffBase, BackoffMax: restart and image pull back-off, 10 s
	// doubling up to 5 min by default. BackoffReset: a container that ran
	// this long starts its back-off afresh; default 10 min.
	BackoffBase, BackoffMax, BackoffReset time.Duration
	// VolumeRefresh is how often a running pod's volumes are set up again
	// (configMap and secret contents follow their objects); default 60 s.
	VolumeRefresh time.Duration
}

// ErrConfig is returned (wrapped) by New for an incomplete Config.
var ErrConfig = errors.New("pods: invalid config")

func (c *Config) ensureDefaults() {
	if c.LogRoot == "" {
		c.LogRoot = "/var/log/pods"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Workers <= 0 {
		c.Workers = 8
	}
	if c.Resync <= 0 {
		c.Resync = 10 * time.Second
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = 10 * time.Second
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 5 * time.Minute
	}
	if c.BackoffReset <= 0 {
		c.BackoffReset = 10 * time.Minute
	}
	if c.VolumeRefresh <= 0 {
		c.VolumeRefresh = time.Minute
	}
}

func (c *Config) validate() error {
	var missing []string
	if c.NodeName == "" {
		missing = append(missing, "NodeName")
	}
	if !c.NodeIP.IsValid() {
		missing = append(missing, "NodeIP")
	}
	if c.Client == nil {
		missing = append(missing, "Client")
	}
	if c.Runtime == nil {
		missing = append(missing, "Runtime")
	}
	if c.Network == nil {
		missing = append(missing, "Network")
	}
	if c.Volumes == nil {
		missing = append(missing, "Volumes")
	}
	if c.Env == nil {
		missing = append(missing, "Env")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: set %v", ErrConfig, missing)
	}
	return nil
}

// ImageChecker is optionally implemented by a Runtime: whether an image
// is present, so that the Pulled event says "already present on machine"
// as kubelet's does instead of timing a pull that did not happen.
type ImageChecker interface {
	HasImage(ctx context.Context, image string) (bool, error)
}
