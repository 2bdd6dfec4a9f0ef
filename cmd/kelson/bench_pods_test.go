package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/bench"
	"github.com/kelson-dev/kelson/internal/testimage"
	"github.com/kelson-dev/kelson/internal/testnet"
)

func TestBenchPodsNothingToMeasure(t *testing.T) {
	var out, errOut bytes.Buffer
	code := execute(context.Background(), []string{"bench", "pods", "--pods", "-1", "--burst", "-1", "--service-rounds", "-1"}, &out, &errOut, runners{})
	if code != 2 || !strings.Contains(errOut.String(), "nothing to measure") {
		t.Fatalf("exit %d, stderr %q: want 2 and nothing to measure", code, errOut.String())
	}
}

// TestBenchPodsTiny runs `kelson bench pods` in a tiny configuration —
// a server and an agent in namespaces of the run, real containers — and
// checks its figures and that it left nothing behind.
func TestBenchPodsTiny(t *testing.T) {
	if why := testnet.Available(); why != "" {
		t.Skip(why)
	}
	for _, b := range []string{"containerd", "runc"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skip(b + " is not installed (make deps installs it)")
		}
	}
	if _, err := os.Stat(testimage.DefaultBusybox); err != nil {
		t.Skip("busybox-static is not installed (make deps installs it)")
	}
	bin := kelsonBin(t)
	work := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	code := execute(ctx, []string{"bench", "pods", "--pods", "1", "--burst", "3", "--service-rounds", "1",
		"--kelson", bin, "--work-dir", work, "--timeout", "1m", "--json"}, &out, &errOut, runners{})
	if code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", code, errOut.String())
	}
	var res bench.PodsResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out.String())
	}
	if len(res.Leftover) > 0 {
		t.Errorf("clean-up left: %v", res.Leftover)
	}
	if s := res.Single; s == nil || s.Count != 1 || s.Running.P50 <= 0 || s.Ready.P50 < s.Running.P50 || s.Deleted == nil || s.Deleted.P50 <= 0 {
		t.Errorf("one pod at a time: %+v", s)
	}
	if b := res.Burst; b == nil || b.Count != 3 || b.Ready.Max <= 0 || b.AllReady < b.Ready.Max {
		t.Errorf("burst: %+v", b)
	}
	if s := res.Service; s == nil || s.Rounds != 1 || s.FromCreate.P50 <= 0 {
		t.Errorf("service: %+v", s)
	}
	m := res.Memory
	if m == nil || m.Agent.Count != 1 || m.Agent.RSS <= 0 || m.Server.RSS <= 0 || m.Containerd.Count != 1 ||
		m.Shims.Count != 3 || m.LogDrivers.Count != 3 || m.PerContainer <= 0 {
		t.Errorf("memory with 3 pods: %+v", m)
	}
	var text bytes.Buffer
	if err := bench.WritePodsText(&text, &res); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"create → Ready", "pod Ready → answers", "kelson agent", "containerd shims"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, text.String())
		}
	}
	t.Logf("\n%s", text.String())

	// Nothing left: the run's directory and its processes.
	if left, _ := filepath.Glob(filepath.Join(work, "*")); len(left) > 0 {
		t.Errorf("left in the work dir: %v", left)
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		if b, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline")); err == nil && bytes.Contains(b, []byte(work)) {
			t.Errorf("process %s still runs: %q", p.Name(), bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		}
	}
}
