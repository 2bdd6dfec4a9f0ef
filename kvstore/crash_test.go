package kvstore

// Crash recovery. TestCrashRecovery re-executes the test binary as a child
// (TestCrashRecoveryChild, selected by the environment variable crashEnv)
// that opens a store on disk and applies a deterministic stream of raft
// entries, printing "ack <index> <rev>" once an entry is durable (after a
// synced Apply or, in every other round, after a Sync every 5 unsynced
// Applies). The parent SIGKILLs the child at a seeded random point (after a
// number of acks, or after a delay), reopens the store and checks it against
// a model that replays the same stream up to the store's applied index:
//
//	child:  open -> replay model to AppliedIndex -> Apply(i, gen(seed, i, model), sync) -> "ack i rev" -> ...
//	parent: ... SIGKILL -> Open -> AppliedIndex >= last acked, Rev >= last acked, neither went backwards
//	        -> model replay to AppliedIndex -> every readable revision equals the model
//	        -> HashKV stable across close/reopen; at the end, equal to a clean replay's
//
// TestCrashRecoveryDuringCompaction does the same with a large history and
// CompactionBatch 10, killing the child just after a compaction entry, so
// the kill lands while the space is being reclaimed (and, in later rounds,
// while the reopened store resumes it). TestCrashRecoveryPowerLoss cuts the
// power instead, in-process, on Pebble's strict in-memory filesystem, which
// drops everything not fsynced.
//
// The requests of index i depend only on the seed, i and the model state
// after i-1, so both processes (and a clean in-memory replay) derive the
// same entries. The kill timing itself is not reproducible: a failure
// prints the seed and the round, and rerunning with KELSON_CRASH_SEED
// repeats the same entries and kill plans.

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/kelson-dev/kelson/internal/pebblelog"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// crashEnv carries the JSON crashConfig of a child process.
const crashEnv = "KELSON_CRASH_CHILD"

// crashConfig describes one crash test's entry stream and store.
type crashConfig struct {
	Mode string // crashMixed or crashCompact
	Dir  string
	Seed uint64
	Keys int    // crashCompact: size of the key space (a multiple of crashPreloadBatch)
	Stop uint64 // the child applies indexes up to Stop, then exits cleanly
	// SyncEvery > 0: Apply unsynced and call Sync after every SyncEvery-th
	// index, acknowledging only then (raftnode's pattern before it drops
	// log entries). 0: every Apply is synced and acknowledged.
	SyncEvery uint64

	fs vfs.FS // in-process tests only: the filesystem (nil: the OS)
}

const (
	crashMixed   = "mixed"   // small key space: puts, deletes, txns, leases, frequent compactions
	crashCompact = "compact" // large history, compactions in many tiny steps

	crashPreloadBatch = 1000 // puts per Apply while preloading the compact workload
)

func (c crashConfig) options() Options {
	o := Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if c.Mode == crashCompact {
		o.CompactionBatch = 10
	} else {
		o.CompactionBatch = 3
	}
	o.FS = c.fs
	return o
}

// preload is the number of indexes the compact workload spends writing
// its initial history (three revisions of every key).
func (c crashConfig) preload() uint64 {
	if c.Mode != crashCompact {
		return 0
	}
	return uint64(c.Keys * 3 / crashPreloadBatch)
}

func crashSeed(def uint64) uint64 {
	if v := os.Getenv("KELSON_CRASH_SEED"); v != "" {
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			return n
		}
	}
	return def
}

// ---------------------------------------------------------------------------
// The child.

