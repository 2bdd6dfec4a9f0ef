package raftlog

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
)

var (
	flagSeed  = flag.Uint64("raftlog.seed", 0, "run the property test with this seed only")
	flagSeeds = flag.Int("raftlog.seeds", 4, "number of seeds the property test runs (1..N)")
	flagSteps = flag.Int("raftlog.steps", 300, "operations per property test run")
)

// TestPropertyAgainstMemoryStorage drives a Log and raft.MemoryStorage
// through the same random Save/Compact/CreateSnapshot sequences, reopening
// the Log now and then, and compares every observable after each step. On
// failure it prints the seed and the last operations; rerun one seed with
// -raftlog.seed=N, or search wider with -raftlog.seeds=N -raftlog.steps=M.
func TestPropertyAgainstMemoryStorage(t *testing.T) {
	var seeds []uint64
	for s := range *flagSeeds {
		seeds = append(seeds, uint64(s+1))
	}
	if *flagSeed != 0 {
		seeds = []uint64{*flagSeed}
	}
	for _, seed := range seeds {
		for _, cache := range []int64{0, -1, 2048} { // default, none, tiny
			t.Run(fmt.Sprintf("seed=%d/cache=%d", seed, cache), func(t *testing.T) {
				runProperty(t, seed, cache, *flagSteps)
			})
		}
	}
}

func runProperty(t *testing.T, seed uint64, cache int64, steps int) {
	fs := vfs.NewMem()
	opts := Options{FS: fs, CacheBytes: cache, Logger: quietLogger()}
	l, err := Open("/log", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	g := newGen(seed, true)
	probe := rand.New(rand.NewPCG(seed, 7))
	var history []op
	fail := func(step int, err error) {
		t.Helper()
		start := max(0, len(history)-15)
		t.Fatalf("seed %d (rerun with -run=TestPropertyAgainstMemoryStorage -raftlog.seed=%d), step %d: %v\nlast ops:\n%v",
			seed, seed, step, err, history[start:])
	}
	for step := range steps {
		o := g.next()
		history = append(history, o)
		if o.kind == opReopen {
			if err := l.Close(); err != nil {
				fail(step, err)
			}
			if l, err = Open("/log", opts); err != nil {
				fail(step, err)
			}
		} else if err := applyLog(l, o); err != nil {
			fail(step, fmt.Errorf("%v: %w", o, err))
		}
		if err := diffModel(g.m, l, probe); err != nil {
			fail(step, err)
		}
	}
}
