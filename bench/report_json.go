package bench

import (
	"encoding/json"
	"io"
	"time"
)

// The JSON report. Latencies are in milliseconds (float), durations in
// seconds; field names are stable for scripts (scripts/bench-compare.sh
// reads throughput, latency_ms.p99, watch.*, compact.* and ready.*).
type jsonResult struct {
	Workload    string           `json:"workload"`
	Config      any              `json:"config"`
	Endpoints   []string         `json:"endpoints"`
	Start       time.Time        `json:"start"`
	DurationS   float64          `json:"duration_s"`
	Unit        string           `json:"unit"`
	Ops         int64            `json:"ops"`
	Errors      int64            `json:"errors"`
	Throughput  float64          `json:"throughput"`
	Latency     jsonSummary      `json:"latency_ms"`
	Kinds       []jsonKind       `json:"kinds"`
	Counters    map[string]int64 `json:"counters,omitempty"`
	TopErrors   []jsonError      `json:"top_errors,omitempty"`
	Watch       *jsonWatch       `json:"watch,omitempty"`
	Compact     *jsonCompact     `json:"compact,omitempty"`
	Ready       *jsonReady       `json:"ready,omitempty"`
	API         *jsonAPI         `json:"api,omitempty"`
	Interrupted bool             `json:"interrupted"`
	Timeline    []jsonWindow     `json:"timeline"`
	Histogram   []jsonBucket     `json:"histogram"`
}

type jsonSummary struct {
	Count  int64   `json:"count"`
	Mean   float64 `json:"mean"`
	Stddev float64 `json:"stddev"`
	Min    float64 `json:"min"`
	P50    float64 `json:"p50"`
	P90    float64 `json:"p90"`
	P99    float64 `json:"p99"`
	P999   float64 `json:"p99_9"`
	Max    float64 `json:"max"`
}

type jsonKind struct {
	Name    string      `json:"name"`
	Primary bool        `json:"primary"`
	Ops     int64       `json:"ops"`
	Errors  int64       `json:"errors"`
	Latency jsonSummary `json:"latency_ms"`
}

type jsonError struct {
	Message string `json:"message"`
	Count   int64  `json:"count"`
}

type jsonWatch struct {
	Watchers         int              `json:"watchers"`
	Streams          int              `json:"streams"`
	Puts             int64            `json:"puts"`
	Expected         int64            `json:"expected_events"`
	Received         int64            `json:"received_events"`
	EventsPerSecond  float64          `json:"events_per_s"`
	SetupS           float64          `json:"setup_s"`
	ViolationCount   int64            `json:"violation_count"`
	Violations       map[string]int64 `json:"violations"`
	ViolationSamples []string         `json:"violation_samples,omitempty"`
	Cancelled        int64            `json:"cancelled"`
	DrainTimedOut    bool             `json:"drain_timed_out"`
}

type jsonCompact struct {
	Keys           int64        `json:"keys"`
	Overwritten    int64        `json:"overwritten"`
	LoadS          float64      `json:"load_s"`
	OverwriteS     float64      `json:"overwrite_s"`
	Leader         string       `json:"leader"`
	Revision       int64        `json:"revision"`
	DurationS      float64      `json:"compaction_s"`
	Error          string       `json:"error,omitempty"`
	BaselineP99    float64      `json:"baseline_p99_ms"`
	CompactingP99  float64      `json:"compacting_p99_ms"`
	CompactingMax  float64      `json:"compacting_max_ms"`
	Ratio          float64      `json:"p99_ratio"`
	Members        []jsonMember `json:"members"`
	SettledS       float64      `json:"settled_s"`
	SettleTimedOut bool         `json:"settle_timed_out"`
}

type jsonMember struct {
	Endpoint     string `json:"endpoint"`
	DBSizeBefore int64  `json:"db_size_before"`
	InUseBefore  int64  `json:"db_size_in_use_before"`
	DBSizeAfter  int64  `json:"db_size_after"`
	InUseAfter   int64  `json:"db_size_in_use_after"`
}

type jsonReady struct {
	Served   bool    `json:"served"`
	ReadyS   float64 `json:"ready_s"`
	Attempts int64   `json:"attempts"`
}