// TestCrashRecoveryChild is the child process of the crash tests; run
// alone it skips.
func TestCrashRecoveryChild(t *testing.T) {
	raw := os.Getenv(crashEnv)
	if raw == "" {
		t.Skip("child process of TestCrashRecovery; runs only when re-executed by it")
	}
	var cfg crashConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		crashChildFail("bad config %q: %v", raw, err)
	}
	s, err := Open(cfg.Dir, cfg.options())
	if err != nil {
		crashChildFail("open: %v", err)
	}
	m := newCrashModel()
	m.advance(cfg, s.AppliedIndex())
	if s.Rev() != m.rev {
		crashChildFail("after open at index %d: rev %d, model %d", s.AppliedIndex(), s.Rev(), m.rev)
	}
	fmt.Fprintf(os.Stdout, "open %d %d\n", s.AppliedIndex(), s.Rev())
	for idx := s.AppliedIndex() + 1; idx <= cfg.Stop; idx++ {
		reqs := crashGen(cfg, idx, m)
		want := m.apply(idx, reqs)
		res := s.Apply(idx, reqs, cfg.SyncEvery == 0)
		if len(res) != len(reqs) {
			crashChildFail("index %d: %d results for %d requests", idx, len(res), len(reqs))
		}
		for i := range res {
			if (want[i] == nil) != (res[i].Err == nil) || (want[i] != nil && !errors.Is(res[i].Err, want[i])) {
				crashChildFail("index %d request %d (%v): err %v, model wants %v", idx, i, reqs[i], res[i].Err, want[i])
			}
		}
		if s.Rev() != m.rev {
			crashChildFail("index %d: rev %d, model %d", idx, s.Rev(), m.rev)
		}
		if cfg.SyncEvery > 0 {
			if idx%cfg.SyncEvery != 0 {
				continue
			}
			if err := s.Sync(); err != nil {
				crashChildFail("sync: %v", err)
			}
		}
		// os.Stdout is unbuffered: the line is in the pipe once this returns.
		fmt.Fprintf(os.Stdout, "ack %d %d\n", idx, s.Rev())
	}
	if err := s.Close(); err != nil {
		crashChildFail("close: %v", err)
	}
	fmt.Fprintln(os.Stdout, "done")
}

func crashChildFail(format string, args ...any) {
	fmt.Fprintf(os.Stdout, "crash-fail: "+format+"\n", args...)
	os.Exit(3)
}

// ---------------------------------------------------------------------------
// The parent.

// crashPlan says when to kill the child: once armed — at start, or when
// afterOpen is set once the child opened the store, or when trigger > 0
// once an ack of index >= trigger arrived — after afterAcks more acks or,
// when delay is set, after delay.
type crashPlan struct {
	afterOpen bool
	trigger   uint64
	afterAcks int
	delay     time.Duration
}

func (p crashPlan) String() string {
	from := "start"
	switch {
	case p.trigger > 0:
		from = fmt.Sprintf("ack of index %d", p.trigger)
	case p.afterOpen:
		from = "open"
	}
	if p.delay > 0 {
		return fmt.Sprintf("kill %v after %s", p.delay, from)
	}
	return fmt.Sprintf("kill %d acks after %s", p.afterAcks, from)
}

// crashRun is what the parent saw of one child.
type crashRun struct {
	lastIndex uint64
	lastRev   int64
	acks      int
	killed    bool
	log       []string // lines other than acks
}

func crashRunChild(t *testing.T, cfg crashConfig, plan crashPlan) (crashRun, error) {
	var run crashRun
	env, _ := json.Marshal(cfg)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashRecoveryChild$")
	cmd.Env = append(os.Environ(), crashEnv+"="+string(env))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return run, err
	}
	if err := cmd.Start(); err != nil {
		return run, err
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	kill := func() {
		if !run.killed {
			cmd.Process.Kill() // SIGKILL
			run.killed = true
		}
	}
	var timer <-chan time.Time
	armed, counted := false, 0
	arm := func() {
		armed = true
		switch {
		case plan.delay > 0:
			timer = time.After(plan.delay)
		case plan.afterAcks == 0:
			kill()
		}
	}
	if plan.trigger == 0 && !plan.afterOpen {
		arm()
	}
	for done := false; !done; {
		select {
		case line, ok := <-lines:
			if !ok {
				done = true
				break
			}
			var idx uint64
			var rev int64
			if n, _ := fmt.Sscanf(line, "ack %d %d", &idx, &rev); n != 2 {
				run.log = append(run.log, line)
				if !armed && plan.afterOpen && plan.trigger == 0 && strings.HasPrefix(line, "open ") {
					arm()
				}
				continue
			}
			run.lastIndex, run.lastRev = idx, rev
			run.acks++
			switch {
			case !armed && plan.trigger > 0 && idx >= plan.trigger:
				arm()
			case armed && plan.delay == 0:
				if counted++; counted >= plan.afterAcks {
					kill()
				}
			}
		case <-timer:
			kill()
		}
	}
	werr := cmd.Wait()
	for _, l := range run.log {
		if strings.HasPrefix(l, "crash-fail:") {
			return run, fmt.Errorf("child: %s\nstderr:\n%s", l, stderr.String())
		}
	}
	if strings.Contains(stderr.String(), "WARNING: DATA RACE") {
		return run, fmt.Errorf("data race in the child:\n%s", stderr.String())
	}
	if ctx.Err() != nil {
		return run, fmt.Errorf("child timed out; output %q, stderr:\n%s", run.log, stderr.String())
	}
	if !run.killed && werr != nil {
		return run, fmt.Errorf("child failed: %v; output %q, stderr:\n%s", werr, run.log, stderr.String())
	}
	return run, nil
}

