package chaos

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestLeaseKeepAliveSurvivesLeaderLoss: a keep-alive the leader
// acknowledged must hold on the next leader. The lease is old enough to
// have a checkpointed remaining TTL (checkpoints come every 30s); the
// leader is cut off from the other members (its outgoing messages are
// lost), acknowledges a keep-alive, and dies. The key must live until the
// keep-alive's time plus the TTL. Takes about 100s: only with
// KELSON_CHAOS_DURATION set (make chaos).
func TestLeaseKeepAliveSurvivesLeaderLoss(t *testing.T) {
	if !longRun() {
		t.Skip("takes ~100s (a lease checkpoint comes after 30s); runs under make chaos")
	}
	c := startTestCluster(t, 3)
	started := time.Now()
	leader, err := c.WaitLeader(nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	lc := testClient(t, leader.ClientURL)
	const ttl = 60
	g, err := lc.Grant(ctxT(t, 10*time.Second), ttl)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lc.Put(ctxT(t, 10*time.Second), "lka/key", "v", clientv3.WithLease(g.ID)); err != nil {
		t.Fatal(err)
	}
	// Wait for the leader's first checkpoint (30s after it started) to be
	// applied everywhere.
	time.Sleep(time.Until(started.Add(33 * time.Second)))
	c.Net.Block(leader.Name, "*")
	ka, err := lc.KeepAliveOnce(ctxT(t, 5*time.Second), g.ID)
	kaAt := time.Now()
	if err != nil {
		// Right: a leader that cannot replicate must not acknowledge it.
		t.Logf("the cut-off leader did not acknowledge the keep-alive (%v)", err)
		return
	}
	leader.Kill()
	t.Logf("keep-alive acknowledged by the cut-off leader %s (TTL %d); leader killed", leader.Name, ka.TTL)
	c.Net.Heal()
	others := []*Member{}
	for _, m := range c.Members {
		if m != leader {
			others = append(others, m)
		}
	}
	if _, err := c.WaitLeader(others, time.Minute); err != nil {
		t.Fatal(err)
	}
	var eps []string
	for _, m := range others {
		eps = append(eps, m.ClientURL)
	}
	cli := testClient(t, eps...)
	promised := kaAt.Add(ttl * time.Second)
	for time.Now().Before(promised.Add(-time.Second)) {
		r, err := cli.Get(ctxT(t, 5*time.Second), "lka/key")
		if err == nil && len(r.Kvs) == 0 {
			t.Fatalf("the key of a lease kept alive at %s (TTL %ds) is gone %v early (%v after the keep-alive)",
				kaAt.Format("15:04:05.000"), ttl, time.Until(promised).Round(time.Millisecond), time.Since(kaAt).Round(time.Millisecond))
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("the key outlived the keep-alive's TTL")
}

// TestLeaseNotEarlyAfterLeaderChange: leases granted around a leadership
// transfer to a member with a slow disk (it is slow to apply what it
// inherits, so its lessor waits before starting deadlines) must not expire
// before their TTL counted from the grant's call. Each round grants
// 2-second leases from 16 clients while the leadership moves, then asks
// every 20ms whether each lease still exists until all are gone.
func TestLeaseNotEarlyAfterLeaderChange(t *testing.T) {
	if !longRun() {
		t.Skip("takes ~25s; runs under make chaos")
	}
	dir := workDir(t)
	c, err := StartCluster(ClusterConfig{Binary: kelsonBin, Dir: dir, Logf: t.Logf,
		Disk: func(name string) string { return normalDisk(dir, name) }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rounds := 3
	if longRun() {
		rounds = 10
	}
	type lease struct {
		id         clientv3.LeaseID
		call, gone time.Time
		ttl        int64
	}
	early := 0
	for round := 0; round < rounds; round++ {
		lead, err := c.WaitLeader(nil, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		var to *Member
		for _, m := range c.Members {
			if m != lead {
				to = m
			}
		}
		toID, err := c.ID(to)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(ctlPath(dir, to.Name), []byte("sync-latency=300ms"), 0o644); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond) // the control file is read every 200ms
		var mu sync.Mutex
		var leases []*lease
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for g := 0; g < 16; g++ {
			cli := testClient(t, c.Members[g%len(c.Members)].ClientURL)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					l := &lease{call: time.Now()}
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					gr, err := cli.Grant(ctx, 2)
					cancel()
					if err == nil {
						l.id, l.ttl = gr.ID, gr.TTL
						mu.Lock()
						leases = append(leases, l)
						mu.Unlock()
					}
					time.Sleep(10 * time.Millisecond)
				}
			}()
		}
		time.Sleep(300 * time.Millisecond)
		_, err = lead.Client().MoveLeader(ctxT(t, 10*time.Second), toID)
		t.Logf("round %d: move leadership %s -> %s (slow disk): %v", round, lead.Name, to.Name, err)
		time.Sleep(1500 * time.Millisecond)
		close(stop)
		wg.Wait()
		cli := testClient(t, c.Endpoints()...)
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			left := 0
			for _, l := range leases {
				if !l.gone.IsZero() {
					continue
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				r, err := cli.TimeToLive(ctx, l.id)
				ret := time.Now()
				cancel()
				if err == nil && r.TTL == -1 {
					l.gone = ret
					continue
				}
				left++
			}
			if left == 0 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		n := 0
		for _, l := range leases {
			if l.gone.IsZero() {
				continue
			}
			// The lease was gone at an answer that came at l.gone; it
			// cannot have expired before its grant was called plus its TTL.
			if d := l.call.Add(time.Duration(l.ttl) * time.Second).Sub(l.gone); d > 0 {
				n++
				if n <= 5 {
					t.Errorf("round %d: lease %x (TTL %ds) gone %v before its TTL from the grant's call", round, l.id, l.ttl, d.Round(time.Millisecond))
				}
			}
		}
		early += n
		t.Logf("round %d: %d leases, %d gone early", round, len(leases), n)
		if err := os.WriteFile(ctlPath(dir, to.Name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if early > 0 {
		t.Logf("%d leases expired early in %d rounds", early, rounds)
	}
}
