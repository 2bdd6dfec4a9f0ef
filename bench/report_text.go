package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// fmtLatency prints a latency with about three significant digits, in
// milliseconds below 10 s: 0.0412ms, 0.412ms, 4.12ms, 41.2ms, 412ms,
// 4120ms, 41.2s.
func fmtLatency(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms == 0:
		return "0ms"
	case ms < 0.1:
		return fmt.Sprintf("%.4fms", ms)
	case ms < 1:
		return fmt.Sprintf("%.3fms", ms)
	case ms < 10:
		return fmt.Sprintf("%.2fms", ms)
	case ms < 100:
		return fmt.Sprintf("%.1fms", ms)
	case ms < 10000:
		return fmt.Sprintf("%.0fms", ms)
	}
	return fmt.Sprintf("%.1fs", ms/1000)
}

// WriteText writes a human-readable report of r: summary, per-kind table,
// watch checks, counters, errors and a text histogram of the latencies.
func WriteText(w io.Writer, r *Result) error {
	ew := &errWriter{w: w}
	p := ew.printf
	p("%s", r.Workload)
	if len(r.Endpoints) > 0 {
		p(" against %s", strings.Join(r.Endpoints, ","))
	}
	if r.Interrupted {
		p(" (interrupted: partial numbers)")
	}
	p("\n\nSummary:\n")
	p("  Total:       %d %s, %d errors\n", r.Ops, r.Unit, r.Errors)
	p("  Duration:    %.3fs\n", r.Duration.Seconds())
	p("  Throughput:  %.1f %s/s\n", r.Throughput, r.Unit)
	l := r.Latency
	p("  Latency:     mean %s  stddev %s  min %s\n", fmtLatency(l.Mean), fmtLatency(l.Stddev), fmtLatency(l.Min))
	p("               p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n",
		fmtLatency(l.P50), fmtLatency(l.P90), fmtLatency(l.P99), fmtLatency(l.P999), fmtLatency(l.Max))

	if len(r.Kinds) > 1 {
		p("\nBy kind:\n  %-10s %10s %8s %10s %10s %10s %10s\n", "kind", "ops", "errors", "p50", "p90", "p99", "max")
		for _, k := range r.Kinds {
			p("  %-10s %10d %8d %10s %10s %10s %10s\n", k.Name, k.Ops, k.Errors,
				fmtLatency(k.Latency.P50), fmtLatency(k.Latency.P90), fmtLatency(k.Latency.P99), fmtLatency(k.Latency.Max))
		}
	}

	if ws := r.Watch; ws != nil {
		p("\nWatch: %d watchers over %d streams, %d puts; %d of %d events received; watchers created in %.3fs\n",
			ws.Watchers, ws.Streams, ws.Puts, ws.Received, ws.Expected, ws.Setup.Seconds())
		switch {
		case r.Interrupted:
			p("  delivery check: skipped (interrupted)\n")
		case ws.ViolationCount() == 0:
			p("  delivery check: every watcher got every event once, in order\n")
		default:
			p("  delivery check: %d VIOLATIONS:", ws.ViolationCount())
			for _, k := range []ViolationKind{Missing, Duplicate, Reordered, Unexpected} {
				if n := ws.Violations[k.String()]; n > 0 {
					p(" %s %d", k, n)
				}
			}
			p("\n")
			for _, v := range ws.ViolationSamples {
				p("    %s\n", v)
			}
		}
		if ws.DrainTimedOut {
			p("  the drain timeout passed before every watcher had every event\n")
		}
		if ws.Cancelled > 0 {
			p("  %d watches were ended by the member\n", ws.Cancelled)
		}
	}

	if cs := r.Compact; cs != nil {
		writeCompactText(p, cs)
	}
	if r.API != nil {
		writeAPIText(p, r.API)
	}
	if rs := r.Ready; rs != nil {
		if rs.Served {
			p("\nReady: served a linearizable read %.3fs after the start, at attempt %d\n", rs.Ready.Seconds(), rs.Attempts)
		} else {
			p("\nReady: NOT SERVING after %d attempts\n", rs.Attempts)
		}
	}

	if len(r.Counters) > 0 {
		names := make([]string, 0, len(r.Counters))
		for n := range r.Counters {
			names = append(names, n)
		}
		slices.Sort(names)
		p("\nCounters:")
		for _, n := range names {
			p(" %s=%d", n, r.Counters[n])
		}
		p("\n")
	}

	if len(r.TopErrors) > 0 {
		p("\nErrors (most frequent first):\n")
		for _, e := range r.TopErrors {
			p("  %8d  %s\n", e.Count, e.Message)
		}
	}

	if r.Histogram != nil && r.Histogram.Count() > 0 {
		p("\nLatency histogram (%s):\n", r.Unit)
		bins := displayBins(r.Histogram, 14)
		var most int64
		for _, b := range bins {
			most = max(most, b.Count)
		}
		for _, b := range bins {
			bar := 0
			if most > 0 {
				bar = int(math.Ceil(float64(b.Count) * 40 / float64(most)))
			}
			p("  %10s - %-10s %9d |%s\n", fmtLatency(b.Lo), fmtLatency(b.Hi), b.Count, strings.Repeat("∎", bar))
		}
	}
	return ew.err
}

