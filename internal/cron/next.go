package cron

import (
	"math/bits"
	"time"
)

// searchDays bounds how far Next and Prev look: nine years covers a
// leap-day schedule across a skipped leap year (2096 to 2104).
const searchDays = 9*366 + 2

// Next is the first time the schedule fires strictly after t, in the
// schedule's location; the zero Time if it never does within nine years
// (Parse refuses schedules that never fire, so this does not happen for a
// parsed schedule). For "@every d" it is t truncated to the second plus d.
func (s *Schedule) Next(t time.Time) time.Time {
	if s.every > 0 {
		return t.Truncate(time.Second).Add(s.every)
	}
	lt := t.In(s.loc)
	// Start a day early: with a fall-back at midnight, the end of the
	// previous local day can lie after t.
	y, m, d := lt.Date()
	day := time.Date(y, m, d-1, 12, 0, 0, 0, time.UTC)
	var best time.Time
	for i := 0; i < searchDays; i++ {
		if x, ok := s.firstOnDay(day, t); ok && (best.IsZero() || x.Before(best)) {
			best = x
		} else if !best.IsZero() {
			// The day after the one that fired cannot fire earlier
			// unless zones overlap across midnight; one more day checked.
			return best
		}
		day = day.AddDate(0, 0, 1)
	}
	return best
}

// Prev is the latest time the schedule fires at or before t; the zero
// Time if none within nine years. Not defined for "@every" schedules,
// which have no fixed phase: it returns the zero Time.
func (s *Schedule) Prev(t time.Time) time.Time {
	if s.every > 0 {
		return time.Time{}
	}
	lt := t.In(s.loc)
	y, m, d := lt.Date()
	day := time.Date(y, m, d+1, 12, 0, 0, 0, time.UTC)
	var best time.Time
	for i := 0; i < searchDays; i++ {
		if x, ok := s.lastOnDay(day, t); ok && (best.IsZero() || x.After(best)) {
			best = x
		} else if !best.IsZero() {
			return best
		}
		day = day.AddDate(0, 0, -1)
	}
	return best
}

// Latest is the latest time the schedule fires in (after, now], and how
// many times it fires there, counted up to limit+1 (a count of limit+1
// means "more than limit"). ok is false when it does not fire in that
// interval. For "@every d" the times are after+d, after+2d, ... (after
// truncated to the second).
func (s *Schedule) Latest(after, now time.Time, limit int) (latest time.Time, count int, ok bool) {
	first := s.Next(after)
	if first.IsZero() || first.After(now) {
		return time.Time{}, 0, false
	}
	if s.every > 0 {
		n := int64(now.Sub(first)/s.every) + 1
		latest = first.Add(time.Duration(n-1) * s.every)
		if n > int64(limit)+1 {
			n = int64(limit) + 1
		}
		return latest, int(n), true
	}
	latest, count = first, 1
	for count <= limit {
		next := s.Next(latest)
		if next.IsZero() || next.After(now) {
			return latest, count, true
		}
		latest = next
		count++
	}
	// More than limit: jump straight to the end.
	return s.Prev(now), count, true
}

// dayMatches: the civil date (from a UTC-noon stand-in) matches month,
// day of month and day of week.
func (s *Schedule) dayMatches(day time.Time) bool {
	if s.month&(1<<int(day.Month())) == 0 {
		return false
	}
	domOK := s.dom&(1<<day.Day()) != 0
	dowOK := s.dow&(1<<int(day.Weekday())) != 0
	if s.domStar || s.dowStar {
		return domOK && dowOK
	}
	return domOK || dowOK
}

// firstOnDay is the earliest firing on the civil day strictly after t.
func (s *Schedule) firstOnDay(day, t time.Time) (time.Time, bool) {
	if !s.dayMatches(day) {
		return time.Time{}, false
	}
	y, m, d := day.Date()
	if off, ok := fixedOffset(y, m, d, s.loc); ok {
		// No transition near this day: wall order is time order.
		lastMin := 63 - bits.LeadingZeros64(s.minute)
		for hs := s.hour; hs != 0; hs &= hs - 1 {
			h := bits.TrailingZeros64(hs)
			if !atOffset(y, m, d, h, lastMin, off).After(t) {
				continue
			}
			for ms := s.minute; ms != 0; ms &= ms - 1 {
				if x := atOffset(y, m, d, h, bits.TrailingZeros64(ms), off); x.After(t) {
					return x.In(s.loc), true
				}
			}
		}
		return time.Time{}, false
	}
	var best time.Time
	s.eachTime(y, m, d, func(x time.Time) {
		if x.After(t) && (best.IsZero() || x.Before(best)) {
			best = x
		}
	})
	return best, !best.IsZero()
}

