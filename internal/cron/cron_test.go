package cron

import (
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ spec, want string }{
		{"", "empty schedule"},
		{"   ", "empty schedule"},
		{"* * * *", "expected 5 fields"},
		{"* * * * * *", "expected 5 fields"},
		{"every minute", "expected 5 fields"},
		{"60 * * * *", "minute field \"60\": 60 is out of range 0-59"},
		{"* 24 * * *", "out of range 0-23"},
		{"* * 0 * *", "out of range 1-31"},
		{"* * 32 * *", "out of range 1-31"},
		{"* * * 13 *", "out of range 1-12"},
		{"* * * 0 *", "out of range 1-12"},
		{"* * * * 8", "out of range 0-7"},
		{"* * * * MON-", "missing value"},
		{"5-1 * * * *", "starts after it ends"},
		{"*/0 * * * *", "not a positive number"},
		{"*/x * * * *", "not a positive number"},
		{"*/-1 * * * *", "not a positive number"},
		{"1,,2 * * * *", "empty list item"},
		{"a * * * *", `"a" is not a number`},
		{"* * * JANUARY *", "not a number"},
		{"* * * * SUNDAY", "not a number"},
		{"@reboot", "unknown macro"},
		{"@every", "unknown macro"},
		{"@every 5", "bad duration"},
		{"@every 0s", "at least 1s"},
		{"@every -5m", "at least 1s"},
		{"@every 500ms", "at least 1s"},
		{"TZ=UTC * * * * *", "TZ= or CRON_TZ="},
		{"CRON_TZ=Europe/Berlin 0 0 * * *", "TZ= or CRON_TZ="},
		{"0 0 30 2 *", "never fires"},
		{"0 0 31 4,6,9,11 *", "never fires"},
		{"0 0 31 2 ?", "never fires"},
	} {
		_, err := Parse(tc.spec, nil)
		if err == nil {
			t.Errorf("Parse(%q) accepted", tc.spec)
			continue
		}
		if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want ErrSyntax containing %q", tc.spec, err, tc.want)
		}
	}
}

func TestParseAccepts(t *testing.T) {
	for _, spec := range []string{
		"* * * * *", "*/5 * * * *", "0 0 1-15 JAN,FEB MON-FRI", "0 0 1-15 jan,feb mon-fri",
		"0 0 29 2 *", "0 0 31 * *", "0 0 30 2 1", "? ? ? ? ?", "0\t0  * * 7", "5/10 * * * *",
		"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly",
		"@every 1h30m", " 0 0 * * * ",
	} {
		if _, err := Parse(spec, nil); err != nil {
			t.Errorf("Parse(%q): %v", spec, err)
		}
	}
}

func TestLoadLocation(t *testing.T) {
	for _, bad := range []string{"", "Local", "local", "Mars/Olympus_Mons"} {
		if _, err := LoadLocation(bad); !errors.Is(err, ErrTimeZone) {
			t.Errorf("LoadLocation(%q) = %v, want ErrTimeZone", bad, err)
		}
	}
	if loc := mustLoc(t, "America/New_York"); loc.String() != "America/New_York" {
		t.Errorf("loaded %v", loc)
	}
}

