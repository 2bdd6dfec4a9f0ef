package bench

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// WritePodsText prints the pods workload's report: the latency table, the
// memory table, and the figures against the goals of the node agent's
// issue (p99 create → Running ≤ 1 s, Kubernetes' SLO 5 s; agent RSS ≤ 50
// MB with 30 pods).
func WritePodsText(w io.Writer, r *PodsResult) error {
	c := r.Config
	fmt.Fprintf(w, "Pods on one node: kelson server --disable-agent + kelson agent (containerd, runc) in network namespaces of the run\n")
	fmt.Fprintf(w, "image %s imported, not pulled; setup %v\n\n", "docker.io/library/httpd:latest", r.Setup.Round(100*time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\t\tn\tp50\tp90\tp99\tmax\t")
	row := func(group, what string, n int, q Quantiles) {
		r := func(d time.Duration) string { return fmtDur(d) }
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t\n", group, what, n, r(q.P50), r(q.P90), r(q.P99), r(q.Max))
	}
	if s := r.Single; s != nil {
		row("one pod at a time", "create → scheduled", s.Count, s.Scheduled)
		row("", "create → Running", s.Count, s.Running)
		row("", "create → Ready", s.Count, s.Ready)
		if s.Deleted != nil {
			row("", "delete → gone", s.Count, *s.Deleted)
		}
	}
	if b := r.Burst; b != nil {
		g := fmt.Sprintf("%d pods at once", b.Count)
		row(g, "create → scheduled", b.Count, b.Scheduled)
		row("", "create → Running", b.Count, b.Running)
		row("", "create → Ready", b.Count, b.Ready)
		fmt.Fprintf(tw, "\tfirst create → all Ready\t1\t%s\t\t\t\t\n", fmtDur(b.AllReady))
	}
	if s := r.Service; s != nil {
		row("ClusterIP rules", "pod Ready → answers", s.Rounds, s.FromReady)
		row("", "in EndpointSlice → answers", s.Rounds, s.FromSlice)
		row("", "create → answers", s.Rounds, s.FromCreate)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if s := r.Service; s != nil {
		fmt.Fprintf(w, "(ClusterIP polled from the node every %v, a new connection each time)\n", c.PollInterval)
	}

	if m := r.Memory; m != nil {
		fmt.Fprintf(w, "\nMemory with %d pods running\n", m.Pods)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "\tprocesses\tRSS\tanon RSS\tpeak RSS\tPss\tprivate\t")
		mrow := func(what string, g ProcGroup) {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", what, g.Count, fmtMiB(g.RSS), fmtMiB(g.Anon), fmtMiB(g.Peak), fmtMiB(g.PSS), fmtMiB(g.Private))
		}
		mrow("kelson agent", m.Agent)
		mrow("kelson agent, no pod (before the burst)", m.AgentIdle)
		mrow("containerd (the agent's)", m.Containerd)
		mrow("containerd shims", m.Shims)
		mrow("container log drivers", m.LogDrivers)
		fmt.Fprintf(tw, "per container (shim + log driver)\t\t\t\t\t%s\t\t\n", fmtMiB(m.PerContainer))
		mrow("kelson server (store, API, controllers)", m.Server)
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w, "(RSS counts the pages of the kelson binary a process maps, shared by the agent, the server and the log\n"+
			"drivers; anon RSS leaves files out; Pss divides shared pages among their sharers; private: pages of its own)")
	}

	fmt.Fprintf(w, "\nGoals (issue 11): p99 create → Running ≤ 1s (Kubernetes' SLO 5s)")
	if s := r.Single; s != nil {
		fmt.Fprintf(w, "; one pod: %s", fmtDur(s.Running.P99))
	}
	if b := r.Burst; b != nil {
		fmt.Fprintf(w, "; %d at once: %s", b.Count, fmtDur(b.Running.P99))
	}
	fmt.Fprintln(w)
	if m := r.Memory; m != nil {
		fmt.Fprintf(w, "  agent RSS with %d pods ≤ 50 MB (k3s's agent ~275 MB): %.1f MB\n", m.Pods, float64(m.Agent.RSS)/1e6)
	}
	for _, l := range r.Leftover {
		fmt.Fprintf(w, "clean-up left: %s\n", l)
	}
	return nil
}

// fmtDur rounds a latency for the table: to the millisecond.
func fmtDur(d time.Duration) string {
	return d.Round(time.Millisecond).String()
}

func fmtMiB(b int64) string { return fmt.Sprintf("%.1f MiB", mib(b)) }