type jsonWindow struct {
	StartS float64 `json:"t_s"`
	Ops    int64   `json:"ops"`
	Errors int64   `json:"errors"`
	P50    float64 `json:"p50_ms"`
	P99    float64 `json:"p99_ms"`
	Max    float64 `json:"max_ms"`
}

type jsonBucket struct {
	Lo    float64 `json:"lo_ms"`
	Hi    float64 `json:"hi_ms"`
	Count int64   `json:"count"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func toJSONSummary(s Summary) jsonSummary {
	return jsonSummary{Count: s.Count, Mean: ms(s.Mean), Stddev: ms(s.Stddev), Min: ms(s.Min),
		P50: ms(s.P50), P90: ms(s.P90), P99: ms(s.P99), P999: ms(s.P999), Max: ms(s.Max)}
}

// WriteJSON writes r as one indented JSON document.
func WriteJSON(w io.Writer, r *Result) error {
	j := jsonResult{
		Workload: r.Workload, Config: r.Config, Endpoints: r.Endpoints, Start: r.Start,
		DurationS: r.Duration.Seconds(), Unit: r.Unit, Ops: r.Ops, Errors: r.Errors,
		Throughput: r.Throughput, Latency: toJSONSummary(r.Latency), Counters: r.Counters,
		Interrupted: r.Interrupted, Kinds: []jsonKind{}, Timeline: []jsonWindow{}, Histogram: []jsonBucket{},
	}
	for _, k := range r.Kinds {
		j.Kinds = append(j.Kinds, jsonKind{Name: k.Name, Primary: k.Primary, Ops: k.Ops, Errors: k.Errors, Latency: toJSONSummary(k.Latency)})
	}
	for _, e := range r.TopErrors {
		j.TopErrors = append(j.TopErrors, jsonError(e))
	}
	if ws := r.Watch; ws != nil {
		jw := &jsonWatch{Watchers: ws.Watchers, Streams: ws.Streams, Puts: ws.Puts, Expected: ws.Expected,
			Received: ws.Received, EventsPerSecond: r.Throughput, SetupS: ws.Setup.Seconds(),
			ViolationCount: ws.ViolationCount(), Violations: ws.Violations, Cancelled: ws.Cancelled,
			DrainTimedOut: ws.DrainTimedOut}
		for _, v := range ws.ViolationSamples {
			jw.ViolationSamples = append(jw.ViolationSamples, v.String())
		}
		j.Watch = jw
	}
	if cs := r.Compact; cs != nil {
		jc := &jsonCompact{Keys: cs.Keys, Overwritten: cs.Overwritten, LoadS: cs.Load.Seconds(),
			OverwriteS: cs.Overwrite.Seconds(), Leader: cs.Leader, Revision: cs.Revision, DurationS: cs.Duration.Seconds(), Error: cs.Error,
			BaselineP99: ms(cs.BaselineP99), CompactingP99: ms(cs.CompactingP99), CompactingMax: ms(cs.CompactingMax),
			Ratio: cs.Ratio, Members: []jsonMember{}, SettledS: cs.Settled.Seconds(), SettleTimedOut: cs.SettleTimedOut}
		for _, m := range cs.Members {
			jc.Members = append(jc.Members, jsonMember(m))
		}
		j.Compact = jc
	}
	if rs := r.Ready; rs != nil {
		j.Ready = &jsonReady{Served: rs.Served, ReadyS: rs.Ready.Seconds(), Attempts: rs.Attempts}
	}
	if r.API != nil {
		j.API = toJSONAPI(r.API)
	}
	for _, win := range r.Timeline {
		j.Timeline = append(j.Timeline, jsonWindow{StartS: win.Start.Seconds(), Ops: win.Ops, Errors: win.Errors,
			P50: ms(win.P50), P99: ms(win.P99), Max: ms(win.Max)})
	}
	if r.Histogram != nil {
		for _, b := range r.Histogram.Buckets() {
			j.Histogram = append(j.Histogram, jsonBucket{Lo: ms(b.Lo), Hi: ms(b.Hi), Count: b.Count})
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(j)
}
