package kvstore

// Crash and replica properties checked against the reference model.
//
// TestModelCrash drives the store the way raftnode does: every write comes
// through Apply with the next raft index, some synced, some not, and now and
// then the "machine crashes": the filesystem drops everything not synced
// (vfs.NewStrictMem) and the store is reopened. The store must come back at
// an applied index between the last synced one and the last applied one,
// with exactly the model's state at that index; the raft log is then
// replayed from there and must give the same results again.
//
// TestModelReplicaHash runs one random sequence on two stores configured
// differently (compaction batch, reopens, waiting for compaction or not) and
// requires equal HashKV at every readable revision: replicas that applied
// the same entries must hash equally.

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
)

// snapshot copies the model; revision states are immutable once appended,
// so the history is shared (capped so neither copy appends into the other).
func (m *refModel) snapshot() *refModel {
	c := *m
	c.hist = m.hist[:len(m.hist):len(m.hist)]
	c.leases = maps.Clone(m.leases)
	return &c
}

func TestModelCrash(t *testing.T) {
	nops := int(refEnvInt("KELSON_OPS", uint64(*refOpsFlag), 300))
	seeds := refSeeds()
	if len(seeds) > 10 {
		seeds = seeds[:10]
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			refRunCrash(t, seed, nops)
		})
	}
}

func refRunCrash(t *testing.T, seed uint64, nops int) {
	cfg := refConfigFor(seed)
	fs := vfs.NewStrictMem()
	h := &refHarness{fs: fs, dir: "/kvstore-crash"}
	// The store's directory itself must survive the crash: create it and
	// sync its parent, as an installer would (Pebble syncs only inside it).
	if err := fs.MkdirAll(h.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	root, err := fs.OpenDir("/")
	if err != nil {
		t.Fatal(err)
	}
	if err := root.Sync(); err != nil {
		t.Fatal(err)
	}
	root.Close()
	h.opts = Options{FS: fs, MaxTxnOps: cfg.maxTxnOps, CompactionBatch: cfg.compactionBatch}
	s, err := Open(h.dir, h.opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	h.s = s
	defer h.close()
	m := newRefModel(cfg.maxTxnOps)
	g := &refGen{r: rand.New(rand.NewPCG(seed, 0x63726173680a)), m: m}
	snaps := map[uint64]*refModel{0: m.snapshot()}
	raftLog := map[uint64][]*pb.InternalRaftRequest{}
	var synced uint64 // every index <= synced is durable
	var trace []string
	fail := func(i int, msg string) {
		t.Helper()
		from := max(0, len(trace)-15)
		t.Fatalf("crash seed %d (MaxTxnOps=%d CompactionBatch=%d), op %d: %s\nlast ops:\n  %s\nrerun: KELSON_SEED=%d go test -run TestModelCrash ./kvstore/",
			seed, cfg.maxTxnOps, cfg.compactionBatch, i, msg, fmt.Sprint(trace[from:]), seed)
	}
	step := func(i int, o refOp) {
		trace = append(trace, o.String()+"\n ")
		if msg := refStep(h, m, o); msg != "" {
			fail(i, msg)
		}
	}
	for i := range nops {
		switch p := g.r.IntN(100); {
		case p < 35:
			step(i, refOp{kind: opRange, rng: g.rangeReq(false)})
		case p < 85:
			o := refOp{kind: opApply, index: m.applied + 1, sync: g.pct(25)}
			for range 1 + g.r.IntN(3) {
				o.reqs = append(o.reqs, g.writeReq())
			}
			step(i, o)
			raftLog[o.index] = o.reqs
			snaps[o.index] = m.snapshot()
			if o.sync {
				synced = o.index
			}
		case p < 88:
			step(i, refOp{kind: opLeases})
		case p < 91:
			if err := h.s.Sync(); err != nil {
				fail(i, fmt.Sprintf("Sync: %v", err))
			}
			trace = append(trace, "Sync()\n ")
			synced = m.applied
		case p < 95:
			if m.applied > 0 { // a replayed entry (index 0 is not raft's: not here)
				step(i, refOp{kind: opApply, index: 1 + uint64(g.r.IntN(int(m.applied))), reqs: []*pb.InternalRaftRequest{g.writeReq()}})
			}
		default:
			trace = append(trace, fmt.Sprintf("CRASH (applied %d, synced %d)\n ", m.applied, synced))
			fs.SetIgnoreSyncs(true)
			h.s.Close() // nothing it writes now becomes durable
			fs.ResetToSyncedState()
			fs.SetIgnoreSyncs(false)
			s, err := Open(h.dir, h.opts)
			if err != nil {
				h.s = nil
				fail(i, fmt.Sprintf("reopen after crash: %v", err))
			}
			h.s = s
			got := s.AppliedIndex()
			if got < synced || got > m.applied {
				fail(i, fmt.Sprintf("after crash AppliedIndex() = %d, want between the last synced %d and the last applied %d", got, synced, m.applied))
			}
			last := m.applied
			*m = *snaps[got].snapshot()
			if msg := refCheckAll(h, m); msg != "" {
				fail(i, fmt.Sprintf("after crash, recovered at applied index %d: %s", got, msg))
			}
			synced = got
			// raft replays the entries after the applied index.
			for idx := got + 1; idx <= last; idx++ {
				step(i, refOp{kind: opApply, index: idx, reqs: raftLog[idx]})
				snaps[idx] = m.snapshot()
			}
		}
	}
	if msg := refCheckAll(h, m); msg != "" {
		fail(nops, msg)
	}
}

func TestModelReplicaHash(t *testing.T) {
	nops := int(refEnvInt("KELSON_OPS", uint64(*refOpsFlag), 300))
	seeds := refSeeds()
	if len(seeds) > 6 {
		seeds = seeds[:6]
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			refRunReplicaHash(t, seed, nops)
		})
	}
}

