package kvstore

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
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// envFatalChild makes TestFatalDiskErrorExits run the child's part.
const envFatalChild = "KELSON_KVSTORE_FATAL_CHILD"

// TestFatalDiskErrorExits: a synced write whose WAL write fails is a fatal
// error for Pebble (it calls Fatalf). With the default Options.Fatal the
// process logs one line naming the error and exits with status 1 — no
// panic, no goroutine dump. The failing write runs in a child process (this
// test binary re-run), since it ends the process.
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
	if n := strings.Count(out, "fatal storage error"); n != 1 {
		t.Errorf("stderr has %d lines naming the fatal storage error, want 1:\n%s", n, out)
	}
	if !strings.Contains(out, "injected error") || !strings.Contains(out, "store db") {
		t.Errorf("the line does not name the disk error and the store:\n%s", out)
	}
	for _, bad := range []string{"panic:", "goroutine ", "child: the write returned"} {
		if strings.Contains(out, bad) {
			t.Errorf("stderr contains %q:\n%s", bad, out)
		}
	}
}

// fatalChild opens a store on a disk whose WAL writes start failing after
// one good write, then writes; it never returns.
func fatalChild() {
	var failing atomic.Bool
	fs := errorfs.Wrap(vfs.NewMem(), errorfs.InjectorFunc(func(op errorfs.Op, path string) error {
		if failing.Load() && strings.HasSuffix(path, ".log") &&
			(op == errorfs.OpFileWrite || op == errorfs.OpFileWriteAt || op == errorfs.OpFileSync) {
			return errorfs.ErrInjected
		}
		return nil
	}))
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	s, err := Open("db", Options{FS: fs, Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: open:", err)
		os.Exit(3)
	}
	put := func(i uint64) {
		s.Apply(i, []*pb.InternalRaftRequest{{Put: &pb.PutRequest{Key: []byte("k"), Value: []byte("v")}}}, true)
	}
	put(1)
	failing.Store(true)
	put(2)
	fmt.Fprintln(os.Stderr, "child: the write returned; want an exit")
	os.Exit(3)
}
