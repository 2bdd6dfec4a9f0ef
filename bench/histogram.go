package bench

import (
	"math"
	"math/bits"
	"time"
)

// Histogram bucket layout: values (nanoseconds) below 2^subBits have a bucket
// each; above that every power of two is split into 2^subBits equal buckets,
// so a bucket is never wider than 1/128 of its lower bound (0.78%).
//
// Worked example with subBits = 7 (128 sub-buckets):
//
//	value     bucket  range
//	0..127    0..127  exact
//	128       128     [128, 128]
//	255       255     [255, 255]
//	256, 257  256     [256, 257]    (width 2: exponent 1)
//	1000      506     [1000, 1003]          (width 4: exponent 2)
//	1 ms      1780    [999424, 1003519]     (width 4096 ns, 0.41%)
//	1 s       3054    width 4194304 ns (0.42%)
//
// A 1 s maximum needs ~3000 buckets (24 KB); the slice grows only as far as
// the largest value recorded.
const (
	subBits  = 7
	subCount = 1 << subBits
)

// Histogram counts durations in log-linear buckets with a relative error of
// at most 1/128, and keeps the exact count, sum, minimum and maximum.
//
// Percentile(q) returns the upper bound of the bucket holding the sample of
// nearest rank ceil(q/100*n), clamped to the exact maximum: it is never
// below the exact percentile and never above it by more than 1/128 of it.
//
// The zero value is an empty histogram ready to use. A Histogram is not safe
// for concurrent use; record into one per goroutine and Merge them.
type Histogram struct {
	counts []uint64
	n      uint64
	sum    float64 // nanoseconds
	sumSq  float64 // nanoseconds squared, for the standard deviation
	min    int64
	max    int64
}

// bucketOf returns the bucket index of v (v >= 0).
func bucketOf(v int64) int {
	if v < subCount {
		return int(v)
	}
	e := bits.Len64(uint64(v)) - 1 - subBits // v >> e is in [subCount, 2*subCount)
	return (e+1)<<subBits + int(v>>e) - subCount
}

// bucketBounds returns the smallest and the largest value of bucket b.
func bucketBounds(b int) (lo, hi int64) {
	if b < subCount {
		return int64(b), int64(b)
	}
	e := b>>subBits - 1
	m := int64(b&(subCount-1) + subCount)
	lo = m << e
	hi = (m+1)<<e - 1
	if hi < lo { // overflow at the very top of int64
		hi = math.MaxInt64
	}
	return lo, hi
}

// Record adds one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	b := bucketOf(v)
	if b >= len(h.counts) {
		n := make([]uint64, b+1, max(b+1, 2*len(h.counts)))
		copy(n, h.counts)
		h.counts = n
	}
	h.counts[b]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	f := float64(v)
	h.sum += f
	h.sumSq += f * f
}

// Merge adds every sample of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.n == 0 {
		return
	}
	if len(o.counts) > len(h.counts) {
		n := make([]uint64, len(o.counts))
		copy(n, h.counts)
		h.counts = n
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
	h.sumSq += o.sumSq
}

// Count is the number of recorded samples.
func (h *Histogram) Count() int64 { return int64(h.n) }

// Min is the smallest sample (0 when empty).
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Max is the largest sample (0 when empty).
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean is the exact arithmetic mean (0 when empty).
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Stddev is the population standard deviation (0 when empty).
func (h *Histogram) Stddev() time.Duration {
	if h.n == 0 {
		return 0
	}
	m := h.sum / float64(h.n)
	v := h.sumSq/float64(h.n) - m*m
	if v < 0 {
		v = 0
	}
	return time.Duration(math.Sqrt(v))
}

// rank is the 1-based nearest rank of percentile q (0..100) among n
// samples: ceil(q/100*n), at least 1 and at most n. The tiny epsilon keeps
// products such as 99.9/100*1000 (999.0000000000001 in floating point) at
// their exact rank.
func rank(q float64, n uint64) uint64 {
	if n == 0 {
		return 0
	}
	r := uint64(math.Ceil(q/100*float64(n) - 1e-9))
	return min(max(r, 1), n)
}

// Percentile returns the q-th percentile (q in 0..100) by nearest rank; see
// Histogram for its precision. 0 when empty.
func (h *Histogram) Percentile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	r := rank(q, h.n)
	var cum uint64
	for b, c := range h.counts {
		cum += c
		if cum >= r {
			_, hi := bucketBounds(b)
			return time.Duration(min(max(hi, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}

// Bucket is one non-empty bucket: Count samples in [Lo, Hi].
type Bucket struct {
	Lo, Hi time.Duration
	Count  int64
}

// Buckets returns the non-empty buckets in ascending order.
func (h *Histogram) Buckets() []Bucket {
	var out []Bucket
	for b, c := range h.counts {
		if c == 0 {
			continue
		}
		lo, hi := bucketBounds(b)
		out = append(out, Bucket{Lo: time.Duration(lo), Hi: time.Duration(hi), Count: int64(c)})
	}
	return out
}

// Summary is the usual digest of a latency distribution.
type Summary struct {
	Count                    int64
	Mean, Stddev, Min        time.Duration
	P50, P90, P99, P999, Max time.Duration
}

// Summary digests h.
func (h *Histogram) Summary() Summary {
	return Summary{
		Count: h.Count(), Mean: h.Mean(), Stddev: h.Stddev(), Min: h.Min(),
		P50: h.Percentile(50), P90: h.Percentile(90), P99: h.Percentile(99),
		P999: h.Percentile(99.9), Max: h.Max(),
	}
}
