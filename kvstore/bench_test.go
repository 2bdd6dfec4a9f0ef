package kvstore

// Benchmarks of the storage core on on-disk stores (b.TempDir()). They
// measure; they assert nothing about speed.
//
//	go test -run XXX -bench . -benchtime 2s ./kvstore/
//	KELSON_BENCH_COMPACT_REVS=1000000 go test -run XXX -bench Compact -benchtime 1x ./kvstore/
//	KELSON_BENCH_COMPACT_CPUPROFILE=compact.prof ...   # CPU profile of the compaction alone
//
// BenchmarkCompact writes KELSON_BENCH_COMPACT_REVS revisions (default
// 1,000,000) before each iteration, so run it with -benchtime 1x, or set
// the variable lower for a quick run.

import (
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

const (
	benchValueSize = 256
	benchKeySpace  = 100_000 // keys the put and txn benchmarks cycle through
	benchRangeKeys = 10_000  // keys preloaded for BenchmarkRange
)

var benchValue = func() []byte {
	v := make([]byte, benchValueSize)
	for i := range v {
		v[i] = byte('a' + i%26)
	}
	return v
}()

func benchKeys(n int) [][]byte {
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "/bench/%08d", i)
	}
	return keys
}

// benchOpen opens a store in a new directory under b.TempDir(); it is
// closed when the benchmark ends.
func benchOpen(b *testing.B, opts Options) *Store {
	b.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	s, err := Open(b.TempDir(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func benchApply(b *testing.B, s *Store, idx uint64, reqs []*pb.InternalRaftRequest, sync bool) {
	for _, r := range s.Apply(idx, reqs, sync) {
		if r.Err != nil {
			b.Fatalf("apply %d: %v", idx, r.Err)
		}
	}
}

// benchPreload writes n puts of keys[i%len(keys)], perApply per unsynced
// Apply from index idx+1, syncs, and returns the last index used.
func benchPreload(b *testing.B, s *Store, keys [][]byte, n, perApply int, idx uint64) uint64 {
	reqs := make([]*pb.InternalRaftRequest, 0, perApply)
	for i := 0; i < n; {
		reqs = reqs[:0]
		for ; len(reqs) < perApply && i < n; i++ {
			reqs = append(reqs, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: keys[i%len(keys)], Value: benchValue}})
		}
		idx++
		benchApply(b, s, idx, reqs, false)
	}
	if err := s.Sync(); err != nil {
		b.Fatal(err)
	}
	return idx
}

// BenchmarkPut: one 256-byte put per op. synced and unsynced give each put
// its own Apply (one raft entry per Ready); group-commit-64 applies 64 puts
// per synced Apply, the shape of one raft Ready under load. ns/op is per
// put throughout.
func BenchmarkPut(b *testing.B) {
	b.Run("synced", func(b *testing.B) { benchPut(b, 1, true) })
	b.Run("unsynced", func(b *testing.B) { benchPut(b, 1, false) })
	b.Run("group-commit-64", func(b *testing.B) { benchPut(b, 64, true) })
}

func benchPut(b *testing.B, perApply int, sync bool) {
	s := benchOpen(b, Options{})
	keys := benchKeys(benchKeySpace)
	reqs := make([]*pb.InternalRaftRequest, 0, perApply)
	var idx uint64
	b.SetBytes(benchValueSize)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		reqs = reqs[:0]
		for ; len(reqs) < perApply && i < b.N; i++ {
			reqs = append(reqs, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: keys[i%len(keys)], Value: benchValue}})
		}
		idx++
		benchApply(b, s, idx, reqs, sync)
	}
	b.StopTimer()
	if perApply > 1 {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(idx), "ns/apply")
	}
}

// BenchmarkTxn: a txn comparing a key's version and putting 256 bytes to it
// (else branch: a read), one per Apply, over preloaded keys.
func BenchmarkTxn(b *testing.B) {
	b.Run("synced", func(b *testing.B) { benchTxn(b, true) })
	b.Run("unsynced", func(b *testing.B) { benchTxn(b, false) })
}

