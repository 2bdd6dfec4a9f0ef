package raftnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/testbin"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// freePorts returns n distinct free loopback ports.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports, err := testbin.FreePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return ports
}

// testCluster is an in-process cluster of members on loopback.
type testCluster struct {
	t       testing.TB
	cfgs    []Config
	servers []*Server
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("KELSON_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newTestCluster(t testing.TB, size int, tweak func(i int, c *Config)) *testCluster {
	t.Helper()
	ports := freePorts(t, 2*size)
	dir := t.TempDir()
	var initial []string
	for i := 0; i < size; i++ {
		initial = append(initial, fmt.Sprintf("m%d=http://127.0.0.1:%d", i, ports[2*i+1]))
	}
	tc := &testCluster{t: t}
	for i := 0; i < size; i++ {
		c := Config{
			Name:                    fmt.Sprintf("m%d", i),
			DataDir:                 filepath.Join(dir, fmt.Sprintf("m%d", i)),
			ListenClientURLs:        []string{fmt.Sprintf("http://127.0.0.1:%d", ports[2*i])},
			ListenPeerURLs:          []string{fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1])},
			InitialCluster:          strings.Join(initial, ","),
			HeartbeatInterval:       20 * time.Millisecond,
			ElectionTimeout:         200 * time.Millisecond,
			Logger:                  testLogger(t).With("member", i),
			LeaseCheckpointInterval: time.Second,
		}
		if tweak != nil {
			tweak(i, &c)
		}
		tc.cfgs = append(tc.cfgs, c)
	}
	tc.servers = make([]*Server, size)
	for i := range tc.cfgs {
		tc.start(i)
	}
	t.Cleanup(tc.stopAll)
	return tc
}

func (tc *testCluster) start(i int) {
	tc.t.Helper()
	s, err := Start(context.Background(), tc.cfgs[i])
	if err != nil {
		tc.t.Fatalf("start member %d: %v", i, err)
	}
	tc.servers[i] = s
}

func (tc *testCluster) stop(i int) {
	if tc.servers[i] != nil {
		tc.servers[i].Stop()
		tc.servers[i] = nil
	}
}

func (tc *testCluster) stopAll() {
	for i := range tc.servers {
		tc.stop(i)
	}
}

func (tc *testCluster) endpoints() []string {
	var eps []string
	for _, c := range tc.cfgs {
		eps = append(eps, c.ListenClientURLs[0])
	}
	return eps
}

func (tc *testCluster) client(eps ...string) *clientv3.Client {
	tc.t.Helper()
	if len(eps) == 0 {
		eps = tc.endpoints()
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: nil})
	if err != nil {
		tc.t.Fatal(err)
	}
	tc.t.Cleanup(func() { c.Close() })
	return c
}

