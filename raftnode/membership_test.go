package raftnode

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/raft/v3/raftpb"
)

type etcdMember = pb.Member

// backgroundWriter puts bg/<seq> keys in a loop and remembers which puts
// were acknowledged. Errors are allowed (elections, a removed member); lost
// acknowledged writes and lack of progress are not.
type backgroundWriter struct {
	cli     *clientv3.Client
	stop    chan struct{}
	done    chan struct{}
	acked   atomic.Int64
	errs    atomic.Int64
	mu      sync.Mutex
	ackSeq  []int
	lastErr error
}

func startBackgroundWriter(cli *clientv3.Client) *backgroundWriter {
	w := &backgroundWriter{cli: cli, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for seq := 0; ; seq++ {
			select {
			case <-w.stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			_, err := cli.Put(ctx, fmt.Sprintf("bg/%06d", seq), fmt.Sprint(seq))
			cancel()
			if err != nil {
				w.errs.Add(1)
				w.mu.Lock()
				w.lastErr = err
				w.mu.Unlock()
				time.Sleep(20 * time.Millisecond)
				continue
			}
			w.mu.Lock()
			w.ackSeq = append(w.ackSeq, seq)
			w.mu.Unlock()
			w.acked.Add(1)
		}
	}()
	return w
}

// progress waits until n more writes are acknowledged.
func (w *backgroundWriter) progress(t *testing.T, n int64, what string) {
	t.Helper()
	from := w.acked.Load()
	eventually(t, 20*time.Second, "background writes "+what, func() error {
		if got := w.acked.Load() - from; got < n {
			w.mu.Lock()
			defer w.mu.Unlock()
			return fmt.Errorf("%d of %d acknowledged (%d errors, last: %v)", got, n, w.errs.Load(), w.lastErr)
		}
		return nil
	})
}

func (w *backgroundWriter) finish() []int {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.ackSeq)
}

