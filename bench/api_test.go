package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/testbin"
)

func TestParseProcStat(t *testing.T) {
	// pid (comm with spaces) state ppid ... utime=14 stime=15 ...
	line := "4242 (kelson server) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 12 0 100 0 0\n"
	got, err := parseProcStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3250 * time.Millisecond; got != want {
		t.Errorf("cpu = %v, want %v", got, want)
	}
	for _, bad := range []string{"", "1 (x) S 1 2", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 abc 1 0"} {
		if _, err := parseProcStat(bad); err == nil {
			t.Errorf("parseProcStat(%q): no error", bad)
		}
	}
}

func TestParseProcStatus(t *testing.T) {
	status := "Name:\tkelson\nVmPeak:\t 900000 kB\nVmHWM:\t  150000 kB\nVmRSS:\t  120000 kB\nThreads:\t12\n"
	rss, peak, err := parseProcStatus(status)
	if err != nil {
		t.Fatal(err)
	}
	if rss != 120000<<10 || peak != 150000<<10 {
		t.Errorf("rss %d peak %d, want %d and %d", rss, peak, 120000<<10, 150000<<10)
	}
	if _, _, err := parseProcStatus("Name:\tzombie\n"); err == nil {
		t.Error("no VmRSS: no error")
	}
}

func TestReadProcSelf(t *testing.T) {
	s, err := readProc(os.Getpid())
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	if s.rss <= 0 || s.peak < s.rss {
		t.Errorf("own rss %d, peak %d: want 0 < rss <= peak", s.rss, s.peak)
	}
	p := processStats([]int{1}, procSample{cpu: time.Second}, procSample{cpu: 3 * time.Second}, 4)
	if p.CPU != 2*time.Second || p.CPUPerOp != 500*time.Millisecond {
		t.Errorf("processStats: cpu %v per op %v, want 2s and 500ms", p.CPU, p.CPUPerOp)
	}
}

func TestParseAPIMix(t *testing.T) {
	m, err := ParseAPIMix("create=10, update=30,get=40,list=15,delete=5")
	if err != nil {
		t.Fatal(err)
	}
	if want := (APIMix{10, 30, 40, 15, 5}); m != want || m.String() != "create=10,update=30,get=40,list=15,delete=5" {
		t.Errorf("got %+v (%s), want %+v", m, m, want)
	}
	// pick walks the weights in order.
	for r, want := range map[int]int{0: mixCreate, 9: mixCreate, 10: mixUpdate, 39: mixUpdate, 40: mixGet, 80: mixList, 95: mixDelete, 99: mixDelete} {
		if got := m.pick(r); got != want {
			t.Errorf("pick(%d) = %d, want %d", r, got, want)
		}
	}
	for _, bad := range []string{"create", "create=-1", "patch=3", "get=x"} {
		if _, err := ParseAPIMix(bad); !errors.Is(err, ErrBadConfig) {
			t.Errorf("ParseAPIMix(%q): %v, want ErrBadConfig", bad, err)
		}
	}
}

func TestAPIConfigValidate(t *testing.T) {
	ok := APICommon{Kubeconfig: "k"}
	for name, c := range map[string]Workload{
		"no kubeconfig": APICreateConfig{APICommon: APICommon{Kubeconfig: ""}},
		"content type":  APICreateConfig{APICommon: APICommon{Kubeconfig: "k", ContentType: "yaml"}},
		"namespace":     APIGetConfig{APICommon: APICommon{Kubeconfig: "k", Namespace: "Bad_NS"}},
		"rv":            APIListConfig{APICommon: ok, ResourceVersion: "latest"},
		"pid":           APIListConfig{APICommon: APICommon{Kubeconfig: "k", ServerPIDs: []int{-3}}},
		"watchers":      APIWatchConfig{APICommon: ok, Watchers: -1},
		"mix watchers":  APIMixConfig{APICommon: ok, Watchers: -2},
	} {
		t.Setenv("KUBECONFIG", "")
		if _, err := Run(context.Background(), c); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%s: %v, want ErrBadConfig", name, err)
		}
	}
}

func TestBenchPodSize(t *testing.T) {
	pod := benchPod("pod-12345", 3, 12345)
	pod.APIVersion, pod.Kind = "v1", "Pod"
	b, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(b); n < 1000 || n > 2048 {
		t.Errorf("pod is %d bytes of JSON, want 1-2 KB", n)
	}
	if s, ok := podSeq(pod, 20000); !ok || s != 12345 {
		t.Errorf("podSeq = %d, %v", s, ok)
	}
	if _, ok := podSeq(benchPod("p", 0, -1), 10); ok {
		t.Error("a preloaded pod has a write sequence number")
	}
}

func TestLivePods(t *testing.T) {
	l := &livePods{}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 5 {
		l.add(strconv.Itoa(i))
	}
	seen := map[string]bool{}
	for range 5 {
		n, ok := l.take(rng)
		if !ok || seen[n] {
			t.Fatalf("take = %q, %v (seen %v)", n, ok, seen)
		}
		seen[n] = true
	}
	if _, ok := l.take(rng); ok {
		t.Error("take from an empty set succeeded")
	}
	if _, ok := l.random(rng); ok {
		t.Error("random from an empty set succeeded")
	}
}

