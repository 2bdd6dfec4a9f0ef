package chaos

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Violations collects what the checks found, by check.
type Violations struct {
	mu     sync.Mutex
	counts map[string]int
	msgs   map[string][]string
}

const maxMsgsPerCheck = 20

// Add records a violation of check.
func (v *Violations) Add(check, format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.counts == nil {
		v.counts, v.msgs = map[string]int{}, map[string][]string{}
	}
	v.counts[check]++
	if len(v.msgs[check]) < maxMsgsPerCheck {
		v.msgs[check] = append(v.msgs[check], fmt.Sprintf(format, args...))
	}
}

// Total is the number of violations.
func (v *Violations) Total() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, c := range v.counts {
		n += c
	}
	return n
}

// Counts returns the number of violations per check.
func (v *Violations) Counts() map[string]int {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := map[string]int{}
	for k, c := range v.counts {
		out[k] = c
	}
	return out
}

func (v *Violations) String() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var checks []string
	for c := range v.counts {
		checks = append(checks, c)
	}
	sort.Strings(checks)
	var b strings.Builder
	for _, c := range checks {
		fmt.Fprintf(&b, "%s: %d violation(s)\n", c, v.counts[c])
		for _, m := range v.msgs[c] {
			fmt.Fprintf(&b, "  - %s\n", m)
		}
		if v.counts[c] > len(v.msgs[c]) {
			fmt.Fprintf(&b, "  - ... and %d more\n", v.counts[c]-len(v.msgs[c]))
		}
	}
	return b.String()
}

// Reference is the store's history as the recorder (a watch of the whole
// key space from revision 1, with previous values, never overtaken by a
// compaction) received it, after validation: revisions are contiguous from
// the first write (2) with no duplicate, each revision's events came in one
// response, and every event agrees with the state its predecessors built
// (versions, create revisions, previous values; a delete removes a key that
// exists). Since the checks compare everything else against it, the
// reference is validated first; what is wrong with it is reported under
// "recorder".
type Reference struct {
	Events   []Event          // in order
	Last     int64            // newest revision
	recvAt   map[int64]int64  // revision -> when the recorder received it
	valueRev map[string]int64 // value of a put -> its revision (values are unique)
	idx      map[int64][2]int // revision -> [start, end) in Events
}

// BuildReference validates the recorder's log and builds the reference.
func BuildReference(rec []Segment, v *Violations) *Reference {
	r := &Reference{recvAt: map[int64]int64{}, valueRev: map[string]int64{}, idx: map[int64][2]int{}}
	state := map[string]KV{}
	var last int64 = 1
	type respID struct{ seg, resp int }
	where := map[int64]respID{}
	for si, seg := range rec {
		if si > 0 && rec[si-1].Ended == "compacted" {
			v.Add("recorder", "the recorder's watch was compacted (segment %d from revision %d): compactions must never pass it", si-1, rec[si-1].StartRev)
		}
		if seg.StartRev != last+1 && !(si == 0 && seg.StartRev == 1) {
			v.Add("recorder", "segment %d starts at revision %d, want %d", si, seg.StartRev, last+1)
		}
		for ri, resp := range seg.Responses {
			if len(resp.Events) > 0 && resp.HeaderRev < resp.Events[len(resp.Events)-1].Rev {
				v.Add("recorder", "response header revision %d below its last event's revision %d", resp.HeaderRev, resp.Events[len(resp.Events)-1].Rev)
			}
			for _, e := range resp.Events {
				switch {
				case e.Rev == last && len(r.Events) > 0:
					if w := where[e.Rev]; w != (respID{si, ri}) {
						v.Add("recorder", "revision %d split across responses", e.Rev)
					}
				case e.Rev == last+1:
					last = e.Rev
					where[e.Rev] = respID{si, ri}
					r.recvAt[e.Rev] = resp.At
				case e.Rev <= last:
					v.Add("recorder", "event at revision %d (%s) after revision %d: duplicate or out of order", e.Rev, e.KV.Key, last)
					continue
				default:
					v.Add("recorder", "revisions %d..%d missing: the recorder went from %d to %d", last+1, e.Rev-1, last, e.Rev)
					last = e.Rev
					where[e.Rev] = respID{si, ri}
					r.recvAt[e.Rev] = resp.At
				}
				checkEventAgainstState(e, state, true, "recorder", v)
				applyEvent(e, state)
				if e.Put {
					if prev, dup := r.valueRev[e.KV.Value]; dup && prev != e.Rev {
						v.Add("recorder", "value %q written at revisions %d and %d (values are unique)", e.KV.Value, prev, e.Rev)
					}
					r.valueRev[e.KV.Value] = e.Rev
				}
				ix, ok := r.idx[e.Rev]
				if !ok {
					ix = [2]int{len(r.Events), len(r.Events)}
				}
				ix[1] = len(r.Events) + 1
				r.idx[e.Rev] = ix
				r.Events = append(r.Events, e)
			}
		}
	}
	r.Last = last
	return r
}

