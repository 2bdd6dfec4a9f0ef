package raftlog

import (
	"fmt"
	"log/slog"
	"os"
	"testing"

	"github.com/kelson-dev/kelson/internal/testbin"
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
	testbin.ExpectFatalExit(t, "TestFatalDiskErrorExits", envFatalChild, "injected error", "raft log /log")
}

// fatalChild opens a log on a disk whose WAL writes fail after the first
// Save, then saves again; it never returns.
func fatalChild() {
	fs, failing := testbin.FailingWALFS()
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
