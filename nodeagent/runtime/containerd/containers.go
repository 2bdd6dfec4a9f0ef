package containerd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	ctrd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
	"github.com/kelson-dev/kelson/nodeagent/runtime"
	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/types"
)

// ErrBadSpec is returned (wrapped) for a ContainerSpec the runtime cannot
// run.
var ErrBadSpec = errors.New("containerd: bad container spec")

// CreateContainer implements runtime.Runtime. The image must be present
// (EnsureImage first). The ID is ContainerID(pod UID, name, attempt).
func (r *Runtime) CreateContainer(ctx context.Context, spec runtime.ContainerSpec) (string, error) {
	ctx = r.nsctx(ctx)
	if spec.PodUID == "" || spec.Name == "" {
		return "", fmt.Errorf("%w: PodUID and Name are required", ErrBadSpec)
	}
	if spec.LogPath == "" || !filepath.IsAbs(spec.LogPath) {
		return "", fmt.Errorf("%w: LogPath %q must be an absolute path", ErrBadSpec, spec.LogPath)
	}
	if spec.StopSignal != "" {
		if _, err := parseSignal(spec.StopSignal); err != nil {
			return "", fmt.Errorf("%w: stop signal %q: %v", ErrBadSpec, spec.StopSignal, err)
		}
	}
	id := ContainerID(spec.PodUID, spec.Name, spec.Attempt)
	l := r.lock(id)
	l.Lock()
	defer l.Unlock()
	if _, err := r.client.LoadContainer(ctx, id); err == nil {
		return id, nil
	}
	ref, err := NormalizeImage(spec.Image)
	if err != nil {
		return "", err
	}
	img, err := r.client.GetImage(ctx, ref)
	if errdefs.IsNotFound(err) {
		return "", fmt.Errorf("containerd: image %s is not present (EnsureImage first): %w", ref, runtime.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("containerd: image %s: %w", ref, err)
	}
	if err := r.unpack(ctx, img); err != nil {
		return "", err
	}
	ispec, err := img.Spec(ctx)
	if err != nil {
		return "", fmt.Errorf("containerd: read the configuration of image %s: %w", ref, err)
	}
	stopSignal := spec.StopSignal
	if stopSignal == "" {
		stopSignal = ispec.Config.StopSignal
	}
	labels := specLabels(spec, ref, digestRef(ref, img.Target().Digest.String()), stopSignal)
	_, err = r.client.NewContainer(ctx, id,
		ctrd.WithImage(img),
		ctrd.WithSnapshotter(r.snapshotter),
		ctrd.WithNewSnapshot(id, img),
		ctrd.WithContainerLabels(labels),
		ctrd.WithRuntime(runcRuntime, nil),
		ctrd.WithNewSpec(specOpts(spec, ispec.Config)...),
	)
	if errdefs.IsAlreadyExists(err) {
		return id, nil
	}
	if err != nil {
		// A half-made container (its snapshot) must not block a retry.
		if c, lerr := r.client.LoadContainer(ctx, id); lerr == nil {
			_ = c.Delete(ctx, ctrd.WithSnapshotCleanup)
		}
		return "", fmt.Errorf("containerd: create container %s/%s %s: %w", spec.PodName, spec.Name, id, err)
	}
	return id, nil
}

// load returns an instance of ours, or ErrNotFound.
func (r *Runtime) load(ctx context.Context, id string) (ctrd.Container, map[string]string, error) {
	c, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil, nil, fmt.Errorf("containerd: container %s: %w", id, runtime.ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("containerd: load container %s: %w", id, err)
	}
	labels, err := c.Labels(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("containerd: container %s: %w", id, err)
	}
	if labels[labelPodUID] == "" {
		return nil, nil, fmt.Errorf("containerd: container %s was not made by Kelson: %w", id, runtime.ErrNotFound)
	}
	return c, labels, nil
}

// StartContainer implements runtime.Runtime: it creates the task, whose
// stdout and stderr go to the log driver (started by the shim, so it
// outlives the agent), and starts it. Starting a running instance is a
// no-op; an exited one cannot start again (create the next attempt).
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	ctx = r.nsctx(ctx)
	failed := false // the start failed: the instance exited, say so
	var labels map[string]string
	defer func() {
		if failed {
			r.notifyExit(id, labels)
		}
	}()
	l := r.lock(id)
	l.Lock()
	defer l.Unlock()
	c, labels, err := r.load(ctx, id)
	if err != nil {
		return err
	}
	if _, exited := labels[labelExitCode]; exited {
		return fmt.Errorf("containerd: container %s has already run and exited; create the next attempt", id)
	}
	task, err := c.Task(ctx, nil)
	if err == nil {
		st, serr := task.Status(ctx)
		if serr != nil {
			return fmt.Errorf("containerd: status of %s: %w", id, serr)
		}
		switch st.Status {
		case ctrd.Running, ctrd.Paused, ctrd.Pausing:
			return nil
		case ctrd.Created:
			err, failed = r.startTask(ctx, c, task)
			return err
		default:
			return fmt.Errorf("containerd: container %s has already run and exited; create the next attempt", id)
		}
	}
	logPath := labels[labelLogPath]
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return fmt.Errorf("containerd: log directory of %s: %w", id, err)
	}
	args := map[string]string{LogDriverCommand: logPath}
	creator := cio.BinaryIO(r.cfg.LogDriver, args)
	if labels[labelTTY] == "true" {
		creator = cio.TerminalBinaryIO(r.cfg.LogDriver, args)
	}
	task, err = c.NewTask(ctx, creator)
	if err != nil {
		// runc reports a missing executable or a bad working directory
		// here: the instance ends as an Error with the reason.
		msg := err.Error()
		_, _ = c.SetLabels(ctx, mergeLabels(map[string]string{labelStartedAt: time.Now().UTC().Format(time.RFC3339Nano)},
			exitLabels(128, time.Now(), false, msg)))
		failed = true
		return fmt.Errorf("containerd: create the task of %s: %w", id, err)
	}
	err, failed = r.startTask(ctx, c, task)
	return err
}