// TestAPIWorkloads runs every API workload briefly against a real
// `kelson server` process and checks what they did, never how fast.
func TestAPIWorkloads(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the kelson binary; skipped with -short")
	}
	kubeconfig, pid := startKelsonServer(t)
	ctx := context.Background()
	common := func(ns string) APICommon {
		return APICommon{Kubeconfig: kubeconfig, Namespace: ns, Clients: 4, Conns: 2, Seed: 7, ServerPIDs: []int{pid}}
	}
	check := func(t *testing.T, res *Result, err error, wantOps int64) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if res.Ops != wantOps || res.Errors != 0 {
			t.Errorf("%s: %d ops, %d errors (%v), want %d and 0", res.Workload, res.Ops, res.Errors, res.TopErrors, wantOps)
		}
		if res.API == nil || res.API.Process == nil || res.API.Process.RSSAfter <= 0 {
			t.Errorf("%s: no server process stats: %+v", res.Workload, res.API)
		}
		if res.API != nil && res.API.CleanupError != "" {
			t.Errorf("%s: cleanup: %s", res.Workload, res.API.CleanupError)
		}
	}
	t.Run("create", func(t *testing.T) {
		res, err := Run(ctx, APICreateConfig{APICommon: common("t-create"), Total: 40})
		check(t, res, err, 40)
	})
	t.Run("get", func(t *testing.T) {
		c := common("t-get")
		c.ContentType = "json"
		res, err := Run(ctx, APIGetConfig{APICommon: c, Total: 40, Objects: 10})
		check(t, res, err, 40)
	})
	t.Run("list", func(t *testing.T) {
		for _, rv := range []string{"", "0"} {
			res, err := Run(ctx, APIListConfig{APICommon: common("t-list"), Total: 5, Objects: 30, ResourceVersion: rv})
			check(t, res, err, 5)
			if res != nil && res.API.ListItems != 30 {
				t.Errorf("rv %q: lists returned %d pods, want 30", rv, res.API.ListItems)
			}
		}
		c := common("t-list-kept")
		c.Keep = true
		res, err := Run(ctx, APIListConfig{APICommon: c, Total: 3, Objects: 12})
		check(t, res, err, 3)
		c.Keep = false // the second run finds the pods kept and makes only the missing ones
		res, err = Run(ctx, APIListConfig{APICommon: c, Total: 3, Objects: 15})
		check(t, res, err, 3)
		if res != nil && res.API.ListItems != 15 {
			t.Errorf("after a kept run: lists returned %d pods, want 15", res.API.ListItems)
		}
		res, err = Run(ctx, APIListConfig{APICommon: common("t-list-raw"), Total: 3, Objects: 5, Raw: true})
		check(t, res, err, 3)
	})
	t.Run("watch", func(t *testing.T) {
		res, err := Run(ctx, APIWatchConfig{APICommon: common("t-watch"), Watchers: 20, WatchConns: 3, Writes: 11})
		check(t, res, err, 20*11)
		if res == nil {
			return
		}
		ws := res.Watch
		if ws.ViolationCount() != 0 || ws.Received != ws.Expected || ws.Expected != 20*11 || ws.Cancelled != 0 {
			t.Errorf("watch: %+v", ws)
		}
	})
	t.Run("mix", func(t *testing.T) {
		res, err := Run(ctx, APIMixConfig{APICommon: common("t-mix"), Total: 100, Objects: 20, Watchers: 3})
		check(t, res, err, 100)
		if res == nil {
			return
		}
		var byKind int64
		for _, k := range res.Kinds {
			if k.Primary {
				byKind += k.Ops
			}
		}
		if byKind != 100 || res.Counters["watch_events"] == 0 {
			t.Errorf("mix: kinds %+v, counters %v", res.Kinds, res.Counters)
		}
	})
}

// startKelsonServer builds the binary, starts `kelson server` on free
// ports with a temporary data directory, and returns its kubeconfig and
// PID once it serves.
func startKelsonServer(t *testing.T) (kubeconfig string, pid int) {
	t.Helper()
	bin, err := testbin.Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ports, err := testbin.FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	client := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	peer := "http://127.0.0.1:" + strconv.Itoa(ports[2])
	cmd := exec.Command(bin, "server", "--data-dir", filepath.Join(dir, "data"),
		"--https-listen-port", strconv.Itoa(ports[0]),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "default="+peer,
		// The API alone, as kube-apiserver: no scheduler binding the
		// workloads' pods, no controller writing beside them.
		"--disable", "scheduler,controller-manager", "--disable-agent")
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "stderr"))
			t.Logf("kelson server stderr:\n%s", b)
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "export KUBECONFIG="); ok {
				found <- p
			}
		}
		close(found)
	}()
	select {
	case p, ok := <-found:
		if !ok {
			t.Fatal("kelson server exited before serving")
		}
		return p, cmd.Process.Pid
	case <-time.After(60 * time.Second):
		t.Fatal("kelson server printed no kubeconfig within 60s")
	}
	return "", 0
}
