package bench

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/raftnode"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// startMember starts a one-member Kelson store on free loopback ports and
// returns its client address once it has a leader.
func startMember(t testing.TB) string {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("KELSON_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := raftnode.Start(context.Background(), raftnode.Config{
		Name:              "bench",
		DataDir:           filepath.Join(t.TempDir(), "bench.kelson"),
		ListenClientURLs:  []string{"http://127.0.0.1:0"},
		ListenPeerURLs:    []string{"http://127.0.0.1:0"},
		HeartbeatInterval: 20 * time.Millisecond,
		ElectionTimeout:   200 * time.Millisecond,
		Logger:            log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	ep := s.ClientAddr[0]
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := cli.Status(ctx, ep)
		cancel()
		if err == nil && st.Leader != 0 {
			return ep
		}
		if time.Now().After(deadline) {
			t.Fatalf("no leader after 10s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSmoke runs every workload briefly against an in-process member and
// checks that it measured what it was asked to, without errors.
func TestSmoke(t *testing.T) {
	ep := startMember(t)
	common := Common{Endpoints: []string{ep}, Conns: 2, Clients: 4, Seed: 1}
	keys := Keys{KeySpaceSize: 50}
	for _, c := range []struct {
		w       Workload
		ops     int64 // primary operations expected
		kinds   []string
		checkFn func(t *testing.T, r *Result)
	}{
		{w: PutConfig{Common: common, Keys: keys, Total: 200, ValSize: 64}, ops: 200},
		{w: RangeConfig{Common: common, Keys: keys, Total: 100}, ops: 100},
		{w: RangeConfig{Common: common, Keys: keys, Total: 100, Consistency: Serializable}, ops: 100},
		{w: RangeConfig{Common: common, Key: "0", End: "1", Limit: 10, Total: 50}, ops: 50},
		{w: TxnPutConfig{Common: common, Keys: keys, TxnOps: 3, Total: 100}, ops: 100},
		{w: TxnMixedConfig{Common: common, Keys: keys, Total: 200, RWRatio: 3}, ops: 200, kinds: []string{"read", "write"}},
		{w: PutConfig{Common: Common{Endpoints: []string{ep}, TargetLeader: true, Rate: 500}, Total: 50}, ops: 50,
			checkFn: func(t *testing.T, r *Result) {
				if r.Duration < 80*time.Millisecond { // 50 puts at 500/s take ~100ms
					t.Errorf("rate not applied: 50 puts at 500/s took %v", r.Duration)
				}
			}},
		{w: WatchConfig{Common: Common{Endpoints: []string{ep}, Conns: 2, Clients: 2}, Watchers: 200, Streams: 4, Puts: 20},
			ops: 200 * 20, kinds: []string{"event", "put"},
			checkFn: func(t *testing.T, r *Result) {
				if w := r.Watch; w == nil || w.ViolationCount() != 0 || w.Received != 4000 || w.Expected != 4000 || w.DrainTimedOut {
					t.Errorf("watch stats %+v", r.Watch)
				}
			}},
		{w: WatchLatencyConfig{Common: Common{Endpoints: []string{ep}, Rate: 200}, Puts: 20}, ops: 20},
		{w: LeaseChurnConfig{Common: common, Total: 40}, ops: 40, kinds: []string{"cycle", "grant", "keepalive", "revoke"}},
		{w: K8sMixConfig{Common: common, Total: 200, Objects: 40, Namespaces: 2}, ops: 200,
			kinds: []string{"create", "update", "get", "list", "watch"},
			checkFn: func(t *testing.T, r *Result) {
				if r.Counters["watch_events"] == 0 || r.Counters["watch_reorders"] != 0 || r.Counters["preload_errors"] != 0 {
					t.Errorf("counters %v", r.Counters)
				}
				for _, k := range r.Kinds {
					if k.Name == "watch" && k.Ops == 0 {
						t.Errorf("no watch latencies")
					}
				}
			}},
	} {
		res, err := Run(t.Context(), c.w)
		if err != nil {
			t.Fatalf("%T: %v", c.w, err)
		}
		name := res.Workload
		if res.Ops != c.ops || res.Errors != 0 || res.Interrupted {
			t.Errorf("%s: %d ops (want %d), %d errors %v, interrupted %v", name, res.Ops, c.ops, res.Errors, res.TopErrors, res.Interrupted)
		}
		if res.Latency.P50 <= 0 || res.Latency.Max < res.Latency.P99 || res.Throughput <= 0 || len(res.Timeline) == 0 {
			t.Errorf("%s: latency %+v, throughput %g, %d windows", name, res.Latency, res.Throughput, len(res.Timeline))
		}
		if c.kinds != nil {
			var got []string
			for _, k := range res.Kinds {
				got = append(got, k.Name)
			}
			if len(got) != len(c.kinds) {
				t.Errorf("%s: kinds %v, want %v", name, got, c.kinds)
			}
		}
		if c.checkFn != nil {
			c.checkFn(t, res)
		}
		if res.Config == nil {
			t.Errorf("%s: no config in the result", name)
		}
		t.Logf("%-13s %6d %-8s %8.0f/s  p50 %-9s p99 %s", name, res.Ops, res.Unit, res.Throughput, fmtLatency(res.Latency.P50), fmtLatency(res.Latency.P99))
	}
}

// TestUnreachable: a dead endpoint fails fast with ErrUnreachable.
func TestUnreachable(t *testing.T) {
	_, err := Run(t.Context(), PutConfig{Common: Common{Endpoints: []string{"127.0.0.1:1"}, DialTimeout: 300 * time.Millisecond}})
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Run against a closed port = %v, want ErrUnreachable", err)
	}
}

// TestInterrupt: cancelling the context ends a run early with partial
// numbers.
func TestInterrupt(t *testing.T) {
	ep := startMember(t)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	res, err := Run(ctx, PutConfig{Common: Common{Endpoints: []string{ep}, Rate: 100}, Total: 1000000})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Interrupted || res.Ops == 0 || res.Ops > 100 || res.Errors != 0 {
		t.Fatalf("interrupted %v after %d ops, %d errors %v", res.Interrupted, res.Ops, res.Errors, res.TopErrors)
	}
}

// BenchmarkPut measures put latency against an in-process member with
// b.N puts from 16 clients; p50 and p99 are reported as metrics.
func BenchmarkPut(b *testing.B) {
	ep := startMember(b)
	b.ResetTimer()
	res, err := Run(context.Background(), PutConfig{
		Common: Common{Endpoints: []string{ep}, Conns: 4, Clients: 16}, Keys: Keys{KeySpaceSize: 10000}, Total: int64(b.N), ValSize: 256,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(res.Latency.P50.Microseconds()), "p50-µs")
	b.ReportMetric(float64(res.Latency.P99.Microseconds()), "p99-µs")
	b.ReportMetric(res.Throughput, "puts/s")
}

// BenchmarkWatchFanout measures event delivery to 1000 watchers of one
// key, b.N puts.
func BenchmarkWatchFanout(b *testing.B) {
	ep := startMember(b)
	b.ResetTimer()
	res, err := Run(context.Background(), WatchConfig{
		Common: Common{Endpoints: []string{ep}}, Watchers: 1000, Streams: 10, Puts: int64(b.N),
	})
	if err != nil {
		b.Fatal(err)
	}
	if n := res.Watch.ViolationCount(); n > 0 {
		b.Fatalf("%d delivery violations", n)
	}
	b.ReportMetric(float64(res.Latency.P99.Microseconds()), "p99-µs")
	b.ReportMetric(res.Throughput, "events/s")
}

// BenchmarkCompact runs the compact workload against an in-process member:
// b.N keys of 1 KB written twice, then puts at 1000/s from 16 clients
// before and during the compaction. Profile the member with it, e.g.
//
//	go test -run '^$' -bench Compact -benchtime 300000x -mutexprofile mutex.out -cpuprofile cpu.out ./bench/
func BenchmarkCompact(b *testing.B) {
	ep := startMember(b)
	b.ResetTimer()
	res, err := Run(context.Background(), CompactConfig{
		Common: Common{Endpoints: []string{ep}, Conns: 4}, Keys: int64(b.N),
		Baseline: 5 * time.Second, Settle: -1,
	})
	if err != nil {
		b.Fatal(err)
	}
	cs := res.Compact
	if cs.Error != "" {
		b.Fatal(cs.Error)
	}
	b.ReportMetric(float64(cs.BaselineP99.Microseconds()), "p99-before-µs")
	b.ReportMetric(float64(cs.CompactingP99.Microseconds()), "p99-during-µs")
	b.ReportMetric(float64(cs.CompactingMax.Microseconds()), "max-during-µs")
	b.ReportMetric(cs.Duration.Seconds(), "compaction-s")
}