// checkEventAgainstState checks one event against the state before it.
func checkEventAgainstState(e Event, state map[string]KV, wantPrev bool, check string, v *Violations) {
	prev, existed := state[e.KV.Key]
	if e.Put {
		if e.KV.ModRev != e.Rev {
			v.Add(check, "put %s at revision %d has mod revision %d", e.KV.Key, e.Rev, e.KV.ModRev)
		}
		if existed {
			if e.KV.Version != prev.Version+1 || e.KV.CreateRev != prev.CreateRev {
				v.Add(check, "put %s at revision %d: version %d, create revision %d; the key had version %d, create revision %d",
					e.KV.Key, e.Rev, e.KV.Version, e.KV.CreateRev, prev.Version, prev.CreateRev)
			}
		} else if e.KV.Version != 1 || e.KV.CreateRev != e.Rev {
			v.Add(check, "put %s at revision %d creates the key but has version %d, create revision %d", e.KV.Key, e.Rev, e.KV.Version, e.KV.CreateRev)
		}
	} else if !existed {
		v.Add(check, "delete of %s at revision %d, but the key does not exist", e.KV.Key, e.Rev)
	}
	if !wantPrev {
		return
	}
	switch {
	case existed && e.PrevKV == nil:
		v.Add(check, "%s at revision %d: no previous value, want %s=%q (mod %d)", e.KV.Key, e.Rev, prev.Key, prev.Value, prev.ModRev)
	case !existed && e.PrevKV != nil:
		v.Add(check, "%s at revision %d: previous value %q, but the key did not exist", e.KV.Key, e.Rev, e.PrevKV.Value)
	case existed && *e.PrevKV != prev:
		v.Add(check, "%s at revision %d: previous value %+v, want %+v", e.KV.Key, e.Rev, *e.PrevKV, prev)
	}
}

func applyEvent(e Event, state map[string]KV) {
	if e.Put {
		state[e.KV.Key] = e.KV
	} else {
		delete(state, e.KV.Key)
	}
}

// ValueRev returns the revision at which a (unique) value was put.
func (r *Reference) ValueRev(v string) (int64, bool) {
	rev, ok := r.valueRev[v]
	return rev, ok
}

// RecvAt returns when the recorder received revision rev.
func (r *Reference) RecvAt(rev int64) (int64, bool) {
	t, ok := r.recvAt[rev]
	return t, ok
}

// EventsAt returns the events of revision rev.
func (r *Reference) EventsAt(rev int64) []Event {
	ix, ok := r.idx[rev]
	if !ok {
		return nil
	}
	return r.Events[ix[0]:ix[1]]
}

// StateAt returns the state (all keys) at revision rev.
func (r *Reference) StateAt(rev int64) map[string]KV {
	state := map[string]KV{}
	for _, e := range r.Events {
		if e.Rev > rev {
			break
		}
		applyEvent(e, state)
	}
	return state
}

// stateCursor replays the reference forward: At(rev) for non-decreasing
// revisions returns the state at rev (valid until the next call).
type stateCursor struct {
	r     *Reference
	i     int
	state map[string]KV
}

func (r *Reference) cursor() *stateCursor { return &stateCursor{r: r, state: map[string]KV{}} }

func (c *stateCursor) At(rev int64) map[string]KV {
	for c.i < len(c.r.Events) && c.r.Events[c.i].Rev <= rev {
		applyEvent(c.r.Events[c.i], c.state)
		c.i++
	}
	return c.state
}