func refRunReplicaHash(t *testing.T, seed uint64, nops int) {
	cfg := refConfigFor(seed)
	other := cfg
	other.compactionBatch = 1 + int(seed%3)*500 // 1, 501, 1001
	a, err := newRefHarness(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	b, err := newRefHarness(other)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	ma, mb := newRefModel(cfg.maxTxnOps), newRefModel(cfg.maxTxnOps)
	g := &refGen{r: rand.New(rand.NewPCG(seed, 0x68617368)), m: ma}
	for i := range nops {
		o := g.next()
		if msg := refStep(a, ma, o); msg != "" {
			t.Fatalf("seed %d op %d %s on replica A: %s", seed, i, o, msg)
		}
		if o.kind == opReopen {
			continue // B never restarts
		}
		if o.kind == opCompact {
			o.wait = !o.wait // B waits when A does not
		}
		if msg := refStep(b, mb, o); msg != "" {
			t.Fatalf("seed %d op %d %s on replica B: %s", seed, i, o, msg)
		}
	}
	lo := max(ma.compactRev, 1)
	// ~17 revisions from the compacted to the current one (HashKV reads
	// all history below the revision it hashes).
	var revs []int64
	for r, step := lo, max((ma.rev-lo)/16, 1); r < ma.rev; r += step {
		revs = append(revs, r)
	}
	for _, rev := range append(revs, ma.rev) {
		ha, ca, errA := a.s.HashKV(rev)
		hb, cb, errB := b.s.HashKV(rev)
		if errA != nil || errB != nil {
			t.Fatalf("seed %d: HashKV(%d): %v / %v", seed, rev, errA, errB)
		}
		if ha != hb || ca != cb {
			t.Fatalf("seed %d: HashKV(%d): replica A (CompactionBatch %d, reopened) %08x compacted %d; replica B (CompactionBatch %d) %08x compacted %d",
				seed, rev, cfg.compactionBatch, ha, ca, other.compactionBatch, hb, cb)
		}
		if ca != ma.compactRev {
			t.Fatalf("seed %d: HashKV(%d) reports compacted revision %d, want %d", seed, rev, ca, ma.compactRev)
		}
	}
	for _, rev := range []int64{ma.rev + 1, lo - 1} {
		want := ErrFutureRev
		if rev < ma.rev {
			if rev < 1 || lo == 1 {
				continue
			}
			want = ErrCompacted
		}
		if _, _, err := a.s.HashKV(rev); !refErrIn(err, []error{want}) {
			t.Fatalf("seed %d: HashKV(%d) error %v, want %v", seed, rev, err, want)
		}
	}
}

// TestModelConcurrentReads checks reads racing with writes and compaction
// (run it under -race): while one goroutine applies a random sequence (no
// reopens) and the model follows it, readers read at revisions the model
// already has. Each read must equal the model's answer at that revision,
// except that it may fail with ErrCompacted if a compaction overtook it;
// its header revision is whatever was current, so only a lower bound is
// checked.
func TestModelConcurrentReads(t *testing.T) {
	nops := int(refEnvInt("KELSON_OPS", uint64(*refOpsFlag), 300))
	seeds := refSeeds()
	if len(seeds) > 4 {
		seeds = seeds[:4]
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			refRunConcurrent(t, seed, nops)
		})
	}
}

func refRunConcurrent(t *testing.T, seed uint64, nops int) {
	cfg := refConfigFor(seed)
	h, err := newRefHarness(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()
	m := newRefModel(cfg.maxTxnOps)
	g := &refGen{r: rand.New(rand.NewPCG(seed, 0x72656164)), m: m}

	var mu sync.RWMutex // guards m for the readers
	done := make(chan struct{})
	errc := make(chan string, 2)
	var wg sync.WaitGroup
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rg := &refGen{r: rand.New(rand.NewPCG(seed, uint64(r)))}
			for n := 0; ; n++ {
				select {
				case <-done:
					return
				default:
				}
				mu.RLock()
				snap := m.snapshot()
				mu.RUnlock()
				rg.m = snap
				req := rg.rangeReq(false)
				req.Key = rg.key()
				req.Revision = max(snap.compactRev, 1) + rg.r.Int64N(snap.rev-max(snap.compactRev, 1)+1)
				resp, err := h.s.Range(req)
				if err != nil {
					if errors.Is(err, ErrCompacted) && h.s.CompactRev() > req.Revision {
						continue
					}
					errc <- fmt.Sprintf("reader %d read %d: Range{%s}: %v", r, n, refText(req), err)
					return
				}
				want := refRangeOver(snap.hist[req.Revision], req)
				want.Header = resp.Header
				if resp.Header.GetRevision() < snap.rev || !proto.Equal(want, resp) {
					errc <- fmt.Sprintf("reader %d read %d: Range{%s} at least at revision %d:\n%s", r, n, refText(req), snap.rev, refDiff(refMultiline(want), refMultiline(resp)))
					return
				}
			}
		}()
	}
	var failure string
	for i := 0; i < nops && failure == ""; i++ {
		o := g.next()
		if o.kind == opReopen {
			continue
		}
		mu.Lock()
		if msg := refStep(h, m, o); msg != "" {
			failure = fmt.Sprintf("writer op %d %s: %s", i, o, msg)
		}
		mu.Unlock()
		select {
		case msg := <-errc:
			failure = msg
		default:
		}
	}
	close(done)
	wg.Wait()
	select {
	case msg := <-errc:
		failure = msg
	default:
	}
	if failure != "" {
		t.Fatalf("seed %d: %s\nrerun: KELSON_SEED=%d go test -race -run TestModelConcurrentReads ./kvstore/", seed, failure, seed)
	}
}