// startTask starts a created task and records the start time; a failure
// is recorded as the instance's exit (failed = true).
func (r *Runtime) startTask(ctx context.Context, c ctrd.Container, task ctrd.Task) (err error, failed bool) {
	now := time.Now().UTC().Format(time.RFC3339Nano)
	if err := task.Start(ctx); err != nil {
		_, _ = task.Delete(ctx, ctrd.WithProcessKill)
		_, _ = c.SetLabels(ctx, mergeLabels(map[string]string{labelStartedAt: now}, exitLabels(128, time.Now(), false, err.Error())))
		return fmt.Errorf("containerd: start %s: %w", c.ID(), err), true
	}
	if _, err := c.SetLabels(ctx, map[string]string{labelStartedAt: now}); err != nil {
		r.log.Warn("record start time", "id", c.ID(), "err", err)
	}
	return nil, false
}

func (r *Runtime) notifyExit(id string, labels map[string]string) {
	r.sendExit(runtime.Exit{ID: id, PodUID: types.UID(labels[labelPodUID])})
}

func mergeLabels(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// StopContainer implements runtime.Runtime: the stop signal (the spec's,
// the image's, or SIGTERM), up to grace for the process to exit, then
// SIGKILL; it returns once the exit is recorded. Busybox httpd as PID 1
// ignores SIGTERM, so the SIGKILL path is the common one for it.
func (r *Runtime) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	ctx = r.nsctx(ctx)
	c, labels, err := r.load(ctx, id)
	if err != nil {
		return err
	}
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil // never started, or already finalized
	}
	if err != nil {
		return fmt.Errorf("containerd: task of %s: %w", id, err)
	}
	// Wait before signalling so the exit cannot be missed.
	exitc, err := task.Wait(ctx)
	if err != nil {
		return fmt.Errorf("containerd: wait for %s: %w", id, err)
	}
	sig := syscall.SIGTERM
	if s := labels[labelStopSignal]; s != "" {
		if parsed, perr := parseSignal(s); perr == nil {
			sig = parsed
		}
	}
	if err := task.Kill(ctx, sig); err != nil && !errdefs.IsNotFound(err) && !isProcessDone(err) {
		return fmt.Errorf("containerd: signal %s with %v: %w", id, sig, err)
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-exitc:
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		if err := task.Kill(ctx, syscall.SIGKILL, ctrd.WithKillAll); err != nil && !errdefs.IsNotFound(err) && !isProcessDone(err) {
			return fmt.Errorf("containerd: kill %s: %w", id, err)
		}
		select {
		case <-exitc:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.finalize(ctx, id)
	return nil
}

// isProcessDone tells containerd's "process already finished" answers.
func isProcessDone(err error) bool {
	return errdefs.IsFailedPrecondition(err) || errdefs.IsNotFound(err)
}

// RemoveContainer implements runtime.Runtime. A running instance is
// killed first. Its snapshot goes; its log file stays.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	ctx = r.nsctx(ctx)
	c, _, err := r.load(ctx, id)
	if errors.Is(err, runtime.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if task, err := c.Task(ctx, nil); err == nil {
		if st, err := task.Status(ctx); err == nil && st.Status != ctrd.Stopped {
			if err := r.StopContainer(ctx, id, 0); err != nil {
				return err
			}
		} else {
			r.finalize(ctx, id)
		}
		// finalize deleted the task; a task that is still there (an
		// error above was logged) goes now.
		if task, err := c.Task(ctx, nil); err == nil {
			if _, err := task.Delete(ctx, ctrd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
				return fmt.Errorf("containerd: delete the task of %s: %w", id, err)
			}
		}
	}
	l := r.lock(id)
	l.Lock()
	defer l.Unlock()
	if err := c.Delete(ctx, ctrd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("containerd: delete container %s: %w", id, err)
	}
	r.mu.Lock()
	delete(r.oomSeen, id)
	r.mu.Unlock()
	return nil
}

// ListContainers implements runtime.Runtime.
func (r *Runtime) ListContainers(ctx context.Context) ([]runtime.ContainerStatus, error) {
	ctx = r.nsctx(ctx)
	cs, err := r.client.Containers(ctx)
	if err != nil {
		return nil, fmt.Errorf("containerd: list containers: %w", err)
	}
	out := make([]runtime.ContainerStatus, 0, len(cs))
	for _, c := range cs {
		st, err := r.status(ctx, c)
		if errors.Is(err, runtime.ErrNotFound) {
			continue // removed meanwhile, or not ours
		}
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// ContainerStatus implements runtime.Runtime.
func (r *Runtime) ContainerStatus(ctx context.Context, id string) (runtime.ContainerStatus, error) {
	ctx = r.nsctx(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return runtime.ContainerStatus{}, fmt.Errorf("containerd: container %s: %w", id, runtime.ErrNotFound)
	}
	if err != nil {
		return runtime.ContainerStatus{}, fmt.Errorf("containerd: load container %s: %w", id, err)
	}
	return r.status(ctx, c)
}

func (r *Runtime) status(ctx context.Context, c ctrd.Container) (runtime.ContainerStatus, error) {
	info, err := c.Info(ctx, ctrd.WithoutRefreshedMetadata)
	if errdefs.IsNotFound(err) {
		return runtime.ContainerStatus{}, fmt.Errorf("containerd: container %s: %w", c.ID(), runtime.ErrNotFound)
	}
	if err != nil {
		return runtime.ContainerStatus{}, fmt.Errorf("containerd: container %s: %w", c.ID(), err)
	}
	if info.Labels[labelPodUID] == "" {
		return runtime.ContainerStatus{}, fmt.Errorf("containerd: container %s was not made by Kelson: %w", c.ID(), runtime.ErrNotFound)
	}
	var ts taskState
	if _, exited := info.Labels[labelExitCode]; !exited {
		task, err := c.Task(ctx, nil)
		switch {
		case err == nil:
			st, err := task.Status(ctx)
			if err == nil {
				ts = taskState{Exists: true, Status: string(st.Status), ExitCode: st.ExitStatus, ExitedAt: st.ExitTime}
			} else if !errdefs.IsNotFound(err) {
				ts = taskState{Exists: true, Status: "unknown"}
			}
		case !errdefs.IsNotFound(err):
			ts = taskState{Exists: true, Status: "unknown"}
		}
		if ts.Status == "stopped" {
			// Exited, not yet finalized (its event is on its way): finalize
			// now, so that the status has the reason (OOMKilled comes from
			// the cgroup, which goes with the task).
			r.finalize(ctx, c.ID())
			if fresh, err := c.Info(ctx); err == nil { // refreshed: finalize wrote labels
				if _, ok := fresh.Labels[labelExitCode]; ok {
					return statusOf(c.ID(), fresh.Labels, fresh.CreatedAt, taskState{}), nil
				}
			}
			if r.sawOOM(c.ID()) {
				info.Labels[labelOOM] = "true"
			}
		}
	}
	return statusOf(c.ID(), info.Labels, info.CreatedAt, ts), nil
}

// parseSignal reads "SIGTERM", "TERM", "sigterm" or "15".
func parseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("signal number %d out of range", n)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}