func TestMembershipAddLearnerPromoteRemove(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	tc.waitLeaderKnown()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	origEps := tc.endpoints()
	writer := startBackgroundWriter(quietClient(t, origEps...))
	writer.progress(t, 20, "before the change")

	// Add a fourth member as a learner, then start it joining the cluster.
	cli := quietClient(t, origEps...)
	addCli := quietClient(t, origEps[0]) // membership changes are checked on the member that made them
	ports := freePorts(t, 2)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	add, err := addCli.MemberAddAsLearner(ctx, []string{peerURL})
	if err != nil {
		t.Fatalf("MemberAddAsLearner: %v", err)
	}
	newID := add.Member.ID
	if !add.Member.IsLearner || newID == 0 {
		t.Fatalf("added member %+v: want a learner with an ID", add.Member)
	}
	if !slices.ContainsFunc(add.Members, func(m *etcdMember) bool { return m.ID == newID && m.IsLearner }) {
		t.Fatalf("MemberAdd response lists %v without the new learner %x", add.Members, newID)
	}
	// Not started yet, so it holds nothing: promoting it must be refused.
	if _, err := addCli.MemberPromote(ctx, newID); !errors.Is(err, rpctypes.ErrMemberLearnerNotReady) {
		t.Fatalf("promoting a learner that has nothing: %v, want %v", err, rpctypes.ErrMemberLearnerNotReady)
	}
	base := tc.cfgs[0]
	cfg := Config{
		Name:                    "m3",
		DataDir:                 filepath.Join(t.TempDir(), "m3"),
		ListenClientURLs:        []string{fmt.Sprintf("http://127.0.0.1:%d", ports[0])},
		ListenPeerURLs:          []string{peerURL},
		InitialCluster:          base.InitialCluster + ",m3=" + peerURL,
		InitialClusterState:     "existing",
		HeartbeatInterval:       base.HeartbeatInterval,
		ElectionTimeout:         base.ElectionTimeout,
		LeaseCheckpointInterval: base.LeaseCheckpointInterval,
		Logger:                  testLogger(t).With("member", 3),
	}
	tc.cfgs = append(tc.cfgs, cfg)
	tc.servers = append(tc.servers, nil)
	tc.start(3)
	if got := tc.servers[3].Node.id; got != newID {
		t.Fatalf("joining member took ID %x, the cluster added %x", got, newID)
	}
	newEp := cfg.ListenClientURLs[0]
	learnerCli := quietClient(t, newEp)
	// It catches up: it applies what the cluster acknowledged.
	writer.progress(t, 10, "with a learner")
	r, err := cli.Get(ctx, "bg/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "learner catches up", func() error {
		lr, err := learnerCli.Get(ctx, "bg/", clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithSerializable())
		if err != nil {
			return err
		}
		if lr.Header.Revision < r.Header.Revision {
			return fmt.Errorf("learner at revision %d, cluster at %d", lr.Header.Revision, r.Header.Revision)
		}
		return nil
	})

	st, err := learnerCli.Status(ctx, newEp)
	if err != nil {
		t.Fatalf("status of the learner: %v", err)
	}
	if !st.IsLearner {
		t.Errorf("the caught-up learner's Status says IsLearner=false")
	}

	// Promote it; the leader refuses while it lags.
	notReady := 0
	eventually(t, 20*time.Second, "promote the learner", func() error {
		_, err := cli.MemberPromote(ctx, newID)
		if errors.Is(err, rpctypes.ErrMemberLearnerNotReady) {
			notReady++
		}
		return err
	})
	t.Logf("promoted after %d not-ready answers", notReady)
	writer.progress(t, 10, "after the promotion")

	// Remove the leader among the original members: the cluster must elect
	// another and keep serving.
	victim := tc.leader()
	if victim == 3 {
		victim = 0 // the new member leads: remove an original one anyway
	}
	victimID := tc.servers[victim].Node.id
	var rest []string
	for i, ep := range tc.endpoints() {
		if i != victim {
			rest = append(rest, ep)
		}
	}
	rcli := quietClient(t, rest...)
	rm, err := rcli.MemberRemove(ctx, victimID)
	switch {
	case err != nil:
		t.Fatalf("MemberRemove(%x): %v", victimID, err)
	case slices.ContainsFunc(rm.Members, func(m *etcdMember) bool { return m.ID == victimID }):
		t.Errorf("MemberRemove response still lists the removed member")
	}
	tc.stop(victim)
	writer.cli.SetEndpoints(rest...)
	writer.progress(t, 20, "after removing member "+fmt.Sprint(victim))
	acked := writer.finish()
	t.Logf("background writer: %d acknowledged, %d errors", len(acked), writer.errs.Load())

	// Every remaining member lists the same three voters.
	var want []uint64
	for i, s := range tc.servers {
		if s != nil && i != victim {
			want = append(want, s.Node.id)
		}
	}
	sort.Slice(want, func(i, j int) bool { return want[i] < want[j] })
	for _, ep := range rest {
		mc := quietClient(t, ep)
		eventually(t, 20*time.Second, "member list on "+ep, func() error {
			ml, err := mc.MemberList(ctx)
			if err != nil {
				return err
			}
			var got []uint64
			for _, m := range ml.Members {
				got = append(got, m.ID)
				if m.IsLearner {
					return fmt.Errorf("member %x is still a learner", m.ID)
				}
				if m.Name == "" || len(m.ClientURLs) == 0 {
					return fmt.Errorf("member %x has not published its name and client URLs: %+v", m.ID, m)
				}
			}
			sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
			if !slices.Equal(got, want) {
				return fmt.Errorf("members %x, want %x", got, want)
			}
			return nil
		})
	}

	// No acknowledged write is lost, and the members hold identical data.
	all, err := rcli.Get(ctx, "bg/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, kv := range all.Kvs {
		have[string(kv.Key)] = true
	}
	for _, seq := range acked {
		if k := fmt.Sprintf("bg/%06d", seq); !have[k] {
			t.Errorf("acknowledged write %s is lost", k)
		}
	}
	checkConverged(t, rest)
}

// TestMembershipChangeVisibleOnEveryMember: once MemberAdd returned, the
// member exists for the cluster: promoting or removing it through any
// member must find it, as etcd's would (the change is committed).
func TestMembershipChangeVisibleOnEveryMember(t *testing.T) {
	var lagging atomic.Uint64 // a member whose appends arrive late
	tc := newTestCluster(t, 3, func(i int, c *Config) {
		c.transportFilter = func(m *raftpb.Message) (bool, time.Duration) {
			if m.GetTo() == lagging.Load() && m.GetType() == raftpb.MessageType_MsgApp {
				return false, 300 * time.Millisecond
			}
			return false, 0
		}
	})
	lead := tc.waitLeaderKnown()
	slow := (lead + 1) % 3
	lagging.Store(tc.servers[slow].Node.id)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	leadCli := quietClient(t, tc.endpoints()[lead])
	slowCli := quietClient(t, tc.endpoints()[slow])
	ports := freePorts(t, 1)
	add, err := leadCli.MemberAddAsLearner(ctx, []string{fmt.Sprintf("http://127.0.0.1:%d", ports[0])})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := slowCli.MemberPromote(ctx, add.Member.ID); !errors.Is(err, rpctypes.ErrMemberLearnerNotReady) {
		t.Errorf("promote through another member right after the add: %v, want %v", err, rpctypes.ErrMemberLearnerNotReady)
	}
	if _, err := slowCli.MemberRemove(ctx, add.Member.ID); err != nil {
		t.Errorf("remove through another member right after the add: %v", err)
	}
}