// TestNext walks each schedule forward from a start and compares the
// times it fires with the expected list (RFC 3339, with the zone's
// offset, so a daylight-saving mistake shows).
func TestNext(t *testing.T) {
	for _, tc := range []struct {
		name, spec, zone, from string
		want                   []string
	}{
		{"every minute", "* * * * *", "UTC", "2024-01-01T00:00:00Z",
			[]string{"2024-01-01T00:01:00Z", "2024-01-01T00:02:00Z"}},
		{"strictly after, seconds dropped", "* * * * *", "UTC", "2024-01-01T00:00:59.999Z",
			[]string{"2024-01-01T00:01:00Z"}},
		{"step", "*/20 * * * *", "UTC", "2024-01-01T00:00:00Z",
			[]string{"2024-01-01T00:20:00Z", "2024-01-01T00:40:00Z", "2024-01-01T01:00:00Z"}},
		{"start/step", "50/5 * * * *", "UTC", "2024-01-01T00:00:00Z",
			[]string{"2024-01-01T00:50:00Z", "2024-01-01T00:55:00Z", "2024-01-01T01:50:00Z"}},
		{"range with step", "0 9-17/4 * * *", "UTC", "2024-01-01T00:00:00Z",
			[]string{"2024-01-01T09:00:00Z", "2024-01-01T13:00:00Z", "2024-01-01T17:00:00Z", "2024-01-02T09:00:00Z"}},
		{"list", "15,45 3 * * *", "UTC", "2024-01-01T03:20:00Z",
			[]string{"2024-01-01T03:45:00Z", "2024-01-02T03:15:00Z"}},
		{"hourly", "@hourly", "UTC", "2024-01-01T00:30:00Z",
			[]string{"2024-01-01T01:00:00Z", "2024-01-01T02:00:00Z"}},
		{"daily", "@daily", "UTC", "2024-01-01T00:00:00Z",
			[]string{"2024-01-02T00:00:00Z"}},
		{"weekly is Sunday", "@weekly", "UTC", "2024-01-01T00:00:00Z", // a Monday
			[]string{"2024-01-07T00:00:00Z", "2024-01-14T00:00:00Z"}},
		{"monthly", "@monthly", "UTC", "2024-01-31T12:00:00Z",
			[]string{"2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"}},
		{"yearly", "@yearly", "UTC", "2024-06-01T00:00:00Z",
			[]string{"2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z"}},
		{"Sunday as 0", "0 12 * * 0", "UTC", "2024-01-01T00:00:00Z",
			[]string{"2024-01-07T12:00:00Z", "2024-01-14T12:00:00Z"}},
		{"Sunday as 7", "0 12 * * 7", "UTC", "2024-01-01T00:00:00Z",
			[]string{"2024-01-07T12:00:00Z", "2024-01-14T12:00:00Z"}},
		{"range to 7", "0 12 * * 6-7", "UTC", "2024-01-01T00:00:00Z",
			[]string{"2024-01-06T12:00:00Z", "2024-01-07T12:00:00Z", "2024-01-13T12:00:00Z"}},
		{"day names", "0 0 * * MON-FRI", "UTC", "2024-01-05T12:00:00Z", // a Friday
			[]string{"2024-01-08T00:00:00Z", "2024-01-09T00:00:00Z"}},
		{"month names", "0 0 1 jun,DEC *", "UTC", "2024-01-01T00:00:00Z",
			[]string{"2024-06-01T00:00:00Z", "2024-12-01T00:00:00Z", "2025-06-01T00:00:00Z"}},
		{"day of month OR day of week", "0 0 13 * 5", "UTC", "2024-09-01T00:00:00Z",
			[]string{"2024-09-06T00:00:00Z", "2024-09-13T00:00:00Z", "2024-09-20T00:00:00Z", "2024-09-27T00:00:00Z", "2024-10-04T00:00:00Z", "2024-10-11T00:00:00Z", "2024-10-13T00:00:00Z"}},
		{"day of month AND unrestricted day of week", "0 0 13 * *", "UTC", "2024-09-01T00:00:00Z",
			[]string{"2024-09-13T00:00:00Z", "2024-10-13T00:00:00Z"}},
		{"question mark is unrestricted", "0 0 ? * 5", "UTC", "2024-09-01T00:00:00Z",
			[]string{"2024-09-06T00:00:00Z", "2024-09-13T00:00:00Z"}},
		{"stepped star is restricted", "0 0 */10 * 1", "UTC", "2024-09-01T00:00:00Z",
			// days 1,11,21,31 OR Mondays
			[]string{"2024-09-02T00:00:00Z", "2024-09-09T00:00:00Z", "2024-09-11T00:00:00Z", "2024-09-16T00:00:00Z", "2024-09-21T00:00:00Z"}},
		{"31st skips short months", "0 0 31 * *", "UTC", "2024-01-31T00:00:00Z",
			[]string{"2024-03-31T00:00:00Z", "2024-05-31T00:00:00Z", "2024-07-31T00:00:00Z", "2024-08-31T00:00:00Z"}},
		{"Feb 29 waits for leap years", "0 0 29 2 *", "UTC", "2024-03-01T00:00:00Z",
			[]string{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}},
		{"Feb 29 across 2100", "0 0 29 2 *", "UTC", "2096-03-01T00:00:00Z",
			[]string{"2104-02-29T00:00:00Z"}},
		{"year rollover", "59 23 31 12 *", "UTC", "2024-12-31T23:59:00Z",
			[]string{"2025-12-31T23:59:00Z"}},
		{"every", "@every 1h30m", "UTC", "2024-01-01T00:00:10.5Z",
			[]string{"2024-01-01T01:30:10Z", "2024-01-01T03:00:10Z"}},

		// Time zones.
		{"zone offset", "0 9 * * *", "Asia/Kolkata", "2024-01-01T00:00:00Z",
			[]string{"2024-01-01T09:00:00+05:30", "2024-01-02T09:00:00+05:30"}},
		{"zone date differs from UTC", "0 1 * * 1", "Pacific/Auckland", "2024-01-07T13:00:00Z", // Mon 02:00 NZDT
			[]string{"2024-01-15T01:00:00+13:00"}},

		// New York springs forward on 2024-03-10 at 02:00 EST -> 03:00 EDT
		// and falls back on 2024-11-03 at 02:00 EDT -> 01:00 EST.
		{"fixed time in the gap runs at the jump", "30 2 * * *", "America/New_York", "2024-03-09T00:00:00-05:00",
			[]string{"2024-03-09T02:30:00-05:00", "2024-03-10T03:00:00-04:00", "2024-03-11T02:30:00-04:00"}},
		{"two fixed times in the gap run once", "0,30 2 * * *", "America/New_York", "2024-03-10T00:00:00-05:00",
			[]string{"2024-03-10T03:00:00-04:00", "2024-03-11T02:00:00-04:00"}},
		{"fixed time at the jump's end", "0 3 * * *", "America/New_York", "2024-03-09T12:00:00-05:00",
			[]string{"2024-03-10T03:00:00-04:00", "2024-03-11T03:00:00-04:00"}},
		{"fixed time before and after the gap", "59 1,3 * * *", "America/New_York", "2024-03-10T00:00:00-05:00",
			[]string{"2024-03-10T01:59:00-05:00", "2024-03-10T03:59:00-04:00"}},
		{"frequent schedule skips the gap", "30 * * * *", "America/New_York", "2024-03-10T00:00:00-05:00",
			[]string{"2024-03-10T00:30:00-05:00", "2024-03-10T01:30:00-05:00", "2024-03-10T03:30:00-04:00"}},
		{"every minute across the gap", "* * * * *", "America/New_York", "2024-03-10T01:58:00-05:00",
			[]string{"2024-03-10T01:59:00-05:00", "2024-03-10T03:00:00-04:00", "2024-03-10T03:01:00-04:00"}},
		{"fixed time in the overlap runs once", "30 1 * * *", "America/New_York", "2024-11-02T12:00:00-04:00",
			[]string{"2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00"}},
		{"fixed time after the overlap", "30 2 * * *", "America/New_York", "2024-11-03T00:00:00-04:00",
			[]string{"2024-11-03T02:30:00-05:00", "2024-11-04T02:30:00-05:00"}},
		{"frequent schedule repeats the overlap", "30 * * * *", "America/New_York", "2024-11-03T00:00:00-04:00",
			[]string{"2024-11-03T00:30:00-04:00", "2024-11-03T01:30:00-04:00", "2024-11-03T01:30:00-05:00", "2024-11-03T02:30:00-05:00"}},
		{"every minute of a fixed hour in the overlap: first pass only", "*/20 1 * * *", "America/New_York", "2024-11-03T00:00:00-04:00",
			[]string{"2024-11-03T01:00:00-04:00", "2024-11-03T01:20:00-04:00", "2024-11-03T01:40:00-04:00", "2024-11-04T01:00:00-05:00"}},
		{"midnight that does not exist", "0 0 * * *", "America/Sao_Paulo", "2018-11-03T12:00:00-03:00",
			// 2018-11-04 00:00 -03 jumped to 01:00 -02
			[]string{"2018-11-04T01:00:00-02:00", "2018-11-05T00:00:00-02:00"}},
		{"Lord Howe half-hour shift", "15 2 * * *", "Australia/Lord_Howe", "2024-10-05T12:00:00+10:30",
			// 2024-10-06 02:00 +10:30 -> 02:30 +11
			[]string{"2024-10-06T02:30:00+11:00", "2024-10-07T02:15:00+11:00"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loc := mustLoc(t, tc.zone)
			s, err := Parse(tc.spec, loc)
			if err != nil {
				t.Fatal(err)
			}
			at, err := time.Parse(time.RFC3339Nano, tc.from)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for range tc.want {
				at = s.Next(at)
				got = append(got, at.Format(time.RFC3339))
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("%q in %s from %s:\n got %v\nwant %v", tc.spec, tc.zone, tc.from, got, tc.want)
			}
			if s.Every() > 0 {
				return
			}
			// Prev walks the same times back.
			for i := len(tc.want) - 1; i > 0; i-- {
				want, _ := time.Parse(time.RFC3339, tc.want[i-1])
				cur, _ := time.Parse(time.RFC3339, tc.want[i])
				if p := s.Prev(cur.Add(-time.Nanosecond)); !p.Equal(want) {
					t.Errorf("Prev(%s - 1ns) = %s, want %s", tc.want[i], p.Format(time.RFC3339), tc.want[i-1])
				}
				if p := s.Prev(cur); !p.Equal(cur) {
					t.Errorf("Prev(%s) = %s, want itself", tc.want[i], p.Format(time.RFC3339))
				}
			}
		})
	}
}

