package bench

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// kind is one kind of sample a workload records ("put", "read", "event").
// Primary kinds make the headline numbers of a Result (throughput, latency,
// timeline); the others are reported per kind only.
type kind struct {
	name    string
	primary bool
}

// recorder collects the samples of one run. Each goroutine that measures
// records into its own series (no lock on the hot path); the recorder
// gathers them once the run is over. Samples are kept whole — 24 bytes
// each, a million events take 24 MB — so the timeline and the histograms
// are exact functions of them.
type recorder struct {
	start time.Time // offsets of samples are from here
	kinds []kind

	counters map[string]*atomic.Int64 // fixed at creation; values atomic

	mu     sync.Mutex
	series []*series // guarded by mu
}

type sample struct {
	at     int64 // completion, ns since recorder.start
	lat    int64 // ns
	kind   uint8
	failed bool
}

// series is one goroutine's samples and error messages. Not safe for
// concurrent use.
type series struct {
	rec     *recorder
	samples []sample
	errs    map[string]int64
}

func newRecorder(start time.Time, kinds []kind, counters ...string) *recorder {
	r := &recorder{start: start, kinds: kinds, counters: map[string]*atomic.Int64{}}
	for _, c := range counters {
		r.counters[c] = new(atomic.Int64)
	}
	return r
}

// newSeries returns a series owned by the calling goroutine.
func (r *recorder) newSeries() *series {
	s := &series{rec: r}
	r.mu.Lock()
	r.series = append(r.series, s)
	r.mu.Unlock()
	return s
}

// count adds n to the named counter, which must have been declared.
func (r *recorder) count(name string, n int64) { r.counters[name].Add(n) }

// observe records an operation of kind k that began at began and ended now.
func (s *series) observe(k uint8, began time.Time, err error) {
	now := time.Now()
	s.observeAt(k, now.Sub(s.rec.start), now.Sub(began), err)
}

// observeAt records a sample completed at offset at with latency lat.
func (s *series) observeAt(k uint8, at, lat time.Duration, err error) {
	s.samples = append(s.samples, sample{at: int64(at), lat: int64(lat), kind: k, failed: err != nil})
	if err != nil {
		s.fail(err)
	}
}

// observeFailedAt records a failed sample without counting its error
// message again (one already counted for a step of the same operation).
func (s *series) observeFailedAt(k uint8, at, lat time.Duration) {
	s.samples = append(s.samples, sample{at: int64(at), lat: int64(lat), kind: k, failed: true})
}

// fail counts an error that is not tied to a sample (a watch cancelled).
func (s *series) fail(err error) {
	if s.errs == nil {
		s.errs = map[string]int64{}
	}
	s.errs[errorMessage(err)]++
}

// errorMessage shortens an error to one line of at most 200 bytes so that
// like errors are counted together.
func errorMessage(err error) string {
	m := err.Error()
	if i := strings.IndexByte(m, '\n'); i >= 0 {
		m = m[:i]
	}
	if len(m) > 200 {
		m = m[:200] + "..."
	}
	return m
}

// result digests the samples of the run measured from begin to end
// (offsets from r.start) into a Result.
func (r *recorder) result(workload, unit string, begin, end time.Duration) *Result {
	r.mu.Lock()
	all := r.series
	r.mu.Unlock()

	res := &Result{Workload: workload, Unit: unit, Start: r.start.Add(begin), Duration: end - begin, Histogram: &Histogram{}}
	perKind := make([]KindStats, len(r.kinds))
	hists := make([]Histogram, len(r.kinds))
	var primary []sample
	errs := map[string]int64{}
	for _, s := range all {
		for _, sm := range s.samples {
			k := &perKind[sm.kind]
			if sm.failed {
				k.Errors++
				if r.kinds[sm.kind].primary {
					primary = append(primary, sm)
				}
				continue
			}
			k.Ops++
			hists[sm.kind].Record(time.Duration(sm.lat))
			if r.kinds[sm.kind].primary {
				res.Histogram.Record(time.Duration(sm.lat))
				primary = append(primary, sm)
			}
		}
		for m, n := range s.errs {
			errs[m] += n
			res.Errors += n
		}
	}
	for i, k := range r.kinds {
		perKind[i].Name = k.name
		perKind[i].Primary = k.primary
		perKind[i].Latency = hists[i].Summary()
		if k.primary {
			res.Ops += perKind[i].Ops
		}
	}
	res.Kinds = perKind
	res.Latency = res.Histogram.Summary()
	if res.Duration > 0 {
		res.Throughput = float64(res.Ops) / res.Duration.Seconds()
	}
	for m, n := range errs {
		res.TopErrors = append(res.TopErrors, ErrorCount{Message: m, Count: n})
	}
	slices.SortFunc(res.TopErrors, func(a, b ErrorCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Message, b.Message))
	})
	if len(res.TopErrors) > 10 {
		res.TopErrors = res.TopErrors[:10]
	}
	if len(r.counters) > 0 {
		res.Counters = map[string]int64{}
		for name, c := range r.counters {
			res.Counters[name] = c.Load()
		}
	}
	res.Timeline = timeline(primary, begin, end)
	return res
}

// timelineWidths are the window widths a timeline may use: 1, 2, 5 times a
// power of ten, from 1 ms.
var timelineWidths = func() []time.Duration {
	var w []time.Duration
	for d := time.Millisecond; d <= time.Hour; d *= 10 {
		w = append(w, d, 2*d, 5*d)
	}
	return w
}()

// timeline buckets samples by completion time into at most ~100 windows of
// a round width and digests each window exactly.
func timeline(samples []sample, begin, end time.Duration) []Window {
	if len(samples) == 0 || end <= begin {
		return nil
	}
	span := end - begin
	width := timelineWidths[len(timelineWidths)-1]
	for _, w := range timelineWidths {
		if span/w <= 100 {
			width = w
			break
		}
	}
	slices.SortFunc(samples, func(a, b sample) int { return cmp.Compare(a.at, b.at) })
	n := int((span + width - 1) / width)
	out := make([]Window, n)
	var lats []int64
	i := 0
	for w := range out {
		out[w].Start = time.Duration(w) * width
		out[w].Width = width
		lo, hi := begin+time.Duration(w)*width, begin+time.Duration(w+1)*width
		if w == n-1 {
			hi = end + 1 // the last window takes samples completing at end
		}
		for i < len(samples) && time.Duration(samples[i].at) < lo {
			i++ // before begin: not measured
		}
		lats = lats[:0]
		for ; i < len(samples) && time.Duration(samples[i].at) < hi; i++ {
			if samples[i].failed {
				out[w].Errors++
				continue
			}
			lats = append(lats, samples[i].lat)
		}
		out[w].Ops = int64(len(lats))
		if len(lats) > 0 {
			slices.Sort(lats)
			out[w].P50 = time.Duration(lats[rank(50, uint64(len(lats)))-1])
			out[w].P99 = time.Duration(lats[rank(99, uint64(len(lats)))-1])
			out[w].Max = time.Duration(lats[len(lats)-1])
		}
	}
	return out
}
