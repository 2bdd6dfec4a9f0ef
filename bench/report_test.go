package bench

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// fakeResult builds a Result from a recorder fed with random samples.
func fakeResult(t *testing.T, seed uint64) *Result {
	rng := rand.New(rand.NewPCG(seed, 5))
	start := time.Now()
	rec := newRecorder(start, []kind{{"read", true}, {"write", true}, {"aux", false}}, "things")
	for g := 0; g < 4; g++ {
		s := rec.newSeries()
		for i := 0; i < 2000; i++ {
			at := time.Duration(rng.Int64N(int64(3 * time.Second)))
			lat := time.Duration(rng.ExpFloat64() * float64(time.Millisecond))
			var err error
			if rng.IntN(100) == 0 {
				err = errors.New("etcdserver: request timed out")
			}
			s.observeAt(uint8(rng.IntN(3)), at, lat, err)
		}
	}
	rec.count("things", 3)
	res := rec.result("txn-mixed", "requests", 0, 3*time.Second)
	res.Config = TxnMixedConfig{}.withDefaults()
	res.Endpoints = []string{"127.0.0.1:2379"}
	res.Watch = &WatchStats{Watchers: 2, Streams: 1, Puts: 3, Expected: 6, Received: 5,
		Violations:       map[string]int64{"missing": 1},
		ViolationSamples: []Violation{{Watcher: 1, Kind: Missing, Rev: 12, Index: -1}}}
	return res
}

func TestResultDigest(t *testing.T) {
	res := fakeResult(t, testSeed(t))
	var ops, errs int64
	for _, k := range res.Kinds {
		if k.Primary {
			ops += k.Ops
		}
		errs += k.Errors
	}
	if ops != res.Ops || res.Ops != res.Histogram.Count() || errs != res.Errors {
		t.Fatalf("ops %d (kinds %d, histogram %d), errors %d (kinds %d)", res.Ops, ops, res.Histogram.Count(), res.Errors, errs)
	}
	var wops int64
	for i, w := range res.Timeline {
		wops += w.Ops
		if i > 0 && w.Start != res.Timeline[i-1].Start+w.Width {
			t.Fatalf("window %d starts at %v after %v+%v", i, w.Start, res.Timeline[i-1].Start, w.Width)
		}
		if w.Ops > 0 && !(w.P50 <= w.P99 && w.P99 <= w.Max) {
			t.Fatalf("window %d: p50 %v p99 %v max %v", i, w.P50, w.P99, w.Max)
		}
	}
	if wops != res.Ops {
		t.Fatalf("timeline holds %d ops, want %d", wops, res.Ops)
	}
	if len(res.Timeline) > 100 || len(res.Timeline) < 10 {
		t.Fatalf("%d timeline windows for 3s", len(res.Timeline))
	}
	if res.Counters["things"] != 3 || len(res.TopErrors) != 1 || res.TopErrors[0].Count != res.Errors {
		t.Fatalf("counters %v, errors %v", res.Counters, res.TopErrors)
	}
}

