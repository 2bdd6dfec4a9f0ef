package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
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

// TestWatchFromFutureRevision: a watch from a revision in the future gets
// only the events at and after that revision, all of them.
func TestWatchFromFutureRevision(t *testing.T) {
	c := startTestCluster(t, 1)
	cli := c.Members[0].Client()
	var rev int64
	for i := 0; i < 3; i++ {
		r, err := cli.Put(ctxT(t, 10*time.Second), fmt.Sprintf("fut/%d", i), "x")
		if err != nil {
			t.Fatal(err)
		}
		rev = r.Header.Revision
	}
	from := rev + 5
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wch := cli.Watch(ctx, "fut/", clientv3.WithPrefix(), clientv3.WithRev(from))
	for i := 0; i < 10; i++ {
		if _, err := cli.Put(ctxT(t, 10*time.Second), fmt.Sprintf("fut/%d", i%4), fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	want := from
	timeout := time.After(20 * time.Second)
	for want <= rev+10 {
		select {
		case wr, ok := <-wch:
			if !ok || wr.Err() != nil {
				t.Fatalf("watch ended: %v", wr.Err())
			}
			for _, ev := range wr.Events {
				if ev.Kv.ModRevision != want {
					t.Fatalf("watch from future revision %d: got an event at revision %d, want %d", from, ev.Kv.ModRevision, want)
				}
				want++
			}
		case <-timeout:
			t.Fatalf("watch from %d: events up to %d only", from, want-1)
		}
	}
}

// TestDeleteEventAtCompactedRevision: a key deleted at revision D, history
// compacted at D: a watch from D still gets the delete.
func TestDeleteEventAtCompactedRevision(t *testing.T) {
	c := startTestCluster(t, 1)
	cli := c.Members[0].Client()
	if _, err := cli.Put(ctxT(t, 10*time.Second), "del/k", "v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctxT(t, 10*time.Second), "del/k", "v2"); err != nil {
		t.Fatal(err)
	}
	d, err := cli.Delete(ctxT(t, 10*time.Second), "del/k")
	if err != nil || d.Deleted != 1 {
		t.Fatalf("delete: %v %v", d, err)
	}
	del := d.Header.Revision
	if _, err := cli.Put(ctxT(t, 10*time.Second), "del/other", "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctxT(t, 10*time.Second), del, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		key  string
		opts []clientv3.OpOption
	}{
		{"del/k", []clientv3.OpOption{clientv3.WithRev(del)}},
		{"del/", []clientv3.OpOption{clientv3.WithRev(del), clientv3.WithPrefix()}},
		{"del/k", []clientv3.OpOption{clientv3.WithRev(del), clientv3.WithPrevKV()}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		wr := <-cli.Watch(ctx, w.key, w.opts...)
		cancel()
		if wr.Err() != nil {
			t.Fatalf("watch %s from the compacted revision %d: %v", w.key, del, wr.Err())
		}
		if len(wr.Events) == 0 || wr.Events[0].Type != mvccpb.DELETE || wr.Events[0].Kv.ModRevision != del || string(wr.Events[0].Kv.Key) != "del/k" {
			t.Errorf("watch %s from the compacted revision %d: first events %v, want the delete of del/k at %d", w.key, del, wr.Events, del)
		}
	}
	// One revision below the compaction is gone.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wr := <-cli.Watch(ctx, "del/k", clientv3.WithRev(del-1))
	if wr.CompactRevision != del {
		t.Errorf("watch from %d after compaction at %d: compact revision %d, err %v", del-1, del, wr.CompactRevision, wr.Err())
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

// TestProgressNotifyOrdering: on one watch stream, progress notifications
// requested while puts go on are ordered with the events: each names a
// revision at or above the last event received, and no later event has a
// revision at or below it.
func TestProgressNotifyOrdering(t *testing.T) {
	c := startTestCluster(t, 1)
	m := c.Members[0]
	cli := testClient(t, m.ClientURL)
	wcli := testClient(t, m.ClientURL)
	st, err := m.Status(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wch := wcli.Watch(ctx, "pn/", clientv3.WithPrefix(), clientv3.WithRev(st.Header.Revision+1))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var puts atomic.Int64
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := cli.Put(context.Background(), fmt.Sprintf("pn/%d", w), fmt.Sprint(i)); err == nil {
					puts.Add(1)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
				_ = wcli.RequestProgress(ctx)
			}
		}
	}()
	dur := 3 * time.Second
	if longRun() {
		dur = 20 * time.Second
	}
	end := time.After(dur)
	var lastEvent, lastProgress int64
	progress, events := 0, 0
	bad := 0
loop:
	for {
		select {
		case wr, ok := <-wch:
			if !ok || wr.Err() != nil {
				t.Fatalf("watch ended: %v", wr.Err())
			}
			if wr.IsProgressNotify() {
				progress++
				if wr.Header.Revision < lastEvent {
					bad++
					if bad < 10 {
						t.Errorf("progress notification at revision %d after an event at revision %d", wr.Header.Revision, lastEvent)
					}
				}
				lastProgress = max(lastProgress, wr.Header.Revision)
			}
			for _, ev := range wr.Events {
				events++
				if ev.Kv.ModRevision <= lastProgress {
					bad++
					if bad < 10 {
						t.Errorf("event at revision %d after a progress notification at revision %d", ev.Kv.ModRevision, lastProgress)
					}
				}
				if ev.Kv.ModRevision <= lastEvent {
					t.Errorf("event at revision %d after one at %d", ev.Kv.ModRevision, lastEvent)
				}
				lastEvent = ev.Kv.ModRevision
			}
		case <-end:
			break loop
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d puts, %d events, %d progress notifications", puts.Load(), events, progress)
	if progress == 0 {
		t.Errorf("no progress notification in %v of RequestProgress every 2ms", dur)
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

// TestSlowWatcherAndCompaction: a watcher that does not read (its gRPC
// flow-control window is small, so the member cannot push events to it)
// falls behind while thousands of revisions are written, and history is
// compacted past its position. When it reads again it must get its events
// in order with no gap, then either the rest or a compaction notice whose
// revision lies above what it received — never a silent jump.
func TestSlowWatcherAndCompaction(t *testing.T) {
	for _, compact := range []bool{false, true} {
		t.Run(fmt.Sprintf("compact=%v", compact), func(t *testing.T) {
			c := startTestCluster(t, 1)
			m := c.Members[0]
			cli := testClient(t, m.ClientURL)
			st, err := m.Status(5 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			start := st.Header.Revision + 1
			cc, err := grpc.NewClient(m.Endpoint(), grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ws, err := pb.NewWatchClient(cc).Watch(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := ws.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{
				Key: []byte("slow/"), RangeEnd: []byte("slow0"), StartRevision: start}}}); err != nil {
				t.Fatal(err)
			}
			created, err := ws.Recv()
			if err != nil || !created.Created {
				t.Fatalf("watch create: %v %v", created, err)
			}
			const n = 3000
			val := strings.Repeat("v", 2048)
			var mid int64
			for i := 0; i < n; i++ {
				r, err := cli.Put(ctxT(t, 10*time.Second), fmt.Sprintf("slow/k%03d", i%300), fmt.Sprintf("%d-%s", i, val))
				if err != nil {
					t.Fatal(err)
				}
				if i == n/2 {
					mid = r.Header.Revision
				}
			}
			if compact {
				if _, err := cli.Compact(ctxT(t, 30*time.Second), mid, clientv3.WithCompactPhysical()); err != nil {
					t.Fatal(err)
				}
			}
			next := start
			for next < start+n {
				rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
				resp, err := recvWithContext(rctx, ws)
				rcancel()
				if err != nil {
					t.Fatalf("watch after %d of %d events: %v", next-start, n, err)
				}
				if resp.CompactRevision != 0 {
					if !compact {
						t.Fatalf("compaction notice (revision %d) without a compaction", resp.CompactRevision)
					}
					if resp.CompactRevision < next {
						t.Fatalf("compaction notice at revision %d, but the watcher has every event below %d: nothing was lost to compaction", resp.CompactRevision, next)
					}
					t.Logf("compacted at %d after %d events in order (watcher at %d, compaction at %d)", resp.CompactRevision, next-start, next, mid)
					return
				}
				for _, ev := range resp.Events {
					if ev.Kv.ModRevision != next {
						t.Fatalf("event at revision %d, want %d (after %d in order)", ev.Kv.ModRevision, next, next-start)
					}
					if want := fmt.Sprintf("%d-", next-start); !strings.HasPrefix(string(ev.Kv.Value), want) {
						t.Fatalf("event at revision %d holds %.10q, want %q...", next, ev.Kv.Value, want)
					}
					next++
				}
			}
			t.Logf("all %d events in order", n)
		})
	}
}

func recvWithContext(ctx context.Context, ws pb.Watch_WatchClient) (*pb.WatchResponse, error) {
	type res struct {
		r   *pb.WatchResponse
		err error
	}
	ch := make(chan res, 1)
	go func() { r, err := ws.Recv(); ch <- res{r, err} }()
	select {
	case r := <-ch:
		return r.r, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// TestWatchLargeRevision: one revision deleting 20000 keys of 1 KiB (about
// 20 MiB of events with their previous values) reaches a plain watcher, a
// watcher with previous values and a fragmenting watcher as one response
// (clientv3 reassembles fragments), complete and correct.
func TestWatchLargeRevision(t *testing.T) {
	c := startTestCluster(t, 1)
	m := c.Members[0]
	cli := testClient(t, m.ClientURL)
	const keys = 20000
	val := strings.Repeat("z", 1024)
	for i := 0; i < keys; i += 100 {
		ops := make([]clientv3.Op, 0, 100)
		for j := i; j < i+100; j++ {
			ops = append(ops, clientv3.OpPut(fmt.Sprintf("big/%05d", j), val))
		}
		if _, err := cli.Txn(ctxT(t, 30*time.Second)).Then(ops...).Commit(); err != nil {
			t.Fatal(err)
		}
	}
	st, err := m.Status(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	type watcher struct {
		name string
		ch   clientv3.WatchChan
	}
	var ws []watcher
	for _, w := range []struct {
		name string
		opts []clientv3.OpOption
	}{
		{"plain", nil},
		{"prevKV", []clientv3.OpOption{clientv3.WithPrevKV()}},
		{"fragment+prevKV", []clientv3.OpOption{clientv3.WithPrevKV(), clientv3.WithFragment()}},
	} {
		wc := testClient(t, m.ClientURL)
		opts := append([]clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithRev(st.Header.Revision + 1)}, w.opts...)
		ws = append(ws, watcher{w.name, wc.Watch(ctxT(t, time.Minute), "big/", opts...)})
	}
	d, err := cli.Delete(ctxT(t, time.Minute), "big/", clientv3.WithPrefix())
	if err != nil || d.Deleted != keys {
		t.Fatalf("delete: %v, %v", d, err)
	}
	for _, w := range ws {
		select {
		case wr := <-w.ch:
			if wr.Err() != nil {
				t.Fatalf("%s: %v", w.name, wr.Err())
			}
			if len(wr.Events) != keys {
				t.Errorf("%s: first response holds %d events, want all %d of revision %d", w.name, len(wr.Events), keys, d.Header.Revision)
				continue
			}
			for i, ev := range wr.Events {
				if ev.Type != mvccpb.DELETE || ev.Kv.ModRevision != d.Header.Revision || string(ev.Kv.Key) != fmt.Sprintf("big/%05d", i) {
					t.Errorf("%s: event %d is %v %s at %d", w.name, i, ev.Type, ev.Kv.Key, ev.Kv.ModRevision)
					break
				}
				if w.name != "plain" && (ev.PrevKv == nil || string(ev.PrevKv.Value) != val) {
					t.Errorf("%s: event %d has previous value %v", w.name, i, ev.PrevKv)
					break
				}
			}
		case <-time.After(time.Minute):
			t.Fatalf("%s: no events within a minute", w.name)
		}
	}
}

// TestNoStaleReadAfterRestart: a member SIGKILLed during writes is
// restarted; its first answers must not be older than what it had served
// (or, alone, acknowledged) before the crash. A serializable read may be
// stale with respect to other members, but a member that answered at
// revision R and, restarted, answers below R goes back in time: a client
// reading only from it sees its own acknowledged writes disappear for a
// moment, and a watcher sees a progress notification below events it
// received. etcd serves clients only once it has replayed its log up to
// its own publish entry. Single member, then a follower of three.
func TestNoStaleReadAfterRestart(t *testing.T) {
	if !longRun() {
		t.Skip("takes ~35s; runs under make chaos (TestChaos checks serializable reads the same way)")
	}
	for _, size := range []int{1, 3} {
		t.Run(fmt.Sprintf("members=%d", size), func(t *testing.T) { testNoStaleReadAfterRestart(t, size) })
	}
}

func testNoStaleReadAfterRestart(t *testing.T, size int) {
	c := startTestCluster(t, size)
	rounds := 10
	stale := 0
	for round := 0; round < rounds; round++ {
		lead, err := c.WaitLeader(nil, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		m := lead
		if size > 1 {
			for _, o := range c.Members {
				if o != lead {
					m = o
				}
			}
		}
		cli := testClient(t, lead.ClientURL)
		mc := testClient(t, m.ClientURL)
		var served atomic.Int64 // the newest revision m answered a read at
		raise := func(v int64) {
			for {
				cur := served.Load()
				if v <= cur || served.CompareAndSwap(cur, v) {
					return
				}
			}
		}
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
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					r, err := cli.Put(ctx, fmt.Sprintf("stale/w%d", w), fmt.Sprint(i))
					cancel()
					if err != nil {
						return
					}
					if size == 1 {
						raise(r.Header.Revision) // a lone member acknowledged it
					}
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				r, err := mc.Get(ctx, "stale/w0", clientv3.WithSerializable())
				cancel()
				if err != nil {
					return
				}
				raise(r.Header.Revision)
			}
		}()
		time.Sleep(time.Second)
		m.Kill()
		close(stop)
		wg.Wait()
		m.closeClient()
		before := served.Load()
		if err := m.Start(""); err != nil {
			t.Fatal(err)
		}
		// Ask as soon as it answers.
		rc, err := NewClient(m.ClientURL)
		if err != nil {
			t.Fatal(err)
		}
		var first int64
		deadline := time.Now().Add(30 * time.Second)
		for first == 0 && time.Now().Before(deadline) {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			r, err := rc.Get(ctx, "stale/w0", clientv3.WithSerializable())
			cancel()
			if err == nil {
				first = r.Header.Revision
			}
		}
		rc.Close()
		if first == 0 {
			t.Fatalf("round %d: no answer after the restart", round)
		}
		if _, err := c.WaitLeader(nil, time.Minute); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: %s served up to revision %d before SIGKILL; first answer after the restart at revision %d", round, m.Name, before, first)
		if first < before {
			stale++
			t.Errorf("round %d: after the restart %s answered a read at revision %d, below revision %d it had served before the crash", round, m.Name, first, before)
		}
	}
	if stale > 0 {
		t.Logf("%d of %d restarts served an older revision than before the crash", stale, rounds)
	}
}

// TestRemovedMemberStops: a member removed while it is cut off never
// receives the conf change that removes it (the leader stops replicating
// to it at once). When the network heals, it must learn that it was
// removed and stop, as etcd does (its peers answer it "member removed");
// it must not go on serving stale reads with no leader.
func TestRemovedMemberStops(t *testing.T) {
	c := startTestCluster(t, 3)
	lead, err := c.WaitLeader(nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var victim *Member
	var others []*Member
	for _, m := range c.Members {
		if m != lead && victim == nil {
			victim = m
		} else {
			others = append(others, m)
		}
	}
	id, err := c.ID(victim)
	if err != nil {
		t.Fatal(err)
	}
	victim.ExpectExit(true)
	c.Net.Isolate(victim.Name)
	var eps []string
	for _, m := range others {
		eps = append(eps, m.ClientURL)
	}
	cli := testClient(t, eps...)
	if _, err := cli.MemberRemove(ctxT(t, 20*time.Second), id); err != nil {
		t.Fatalf("remove %s: %v", victim.Name, err)
	}
	r, err := cli.Put(ctxT(t, 10*time.Second), "after-removal", "x")
	if err != nil {
		t.Fatal(err)
	}
	c.Net.Heal()
	t.Logf("removed %s (%x) while it was cut off; network healed; the cluster is at revision %d", victim.Name, id, r.Header.Revision)
	select {
	case <-victim.Done():
		t.Logf("%s stopped by itself: %v", victim.Name, victim.Exits())
		return
	case <-time.After(30 * time.Second):
	}
	desc := ""
	if st, err := victim.Status(2 * time.Second); err == nil {
		desc = fmt.Sprintf("its status: leader %x, raft index %d, revision %d", st.Leader, st.RaftIndex, st.Header.Revision)
	} else {
		desc = fmt.Sprintf("status: %v", err)
	}
	g, gerr := victim.Client().Get(ctxT(t, 5*time.Second), "after-removal", clientv3.WithSerializable())
	if gerr == nil {
		desc += fmt.Sprintf("; a serializable read answers at revision %d with %d keys (the cluster is at %d)", g.Header.Revision, len(g.Kvs), r.Header.Revision)
	}
	t.Errorf("%s, removed while cut off, is still running 30s after the network healed; %s", victim.Name, desc)
}

// TestReplaceFirstMember: the first member of --initial-cluster is removed
// and added back (new ID, same peer URL, empty data directory) while the
// leader's log still starts at index 1. The new member replays the whole
// log, whose first entry adds the removed member: it must join and serve,
// not crash.
func TestReplaceFirstMember(t *testing.T) {
	knownBug(t, `BUG 3: a joining member that replays the add of a removed member first panics "removed all voters"`)
	c := startTestCluster(t, 3)
	first := c.Members[0]
	lead, err := c.WaitLeader(nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	others := c.Members[1:]
	var eps []string
	for _, m := range others {
		eps = append(eps, m.ClientURL)
	}
	cli := testClient(t, eps...)
	if lead == first {
		id, err := c.ID(others[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := first.Client().MoveLeader(ctxT(t, 10*time.Second), id); err != nil {
			t.Fatalf("move leadership off %s: %v", first.Name, err)
		}
	}
	for i := 0; i < 100; i++ {
		if _, err := cli.Put(ctxT(t, 10*time.Second), fmt.Sprintf("rf/%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	id, err := c.ID(first)
	if err != nil {
		t.Fatal(err)
	}
	first.ExpectExit(true)
	if _, err := cli.MemberRemove(ctxT(t, 10*time.Second), id); err != nil {
		t.Fatalf("remove %s: %v", first.Name, err)
	}
	first.Kill()
	if err := first.Wipe(); err != nil {
		t.Fatal(err)
	}
	add, err := cli.MemberAdd(ctxT(t, 10*time.Second), []string{first.PeerURL()})
	if err != nil {
		t.Fatalf("add %s back: %v", first.Name, err)
	}
	t.Logf("removed %s (%x), added it back as %x", first.Name, id, add.Member.ID)
	first.Args = setFlag(first.Args, "--initial-cluster-state", "existing")
	c.forgetID(first.Name)
	if err := c.Restart(first, "", time.Minute); err != nil {
		t.Fatalf("restart %s as a new member: %v\n%s", first.Name, err, first.Tail(30))
	}
	// It must catch up and stay up.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if !first.Running() {
			t.Fatalf("%s exited after joining:\n%s", first.Name, first.Tail(30))
		}
		g, err := first.Client().Get(ctxT(t, 5*time.Second), "rf/99", clientv3.WithSerializable())
		if err == nil && len(g.Kvs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not catch up within 30s (last: %v)", first.Name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := c.WaitLeader(nil, time.Minute); err != nil {
		t.Fatal(err)
	}
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
