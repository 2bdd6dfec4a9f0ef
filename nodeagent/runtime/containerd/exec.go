package containerd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"syscall"

	ctrd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
	"github.com/kelson-dev/kelson/nodeagent/runtime"
)

// ErrNotRunning is returned (wrapped) by Exec for an instance that is not
// running.
var ErrNotRunning = errors.New("containerd: container is not running")

// Exec implements runtime.Runtime: the command runs as a new process of
// the container's task, with the container's user, environment and
// working directory. Its output is read to the end before the process is
// deleted; when ctx ends first, the process is killed.
func (r *Runtime) Exec(ctx context.Context, id string, opts runtime.ExecOptions) (int, error) {
	ctx = r.nsctx(ctx)
	if len(opts.Command) == 0 {
		return -1, errors.New("containerd: exec needs a command")
	}
	c, _, err := r.load(ctx, id)
	if err != nil {
		return -1, err
	}
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return -1, fmt.Errorf("%w: %s", ErrNotRunning, id)
	}
	if err != nil {
		return -1, fmt.Errorf("containerd: task of %s: %w", id, err)
	}
	if st, err := task.Status(ctx); err != nil || st.Status != ctrd.Running {
		return -1, fmt.Errorf("%w: %s", ErrNotRunning, id)
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return -1, fmt.Errorf("containerd: spec of %s: %w", id, err)
	}
	pspec := *spec.Process
	pspec.Args = opts.Command
	pspec.Terminal = opts.TTY
	pspec.ConsoleSize = nil

	stdout, stderr := opts.Stdout, opts.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil || opts.TTY {
		stderr = io.Discard
	}
	var stdin *stdinCloser
	var in io.Reader
	if opts.Stdin != nil {
		stdin = &stdinCloser{r: opts.Stdin, ready: make(chan struct{})}
		in = stdin
	}
	cioOpts := []cio.Opt{cio.WithStreams(in, stdout, stderr), cio.WithFIFODir(filepath.Join(r.cfg.StateDir, "fifo"))}
	if opts.TTY {
		cioOpts = append(cioOpts, cio.WithTerminal)
	}
	execID := "exec-" + randomHex(8)
	proc, err := task.Exec(ctx, execID, &pspec, cio.NewCreator(cioOpts...))
	if err != nil {
		if stdin != nil {
			close(stdin.ready) // proc stays nil: nothing to close
		}
		return -1, fmt.Errorf("containerd: exec in %s: %w", id, err)
	}
	cleanup := context.WithoutCancel(ctx)
	defer func() {
		if _, err := proc.Delete(cleanup, ctrd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			r.log.Warn("delete exec process", "id", id, "exec", execID, "err", err)
		}
	}()
	if stdin != nil {
		stdin.proc, stdin.ctx = proc, cleanup
		close(stdin.ready)
	}
	exitc, err := proc.Wait(ctx)
	if err != nil {
		return -1, fmt.Errorf("containerd: exec in %s: %w", id, err)
	}
	if err := proc.Start(ctx); err != nil {
		proc.IO().Cancel()
		return -1, fmt.Errorf("containerd: exec in %s: %w", id, err)
	}
	if opts.TTY && opts.Resize != nil {
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			for {
				select {
				case <-rctx.Done():
					return
				case sz, ok := <-opts.Resize:
					if !ok {
						return
					}
					_ = proc.Resize(rctx, uint32(sz.Width), uint32(sz.Height))
				}
			}
		}()
	}
	var status ctrd.ExitStatus
	select {
	case status = <-exitc:
	case <-ctx.Done():
		_ = proc.Kill(cleanup, syscall.SIGKILL)
		<-exitc
		proc.IO().Cancel()
		proc.IO().Wait()
		return -1, ctx.Err()
	}
	// All output is copied before the process (and its FIFOs) go.
	proc.IO().Wait()
	code, _, err := status.Result()
	if err != nil {
		return -1, fmt.Errorf("containerd: exec in %s: %w", id, err)
	}
	return int(code), nil
}

// stdinCloser closes the process's stdin (CloseIO) when the caller's
// reader ends, so that a command reading stdin sees EOF.
type stdinCloser struct {
	r     io.Reader
	ready chan struct{} // closed once proc is set
	proc  ctrd.Process
	ctx   context.Context
	once  sync.Once
}

func (s *stdinCloser) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil {
		s.once.Do(func() {
			go func() {
				<-s.ready
				if s.proc != nil {
					_ = s.proc.CloseIO(s.ctx, ctrd.WithStdinCloser)
				}
			}()
		})
	}
	return n, err
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
