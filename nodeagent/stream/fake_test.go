package stream

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/nodeagent/runtime"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// fakeRuntime lists the instances a test adds and runs a few exec
// commands:
//
//	cat            copies stdin to stdout until stdin ends
//	echo ARGS...   prints its arguments to stdout
//	err TEXT       prints TEXT to stderr
//	exit N         exits with code N
//	sleep          waits until its context ends
//	size           prints the first terminal size received
//	fail           Exec itself fails
type fakeRuntime struct {
	mu     sync.Mutex
	list   []runtime.ContainerStatus
	execs  int
	cancel int // sleeps ended by their context
}

func (f *fakeRuntime) add(c runtime.ContainerStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list = append(f.list, c)
}

func (f *fakeRuntime) setState(id string, st runtime.State) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.list {
		if f.list[i].ID == id {
			f.list[i].State = st
		}
	}
}

func (f *fakeRuntime) ListContainers(context.Context) ([]runtime.ContainerStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]runtime.ContainerStatus(nil), f.list...), nil
}

func (f *fakeRuntime) ContainerStatus(_ context.Context, id string) (runtime.ContainerStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.list {
		if c.ID == id {
			return c, nil
		}
	}
	return runtime.ContainerStatus{}, fmt.Errorf("container %s: %w", id, runtime.ErrNotFound)
}

func (f *fakeRuntime) Exec(ctx context.Context, id string, o runtime.ExecOptions) (int, error) {
	f.mu.Lock()
	f.execs++
	f.mu.Unlock()
	out, errw := o.Stdout, o.Stderr
	if out == nil {
		out = io.Discard
	}
	if errw == nil {
		errw = io.Discard
	}
	if o.TTY {
		errw = out
	}
	args := o.Command[1:]
	switch o.Command[0] {
	case "cat":
		if o.Stdin == nil {
			return 0, nil
		}
		_, err := io.Copy(out, o.Stdin)
		return 0, err
	case "echo":
		fmt.Fprintln(out, strings.Join(args, " "))
		return 0, nil
	case "err":
		fmt.Fprintln(errw, strings.Join(args, " "))
		return 0, nil
	case "exit":
		n, _ := strconv.Atoi(args[0])
		return n, nil
	case "sleep":
		<-ctx.Done()
		f.mu.Lock()
		f.cancel++
		f.mu.Unlock()
		return 0, ctx.Err()
	case "size":
		select {
		case sz := <-o.Resize:
			fmt.Fprintf(out, "%dx%d\n", sz.Width, sz.Height)
		case <-ctx.Done():
		}
		return 0, nil
	case "fail":
		return 0, fmt.Errorf("no such binary %q in the container", o.Command[0])
	}
	return 127, nil
}

func (f *fakeRuntime) EnsureImage(context.Context, string, corev1.PullPolicy) (string, error) {
	return "", nil
}
func (f *fakeRuntime) CreateContainer(context.Context, runtime.ContainerSpec) (string, error) {
	return "", nil
}
func (f *fakeRuntime) StartContainer(context.Context, string) error { return nil }
func (f *fakeRuntime) StopContainer(context.Context, string, time.Duration) error {
	return nil
}
func (f *fakeRuntime) RemoveContainer(context.Context, string) error { return nil }
func (f *fakeRuntime) Stats(context.Context, string) (runtime.Stats, error) {
	return runtime.Stats{}, nil
}
func (f *fakeRuntime) Exits() <-chan runtime.Exit { return nil }

// instance makes a container status whose log lives under root.
func instance(root, ns, pod string, uid types.UID, name string, attempt int, st runtime.State, created time.Time) runtime.ContainerStatus {
	return runtime.ContainerStatus{
		ID: fmt.Sprintf("%s-%s-%d", uid, name, attempt), PodUID: uid, PodNamespace: ns, PodName: pod,
		Name: name, Attempt: attempt, State: st, CreatedAt: created,
		LogPath: runtime.LogPath(root, ns, pod, uid, name, attempt),
	}
}

// logWriter appends CRI entries to an instance's log file.
type logWriter struct {
	t    *testing.T
	path string
	at   time.Time
}

func newLogWriter(t *testing.T, path string, start time.Time) *logWriter {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	return &logWriter{t: t, path: path, at: start}
}

// write appends entries "stream tag text", each a millisecond after the
// one before.
func (lw *logWriter) write(entries ...string) {
	f, err := os.OpenFile(lw.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		lw.t.Fatal(err)
	}
	defer f.Close()
	for _, e := range entries {
		lw.at = lw.at.Add(time.Millisecond)
		if _, err := fmt.Fprintf(f, "%s %s\n", lw.at.Format(time.RFC3339Nano), e); err != nil {
			lw.t.Fatal(err)
		}
	}
}
