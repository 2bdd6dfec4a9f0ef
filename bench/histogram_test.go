package bench

import (
	"flag"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var seedFlag = flag.Uint64("seed", 0, "seed of the randomized tests (0: from the clock)")

// testSeed returns the seed of a randomized test and logs it, so a failure
// can be replayed with go test ./bench -run NAME -args -seed=N.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	s := *seedFlag
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay: go test ./bench -run '^%s$' -args -seed=%d)", s, t.Name(), s)
	return s
}

func TestBucketBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 1))
	check := func(v int64) {
		b := bucketOf(v)
		lo, hi := bucketBounds(b)
		if v < lo || v > hi {
			t.Fatalf("value %d in bucket %d [%d, %d]", v, b, lo, hi)
		}
		if bucketOf(lo) != b || bucketOf(hi) != b {
			t.Fatalf("bucket %d [%d, %d]: bounds map to %d and %d", b, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if hi < math.MaxInt64 && bucketOf(hi+1) != b+1 {
			t.Fatalf("bucket %d ends at %d but %d is in bucket %d", b, hi, hi+1, bucketOf(hi+1))
		}
		if lo >= subCount && float64(hi-lo+1) > float64(lo)/subCount {
			t.Fatalf("bucket %d [%d, %d] is wider than 1/%d of its lower bound", b, lo, hi, subCount)
		}
	}
	for v := int64(0); v < 4*subCount; v++ {
		check(v)
	}
	for e := 0; e < 63; e++ {
		p := int64(1) << e
		check(p)
		check(p - 1)
		check(p + 1)
	}
	check(math.MaxInt64)
	for i := 0; i < 100000; i++ {
		check(rng.Int64N(1 << uint(rng.IntN(62)+1)))
	}
}

// TestRank checks the nearest rank on the products that floating point
// gets wrong without care (99.9% of 1000 is 999.0000000000001).
func TestRank(t *testing.T) {
	for _, c := range []struct {
		q    float64
		n    uint64
		want uint64
	}{
		{50, 1, 1}, {0, 10, 1}, {100, 10, 10}, {50, 10, 5}, {50, 11, 6},
		{90, 10, 9}, {99, 100, 99}, {99, 101, 100}, {99.9, 1000, 999}, {99.9, 1001, 1000},
		{99.9, 10000, 9990}, {99.99, 10000, 9999}, {0.1, 1000, 1},
	} {
		if got := rank(c.q, c.n); got != c.want {
			t.Errorf("rank(%g, %d) = %d, want %d", c.q, c.n, got, c.want)
		}
	}
}

// TestHistogramAgainstSort compares every statistic with a reference that
// sorts the samples, on random samples from several distributions.
func TestHistogramAgainstSort(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 2))
	dists := map[string]func() int64{
		"tiny":        func() int64 { return rng.Int64N(300) },
		"uniform-ms":  func() int64 { return rng.Int64N(int64(50 * time.Millisecond)) },
		"exponential": func() int64 { return int64(rng.ExpFloat64() * float64(2*time.Millisecond)) },
		"lognormal":   func() int64 { return int64(math.Exp(rng.NormFloat64()*1.5) * float64(time.Millisecond)) },
		"bimodal": func() int64 {
			if rng.IntN(100) < 3 {
				return int64(200*time.Millisecond) + rng.Int64N(int64(time.Second))
			}
			return int64(500*time.Microsecond) + rng.Int64N(int64(time.Millisecond))
		},
		"constant": func() int64 { return int64(1234567) },
	}
	// Percentiles as exact fractions num/den: the reference rank is
	// ceil(n*num/den) in integers.
	fracs := [][2]uint64{{0, 1}, {1, 100}, {1, 4}, {1, 2}, {9, 10}, {99, 100}, {999, 1000}, {9999, 10000}, {1, 1}}
	for name, draw := range dists {
		for _, n := range []int{1, 2, 7, 100, 1000, 1001, 20000 + rng.IntN(5000)} {
			samples := make([]int64, n)
			var h Histogram
			var sum float64
			for i := range samples {
				samples[i] = draw()
				sum += float64(samples[i])
				h.Record(time.Duration(samples[i]))
			}
			sorted := slices.Clone(samples)
			slices.Sort(sorted)
			if h.Count() != int64(n) || int64(h.Min()) != sorted[0] || int64(h.Max()) != sorted[n-1] {
				t.Fatalf("%s n=%d seed %d: count/min/max %d/%d/%d, want %d/%d/%d", name, n, seed,
					h.Count(), h.Min(), h.Max(), n, sorted[0], sorted[n-1])
			}
			if mean := sum / float64(n); math.Abs(float64(h.Mean())-mean) > 1+mean*1e-9 {
				t.Fatalf("%s n=%d seed %d: mean %v, want %v", name, n, seed, h.Mean(), mean)
			}
			var sq float64
			for _, v := range samples {
				d := float64(v) - sum/float64(n)
				sq += d * d
			}
			if sd := math.Sqrt(sq / float64(n)); math.Abs(float64(h.Stddev())-sd) > 1+sd*1e-6 {
				t.Fatalf("%s n=%d seed %d: stddev %v, want %v", name, n, seed, h.Stddev(), sd)
			}
			for _, f := range fracs {
				r := max((uint64(n)*f[0]+f[1]-1)/f[1], 1)
				want := sorted[r-1]
				q := 100 * float64(f[0]) / float64(f[1])
				got := int64(h.Percentile(q))
				lo, hi := bucketBounds(bucketOf(want))
				if got < want || got > hi || got > sorted[n-1] {
					t.Fatalf("%s n=%d seed %d: p%g = %d, want %d (bucket [%d, %d], max %d)",
						name, n, seed, q, got, want, lo, hi, sorted[n-1])
				}
				if float64(got-want) > float64(want)/subCount {
					t.Fatalf("%s n=%d seed %d: p%g = %d is more than 1/%d above %d", name, n, seed, q, got, subCount, want)
				}
			}
		}
	}
}

func TestHistogramMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 3))
	var whole, a, b Histogram
	for i := 0; i < 5000; i++ {
		d := time.Duration(rng.ExpFloat64() * float64(time.Millisecond))
		whole.Record(d)
		if rng.IntN(2) == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	var m Histogram
	m.Merge(&a)
	m.Merge(&b)
	m.Merge(nil)
	m.Merge(&Histogram{})
	ws, ms := whole.Summary(), m.Summary()
	ws.Mean, ms.Mean, ws.Stddev, ms.Stddev = 0, 0, 0, 0 // summed in another order
	if ws != ms {
		t.Fatalf("merged summary %+v, want %+v", ms, ws)
	}
	if math.Abs(float64(whole.Mean()-m.Mean())) > 1 {
		t.Fatalf("merged mean %v, want %v", m.Mean(), whole.Mean())
	}
	var n int64
	for _, bk := range m.Buckets() {
		n += bk.Count
	}
	if n != whole.Count() {
		t.Fatalf("buckets hold %d samples, want %d", n, whole.Count())
	}
}

func TestHistogramEmptyAndNegative(t *testing.T) {
	var h Histogram
	if s := h.Summary(); s != (Summary{}) {
		t.Fatalf("empty summary %+v", s)
	}
	h.Record(-time.Second)
	if h.Min() != 0 || h.Max() != 0 || h.Percentile(50) != 0 || h.Count() != 1 {
		t.Fatalf("negative sample not counted as zero: %+v", h.Summary())
	}
}
