package containerd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// DaemonConfig says how to run a containerd child process. Every path the
// daemon writes lives under Dir, so several daemons (one per agent, one
// per test) run side by side without sharing state.
type DaemonConfig struct {
	// Dir holds config.toml, root/, state/, opt/, containerd.sock and
	// containerd.log. Required. Keep it short: the socket's path must fit
	// in 108 bytes (Dir itself at most ~80).
	Dir string
	// Binary is containerd's executable. Default: "containerd" from PATH.
	Binary string
	// StartTimeout bounds the wait for the socket to answer. Default 30 s.
	StartTimeout time.Duration
	// StopTimeout is how long SIGTERM gets before SIGKILL. Default 10 s.
	StopTimeout time.Duration
	// Logger receives the daemon's lifecycle messages; containerd's own
	// output goes to Dir/containerd.log. Default: slog.Default().
	Logger *slog.Logger
}

// Daemon is a running containerd child process. Stop it with Stop, or by
// ending the ctx given to StartDaemon.
type Daemon struct {
	cfg     DaemonConfig
	address string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has been reaped
	waitErr error         // set before done is closed
	stop    sync.Once
	// stopping is set by Stop: an exit before it is containerd's own.
	stopping atomic.Bool
	log      *slog.Logger
}

// ErrDaemon is returned (wrapped) when containerd cannot be started.
var ErrDaemon = errors.New("containerd: daemon")

// DaemonDir is where an agent with data directory dataDir runs its
// containerd (DaemonConfig.Dir).
func DaemonDir(dataDir string) string { return filepath.Join(dataDir, "containerd") }

// SocketPath is the gRPC socket of the daemon living in dir: in dir, or,
// when that path would pass the unix limit (a deep data directory), in
// /run/kelson under a name hashed from dir (the same for every caller).
func SocketPath(dir string) string { return socketPath(dir, "containerd.sock") }

func socketPath(dir, name string) string {
	p := filepath.Join(dir, name)
	if len(p) <= maxSocketPath {
		return p
	}
	sum := sha256.Sum256([]byte(dir))
	return filepath.Join(shortSocketDir, hex.EncodeToString(sum[:8])+"-"+name)
}

// shortSocketDir holds the sockets of daemons whose directory is too deep.
const shortSocketDir = "/run/kelson"

// Address is the daemon's gRPC socket.
func (d *Daemon) Address() string { return d.address }

// LogFile is where containerd's output goes.
func (d *Daemon) LogFile() string { return filepath.Join(d.cfg.Dir, "containerd.log") }

// Done is closed when the process has exited.
func (d *Daemon) Done() <-chan struct{} { return d.done }

// daemonConfigTOML renders containerd 1.6's configuration (version 2) for
// a daemon living under dir. The CRI plugin is disabled: Kelson speaks
// containerd's own API. Debug and metrics listeners are off.
func daemonConfigTOML(dir string) string {
	q := func(p string) string { return fmt.Sprintf("%q", filepath.Join(dir, p)) }
	var b strings.Builder
	fmt.Fprintf(&b, "version = 2\n")
	fmt.Fprintf(&b, "root = %s\n", q("root"))
	fmt.Fprintf(&b, "state = %s\n", q("state"))
	fmt.Fprintf(&b, "oom_score = 0\n")
	fmt.Fprintf(&b, "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\n")
	fmt.Fprintf(&b, "[grpc]\n  address = %q\n\n", socketPath(dir, "containerd.sock"))
	fmt.Fprintf(&b, "[ttrpc]\n  address = %q\n\n", socketPath(dir, "containerd.sock.ttrpc"))
	fmt.Fprintf(&b, "[debug]\n  address = \"\"\n  level = \"info\"\n\n")
	fmt.Fprintf(&b, "[metrics]\n  address = \"\"\n\n")
	fmt.Fprintf(&b, "[plugins]\n  [plugins.\"io.containerd.internal.v1.opt\"]\n    path = %s\n", q("opt"))
	return b.String()
}

// maxSocketPath is the length limit of a unix socket's path (sun_path).
const maxSocketPath = 107

