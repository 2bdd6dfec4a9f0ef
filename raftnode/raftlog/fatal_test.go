package raftlog

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/cockroachdb/pebble/vfs/errorfs"
	"go.etcd.io/raft/v3/raftpb"
)

// envFatalChild makes TestFatalDiskErrorExits run the child's part.
const envFatalChild = "KELSON_RAFTLOG_FATAL_CHILD"

// TestFatalDiskErrorExits: a Save whose WAL write fails is fatal for Pebble
// (Fatalf). With the default Options.Fatal the process logs one line naming
// the error and the log's directory and exits with status 1, without a
// panic or goroutine dump. The Save runs in a child process (this test
// binary re-run), since it ends the process.
func TestFatalDiskErrorExits(t *testing.T) {
	if os.Getenv(envFatalChild) == "1" {
		fatalChild()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFatalDiskErrorExits$", "-test.count=1")
	cmd.Env = append(os.Environ(), envFatalChild+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	out := stderr.String()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("child: %v, want exit status 1\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), out)
	}
	if n := strings.Count(out, "fatal storage error"); n != 1 || !strings.Contains(out, "injected error") || !strings.Contains(out, "raft log /log") {
		t.Errorf("want one line naming the fatal storage error, the disk error and the log:\n%s", out)
	}
	for _, bad := range []string{"panic:", "goroutine ", "child: Save returned"} {
		if strings.Contains(out, bad) {
			t.Errorf("stderr contains %q:\n%s", bad, out)
		}
	}
}

// fatalChild opens a log on a disk whose WAL writes fail after the first
// Save, then saves again; it never returns.
func fatalChild() {
	var failing atomic.Bool
	fs := errorfs.Wrap(vfs.NewMem(), errorfs.InjectorFunc(func(op errorfs.Op, path string) error {
		if failing.Load() && strings.HasSuffix(path, ".log") &&
			(op == errorfs.OpFileWrite || op == errorfs.OpFileWriteAt || op == errorfs.OpFileSync) {
			return errorfs.ErrInjected
		}
		return nil
	}))
	l, err := Open("/log", Options{FS: fs, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: open:", err)
		os.Exit(3)
	}
	entry := func(i uint64) []*raftpb.Entry {
		return []*raftpb.Entry{{Index: new(i), Term: new(uint64(1)), Data: []byte("x")}}
	}
	if err := l.Save(nil, entry(1), nil); err != nil {
		fmt.Fprintln(os.Stderr, "child: first save:", err)
		os.Exit(3)
	}
	failing.Store(true)
	err = l.Save(nil, entry(2), nil)
	fmt.Fprintln(os.Stderr, "child: Save returned:", err)
	os.Exit(3)
}
