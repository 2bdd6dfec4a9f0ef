package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// APIStats are the API workloads' own numbers.
type APIStats struct {
	// Server is the API server at the kubeconfig's address.
	Server string
	// Namespace, ContentType: as configured.
	Namespace, ContentType string
	// Objects: pods preloaded before measuring, in Preload.
	Objects int
	Preload time.Duration
	// ListItems: pods in the last successful list (list workload).
	ListItems int
	// Process: the server process's resources over the measured phase,
	// when its PID was given.
	Process *ProcessStats
	// ClientCPU: CPU time this process (the benchmark's client) used over
	// the measured phase, and per primary operation: on one machine the
	// client competes with the server for the cores.
	ClientCPU, ClientCPUPerOp time.Duration
	// CleanupError: the namespace could not be cleaned up.
	CleanupError string
}

// ProcessStats are the server processes' resources read from /proc before
// and after the measured phase, summed over the processes.
type ProcessStats struct {
	PIDs []int
	// RSSBefore, RSSAfter: resident set size (VmRSS), bytes. Peak: the
	// high-water mark (VmHWM) after, bytes.
	RSSBefore, RSSAfter, Peak int64
	// CPU: user + system CPU time the process used during the phase.
	CPU time.Duration
	// CPUPerOp: CPU divided by the run's successful primary operations.
	CPUPerOp time.Duration
}

// procSample is one reading of /proc/PID.
type procSample struct {
	cpu       time.Duration
	rss, peak int64
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// parseProcStat returns utime + stime of a /proc/PID/stat line. The
// command name (field 2) is in parentheses and may hold spaces; fields are
// counted after its closing parenthesis: utime is field 14, stime 15.
func parseProcStat(s string) (time.Duration, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("bench: /proc stat %q: no command name", s)
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: /proc stat: %d fields after the command name, want at least 13", len(f))
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: /proc stat: cpu time %q: %v", v, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// parseProcStatus returns VmRSS and VmHWM of a /proc/PID/status, bytes.
func parseProcStatus(s string) (rss, peak int64, err error) {
	found := 0
	for _, line := range strings.Split(s, "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("bench: /proc status: %q: want a size in kB", line)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("bench: /proc status: %q: %v", line, err)
		}
		if name == "VmRSS" {
			rss = n << 10
		} else {
			peak = n << 10
		}
		found++
	}
	if found < 2 {
		return 0, 0, fmt.Errorf("bench: /proc status has no VmRSS or VmHWM (is the process a zombie?)")
	}
	return rss, peak, nil
}

// readProc reads /proc/pid/stat and /proc/pid/status.
func readProc(pid int) (procSample, error) {
	dir := "/proc/" + strconv.Itoa(pid)
	st, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return procSample{}, fmt.Errorf("bench: server process %d: %w (check --server-pid)", pid, err)
	}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return procSample{}, fmt.Errorf("bench: server process %d: %w", pid, err)
	}
	var s procSample
	if s.cpu, err = parseProcStat(string(st)); err != nil {
		return s, err
	}
	s.rss, s.peak, err = parseProcStatus(string(status))
	return s, err
}

// processStats digests two readings (summed over the processes) over ops
// operations.
func processStats(pids []int, before, after procSample, ops int64) *ProcessStats {
	p := &ProcessStats{PIDs: pids, RSSBefore: before.rss, RSSAfter: after.rss, Peak: after.peak, CPU: after.cpu - before.cpu}
	if ops > 0 {
		p.CPUPerOp = p.CPU / time.Duration(ops)
	}
	return p
}

// readProcs reads every process and sums the readings.
func readProcs(pids []int) (procSample, error) {
	var sum procSample
	for _, pid := range pids {
		s, err := readProc(pid)
		if err != nil {
			return sum, err
		}
		sum.cpu += s.cpu
		sum.rss += s.rss
		sum.peak += s.peak
	}
	return sum, nil
}

// procWatch reads the server's /proc at the start of the measured phase
// and digests the change at its end. No pids: nothing measured.
type procWatch struct {
	pids   []int
	before procSample
	self   time.Duration // this process's CPU at the start; -1: unknown
}

