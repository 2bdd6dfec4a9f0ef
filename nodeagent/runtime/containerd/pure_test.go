package containerd

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/nodeagent/runtime"
)

func TestNormalizeImage(t *testing.T) {
	const dg = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct{ in, want string }{
		{"httpd", "docker.io/library/httpd:latest"},
		{"busybox:1.36", "docker.io/library/busybox:1.36"},
		{"me/app", "docker.io/me/app:latest"},
		{"docker.io/httpd", "docker.io/library/httpd:latest"},
		{"index.docker.io/library/httpd:2", "docker.io/library/httpd:2"},
		{"quay.io/x/y@" + dg, "quay.io/x/y@" + dg},
		{"quay.io/x/y:v1@" + dg, "quay.io/x/y:v1@" + dg},
		{"localhost:5000/app", "localhost:5000/app:latest"},
		{"localhost/app:v2", "localhost/app:v2"},
		{"registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9"},
		{" httpd ", "docker.io/library/httpd:latest"},
		{"", ""},
		{"Bad Image", ""},
		{"httpd:", ""},
		{"httpd@sha256:short", ""},
		{"Host/case", "Host/case:latest"}, // an uppercase first component is a host, as in Docker
		{"docker.io/Upper", ""},
		{"a//b", ""},
		{"x/-y", ""},
	} {
		got, err := NormalizeImage(tc.in)
		if tc.want == "" {
			if !errors.Is(err, ErrBadImage) {
				t.Errorf("NormalizeImage(%q) = %q, %v; want ErrBadImage", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizeImage(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if got := digestRef("docker.io/library/httpd:latest", dg); got != "docker.io/library/httpd@"+dg {
		t.Errorf("digestRef = %q", got)
	}
	for in, want := range map[string]string{"latest": "", "docker.io/library/x:1": "docker.io/library/x:1", "busybox:1": "docker.io/library/busybox:1", "a b:c": ""} {
		if got := importName(in); got != want {
			t.Errorf("importName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestContainerID(t *testing.T) {
	a := ContainerID("uid-1", "web", 0)
	if a != ContainerID("uid-1", "web", 0) {
		t.Fatal("not deterministic")
	}
	for _, other := range []string{ContainerID("uid-1", "web", 1), ContainerID("uid-2", "web", 0), ContainerID("uid-1", "web2", 0)} {
		if other == a {
			t.Fatalf("collision: %s", a)
		}
	}
	if len(a) != 33 || strings.Trim(a[1:], "0123456789abcdef") != "" {
		t.Fatalf("id %q is not k + 32 hex digits", a)
	}
}

func TestProcessArgs(t *testing.T) {
	ep, cmd := []string{"/entry"}, []string{"default", "cmd"}
	for _, tc := range []struct {
		command, args, want []string
	}{
		{nil, nil, []string{"/entry", "default", "cmd"}},
		{nil, []string{"a"}, []string{"/entry", "a"}},
		{[]string{"sh"}, nil, []string{"sh"}},
		{[]string{"sh"}, []string{"-c", "x"}, []string{"sh", "-c", "x"}},
	} {
		if got := processArgs(ep, cmd, tc.command, tc.args); !slices.Equal(got, tc.want) {
			t.Errorf("command %q args %q: %q, want %q", tc.command, tc.args, got, tc.want)
		}
	}
	if got := processArgs(nil, []string{"httpd", "-f"}, nil, nil); !slices.Equal(got, []string{"httpd", "-f"}) {
		t.Errorf("cmd only: %q", got)
	}
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"PATH=/bin", "A=1"}, []string{"B=2", "A=3", "B=4"})
	if want := []string{"PATH=/bin", "A=3", "B=4"}; !slices.Equal(got, want) {
		t.Fatalf("mergeEnv = %q, want %q", got, want)
	}
}

func TestCapabilities(t *testing.T) {
	base := []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	all := []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_ADMIN", "CAP_SYS_ADMIN"}
	for _, tc := range []struct {
		add, drop, want []string
	}{
		{nil, nil, base},
		{[]string{"NET_ADMIN"}, nil, append(slices.Clone(base), "CAP_NET_ADMIN")},
		{nil, []string{"kill"}, []string{"CAP_CHOWN", "CAP_NET_BIND_SERVICE"}},
		{[]string{"NET_BIND_SERVICE"}, []string{"ALL"}, []string{"CAP_NET_BIND_SERVICE"}},
		{[]string{"ALL"}, []string{"CHOWN"}, []string{"CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN", "CAP_NET_ADMIN", "CAP_SYS_ADMIN"}},
		{[]string{"CAP_KILL"}, nil, base},
	} {
		if got := capabilities(base, all, tc.add, tc.drop); !slices.Equal(got, tc.want) {
			t.Errorf("add %q drop %q: %q, want %q", tc.add, tc.drop, got, tc.want)
		}
	}
}

func TestCPU(t *testing.T) {
	for milli, want := range map[int64]uint64{1: 2, 250: 256, 1000: 1024, 2500: 2560} {
		if got := cpuShares(milli); got != want {
			t.Errorf("cpuShares(%d) = %d, want %d", milli, got, want)
		}
	}
	for milli, want := range map[int64]int64{1: 1000, 500: 50000, 1000: 100000, 3000: 300000} {
		if got := cpuQuota(milli); got != want {
			t.Errorf("cpuQuota(%d) = %d, want %d", milli, got, want)
		}
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{"SIGTERM": syscall.SIGTERM, "term": syscall.SIGTERM, "SIGWINCH": syscall.SIGWINCH, "9": syscall.SIGKILL, "SIGRTMIN+3": 0, "nope": 0, "0": 0, "99": 0} {
		got, err := parseSignal(in)
		if want == 0 {
			if err == nil && in != "SIGRTMIN+3" {
				t.Errorf("parseSignal(%q) = %v, want an error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("parseSignal(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestStatusOf(t *testing.T) {
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	exitAt := created.Add(time.Minute)
	ident := specLabels(runtime.ContainerSpec{PodUID: "u", PodNamespace: "ns", PodName: "p", Name: "c", Attempt: 2, Init: true, LogPath: "/l"}, "img", "img@sha256:x", "")
	with := func(extra ...map[string]string) map[string]string {
		return mergeLabels(append([]map[string]string{ident}, extra...)...)
	}
	started := map[string]string{labelStartedAt: created.Add(time.Second).Format(time.RFC3339Nano)}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		task   taskState
		state  runtime.State
		code   int32
		reason string
	}{
		{"created, no task", with(), taskState{}, runtime.StateCreated, 0, ""},
		{"task created", with(), taskState{Exists: true, Status: "created"}, runtime.StateCreated, 0, ""},
		{"running", with(started), taskState{Exists: true, Status: "running"}, runtime.StateRunning, 0, ""},
		{"stopped 0", with(started), taskState{Exists: true, Status: "stopped", ExitedAt: exitAt}, runtime.StateExited, 0, ReasonCompleted},
		{"stopped 2", with(started), taskState{Exists: true, Status: "stopped", ExitCode: 2}, runtime.StateExited, 2, ReasonError},
		{"stopped oom", with(started, map[string]string{labelOOM: "true"}), taskState{Exists: true, Status: "stopped", ExitCode: 137}, runtime.StateExited, 137, ReasonOOMKilled},
		{"recorded exit wins", with(started, exitLabels(1, exitAt, false, "")), taskState{Exists: true, Status: "running"}, runtime.StateExited, 1, ReasonError},
		{"recorded oom", with(started, exitLabels(137, exitAt, true, "")), taskState{}, runtime.StateExited, 137, ReasonOOMKilled},
		{"task vanished", with(started), taskState{}, runtime.StateExited, 255, ReasonError},
		{"unknown", with(started), taskState{Exists: true, Status: "unknown"}, runtime.StateUnknown, 0, ""},
	} {
		st := statusOf("id", tc.labels, created, tc.task)
		if st.State != tc.state || st.ExitCode != tc.code || st.Reason != tc.reason {
			t.Errorf("%s: %s %d %q, want %s %d %q", tc.name, st.State, st.ExitCode, st.Reason, tc.state, tc.code, tc.reason)
		}
		if st.PodUID != "u" || st.PodNamespace != "ns" || st.PodName != "p" || st.Name != "c" || st.Attempt != 2 || !st.Init ||
			st.LogPath != "/l" || st.Image != "img" || st.ImageRef != "img@sha256:x" || !st.CreatedAt.Equal(created) {
			t.Errorf("%s: identity lost: %+v", tc.name, st)
		}
	}
}

// lineReader returns its chunks one Read at a time.
type chunkReader struct{ chunks []string }

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.chunks[0])
	r.chunks[0] = r.chunks[0][n:]
	if r.chunks[0] == "" {
		r.chunks = r.chunks[1:]
	}
	return n, nil
}

func TestCRILog(t *testing.T) {
	long := strings.Repeat("x", MaxLogLine)
	for _, tc := range []struct {
		name   string
		chunks []string
		want   []string
	}{
		{"lines", []string{"a\nb\n"}, []string{"F a", "F b"}},
		{"split writes", []string{"hel", "lo\nwor", "ld\n"}, []string{"F hello", "F world"}},
		{"empty line", []string{"\n"}, []string{"F "}},
		{"crlf", []string{"dos\r\n"}, []string{"F dos"}},
		{"unterminated at EOF", []string{"tail"}, []string{"F tail"}},
		{"exactly max", []string{long + "\n"}, []string{"P " + long, "F "}},
		{"over max", []string{long + long + "yz\n"}, []string{"P " + long, "P " + long, "F yz"}},
	} {
		var buf bytes.Buffer
		l := &criLog{w: &buf, now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC) }}
		if err := copyStream(l, "stdout", &chunkReader{chunks: slices.Clone(tc.chunks)}); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
			rest, ok := strings.CutPrefix(line, "2026-01-02T03:04:05.0000006Z stdout ")
			if !ok {
				t.Fatalf("%s: bad record %q", tc.name, line)
			}
			got = append(got, rest)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestCopyLogsBothStreams(t *testing.T) {
	var buf bytes.Buffer
	if err := CopyLogs(&buf, strings.NewReader("out\n"), strings.NewReader("err\n"), nil, time.Second); err != nil {
		t.Fatal(err)
	}
	lines := criContent(t, strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n"))
	slices.Sort(lines)
	if want := []string{"stderr F err", "stdout F out"}; !slices.Equal(lines, want) {
		t.Fatalf("%q, want %q", lines, want)
	}
	// A stream that never ends is abandoned after the stop grace.
	pr, pw := io.Pipe()
	defer pw.Close()
	stop := make(chan struct{})
	close(stop)
	if err := CopyLogs(io.Discard, pr, nil, stop, 10*time.Millisecond); err == nil {
		t.Fatal("CopyLogs returned nil with a stream still open after stop")
	}
}

func TestCgroupParsing(t *testing.T) {
	stat := parseFlatKeyed([]byte("cache 100\ntotal_inactive_file 300\nbogus\nx y\n"))
	if stat["total_inactive_file"] != 300 || stat["cache"] != 100 || len(stat) != 2 {
		t.Fatalf("parsed %v", stat)
	}
	if ws := workingSet(1000, stat); ws != 700 {
		t.Errorf("working set %d", ws)
	}
	if ws := workingSet(200, stat); ws != 0 {
		t.Errorf("working set under inactive = %d", ws)
	}
	oom := parseFlatKeyed([]byte("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"))
	if oom["oom_kill"] != 2 {
		t.Errorf("oom_control %v", oom)
	}
}

func TestDaemonConfig(t *testing.T) {
	toml := daemonConfigTOML("/d")
	for _, want := range []string{
		`root = "/d/root"`, `state = "/d/state"`, `disabled_plugins = ["io.containerd.grpc.v1.cri"]`,
		`address = "/d/containerd.sock"`, `path = "/d/opt"`, `oom_score = 0`,
	} {
		if !strings.Contains(toml, want) {
			t.Errorf("config lacks %s:\n%s", want, toml)
		}
	}
}

func TestSocketPathStaysUnderTheUnixLimit(t *testing.T) {
	if got := SocketPath("/var/lib/kelson/containerd"); got != "/var/lib/kelson/containerd/containerd.sock" {
		t.Errorf("short dir: %s", got)
	}
	deep := "/home/someone/" + strings.Repeat("very-long-directory-name/", 5) + "default.kelson/agent/containerd"
	got := SocketPath(deep)
	if len(got) > maxSocketPath || !strings.HasPrefix(got, shortSocketDir+"/") {
		t.Errorf("deep dir: %s (%d bytes)", got, len(got))
	}
	if SocketPath(deep) != got || SocketPath(deep+"x") == got {
		t.Error("the short path is not a function of the directory")
	}
}
