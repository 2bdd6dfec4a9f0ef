package histogram

import (
	"math"
	"sort"
	"sync/atomic"
	"time"
)

// Histogram counts observations in fixed buckets. Safe for concurrent use;
// Observe never blocks or allocates.
type Histogram struct {
	bounds  []float64
	counts  []atomic.Uint64 // len(bounds)+1, the last is +Inf
	count   atomic.Uint64
	sumBits atomic.Uint64 // float64 bits of the sum
}

// New returns a histogram with the given upper bounds, which must be sorted
// ascending (they are copied; unsorted bounds are sorted).
func New(bounds []float64) *Histogram {
	b := append([]float64(nil), bounds...)
	sort.Float64s(b)
	return &Histogram{bounds: b, counts: make([]atomic.Uint64, len(b)+1)}
}

// ExponentialBuckets returns count bounds start, start*factor, ... as
// Prometheus's function of the same name.
func ExponentialBuckets(start, factor float64, count int) []float64 {
	out := make([]float64, count)
	for i := range out {
		out[i] = start
		start *= factor
	}
	return out
}

// Observe records v.
func (h *Histogram) Observe(v float64) {
	i := sort.SearchFloat64s(h.bounds, v) // first bound >= v
	h.counts[i].Add(1)
	h.count.Add(1)
	for {
		old := h.sumBits.Load()
		if h.sumBits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// ObserveDuration records d in seconds.
func (h *Histogram) ObserveDuration(d time.Duration) { h.Observe(d.Seconds()) }

// Snapshot is a histogram's state at one moment.
type Snapshot struct {
	// Bounds are the buckets' upper bounds (the +Inf bucket is implicit).
	Bounds []float64
	// Counts has len(Bounds)+1 entries: observations per bucket, the last
	// one those above every bound. Not cumulative.
	Counts []uint64
	// Count and Sum are the number and the sum of all observations.
	Count uint64
	Sum   float64
}

// Snapshot returns the current state. Bounds are shared with the
// histogram and must not be modified.
func (h *Histogram) Snapshot() Snapshot {
	s := Snapshot{Bounds: h.bounds, Counts: make([]uint64, len(h.counts))}
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
	}
	s.Count = h.count.Load()
	s.Sum = math.Float64frombits(h.sumBits.Load())
	return s
}

// Cumulative returns, per bound, the observations <= it (Prometheus's
// buckets, without +Inf, whose count is Count).
func (s Snapshot) Cumulative() map[float64]uint64 {
	out := make(map[float64]uint64, len(s.Bounds))
	var acc uint64
	for i, b := range s.Bounds {
		acc += s.Counts[i]
		out[b] = acc
	}
	return out
}