// crashState is what the parent carries from round to round.
type crashState struct {
	cfg     crashConfig
	model   *crashModel
	applied uint64
	maxRev  int64
	rng     *rand.Rand
}

// recoverAndCheck reopens the store after a kill and checks it. With full
// it then waits for the resumed compaction, checks again and returns the
// store's HashKV, which must survive a close and reopen; without, it closes
// the store while the compaction may still run.
func (st *crashState) recoverAndCheck(run crashRun, full bool) (uint32, error) {
	cfg := st.cfg
	s, err := Open(cfg.Dir, cfg.options())
	if err != nil {
		return 0, fmt.Errorf("reopen: %w", err)
	}
	defer s.Close()
	applied, rev := s.AppliedIndex(), s.Rev()
	switch {
	case applied < run.lastIndex:
		return 0, fmt.Errorf("acked index %d lost: applied index %d after recovery", run.lastIndex, applied)
	case rev < run.lastRev:
		return 0, fmt.Errorf("acked revision %d lost: revision %d after recovery", run.lastRev, rev)
	case applied < st.applied:
		return 0, fmt.Errorf("applied index went backwards: %d, was %d", applied, st.applied)
	case rev < st.maxRev:
		return 0, fmt.Errorf("revision went backwards: %d, was %d", rev, st.maxRev)
	}
	st.applied, st.maxRev = applied, rev
	st.model.advance(cfg, applied)
	if err := crashCheck(s, st.model, st.reads()); err != nil {
		return 0, fmt.Errorf("right after recovery (index %d): %w", applied, err)
	}
	if !full {
		return 0, s.Close()
	}
	s.WaitCompaction()
	if err := crashCheck(s, st.model, st.reads()); err != nil {
		return 0, fmt.Errorf("after the resumed compaction (index %d): %w", applied, err)
	}
	h1, c1, err := s.HashKV(0)
	if err != nil {
		return 0, err
	}
	if err := s.Close(); err != nil {
		return 0, err
	}
	if s, err = Open(cfg.Dir, cfg.options()); err != nil {
		return 0, fmt.Errorf("second reopen: %w", err)
	}
	defer s.Close()
	h2, c2, err := s.HashKV(0)
	if err != nil {
		return 0, err
	}
	if h1 != h2 || c1 != c2 || s.AppliedIndex() != applied || s.Rev() != rev {
		return 0, fmt.Errorf("close/reopen changed the store: hash %08x/%08x compact %d/%d index %d/%d rev %d/%d",
			h1, h2, c1, c2, applied, s.AppliedIndex(), rev, s.Rev())
	}
	if err := crashCheck(s, st.model, []crashRead{{rev: rev}}); err != nil {
		return 0, fmt.Errorf("after a clean reopen: %w", err)
	}
	return h1, nil
}

// crashRead is one range read to compare: keys [from, to) of the model's
// sorted key list (to 0: to the end) at revision rev.
type crashRead struct {
	rev      int64
	from, to int
}

