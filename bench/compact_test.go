package bench

import (
	"errors"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// TestLoadBatch: the load transactions write every key of [0, n) exactly
// once, in batches of at most txnOps, for sizes that do and do not divide n.
func TestLoadBatch(t *testing.T) {
	for _, c := range []struct {
		n   int64
		ops int
	}{{1, 1}, {10, 3}, {16, 16}, {17, 16}, {1000, 7}, {5, 10}} {
		seen := make([]int, c.n)
		txns := (c.n + int64(c.ops) - 1) / int64(c.ops)
		for i := int64(0); i < txns; i++ {
			lo, hi := loadBatch(i, c.ops, c.n)
			if hi <= lo || hi-lo > int64(c.ops) {
				t.Fatalf("n=%d ops=%d: txn %d writes [%d,%d)", c.n, c.ops, i, lo, hi)
			}
			for k := lo; k < hi; k++ {
				seen[k]++
			}
		}
		for k, s := range seen {
			if s != 1 {
				t.Fatalf("n=%d ops=%d: key %d written %d times", c.n, c.ops, k, s)
			}
		}
	}
}

func TestSettled(t *testing.T) {
	for _, c := range []struct {
		polls [][]int64
		want  bool
	}{
		{nil, false},
		{[][]int64{{5, 5}, {5, 5}}, false}, // too few polls
		{[][]int64{{5, 5}, {5, 5}, {5, 5}}, true},
		{[][]int64{{9, 9}, {5, 5}, {5, 5}, {5, 5}}, true},  // only the last n count
		{[][]int64{{5, 5}, {5, 4}, {5, 5}}, false},         // one member changed
		{[][]int64{{5, 5}, {5, 5}, {4, 5}}, false},         // still shrinking
		{[][]int64{{0, 7}, {0, 7}, {0, 7}}, true},          // a member not answering (0) is stable
		{[][]int64{{5, 5}, {5, 5}, {5, 5}, {6, 5}}, false}, // grew back
	} {
		if got := settled(c.polls, 3); got != c.want {
			t.Errorf("settled(%v, 3) = %v, want %v", c.polls, got, c.want)
		}
	}
}

func TestCompactDigest(t *testing.T) {
	kinds := func(baseP99, duringP99, duringMax time.Duration, baseN, duringN int64) []KindStats {
		k := make([]KindStats, len(compactKinds))
		k[kBaseline].Latency = Summary{Count: baseN, P99: baseP99}
		k[kCompacting].Latency = Summary{Count: duringN, P99: duringP99, Max: duringMax}
		return k
	}
	var s CompactStats
	s.digest(kinds(2*time.Millisecond, 5*time.Millisecond, 40*time.Millisecond, 100, 50))
	if s.Ratio != 2.5 || s.BaselineP99 != 2*time.Millisecond || s.CompactingP99 != 5*time.Millisecond || s.CompactingMax != 40*time.Millisecond {
		t.Fatalf("digest: %+v", s)
	}
	s.digest(kinds(2*time.Millisecond, 0, 0, 100, 0))
	if s.Ratio != 0 {
		t.Fatalf("no puts during the compaction: ratio %g, want 0 (undefined)", s.Ratio)
	}
}

func TestCompactConfig(t *testing.T) {
	c := CompactConfig{}.withDefaults()
	if c.Keys != 1000000 || c.ValSize != 1024 || c.Rate != 1000 || c.Clients != 16 || c.overwritten() != 1000000 {
		t.Fatalf("defaults: %+v", c)
	}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	for over, want := range map[float64]int64{-1: 0, 0.25: 250000, 1: 1000000} {
		c := CompactConfig{Overwrite: over}.withDefaults()
		if got := c.overwritten(); got != want {
			t.Errorf("overwrite %g: %d keys, want %d", over, got, want)
		}
	}
	for _, bad := range []CompactConfig{
		{Overwrite: 1.5},
		{Keys: 1000, KeySize: 2},
		{Baseline: -time.Second},
		{LoadTxnOps: -1},
	} {
		if err := bad.withDefaults().validate(); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%+v: validate = %v, want ErrBadConfig", bad, err)
		}
	}
}

