package containerd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	eventtypes "github.com/containerd/containerd/api/events"
	ctrd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	"github.com/kelson-dev/kelson/nodeagent/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// Config says how to reach containerd and where the runtime keeps its
// own files. The zero value of every field but Address is a default.
type Config struct {
	// Address is containerd's gRPC socket (Daemon.Address, or
	// --containerd-address). Required.
	Address string
	// Namespace is the containerd namespace of every image and container.
	// Default "kelson".
	Namespace string
	// LogDriver is the binary containerd's shim starts, per container, to
	// write its CRI log: it is run as `LogDriver container-log-driver
	// LOGPATH` and must call LogDriverMain. Default: this executable
	// (os.Executable), i.e. the kelson binary with its hidden subcommand.
	LogDriver string
	// StateDir holds the runtime's own files (exec FIFOs). Default
	// os.TempDir()/kelson-containerd.
	StateDir string
	// CgroupRoot is where the cgroup v1 hierarchies are mounted. Default
	// /sys/fs/cgroup.
	CgroupRoot string
	// Snapshotter for images and containers. Default: "overlayfs" when
	// containerd reports it usable (its plugin checks an overlay mount
	// works on its root), else "native".
	Snapshotter string
	// ExitBuffer is the capacity of the Exits channel. Default 1024.
	ExitBuffer int
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

// DefaultNamespace is the containerd namespace Kelson uses.
const DefaultNamespace = "kelson"

// runcRuntime is the shim every container runs under.
const runcRuntime = "io.containerd.runc.v2"

// Runtime implements runtime.Runtime over containerd's Go client. It is
// safe for concurrent use. Everything it reports lives in containerd
// (labels on containers, tasks), so a new Runtime over the same containerd
// sees what an earlier one created.
type Runtime struct {
	cfg         Config
	client      *ctrd.Client
	snapshotter string
	log         *slog.Logger
	exits       chan runtime.Exit

	ctx    context.Context // namespaced; ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mu guards the fields below; never held across a containerd call.
	mu sync.Mutex
	// locks serialise operations on one instance (start, stop, finalize)
	// or one image (pull, unpack); entries are never removed (a few
	// bytes per instance, the agent's life).
	locks map[string]*sync.Mutex
	// oomSeen: instances containerd reported a TaskOOM for.
	oomSeen map[string]bool
}

var _ runtime.Runtime = (*Runtime)(nil)

// Open connects to the containerd at cfg.Address, picks the snapshotter,
// and starts following task events. Close it to stop.
func Open(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.Address == "" {
		return nil, errors.New("containerd: Config.Address is required (the containerd socket)")
	}
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.LogDriver == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("containerd: find this executable for the log driver: %w (set Config.LogDriver)", err)
		}
		cfg.LogDriver = exe
	}
	if !filepath.IsAbs(cfg.LogDriver) {
		return nil, fmt.Errorf("containerd: Config.LogDriver %q must be an absolute path", cfg.LogDriver)
	}
	if cfg.StateDir == "" {
		cfg.StateDir = filepath.Join(os.TempDir(), "kelson-containerd")
	}
	if cfg.CgroupRoot == "" {
		cfg.CgroupRoot = "/sys/fs/cgroup"
	}
	if cfg.ExitBuffer <= 0 {
		cfg.ExitBuffer = 1024
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(filepath.Join(cfg.StateDir, "fifo"), 0o700); err != nil {
		return nil, fmt.Errorf("containerd: state dir: %w", err)
	}
	client, err := ctrd.New(cfg.Address, ctrd.WithDefaultNamespace(cfg.Namespace), ctrd.WithDefaultRuntime(runcRuntime))
	if err != nil {
		return nil, fmt.Errorf("containerd: connect to %s: %w", cfg.Address, err)
	}
	nctx := namespaces.WithNamespace(ctx, cfg.Namespace)
	cctx, cancel := context.WithTimeout(nctx, 30*time.Second)
	defer cancel()
	if _, err := client.Version(cctx); err != nil {
		client.Close()
		return nil, fmt.Errorf("containerd: no answer from %s: %w (is containerd running there?)", cfg.Address, err)
	}
	sn := cfg.Snapshotter
	if sn == "" {
		sn, err = pickSnapshotter(cctx, client)
		if err != nil {
			client.Close()
			return nil, err
		}
	}
	r := &Runtime{
		cfg:         cfg,
		client:      client,
		snapshotter: sn,
		log:         cfg.Logger.With("component", "runtime", "namespace", cfg.Namespace),
		exits:       make(chan runtime.Exit, cfg.ExitBuffer),
		locks:       map[string]*sync.Mutex{},
		oomSeen:     map[string]bool{},
	}
	r.ctx, r.cancel = context.WithCancel(namespaces.WithNamespace(context.WithoutCancel(ctx), cfg.Namespace))
	subscribed := make(chan struct{})
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.followEvents(subscribed)
	}()
	select {
	case <-subscribed:
	case <-cctx.Done():
	}
	r.log.Info("runtime open", "address", cfg.Address, "snapshotter", sn)
	return r, nil
}

