package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/testbin"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestMemberAttributesAfterSnapshotCatchUp: a member that catches up
// through a snapshot must end with the same member list as the others,
// including member attributes (name, client URLs) published after the
// leader's raft snapshot but before the store it streams.
//
// Member c is stopped and misses more entries than the leader keeps; then
// b restarts with one more client URL (as etcd allows) and publishes it;
// then c restarts and installs a snapshot from the leader.
func TestMemberAttributesAfterSnapshotCatchUp(t *testing.T) {
	if testing.Short() {
		t.Skip("needs more than 5000 writes while a member is down")
	}
	seed := logSeed(t)
	c := newCluster(t, clusterOptions{size: 3, extra: []string{
		"--heartbeat-interval", "50", "--election-timeout", "500",
		"--snapshot-count", "200",
	}})
	a, b, lag := c.Members[0], c.Members[1], c.Members[2]
	lag.Term()
	st, err := a.Status()
	if err != nil {
		t.Fatal(err)
	}
	start := st.RaftIndex
	w := startWorkload(t, newClient(t, a.ClientURL, b.ClientURL), "fill", 16, 50, seed)
	target := start + leaderKeepsEntries + 1000
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, err := a.Status()
		if err == nil && st.RaftIndex >= target {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a not at raft index %d after 2m; %v", target, w)
		}
		time.Sleep(50 * time.Millisecond)
	}
	w.Stop()

	// b restarts serving clients on one more URL.
	b.Term()
	ports, err := testbin.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	urls := b.ClientURL + "," + fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	b.Args = setFlag(b.Args, "--listen-client-urls", urls)
	b.Args = setFlag(b.Args, "--advertise-client-urls", urls)
	b.Restart()
	bID := memberID(t, b)
	waitMemberClientURLs(t, a, bID, urls)

	lag.Restart()
	waitLog(t, lag, "installed snapshot from leader", time.Minute)
	// lag has applied everything a has once its applied index passes a's
	// commit index (no writes go on).
	st, err = a.Status()
	if err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(time.Minute)
	for {
		lst, err := lag.Status()
		if err == nil && lst.RaftAppliedIndex >= st.RaftIndex {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has not applied index %d after 1m (status %v, %v)", lag.Name, st.RaftIndex, lst, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, m := range c.Members {
		got := memberClientURLs(t, m, bID)
		if got != urls {
			t.Errorf("member list on %s: b's client URLs are %q, want %q (as published after b's restart)", m.Name, got, urls)
		}
	}
}

// setFlag replaces the value of flag in a command line.
func setFlag(args []string, flag, value string) []string {
	args = slices.Clone(args)
	for i := range args[:len(args)-1] {
		if args[i] == flag {
			args[i+1] = value
		}
	}
	return args
}

// memberClientURLs returns id's client URLs as m's own member list has
// them (a serializable member list: m's local view).
func memberClientURLs(t *testing.T, m *member, id uint64) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	resp, err := m.Client().MemberList(ctx, clientv3.WithSerializable())
	if err != nil {
		t.Fatalf("member list on %s: %v", m.Name, err)
	}
	for _, mm := range resp.Members {
		if mm.ID == id {
			return strings.Join(mm.ClientURLs, ",")
		}
	}
	t.Fatalf("member list on %s has no member %x", m.Name, id)
	return ""
}

func waitMemberClientURLs(t *testing.T, m *member, id uint64, want string) {
	t.Helper()
	deadline := time.Now().Add(leaderTimeout)
	for {
		got := memberClientURLs(t, m, id)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("member list on %s: %x has client URLs %q after %v, want %q", m.Name, id, got, leaderTimeout, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