// TestRemoveLeaderThroughFollower: removing the leader is an ordinary
// membership change; once applied, the client must be told it succeeded
// (etcdctl member remove <leader> does not fail on etcd). The leader's
// messages take 100ms, as across a WAN: the removed leader must stay long
// enough for the followers to learn that its removal committed.
func TestRemoveLeaderThroughFollower(t *testing.T) {
	var slowFrom atomic.Uint64
	tc := newTestCluster(t, 3, func(i int, c *Config) {
		c.transportFilter = func(m *raftpb.Message) (bool, time.Duration) {
			if m.GetFrom() == slowFrom.Load() {
				return false, 100 * time.Millisecond
			}
			return false, 0
		}
	})
	lead := tc.waitLeaderKnown()
	follower := (lead + 1) % 3
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli := quietClient(t, tc.endpoints()[follower])
	leadID := tc.servers[lead].Node.id
	slowFrom.Store(leadID)
	_, err := cli.MemberRemove(ctx, leadID)
	// Whatever the answer, the removal itself must take effect.
	eventually(t, 20*time.Second, "the leader is removed", func() error {
		ml, err := cli.MemberList(ctx)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(ml.Members, func(m *etcdMember) bool { return m.ID == leadID }) {
			return fmt.Errorf("member list still has %x", leadID)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("MemberRemove(leader) through a follower: %v, although the removal was applied", err)
	}
}

// replaceMember removes member i (through the others), stops it and adds a
// new member in its place: a new ID on a fresh peer URL, an empty data
// directory, started with --initial-cluster-state existing. It returns the
// new member's index.
func (tc *testCluster) replaceMember(ctx context.Context, i int) int {
	tc.t.Helper()
	var rest []string
	for j, s := range tc.servers {
		if j != i && s != nil {
			rest = append(rest, tc.cfgs[j].ListenClientURLs[0])
		}
	}
	cli := quietClient(tc.t, rest...)
	id := tc.servers[i].Node.id
	if _, err := cli.MemberRemove(ctx, id); err != nil {
		tc.t.Fatalf("remove member %d (%x): %v", i, id, err)
	}
	tc.stop(i)
	ports := freePorts(tc.t, 2)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	add, err := cli.MemberAdd(ctx, []string{peerURL})
	if err != nil {
		tc.t.Fatalf("add a member in place of member %d: %v", i, err)
	}
	base := tc.cfgs[0]
	k := len(tc.cfgs)
	cfg := Config{
		Name:                    fmt.Sprintf("m%d", k),
		DataDir:                 filepath.Join(tc.t.TempDir(), fmt.Sprintf("m%d", k)),
		ListenClientURLs:        []string{fmt.Sprintf("http://127.0.0.1:%d", ports[0])},
		ListenPeerURLs:          []string{peerURL},
		InitialCluster:          base.InitialCluster + fmt.Sprintf(",m%d=%s", k, peerURL),
		InitialClusterState:     "existing",
		HeartbeatInterval:       base.HeartbeatInterval,
		ElectionTimeout:         base.ElectionTimeout,
		LeaseCheckpointInterval: base.LeaseCheckpointInterval,
		SnapshotCount:           base.SnapshotCount,
		Logger:                  testLogger(tc.t).With("member", k),
		catchUpEntries:          base.catchUpEntries,
	}
	tc.cfgs = append(tc.cfgs, cfg)
	tc.servers = append(tc.servers, nil)
	tc.start(k)
	if got := tc.servers[k].Node.id; got != add.Member.ID {
		tc.t.Fatalf("joining member took ID %x, the cluster added %x", got, add.Member.ID)
	}
	tc.t.Logf("replaced member %d (%x) with member %d (%x)", i, id, k, add.Member.ID)
	return k
}

// runningEndpoints returns the client URLs of the running members.
func (tc *testCluster) runningEndpoints() []string {
	var eps []string
	for i, s := range tc.servers {
		if s != nil {
			eps = append(eps, tc.cfgs[i].ListenClientURLs[0])
		}
	}
	return eps
}

// checkSameConfState fails unless every running member's raft
// configuration (voters, learners) is the same and has want voters.
func (tc *testCluster) checkSameConfState(want int) {
	tc.t.Helper()
	eventually(tc.t, 20*time.Second, "identical conf states", func() error {
		var first string
		for i, s := range tc.servers {
			if s == nil {
				continue
			}
			type conf struct {
				desc   string
				voters int
			}
			ch := make(chan conf, 1)
			if !s.Node.do(func() { // rn belongs to the loop
				cfg := s.Node.rn.Status().Config
				ch <- conf{cfg.String(), len(cfg.Voters.IDs())}
			}) {
				return fmt.Errorf("member %d stopped: %v", i, s.Node.stopped())
			}
			c := <-ch
			got := c.desc
			if c.voters != want {
				return fmt.Errorf("member %d has %d voters (%s), want %d", i, c.voters, got, want)
			}
			if first == "" {
				first = got
			} else if got != first {
				return fmt.Errorf("member %d has %s, another %s", i, got, first)
			}
		}
		return nil
	})
}

// TestReplaceFirstBootstrapMember: the first --initial-cluster member is
// removed and replaced while the log still starts at index 1. The joiner
// replays the whole log, whose first entry adds the removed member; a
// surviving member restarted replays it too. Both must come to the same
// configuration as the others, not reject the replayed add (and panic on
// an empty configuration) because they already know of the removal.
func TestReplaceFirstBootstrapMember(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	tc.waitLeaderKnown()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cli := quietClient(t, tc.endpoints()[1:]...)
	for i := 0; i < 20; i++ {
		if _, err := cli.Put(ctx, fmt.Sprintf("rf/%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	firstID := tc.servers[0].Node.id
	k := tc.replaceMember(ctx, 0)
	eventually(t, 20*time.Second, "the new member catches up", func() error {
		r, err := quietClient(t, tc.cfgs[k].ListenClientURLs[0]).Get(ctx, "rf/19", clientv3.WithSerializable())
		if err != nil {
			return err
		}
		if len(r.Kvs) != 1 {
			return fmt.Errorf("rf/19 not there yet (revision %d)", r.Header.Revision)
		}
		return nil
	})
	tc.checkSameConfState(3)
	// A surviving bootstrap member restarts from a log that starts at 1.
	tc.stop(1)
	tc.start(1)
	after := quietClient(t, tc.runningEndpoints()...)
	eventually(t, 20*time.Second, "a write after the restart", func() error {
		_, err := after.Put(ctx, "rf/after", "x") // may meet an election
		return err
	})
	tc.checkSameConfState(3)
	checkConverged(t, tc.runningEndpoints())
	// Every member, the joiner too (by replaying the removal), holds the
	// removed ID as removed: its messages are refused, it is never re-added.
	for i, s := range tc.servers {
		if s != nil && !s.Node.membersSnapshot().Removed[firstID] {
			t.Errorf("member %d does not know that %x was removed", i, firstID)
		}
	}
}

// TestNewMemberInstallsSnapshotWhenIdle: a member added after the leader's
// last raft snapshot catches up from a snapshot that names it, without
// waiting for more writes (and for the next periodic snapshot).
func TestNewMemberInstallsSnapshotWhenIdle(t *testing.T) {
	tc := newTestCluster(t, 3, func(i int, c *Config) {
		c.SnapshotCount = 50
		c.catchUpEntries = 10
	})
	lead := tc.waitLeaderKnown()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cli := quietClient(t, tc.endpoints()...)
	for i := 0; i < 200; i++ {
		if _, err := putThroughElections(ctx, cli, fmt.Sprintf("idle/%03d", i%50), fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	k := tc.replaceMember(ctx, (lead+1)%3)
	// Idle from here: one write to know the revision to reach.
	r, err := quietClient(t, tc.endpoints()[lead]).Put(ctx, "idle/last", "x")
	if err != nil {
		t.Fatal(err)
	}
	nc := quietClient(t, tc.cfgs[k].ListenClientURLs[0])
	eventually(t, 20*time.Second, "the new member installs a snapshot and catches up", func() error {
		g, err := nc.Get(ctx, "idle/last", clientv3.WithSerializable())
		if err != nil {
			return err
		}
		if g.Header.Revision < r.Header.Revision {
			return fmt.Errorf("at revision %d, want %d", g.Header.Revision, r.Header.Revision)
		}
		return nil
	})
	tc.checkSameConfState(3)
	checkConverged(t, tc.runningEndpoints())
}