// lastOnDay is the latest firing on the civil day at or before t.
func (s *Schedule) lastOnDay(day, t time.Time) (time.Time, bool) {
	if !s.dayMatches(day) {
		return time.Time{}, false
	}
	y, m, d := day.Date()
	if off, ok := fixedOffset(y, m, d, s.loc); ok {
		firstMin := bits.TrailingZeros64(s.minute)
		for h := 23; h >= 0; h-- {
			if s.hour&(1<<h) == 0 || atOffset(y, m, d, h, firstMin, off).After(t) {
				continue
			}
			for mi := 59; mi >= 0; mi-- {
				if s.minute&(1<<mi) == 0 {
					continue
				}
				if x := atOffset(y, m, d, h, mi, off); !x.After(t) {
					return x.In(s.loc), true
				}
			}
		}
		return time.Time{}, false
	}
	var best time.Time
	s.eachTime(y, m, d, func(x time.Time) {
		if !x.After(t) && (best.IsZero() || x.After(best)) {
			best = x
		}
	})
	return best, !best.IsZero()
}

// atOffset is the instant whose wall clock at UTC offset off (seconds)
// reads y-m-d h:mi.
func atOffset(y int, m time.Month, d, h, mi, off int) time.Time {
	return time.Date(y, m, d, h, mi, 0, 0, time.UTC).Add(-time.Duration(off) * time.Second)
}

// fixedOffset reports loc's offset when one offset holds from 15 hours
// before the civil day to 15 hours after it (every day but a few around
// transitions).
func fixedOffset(y int, m time.Month, d int, loc *time.Location) (int, bool) {
	from := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Add(-15 * time.Hour).In(loc)
	_, off := from.Zone()
	_, end := from.ZoneBounds()
	if end.IsZero() || !end.Before(time.Date(y, m, d+1, 15, 0, 0, 0, time.UTC)) {
		return off, true
	}
	return 0, false
}

// eachTime calls f with every instant at which the schedule fires on the
// civil day, applying the daylight-saving rule (see the package
// documentation). Instants may come out of order around a fall-back.
func (s *Schedule) eachTime(y int, m time.Month, d int, f func(time.Time)) {
	for hs := s.hour; hs != 0; hs &= hs - 1 {
		h := bits.TrailingZeros64(hs)
		for ms := s.minute; ms != 0; ms &= ms - 1 {
			xs, n, gapEnd := wallInstants(y, m, d, h, bits.TrailingZeros64(ms), s.loc)
			switch {
			case n == 0 && !gapEnd.IsZero() && !s.frequent:
				f(gapEnd)
			case n == 2 && !s.frequent:
				f(xs[0])
			default:
				for _, x := range xs[:n] {
					f(x)
				}
			}
		}
	}
}

// wallInstants returns the instants (in order) at which loc's clock reads
// y-m-d h:mi:00: usually one, two in a fall-back overlap, none in a
// spring-forward gap — then gapEnd is the instant the clock jumped over it.
func wallInstants(y int, m time.Month, d, h, mi int, loc *time.Location) (xs [2]time.Time, n int, gapEnd time.Time) {
	naive := time.Date(y, m, d, h, mi, 0, 0, time.UTC)
	// Every offset in effect within 15 hours of the naive instant (zone
	// offsets lie within -12h..+14h), with the transitions between them.
	type zone struct {
		start  time.Time // zero for the first
		offset int
	}
	var zones [8]zone
	nz := 0
	cur := naive.Add(-15 * time.Hour).In(loc)
	end := naive.Add(15 * time.Hour)
	for nz < len(zones) {
		_, off := cur.Zone()
		start := time.Time{}
		if nz > 0 {
			start = cur
		}
		zones[nz] = zone{start: start, offset: off}
		nz++
		_, zEnd := cur.ZoneBounds()
		if zEnd.IsZero() || !zEnd.Before(end) {
			break
		}
		cur = zEnd.In(loc)
	}
	for i := range nz {
		x := naive.Add(-time.Duration(zones[i].offset) * time.Second)
		if _, off := x.In(loc).Zone(); off != zones[i].offset {
			continue
		}
		dup := false
		for _, y := range xs[:n] {
			dup = dup || y.Equal(x)
		}
		if !dup && n < 2 {
			xs[n] = x.In(loc)
			n++
		}
	}
	if n == 2 && xs[1].Before(xs[0]) {
		xs[0], xs[1] = xs[1], xs[0]
	}
	if n > 0 {
		return xs, n, time.Time{}
	}
	// In a gap: find the transition whose jump covers the wall time.
	for i := 1; i < nz; i++ {
		tr := zones[i].start
		before := tr.Add(time.Duration(zones[i-1].offset) * time.Second)
		after := tr.Add(time.Duration(zones[i].offset) * time.Second)
		// naive wall readings: just before the jump the clock reads
		// before (exclusive), at it after.
		if !naive.Before(before) && naive.Before(after) {
			return xs, 0, tr.In(loc)
		}
	}
	return xs, 0, time.Time{}
}
