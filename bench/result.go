package bench

import "time"

// Result is what a workload's Run returns: the headline numbers over its
// primary operations (requests, or delivered events for the watch
// workloads), per-kind digests, a timeline and the latency histogram.
type Result struct {
	// Workload is the name: "put", "range", "txn-put", "txn-mixed",
	// "watch", "watch-latency", "lease-churn", "k8s-mix", "compact",
	// "ready", or one of the API workloads' "api-create", "api-get",
	// "api-list", "api-watch", "api-mix".
	Workload string
	// Config is the workload's Config with its defaults filled in (the
	// seed used included).
	Config any
	// Endpoints are the endpoints the run used (the leader's alone with
	// TargetLeader).
	Endpoints []string
	// Start is when the measured phase began; Duration is how long it ran.
	Start    time.Time
	Duration time.Duration
	// Unit says what Ops counts: "requests", "events" (watch workloads) or
	// "cycles" (lease-churn).
	Unit string
	// Ops is the number of successful primary operations; Errors the
	// number of failed operations of any kind (and of watches cancelled).
	Ops, Errors int64
	// Throughput is Ops per second of Duration.
	Throughput float64
	// Latency digests the latencies of the successful primary operations.
	Latency Summary
	// Histogram holds those latencies.
	Histogram *Histogram
	// Timeline: the primary operations by completion time, in windows.
	Timeline []Window
	// Kinds: per-kind counts and latencies (e.g. read and write of
	// txn-mixed; event and put of watch).
	Kinds []KindStats
	// Counters are workload-specific counts (e.g. "update_conflicts").
	Counters map[string]int64
	// TopErrors are the most frequent error messages, most frequent first.
	TopErrors []ErrorCount
	// Watch is set by the watch workloads.
	Watch *WatchStats
	// Compact is set by the compact workload, Ready by the ready workload.
	Compact *CompactStats
	Ready   *ReadyStats
	// API is set by the Kubernetes API workloads (api-create, api-get,
	// api-list, api-watch, api-mix).
	API *APIStats
	// Interrupted is set when the context was cancelled before the run
	// finished: the numbers cover what ran.
	Interrupted bool
}

// KindStats digests the samples of one kind.
type KindStats struct {
	Name        string
	Primary     bool
	Ops, Errors int64
	Latency     Summary
}

// Window is one interval of the timeline, from Start (an offset from
// Result.Start) for Width: the primary operations completing in it.
type Window struct {
	Start, Width  time.Duration
	Ops, Errors   int64
	P50, P99, Max time.Duration
}

// ErrorCount is an error message and how often it occurred.
type ErrorCount struct {
	Message string
	Count   int64
}
