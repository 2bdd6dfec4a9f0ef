package raftlog

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/kelson-dev/kelson/internal/pebblelog"
)

func openRaw(fs vfs.FS) (*pebble.DB, error) {
	return pebble.Open("/log", &pebble.Options{FS: fs, Logger: pebblelog.Logger{Log: quietLogger(), Fatal: func(msg string) { panic(msg) }}})
}

const (
	envCrashDir  = "KELSON_RAFTLOG_CRASH_DIR"
	envCrashSeed = "KELSON_RAFTLOG_CRASH_SEED"
)

// TestCrashChild is the child half of TestCrashKill: run by the parent with
// the environment set, it applies the generated operations to a log on the
// real disk and prints "ack N" after operation N returned, until it is
// killed. Without the environment it does nothing.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(envCrashDir)
	if dir == "" {
		t.Skip("child process of TestCrashKill only")
	}
	seed, err := strconv.ParseUint(os.Getenv(envCrashSeed), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(dir, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	g := newGen(seed, false)
	for n := 0; ; n++ {
		if err := applyLog(l, g.next()); err != nil {
			fmt.Fprintf(os.Stderr, "op %d: %v\n", n, err)
			os.Exit(3)
		}
		// One write(2) per ack: the parent reads whole lines.
		if _, err := fmt.Fprintf(os.Stdout, "ack %d\n", n); err != nil {
			os.Exit(4)
		}
	}
}

// TestCrashKill runs a child process that writes synced batches, SIGKILLs it
// at a random point, reopens the log and checks that it holds exactly the
// state after the last acknowledged operation, or after the one in flight.
func TestCrashKill(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	for _, seed := range []uint64{11, 12, 13} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runCrash(t, seed) })
	}
}

func runCrash(t *testing.T, seed uint64) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(seed, 99))
	killAfter := 20 + r.IntN(200)

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envCrashDir+"="+dir, envCrashSeed+"="+strconv.FormatUint(seed, 10))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lastAck := -1
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		line := sc.Text()
		n, ok := strings.CutPrefix(line, "ack ")
		if !ok {
			continue
		}
		v, err := strconv.Atoi(n)
		if err != nil {
			t.Fatalf("seed %d: bad ack line %q", seed, line)
		}
		lastAck = v
		if !killed && v >= killAfter {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true // keep draining: acks already written count too
		}
	}
	werr := cmd.Wait()
	if !killed {
		t.Fatalf("seed %d: child ended before the kill after %d acks: %v\n%s", seed, lastAck, werr, stderr.String())
	}

	// The durable state is the model after ops 0..lastAck, or after the op in
	// flight too.
	l, err := Open(dir, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatalf("seed %d: reopen after kill: %v", seed, err)
	}
	defer func() { _ = l.Close() }()
	g := newGen(seed, false)
	for range lastAck + 1 {
		g.next()
	}
	errAcked := diffModel(g.m, l, rand.New(rand.NewPCG(seed, 1)))
	if errAcked == nil {
		t.Logf("seed %d: killed after ack %d; log holds exactly the acknowledged state", seed, lastAck)
		return
	}
	g.next()
	if err := diffModel(g.m, l, rand.New(rand.NewPCG(seed, 1))); err != nil {
		t.Fatalf("seed %d: after kill at ack %d the log matches neither the acknowledged state (%v) nor the next one (%v)",
			seed, lastAck, errAcked, err)
	}
	t.Logf("seed %d: killed after ack %d; log also holds the in-flight write", seed, lastAck)
}

// TestPowerLoss simulates losing everything not fsynced (vfs.NewStrictMem)
// at random points and checks that every acknowledged write survives.
func TestPowerLoss(t *testing.T) {
	for _, seed := range []uint64{21, 22, 23} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			fs := vfs.NewStrictMem()
			if err := fs.MkdirAll("/log", 0o755); err != nil {
				t.Fatal(err)
			}
			syncDir(t, fs)
			opts := Options{FS: fs, Logger: quietLogger()}
			l, err := Open("/log", opts)
			if err != nil {
				t.Fatal(err)
			}
			g := newGen(seed, false)
			r := rand.New(rand.NewPCG(seed, 5))
			for step := range 300 {
				o := g.next()
				if err := applyLog(l, o); err != nil {
					t.Fatalf("seed %d step %d %v: %v", seed, step, o, err)
				}
				if r.IntN(25) != 0 {
					continue
				}
				// Power loss: stop syncing, close, drop unsynced data.
				fs.SetIgnoreSyncs(true)
				_ = l.Close()
				fs.ResetToSyncedState()
				fs.SetIgnoreSyncs(false)
				if l, err = Open("/log", opts); err != nil {
					t.Fatalf("seed %d step %d: reopen after power loss: %v", seed, step, err)
				}
				if err := diffModel(g.m, l, r); err != nil {
					t.Fatalf("seed %d step %d: after power loss: %v", seed, step, err)
				}
			}
			_ = l.Close()
		})
	}
}

// syncDir makes the creation of /log itself durable in a strict MemFS.
func syncDir(t *testing.T, fs vfs.FS) {
	t.Helper()
	for _, d := range []string{"/", "/log"} {
		f, err := fs.OpenDir(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		_ = f.Close()
	}
}