func benchTxn(b *testing.B, sync bool) {
	s := benchOpen(b, Options{})
	keys := benchKeys(benchRangeKeys)
	idx := benchPreload(b, s, keys, len(keys), 1000, 0)
	req := []*pb.InternalRaftRequest{{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		k := keys[i%len(keys)]
		req[0].Txn = &pb.TxnRequest{
			Compare: []*pb.Compare{{Key: k, Target: pb.Compare_VERSION, Result: pb.Compare_GREATER, TargetUnion: &pb.Compare_Version{Version: 0}}},
			Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: k, Value: benchValue}}}},
			Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: k}}}},
		}
		idx++
		res := s.Apply(idx, req, sync)
		if res[0].Err != nil || !res[0].Resp.(*pb.TxnResponse).Succeeded {
			b.Fatalf("txn: %v %v", res[0].Err, res[0].Resp)
		}
	}
}

// BenchmarkRange: serializable reads at the current revision from a store
// of 10,000 keys of 256 bytes, flushed to sstables (the block cache warms
// up during the run). ns/op is per Range call.
func BenchmarkRange(b *testing.B) {
	s := benchOpen(b, Options{})
	keys := benchKeys(benchRangeKeys)
	benchPreload(b, s, keys, len(keys), 1000, 0)
	if err := s.db.Flush(); err != nil {
		b.Fatal(err)
	}
	b.Run("1-key", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			resp, err := s.Range(&pb.RangeRequest{Key: keys[(i*7919)%len(keys)]})
			if err != nil || len(resp.Kvs) != 1 {
				b.Fatalf("range: %v, %d kvs", err, len(resp.GetKvs()))
			}
		}
	})
	b.Run("1000-keys", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(1000 * benchValueSize)
		for i := 0; b.Loop(); i++ {
			from := (i * 7919) % (len(keys) - 1000)
			resp, err := s.Range(&pb.RangeRequest{Key: keys[from], RangeEnd: keys[from+1000]})
			if err != nil || len(resp.Kvs) != 1000 {
				b.Fatalf("range: %v, %d kvs", err, len(resp.GetKvs()))
			}
		}
	})
}

// benchCompactBatch is Options.CompactionBatch for BenchmarkCompact:
// KELSON_BENCH_COMPACT_BATCH, default 0 (the store's default, 1000).
func benchCompactBatch(b *testing.B) int {
	v := os.Getenv("KELSON_BENCH_COMPACT_BATCH")
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("KELSON_BENCH_COMPACT_BATCH=%q: want a number >= 1", v)
	}
	return n
}