// reads picks what to compare: in the small workload a full range at every
// readable revision; in the large one full ranges at the current and the
// compacted revision and 100-key windows at three random revisions.
func (st *crashState) reads() []crashRead {
	m := st.model
	lo := max(m.compactRev, 1)
	var rs []crashRead
	if st.cfg.Mode == crashMixed {
		for r := lo; r <= m.rev; r++ {
			rs = append(rs, crashRead{rev: r})
		}
		return rs
	}
	rs = append(rs, crashRead{rev: m.rev}, crashRead{rev: lo})
	for n := len(m.keys); n > 100 && len(rs) < 5; {
		from := st.rng.IntN(n - 100)
		rs = append(rs, crashRead{rev: lo + st.rng.Int64N(m.rev-lo+1), from: from, to: from + 100})
	}
	return rs
}

// crashCheck compares the store with the model: counters, leases, the
// ranges of reads, and the compacted and future revision errors.
func crashCheck(s *Store, m *crashModel, reads []crashRead) error {
	if s.Rev() != m.rev || s.CompactRev() != m.compactRev || s.AppliedIndex() != m.index {
		return fmt.Errorf("store at rev %d compact %d index %d, model at rev %d compact %d index %d",
			s.Rev(), s.CompactRev(), s.AppliedIndex(), m.rev, m.compactRev, m.index)
	}
	var want []LeaseInfo
	for id, l := range m.leases {
		want = append(want, LeaseInfo{ID: id, TTL: l.ttl, RemainingTTL: l.remaining})
	}
	slices.SortFunc(want, func(a, b LeaseInfo) int { return cmp.Compare(a.ID, b.ID) })
	got := s.Leases()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		return fmt.Errorf("leases %v, model %v", got, want)
	}
	for _, l := range want {
		info, err := s.Lease(l.ID)
		if err != nil {
			return err
		}
		var keys []string
		for _, k := range m.sortedKeys() {
			if c := m.cur(k); c != nil && c.lease == l.ID {
				keys = append(keys, k)
			}
		}
		if g := fmt.Sprintf("%s", info.Keys); g != fmt.Sprint(keys) {
			return fmt.Errorf("lease %d keys %s, model %v", l.ID, g, keys)
		}
	}
	keys := m.sortedKeys()
	for _, rd := range reads {
		req := &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: rd.rev}
		window := keys[rd.from:]
		if rd.to > 0 {
			window = keys[rd.from:rd.to]
			req.Key, req.RangeEnd = []byte(keys[rd.from]), []byte(keys[rd.to])
		}
		resp, err := s.Range(req)
		if err != nil {
			return fmt.Errorf("range [%q, %q) at %d (compacted %d, current %d): %w", req.Key, req.RangeEnd, rd.rev, m.compactRev, m.rev, err)
		}
		wantKVs := m.rangeAt(rd.rev, window)
		if d := crashFirstDiff(resp.Kvs, wantKVs); d != "" || resp.Count != int64(len(wantKVs)) {
			return fmt.Errorf("range [%q, %q) at %d (compacted %d, current %d): count %d, model %d: %s",
				req.Key, req.RangeEnd, rd.rev, m.compactRev, m.rev, resp.Count, len(wantKVs), d)
		}
	}
	if c := m.compactRev; c > 1 {
		if _, err := s.Range(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: c - 1}); !errors.Is(err, ErrCompacted) {
			return fmt.Errorf("range at %d below compacted %d: err %v, want ErrCompacted", c-1, c, err)
		}
	}
	if _, err := s.Range(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: m.rev + 1}); !errors.Is(err, ErrFutureRev) {
		return fmt.Errorf("range at %d past current: err %v, want ErrFutureRev", m.rev+1, err)
	}
	return nil
}

func crashFirstDiff(got, want []*mvccpb.KeyValue) string {
	for i := range max(len(got), len(want)) {
		var g, w *mvccpb.KeyValue
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g == nil || w == nil || !crashSameKV(g, w) {
			return fmt.Sprintf("kv %d: store %s, model %s", i, crashKVString(g), crashKVString(w))
		}
	}
	return ""
}

