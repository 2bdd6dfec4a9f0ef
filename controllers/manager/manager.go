package manager

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"k8s.io/client-go/kubernetes"
)

// Runner is a constructed controller: Run blocks until ctx ends (or the
// controller fails to start, e.g. its caches never sync).
type Runner interface {
	Run(ctx context.Context) error
}

// RunnerFunc adapts a function to Runner.
type RunnerFunc func(ctx context.Context) error

// Run calls f.
func (f RunnerFunc) Run(ctx context.Context) error { return f(ctx) }

// Config configures Run. Zero values mean the documented defaults.
type Config struct {
	// Client talks to the API: the controllers' client, and the
	// scheduler's unless SchedulerClient is set. Required.
	Client kubernetes.Interface
	// SchedulerClient is the scheduler's client (its own identity,
	// system:kube-scheduler); default Client.
	SchedulerClient kubernetes.Interface
	// Identity of this process in the Leases; default the host name plus a
	// random suffix. IdentityPrefix, when set, replaces the host name (a
	// server passes its host name and member name, so that an operator
	// reading the Lease knows which server leads).
	Identity, IdentityPrefix string
	// Disabled names components not to run: "scheduler",
	// "controller-manager" (every controller), or a controller's name.
	Disabled []string
	// Cluster is handed to the controllers (pod CIDRs).
	Cluster controllers.Cluster
	// RootCA is the cluster CA's certificate (PEM) the
	// root-ca-cert-publisher controller publishes as ConfigMap
	// kube-root-ca.crt in every namespace. nil: that controller does not
	// run.
	RootCA []byte
	// LeaseDuration, RenewDeadline, RetryPeriod of both elections;
	// defaults 15 s, 10 s, 2 s.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	Logger                                    *slog.Logger
}

// Names lists what --disable accepts.
func Names() []string {
	names := []string{"controller-manager", schedulerName}
	for _, c := range registry {
		names = append(names, c.name)
	}
	sort.Strings(names)
	return names
}

// CheckDisabled refuses names that are not components.
func CheckDisabled(disabled []string) error {
	known := Names()
	for _, d := range disabled {
		if !slices.Contains(known, d) {
			return fmt.Errorf("--disable %q: not a component; choose from %s", d, strings.Join(known, ", "))
		}
	}
	return nil
}

// Run runs the enabled controllers and the scheduler, each while this
// process holds its Lease, until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Client == nil {
		return fmt.Errorf("manager: no API client")
	}
	if err := CheckDisabled(cfg.Disabled); err != nil {
		return err
	}
	if cfg.Identity == "" {
		cfg.Identity = defaultIdentity(cfg.IdentityPrefix)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	disabled := func(name string) bool { return slices.Contains(cfg.Disabled, name) }

	var enabled []entry
	if !disabled("controller-manager") {
		for _, c := range registry {
			if !disabled(c.name) {
				enabled = append(enabled, c)
			}
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	if cfg.SchedulerClient == nil {
		cfg.SchedulerClient = cfg.Client
	}
	elect := func(client kubernetes.Interface, lease, component string, entries []entry) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			clog := log.With("component", component)
			errs <- controllers.RunElected(ctx, controllers.Election{
				Client: client, Name: lease, Identity: cfg.Identity,
				LeaseDuration: cfg.LeaseDuration, RenewDeadline: cfg.RenewDeadline, RetryPeriod: cfg.RetryPeriod,
				Logger: clog,
			}, func(ctx context.Context) { runTerm(ctx, client, cfg, component, clog, entries) })
		}()
	}
	if len(enabled) > 0 {
		elect(cfg.Client, "kube-controller-manager", "controller-manager", enabled)
	}
	if !disabled(schedulerName) && schedulerEntry.new != nil {
		elect(cfg.SchedulerClient, "kube-scheduler", "scheduler", []entry{schedulerEntry})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// runTerm is one leadership term: fresh informers and controllers, run
// until ctx ends. A controller that fails is logged; the others go on.
func runTerm(ctx context.Context, client kubernetes.Interface, cfg Config, component string, log *slog.Logger, entries []entry) {
	cctx := controllers.NewContext(client, component, log)
	cctx.Cluster = cfg.Cluster
	defer cctx.Close()
	runners := make([]Runner, len(entries))
	for i, e := range entries {
		if e.newWith != nil {
			runners[i] = e.newWith(cctx, cfg)
		} else {
			runners[i] = e.new(cctx)
		}
	}
	cctx.Start(ctx)
	var wg sync.WaitGroup
	for i, r := range runners {
		if r == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Run(ctx); err != nil && ctx.Err() == nil {
				log.Error("controller stopped", "controller", entries[i].name, "err", err)
			}
		}()
	}
	wg.Wait()
}

func defaultIdentity(prefix string) string {
	host := prefix
	if host == "" {
		host, _ = os.Hostname()
	}
	if host == "" {
		host = "kelson"
	}
	var b [4]byte
	rand.Read(b[:])
	return host + "_" + hex.EncodeToString(b[:])
}
