package containerd

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Pdeathsig is sent when the THREAD that forked the child ends, not the
// process; the Go runtime ends a thread whose goroutine exits while locked
// to it (podnet does so on purpose after entering a namespace). containerd
// must outlive whichever thread happened to call StartDaemon.
func TestDaemonOutlivesTheThreadThatStartedIt(t *testing.T) {
	requireTools(t)
	dir, err := os.MkdirTemp("", "krt")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type started struct {
		d   *Daemon
		tid int
		err error
	}
	ch := make(chan started, 1)
	var start func()
	start = func() {
		goruntime.LockOSThread() // never unlocked: the thread ends with this goroutine
		if unix.Gettid() == os.Getpid() {
			// The main thread is never ended, only parked: keep it
			// (locked) and start from another thread.
			go start()
			<-ctx.Done()
			goruntime.UnlockOSThread()
			return
		}
		d, err := StartDaemon(ctx, DaemonConfig{Dir: filepath.Join(dir, "c"), Logger: testLogger(t)})
		ch <- started{d, unix.Gettid(), err}
	}
	go start()
	s := <-ch
	if s.err != nil {
		t.Fatal(s.err)
	}
	defer s.d.Stop()
	task := fmt.Sprintf("/proc/self/task/%d", s.tid)
	for i := 0; ; i++ {
		if _, err := os.Stat(task); err != nil {
			break // the starting thread is gone
		}
		if i == 100 {
			t.Fatalf("the thread that started containerd (%s) did not end", task)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	select {
	case <-s.d.Done():
		t.Fatalf("containerd exited when the thread that started it ended: %v (see %s)", s.d.waitErr, s.d.LogFile())
	default:
	}
	c, err := net.DialTimeout("unix", s.d.Address(), time.Second)
	if err != nil {
		t.Fatalf("containerd's socket: %v", err)
	}
	c.Close()
}

// A containerd that exits on its own (killed here) is reported at error
// level; one stopped by Stop is not.
func TestDaemonReportsItsOwnExit(t *testing.T) {
	requireTools(t)
	dir, err := os.MkdirTemp("", "krt")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	var buf syncBuf
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelError}))
	d, err := StartDaemon(context.Background(), DaemonConfig{Dir: filepath.Join(dir, "c"), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	_ = d.cmd.Process.Kill()
	<-d.Done()
	d.Stop()
	if !strings.Contains(buf.String(), "containerd exited on its own") {
		t.Fatalf("no error logged for containerd's own exit; log: %q", buf.String())
	}

	buf.Reset()
	d, err = StartDaemon(context.Background(), DaemonConfig{Dir: filepath.Join(dir, "c"), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	d.Stop()
	if buf.String() != "" {
		t.Fatalf("Stop logged an error: %q", buf.String())
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuf) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
}
