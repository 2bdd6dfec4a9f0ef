package e2e

import (
	"strings"
	"testing"
	"time"
)

// leaderKeepsEntries is how many entries a Kelson leader keeps in its log
// behind a snapshot (raftnode's default catch-up entries; there is no flag
// for it). A follower that misses more than this plus --snapshot-count
// entries can only catch up through a snapshot.
const leaderKeepsEntries = 5000

// logSeed prints the seed when the test fails, for a rerun with the same
// random choices.
func logSeed(t *testing.T) int64 {
	seed := *seedFlag
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d (rerun with -e2e.seed=%d)", seed, seed)
		}
	})
	return seed
}

// TestKillLeaderDuringWrites: SIGKILL the leader of three members while 16
// clients write; the other two elect a leader and go on acknowledging
// writes; the killed member, restarted with the same command line, catches
// up through a snapshot streamed from the leader (it missed more entries
// than the leader keeps); then every member holds every acknowledged write
// and all agree on HashKV.
//
// Under -short the survivors write only a few hundred entries, so the
// restarted member catches up from the leader's log instead.
func TestKillLeaderDuringWrites(t *testing.T) {
	seed := logSeed(t)
	const snapshotCount = 200
	c := newCluster(t, clusterOptions{size: 3, extra: []string{
		"--heartbeat-interval", "50", "--election-timeout", "500",
		"--snapshot-count", "200",
	}})
	w := startWorkload(t, c.Client(), "kill", 16, 50, seed)
	w.WaitAcked(t, 3*snapshotCount, time.Minute, "before the kill")

	old := c.Leader()
	st, err := old.Status()
	if err != nil {
		t.Fatalf("status of leader %s: %v", old.Name, err)
	}
	oldID, killIndex := st.Header.MemberId, st.RaftIndex
	old.Kill()
	ackedAtKill := w.acked.Load()
	t.Logf("killed leader %s (%x) at raft index ~%d; %v", old.Name, oldID, killIndex, w)

	survivors := c.Others(old)
	leader := c.WaitLeader(survivors)
	if id := memberID(t, leader); id == oldID {
		t.Fatalf("new leader %s has the killed leader's ID %x", leader.Name, id)
	}
	t.Logf("new leader %s", leader.Name)
	w.WaitAcked(t, ackedAtKill+100, time.Minute, "after the kill")

	// Take the survivors far enough past the killed member's log that the
	// leader no longer has the entries it needs: the leader's last snapshot
	// at or past target-snapshotCount drops the log up to
	// leaderKeepsEntries before it. The margin covers the entries the old
	// leader appended between its Status answer and its death.
	target := killIndex + 500
	if !testing.Short() {
		target = killIndex + leaderKeepsEntries + 2*snapshotCount + 1000
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, err := leader.Status()
		if err == nil && st.RaftIndex >= target {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("leader %s not at raft index %d after 2m (status %v, %v); %v, last error %v",
				leader.Name, target, st, err, w, w.err())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("survivors at raft index >= %d; %v; restarting %s", target, w, old.Name)

	old.Restart()
	if !testing.Short() {
		waitLog(t, old, "installed snapshot from leader", time.Minute)
	}
	w.WaitAcked(t, w.acked.Load()+200, time.Minute, "after the restart")
	w.Stop()
	t.Logf("writers stopped: %v", w)

	c.WaitLeader(nil)
	rev := settledRevision(t, c.Members)
	for _, m := range c.Members {
		w.verify(t, m, rev)
	}
	sameHashKV(t, c.Members, rev)
}

// TestKillSingleMemberDuringWrites: a single member is killed (SIGKILL)
// twice during writes and stopped once with SIGTERM (it must exit 0);
// after the restarts every acknowledged write is there (synced to the raft
// log before the acknowledgement).
func TestKillSingleMemberDuringWrites(t *testing.T) {
	seed := logSeed(t)
	// A small --snapshot-count: restarts replay the log from a raft
	// snapshot, after log compaction.
	c := newCluster(t, clusterOptions{size: 1, extra: []string{"--snapshot-count", "100"}})
	m := c.Members[0]
	w := startWorkload(t, c.Client(), "single", 8, 50, seed)
	stops := []struct {
		name string
		stop func()
	}{{"SIGKILL", m.Kill}, {"SIGKILL", m.Kill}, {"SIGTERM", m.Term}}
	for i, s := range stops {
		w.WaitAcked(t, w.acked.Load()+500, time.Minute, "before "+s.name)
		s.stop()
		t.Logf("round %d: %s; %v", i+1, s.name, w)
		m.Restart()
		c.WaitLeader(nil)
	}
	w.WaitAcked(t, w.acked.Load()+100, time.Minute, "after the last restart")
	w.Stop()
	rev := settledRevision(t, c.Members)
	w.verify(t, m, rev)
}

// waitLog waits until the log of the member's current run contains s.
func waitLog(t *testing.T, m *member, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(m.LastRunLog(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %q in its log after %v", m.Name, s, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
