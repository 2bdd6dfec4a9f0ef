package histogram

import (
	"sync"
	"testing"
	"time"
)

func TestObserveBuckets(t *testing.T) {
	h := New([]float64{1, 2, 4})
	for _, v := range []float64{0.5, 1, 1.5, 4, 5, 100} {
		h.Observe(v)
	}
	s := h.Snapshot()
	want := []uint64{2, 1, 1, 2} // <=1: 0.5,1; <=2: 1.5; <=4: 4; +Inf: 5,100
	for i := range want {
		if s.Counts[i] != want[i] {
			t.Fatalf("counts %v, want %v", s.Counts, want)
		}
	}
	if s.Count != 6 || s.Sum != 112 {
		t.Fatalf("count %d sum %v, want 6 112", s.Count, s.Sum)
	}
	c := s.Cumulative()
	if c[1] != 2 || c[2] != 3 || c[4] != 4 {
		t.Fatalf("cumulative %v", c)
	}
}

func TestExponentialBuckets(t *testing.T) {
	b := ExponentialBuckets(0.001, 2, 3)
	if len(b) != 3 || b[0] != 0.001 || b[1] != 0.002 || b[2] != 0.004 {
		t.Fatalf("%v", b)
	}
}

func TestConcurrentObserve(t *testing.T) {
	h := New(ExponentialBuckets(0.001, 2, 14))
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				h.ObserveDuration(time.Millisecond)
			}
		}()
	}
	wg.Wait()
	s := h.Snapshot()
	var sum uint64
	for _, c := range s.Counts {
		sum += c
	}
	if s.Count != 8000 || sum != 8000 {
		t.Fatalf("count %d, bucket sum %d, want 8000", s.Count, sum)
	}
	if s.Sum < 7.99 || s.Sum > 8.01 {
		t.Fatalf("sum %v, want 8", s.Sum)
	}
}