// crashCleanHash applies the stream up to idx to a fresh in-memory store,
// which never crashed, and returns its HashKV: a recovered store must have
// exactly the same history.
func crashCleanHash(cfg crashConfig, idx uint64) (uint32, error) {
	opts := cfg.options()
	opts.FS = vfs.NewMem()
	s, err := Open("clean", opts)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	m := newCrashModel()
	for i := uint64(1); i <= idx; i++ {
		reqs := crashGen(cfg, i, m)
		m.apply(i, reqs)
		for j, r := range s.Apply(i, reqs, false) {
			if r.Err != nil && errors.Is(r.Err, ErrCorrupt) {
				return 0, fmt.Errorf("clean replay index %d request %d: %w", i, j, r.Err)
			}
		}
	}
	h, _, err := s.HashKV(0)
	return h, err
}

// crashCompactionState reads the compacted revision and how far space
// reclamation got, straight from Pebble, before the store resumes it.
func crashCompactionState(dir string) (compactRev, done int64, err error) {
	db, err := pebble.Open(dir, &pebble.Options{ReadOnly: true, Logger: pebblelog.Logger{Log: slog.New(slog.DiscardHandler), Fatal: func(msg string) { panic(msg) }}})
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	s := &Store{db: db}
	if compactRev, err = s.getMeta(metaCompactRev); err != nil {
		return 0, 0, err
	}
	done, err = s.getMeta(metaCompactDone)
	return compactRev, done, err
}

// crashRounds runs rounds of child, kill, recovery and checks on one
// directory, then compares the final store with a clean replay. In the
// compact workload every other round closes the store without waiting for
// the resumed space reclamation, so the next child resumes it again.
func crashRounds(t *testing.T, cfg crashConfig, rounds int, stopAfter uint64, plan func(st *crashState, round int) crashPlan) {
	st := &crashState{cfg: cfg, model: newCrashModel(), rng: rand.New(rand.NewPCG(cfg.Seed, 0x6b696c6c))}
	fail := func(round int, format string, args ...any) {
		t.Helper()
		t.Fatalf("%s workload, seed %d (rerun with KELSON_CRASH_SEED=%d; kill timing varies), round %d: %s",
			cfg.Mode, cfg.Seed, cfg.Seed, round, fmt.Sprintf(format, args...))
	}
	midCompaction := 0
	var hash uint32
	for round := range rounds {
		cfg.Stop = st.applied + stopAfter
		if cfg.Mode == crashMixed && round%2 == 1 {
			cfg.SyncEvery = 5
		} else {
			cfg.SyncEvery = 0
		}
		st.cfg = cfg
		p := plan(st, round)
		run, err := crashRunChild(t, cfg, p)
		if err != nil {
			fail(round, "%v (%v)", err, p)
		}
		if cfg.Mode == crashCompact {
			c, d, err := crashCompactionState(cfg.Dir)
			if err != nil {
				t.Logf("round %d: reading the compaction state: %v", round, err)
			} else if d < c {
				midCompaction++
			}
			t.Logf("round %d: compact rev %d, reclaimed up to %d", round, c, d)
		}
		full := cfg.Mode == crashMixed || round%2 == 1 || round == rounds-1
		if hash, err = st.recoverAndCheck(run, full); err != nil {
			fail(round, "%v (%v; child acked %d entries, last index %d rev %d, killed %v)", err, p, run.acks, run.lastIndex, run.lastRev, run.killed)
		}
		t.Logf("round %d (sync every %d): %v: %d acks, killed %v; recovered at index %d rev %d compacted %d",
			round, max(cfg.SyncEvery, 1), p, run.acks, run.killed, st.applied, st.maxRev, st.model.compactRev)
	}
	clean, err := crashCleanHash(cfg, st.applied)
	if err != nil {
		fail(rounds, "clean replay: %v", err)
	}
	if clean != hash {
		fail(rounds, "HashKV %08x of the recovered store, %08x of a clean replay of the same %d entries", hash, clean, st.applied)
	}
	if cfg.Mode == crashCompact {
		t.Logf("%d of %d kills landed while space reclamation was unfinished", midCompaction, rounds)
	}
	var outcomes []string
	for k, n := range st.model.outcomes {
		outcomes = append(outcomes, fmt.Sprintf("%s %d", k, n))
	}
	slices.Sort(outcomes)
	t.Logf("requests applied, by outcome (wrote: made a revision; ok: succeeded without one): %s", strings.Join(outcomes, ", "))
}

