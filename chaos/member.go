package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Member is one `kelson store` process. Its command line, ports, proxy,
// data directory and log file stay the same across restarts.
//
// Every exit is recorded. An exit the harness caused (Kill, Term) or
// allowed (the member ran on a disk that fails) is expected; any other is
// a crash, which the checks report.
type Member struct {
	Name       string
	ClientURL  string // http://127.0.0.1:port
	PeerListen string // the real peer address, host:port (behind Proxy)
	Proxy      *Proxy // the advertised peer address
	DataDir    string
	LogPath    string
	Args       []string // after the binary

	bin string
	log func(format string, args ...any)

	mu         sync.Mutex
	cmd        *exec.Cmd
	done       chan struct{}
	exitErr    error
	starts     int
	expectExit bool   // the next exit is the harness's doing
	disk       string // KELSON_CHAOS_DISK of the current run
	paused     bool
	wiped      bool // the harness removed the data directory on purpose
	exits      []Exit
	cli        *clientv3.Client
}

// Exit records how a run of a member ended.
type Exit struct {
	At       time.Time
	Run      int
	Err      string // Wait's error ("" for exit status 0)
	Expected bool
	Disk     string // the faulty-disk setting of that run
	Panic    bool   // the run's log holds a Go panic
}

// PeerURL is the member's advertised peer URL: its proxy.
func (m *Member) PeerURL() string { return "http://" + m.Proxy.Addr() }

// Endpoint is the client address as host:port.
func (m *Member) Endpoint() string { return strings.TrimPrefix(m.ClientURL, "http://") }

// Start starts the process with the member's arguments; disk is the value
// of KELSON_CHAOS_DISK for this run ("" for a healthy disk). It does not
// wait for the member to serve.
func (m *Member) Start(disk string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil && !isDone(m.done) {
		return fmt.Errorf("member %s is already running (pid %d)", m.Name, m.cmd.Process.Pid)
	}
	if m.starts > 0 && !m.wiped {
		// Other processes on the machine have been seen cleaning up
		// temporary directories under running tests; a member restarted
		// on an empty data directory would forget its raft state and make
		// every check meaningless.
		if _, err := os.Stat(m.DataDir); err != nil {
			return fmt.Errorf("%w: %s's data directory %s vanished: %v", ErrWorkDirGone, m.Name, m.DataDir, err)
		}
	}
	if _, err := os.Stat(m.bin); err != nil {
		return fmt.Errorf("%w: the kelson binary %s: %v", ErrWorkDirGone, m.bin, err)
	}
	m.wiped = false
	logf, err := os.OpenFile(m.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	m.starts++
	fmt.Fprintf(logf, "=== chaos: start #%d at %s (disk %q): kelson %s\n", m.starts, time.Now().Format(time.RFC3339Nano), disk, strings.Join(m.Args, " "))
	cmd := exec.Command(m.bin, m.Args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = os.Environ()
	if disk != "" {
		cmd.Env = append(cmd.Env, "KELSON_CHAOS_DISK="+disk)
	}
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	done := make(chan struct{})
	m.cmd, m.done, m.exitErr, m.expectExit, m.disk, m.paused = cmd, done, nil, false, disk, false
	run := m.starts
	go func() {
		err := cmd.Wait()
		logf.Close()
		m.mu.Lock()
		m.exitErr = err
		e := Exit{At: time.Now(), Run: run, Expected: m.expectExit || strings.Contains(m.disk, "err-prob"), Disk: m.disk}
		if err != nil {
			e.Err = err.Error()
		}
		e.Panic = strings.Contains(runLog(m.LogPath, run), "\npanic: ") || strings.Contains(runLog(m.LogPath, run), "fatal error: ")
		m.exits = append(m.exits, e)
		m.mu.Unlock()
		close(done)
		if !e.Expected {
			m.log("member %s exited unexpectedly (run %d): %v", m.Name, run, err)
		}
	}()
	return nil
}

func isDone(c <-chan struct{}) bool {
	if c == nil {
		return true
	}
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Running reports whether the process is alive (and not yet reaped).
func (m *Member) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cmd != nil && !isDone(m.done)
}

// Done is closed when the current run exits.
func (m *Member) Done() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.done
}

// Pid is the current process ID, 0 when not running.
func (m *Member) Pid() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil || isDone(m.done) {
		return 0
	}
	return m.cmd.Process.Pid
}

// Disk is the faulty-disk setting of the current run.
func (m *Member) Disk() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.disk
}

// Exits returns the recorded exits.
func (m *Member) Exits() []Exit {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Exit(nil), m.exits...)
}