func benchCompactRevs(b *testing.B) int {
	v := os.Getenv("KELSON_BENCH_COMPACT_REVS")
	if v == "" {
		return 1_000_000
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 10 {
		b.Fatalf("KELSON_BENCH_COMPACT_REVS=%q: want a number >= 10", v)
	}
	return n
}

// BenchmarkCompact writes KELSON_BENCH_COMPACT_REVS revisions (256-byte puts
// over revs/10 keys, so nine in ten revisions are superseded), then
// compacts at the current revision while another goroutine keeps putting,
// one put per Apply, and times each put. ns/op is the whole compaction:
// from the Compact call until the space reclamation finished
// (WaitCompaction), with the default CompactionBatch (or
// KELSON_BENCH_COMPACT_BATCH). Reported:
//
//	max-put-stall-ms  the longest single put during the compaction
//	p99-put-ms        the 99th percentile put latency during the compaction
//	puts              puts completed during the compaction
//	puts-over-10ms    how many of them took longer than 10ms
//	base-*            the same for puts during 500ms just before, without
//	                  a compaction: what the machine itself adds
//	pebble-flushes, pebble-compactions   Pebble's own work meanwhile
func BenchmarkCompact(b *testing.B) {
	revs := benchCompactRevs(b)
	keys := benchKeys(max(revs/10, 1))
	liveKeys := benchKeys(1000)
	for i := range liveKeys {
		liveKeys[i] = append([]byte("/live"), liveKeys[i]...)
	}
	var stall, p99, n, slow, baseMax, baseP99, baseN, baseSlow, flushes, compactions float64
	b.StopTimer()
	for range b.N {
		s := benchOpen(b, Options{CompactionBatch: benchCompactBatch(b)})
		idx := benchPreload(b, s, keys, revs, 1000, 0)

		// Baseline: the same puts for 500ms without a compaction running,
		// to tell the compaction's stalls from the machine's.
		var base []time.Duration
		for i, t1 := 0, time.Now(); time.Since(t1) < 500*time.Millisecond; i++ {
			t0 := time.Now()
			benchApply(b, s, 0, []*pb.InternalRaftRequest{{Put: &pb.PutRequest{Key: liveKeys[i%len(liveKeys)], Value: benchValue}}}, false)
			base = append(base, time.Since(t0))
		}

		var (
			wg   sync.WaitGroup
			stop = make(chan struct{})
			lats = make([]time.Duration, 0, 1<<16)
		)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				t0 := time.Now()
				// Index 0: not ordered against the compaction's index.
				res := s.Apply(0, []*pb.InternalRaftRequest{{Put: &pb.PutRequest{Key: liveKeys[i%len(liveKeys)], Value: benchValue}}}, false)
				lats = append(lats, time.Since(t0))
				if res[0].Err != nil {
					b.Errorf("put during compaction: %v", res[0].Err)
					return
				}
			}
		}()
		m0 := s.db.Metrics()
		stopProfile := benchProfileCompaction(b)
		b.StartTimer()
		benchApply(b, s, idx+1, []*pb.InternalRaftRequest{{Compaction: &pb.CompactionRequest{Revision: s.Rev()}}}, false)
		s.WaitCompaction()
		b.StopTimer()
		stopProfile()
		close(stop)
		wg.Wait()
		m1 := s.db.Metrics()
		flushes, compactions = float64(m1.Flush.Count-m0.Flush.Count), float64(m1.Compact.Count-m0.Compact.Count)
		stall, p99 = benchMax(lats), benchPercentile(lats, 0.99)
		baseMax, baseP99 = benchMax(base), benchPercentile(base, 0.99)
		n, slow = float64(len(lats)), benchOver(lats, 10*time.Millisecond)
		baseN, baseSlow = float64(len(base)), benchOver(base, 10*time.Millisecond)
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
	// The last iteration's figures (with -benchtime 1x, the only one).
	b.ReportMetric(stall, "max-put-stall-ms")
	b.ReportMetric(p99, "p99-put-ms")
	b.ReportMetric(n, "puts")
	b.ReportMetric(slow, "puts-over-10ms")
	b.ReportMetric(baseMax, "base-max-put-ms")
	b.ReportMetric(baseP99, "base-p99-put-ms")
	b.ReportMetric(baseN, "base-puts")
	b.ReportMetric(baseSlow, "base-puts-over-10ms")
	b.ReportMetric(flushes, "pebble-flushes")
	b.ReportMetric(compactions, "pebble-compactions")
}

// benchProfileCompaction starts a CPU profile of the compaction alone (the
// preload left out) into the file KELSON_BENCH_COMPACT_CPUPROFILE, if set;
// the returned function stops it.
func benchProfileCompaction(b *testing.B) (stop func()) {
	path := os.Getenv("KELSON_BENCH_COMPACT_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

func benchOver(ds []time.Duration, limit time.Duration) float64 {
	n := 0
	for _, d := range ds {
		if d > limit {
			n++
		}
	}
	return float64(n)
}

func benchMax(ds []time.Duration) float64 {
	if len(ds) == 0 {
		return 0
	}
	return float64(slices.Max(ds)) / float64(time.Millisecond)
}

func benchPercentile(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[min(len(s)-1, int(float64(len(s))*p))]) / float64(time.Millisecond)
}
