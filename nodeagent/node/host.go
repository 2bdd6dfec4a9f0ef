package node

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// The host's facts (capacity, identity) and pressure signals: pure
// parsers over the content of /proc, /sys and /etc files, and host, the
// thin reader that feeds them from Config.HostFS and statfs.

// memInfo is what the node reports from /proc/meminfo, in bytes.
type memInfo struct {
	Total, Available, SwapTotal int64
}

// parseMeminfo parses /proc/meminfo. MemTotal is required; without
// MemAvailable (kernels before 3.14) Available is MemFree + Buffers +
// Cached.
func parseMeminfo(s string) (memInfo, error) {
	vals := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		k, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || v < 0 {
			continue
		}
		if len(f) > 1 {
			switch f[1] {
			case "kB":
				v <<= 10
			default:
				continue // a unit we do not know
			}
		}
		vals[k] = v
	}
	total, ok := vals["MemTotal"]
	if !ok || total <= 0 {
		return memInfo{}, errors.New("no MemTotal in /proc/meminfo")
	}
	m := memInfo{Total: total, SwapTotal: vals["SwapTotal"]}
	if avail, ok := vals["MemAvailable"]; ok {
		m.Available = avail
	} else {
		m.Available = vals["MemFree"] + vals["Buffers"] + vals["Cached"]
	}
	m.Available = min(m.Available, m.Total)
	return m, nil
}

// cpuTimes is the first line of /proc/stat: all CPUs' time, in ticks.
type cpuTimes struct {
	Busy, Total uint64
	CPUs        int // the cpuN lines
}

// parseProcStat parses /proc/stat's cpu lines. Busy is user + nice +
// system + irq + softirq + steal; Total adds idle and iowait (guest time
// is already part of user and nice).
func parseProcStat(s string) (cpuTimes, error) {
	var t cpuTimes
	found := false
	for line := range strings.SplitSeq(s, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if f[0] != "cpu" {
			if _, err := strconv.Atoi(f[0][3:]); err == nil {
				t.CPUs++
			}
			continue
		}
		if len(f) < 5 {
			return cpuTimes{}, fmt.Errorf("/proc/stat: short cpu line %q", line)
		}
		var v [8]uint64
		for i := 0; i < 8 && i+1 < len(f); i++ {
			n, err := strconv.ParseUint(f[i+1], 10, 64)
			if err != nil {
				return cpuTimes{}, fmt.Errorf("/proc/stat: cpu line %q: %w", line, err)
			}
			v[i] = n
		}
		user, nice, system, idle, iowait, irq, softirq, steal := v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
		t.Busy = user + nice + system + irq + softirq + steal
		t.Total = t.Busy + idle + iowait
		found = true
	}
	if !found {
		return cpuTimes{}, errors.New("/proc/stat: no cpu line")
	}
	return t, nil
}

// nodeMilliCPU is the node's CPU use between two /proc/stat samples, in
// millicores: the busy share of the ticks times the CPUs. ok is false
// when the samples do not give a rate (no time passed, counters reset).
func nodeMilliCPU(prev, cur cpuTimes) (milli int64, ok bool) {
	if cur.Total <= prev.Total || cur.Busy < prev.Busy || cur.CPUs <= 0 {
		return 0, false
	}
	busy, total := cur.Busy-prev.Busy, cur.Total-prev.Total
	return int64(float64(busy) / float64(total) * float64(cur.CPUs) * 1000), true
}

