package kvstore

import (
	"fmt"
	"log/slog"
	"os"
	"testing"

	"github.com/kelson-dev/kelson/internal/testbin"
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
	testbin.ExpectFatalExit(t, "TestFatalDiskErrorExits", envFatalChild, "injected error", "store db")
}

// fatalChild opens a store on a disk whose WAL writes start failing after
// one good write, then writes; it never returns.
func fatalChild() {
	fs, failing := testbin.FailingWALFS()
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