func TestLatest(t *testing.T) {
	utc := func(s string) time.Time {
		x, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	every, _ := Parse("@every 10m", nil)
	minutely, _ := Parse("* * * * *", nil)
	daily, _ := Parse("0 0 * * *", nil)
	for _, tc := range []struct {
		name       string
		s          *Schedule
		after, now string
		limit      int
		want       string
		count      int
	}{
		{"none yet", minutely, "2024-01-01T00:00:00Z", "2024-01-01T00:00:59Z", 100, "", 0},
		{"exactly now", minutely, "2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z", 100, "2024-01-01T00:01:00Z", 1},
		{"after is exclusive", minutely, "2024-01-01T00:01:00Z", "2024-01-01T00:01:30Z", 100, "", 0},
		{"three missed", minutely, "2024-01-01T00:00:00Z", "2024-01-01T00:03:10Z", 100, "2024-01-01T00:03:00Z", 3},
		{"at the limit", minutely, "2024-01-01T00:00:00Z", "2024-01-01T01:40:00Z", 100, "2024-01-01T01:40:00Z", 100},
		{"over the limit", minutely, "2024-01-01T00:00:00Z", "2024-01-01T01:41:00Z", 100, "2024-01-01T01:41:00Z", 101},
		{"years over the limit", minutely, "2020-01-01T00:00:00Z", "2024-01-01T00:00:30Z", 100, "2024-01-01T00:00:00Z", 101},
		{"daily", daily, "2024-01-01T00:00:00Z", "2024-01-05T12:00:00Z", 100, "2024-01-05T00:00:00Z", 4},
		{"every none", every, "2024-01-01T00:00:00Z", "2024-01-01T00:09:59Z", 100, "", 0},
		{"every two", every, "2024-01-01T00:00:00Z", "2024-01-01T00:25:00Z", 100, "2024-01-01T00:20:00Z", 2},
		{"every over the limit", every, "2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z", 100, "2024-02-01T00:00:00Z", 101},
	} {
		latest, count, ok := tc.s.Latest(utc(tc.after), utc(tc.now), tc.limit)
		got := ""
		if ok {
			got = latest.UTC().Format(time.RFC3339)
		}
		if got != tc.want || count != tc.count {
			t.Errorf("%s: Latest = %q, %d; want %q, %d", tc.name, got, count, tc.want, tc.count)
		}
	}
}

// TestNextAgainstScan compares Next with a minute-by-minute scan of the
// wall clock for random schedules: in UTC for any schedule, and in New
// York for "frequent" schedules, which follow the wall clock exactly.
func TestNextAgainstScan(t *testing.T) {
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewSource(seed))
	t.Logf("seed %d", seed)
	ny := mustLoc(t, "America/New_York")
	pick := func(min, max int) string {
		switch rng.Intn(5) {
		case 0:
			return "*"
		case 1:
			return fmt.Sprintf("*/%d", 1+rng.Intn(max-min+1))
		case 2:
			a := min + rng.Intn(max-min+1)
			b := a + rng.Intn(max-a+1)
			return fmt.Sprintf("%d-%d", a, b)
		case 3:
			return fmt.Sprintf("%d,%d", min+rng.Intn(max-min+1), min+rng.Intn(max-min+1))
		default:
			return fmt.Sprint(min + rng.Intn(max-min+1))
		}
	}
	checked := 0
	for checked < 300 {
		frequent := rng.Intn(2) == 0
		hour := pick(0, 23)
		if frequent {
			hour = "*"
		}
		spec := strings.Join([]string{pick(0, 59), hour, pick(1, 28), pick(1, 12), pick(0, 7)}, " ")
		loc := time.UTC
		if frequent {
			loc = ny
		}
		s, err := Parse(spec, loc)
		if err != nil {
			t.Fatalf("seed %d: Parse(%q): %v", seed, spec, err)
		}
		// Start near a transition half the time.
		from := time.Date(2024, time.Month(1+rng.Intn(12)), 1+rng.Intn(28), rng.Intn(24), rng.Intn(60), rng.Intn(60), 0, loc)
		if rng.Intn(2) == 0 {
			from = time.Date(2024, 11, 3, 0, rng.Intn(180), 0, 0, ny)
		}
		want := scan(s, from, 400*24*60)
		got := s.Next(from)
		if !got.Equal(want) {
			t.Fatalf("seed %d: %q in %s: Next(%s) = %s, scan finds %s", seed, spec, loc, from, got, want)
		}
		if !want.IsZero() {
			if p := s.Prev(want.Add(-time.Second)); !p.IsZero() && !p.Before(from.Add(time.Second)) {
				t.Fatalf("seed %d: %q: Prev(%s) = %s is after %s", seed, spec, want, p, from)
			}
		}
		checked++
	}
}

// scan is the reference: step through absolute minutes and read the wall
// clock (skipping the rest of a wall-clock hour that cannot match).
func scan(s *Schedule, from time.Time, limit int) time.Time {
	t := from.Truncate(time.Minute).Add(time.Minute)
	end := t.Add(time.Duration(limit) * time.Minute)
	for t.Before(end) {
		w := t.In(s.loc)
		day := time.Date(w.Year(), w.Month(), w.Day(), 12, 0, 0, 0, time.UTC)
		if s.hour&(1<<w.Hour()) == 0 || !s.dayMatches(day) {
			t = t.Add(time.Duration(60-w.Minute()) * time.Minute)
			continue
		}
		if s.minute&(1<<w.Minute()) != 0 {
			return w
		}
		t = t.Add(time.Minute)
	}
	return time.Time{}
}

func BenchmarkLatestMinutely(b *testing.B) {
	s, _ := Parse("* * * * *", nil)
	after := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	now := after.Add(3 * time.Hour)
	for b.Loop() {
		s.Latest(after, now, 100)
	}
}