// leader waits for a leader and returns its member index.
func (tc *testCluster) leader() int {
	tc.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for i, s := range tc.servers {
			if s != nil && s.Node.isLead.Load() {
				return i
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	tc.t.Fatal("no leader elected")
	return -1
}

func TestSingleMemberPutGet(t *testing.T) {
	tc := newTestCluster(t, 1, nil)
	tc.leader()
	cli := tc.client()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "a", "1"); err != nil {
		t.Fatal(err)
	}
	r, err := cli.Get(ctx, "a")
	if err != nil || len(r.Kvs) != 1 || string(r.Kvs[0].Value) != "1" {
		t.Fatalf("get: %v %v", r, err)
	}
}

func TestThreeMembersReplicate(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	tc.leader()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i, ep := range tc.endpoints() {
		cli := tc.client(ep)
		if _, err := cli.Put(ctx, fmt.Sprintf("k%d", i), "v"); err != nil {
			t.Fatalf("put via member %d: %v", i, err)
		}
	}
	for i, ep := range tc.endpoints() {
		cli := tc.client(ep)
		r, err := cli.Get(ctx, "k", clientv3.WithPrefix())
		if err != nil || r.Count != 3 {
			t.Fatalf("member %d sees %v (%v)", i, r, err)
		}
	}
	ml, err := tc.client().MemberList(ctx)
	if err != nil || len(ml.Members) != 3 {
		t.Fatalf("member list: %v %v", ml, err)
	}
}

func TestFollowerCatchesUpThroughSnapshot(t *testing.T) {
	tc := newTestCluster(t, 3, func(i int, c *Config) {
		c.SnapshotCount = 50
		c.catchUpEntries = 10
	})
	lead := tc.leader()
	follower := (lead + 1) % 3
	tc.stop(follower)
	var eps []string
	for i, ep := range tc.endpoints() {
		if i != follower {
			eps = append(eps, ep)
		}
	}
	cli := tc.client(eps...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < 300; i++ {
		if _, err := cli.Put(ctx, fmt.Sprintf("key-%03d", i%97), fmt.Sprint(i)); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	want, err := cli.Get(ctx, "key-", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	tc.start(follower)
	fcli := tc.client(tc.endpoints()[follower])
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := fcli.Get(ctx, "key-", clientv3.WithPrefix(), clientv3.WithSerializable())
		if err == nil && got.Header.Revision >= want.Header.Revision {
			if fmt.Sprint(got.Kvs) != fmt.Sprint(want.Kvs) {
				t.Fatalf("follower data differs after catch-up")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("follower did not catch up: %v %v", got, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// And it keeps replicating afterwards.
	if _, err := cli.Put(ctx, "after", "x"); err != nil {
		t.Fatal(err)
	}
}

func TestLeaderRestartKeepsData(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	lead := tc.leader()
	cli := tc.client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < 50; i++ {
		if _, err := cli.Put(ctx, fmt.Sprintf("k%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	tc.stop(lead)
	newLead := tc.leader()
	if newLead == lead {
		t.Fatal("stopped member still leads")
	}
	if _, err := tc.client(tc.endpoints()[newLead]).Put(ctx, "while-down", "v"); err != nil {
		t.Fatalf("put with leader down: %v", err)
	}
	tc.start(lead)
	lc := tc.client(tc.endpoints()[lead])
	r, err := lc.Get(ctx, "", clientv3.WithPrefix())
	if err != nil || r.Count != 51 {
		t.Fatalf("restarted member sees %v (%v)", r, err)
	}
}

func TestRestartWithAnotherMembersDataDirFails(t *testing.T) {
	tc := newTestCluster(t, 1, nil)
	tc.leader()
	tc.stop(0)
	cfg := tc.cfgs[0]
	ports := freePorts(t, 1)
	cfg.ListenPeerURLs = []string{fmt.Sprintf("http://127.0.0.1:%d", ports[0])}
	cfg.InitialAdvertisePeerURLs = nil
	cfg.InitialCluster = fmt.Sprintf("%s=%s", cfg.Name, cfg.ListenPeerURLs[0])
	_, err := Start(context.Background(), cfg)
	if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), "belongs to member") {
		t.Fatalf("want a clear data dir error, got %v", err)
	}
}

// putThroughElections is a Put that a leader change under a loaded
// machine does not fail: "leader changed" and "no leader" are retried
// until ctx ends (the write either did not happen or is repeated with the
// same value, which these tests allow).
func putThroughElections(ctx context.Context, cli *clientv3.Client, k, v string) (*clientv3.PutResponse, error) {
	for {
		r, err := cli.Put(ctx, k, v)
		if err == nil || ctx.Err() != nil {
			return r, err
		}
		switch rpctypes.ErrorDesc(err) {
		case rpctypes.ErrorDesc(rpctypes.ErrLeaderChanged), rpctypes.ErrorDesc(rpctypes.ErrNoLeader),
			rpctypes.ErrorDesc(rpctypes.ErrTimeoutDueToLeaderFail):
		default:
			return r, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