// parseCgroupPaths parses /proc/self/cgroup (cgroup v1): controller ->
// path. "4:cpu,cpuacct:/a" gives cpu and cpuacct both /a; the v2 line
// ("0::/") is skipped.
func parseCgroupPaths(s string) map[string]string {
	out := map[string]string{}
	for line := range strings.SplitSeq(s, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || parts[1] == "" {
			continue
		}
		for c := range strings.SplitSeq(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	return out
}

// cgroupDirs are the directories of cgroup p under mount and its
// ancestors, deepest first, ending with mount (fs.FS paths, no leading
// slash). A limit set on an ancestor bounds p.
func cgroupDirs(mount, p string) []string {
	p = path.Clean("/" + p)
	var out []string
	for {
		out = append(out, path.Join(mount, p))
		if p == "/" {
			return out
		}
		p = path.Dir(p)
	}
}

// parseCFSQuota turns cpu.cfs_quota_us and cpu.cfs_period_us into
// millicores; limited is false for the quota -1 (none).
func parseCFSQuota(quota, period string) (milli int64, limited bool, err error) {
	q, err := strconv.ParseInt(strings.TrimSpace(quota), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("cpu.cfs_quota_us %q: %w", strings.TrimSpace(quota), err)
	}
	if q < 0 {
		return 0, false, nil
	}
	p, err := strconv.ParseInt(strings.TrimSpace(period), 10, 64)
	if err != nil || p <= 0 {
		return 0, false, fmt.Errorf("cpu.cfs_period_us %q is not a positive number", strings.TrimSpace(period))
	}
	return q * 1000 / p, true, nil
}

// unlimitedMemory: memory.limit_in_bytes at or above this (the page
// rounded MaxInt64 cgroup v1 shows for "no limit") is no limit.
const unlimitedMemory = int64(1) << 62

// parseMemoryLimit parses memory.limit_in_bytes; limited is false for no
// limit.
func parseMemoryLimit(s string) (int64, bool, error) {
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		// Values past MaxInt64 mean no limit as well.
		if u, uerr := strconv.ParseUint(strings.TrimSpace(s), 10, 64); uerr == nil && u > 0 {
			return 0, false, nil
		}
		return 0, false, fmt.Errorf("memory.limit_in_bytes %q: %w", strings.TrimSpace(s), err)
	}
	if v <= 0 || v >= unlimitedMemory {
		return 0, false, nil
	}
	return v, true, nil
}

// parseOSRelease returns os-release's PRETTY_NAME, unquoted; "Linux" if
// there is none.
func parseOSRelease(s string) string {
	for line := range strings.SplitSeq(s, "\n") {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "PRETTY_NAME=")
		if !ok {
			continue
		}
		if u, err := strconv.Unquote(v); err == nil {
			return u
		}
		if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
			return v[1 : len(v)-1]
		}
		if v != "" {
			return v
		}
	}
	return "Linux"
}

// parseLoadavgThreads returns the number of scheduling entities (threads:
// what kernel.pid_max bounds) from /proc/loadavg ("0.1 0.2 0.3 1/234 5678").
func parseLoadavgThreads(s string) (int64, error) {
	f := strings.Fields(s)
	if len(f) < 4 {
		return 0, fmt.Errorf("/proc/loadavg %q: want 5 fields", strings.TrimSpace(s))
	}
	_, total, ok := strings.Cut(f[3], "/")
	if !ok {
		return 0, fmt.Errorf("/proc/loadavg field %q: want RUNNING/TOTAL", f[3])
	}
	n, err := strconv.ParseInt(total, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("/proc/loadavg field %q: want RUNNING/TOTAL", f[3])
	}
	return n, nil
}

// parseInt parses a file holding one integer (pid_max).
func parseInt(s string) (int64, error) { return strconv.ParseInt(strings.TrimSpace(s), 10, 64) }

// fsStats is a filesystem's size and use (statfs).
type fsStats struct {
	Total, Available uint64 // bytes (Available: to unprivileged users)
	Inodes, Free     uint64 // inodes (Free: free inodes)
}

// hostFacts are the node's capacity and identity as read from the host.
type hostFacts struct {
	MilliCPU  int64 // NumCPU bounded by the cgroup CPU quota
	Memory    int64 // MemTotal bounded by the cgroup memory limit
	Ephemeral int64 // DataDir's filesystem size
	Swap      int64 // SwapTotal
	// MachineID, SystemUUID, BootID, KernelVersion, OSImage of nodeInfo.
	MachineID, SystemUUID, BootID, KernelVersion, OSImage string
}

// observation is what the pressure conditions are decided from; a field
// the host would not give is unknown (its Known false).
type observation struct {
	MemAvailable int64
	MemKnown     bool
	Disk         fsStats
	DiskKnown    bool
	Threads      int64 // scheduling entities running
	PIDMax       int64 // kernel.pid_max
	PIDKnown     bool
}

// host reads the host: the IO side of hostFacts and observation.
type host struct {
	fs      fs.FS
	dataDir string
	numCPU  int
	statfs  func(path string) (fsStats, error)
}

func (h *host) read(name string) (string, error) {
	b, err := fs.ReadFile(h.fs, name)
	return string(b), err
}

