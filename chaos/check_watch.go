package chaos

import (
	"sort"
	"strings"
)

// WatchStats counts what the watch validator examined.
type WatchStats struct {
	Watchers, Segments, Responses, Events, Progress, CompactedResumes int
	// LaggingProgress counts progress notifications below an event
	// already received, sent by another member than that event's (the
	// client moved to a member that lags).
	LaggingProgress int
	// LaggingProgressRestart counts those sent by the event's member after
	// it restarted.
	LaggingProgressRestart int
	// PrevKVCompacted counts events without their previous value because
	// the previous value was compacted away (as etcd does).
	PrevKVCompacted int
}

// CheckWatcher validates one watcher against the reference: within each
// segment (one Watch call) the events are exactly the reference's events
// under the prefix from the segment's start revision on, in order, with
// no gap, duplicate or alteration (previous values too, if asked for);
// each revision's events come in one response; a progress notification at
// revision P comes only after every event at or below P and no event at
// or below P follows it; a compaction error is only given to a watch whose
// next revision is below the compaction revision, which must be one that
// was issued; after it, the watcher resumes from the compaction revision.
// compacted holds the revisions compactions were issued at; end is the
// revision every watcher must reach (0: no such requirement).
//
// A progress notification below an event already received is allowed only
// from another member than the event's, or from the same member after it
// restarted (restarted tells, for a member ID and two history times): a
// member that lags, or that restarted and has not yet replayed its log,
// can vouch only for its own revision.
func CheckWatcher(log []Segment, name, prefix string, prevKV bool, ref *Reference, compacted map[int64]bool, end int64,
	restarted func(id uint64, t1, t2 int64) bool, v *Violations, st *WatchStats) {
	check := "watch"
	var expected []Event
	for _, e := range ref.Events {
		if strings.HasPrefix(e.KV.Key, prefix) {
			expected = append(expected, e)
		}
	}
	st.Watchers++
	var maxCompacted int64
	for c := range compacted {
		maxCompacted = max(maxCompacted, c)
	}
	var reached int64 // the newest revision delivered by any segment
	for si, seg := range log {
		st.Segments++
		pos := firstAtOrAfter(expected, seg.StartRev)
		lastRev := seg.StartRev - 1 // newest revision delivered in this segment
		var progressRev int64
		var lastMember uint64 // the member that sent the newest event
		var lastAt int64      // and when
		for ri, r := range seg.Responses {
			st.Responses++
			if r.CompactRev != 0 {
				at := lastRev + 1
				if at >= r.CompactRev {
					v.Add(check, "%s segment %d: compaction error (compact revision %d) although the watch was at revision %d", name, si, r.CompactRev, at)
				}
				if !compacted[r.CompactRev] {
					v.Add(check, "%s segment %d: compaction error names revision %d, which no compaction asked for", name, si, r.CompactRev)
				}
				if si+1 < len(log) && log[si+1].StartRev != r.CompactRev {
					v.Add(check, "%s: harness resumed at %d after a compaction at %d", name, log[si+1].StartRev, r.CompactRev)
				}
				st.CompactedResumes++
			}
			if r.Progress {
				st.Progress++
				if pos < len(expected) && expected[pos].Rev <= r.HeaderRev {
					v.Add(check, "%s segment %d: progress notification at revision %d before the event at revision %d (%s) was delivered",
						name, si, r.HeaderRev, expected[pos].Rev, expected[pos].KV.Key)
				}
				if r.HeaderRev < lastRev {
					switch {
					case r.Member != lastMember:
						st.LaggingProgress++
					case restarted != nil && restarted(r.Member, lastAt, r.At):
						st.LaggingProgressRestart++
					default:
						v.Add(check, "%s segment %d: progress notification at revision %d from member %x after its event at revision %d",
							name, si, r.HeaderRev, r.Member, lastRev)
					}
				}
				if r.HeaderRev > progressRev {
					progressRev = r.HeaderRev
				}
			}
			var respLast int64
			for _, e := range r.Events {
				st.Events++
				if e.Rev <= progressRev {
					v.Add(check, "%s segment %d: event at revision %d (%s) after a progress notification at revision %d", name, si, e.Rev, e.KV.Key, progressRev)
				}
				if e.Rev < lastRev {
					v.Add(check, "%s segment %d: event at revision %d (%s) after revision %d: out of order", name, si, e.Rev, e.KV.Key, lastRev)
				}
				if pos >= len(expected) {
					v.Add(check, "%s segment %d: event %s %s at revision %d is not in the store's history (duplicate or phantom)", name, si, evType(e), e.KV.Key, e.Rev)
					continue
				}
				want := expected[pos]
				if prevKV && e.PrevKV == nil && want.PrevKV != nil && maxCompacted >= e.Rev && sameEvent(e, want, false) {
					// The previous value was superseded at e.Rev, at or
					// below a compaction: gone, so etcd sends none either.
					st.PrevKVCompacted++
					want.PrevKV = nil
				}
				if !sameEvent(e, want, prevKV) {
					if e.Rev > want.Rev {
						v.Add(check, "%s segment %d: got %s %s at revision %d; missed %s %s at revision %d",
							name, si, evType(e), e.KV.Key, e.Rev, evType(want), want.KV.Key, want.Rev)
					} else {
						v.Add(check, "%s segment %d: got %s %s=%q at revision %d (prev %v), want %s %s=%q at revision %d (prev %v)",
							name, si, evType(e), e.KV.Key, e.KV.Value, e.Rev, e.PrevKV, evType(want), want.KV.Key, want.KV.Value, want.Rev, want.PrevKV)
					}
					// Resynchronise on the event received, if it exists.
					if j := findEvent(expected, e); j >= 0 {
						pos = j
					}
				}
				pos++
				if e.Rev > lastRev {
					lastRev = e.Rev
				}
				respLast = e.Rev
				lastMember, lastAt = r.Member, r.At
			}
			if respLast != 0 && pos < len(expected) && expected[pos].Rev == respLast {
				v.Add(check, "%s segment %d response %d: revision %d split across responses", name, si, ri, respLast)
			}
			if len(r.Events) > 0 && r.HeaderRev < respLast {
				v.Add(check, "%s segment %d: response header revision %d below its last event's %d", name, si, r.HeaderRev, respLast)
			}
		}
		if lastRev > reached {
			reached = lastRev
		}
	}
	if end != 0 {
		if want := lastAtOrBefore(expected, end); want != 0 && reached < want {
			v.Add(check, "%s ended at revision %d; the last event under %q up to revision %d is at %d", name, reached, prefix, end, want)
		}
	}
}

