package containerd

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	ctrd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	"github.com/kelson-dev/kelson/nodeagent/runtime"
)

// cgroupPath is the container's cgroup (relative to each v1 hierarchy),
// from its OCI spec.
func cgroupPath(ctx context.Context, c ctrd.Container) (string, error) {
	s, err := c.Spec(ctx)
	if err != nil {
		return "", err
	}
	if s.Linux == nil || s.Linux.CgroupsPath == "" {
		return "", fmt.Errorf("container %s has no cgroups path in its spec", c.ID())
	}
	return s.Linux.CgroupsPath, nil
}

// cgroupFile is a file of one cgroup v1 hierarchy, e.g.
// /sys/fs/cgroup/memory/kelson/ID/memory.usage_in_bytes.
func (r *Runtime) cgroupFile(hierarchy, cgroup, name string) string {
	return filepath.Join(r.cfg.CgroupRoot, hierarchy, cgroup, name)
}

// parseFlatKeyed reads "key value" lines (memory.stat, memory.oom_control).
func parseFlatKeyed(b []byte) map[string]uint64 {
	out := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out
}

func parseUint(b []byte) (uint64, error) {
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

// workingSet is kubelet's: usage minus inactive file pages, never below 0.
func workingSet(usage uint64, stat map[string]uint64) uint64 {
	inactive := stat["total_inactive_file"]
	if inactive >= usage {
		return 0
	}
	return usage - inactive
}

// cgroupOOMKilled tells whether the kernel's OOM killer acted in the
// container's memory cgroup (memory.oom_control's oom_kill counter); it
// must be asked before the task is deleted, while the cgroup exists.
func (r *Runtime) cgroupOOMKilled(ctx context.Context, c ctrd.Container) bool {
	cg, err := cgroupPath(ctx, c)
	if err != nil {
		return false
	}
	b, err := os.ReadFile(r.cgroupFile("memory", cg, "memory.oom_control"))
	if err != nil {
		return false
	}
	return parseFlatKeyed(b)["oom_kill"] > 0
}

// Stats implements runtime.Runtime from the container's cgroup v1 files:
// cpuacct.usage, memory.usage_in_bytes and memory.stat.
func (r *Runtime) Stats(ctx context.Context, id string) (runtime.Stats, error) {
	ctx = r.nsctx(ctx)
	c, _, err := r.load(ctx, id)
	if err != nil {
		return runtime.Stats{}, err
	}
	if _, err := c.Task(ctx, nil); errdefs.IsNotFound(err) {
		return runtime.Stats{}, fmt.Errorf("containerd: container %s is not running: %w", id, runtime.ErrNotFound)
	}
	cg, err := cgroupPath(ctx, c)
	if err != nil {
		return runtime.Stats{}, fmt.Errorf("containerd: stats of %s: %w", id, err)
	}
	st := runtime.Stats{Timestamp: time.Now()}
	read := func(h, name string) ([]byte, error) {
		b, err := os.ReadFile(r.cgroupFile(h, cg, name))
		if err != nil {
			return nil, fmt.Errorf("containerd: stats of %s: %w (cgroup v1 expected under %s)", id, err, r.cfg.CgroupRoot)
		}
		return b, nil
	}
	b, err := read("cpuacct", "cpuacct.usage")
	if err != nil {
		return runtime.Stats{}, err
	}
	if st.CPUUsageNanos, err = parseUint(b); err != nil {
		return runtime.Stats{}, fmt.Errorf("containerd: stats of %s: cpuacct.usage: %w", id, err)
	}
	if b, err = read("memory", "memory.usage_in_bytes"); err != nil {
		return runtime.Stats{}, err
	}
	if st.MemoryUsage, err = parseUint(b); err != nil {
		return runtime.Stats{}, fmt.Errorf("containerd: stats of %s: memory.usage_in_bytes: %w", id, err)
	}
	if b, err = read("memory", "memory.stat"); err != nil {
		return runtime.Stats{}, err
	}
	st.MemoryWorkingSet = workingSet(st.MemoryUsage, parseFlatKeyed(b))
	return st, nil
}
