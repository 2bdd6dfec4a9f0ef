package autocompact

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ErrBadPolicy marks flags that do not make a policy.
var ErrBadPolicy = errors.New("autocompact: bad auto-compaction setting")

// Mode is how retention is counted.
type Mode int

const (
	// Off: no auto-compaction.
	Off Mode = iota
	// Periodic keeps Policy.Period of history.
	Periodic
	// Revision keeps the last Policy.Revisions revisions.
	Revision
)

func (m Mode) String() string {
	switch m {
	case Periodic:
		return "periodic"
	case Revision:
		return "revision"
	}
	return "off"
}

// Policy is a parsed --auto-compaction-mode/--auto-compaction-retention.
type Policy struct {
	Mode Mode
	// Period is the retention of Periodic.
	Period time.Duration
	// Revisions is the retention of Revision.
	Revisions int64
}

// ParsePolicy parses etcd's flags: mode "periodic" (also "") or
// "revision"; retention a non-negative integer (hours for periodic,
// revisions for revision) or, for periodic, a Go duration. Retention ""
// or "0" is Off.
func ParsePolicy(mode, retention string) (Policy, error) {
	if mode == "" {
		mode = "periodic" // etcd's default
	}
	if mode != "periodic" && mode != "revision" {
		return Policy{}, fmt.Errorf("%w: --auto-compaction-mode %q: want periodic or revision", ErrBadPolicy, mode)
	}
	if retention == "" {
		return Policy{}, nil
	}
	if n, err := strconv.ParseInt(retention, 10, 64); err == nil {
		switch {
		case n < 0:
			return Policy{}, fmt.Errorf("%w: --auto-compaction-retention %q is negative", ErrBadPolicy, retention)
		case n == 0:
			return Policy{}, nil
		case mode == "revision":
			return Policy{Mode: Revision, Revisions: n}, nil
		case n > int64(1<<63-1)/int64(time.Hour):
			return Policy{}, fmt.Errorf("%w: --auto-compaction-retention %q hours is too long", ErrBadPolicy, retention)
		}
		return Policy{Mode: Periodic, Period: time.Duration(n) * time.Hour}, nil
	}
	if mode == "revision" {
		return Policy{}, fmt.Errorf("%w: --auto-compaction-retention %q: revision mode wants a number of revisions, like 1000", ErrBadPolicy, retention)
	}
	d, err := time.ParseDuration(retention)
	if err != nil {
		return Policy{}, fmt.Errorf("%w: --auto-compaction-retention %q: want hours (1) or a duration (1h, 30m)", ErrBadPolicy, retention)
	}
	if d < 0 {
		return Policy{}, fmt.Errorf("%w: --auto-compaction-retention %q is negative", ErrBadPolicy, retention)
	}
	if d == 0 {
		return Policy{}, nil
	}
	return Policy{Mode: Periodic, Period: d}, nil
}

// revisionInterval is how often revision mode compacts, as etcd.
const revisionInterval = 5 * time.Minute

// Compactor holds the decisions' state. Not safe for concurrent use: one
// loop owns it.
type Compactor struct {
	p Policy
	// periodic
	revs        []int64 // window: revs[0] is the revision of about Period ago
	keep        int     // window size
	lastSuccess time.Time
	base        time.Duration // wait since lastSuccess: Period, then min(Period, 1h)
	// both
	lastRev int64 // last revision compacted (or found compacted)
}

// New starts deciding at now, with the store at rev.
func New(p Policy, now time.Time, rev int64) *Compactor {
	c := &Compactor{p: p, lastSuccess: now, base: p.Period}
	if p.Mode == Periodic {
		c.keep = int(p.Period/c.Interval()) + 1
		c.revs = append(make([]int64, 0, c.keep+1), rev)
	}
	return c
}

// Interval is how often Tick should be called: a tenth of the period (at
// most 6 minutes) for Periodic, 5 minutes for Revision; 0 for Off.
func (c *Compactor) Interval() time.Duration {
	switch c.p.Mode {
	case Periodic:
		return max(min(c.p.Period, time.Hour)/10, time.Nanosecond)
	case Revision:
		return revisionInterval
	}
	return 0
}

// Tick decides at now, with the store at rev, whether this member
// (leading or not) compacts, and to which revision: 0 means not now.
// A non-zero answer must be followed by Done.
func (c *Compactor) Tick(now time.Time, rev int64, leader bool) int64 {
	switch c.p.Mode {
	case Periodic:
		target := c.revs[0]
		c.revs = append(c.revs, rev)
		if len(c.revs) > c.keep {
			c.revs = c.revs[1:]
		}
		if !leader || now.Sub(c.lastSuccess) < c.base || target == c.lastRev || target <= 0 {
			return 0
		}
		c.base = min(c.p.Period, time.Hour)
		return target
	case Revision:
		target := rev - c.p.Revisions
		if !leader || target <= 0 || target == c.lastRev {
			return 0
		}
		return target
	}
	return 0
}

// Done records the outcome of compacting to rev at now: ok when it
// succeeded or rev was compacted already.
func (c *Compactor) Done(now time.Time, rev int64, ok bool) {
	if !ok {
		return // retried at the next Tick
	}
	c.lastRev = rev
	c.lastSuccess = now
}