// StartDaemon starts containerd with its own configuration under cfg.Dir
// and returns once its socket answers. The process gets SIGTERM, then
// SIGKILL after StopTimeout, when ctx ends or Stop is called; containers
// (their shims) survive it, as they survive a restart of the agent.
func StartDaemon(ctx context.Context, cfg DaemonConfig) (*Daemon, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("%w: DaemonConfig.Dir is required", ErrDaemon)
	}
	if cfg.Binary == "" {
		cfg.Binary = "containerd"
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDaemon, err)
	}
	cfg.Dir = dir
	if sock := socketPath(dir, "containerd.sock"); filepath.Dir(sock) == shortSocketDir {
		if err := os.MkdirAll(shortSocketDir, 0o700); err != nil {
			return nil, fmt.Errorf("%w: %s is too deep for containerd's sockets, and %s cannot be made: %v: use a shorter data directory", ErrDaemon, dir, shortSocketDir, err)
		}
	}
	bin, err := exec.LookPath(cfg.Binary)
	if err != nil {
		return nil, fmt.Errorf("%w: %v (install containerd, e.g. apt-get install containerd runc)", ErrDaemon, err)
	}
	if c, err := net.DialTimeout("unix", SocketPath(dir), time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("%w: a containerd already serves %s: stop it, or use its address (--containerd-address)", ErrDaemon, SocketPath(dir))
	}
	for _, sub := range []string{"", "root", "state", "opt"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o711); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrDaemon, err)
		}
	}
	confPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(confPath, []byte(daemonConfigTOML(dir)), 0o600); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDaemon, err)
	}
	logf, err := os.OpenFile(filepath.Join(dir, "containerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDaemon, err)
	}
	defer logf.Close() // the child holds its own descriptor

	cmd := exec.Command(bin, "--config", confPath)
	cmd.Dir = dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	// Its own process group: a terminal's ^C reaches the agent, which then
	// stops containerd in order. Pdeathsig covers an agent that dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	d := &Daemon{
		cfg:     cfg,
		address: SocketPath(dir),
		cmd:     cmd,
		done:    make(chan struct{}),
	}
	// Pdeathsig fires when the THREAD that forked the child ends, not the
	// process (go.dev/issue/27505), and the Go runtime ends a thread whose
	// goroutine exits locked to it, as podnet's namespace work does on
	// purpose: containerd would get SIGTERM whenever its forking thread
	// happened to be one of those. So the fork happens on a thread locked
	// to this goroutine, which keeps it until containerd has exited.
	started := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		defer goruntime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			close(d.done)
			return
		}
		d.log = cfg.Logger.With("component", "containerd", "pid", cmd.Process.Pid)
		started <- nil
		d.waitErr = cmd.Wait()
		if !d.stopping.Load() {
			d.log.Error("containerd exited on its own: no pod can start or stop until the agent restarts",
				"err", d.waitErr, "log", d.LogFile())
		}
		close(d.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("%w: start %s: %v", ErrDaemon, bin, err)
	}
	go func() {
		select {
		case <-ctx.Done():
			d.Stop()
		case <-d.done:
		}
	}()
	if err := d.waitReady(ctx); err != nil {
		d.Stop()
		return nil, err
	}
	d.log.Info("containerd started", "address", d.address, "log", d.LogFile())
	return d, nil
}

// waitReady polls the socket until it accepts a connection.
func (d *Daemon) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(d.cfg.StartTimeout)
	for delay := 10 * time.Millisecond; ; delay = min(delay*2, 200*time.Millisecond) {
		conn, err := net.DialTimeout("unix", d.address, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-d.done:
			return fmt.Errorf("%w: containerd exited at start (%v); see %s", ErrDaemon, d.waitErr, d.LogFile())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: socket %s did not answer within %s; see %s", ErrDaemon, d.address, d.cfg.StartTimeout, d.LogFile())
		}
	}
}

// Stop sends SIGTERM, waits up to StopTimeout, then SIGKILL, and returns
// once the process is reaped. Safe to call more than once.
func (d *Daemon) Stop() {
	d.stop.Do(func() {
		select {
		case <-d.done:
			return
		default:
		}
		d.stopping.Store(true)
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(d.cfg.StopTimeout):
			d.log.Warn("containerd ignored SIGTERM; killing it", "timeout", d.cfg.StopTimeout)
			_ = d.cmd.Process.Kill()
			<-d.done
		}
		d.log.Info("containerd stopped")
	})
	<-d.done
}
