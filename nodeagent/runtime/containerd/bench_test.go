package containerd

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkCreateStart measures create+start of a busybox container (and
// reports the stop+remove time); each iteration is one new instance.
func BenchmarkCreateStart(b *testing.B) {
	e := newEnv(b)
	b.StopTimer()
	var stopRemove time.Duration
	for i := 0; i < b.N; i++ {
		spec := e.spec("b"+strconv.Itoa(i), "sleep", "60")
		b.StartTimer()
		id := e.run(spec)
		b.StopTimer()
		s := time.Now()
		if err := e.rt.StopContainer(e.ctx, id, 0); err != nil {
			b.Fatal(err)
		}
		if err := e.rt.RemoveContainer(e.ctx, id); err != nil {
			b.Fatal(err)
		}
		stopRemove += time.Since(s)
	}
	b.ReportMetric(float64(stopRemove.Milliseconds())/float64(b.N), "ms-stop+remove/op")
}

// TestProcessFootprint logs the RSS of the per-container processes (shim,
// log driver) with a few containers running; figures only, so it runs
// when KELSON_RT_FIGURES=1 (with KELSON_LOG_DRIVER=/path/to/kelson for
// the real driver's figures).
func TestProcessFootprint(t *testing.T) {
	if os.Getenv("KELSON_RT_FIGURES") != "1" {
		t.Skip("figures only: set KELSON_RT_FIGURES=1")
	}
	e := newEnv(t)
	const n = 5
	var total time.Duration
	for i := 0; i < n; i++ {
		spec := e.spec("f"+strconv.Itoa(i), "sleep", "60")
		s := time.Now()
		e.run(spec)
		total += time.Since(s)
	}
	t.Logf("create+start: %v a container (mean of %d)", total/n, n)
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		if !strings.Contains(cmd, LogDriverCommand) && !(strings.Contains(cmd, "containerd-shim") && strings.Contains(cmd, e.dir)) {
			continue
		}
		status, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "status"))
		for _, l := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(l, "VmRSS") || strings.HasPrefix(l, "RssAnon") {
				t.Logf("%.60s: %s", cmd, strings.Join(strings.Fields(l), " "))
			}
		}
	}
}
