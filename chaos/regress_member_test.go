package chaos

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

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

// TestNewMemberCatchesUpFromSnapshotWhenIdle: a member added once the
// leader's log no longer starts at index 1 can only catch up from a
// snapshot. The cluster is idle after the add. The new member must catch
// up all the same (the leader's snapshot must include it), not wait for the
// leader's next periodic snapshot.
func TestNewMemberCatchesUpFromSnapshotWhenIdle(t *testing.T) {
	c := startTestCluster(t, 3, "--snapshot-count", "500")
	cli := testClient(t, c.Endpoints()...)
	// More than the leader keeps behind a snapshot (5000 entries).
	fillHistory(t, cli, "idle/", 6000, 1, 1000)
	m, others, id, newID := replaceFollowerEmpty(t, c)
	r, err := others.Put(ctxT(t, 10*time.Second), "idle/last", "x")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(m, "", time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Logf("replaced %s (%x -> %x); the cluster is at revision %d and idle", m.Name, id, newID, r.Header.Revision)
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := m.Status(2 * time.Second)
		if err == nil && st.Header.Revision >= r.Header.Revision {
			t.Logf("%s caught up: revision %d, raft index %d", m.Name, st.Header.Revision, st.RaftAppliedIndex)
			return
		}
		if time.Now().After(deadline) {
			rejected := strings.Count(m.LastRunLog(), "attempted to restore snapshot but it is not in the ConfState")
			where := fmt.Sprint(err)
			if err == nil {
				where = fmt.Sprintf("revision %d, raft applied index %d", st.Header.Revision, st.RaftAppliedIndex)
			}
			t.Fatalf("%s, added to an idle cluster, has not caught up after 30s (%s); it rejected %d snapshots as not naming it in their configuration",
				m.Name, where, rejected)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestWatchAcrossSnapshotInstall: a watch on a new, still empty member,
// from a revision the cluster has (above its compaction), must deliver
// the events from that revision on once the member installs the leader's
// snapshot — not a compaction error naming a revision below the one it
// asked for.
func TestWatchAcrossSnapshotInstall(t *testing.T) {
	c := startTestCluster(t, 3, "--snapshot-count", "500")
	cli := testClient(t, c.Endpoints()...)
	fillHistory(t, cli, "wsi/", 6000, 1, 1000)
	r, err := cli.Put(ctxT(t, 10*time.Second), "wsi/mark", "m")
	if err != nil {
		t.Fatal(err)
	}
	compactAt := r.Header.Revision - 200
	if _, err := cli.Compact(ctxT(t, 10*time.Second), compactAt, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	m, others, _, _ := replaceFollowerEmpty(t, c)
	if err := c.Restart(m, "", time.Minute); err != nil {
		t.Fatal(err)
	}
	from := r.Header.Revision - 100 // above the compaction, below the current revision
	wc := testClient(t, m.ClientURL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wch := wc.Watch(ctx, "wsi/", clientv3.WithPrefix(), clientv3.WithRev(from))
	// Writes until the member has installed a snapshot and caught up.
	var last int64
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; ; i++ {
		w, err := others.Put(ctxT(t, 10*time.Second), fmt.Sprintf("wsi/after/%d", i%50), fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		last = w.Header.Revision
		if i%100 == 99 {
			if st, err := m.Status(2 * time.Second); err == nil && st.Header.Revision >= last {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not catch up within 60s", m.Name)
		}
	}
	t.Logf("%s caught up past revision %d; watching from %d (compacted at %d)", m.Name, last, from, compactAt)
	next := from
	timeout := time.After(30 * time.Second)
	for next <= last {
		select {
		case wr, ok := <-wch:
			if !ok {
				t.Fatalf("watch channel closed at revision %d", next)
			}
			if wr.CompactRevision != 0 {
				t.Fatalf("watch from %d on %s got a compaction error (compact revision %d) after %d events; the cluster was compacted at %d only",
					from, m.Name, wr.CompactRevision, next-from, compactAt)
			}
			if err := wr.Err(); err != nil {
				t.Fatalf("watch: %v", err)
			}
			for _, ev := range wr.Events {
				if ev.Kv.ModRevision < next {
					t.Fatalf("event at revision %d after %d (duplicate)", ev.Kv.ModRevision, next-1)
				}
				next = ev.Kv.ModRevision + 1
			}
		case <-timeout:
			t.Fatalf("watch from %d on %s: events up to %d only, want %d", from, m.Name, next-1, last)
		}
	}
}

// replaceFollowerEmpty removes a follower other than Members[0], wipes its
// data and adds it back as a new, empty member (not started: the caller
// restarts it with c.Restart). It returns the member, a client of the
// others, and the member's old and new IDs.
func replaceFollowerEmpty(t *testing.T, c *Cluster) (m *Member, others *clientv3.Client, oldID, newID uint64) {
	t.Helper()
	lead, err := c.WaitLeader(nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range c.Members[1:] {
		if o != lead {
			m = o
		}
	}
	if oldID, err = c.ID(m); err != nil {
		t.Fatal(err)
	}
	var eps []string
	for _, o := range c.Members {
		if o != m {
			eps = append(eps, o.ClientURL)
		}
	}
	others = testClient(t, eps...)
	m.ExpectExit(true)
	if _, err := others.MemberRemove(ctxT(t, 10*time.Second), oldID); err != nil {
		t.Fatal(err)
	}
	m.Kill()
	if err := m.Wipe(); err != nil {
		t.Fatal(err)
	}
	add, err := others.MemberAdd(ctxT(t, 10*time.Second), []string{m.PeerURL()})
	if err != nil {
		t.Fatal(err)
	}
	m.Args = setFlag(m.Args, "--initial-cluster-state", "existing")
	c.forgetID(m.Name)
	return m, others, oldID, add.Member.ID
}
