package cron

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// ErrSyntax: the schedule is not a valid cron schedule. Errors from Parse
// wrap it and say what is wrong.
var ErrSyntax = errors.New("cron: invalid schedule")

// ErrTimeZone: a time zone name that cannot be used.
var ErrTimeZone = errors.New("cron: invalid time zone")

// Schedule is a parsed schedule in a location. Its zero value is not
// useful; make one with Parse. A Schedule is immutable and safe for
// concurrent use.
type Schedule struct {
	text string
	loc  *time.Location
	// every is the period of an "@every" schedule; zero for field
	// schedules.
	every time.Duration

	minute uint64 // bits 0-59
	hour   uint64 // bits 0-23
	dom    uint64 // bits 1-31
	month  uint64 // bits 1-12
	dow    uint64 // bits 0-6 (7 folded into 0)
	// domStar, dowStar: the field was written unrestricted; see "Days" in
	// the package documentation.
	domStar, dowStar bool
	// frequent: the minute or hour field matches every value; see "Time
	// zones and daylight saving".
	frequent bool
}

// String is the schedule as written.
func (s *Schedule) String() string { return s.text }

// Location is the zone the schedule reads wall-clock time in.
func (s *Schedule) Location() *time.Location { return s.loc }

// Every is the period of an "@every" schedule, or zero.
func (s *Schedule) Every() time.Duration { return s.every }

type fieldSpec struct {
	name     string
	min, max int
	names    map[string]int
}

// fieldSpecs returns the five fields' bounds and names (built per call:
// the package keeps no mutable state).
func fieldSpecs() [5]fieldSpec {
	months := map[string]int{
		"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
		"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
	}
	days := map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
	return [5]fieldSpec{
		{name: "minute", min: 0, max: 59},
		{name: "hour", min: 0, max: 23},
		{name: "day of month", min: 1, max: 31},
		{name: "month", min: 1, max: 12, names: months},
		{name: "day of week", min: 0, max: 7, names: days},
	}
}

// macro expands a macro to its five fields.
func macro(name string) (string, bool) {
	switch name {
	case "@yearly", "@annually":
		return "0 0 1 1 *", true
	case "@monthly":
		return "0 0 1 * *", true
	case "@weekly":
		return "0 0 * * 0", true
	case "@daily", "@midnight":
		return "0 0 * * *", true
	case "@hourly":
		return "0 * * * *", true
	}
	return "", false
}

// Parse parses a schedule whose wall-clock times are read in loc (nil
// means UTC). Errors wrap ErrSyntax.
func Parse(spec string, loc *time.Location) (*Schedule, error) {
	if loc == nil {
		loc = time.UTC
	}
	text := strings.TrimSpace(spec)
	if text == "" {
		return nil, fmt.Errorf("%w: empty schedule", ErrSyntax)
	}
	upper := strings.ToUpper(text)
	if strings.HasPrefix(upper, "TZ=") || strings.HasPrefix(upper, "CRON_TZ=") {
		return nil, fmt.Errorf("%w: %q: a TZ= or CRON_TZ= prefix is not allowed; name the zone in spec.timeZone", ErrSyntax, spec)
	}
	s := &Schedule{text: spec, loc: loc}
	if strings.HasPrefix(text, "@") {
		if d, ok := strings.CutPrefix(text, "@every "); ok {
			period, err := time.ParseDuration(strings.TrimSpace(d))
			if err != nil {
				return nil, fmt.Errorf("%w: %q: bad duration: %v", ErrSyntax, spec, err)
			}
			period = period.Truncate(time.Second)
			if period < time.Second {
				return nil, fmt.Errorf("%w: %q: @every needs a duration of at least 1s", ErrSyntax, spec)
			}
			s.every = period
			return s, nil
		}
		expanded, ok := macro(text)
		if !ok {
			return nil, fmt.Errorf("%w: %q: unknown macro; use one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or @every <duration>", ErrSyntax, spec)
		}
		text = expanded
	}
	fields := strings.Fields(text)
	if len(fields) != 5 {
		return nil, fmt.Errorf("%w: %q: expected 5 fields (minute hour day-of-month month day-of-week), found %d", ErrSyntax, spec, len(fields))
	}
	specs := fieldSpecs()
	var sets [5]uint64
	var stars [5]bool
	for i, f := range fields {
		set, star, err := parseField(f, specs[i])
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %s field %q: %v", ErrSyntax, spec, specs[i].name, f, err)
		}
		sets[i], stars[i] = set, star
	}
	s.minute, s.hour, s.dom, s.month = sets[0], sets[1], sets[2], sets[3]
	// Sunday is 0 and 7.
	s.dow = sets[4] &^ (1 << 7)
	if sets[4]&(1<<7) != 0 {
		s.dow |= 1
	}
	s.domStar, s.dowStar = stars[2], stars[4]
	s.frequent = bits.OnesCount64(s.minute) == 60 || bits.OnesCount64(s.hour) == 24
	if err := s.checkReachable(); err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrSyntax, spec, err)
	}
	return s, nil
}