func TestCrashRecovery(t *testing.T) {
	rounds := 10
	if testing.Short() {
		rounds = 4
	}
	cfg := crashConfig{Mode: crashMixed, Dir: t.TempDir() + "/db", Seed: crashSeed(1)}
	crashRounds(t, cfg, rounds, 600, func(st *crashState, round int) crashPlan {
		switch st.rng.IntN(3) {
		case 0:
			return crashPlan{afterOpen: true, afterAcks: st.rng.IntN(250)}
		case 1:
			return crashPlan{afterOpen: true, delay: time.Duration(1+st.rng.IntN(50)) * time.Millisecond}
		default:
			// From process start: may land during Open.
			return crashPlan{delay: time.Duration(1+st.rng.IntN(80)) * time.Millisecond}
		}
	})
}

// TestCrashRecoveryDuringCompaction kills the child while the compactor is
// reclaiming a large history in steps of 10 keys (and, in later rounds,
// while the reopened store resumes it).
func TestCrashRecoveryDuringCompaction(t *testing.T) {
	rounds, keys := 6, 6000
	if testing.Short() {
		rounds, keys = 3, 2000
	}
	cfg := crashConfig{Mode: crashCompact, Dir: t.TempDir() + "/db", Seed: crashSeed(2), Keys: keys}
	crashRounds(t, cfg, rounds, cfg.preload()+1+150, func(st *crashState, round int) crashPlan {
		// Arm at the ack of the next compaction entry.
		pre := st.cfg.preload()
		p := crashPlan{trigger: pre + 1}
		if st.applied >= pre+1 {
			p.trigger = pre + 1 + (st.applied-pre+9)/10*10
		}
		// A compaction of 6k keys in steps of 10 takes a few milliseconds
		// here: kill soon after the compaction or the open.
		if st.rng.IntN(2) == 0 {
			p.afterAcks = st.rng.IntN(4)
		} else {
			p.delay = time.Duration(1+st.rng.IntN(4000)) * time.Microsecond
		}
		return p
	})
}

// TestCrashRecoveryPowerLoss loses power rather than the process: on
// Pebble's strict in-memory filesystem everything not fsynced is dropped
// (a SIGKILL keeps what reached the OS). It checks that Apply(sync=true)
// and Sync make entries durable, and that what survives is a consistent
// prefix of the stream, also when the cut lands in a compaction. It runs
// in one process; the entries, cut points and sync patterns follow the
// seed (only the compactor's progress at the cut varies).
func TestCrashRecoveryPowerLoss(t *testing.T) {
	rounds := 12
	if testing.Short() {
		rounds = 6
	}
	for _, cfg := range []crashConfig{
		{Mode: crashMixed, Seed: crashSeed(3)},
		{Mode: crashCompact, Seed: crashSeed(4), Keys: 1000},
	} {
		t.Run(cfg.Mode, func(t *testing.T) { crashPowerLoss(t, cfg, rounds) })
	}
}

