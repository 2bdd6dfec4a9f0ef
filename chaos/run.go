package chaos

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Config configures a chaos run. Zero values mean the documented default.
type Config struct {
	// Binary is the kelson binary built with -tags chaos. Required.
	Binary string
	// Dir holds the members' data, logs and, after a violation, the
	// artifacts (history, porcupine's HTML, the fault timeline). Required.
	Dir string
	// Seed seeds every random choice (the faults' schedule, the clients'
	// operations). Goroutine scheduling still varies between runs.
	Seed uint64
	// Duration of the fault phase. Default 30s.
	Duration time.Duration
	// Faults weighs the fault kinds (see ParseFaultWeights). Default: all.
	Faults map[string]int
	// Workload sizes the clients.
	Workload WorkloadConfig
	// Extra are more `kelson store` flags. Default: a small --snapshot-count
	// so that raft snapshots and log compaction happen during the run.
	Extra []string
	// PorcupineTimeout bounds the linearizability check. Default 2m.
	PorcupineTimeout time.Duration
	// Logf logs progress. Default: discard.
	Logf func(format string, args ...any)
}

// Report is the outcome of a run.
type Report struct {
	Seed       uint64
	FaultPhase time.Duration
	Total      time.Duration

	Ops         map[string]int // by kind; "failed" counts errors
	Faults      map[string]int
	Timeline    []string
	Compactions int
	Revisions   int64 // the history's last revision
	Events      int   // events in the history

	Lin      LinStats
	RevOrder int // operations in the real-time revision check
	Acked    int // acknowledged writes checked
	Ranges   int
	// Serializable reads checked for monotonic revisions per member, and
	// those older than an earlier read because the member had restarted.
	Serializable, SerializableAfterRestart int
	Watch                                  WatchStats
	Lease                                  LeaseStats
	FinalKeys                              int
	HashKV                                 string
	Exits                                  []string
	Proxies                                []string
	CheckDuration                          time.Duration

	Violations *Violations
	Artifacts  []string
}

