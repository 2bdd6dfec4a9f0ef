// Package histogram is a fixed-bucket histogram that many goroutines
// record into without locks, and whose Snapshot is a plain value: the
// instruments behind a member's Metrics() (raft log fsyncs, store commits,
// peer round trips), exposed as Prometheus histograms only at the edge.
//
// # Model
//
// A Histogram has sorted upper bounds b0 < b1 < ... < bn-1 and one counter
// per bound plus one for +Inf. Observe(v) adds one to the first bucket whose
// bound is >= v (Prometheus's "le" rule), adds v to the sum and one to the
// count. Counts in a Snapshot are per bucket, not cumulative; Cumulative
// turns them into Prometheus's form.
//
// Invariants: a Snapshot's Count equals the sum of its Counts when no
// Observe ran concurrently (under concurrency they may differ by the
// observations in flight; Prometheus tolerates that). The zero Histogram
// is not usable: make one with New.
//
// # Example
//
//	h := histogram.New(histogram.ExponentialBuckets(0.001, 2, 14))
//	start := time.Now()
//	fsync()
//	h.ObserveDuration(time.Since(start))
//	s := h.Snapshot() // s.Bounds, s.Counts, s.Count, s.Sum
package histogram
