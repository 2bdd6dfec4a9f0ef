package containerd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/nodeagent/runtime"
	corev1 "k8s.io/api/core/v1"
)

// netns makes a network namespace for the test (lo up) and removes it at
// the end. Nothing of the host's network is touched.
func netns(t *testing.T) (name, path string) {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skipf("iproute2 missing: %v", err)
	}
	name = fmt.Sprintf("kt-rt-%08x", rand.Uint32())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", name).Run() })
	if out, err := exec.Command("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up in %s: %v: %s", name, err, out)
	}
	return name, "/var/run/netns/" + name
}

func TestHTTPDInTestNetns(t *testing.T) {
	e := newEnv(t)
	ns, nsPath := netns(t)

	ref, err := e.rt.EnsureImage(e.ctx, "httpd", corev1.PullNever)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ref, "docker.io/library/httpd@sha256:") {
		t.Fatalf("image ref = %q", ref)
	}
	spec := e.spec("web")
	spec.Image = "httpd"
	spec.Command = nil
	spec.NetNSPath = nsPath
	spec.Hostname = "web-pod"
	spec.Resources = runtime.Resources{CPURequestMilli: 250, CPULimitMilli: 500, MemoryLimitBytes: 64 << 20}

	start := time.Now()
	id := e.run(spec)
	t.Logf("create+start of httpd: %v", time.Since(start))

	// Only loopback inside the test's own namespace is ever contacted.
	route, err := exec.Command("ip", "netns", "exec", ns, "ip", "route", "get", "127.0.0.1").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(route), "local 127.0.0.1") {
		t.Fatalf("127.0.0.1 is not local in %s: %v: %s", ns, err, route)
	}
	eventually(t, 20*time.Second, "httpd answers in the pod's netns", func() error {
		// (busybox wget's -T crashes in Debian's 1.35; ctx bounds it.)
		ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "/bin/busybox", "wget", "-qO-", "http://127.0.0.1:80/").CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		if !strings.Contains(string(out), "It works!") {
			return fmt.Errorf("answer %q", out)
		}
		return nil
	})

	st, err := e.rt.ContainerStatus(e.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != runtime.StateRunning || st.ImageRef != ref || st.Image != "docker.io/library/httpd:latest" || st.StartedAt.IsZero() {
		t.Fatalf("status = %+v", st)
	}

	// Exec: output, stderr, exit code, stdin, hostname.
	var out, errOut bytes.Buffer
	code, err := e.rt.Exec(e.ctx, id, runtime.ExecOptions{
		Command: []string{"sh", "-c", "cat /usr/local/apache2/htdocs/index.html; hostname; echo oops >&2; exit 7"},
		Stdout:  &out, Stderr: &errOut,
	})
	if err != nil || code != 7 {
		t.Fatalf("exec: code %d, err %v", code, err)
	}
	if want := "<html><body><h1>It works!</h1></body></html>\nweb-pod\n"; out.String() != want || errOut.String() != "oops\n" {
		t.Fatalf("exec stdout %q stderr %q", out.String(), errOut.String())
	}
	out.Reset()
	code, err = e.rt.Exec(e.ctx, id, runtime.ExecOptions{Command: []string{"tr", "a-z", "A-Z"}, Stdin: strings.NewReader("hello\n"), Stdout: &out})
	if err != nil || code != 0 || out.String() != "HELLO\n" {
		t.Fatalf("exec with stdin: code %d err %v out %q", code, err, out.String())
	}
	out.Reset()
	code, err = e.rt.Exec(e.ctx, id, runtime.ExecOptions{Command: []string{"sh", "-c", "tty && echo tty-ok"}, TTY: true, Stdout: &out})
	if err != nil || code != 0 || !strings.Contains(out.String(), "tty-ok") {
		t.Fatalf("exec with tty: code %d err %v out %q", code, err, out.String())
	}

	// Cgroup settings and stats.
	stats, err := e.rt.Stats(e.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if stats.MemoryUsage == 0 || stats.MemoryWorkingSet > stats.MemoryUsage || stats.CPUUsageNanos == 0 {
		t.Fatalf("stats = %+v", stats)
	}
	c, _, _ := e.rt.load(e.ctx, id)
	cg, _ := cgroupPath(e.ctx, c)
	for file, want := range map[string]string{
		"cpu/cpu.shares":               "256",
		"cpu/cpu.cfs_quota_us":         "50000",
		"memory/memory.limit_in_bytes": fmt.Sprint(64 << 20),
	} {
		hier, name, _ := strings.Cut(file, "/")
		b, err := os.ReadFile(e.rt.cgroupFile(hier, cg, name))
		if err != nil || strings.TrimSpace(string(b)) != want {
			t.Errorf("%s = %q (%v), want %s", file, b, err, want)
		}
	}

	// busybox httpd as PID 1 ignores SIGTERM: the grace period runs out
	// and SIGKILL ends it.
	start = time.Now()
	if err := e.rt.StopContainer(e.ctx, id, time.Second); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("stop took %v: it should have waited the grace period for the SIGTERM-ignoring httpd", took)
	}
	st, _ = e.rt.ContainerStatus(e.ctx, id)
	if st.State != runtime.StateExited || st.ExitCode != 137 || st.Reason != ReasonError || st.FinishedAt.IsZero() {
		t.Fatalf("after stop: %+v", st)
	}
	if err := e.rt.StopContainer(e.ctx, id, time.Second); err != nil {
		t.Fatalf("stopping an exited container: %v", err)
	}
	if err := e.rt.RemoveContainer(e.ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.ContainerStatus(e.ctx, id); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("status after remove: %v", err)
	}
	if err := e.rt.RemoveContainer(e.ctx, id); err != nil {
		t.Fatalf("removing twice: %v", err)
	}
}