func crashPowerLoss(t *testing.T, cfg crashConfig, rounds int) {
	fs := vfs.NewStrictMem()
	cfg.fs, cfg.Dir = fs, "db"
	// Make the store's directory itself durable first: Open does not sync
	// the parent of a directory it creates (TestCrashPowerLossNewStore).
	if err := crashMkdirSynced(fs, cfg.Dir); err != nil {
		t.Fatal(err)
	}
	st := &crashState{cfg: cfg, model: newCrashModel(), rng: rand.New(rand.NewPCG(cfg.Seed, 0x706f776572))}
	fail := func(round int, format string, args ...any) {
		t.Helper()
		t.Fatalf("%s workload, seed %d (rerun with KELSON_CRASH_SEED=%d), round %d: %s",
			cfg.Mode, cfg.Seed, cfg.Seed, round, fmt.Sprintf(format, args...))
	}
	// m runs ahead of st.model: it generates the entries applied this round.
	m := newCrashModel()
	var hash uint32
	for round := range rounds {
		s, err := Open(cfg.Dir, cfg.options())
		if err != nil {
			fail(round, "open: %v", err)
		}
		if s.AppliedIndex() != m.index {
			fail(round, "opened at index %d, want %d", s.AppliedIndex(), m.index)
		}
		n := uint64(1 + st.rng.IntN(150))
		if cfg.Mode == crashCompact {
			n = uint64(1 + st.rng.IntN(30))
			if pre := cfg.preload(); m.index <= pre {
				n += pre + 1 - m.index
			}
		}
		// Sync pattern: every Apply synced, or unsynced with a Sync every
		// few indexes, or unsynced with some synced Applies.
		pattern, every := st.rng.IntN(3), uint64(1+st.rng.IntN(8))
		var durable crashRun
		for idx, end := m.index+1, m.index+n; idx <= end; idx++ {
			reqs := crashGen(cfg, idx, m)
			m.apply(idx, reqs)
			sync := pattern == 0 || (pattern == 2 && st.rng.IntN(4) == 0)
			for _, r := range s.Apply(idx, reqs, sync) {
				if errors.Is(r.Err, ErrCorrupt) {
					fail(round, "apply %d: %v", idx, r.Err)
				}
			}
			if pattern == 1 && idx%every == 0 {
				if err := s.Sync(); err != nil {
					fail(round, "sync: %v", err)
				}
				sync = true
			}
			if sync {
				durable.lastIndex, durable.lastRev = idx, m.rev
			}
		}
		// Power cut: nothing written from here on (Close included) is kept.
		fs.SetIgnoreSyncs(true)
		s.Close()
		fs.ResetToSyncedState()
		fs.SetIgnoreSyncs(false)
		full := round%2 == 1 || round == rounds-1
		if hash, err = st.recoverAndCheck(durable, full); err != nil {
			fail(round, "%v (sync pattern %d/%d; last durable index %d rev %d, %d applied)", err, pattern, every, durable.lastIndex, durable.lastRev, m.index)
		}
		// The next round continues after what survived.
		m = newCrashModel()
		m.advance(cfg, st.applied)
	}
	clean, err := crashCleanHash(cfg, st.applied)
	if err != nil {
		fail(rounds, "clean replay: %v", err)
	}
	if clean != hash {
		fail(rounds, "HashKV %08x of the recovered store, %08x of a clean replay of the same %d entries", hash, clean, st.applied)
	}
}

// crashMkdirSynced creates dir and syncs its parent, so the directory
// survives a power cut.
func crashMkdirSynced(fs vfs.FS, dir string) error {
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	parent, err := fs.OpenDir(fs.PathDir(dir))
	if err != nil {
		return err
	}
	defer parent.Close()
	return parent.Sync()
}

// TestCrashPowerLossNewStore: a synced Apply on a store just created by
// Open must survive a power cut. It fails while Open creates the store's
// directory without syncing its parent directory: the cut then loses the
// directory entry, and with it every acknowledged write.
func TestCrashPowerLossNewStore(t *testing.T) {
	fs := vfs.NewStrictMem()
	opts := Options{FS: fs, Logger: slog.New(slog.DiscardHandler)}
	s, err := Open("db", opts)
	if err != nil {
		t.Fatal(err)
	}
	if r := s.Apply(1, []*pb.InternalRaftRequest{{Put: &pb.PutRequest{Key: []byte("a"), Value: []byte("1")}}}, true); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	fs.SetIgnoreSyncs(true)
	s.Close()
	fs.ResetToSyncedState()
	fs.SetIgnoreSyncs(false)
	if s, err = Open("db", opts); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.AppliedIndex() != 1 || s.Rev() != 2 {
		t.Fatalf("after a power cut: applied index %d rev %d, want 1 and 2: the synced Apply was lost", s.AppliedIndex(), s.Rev())
	}
}