// maxDays is the most days month m has (February: 29).
func maxDays(m int) int {
	switch m {
	case 2:
		return 29
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// checkReachable refuses a day-of-month that none of the months has when
// the day of week does not widen the match.
func (s *Schedule) checkReachable() error {
	if s.domStar || !s.dowStar {
		return nil
	}
	for m := 1; m <= 12; m++ {
		if s.month&(1<<m) == 0 {
			continue
		}
		for d := 1; d <= maxDays(m); d++ {
			if s.dom&(1<<d) != 0 {
				return nil
			}
		}
	}
	return errors.New("the schedule never fires: no month in it has that day of month")
}

// parseField returns a field's value set and whether it was written
// unrestricted ("*" or "?" with no step above one).
func parseField(f string, spec fieldSpec) (uint64, bool, error) {
	var set uint64
	star := false
	for item := range strings.SplitSeq(f, ",") {
		if item == "" {
			return 0, false, errors.New("empty list item")
		}
		rangePart, stepPart, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepPart)
			if err != nil || n < 1 {
				return 0, false, fmt.Errorf("step %q is not a positive number", stepPart)
			}
			step = n
		}
		var lo, hi int
		switch {
		case rangePart == "*" || rangePart == "?":
			lo, hi = spec.min, spec.max
			if spec.names != nil && spec.max == 7 {
				hi = 6 // "*" in day of week is 0-6; 7 would only repeat Sunday
			}
			if step == 1 {
				star = true
			}
		default:
			a, b, isRange := strings.Cut(rangePart, "-")
			var err error
			if lo, err = value(a, spec); err != nil {
				return 0, false, err
			}
			hi = lo
			if isRange {
				if hi, err = value(b, spec); err != nil {
					return 0, false, err
				}
				if lo > hi {
					return 0, false, fmt.Errorf("range %q starts after it ends", rangePart)
				}
			} else if hasStep {
				hi = spec.max // "5/10" is "5-max/10"
			}
		}
		for v := lo; v <= hi; v += step {
			set |= 1 << v
		}
	}
	return set, star, nil
}

func value(text string, spec fieldSpec) (int, error) {
	if text == "" {
		return 0, errors.New("missing value")
	}
	if n, ok := spec.names[strings.ToLower(text)]; ok {
		return n, nil
	}
	n, err := strconv.Atoi(text)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", text)
	}
	if n < spec.min || n > spec.max {
		return 0, fmt.Errorf("%d is out of range %d-%d", n, spec.min, spec.max)
	}
	return n, nil
}

// LoadLocation loads an IANA time zone for spec.timeZone, refusing what
// Kubernetes' validation refuses: an empty name and "Local" (the
// controller's own zone is not a zone the user can name). Errors wrap
// ErrTimeZone.
func LoadLocation(name string) (*time.Location, error) {
	if name == "" {
		return nil, fmt.Errorf("%w: timeZone must be nil or a non-empty string", ErrTimeZone)
	}
	if strings.EqualFold(name, "Local") {
		return nil, fmt.Errorf("%w: timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones", ErrTimeZone)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%w: unknown time zone %s: %v", ErrTimeZone, name, err)
	}
	return loc, nil
}