func TestExitCodesReasonsLogsAndExits(t *testing.T) {
	e := newEnv(t)
	okSpec := e.spec("ok", "sh", "-c", "echo hello; echo oops >&2")
	failSpec := e.spec("fail", "sh", "-c", "echo bye; exit 3")
	oomSpec := e.spec("oom", "tail", "/dev/zero") // tail buffers the endless "line"
	oomSpec.Resources.MemoryLimitBytes = 16 << 20

	ids := map[string]string{}
	for _, s := range []runtime.ContainerSpec{okSpec, failSpec, oomSpec} {
		ids[s.Name] = e.run(s)
	}
	for name, want := range map[string]struct {
		code   int32
		reason string
	}{"ok": {0, ReasonCompleted}, "fail": {3, ReasonError}, "oom": {137, ReasonOOMKilled}} {
		st := e.waitStatus(ids[name], "exited", exited)
		if st.ExitCode != want.code || st.Reason != want.reason {
			t.Errorf("%s: exit %d %s, want %d %s", name, st.ExitCode, st.Reason, want.code, want.reason)
		}
		if st.StartedAt.IsZero() || st.FinishedAt.Before(st.StartedAt) {
			t.Errorf("%s: started %v finished %v", name, st.StartedAt, st.FinishedAt)
		}
	}
	got := map[string]bool{}
	timeout := time.After(30 * time.Second)
	for len(got) < 3 {
		select {
		case ex := <-e.rt.Exits():
			got[ex.ID] = true
		case <-timeout:
			t.Fatalf("Exits delivered %v, want all of %v", got, ids)
		}
	}
	for name, id := range ids {
		if !got[id] {
			t.Errorf("no Exit for %s", name)
		}
	}

	lines := criContent(t, logLines(t, okSpec.LogPath))
	slices.Sort(lines)
	if want := []string{"stderr F oops", "stdout F hello"}; !slices.Equal(lines, want) {
		t.Errorf("log of ok = %q, want %q", lines, want)
	}
	if lines := criContent(t, logLines(t, failSpec.LogPath)); !slices.Equal(lines, []string{"stdout F bye"}) {
		t.Errorf("log of fail = %q", lines)
	}

	// A second create of the same instance finds it; a start of an exited
	// one fails.
	if id, err := e.rt.CreateContainer(e.ctx, okSpec); err != nil || id != ids["ok"] {
		t.Fatalf("create again: %s %v", id, err)
	}
	if err := e.rt.StartContainer(e.ctx, ids["ok"]); err == nil {
		t.Fatal("starting an exited instance succeeded")
	}
}