// pickSnapshotter is overlayfs when containerd loaded it without error,
// else native.
func pickSnapshotter(ctx context.Context, c *ctrd.Client) (string, error) {
	resp, err := c.IntrospectionService().Plugins(ctx, `type=="io.containerd.snapshotter.v1"`)
	if err != nil {
		return "", fmt.Errorf("containerd: list snapshotters: %w", err)
	}
	ok := map[string]bool{}
	for _, p := range resp.Plugins {
		ok[p.ID] = p.InitErr == nil
	}
	switch {
	case ok["overlayfs"]:
		return "overlayfs", nil
	case ok["native"]:
		return "native", nil
	}
	return "", errors.New("containerd: neither the overlayfs nor the native snapshotter is available; see containerd's log")
}

// Snapshotter is the snapshotter in use.
func (r *Runtime) Snapshotter() string { return r.snapshotter }

// Version is the runtime as a Node's nodeInfo.containerRuntimeVersion
// names it: "containerd://1.6.20" ("containerd://unknown" if containerd
// does not answer).
func (r *Runtime) Version(ctx context.Context) string {
	v, err := r.client.Version(ctx)
	if err != nil || v.Version == "" {
		return "containerd://unknown"
	}
	return "containerd://" + strings.TrimPrefix(strings.SplitN(v.Version, "~", 2)[0], "v")
}

// Healthy reports whether containerd answers (within 3 s): the Node's
// Ready condition follows it.
func (r *Runtime) Healthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := r.client.Version(ctx); err != nil {
		return fmt.Errorf("container runtime is down: %w", err)
	}
	return nil
}

// Client is the underlying containerd client (for tools and tests).
func (r *Runtime) Client() *ctrd.Client { return r.client }

// Exits implements runtime.Runtime.
func (r *Runtime) Exits() <-chan runtime.Exit { return r.exits }

// Close stops following events and closes the connection. Containers keep
// running (and logging); a new Runtime finds them.
func (r *Runtime) Close() error {
	r.cancel()
	r.wg.Wait()
	return r.client.Close()
}

// lock returns the mutex of one instance or image key.
func (r *Runtime) lock(key string) *sync.Mutex {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.locks[key]
	if !ok {
		m = &sync.Mutex{}
		r.locks[key] = m
	}
	return m
}

func (r *Runtime) sawOOM(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.oomSeen[id]
}

// nsctx is ctx in the runtime's namespace.
func (r *Runtime) nsctx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, r.cfg.Namespace)
}