// Run starts a cluster, runs the workload under faults for the duration,
// heals everything, stops the workload and checks the history. A returned
// error means the harness could not run; what it found is in the report.
func Run(cfg Config) (*Report, error) {
	begin := time.Now()
	if cfg.Duration == 0 {
		cfg.Duration = 30 * time.Second
	}
	if cfg.Faults == nil {
		cfg.Faults, _ = ParseFaultWeights(defaultFaultWeights)
	}
	if cfg.Extra == nil {
		cfg.Extra = []string{"--snapshot-count", "500"}
	}
	if cfg.PorcupineTimeout == 0 {
		cfg.PorcupineTimeout = 2 * time.Minute
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	cfg.Workload.Seed = cfg.Seed
	rep := &Report{Seed: cfg.Seed, Violations: &Violations{}, Ops: map[string]int{}}
	v := rep.Violations

	ctlDir := filepath.Join(cfg.Dir, "disk")
	if err := os.MkdirAll(ctlDir, 0o755); err != nil {
		return nil, err
	}
	c, err := StartCluster(ClusterConfig{Binary: cfg.Binary, Dir: cfg.Dir, Extra: cfg.Extra, Logf: cfg.Logf,
		Disk: func(name string) string { return normalDisk(ctlDir, name) }})
	if err != nil {
		return nil, fmt.Errorf("start cluster: %w", err)
	}
	defer c.Close()
	w, err := StartWorkload(c.Endpoints(), cfg.Workload)
	if err != nil {
		return nil, fmt.Errorf("start workload: %w", err)
	}
	defer w.Close()
	nem, err := newNemesis(c, w, cfg.Seed, cfg.Faults, ctlDir, v, cfg.Logf)
	if err != nil {
		return nil, err
	}
	defer nem.cli.Close()

	time.Sleep(time.Second) // some history before the first fault
	faultStart := time.Now()
	nem.Run(faultStart.Add(cfg.Duration))
	nem.heal()
	rep.FaultPhase = time.Since(faultStart)
	cfg.Logf("fault phase over after %v; stopping the clients", rep.FaultPhase.Round(time.Millisecond))
	nem.Wait()
	w.StopClients()
	if left := w.WaitLeases(90 * time.Second); len(left) > 0 {
		v.Add("lease", "keys of revoked or expired leases still present 90s after the clients stopped: %v", left)
	}
	endRev, err := w.PutEnd(60 * time.Second)
	if err != nil {
		v.Add("liveness", "the final put failed for 60s: %v", err)
	}
	rev, err := c.SettledRevision(60 * time.Second)
	if err != nil {
		v.Add("liveness", "%v", err)
	}
	w.StopWatchers(endRev, 60*time.Second)

	checkStart := time.Now()
	rep.Faults, rep.Timeline = nem.Counts(), nem.Timeline()
	rep.Compactions = len(w.Compactions())
	ops := w.H.Ops()
	for _, op := range ops {
		rep.Ops[op.Kind.String()]++
		if op.Err != "" {
			rep.Ops["failed"]++
		}
	}
	ref := BuildReference(w.Recorder.Snapshot(), v)
	rep.Revisions, rep.Events = ref.Last, len(ref.Events)
	if rev != 0 && ref.Last < rev {
		v.Add("recorder", "the recorder stopped at revision %d; the store is at %d", ref.Last, rev)
	}
	compacted := map[int64]bool{}
	for _, cp := range w.Compactions() {
		compacted[cp.Rev] = true
	}
	restarted := func(id uint64, t1, t2 int64) bool { return c.RestartedBetween(id, w.H.At(t1), w.H.At(t2)) }
	for _, wl := range w.Watchers {
		CheckWatcher(wl.Snapshot(), wl.Name, wl.Prefix, wl.PrevKV, ref, compacted, endRev, restarted, v, &rep.Watch)
	}
	rep.Serializable, rep.SerializableAfterRestart = CheckSerializableMonotonic(ops, restarted, v)
	artDir := filepath.Join(cfg.Dir, "artifacts")
	_ = os.MkdirAll(artDir, 0o755)
	rep.Artifacts = append(rep.Artifacts, CheckLinearizable(ops, ref, cfg.PorcupineTimeout, artDir, v, &rep.Lin)...)
	rep.RevOrder = CheckRevisionOrder(ops, v)
	rep.Acked = CheckAckedWrites(ops, ref, v)
	rep.Ranges = CheckRanges(ops, ref, v)
	CheckLeases(w.Leases(), ref, v, &rep.Lease)
	if rev != 0 {
		rep.HashKV = CheckHashKV(c.Members, rev, v)
		rep.FinalKeys = CheckFinalState(c.Members, rev, ref, ops, v)
	}
	for _, m := range c.Members {
		if _, err := os.Stat(m.LogPath); err != nil {
			v.Add("harness", "%v: %s: the results of this run mean nothing", ErrWorkDirGone, m.LogPath)
		}
	}
	checkExits(c, v, rep)
	for _, m := range c.Members {
		st := m.Proxy.Stats()
		rep.Proxies = append(rep.Proxies, fmt.Sprintf("%s: %d connections (%d of unknown source), %d cut, %d MB",
			m.Name, st.Accepted, st.UnknownSource, st.Cut, st.BytesForwarded>>20))
	}
	rep.CheckDuration = time.Since(checkStart)
	rep.Total = time.Since(begin)
	if v.Total() > 0 {
		// The watchers' logs and the fault timeline, for diagnosis.
		for _, wl := range w.Watchers {
			if b, err := json.Marshal(wl.Snapshot()); err == nil {
				p := filepath.Join(artDir, wl.Name+".json")
				if os.WriteFile(p, b, 0o644) == nil {
					rep.Artifacts = append(rep.Artifacts, p)
				}
			}
		}
		p := filepath.Join(artDir, "timeline.txt")
		if os.WriteFile(p, []byte(strings.Join(rep.Timeline, "\n")+"\n"), 0o644) == nil {
			rep.Artifacts = append(rep.Artifacts, p)
		}
		p = filepath.Join(artDir, "report.txt")
		if os.WriteFile(p, []byte(rep.String()), 0o644) == nil {
			rep.Artifacts = append(rep.Artifacts, p)
		}
		for _, m := range c.Members {
			rep.Artifacts = append(rep.Artifacts, m.LogPath)
		}
	}
	return rep, nil
}

// checkExits reports members that exited without the harness's doing and
// handler panics the servers recovered from.
func checkExits(c *Cluster, v *Violations, rep *Report) {
	for _, m := range c.Members {
		for _, e := range m.Exits() {
			desc := fmt.Sprintf("%s run %d: exit %q expected=%v disk=%q panic=%v", m.Name, e.Run, e.Err, e.Expected, e.Disk, e.Panic)
			if !e.Expected {
				v.Add("crash", "%s exited on its own (run %d, %s); log tail:\n%s", m.Name, e.Run, e.Err, tailOf(runLog(m.LogPath, e.Run), 30))
			}
			if e.Expected && strings.Contains(e.Disk, "err-prob") {
				rep.Exits = append(rep.Exits, desc)
			} else if !e.Expected {
				rep.Exits = append(rep.Exits, desc)
			}
		}
		b, _ := os.ReadFile(m.LogPath)
		if n := strings.Count(string(b), "recovered from a panic"); n > 0 {
			v.Add("handler-panic", "%s logged %d recovered handler panics (see %s)", m.Name, n, m.LogPath)
		}
	}
}

func tailOf(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// String is the report as text.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d: fault phase %v, total %v (checks %v)\n", r.Seed, r.FaultPhase.Round(time.Millisecond),
		r.Total.Round(time.Millisecond), r.CheckDuration.Round(time.Millisecond))
	fmt.Fprintf(&b, "operations: %s\n", countsString(r.Ops))
	fmt.Fprintf(&b, "faults: %s\n", countsString(r.Faults))
	fmt.Fprintf(&b, "history: %d revisions, %d events, %d compactions\n", r.Revisions, r.Events, r.Compactions)
	fmt.Fprintf(&b, "linearizability: %s over %d ops (%d failed: %d applied, %d not applied, %d unresolved) in %v",
		r.Lin.Result, r.Lin.Ops, r.Lin.Failed, r.Lin.ResolvedApplied, r.Lin.ResolvedNotApplied, r.Lin.Unresolved, r.Lin.Duration.Round(time.Millisecond))
	if r.Lin.RawResult != "" {
		fmt.Fprintf(&b, " (unresolved check: %s)", r.Lin.RawResult)
	}
	fmt.Fprintf(&b, "\nrevision order: %d ops; acknowledged writes: %d; prefix reads: %d; final keys compared: %d\n",
		r.RevOrder, r.Acked, r.Ranges, r.FinalKeys)
	fmt.Fprintf(&b, "serializable reads: %d checked per member, %d at a lower revision than an earlier read because the member restarted\n",
		r.Serializable, r.SerializableAfterRestart)
	fmt.Fprintf(&b, "watch: %d watchers, %d streams, %d responses, %d events, %d progress notifications (%d lower than an event: %d from a lagging member, %d after a restart), %d resumptions after compaction, %d prevKVs compacted\n",
		r.Watch.Watchers, r.Watch.Segments, r.Watch.Responses, r.Watch.Events, r.Watch.Progress,
		r.Watch.LaggingProgress+r.Watch.LaggingProgressRestart, r.Watch.LaggingProgress, r.Watch.LaggingProgressRestart,
		r.Watch.CompactedResumes, r.Watch.PrevKVCompacted)
	fmt.Fprintf(&b, "leases: %d with keys (%d expired, %d revoked), %d reads of their keys\n", r.Lease.Leases, r.Lease.Expired, r.Lease.Revoked, r.Lease.Reads)
	fmt.Fprintf(&b, "hashkv: %s\n", r.HashKV)
	fmt.Fprintf(&b, "proxies: %s\n", strings.Join(r.Proxies, "; "))
	for _, e := range r.Exits {
		fmt.Fprintf(&b, "exit: %s\n", e)
	}
	if n := r.Violations.Total(); n > 0 {
		fmt.Fprintf(&b, "VIOLATIONS: %d\n%s", n, r.Violations)
	} else {
		b.WriteString("violations: none\n")
	}
	if len(r.Artifacts) > 0 {
		fmt.Fprintf(&b, "artifacts:\n  %s\n", strings.Join(r.Artifacts, "\n  "))
	}
	return b.String()
}

func countsString(m map[string]int) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}