// facts reads the node's capacity and identity. Missing identity files
// leave their fields empty; capacity that cannot be read is an error.
func (h *host) facts() (hostFacts, error) {
	f := hostFacts{MilliCPU: int64(h.numCPU) * 1000}
	mi, err := h.read("proc/meminfo")
	if err != nil {
		return f, fmt.Errorf("node: read the memory size: %w", err)
	}
	mem, err := parseMeminfo(mi)
	if err != nil {
		return f, fmt.Errorf("node: read the memory size: %w", err)
	}
	f.Memory, f.Swap = mem.Total, mem.SwapTotal
	cg := map[string]string{}
	if s, err := h.read("proc/self/cgroup"); err == nil {
		cg = parseCgroupPaths(s)
	}
	if limit, ok := h.cpuQuota(cg["cpu"]); ok && limit < f.MilliCPU {
		f.MilliCPU = max(limit, 1)
	}
	if limit, ok := h.memoryLimit(cg["memory"]); ok && limit < f.Memory {
		f.Memory = limit
	}
	st, err := h.statfs(h.dataDir)
	if err != nil {
		return f, fmt.Errorf("node: statfs the data dir %s (does it exist?): %w", h.dataDir, err)
	}
	f.Ephemeral = int64(min(st.Total, uint64(1)<<62))
	trim := func(name string) string {
		s, _ := h.read(name)
		return strings.TrimSpace(s)
	}
	f.MachineID = trim("etc/machine-id")
	f.SystemUUID = strings.ToLower(trim("sys/class/dmi/id/product_uuid"))
	f.BootID = trim("proc/sys/kernel/random/boot_id")
	f.KernelVersion = trim("proc/sys/kernel/osrelease")
	osr, err := h.read("etc/os-release")
	if err != nil {
		osr, _ = h.read("usr/lib/os-release")
	}
	f.OSImage = parseOSRelease(osr)
	return f, nil
}

// cpuQuota is the smallest CFS quota on cgroup p and its ancestors.
func (h *host) cpuQuota(p string) (milli int64, limited bool) {
	for _, mount := range []string{"sys/fs/cgroup/cpu", "sys/fs/cgroup/cpu,cpuacct"} {
		found := false
		for _, dir := range cgroupDirs(mount, p) {
			q, err1 := h.read(path.Join(dir, "cpu.cfs_quota_us"))
			per, err2 := h.read(path.Join(dir, "cpu.cfs_period_us"))
			if err1 != nil || err2 != nil {
				continue
			}
			found = true
			if m, ok, err := parseCFSQuota(q, per); err == nil && ok && (!limited || m < milli) {
				milli, limited = m, true
			}
		}
		if found {
			return milli, limited
		}
	}
	return 0, false
}

// memoryLimit is the smallest memory limit on cgroup p and its
// ancestors.
func (h *host) memoryLimit(p string) (limit int64, limited bool) {
	for _, dir := range cgroupDirs("sys/fs/cgroup/memory", p) {
		s, err := h.read(path.Join(dir, "memory.limit_in_bytes"))
		if err != nil {
			continue
		}
		if v, ok, err := parseMemoryLimit(s); err == nil && ok && (!limited || v < limit) {
			limit, limited = v, true
		}
	}
	return limit, limited
}

// observe reads the pressure signals; what cannot be read is unknown
// (and errs says why).
func (h *host) observe() (o observation, errs []error) {
	if s, err := h.read("proc/meminfo"); err != nil {
		errs = append(errs, err)
	} else if m, err := parseMeminfo(s); err != nil {
		errs = append(errs, err)
	} else {
		o.MemAvailable, o.MemKnown = m.Available, true
	}
	if st, err := h.statfs(h.dataDir); err != nil {
		errs = append(errs, fmt.Errorf("statfs %s: %w", h.dataDir, err))
	} else {
		o.Disk, o.DiskKnown = st, true
	}
	la, err1 := h.read("proc/loadavg")
	pm, err2 := h.read("proc/sys/kernel/pid_max")
	if err := errors.Join(err1, err2); err != nil {
		errs = append(errs, err)
	} else if n, err := parseLoadavgThreads(la); err != nil {
		errs = append(errs, err)
	} else if m, err := parseInt(pm); err != nil || m <= 0 {
		errs = append(errs, fmt.Errorf("kernel.pid_max %q is not a positive number", strings.TrimSpace(pm)))
	} else {
		o.Threads, o.PIDMax, o.PIDKnown = n, m, true
	}
	return o, errs
}

// sampleCPU reads /proc/stat.
func (h *host) sampleCPU() (cpuTimes, error) {
	s, err := h.read("proc/stat")
	if err != nil {
		return cpuTimes{}, err
	}
	return parseProcStat(s)
}

// memUsage is the node's memory in use: MemTotal - MemAvailable.
func (h *host) memUsage() (int64, error) {
	s, err := h.read("proc/meminfo")
	if err != nil {
		return 0, err
	}
	m, err := parseMeminfo(s)
	if err != nil {
		return 0, err
	}
	return m.Total - m.Available, nil
}