func evType(e Event) string {
	if e.Put {
		return "PUT"
	}
	return "DELETE"
}

func sameEvent(a, b Event, prevKV bool) bool {
	if a.Put != b.Put || a.Rev != b.Rev || a.KV.Key != b.KV.Key {
		return false
	}
	if a.Put && a.KV != b.KV {
		return false
	}
	if !a.Put && a.KV.ModRev != b.KV.ModRev {
		return false
	}
	if prevKV {
		if (a.PrevKV == nil) != (b.PrevKV == nil) || (a.PrevKV != nil && *a.PrevKV != *b.PrevKV) {
			return false
		}
	}
	return true
}

func firstAtOrAfter(evs []Event, rev int64) int {
	lo, hi := 0, len(evs)
	for lo < hi {
		m := (lo + hi) / 2
		if evs[m].Rev < rev {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

func lastAtOrBefore(evs []Event, rev int64) int64 {
	i := firstAtOrAfter(evs, rev+1)
	if i == 0 {
		return 0
	}
	return evs[i-1].Rev
}

func findEvent(evs []Event, e Event) int {
	for i := firstAtOrAfter(evs, e.Rev); i < len(evs) && evs[i].Rev == e.Rev; i++ {
		if evs[i].KV.Key == e.KV.Key {
			return i
		}
	}
	return -1
}

// CheckSerializableMonotonic checks that the serializable reads a member
// answers do not go back in revision over real time. Those that do after
// the member restarted (it serves before replaying its log) are counted,
// not reported. It returns how many reads it checked and that count.
func CheckSerializableMonotonic(ops []Op, restarted func(id uint64, t1, t2 int64) bool, v *Violations) (checked, afterRestart int) {
	byMember := map[uint64][]Op{}
	for _, op := range ops {
		if op.Kind == OpRange && op.Serializable && op.Err == "" && op.AtRev == 0 {
			byMember[op.Member] = append(byMember[op.Member], op)
		}
	}
	for id, rs := range byMember {
		byReturn := append([]Op(nil), rs...)
		sort.Slice(byReturn, func(i, j int) bool { return byReturn[i].Return < byReturn[j].Return })
		sortOps(rs)
		var maxRev, maxAt int64
		j := 0
		for _, op := range rs {
			for j < len(byReturn) && byReturn[j].Return < op.Call {
				if byReturn[j].Rev > maxRev {
					maxRev, maxAt = byReturn[j].Rev, byReturn[j].Return
				}
				j++
			}
			checked++
			if op.Rev < maxRev {
				if restarted != nil && restarted(id, maxAt, op.Call) {
					afterRestart++
				} else {
					v.Add("serializable-monotonic", "member %x answered a serializable read at revision %d after one at revision %d had returned",
						id, op.Rev, maxRev)
				}
			}
		}
	}
	return checked, afterRestart
}
