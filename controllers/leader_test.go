package controllers_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/internal/testcluster"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// candidate is one process campaigning for a lease; its client can be cut
// off from the API, as a crashed or partitioned server is.
type candidate struct {
	name    string
	cutOff  atomic.Bool
	leading atomic.Bool
	terms   atomic.Int32
	cancel  context.CancelFunc
	done    chan struct{} // closed when RunElected returned, with err set
	err     error
}

type cutTransport struct {
	c    *candidate
	next http.RoundTripper
}

func (t cutTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.c.cutOff.Load() {
		return nil, errors.New("cut off from the API")
	}
	return t.next.RoundTrip(r)
}

func campaign(t *testing.T, cfg *rest.Config, name string, onLead func(name string, ctx context.Context)) *candidate {
	c := &candidate{name: name, done: make(chan struct{})}
	rc := rest.CopyConfig(cfg)
	rc.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return cutTransport{c: c, next: rt} }
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() {
		defer close(c.done)
		c.err = controllers.RunElected(ctx, controllers.Election{
			Client: client, Name: "test-lease", Identity: name,
			LeaseDuration: 2 * time.Second, RenewDeadline: 1500 * time.Millisecond, RetryPeriod: 200 * time.Millisecond,
			Logger: testcluster.Logger(),
		}, func(ctx context.Context) {
			c.terms.Add(1)
			c.leading.Store(true)
			onLead(name, ctx)
			c.leading.Store(false)
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-c.done
		if c.err != nil {
			t.Errorf("candidate %s: %v", name, c.err)
		}
	})
	return c
}

// TestElectionOneLeaderAndTakeover: of three candidates exactly one leads;
// when it steps down (context ended: the lease is released) another takes
// over, and their terms never overlap; when the next leader is cut off
// from the API, a third takes over after the lease expires.
func TestElectionOneLeaderAndTakeover(t *testing.T) {
	c := testcluster.Start(t)
	var mu sync.Mutex
	active := map[string]bool{}
	var overlap atomic.Value
	onLead := func(name string, ctx context.Context) {
		mu.Lock()
		if len(active) > 0 {
			overlap.Store(fmt.Sprintf("%s started leading while %v led", name, active))
		}
		active[name] = true
		mu.Unlock()
		<-ctx.Done()
		mu.Lock()
		delete(active, name)
		mu.Unlock()
	}
	cands := []*candidate{
		campaign(t, c.Config, "a", onLead),
		campaign(t, c.Config, "b", onLead),
		campaign(t, c.Config, "c", onLead),
	}
	leader := func() (*candidate, error) {
		var ls []*candidate
		for _, cand := range cands {
			if cand.leading.Load() {
				ls = append(ls, cand)
			}
		}
		if len(ls) != 1 {
			return nil, fmt.Errorf("%d leaders", len(ls))
		}
		return ls[0], nil
	}
	var first *candidate
	testcluster.Eventually(t, 30*time.Second, func() (err error) { first, err = leader(); return err })

	first.cancel() // steps down, releasing the lease
	<-first.done
	var second *candidate
	testcluster.Eventually(t, 30*time.Second, func() error {
		l, err := leader()
		if err == nil && l == first {
			err = errors.New("the stopped candidate still leads")
		}
		second = l
		return err
	})
	if v := overlap.Load(); v != nil {
		t.Fatalf("terms overlapped after a release: %v", v)
	}

	second.cutOff.Store(true) // crashed or partitioned: no release
	testcluster.Eventually(t, 60*time.Second, func() error {
		for _, cand := range cands {
			if cand != first && cand != second && cand.leading.Load() {
				return nil
			}
		}
		return errors.New("no third leader yet")
	})
	testcluster.Eventually(t, 30*time.Second, func() error {
		if second.leading.Load() {
			return errors.New("the cut-off leader still believes it leads")
		}
		return nil
	})
	if lease, err := c.Client.CoordinationV1().Leases("kube-system").Get(context.Background(), "test-lease", metav1Get); err != nil {
		t.Fatal(err)
	} else if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == first.name || *lease.Spec.HolderIdentity == second.name {
		t.Fatalf("lease holder %v, want the third candidate", lease.Spec.HolderIdentity)
	}
}