// TestCompactRun runs the compact workload small against an in-process
// member and checks what it did to the store: every key written, the
// history compacted at the reported revision, the phases measured.
func TestCompactRun(t *testing.T) {
	ep := startMember(t)
	res, err := Run(t.Context(), CompactConfig{
		Common: Common{Endpoints: []string{ep}, Conns: 2, Clients: 4, Rate: 200, Seed: 1},
		Keys:   2000, ValSize: 100, Overwrite: 0.5, LoadClients: 8, LoadTxnOps: 7,
		Baseline: 300 * time.Millisecond, After: 200 * time.Millisecond, Settle: 3 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	cs := res.Compact
	if cs == nil || cs.Error != "" || cs.Revision == 0 || cs.Keys != 2000 || cs.Overwritten != 1000 {
		t.Fatalf("compact stats %+v", cs)
	}
	if res.Errors != 0 || res.Interrupted {
		t.Fatalf("%d errors %v, interrupted %v", res.Errors, res.TopErrors, res.Interrupted)
	}
	byName := map[string]KindStats{}
	for _, k := range res.Kinds {
		byName[k.Name] = k
	}
	// 2000 keys in txns of 7 (286), then 1000 (143).
	if n := byName["load"].Ops; n != 286+143 {
		t.Errorf("load transactions: %d, want %d", n, 286+143)
	}
	if byName["baseline"].Ops < 20 || byName["after"].Ops < 10 {
		t.Errorf("steady puts: baseline %d, after %d", byName["baseline"].Ops, byName["after"].Ops)
	}
	if res.Ops != byName["baseline"].Ops+byName["compacting"].Ops+byName["after"].Ops {
		t.Errorf("headline ops %d are not the steady puts", res.Ops)
	}
	if cs.BaselineP99 <= 0 || len(cs.Members) != 1 || cs.Members[0].DBSizeBefore <= 0 || cs.Members[0].DBSizeAfter <= 0 {
		t.Errorf("stats %+v", cs)
	}

	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	all, err := cli.Get(t.Context(), "", clientv3.WithFromKey(), clientv3.WithCountOnly())
	if err != nil || all.Count != 2000 {
		t.Fatalf("keys in the store: %v, %v; want 2000", all, err)
	}
	// Values are ValSize bytes and differ from put to put.
	two, err := cli.Get(t.Context(), "00000000", clientv3.WithRange("00000002"))
	if err != nil || len(two.Kvs) != 2 || len(two.Kvs[0].Value) != 100 || string(two.Kvs[0].Value) == string(two.Kvs[1].Value) {
		t.Fatalf("two keys: %v, %v", two, err)
	}
	if _, err := cli.Get(t.Context(), "00000000", clientv3.WithRev(cs.Revision-1)); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("read below the compacted revision %d: %v, want ErrCompacted", cs.Revision, err)
	}
}

// TestReady: a serving member is ready at the first attempt, measured from
// Since; a closed port is never ready and the run says so.
func TestReady(t *testing.T) {
	ep := startMember(t)
	since := time.Now().Add(-time.Second)
	res, err := Run(t.Context(), ReadyConfig{Common: Common{Endpoints: []string{ep}}, Since: since})
	if err != nil {
		t.Fatal(err)
	}
	if r := res.Ready; r == nil || !r.Served || r.Attempts != 1 || r.Ready < time.Second || res.Duration != r.Ready || res.Ops != 1 {
		t.Fatalf("ready %+v, duration %v, ops %d", res.Ready, res.Duration, res.Ops)
	}

	res, err = Run(t.Context(), ReadyConfig{Common: Common{Endpoints: []string{"127.0.0.1:1"}},
		Interval: 20 * time.Millisecond, Timeout: 50 * time.Millisecond, Wait: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r := res.Ready; r == nil || r.Served || r.Attempts < 2 || res.Ops != 0 || res.Errors != r.Attempts {
		t.Fatalf("closed port: ready %+v, ops %d, errors %d", res.Ready, res.Ops, res.Errors)
	}
	if _, err := Run(t.Context(), ReadyConfig{Common: Common{Endpoints: []string{ep, ep}}}); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("two endpoints: %v, want ErrBadConfig", err)
	}
}
