package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The memory side of the pods workload: which processes of the machine
// belong to the run (those whose command line names its work directory),
// what kind each is, and how much memory each holds.

// procKind is what a process of the pods run is.
type procKind string

const (
	kindAgent      procKind = "agent"      // kelson agent
	kindServer     procKind = "server"     // kelson server --disable-agent
	kindContainerd procKind = "containerd" // the agent's containerd child
	kindShim       procKind = "shim"       // containerd-shim-runc-v2, one per container
	kindLogDriver  procKind = "logdriver"  // kelson container-log-driver, one per container
)

// classifyProc says what a process is from its PID and command line
// (argv): "" when it is not one of the run's. dir is the run's work
// directory, which every one of its processes names in its arguments.
func classifyProc(pid int, argv []string, dir string, agentPID, serverPID int) procKind {
	switch pid {
	case agentPID:
		return kindAgent
	case serverPID:
		return kindServer
	}
	if len(argv) == 0 || dir == "" {
		return ""
	}
	ours := false
	for _, a := range argv[1:] {
		if a == dir || strings.HasPrefix(a, dir+"/") {
			ours = true
			break
		}
	}
	if !ours {
		return ""
	}
	base := filepath.Base(argv[0])
	switch {
	case strings.HasPrefix(base, "containerd-shim"):
		return kindShim
	case base == "containerd":
		return kindContainerd
	case len(argv) > 1 && argv[1] == "container-log-driver":
		return kindLogDriver
	}
	return ""
}

// procMem is one process's memory, bytes.
type procMem struct {
	// RSS and Peak: VmRSS and VmHWM of /proc/PID/status; Anon: RssAnon,
	// the part of RSS that is not files mapped (such as the binary).
	RSS, Peak, Anon int64
	// PSS: the proportional set size (shared pages divided among their
	// sharers); Private: pages no other process maps. From smaps_rollup.
	PSS, Private int64
}

// parseSmapsRollup reads Pss and Private_Clean + Private_Dirty of a
// /proc/PID/smaps_rollup, bytes.
func parseSmapsRollup(s string) (pss, private int64, err error) {
	found := false
	for _, line := range strings.Split(s, "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var dst *int64
		switch name {
		case "Pss":
			dst, found = &pss, true
		case "Private_Clean", "Private_Dirty":
			dst = &private
		default:
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("bench: smaps_rollup: %q: want a size in kB", line)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("bench: smaps_rollup: %q: %v", line, err)
		}
		*dst += n << 10
	}
	if !found {
		return 0, 0, fmt.Errorf("bench: smaps_rollup has no Pss line (kernel older than 4.14?)")
	}
	return pss, private, nil
}

// statusKB is the size of field name of a /proc/PID/status, bytes; 0
// when it is missing.
func statusKB(s, name string) int64 {
	for _, line := range strings.Split(s, "\n") {
		n, rest, ok := strings.Cut(line, ":")
		if !ok || n != name {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0
		}
		return v << 10
	}
	return 0
}

// readProcMem reads one process's memory from /proc.
func readProcMem(pid int) (procMem, error) {
	dir := "/proc/" + strconv.Itoa(pid)
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return procMem{}, fmt.Errorf("bench: process %d: %w", pid, err)
	}
	var m procMem
	if m.RSS, m.Peak, err = parseProcStatus(string(status)); err != nil {
		return m, err
	}
	m.Anon = statusKB(string(status), "RssAnon")
	rollup, err := os.ReadFile(dir + "/smaps_rollup")
	if err != nil {
		return m, fmt.Errorf("bench: process %d: %w", pid, err)
	}
	m.PSS, m.Private, err = parseSmapsRollup(string(rollup))
	return m, err
}

// ProcGroup is the memory of the processes of one kind, summed, bytes.
type ProcGroup struct {
	Count   int   `json:"count"`
	RSS     int64 `json:"rss_bytes"`
	Anon    int64 `json:"rss_anon_bytes"`
	Peak    int64 `json:"rss_peak_bytes"`
	PSS     int64 `json:"pss_bytes"`
	Private int64 `json:"private_bytes"`
}

func (g *ProcGroup) add(m procMem) {
	g.Count++
	g.RSS += m.RSS
	g.Anon += m.Anon
	g.Peak += m.Peak
	g.PSS += m.PSS
	g.Private += m.Private
}

// procArgv is the command line of process pid (nil when it is gone or a
// kernel thread).
func procArgv(pid int) []string {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(raw) == 0 {
		return nil
	}
	return strings.Split(string(bytes.TrimRight(raw, "\x00")), "\x00")
}

// allPIDs lists the processes of the machine.
func allPIDs() []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// runPIDs lists the run's processes of one kind.
func runPIDs(dir string, agentPID, serverPID int, kind procKind) []int {
	var out []int
	for _, pid := range allPIDs() {
		if classifyProc(pid, procArgv(pid), dir, agentPID, serverPID) == kind {
			out = append(out, pid)
		}
	}
	return out
}

// scanRunProcs reads the memory of every process of the run, by kind.
// Processes that vanish while they are read are skipped.
func scanRunProcs(dir string, agentPID, serverPID int) map[procKind]*ProcGroup {
	out := map[procKind]*ProcGroup{}
	for _, pid := range allPIDs() {
		kind := classifyProc(pid, procArgv(pid), dir, agentPID, serverPID)
		if kind == "" {
			continue
		}
		m, err := readProcMem(pid)
		if err != nil {
			continue
		}
		g := out[kind]
		if g == nil {
			g = &ProcGroup{}
			out[kind] = g
		}
		g.add(m)
	}
	return out
}