// followEvents turns containerd's /tasks/exit and /tasks/oom events into
// recorded exits; on a broken subscription it subscribes again and scans
// every instance (events may have been missed meanwhile).
func (r *Runtime) followEvents(subscribed chan<- struct{}) {
	filters := []string{
		fmt.Sprintf(`namespace==%q,topic=="/tasks/exit"`, r.cfg.Namespace),
		fmt.Sprintf(`namespace==%q,topic=="/tasks/oom"`, r.cfg.Namespace),
	}
	backoff := 100 * time.Millisecond
	for first := true; r.ctx.Err() == nil; first = false {
		sctx, cancel := context.WithCancel(r.ctx)
		evs, errs := r.client.Subscribe(sctx, filters...)
		if first {
			close(subscribed)
		}
		// Exits that happened before this subscription are found by a scan.
		r.scan()
		began := time.Now()
		err := r.consume(evs, errs)
		cancel()
		if time.Since(began) > 10*time.Second {
			backoff = 100 * time.Millisecond // it had worked for a while
		}
		if r.ctx.Err() != nil {
			return
		}
		r.log.Warn("containerd event stream broke; subscribing again", "err", err, "backoff", backoff)
		select {
		case <-r.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (r *Runtime) consume(evs <-chan *events.Envelope, errs <-chan error) error {
	for {
		select {
		case <-r.ctx.Done():
			return r.ctx.Err()
		case err := <-errs:
			if err == nil {
				err = errors.New("event stream closed")
			}
			return err
		case env := <-evs:
			if env == nil || env.Event == nil {
				continue
			}
			ev, err := typeurl.UnmarshalAny(env.Event)
			if err != nil {
				r.log.Warn("undecodable containerd event", "topic", env.Topic, "err", err)
				continue
			}
			switch e := ev.(type) {
			case *eventtypes.TaskOOM:
				r.recordOOM(e.ContainerID)
			case *eventtypes.TaskExit:
				if e.ID != e.ContainerID { // an exec'd process, not the container
					continue
				}
				r.finalize(r.ctx, e.ContainerID)
			}
		}
	}
}

// recordOOM remembers an OOM kill in memory and on the container, so that
// a runtime opened later still reports OOMKilled.
func (r *Runtime) recordOOM(id string) {
	r.mu.Lock()
	r.oomSeen[id] = true
	r.mu.Unlock()
	c, err := r.client.LoadContainer(r.ctx, id)
	if err != nil {
		return
	}
	if _, err := c.SetLabels(r.ctx, map[string]string{labelOOM: "true"}); err != nil && !errdefs.IsNotFound(err) {
		r.log.Warn("record OOM", "id", id, "err", err)
	}
}

// scan finalizes every instance whose task has stopped.
func (r *Runtime) scan() {
	cs, err := r.client.Containers(r.ctx)
	if err != nil {
		if r.ctx.Err() == nil {
			r.log.Warn("list containers", "err", err)
		}
		return
	}
	for _, c := range cs {
		r.finalize(r.ctx, c.ID())
	}
}

// finalize records the exit of a stopped task on its container (exit
// code, time, reason), deletes the task (its shim, cgroup and log driver
// go), and reports the Exit. It does nothing to a running instance and is
// idempotent. It reports whether this call recorded the exit.
func (r *Runtime) finalize(ctx context.Context, id string) bool {
	exit, recorded := r.finalizeOne(ctx, id)
	if recorded {
		r.sendExit(exit)
	}
	return recorded
}

// sendExit never blocks: a full channel (nobody reading) loses the
// notice, not the exit, which ListContainers reports at the next resync.
func (r *Runtime) sendExit(ex runtime.Exit) {
	select {
	case r.exits <- ex:
	default:
		r.log.Warn("Exits channel full; the pod worker sees this exit at its next resync", "id", ex.ID)
	}
}

func (r *Runtime) finalizeOne(ctx context.Context, id string) (runtime.Exit, bool) {
	l := r.lock(id)
	l.Lock()
	defer l.Unlock()
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return runtime.Exit{}, false
	}
	labels, err := c.Labels(ctx)
	if err != nil || labels[labelPodUID] == "" { // gone, or not ours
		return runtime.Exit{}, false
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		return runtime.Exit{}, false // no task: never started, or already finalized
	}
	st, err := task.Status(ctx)
	if err != nil || st.Status != ctrd.Stopped {
		return runtime.Exit{}, false
	}
	recorded := false
	if _, done := labels[labelExitCode]; !done {
		oom := r.sawOOM(id) || labels[labelOOM] == "true" || r.cgroupOOMKilled(ctx, c)
		finished := st.ExitTime
		if finished.IsZero() {
			finished = time.Now()
		}
		if _, err := c.SetLabels(ctx, exitLabels(int32(st.ExitStatus), finished, oom, "")); err != nil {
			r.log.Warn("record exit", "id", id, "err", err)
			return runtime.Exit{}, false
		}
		recorded = true
		r.log.Debug("container exited", "id", id, "code", st.ExitStatus, "oom", oom)
	}
	// Deleting the task ends its shim and its log driver (which drains
	// the last output first) and removes its cgroup.
	if _, err := task.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
		r.log.Warn("delete stopped task", "id", id, "err", err)
	}
	return runtime.Exit{ID: id, PodUID: types.UID(labels[labelPodUID])}, recorded
}