// signal sends sig; expect marks the resulting exit as the harness's doing.
func (m *Member) signal(sig syscall.Signal, expect bool) (chan struct{}, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil || isDone(m.done) {
		return m.done, false
	}
	if expect {
		m.expectExit = true
	}
	if sig == syscall.SIGSTOP {
		m.paused = true
	}
	if sig == syscall.SIGCONT {
		m.paused = false
	}
	_ = m.cmd.Process.Signal(sig)
	return m.done, true
}

// ExpectExit marks the current run's exit, whenever it comes, as expected
// (or, with false, no longer).
func (m *Member) ExpectExit(expect bool) {
	m.mu.Lock()
	m.expectExit = expect
	m.mu.Unlock()
}

// Wipe removes the member's data directory (it must not be running): its
// next start begins empty.
func (m *Member) Wipe() error {
	m.mu.Lock()
	m.wiped = true
	m.mu.Unlock()
	return os.RemoveAll(m.DataDir)
}

// Kill sends SIGKILL and waits for the exit.
func (m *Member) Kill() {
	if done, ok := m.signal(syscall.SIGKILL, true); ok {
		<-done
	}
}

// Term sends SIGTERM (a graceful stop) and waits up to timeout, then kills;
// it returns the exit error.
func (m *Member) Term(timeout time.Duration) error {
	done, ok := m.signal(syscall.SIGTERM, true)
	if !ok {
		return nil
	}
	select {
	case <-done:
	case <-time.After(timeout):
		m.Kill()
		return fmt.Errorf("member %s did not exit within %v of SIGTERM", m.Name, timeout)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.exitErr
}

// Pause stops the process with SIGSTOP; Resume continues it.
func (m *Member) Pause()  { m.signal(syscall.SIGSTOP, false) }
func (m *Member) Resume() { m.signal(syscall.SIGCONT, false) }

// Paused reports whether the member is stopped by Pause.
func (m *Member) Paused() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.paused && m.cmd != nil && !isDone(m.done)
}

// Client is a client of this member alone, created once.
func (m *Member) Client() *clientv3.Client {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cli == nil {
		m.cli, _ = NewClient(m.ClientURL)
	}
	return m.cli
}

// Status asks the member for its status.
func (m *Member) Status(timeout time.Duration) (*clientv3.StatusResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return m.Client().Status(ctx, m.ClientURL)
}

// WaitServing waits until the member answers Status; it fails at once if
// the process exits.
func (m *Member) WaitServing(timeout time.Duration) error {
	done := m.Done()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if isDone(done) {
			return fmt.Errorf("member %s exited before serving; see %s", m.Name, m.LogPath)
		}
		_, err := m.Status(time.Second)
		if err == nil {
			return nil
		}
		last = err
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("member %s does not answer Status after %v: %v", m.Name, timeout, last)
}

// LastRunLog is the log of the current (or last) run.
func (m *Member) LastRunLog() string {
	m.mu.Lock()
	run := m.starts
	m.mu.Unlock()
	return runLog(m.LogPath, run)
}

// runLog returns the part of a member log written by run number `run`.
func runLog(path string, run int) string {
	b, _ := os.ReadFile(path)
	s := string(b)
	marker := fmt.Sprintf("=== chaos: start #%d ", run)
	if i := strings.Index(s, marker); i >= 0 {
		s = s[i:]
		if j := strings.Index(s[len(marker):], "=== chaos: start #"); j >= 0 {
			s = s[:len(marker)+j]
		}
	}
	return s
}

// Tail returns the last n lines of the member's log.
func (m *Member) Tail(n int) string {
	b, err := os.ReadFile(m.LogPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (m *Member) closeClient() {
	m.mu.Lock()
	cli := m.cli
	m.cli = nil
	m.mu.Unlock()
	if cli != nil {
		cli.Close()
	}
}

// NewClient is an etcd client of the endpoints that logs nothing, with
// short keep-alives so that a paused or partitioned member is noticed.
func NewClient(endpoints ...string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:            endpoints,
		DialTimeout:          2 * time.Second,
		DialKeepAliveTime:    2 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		Logger:               zap.NewNop(),
	})
}

// ErrWorkDirGone: something outside the harness deleted a member's data
// directory or the binary during a run; the run's results mean nothing.
var ErrWorkDirGone = errors.New("chaos: work directory deleted during the run by another process")

// errPortTaken: a port picked as free was taken before the member bound it.
var errPortTaken = errors.New("chaos: a port was taken before the member bound it")
