package containerd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/testimage"
	"github.com/kelson-dev/kelson/nodeagent/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// TestMain doubles as the log driver: containerd's shim runs this test
// binary as `BINARY container-log-driver LOGPATH` with CONTAINER_ID set.
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == LogDriverCommand && os.Getenv("CONTAINER_ID") != "" {
		os.Exit(LogDriverMain(os.Args[2]))
	}
	os.Exit(m.Run())
}

// env is one containerd child process and a Runtime over it, with the
// test images imported.
type env struct {
	t      testing.TB
	dir    string
	daemon *Daemon
	rt     *Runtime
	logs   string // root of the CRI log files
	cancel context.CancelFunc
	ctx    context.Context
}

func requireTools(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (containerd, runc, cgroups)")
	}
	for _, bin := range []string{"containerd", "runc", "containerd-shim-runc-v2"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed (apt-get install containerd runc): %v", bin, err)
		}
	}
	if _, err := os.Stat(testimage.DefaultBusybox); err != nil {
		t.Skipf("busybox-static not installed: %v", err)
	}
}

// newEnv starts containerd under a short temporary directory (unix socket
// paths are limited to 108 bytes; t.TempDir's can be longer).
func newEnv(t testing.TB) *env {
	t.Helper()
	requireTools(t)
	dir, err := os.MkdirTemp("", "krt")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &env{t: t, dir: dir, logs: filepath.Join(dir, "pods"), ctx: ctx, cancel: cancel}
	t.Cleanup(func() { e.close() })
	e.startDaemon()
	e.open()
	if _, err := testimage.Import(ctx, e.rt, testimage.Options{}); err != nil {
		t.Fatalf("import test images: %v", err)
	}
	return e
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func (e *env) startDaemon() {
	e.t.Helper()
	d, err := StartDaemon(e.ctx, DaemonConfig{Dir: filepath.Join(e.dir, "c"), Logger: testLogger(e.t)})
	if err != nil {
		e.t.Fatalf("start containerd: %v", err)
	}
	e.daemon = d
}

func (e *env) open() {
	e.t.Helper()
	// KELSON_LOG_DRIVER=/path/to/kelson runs the real binary's hidden
	// subcommand instead of this test binary.
	rt, err := Open(e.ctx, Config{Address: e.daemon.Address(), StateDir: filepath.Join(e.dir, "s"),
		LogDriver: os.Getenv("KELSON_LOG_DRIVER"), Logger: testLogger(e.t)})
	if err != nil {
		e.t.Fatalf("open runtime: %v", err)
	}
	e.rt = rt
}

// close kills and removes every container, stops containerd and removes
// the directory.
func (e *env) close() {
	if e.rt != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if cs, err := e.rt.ListContainers(ctx); err == nil {
			for _, c := range cs {
				if err := e.rt.RemoveContainer(ctx, c.ID); err != nil {
					e.t.Logf("cleanup: remove %s: %v", c.ID, err)
				}
			}
		}
		cancel()
		e.rt.Close()
	}
	if e.daemon != nil {
		e.daemon.Stop()
	}
	e.cancel()
	// Snapshots may leave mounts behind on failure; never remove through
	// a mount.
	if out, err := exec.Command("grep", "-c", e.dir, "/proc/self/mounts").Output(); err == nil && strings.TrimSpace(string(out)) != "0" {
		e.t.Logf("mounts left under %s; not removing it", e.dir)
		return
	}
	os.RemoveAll(e.dir)
}

// spec is a busybox container spec of a fresh pod.
func (e *env) spec(name string, command ...string) runtime.ContainerSpec {
	uid := types.UID(fmt.Sprintf("uid-%x", rand.Uint64()))
	return runtime.ContainerSpec{
		PodUID: uid, PodNamespace: "default", PodName: "p-" + name, Name: name,
		Image:   "busybox",
		Command: command,
		LogPath: runtime.LogPath(e.logs, "default", "p-"+name, uid, name, 0),
	}
}

// run creates and starts spec.
func (e *env) run(spec runtime.ContainerSpec) string {
	e.t.Helper()
	id, err := e.rt.CreateContainer(e.ctx, spec)
	if err != nil {
		e.t.Fatalf("create %s: %v", spec.Name, err)
	}
	if err := e.rt.StartContainer(e.ctx, id); err != nil {
		e.t.Fatalf("start %s: %v", spec.Name, err)
	}
	return id
}

// waitState polls the status until pred holds.
func (e *env) waitStatus(id string, what string, pred func(runtime.ContainerStatus) bool) runtime.ContainerStatus {
	e.t.Helper()
	var last runtime.ContainerStatus
	var lastErr error
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		last, lastErr = e.rt.ContainerStatus(e.ctx, id)
		if lastErr == nil && pred(last) {
			return last
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatalf("container %s never became %s: last status %+v, err %v", id, what, last, lastErr)
	return last
}

func exited(s runtime.ContainerStatus) bool { return s.State == runtime.StateExited }

// logLines reads a CRI log file.
func logLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// criContent returns "stream tag content" of each record, checking the
// timestamp parses.
func criContent(t *testing.T, lines []string) []string {
	t.Helper()
	var out []string
	for _, l := range lines {
		ts, rest, ok := strings.Cut(l, " ")
		if !ok {
			t.Fatalf("log line %q has no timestamp", l)
		}
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
			t.Fatalf("log line %q: timestamp: %v", l, err)
		}
		out = append(out, rest)
	}
	return out
}

func eventually(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: %v", what, err)
}
