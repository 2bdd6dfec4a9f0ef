package chaos

import (
	"sync"
	"time"
)

// OpKind is the kind of a recorded client operation.
type OpKind uint8

const (
	OpGet    OpKind = iota // linearizable Get of one key
	OpPut                  // Put of a unique value (PrevKV: also returns the previous value)
	OpCAS                  // Txn: if the key holds Expect ("" = absent) put Value, else get it
	OpDelete               // Txn: delete the key and put a unique marker (which identifies the txn in the history)
	OpRange                // Get of a whole prefix (linearizable, serializable, or at a past revision)
)

func (k OpKind) String() string {
	return [...]string{"get", "put", "cas", "delete", "range"}[k]
}

// Op is one client operation with its call and return times (nanoseconds
// since the history started) and its outcome. Err != "" means the outcome
// is unknown: a write may or may not have taken effect.
type Op struct {
	Client int
	Kind   OpKind
	Key    string // the key; the prefix for OpRange
	Value  string // put, cas: the unique value written
	Expect string // cas: the value compared with ("" = absent)
	PrevKV bool   // put: asked for the previous value
	Marker string // delete: the unique marker value written in the same txn

	Call, Return int64
	Err          string

	Rev     int64  // response header revision
	Found   string // get: value read; failed cas: value found; put with PrevKV: previous value ("" = absent)
	ModRev  int64  // mod revision of what Found read (0 = absent)
	OK      bool   // cas: the comparison held
	Deleted int64  // delete: keys deleted

	// OpRange
	AtRev        int64 // revision asked for (0 = current)
	Serializable bool
	Stream       bool   // read with RangeStream
	Member       uint64 // the member that answered (header)
	Kvs          []KV
}

// KV is a key-value as read.
type KV struct {
	Key, Value                          string
	CreateRev, ModRev, Version, LeaseID int64
}

// History collects the operations of concurrent clients.
type History struct {
	start time.Time
	mu    sync.Mutex
	ops   []Op
}

// NewHistory starts the clock.
func NewHistory() *History { return &History{start: time.Now()} }

// Now is the time since the history started, in nanoseconds.
func (h *History) Now() int64 { return time.Since(h.start).Nanoseconds() }

// At converts a history time to a wall clock time.
func (h *History) At(ns int64) time.Time { return h.start.Add(time.Duration(ns)) }

// Add records an operation.
func (h *History) Add(op Op) {
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
}

// Ops returns a copy of the operations.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Op(nil), h.ops...)
}

// Event is one watch event as received.
type Event struct {
	Put     bool
	KV      KV
	PrevKV  *KV   // when asked for and the key existed
	Rev     int64 // KV.ModRev (for a delete: the deletion's revision)
	RecvAt  int64 // when its response arrived
	RespSeq int   // which response of its stream carried it
}

// WatchResp is one response a watcher received.
type WatchResp struct {
	At         int64
	Member     uint64 // the member that sent it (header)
	HeaderRev  int64
	Events     []Event
	CompactRev int64
	Canceled   bool
	Progress   bool
	Err        string
}

// Segment is one Watch call of a watcher: from StartRev until it ended.
type Segment struct {
	StartRev  int64
	Responses []WatchResp
	Ended     string // why: "compacted", "harness cancel", "closed: ..."
	NextRev   int64  // the revision the next segment asked for (0 = none)
}

// WatchLog is everything one watcher received.
type WatchLog struct {
	Name     string
	Prefix   string
	PrevKV   bool
	mu       sync.Mutex
	Segments []*Segment
}

// Snapshot returns a copy of the segments.
func (w *WatchLog) Snapshot() []Segment {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]Segment, len(w.Segments))
	for i, s := range w.Segments {
		out[i] = *s
		out[i].Responses = append([]WatchResp(nil), s.Responses...)
	}
	return out
}

// Compaction is one Compact call.
type Compaction struct {
	Rev          int64
	Physical     bool
	Call, Return int64
	Err          string
}

// LeaseRec is one lease of the lease workload (or of the lease fault).
type LeaseRec struct {
	ID           int64
	TTL          int64 // granted, seconds
	Key          string
	Value        string
	GrantCall    int64
	GrantReturn  int64
	PutReturn    int64 // 0 if the put failed (unknown)
	PutErr       string
	KeepAlives   []Span  // successful keep-alives
	KeepAliveTry []int64 // call times of every keep-alive attempt
	RevokeCall   int64   // 0 if never revoked
	Reads        []LeaseRead
	Source       string // "workload" or "fault"
}

// Span is a call's call and return time.
type Span struct{ Call, Return int64 }

// LeaseRead is a linearizable read of a lease's key.
type LeaseRead struct {
	Call, Return int64
	Found        bool
	Err          string
}
