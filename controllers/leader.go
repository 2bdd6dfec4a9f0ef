package controllers

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Election configures RunElected. Zero durations mean Kubernetes' defaults
// (15 s lease, 10 s renew deadline, 2 s retry).
type Election struct {
	// Client talks to the API holding the Lease.
	Client kubernetes.Interface
	// Name of the Lease in kube-system, e.g. "kube-controller-manager".
	Name string
	// Identity of this candidate; unique per process (host name + a random
	// suffix, as kube-controller-manager does).
	Identity string
	// LeaseDuration, RenewDeadline, RetryPeriod as client-go's
	// leaderelection: a dead leader is replaced within about
	// LeaseDuration + RetryPeriod.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	Logger                                    *slog.Logger
}

// RunElected runs lead while this process holds the Lease, and returns
// when ctx ends. A lost lease cancels lead's context; RunElected then waits
// for lead to return and campaigns again, so lead may run several times
// (one term each) and must build its state afresh every time.
func RunElected(ctx context.Context, e Election, lead func(ctx context.Context)) error {
	if e.Client == nil || e.Name == "" || e.Identity == "" {
		return errors.New("controllers: an election needs a client, a lease name and an identity")
	}
	if e.LeaseDuration == 0 {
		e.LeaseDuration = 15 * time.Second
	}
	if e.RenewDeadline == 0 {
		e.RenewDeadline = 10 * time.Second
	}
	if e.RetryPeriod == 0 {
		e.RetryPeriod = 2 * time.Second
	}
	log := e.Logger
	if log == nil {
		log = slog.Default()
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1ObjectMeta("kube-system", e.Name),
		Client:     e.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: e.Identity},
	}
	for ctx.Err() == nil {
		t := &term{}
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   e.LeaseDuration,
			RenewDeadline:   e.RenewDeadline,
			RetryPeriod:     e.RetryPeriod,
			ReleaseOnCancel: true,
			Name:            e.Name,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) {
					if !t.begin() {
						return
					}
					defer t.running.Done()
					log.Info("became leader", "lease", e.Name, "identity", e.Identity)
					lead(ctx)
				},
				OnStoppedLeading: func() { log.Info("stopped leading", "lease", e.Name, "identity", e.Identity) },
			},
		})
		if err != nil {
			return err
		}
		// Run returns when leadership is lost or ctx ends; it runs
		// OnStartedLeading in a goroutine and does not wait for it: wait
		// here, so two terms never overlap in this process.
		le.Run(ctx)
		t.end()
	}
	return nil
}

// term is one campaign's leadership: lead runs at most once per term, and
// end waits for it. client-go starts OnStartedLeading in a goroutine that
// may begin after Run has returned; begin refuses it then.
type term struct {
	mu      sync.Mutex
	ended   bool
	running sync.WaitGroup
}

func (t *term) begin() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		return false
	}
	t.running.Add(1)
	return true
}

func (t *term) end() {
	t.mu.Lock()
	t.ended = true
	t.mu.Unlock()
	t.running.Wait()
}
