package raftnode

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
)

// faultInjector is a transport filter shared by every member of a test
// cluster. The test changes its settings over time (phases); every member's
// transport asks it about each outgoing message. Because both ends consult
// the same injector, an isolated member is cut off in both directions.
//
// The random choices come from a generator seeded by the test's seed; which
// message meets which choice still depends on goroutine scheduling, so a
// seed reproduces the schedule of faults, not every single drop.
type faultInjector struct {
	mu       sync.Mutex
	rng      *rand.Rand
	drop     float64       // fraction of messages dropped
	delay    float64       // fraction of messages delayed (reordered)
	maxDelay time.Duration // upper bound of a delay
	isolated uint64        // member cut off from all others; 0 for none

	dropped, delayed, cut int // counters, for the log
}

func newFaultInjector(seed uint64) *faultInjector {
	return &faultInjector{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// filter is the Config.transportFilter.
func (f *faultInjector) filter(m *raftpb.Message) (drop bool, delay time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.isolated != 0 && (m.GetFrom() == f.isolated || m.GetTo() == f.isolated) {
		f.cut++
		return true, 0
	}
	if f.drop > 0 && f.rng.Float64() < f.drop {
		f.dropped++
		return true, 0
	}
	if f.delay > 0 && f.maxDelay > 0 && f.rng.Float64() < f.delay {
		f.delayed++
		return false, time.Duration(f.rng.Int64N(int64(f.maxDelay))) + 1
	}
	return false, 0
}

// set changes the faults: drop and delay fractions, the delay bound and
// the isolated member (0: none).
func (f *faultInjector) set(drop, delay float64, maxDelay time.Duration, isolated uint64) {
	f.mu.Lock()
	f.drop, f.delay, f.maxDelay, f.isolated = drop, delay, maxDelay, isolated
	f.mu.Unlock()
}

// heal removes every fault.
func (f *faultInjector) heal() { f.set(0, 0, 0, 0) }

func (f *faultInjector) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fmt.Sprintf("dropped=%d delayed=%d cut=%d", f.dropped, f.delayed, f.cut)
}

// testSeeds returns the fixed seeds of a randomized test, or the one given
// in KELSON_SEED to rerun a failure.
func testSeeds(t *testing.T, fixed ...uint64) []uint64 {
	t.Helper()
	if s := os.Getenv("KELSON_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 0, 64)
		if err != nil {
			t.Fatalf("KELSON_SEED=%q: %v", s, err)
		}
		return []uint64{v}
	}
	return fixed
}

// quietClient is a clientv3 client without the client's own logging (its
// retries under faults are expected and would drown the test output).
func quietClient(t testing.TB, eps ...string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// eventually retries cond until it returns nil or the (generous) deadline
// passes, then fails with cond's last error.
func eventually(t testing.TB, within time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %v: %v", what, within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// memberIDs returns the raft ID of each running member, by index.
func (tc *testCluster) memberIDs() []uint64 {
	ids := make([]uint64, len(tc.servers))
	for i, s := range tc.servers {
		if s != nil {
			ids[i] = s.Node.id
		}
	}
	return ids
}

// checkConverged waits until every listed endpoint has applied the
// revision a linearizable read sees now, then requires the same HashKV at
// that revision from all of them. It returns the revision.
func checkConverged(t testing.TB, eps []string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli := quietClient(t, eps...)
	var rev int64
	eventually(t, 20*time.Second, "linearizable read after healing", func() error {
		r, err := cli.Get(ctx, "converge-probe")
		if err != nil {
			return err
		}
		rev = r.Header.Revision
		return nil
	})
	hashes := map[string]*clientv3.HashKVResponse{}
	for _, ep := range eps {
		mc := quietClient(t, ep)
		eventually(t, 20*time.Second, "member "+ep+" applies revision "+strconv.FormatInt(rev, 10), func() error {
			r, err := mc.Get(ctx, "converge-probe", clientv3.WithSerializable())
			if err != nil {
				return err
			}
			if r.Header.Revision < rev {
				return fmt.Errorf("at revision %d", r.Header.Revision)
			}
			return nil
		})
		h, err := mc.HashKV(ctx, ep, rev)
		if err != nil {
			t.Fatalf("HashKV(%s, %d): %v", ep, rev, err)
		}
		hashes[ep] = h
	}
	var first *clientv3.HashKVResponse
	for _, ep := range eps {
		h := hashes[ep]
		if first == nil {
			first = h
			continue
		}
		if h.Hash != first.Hash || h.CompactRevision != first.CompactRevision {
			var all []string
			for _, e := range eps {
				all = append(all, fmt.Sprintf("%s: hash=%x compact=%d", e, hashes[e].Hash, hashes[e].CompactRevision))
			}
			t.Fatalf("members diverged at revision %d: %v", rev, all)
		}
	}
	return rev
}

// waitLeaderKnown waits until every running member knows the same leader
// and has applied every member's published name and client URLs, and
// returns the leader's index. tc.leader only waits for some member to lead;
// a member that has not heard from the leader yet cannot serve writes, and
// one that does not know the leader's client URL cannot forward the calls
// etcd serves on the leader only (lease keep-alive, learner promotion).
func (tc *testCluster) waitLeaderKnown() int {
	tc.t.Helper()
	lead := -1
	eventually(tc.t, 20*time.Second, "every member knows the leader", func() error {
		lead = tc.leader()
		id := tc.servers[lead].Node.id
		for i, s := range tc.servers {
			if s == nil {
				continue
			}
			if got := s.Node.leader.Load(); got != id {
				return fmt.Errorf("member %d follows %x, member %d (%x) leads", i, got, lead, id)
			}
			for _, m := range s.Node.membersSnapshot().Members {
				if len(m.ClientURLs) == 0 && !m.IsLearner {
					return fmt.Errorf("member %d has not applied the client URLs of %x", i, m.ID)
				}
			}
		}
		return nil
	})
	return lead
}