// writeCompactText prints the compact workload's section.
func writeCompactText(p func(string, ...any), cs *CompactStats) {
	p("\nCompaction: %d keys loaded in %.1fs, %d overwritten in %.1fs; compacted to revision %d in %.3fs\n",
		cs.Keys, cs.Load.Seconds(), cs.Overwritten, cs.Overwrite.Seconds(), cs.Revision, cs.Duration.Seconds())
	if cs.Error != "" {
		p("  compaction error: %s\n", cs.Error)
	}
	p("  put p99: %s before, %s during (ratio %.2f); max during %s\n",
		fmtLatency(cs.BaselineP99), fmtLatency(cs.CompactingP99), cs.Ratio, fmtLatency(cs.CompactingMax))
	p("  reported sizes (MiB)   %12s %12s %12s %12s\n", "db before", "in use", "db after", "in use")
	for _, m := range cs.Members {
		p("  %-22s %12.1f %12.1f %12.1f %12.1f\n", m.Endpoint, mib(m.DBSizeBefore), mib(m.InUseBefore),
			mib(m.DBSizeAfter), mib(m.InUseAfter))
	}
	state := "settled"
	if cs.SettleTimedOut {
		state = "still changing"
	}
	p("  sizes %s after %.1fs\n", state, cs.Settled.Seconds())
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// displayBins regroups h's buckets into at most n bins of equal width on a
// log scale from h's minimum to its maximum. Each bucket counts in the bin
// holding its upper bound (clamped to the maximum).
func displayBins(h *Histogram, n int) []Bucket {
	lo, hi := h.Min(), h.Max()
	if lo < time.Microsecond {
		lo = min(time.Microsecond, hi)
	}
	if hi <= lo || n < 2 {
		return []Bucket{{Lo: h.Min(), Hi: hi, Count: h.Count()}}
	}
	ratio := math.Log(float64(hi) / float64(lo))
	bins := make([]Bucket, n)
	for i := range bins {
		bins[i].Lo = time.Duration(float64(lo) * math.Exp(ratio*float64(i)/float64(n)))
		bins[i].Hi = time.Duration(float64(lo) * math.Exp(ratio*float64(i+1)/float64(n)))
	}
	bins[0].Lo = h.Min()
	bins[n-1].Hi = hi
	for _, b := range h.Buckets() {
		v := min(b.Hi, hi)
		i := 0
		if v > lo {
			i = min(int(math.Log(float64(v)/float64(lo))/ratio*float64(n)), n-1)
		}
		bins[i].Count += b.Count
	}
	return bins
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}
