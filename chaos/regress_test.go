package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Short regression tests, each on its own small cluster, for behaviours a
// chaos run exercises only by chance.

// startTestCluster starts size members (no disk faults) for a test and stops
// them when it ends.
func startTestCluster(t *testing.T, size int, extra ...string) *Cluster {
	t.Helper()
	c, err := StartCluster(ClusterConfig{Binary: kelsonBin, Dir: workDir(t), Size: size, Extra: extra, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, m := range c.Members {
				t.Logf("--- last lines of %s's log (%s):\n%s", m.Name, m.LogPath, m.Tail(40))
			}
		}
		c.Close()
	})
	return c
}

func testClient(t *testing.T, eps ...string) *clientv3.Client {
	t.Helper()
	cli, err := NewClient(eps...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// fillHistory writes txns of `per` puts over `keys` keys: txns revisions,
// txns*per history records.
func fillHistory(t *testing.T, cli *clientv3.Client, prefix string, txns, per, keys int) {
	t.Helper()
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < txns; i += 8 {
				ops := make([]clientv3.Op, per)
				for j := range ops {
					ops[j] = clientv3.OpPut(fmt.Sprintf("%s%05d", prefix, (i*per+j)%keys), fmt.Sprintf("v%d-%d", i, j))
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err := cli.Txn(ctx).Then(ops...).Commit()
				cancel()
				if err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatalf("fill history: %v", err)
	default:
	}
}

// TestRevisionNotBackwardsAfterCrashDuringCompaction: a member SIGKILLed
// while it compacts a large history restarts at a revision at least the
// one it had, and the next write gets a newer revision. The history's
// newest revision is a delete of every key written, so the compaction
// removes everything, tombstones included, in many steps (20000 keys).
func TestRevisionNotBackwardsAfterCrashDuringCompaction(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 11))
	c := startTestCluster(t, 1)
	m := c.Members[0]
	rounds := 3
	if longRun() {
		rounds = 8
	}
	for round := 0; round < rounds; round++ {
		cli := m.Client()
		prefix := fmt.Sprintf("hist/r%d/", round)
		fillHistory(t, cli, prefix, 200, 100, 20000)
		d, err := cli.Delete(ctxT(t, 30*time.Second), prefix, clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		before := d.Header.Revision
		compactAt := before
		if round%2 == 1 {
			compactAt = before - 1 // keep the tombstones' revision
		}
		compacted := make(chan struct{})
		go func() {
			defer close(compacted)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, _ = cli.Compact(ctx, compactAt, clientv3.WithCompactPhysical())
		}()
		wait := time.Duration(rng.IntN(60)) * time.Millisecond
		if round == rounds-1 {
			<-compacted // and once after the compaction finished
		}
		time.Sleep(wait)
		m.Kill()
		m.closeClient()
		<-compacted
		if err := c.Restart(m, "", time.Minute); err != nil {
			t.Fatal(err)
		}
		if _, err := c.WaitLeader(nil, time.Minute); err != nil {
			t.Fatal(err)
		}
		st, err := m.Status(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		after := st.Header.Revision
		t.Logf("round %d: revision %d before the kill %v into the compaction at %d, %d after the restart", round, before, wait, compactAt, after)
		if after < before {
			t.Errorf("round %d: revision went backwards from %d to %d after a crash during compaction at %d", round, before, after, compactAt)
		}
		r, err := m.Client().Put(ctxT(t, 10*time.Second), "probe", fmt.Sprint(round))
		if err != nil {
			t.Fatal(err)
		}
		if r.Header.Revision <= before {
			t.Errorf("round %d: a put after the restart got revision %d, not above %d", round, r.Header.Revision, before)
		}
		if _, err := m.Client().HashKV(ctxT(t, 30*time.Second), m.ClientURL, 0); err != nil {
			t.Errorf("round %d: HashKV after the restart: %v", round, err)
		}
		g, err := m.Client().Get(ctxT(t, 10*time.Second), prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil || g.Count != 0 {
			t.Errorf("round %d: %d keys of the deleted prefix after the restart (err %v), want 0", round, g.Count, err)
		}
		if compactAt == before-1 {
			// The delete at `before` is above the compaction: a watch
			// from it sees it.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			wr := <-m.Client().Watch(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(before))
			cancel()
			if wr.Err() != nil || len(wr.Events) != 20000 || wr.Events[0].Type != mvccpb.DELETE {
				t.Errorf("round %d: watch from the delete at %d: %d events, err %v; want 20000 deletes", round, before, len(wr.Events), wr.Err())
			}
		}
	}
}

// TestTxnReadAtCompactedRevision: a txn whose read asks for a compacted
// revision fails cleanly: an error, nothing of the txn applied (not even
// the put before the read), the server alive and the members identical.
func TestTxnReadAtCompactedRevision(t *testing.T) {
	c := startTestCluster(t, 3)
	cli := testClient(t, c.Endpoints()...)
	var last int64
	for i := 0; i < 20; i++ {
		r, err := cli.Put(ctxT(t, 10*time.Second), "txc/k", fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		last = r.Header.Revision
	}
	if _, err := cli.Compact(ctxT(t, 10*time.Second), last-2, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	old := last - 10
	cases := []struct {
		name string
		ops  []clientv3.Op
	}{
		{"read only", []clientv3.Op{clientv3.OpGet("txc/k", clientv3.WithRev(old))}},
		{"put then read", []clientv3.Op{clientv3.OpPut("txc/written", "must not exist"), clientv3.OpGet("txc/k", clientv3.WithRev(old))}},
		{"read then put", []clientv3.Op{clientv3.OpGet("txc/k", clientv3.WithRev(old)), clientv3.OpPut("txc/written", "must not exist")}},
		{"nested", []clientv3.Op{clientv3.OpPut("txc/written", "must not exist"),
			clientv3.OpTxn(nil, []clientv3.Op{clientv3.OpGet("txc/k", clientv3.WithRev(old))}, nil)}},
	}
	for _, tc := range cases {
		r, err := cli.Txn(ctxT(t, 10*time.Second)).Then(tc.ops...).Commit()
		if err == nil {
			t.Errorf("%s: txn reading compacted revision %d succeeded (%v), want an error", tc.name, old, r)
		} else if !errors.Is(err, rpctypes.ErrCompacted) {
			t.Logf("%s: error %v (etcd answers %v)", tc.name, err, rpctypes.ErrCompacted)
		}
		g, err := cli.Get(ctxT(t, 10*time.Second), "txc/written")
		if err != nil {
			t.Fatalf("%s: server not answering after the txn: %v", tc.name, err)
		}
		if len(g.Kvs) > 0 {
			t.Errorf("%s: the failed txn's put is applied (txc/written at revision %d): a txn is not atomic", tc.name, g.Kvs[0].ModRevision)
			if _, err := cli.Delete(ctxT(t, 10*time.Second), "txc/written"); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, m := range c.Members {
		if !m.Running() {
			t.Fatalf("%s is not running", m.Name)
		}
	}
	r, err := cli.Put(ctxT(t, 10*time.Second), "txc/end", "x")
	if err != nil {
		t.Fatal(err)
	}
	rev, err := c.SettledRevision(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if rev < r.Header.Revision {
		t.Fatalf("settled at %d, below the last put's %d", rev, r.Header.Revision)
	}
	v := &Violations{}
	t.Logf("HashKV: %s", CheckHashKV(c.Members, rev, v))
	if v.Total() > 0 {
		t.Errorf("%s", v)
	}
}

// TestSingleMemberKillNoAckedWriteLost: writes acknowledged by a single
// member survive its SIGKILL.
func TestSingleMemberKillNoAckedWriteLost(t *testing.T) {
	seed := testSeed(t)
	c := startTestCluster(t, 1)
	m := c.Members[0]
	type ack struct {
		key, val string
		rev      int64
	}
	rounds := 3
	if longRun() {
		rounds = 10
	}
	rng := rand.New(rand.NewPCG(seed, 12))
	for round := 0; round < rounds; round++ {
		cli := testClient(t, m.ClientURL)
		var mu sync.Mutex
		var acks []ack
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					key, val := fmt.Sprintf("ack/r%d/w%d/%d", round, w, i%20), fmt.Sprintf("r%d-w%d-%d", round, w, i)
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					r, err := cli.Put(ctx, key, val)
					cancel()
					if err != nil {
						return
					}
					mu.Lock()
					acks = append(acks, ack{key, val, r.Header.Revision})
					mu.Unlock()
				}
			}()
		}
		time.Sleep(time.Duration(500+rng.IntN(1000)) * time.Millisecond)
		m.Kill()
		close(stop)
		wg.Wait()
		m.closeClient()
		if err := c.Restart(m, "", time.Minute); err != nil {
			t.Fatal(err)
		}
		if _, err := c.WaitLeader(nil, time.Minute); err != nil {
			t.Fatal(err)
		}
		rc := testClient(t, m.ClientURL)
		lost := 0
		for _, a := range acks {
			g, err := rc.Get(ctxT(t, 10*time.Second), a.key, clientv3.WithRev(a.rev))
			if err != nil {
				t.Fatal(err)
			}
			if len(g.Kvs) == 0 || string(g.Kvs[0].Value) != a.val || g.Kvs[0].ModRevision != a.rev {
				lost++
				if lost < 10 {
					t.Errorf("round %d: acknowledged put %s=%s at revision %d lost after SIGKILL (read %v)", round, a.key, a.val, a.rev, g.Kvs)
				}
			}
		}
		t.Logf("round %d: %d acknowledged puts before SIGKILL, %d lost", round, len(acks), lost)
	}
}
