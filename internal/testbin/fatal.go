package testbin

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/cockroachdb/pebble/vfs/errorfs"
)

// FailingWALFS is an in-memory FS whose Pebble WAL writes and syncs fail
// with errorfs.ErrInjected once failing is set.
func FailingWALFS() (fs vfs.FS, failing *atomic.Bool) {
	failing = new(atomic.Bool)
	fs = errorfs.Wrap(vfs.NewMem(), errorfs.InjectorFunc(func(op errorfs.Op, path string) error {
		if failing.Load() && strings.HasSuffix(path, ".log") &&
			(op == errorfs.OpFileWrite || op == errorfs.OpFileWriteAt || op == errorfs.OpFileSync) {
			return errorfs.ErrInjected
		}
		return nil
	}))
	return fs, failing
}

// ExpectFatalExit re-runs the test binary's test named test with env=1 in
// the environment (the child part, which makes Pebble fail fatally and must
// not return) and checks how the child ended: exit status 1, exactly one
// "fatal storage error" line, every string of names in its output, and no
// panic, goroutine dump or "child:" line (the child's own failure report).
func ExpectFatalExit(t *testing.T, test, env string, names ...string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"=1")
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
	for _, name := range names {
		if !strings.Contains(out, name) {
			t.Errorf("stderr does not name %q:\n%s", name, out)
		}
	}
	for _, bad := range []string{"panic:", "goroutine ", "child:"} {
		if strings.Contains(out, bad) {
			t.Errorf("stderr contains %q:\n%s", bad, out)
		}
	}
}