func TestWriteJSON(t *testing.T) {
	res := fakeResult(t, testSeed(t))
	var b bytes.Buffer
	if err := WriteJSON(&b, res); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Workload   string  `json:"workload"`
		Ops        int64   `json:"ops"`
		Throughput float64 `json:"throughput"`
		Latency    struct {
			P99 float64 `json:"p99"`
		} `json:"latency_ms"`
		Config struct {
			Endpoints []string `json:"endpoints"`
			RWRatio   float64  `json:"rw_ratio"`
		} `json:"config"`
		Watch struct {
			ViolationCount int64 `json:"violation_count"`
		} `json:"watch"`
		Histogram []struct {
			Count int64 `json:"count"`
		} `json:"histogram"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	var n int64
	for _, h := range got.Histogram {
		n += h.Count
	}
	if got.Workload != "txn-mixed" || got.Ops != res.Ops || got.Throughput != res.Throughput ||
		got.Latency.P99 != ms(res.Latency.P99) || got.Config.RWRatio != 1 || got.Watch.ViolationCount != 1 || n != res.Ops {
		t.Fatalf("decoded %+v from\n%s", got, b.String())
	}
}

// wellFormed checks that r is well-formed XML (SVG and the HTML page are
// both written as XML-clean markup).
func wellFormed(t *testing.T, r io.Reader) {
	t.Helper()
	d := xml.NewDecoder(r)
	d.Strict = true
	d.AutoClose = xml.HTMLAutoClose
	d.Entity = xml.HTMLEntity
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("not well-formed: %v", err)
		}
	}
}

func TestWriteCharts(t *testing.T) {
	res := fakeResult(t, testSeed(t))
	var svg bytes.Buffer
	if err := WriteSVG(&svg, res); err != nil {
		t.Fatal(err)
	}
	wellFormed(t, bytes.NewReader(svg.Bytes()))
	for _, want := range []string{"<svg", "Latency over time", "Latency histogram", "<path d=\"M"} {
		if !strings.Contains(svg.String(), want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	var page bytes.Buffer
	if err := WriteHTML(&page, res); err != nil {
		t.Fatal(err)
	}
	for _, banned := range []string{"<script", "src=", "href=", "@import", "url("} {
		if strings.Contains(page.String(), banned) {
			t.Errorf("HTML is not self-contained: has %q", banned)
		}
	}
	// An empty result still renders.
	if err := WriteSVG(io.Discard, &Result{Workload: "put", Histogram: &Histogram{}}); err != nil {
		t.Fatal(err)
	}
}

func TestWriteText(t *testing.T) {
	res := fakeResult(t, testSeed(t))
	var b bytes.Buffer
	if err := WriteText(&b, res); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Throughput:", "p99.9", "By kind:", "read", "VIOLATIONS", "missing 1",
		"watcher 1: missing revision 12", "etcdserver: request timed out", "Latency histogram", "∎", "things=3"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, b.String())
		}
	}
}

func TestDisplayBins(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 6))
	var h Histogram
	for i := 0; i < 10000; i++ {
		h.Record(time.Duration(rng.ExpFloat64() * float64(time.Millisecond)))
	}
	for _, n := range []int{1, 2, 14, 40} {
		bins := displayBins(&h, n)
		var c int64
		for i, b := range bins {
			c += b.Count
			if i > 0 && b.Lo != bins[i-1].Hi {
				t.Fatalf("n=%d: bin %d starts at %v, previous ends at %v", n, i, b.Lo, bins[i-1].Hi)
			}
		}
		if c != h.Count() || bins[0].Lo != h.Min() || bins[len(bins)-1].Hi != h.Max() {
			t.Fatalf("n=%d: bins %v hold %d of %d samples, span [%v, %v]", n, bins, c, h.Count(), h.Min(), h.Max())
		}
	}
	var one Histogram
	one.Record(time.Millisecond)
	if bins := displayBins(&one, 10); len(bins) != 1 || bins[0].Count != 1 {
		t.Fatalf("single-value bins %v", bins)
	}
}

func TestProgressLine(t *testing.T) {
	l := progressLine("putting", 380, 1000, 380, 2*time.Second)
	for _, want := range []string{"putting", " 38%", "380/1000", "190/s", "ETA 3s", "[===========>"} {
		if !strings.Contains(l, want) {
			t.Errorf("%q lacks %q", l, want)
		}
	}
	if l := progressLine("putting", 1000, 1000, 1000, 2*time.Second); !strings.Contains(l, "100%") || !strings.Contains(l, "in 2s") {
		t.Errorf("finished line %q", l)
	}
	var b bytes.Buffer
	p := NewProgressBar(&b)
	p.Update("a", 1, 2)
	p.Update("b", 1, 2)
	p.Finish()
	p.Update("c", 1, 2)
	if got := b.String(); strings.Count(got, "\n") != 2 || strings.Contains(got, "c ") {
		t.Errorf("bar output %q", got)
	}
}

func TestKeys(t *testing.T) {
	k := Keys{}.withDefaults()
	buf := make([]byte, k.KeySize)
	if got := string(k.key(buf, 42)); got != "00000042" {
		t.Fatalf("key 42 = %q", got)
	}
	if err := (Keys{KeySize: 2, KeySpaceSize: 101}).validate(); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("101 keys in 2 bytes: %v", err)
	}
	if err := (Keys{KeySize: 2, KeySpaceSize: 100}).validate(); err != nil {
		t.Fatalf("100 keys in 2 bytes: %v", err)
	}
	seq := Keys{KeySize: 3, KeySpaceSize: 5, SequentialKeys: true}
	if got := seq.pick(12, nil); got != 2 {
		t.Fatalf("sequential pick 12 of 5 = %d", got)
	}
}

func TestConfigValidation(t *testing.T) {
	for name, w := range map[string]Workload{
		"negative rate":      PutConfig{Common: Common{Rate: -1}},
		"txn ops over keys":  TxnPutConfig{TxnOps: 3, Keys: Keys{KeySpaceSize: 2}},
		"consistency":        RangeConfig{Consistency: "x"},
		"object sizes":       K8sMixConfig{MinObjectSize: 4096, MaxObjectSize: 1024},
		"resource with /":    K8sMixConfig{Resources: []string{"a/b"}},
		"negative watchers":  WatchConfig{Watchers: -5},
		"negative rw ratio":  TxnMixedConfig{RWRatio: -1},
		"negative lease ttl": LeaseChurnConfig{TTL: -1},
	} {
		if _, err := Run(t.Context(), w); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%s: Run = %v, want ErrBadConfig", name, err)
		}
	}
	if m, err := ParseK8sMix("create=1, get=3"); err != nil || m != (K8sMix{Create: 1, Get: 3}) {
		t.Errorf("ParseK8sMix = %+v, %v", m, err)
	}
	for _, bad := range []string{"create", "create=x", "delete=1", "get=-1"} {
		if _, err := ParseK8sMix(bad); !errors.Is(err, ErrBadConfig) {
			t.Errorf("ParseK8sMix(%q) = %v", bad, err)
		}
	}
}
