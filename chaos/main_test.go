package chaos

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/testbin"
)

// kelsonBin is the binary TestMain built with -tags chaos.
var kelsonBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "kchaos-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if kelsonBin, err = testbin.Build(dir, "chaos"); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	return m.Run()
}

// The environment of `make chaos`.
const (
	envSeed     = "KELSON_CHAOS_SEED"     // seed; "random" for one from the clock. Default 1.
	envDuration = "KELSON_CHAOS_DURATION" // fault phase of TestChaos, e.g. 5m. Default 40s.
	envFaults   = "KELSON_CHAOS_FAULTS"   // fault weights, e.g. "kill=3,partition=1". Default: all.
	envKeep     = "KELSON_CHAOS_KEEP"     // "1": keep the work directory even when the test passes.
)

// testSeed returns the run's seed and arranges for it to be printed if
// the test fails.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(1)
	if s := os.Getenv(envSeed); s == "random" {
		seed = uint64(time.Now().UnixNano())
	} else if s != "" {
		v, err := strconv.ParseUint(s, 0, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", envSeed, s, err)
		}
		seed = v
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d: rerun with %s=%d (make chaos SEED=%d)", seed, envSeed, seed, seed)
		}
	})
	return seed
}

// longRun reports whether `make chaos` asked for a duration (the long
// suite); the default `go test` run is the short one.
func longRun() bool { return os.Getenv(envDuration) != "" }

func testDuration(t *testing.T, def time.Duration) time.Duration {
	t.Helper()
	s := os.Getenv(envDuration)
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("%s=%q: %v", envDuration, s, err)
	}
	return d
}

// workDir is a directory for the members' data and logs. It is removed
// when the test passes (unless KELSON_CHAOS_KEEP=1) and kept, with its
// path printed, when it fails.
func workDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "kchaos-"+strings.NewReplacer("/", "_", "=", "_").Replace(t.Name())+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv(envKeep) == "1" {
			t.Logf("work directory (member logs, artifacts) kept: %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}