// selfCPU is this process's CPU time so far, -1 when /proc cannot say.
func selfCPU() time.Duration {
	s, err := readProc(os.Getpid())
	if err != nil {
		return -1
	}
	return s.cpu
}

// client returns this process's CPU since the start and per op (zero when
// unknown).
func (p *procWatch) client(ops int64) (cpu, perOp time.Duration) {
	now := selfCPU()
	if p.self < 0 || now < 0 {
		return 0, 0
	}
	cpu = now - p.self
	if ops > 0 {
		perOp = cpu / time.Duration(ops)
	}
	return cpu, perOp
}

func startProcWatch(pids []int) (*procWatch, error) {
	if len(pids) == 0 {
		return &procWatch{self: selfCPU()}, nil
	}
	s, err := readProcs(pids)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadConfig, err)
	}
	return &procWatch{pids: pids, before: s, self: selfCPU()}, nil
}

// stop returns the stats over ops operations; nil without pids or when a
// process is gone.
func (p *procWatch) stop(ops int64) *ProcessStats {
	if len(p.pids) == 0 {
		return nil
	}
	after, err := readProcs(p.pids)
	if err != nil {
		return nil
	}
	return processStats(p.pids, p.before, after, ops)
}

// writeAPIText prints the API workloads' section of the text report.
func writeAPIText(p func(string, ...any), a *APIStats) {
	p("\nAPI: %s, namespace %s, %s", a.Server, a.Namespace, a.ContentType)
	if a.Objects > 0 {
		p(", %d pods preloaded in %.1fs", a.Objects, a.Preload.Seconds())
	}
	if a.ListItems > 0 {
		p(", %d pods per list", a.ListItems)
	}
	p("\n")
	if ps := a.Process; ps != nil {
		p("  server pid %s: RSS %.1f MiB before, %.1f MiB after (peak %.1f MiB); CPU %.2fs, %s per request\n",
			joinInts(ps.PIDs), mib(ps.RSSBefore), mib(ps.RSSAfter), mib(ps.Peak), ps.CPU.Seconds(), fmtLatency(ps.CPUPerOp))
	}
	if a.ClientCPU > 0 {
		p("  client (this process): CPU %.2fs, %s per request\n", a.ClientCPU.Seconds(), fmtLatency(a.ClientCPUPerOp))
	}
	if a.CleanupError != "" {
		p("  cleanup: %s\n", a.CleanupError)
	}
}

// jsonAPI is the "api" object of the JSON report.
type jsonAPI struct {
	Server      string       `json:"server"`
	Namespace   string       `json:"namespace"`
	ContentType string       `json:"content_type"`
	Objects     int          `json:"objects"`
	PreloadS    float64      `json:"preload_s"`
	ListItems   int          `json:"list_items"`
	Process     *jsonProcess `json:"process,omitempty"`
	ClientCPUS  float64      `json:"client_cpu_s"`
	ClientCPUMS float64      `json:"client_cpu_per_request_ms"`
	Cleanup     string       `json:"cleanup_error,omitempty"`
}

type jsonProcess struct {
	PIDs       []int   `json:"pids"`
	RSSBefore  int64   `json:"rss_before_bytes"`
	RSSAfter   int64   `json:"rss_after_bytes"`
	Peak       int64   `json:"rss_peak_bytes"`
	CPUS       float64 `json:"cpu_s"`
	CPUPerOpMS float64 `json:"cpu_per_request_ms"`
}

func toJSONAPI(a *APIStats) *jsonAPI {
	j := &jsonAPI{Server: a.Server, Namespace: a.Namespace, ContentType: a.ContentType, Objects: a.Objects,
		PreloadS: a.Preload.Seconds(), ListItems: a.ListItems, Cleanup: a.CleanupError,
		ClientCPUS: a.ClientCPU.Seconds(), ClientCPUMS: ms(a.ClientCPUPerOp)}
	if ps := a.Process; ps != nil {
		j.Process = &jsonProcess{PIDs: ps.PIDs, RSSBefore: ps.RSSBefore, RSSAfter: ps.RSSAfter, Peak: ps.Peak,
			CPUS: ps.CPU.Seconds(), CPUPerOpMS: ms(ps.CPUPerOp)}
	}
	return j
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, "+")
}