func TestMissingExecutableIsAStartError(t *testing.T) {
	e := newEnv(t)
	spec := e.spec("bad", "/no/such/binary")
	id, err := e.rt.CreateContainer(e.ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.rt.StartContainer(e.ctx, id); err == nil {
		t.Fatal("start of a missing executable succeeded")
	}
	st, err := e.rt.ContainerStatus(e.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != runtime.StateExited || st.ExitCode != 128 || st.Reason != ReasonError || !strings.Contains(st.Message, "no such file") {
		t.Fatalf("status = %+v", st)
	}
}

func TestLogsSurviveAgentAndContainerdRestart(t *testing.T) {
	e := newEnv(t)
	spec := e.spec("ticker", "sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); usleep 100000; done")
	id := e.run(spec)
	count := func() int { return len(logLines(t, spec.LogPath)) }
	eventually(t, 20*time.Second, "first log lines", func() error {
		if n := count(); n < 3 {
			return fmt.Errorf("%d lines", n)
		}
		return nil
	})

	// The agent goes away: runtime closed, containerd stopped.
	e.rt.Close()
	e.rt = nil
	e.daemon.Stop()
	before := count()
	time.Sleep(500 * time.Millisecond)
	if during := count(); during <= before {
		t.Errorf("no log lines while the agent was down (%d then %d)", before, during)
	}

	// And comes back.
	e.startDaemon()
	e.open()
	cs, err := e.rt.ListContainers(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].ID != id || cs[0].State != runtime.StateRunning || cs[0].PodUID != spec.PodUID ||
		cs[0].Name != "ticker" || cs[0].PodName != spec.PodName || cs[0].LogPath != spec.LogPath || cs[0].Attempt != 0 {
		t.Fatalf("after restart: %+v", cs)
	}
	after := count()
	eventually(t, 10*time.Second, "log lines after the restart", func() error {
		if n := count(); n <= after {
			return fmt.Errorf("still %d lines", n)
		}
		return nil
	})
	// Lines are whole and numbered in order.
	for i, l := range criContent(t, logLines(t, spec.LogPath)) {
		if want := fmt.Sprintf("stdout F tick %d", i); l != want {
			t.Fatalf("line %d = %q, want %q", i, l, want)
		}
	}
	// The new runtime delivers the exit. sh as PID 1 ignores SIGTERM too.
	if err := e.rt.StopContainer(e.ctx, id, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	select {
	case ex := <-e.rt.Exits():
		if ex.ID != id || ex.PodUID != spec.PodUID {
			t.Fatalf("exit %+v", ex)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no Exit after the restart")
	}
}

func TestExitWhileAgentDownIsFoundOnOpen(t *testing.T) {
	e := newEnv(t)
	spec := e.spec("short", "sleep", "1")
	id := e.run(spec)
	e.rt.Close()
	e.rt = nil
	time.Sleep(1500 * time.Millisecond) // it exits meanwhile
	e.open()
	st := e.waitStatus(id, "exited", exited)
	if st.ExitCode != 0 || st.Reason != ReasonCompleted {
		t.Fatalf("status %+v", st)
	}
	select {
	case ex := <-e.rt.Exits():
		if ex.ID != id {
			t.Fatalf("exit %+v", ex)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no Exit for an exit that happened while the runtime was closed")
	}
}

func TestImagesAndErrors(t *testing.T) {
	e := newEnv(t)
	if _, err := e.rt.EnsureImage(e.ctx, "busybox:latest", corev1.PullIfNotPresent); err != nil {
		t.Fatalf("present image, IfNotPresent: %v", err)
	}
	if _, err := e.rt.EnsureImage(e.ctx, "docker.io/library/absent:1", corev1.PullNever); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("absent image, Never: %v", err)
	}
	if _, err := e.rt.EnsureImage(e.ctx, "Bad Image", corev1.PullNever); !errors.Is(err, ErrBadImage) {
		t.Fatalf("bad reference: %v", err)
	}
	if _, err := e.rt.ImportImage(e.ctx, strings.NewReader(strings.Repeat("not a tar ", 100))); !errors.Is(err, ErrBadArchive) {
		t.Fatalf("import of garbage: %v", err)
	}
	spec := e.spec("x", "true")
	spec.Image = "absent"
	if _, err := e.rt.CreateContainer(e.ctx, spec); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("create with an absent image: %v", err)
	}
	if _, err := e.rt.ContainerStatus(e.ctx, "nope"); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("status of nothing: %v", err)
	}
	if _, err := e.rt.Exec(e.ctx, "nope", runtime.ExecOptions{Command: []string{"true"}}); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("exec in nothing: %v", err)
	}
	// A second daemon on the same directory is refused.
	if _, err := StartDaemon(e.ctx, DaemonConfig{Dir: e.daemon.cfg.Dir}); !errors.Is(err, ErrDaemon) || !strings.Contains(err.Error(), "already serves") {
		t.Fatalf("second daemon on one dir: %v", err)
	}
	// Security: a read-only root, a user and dropped capabilities.
	uid, gid := int64(33), int64(33)
	spec = e.spec("sec", "sh", "-c", "id -u; id -g; touch /x 2>/dev/null && echo writable || echo readonly; grep CapEff /proc/self/status")
	spec.Security = runtime.Security{RunAsUser: &uid, RunAsGroup: &gid, ReadOnlyRootFilesystem: true, DropCapabilities: []string{"ALL"}}
	id := e.run(spec)
	e.waitStatus(id, "exited", exited)
	eventually(t, 5*time.Second, "log of sec", func() error {
		lines := criContent(t, logLines(t, spec.LogPath))
		want := []string{"stdout F 33", "stdout F 33", "stdout F readonly", "stdout F CapEff:\t0000000000000000"}
		if !slices.Equal(lines, want) {
			return fmt.Errorf("log %q, want %q", lines, want)
		}
		return nil
	})
}

func TestExitsAfterContainerdRestartUnderAnOpenRuntime(t *testing.T) {
	e := newEnv(t)
	spec := e.spec("short", "sleep", "1")
	id := e.run(spec)
	// containerd goes away and comes back while the runtime stays open:
	// its event stream breaks, it subscribes again and scans.
	e.daemon.Stop()
	time.Sleep(1500 * time.Millisecond) // the container exits meanwhile
	e.startDaemon()
	select {
	case ex := <-e.rt.Exits():
		if ex.ID != id {
			t.Fatalf("exit %+v", ex)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no Exit after containerd came back")
	}
	st := e.waitStatus(id, "exited", exited)
	if st.ExitCode != 0 || st.Reason != ReasonCompleted {
		t.Fatalf("status %+v", st)
	}
}

func TestTTYContainerLogs(t *testing.T) {
	e := newEnv(t)
	spec := e.spec("tty", "sh", "-c", "tty >/dev/null && echo on-a-tty; echo to-stderr >&2")
	spec.TTY = true
	id := e.run(spec)
	e.waitStatus(id, "exited", exited)
	eventually(t, 5*time.Second, "tty log", func() error {
		lines := criContent(t, logLines(t, spec.LogPath))
		if want := []string{"stdout F on-a-tty", "stdout F to-stderr"}; !slices.Equal(lines, want) {
			return fmt.Errorf("log %q, want %q", lines, want)
		}
		return nil
	})
}
