package autocompact

import (
	"errors"
	"testing"
	"time"
)

func TestParsePolicy(t *testing.T) {
	for _, tc := range []struct {
		mode, retention string
		want            Policy
		err             bool
	}{
		{"", "", Policy{}, false},
		{"periodic", "0", Policy{}, false},
		{"revision", "0", Policy{}, false},
		{"", "1", Policy{Mode: Periodic, Period: time.Hour}, false},
		{"periodic", "72", Policy{Mode: Periodic, Period: 72 * time.Hour}, false},
		{"periodic", "30m", Policy{Mode: Periodic, Period: 30 * time.Minute}, false},
		{"periodic", "1h30m", Policy{Mode: Periodic, Period: 90 * time.Minute}, false},
		{"periodic", "0s", Policy{}, false},
		{"revision", "1000", Policy{Mode: Revision, Revisions: 1000}, false},
		{"revision", "1h", Policy{}, true},
		{"periodic", "-1", Policy{}, true},
		{"periodic", "-5m", Policy{}, true},
		{"periodic", "soon", Policy{}, true},
		{"daily", "1", Policy{}, true},
		{"periodic", "9999999999", Policy{}, true},
	} {
		got, err := ParsePolicy(tc.mode, tc.retention)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParsePolicy(%q, %q) = %+v, %v; want %+v, error %v", tc.mode, tc.retention, got, err, tc.want, tc.err)
		}
		if err != nil && !errors.Is(err, ErrBadPolicy) {
			t.Errorf("ParsePolicy(%q, %q): %v does not wrap ErrBadPolicy", tc.mode, tc.retention, err)
		}
	}
}

func TestInterval(t *testing.T) {
	for _, tc := range []struct {
		p    Policy
		want time.Duration
	}{
		{Policy{}, 0},
		{Policy{Mode: Periodic, Period: time.Hour}, 6 * time.Minute},
		{Policy{Mode: Periodic, Period: 24 * time.Hour}, 6 * time.Minute},
		{Policy{Mode: Periodic, Period: 5 * time.Second}, 500 * time.Millisecond},
		{Policy{Mode: Revision, Revisions: 10}, 5 * time.Minute},
	} {
		if got := New(tc.p, time.Time{}, 1).Interval(); got != tc.want {
			t.Errorf("%+v: interval %v, want %v", tc.p, got, tc.want)
		}
	}
}

// step is one Tick of a scripted run: the clock advances by one interval,
// the store is at rev; want is the revision the Tick must return; ok is
// passed to Done when want != 0.
type step struct {
	rev    int64
	leader bool
	want   int64
	fail   bool
}

func run(t *testing.T, p Policy, startRev int64, steps []step) {
	t.Helper()
	now := time.Unix(1_700_000_000, 0)
	c := New(p, now, startRev)
	for i, s := range steps {
		now = now.Add(c.Interval())
		got := c.Tick(now, s.rev, s.leader)
		if got != s.want {
			t.Fatalf("tick %d (t=%v, rev %d, leader %v): compact %d, want %d", i+1, time.Duration(i+1)*c.Interval(), s.rev, s.leader, got, s.want)
		}
		if got != 0 {
			c.Done(now, got, !s.fail)
		}
	}
}

func TestPeriodicHour(t *testing.T) {
	// A Tick every 6 minutes; the store gains 100 revisions per tick, so
	// the revision at minute m is 1+100*m/6.
	var steps []step
	for i := 1; i <= 20; i++ {
		steps = append(steps, step{rev: int64(1 + 100*i), leader: true})
	}
	steps[9].want = 1    // t=60m: the revision at t=0
	steps[19].want = 901 // t=120m: the oldest record, from t=54m
	run(t, Policy{Mode: Periodic, Period: time.Hour}, 1, steps)
}

func TestPeriodicFollowerRecordsButDoesNotCompact(t *testing.T) {
	var steps []step
	for i := 1; i <= 12; i++ {
		steps = append(steps, step{rev: int64(1 + 100*i), leader: false})
	}
	// Becomes leader at t=78m: compacts at once to the window's oldest.
	steps = append(steps, step{rev: 1301, leader: true, want: 201})
	run(t, Policy{Mode: Periodic, Period: time.Hour}, 1, steps)
}

func TestPeriodicRetriesAfterFailure(t *testing.T) {
	var steps []step
	for i := 1; i <= 12; i++ {
		steps = append(steps, step{rev: int64(1 + 100*i), leader: true})
	}
	steps[9].want, steps[9].fail = 1, true // t=60m fails
	steps[10].want = 1                     // t=66m: retried (the window still starts at t=0)
	run(t, Policy{Mode: Periodic, Period: time.Hour}, 1, steps)
}

func TestPeriodicIdleStoreCompactsOnce(t *testing.T) {
	// No writes: the revision never changes, so it is compacted once.
	var steps []step
	for i := 1; i <= 25; i++ {
		steps = append(steps, step{rev: 50, leader: true})
	}
	steps[9].want = 50
	run(t, Policy{Mode: Periodic, Period: time.Hour}, 50, steps)
}

func TestPeriodicShort(t *testing.T) {
	// 5s: a Tick every 500ms, a window of 11.
	var steps []step
	for i := 1; i <= 20; i++ {
		steps = append(steps, step{rev: int64(10 + i), leader: true})
	}
	steps[9].want = 10  // t=5s: the revision at t=0
	steps[19].want = 19 // t=10s: recorded at t=4.5s
	run(t, Policy{Mode: Periodic, Period: 5 * time.Second}, 10, steps)
}

func TestRevision(t *testing.T) {
	p := Policy{Mode: Revision, Revisions: 100}
	run(t, p, 1, []step{
		{rev: 50, leader: true},             // nothing to drop yet
		{rev: 150, leader: true, want: 50},  // keep 100
		{rev: 150, leader: true},            // already compacted to 50
		{rev: 400, leader: false},           // followers do not compact
		{rev: 400, leader: true, want: 300}, //
		{rev: 500, leader: true, want: 400, fail: true},
		{rev: 500, leader: true, want: 400}, // retried
	})
}

func TestOff(t *testing.T) {
	c := New(Policy{}, time.Now(), 100)
	if got := c.Tick(time.Now().Add(100*time.Hour), 1000, true); got != 0 {
		t.Fatalf("off compacted %d", got)
	}
}
