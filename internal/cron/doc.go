// Package cron parses the schedules of batch/v1 CronJobs and computes when
// they fire.
//
// # Syntax
//
// A schedule is five fields separated by white space:
//
//	┌───────────── minute        0-59
//	│ ┌─────────── hour          0-23
//	│ │ ┌───────── day of month  1-31
//	│ │ │ ┌─────── month         1-12 or JAN-DEC
//	│ │ │ │ ┌───── day of week   0-7 or SUN-SAT (0 and 7 are Sunday)
//	* * * * *
//
// Each field is a comma-separated list of items; an item is "*" (or "?",
// the same), a value, a range "a-b", and any of these may carry a step
// "/n": "*/15", "1-30/2", "5/10" (5 to the field's maximum, step 10).
// Names are case-insensitive and may be range ends ("MON-FRI").
// Instead of five fields, one of the macros @yearly (= @annually,
// "0 0 1 1 *"), @monthly ("0 0 1 * *"), @weekly ("0 0 * * 0"), @daily (=
// @midnight, "0 0 * * *") or @hourly ("0 * * * *"), or "@every <duration>"
// (a Go duration of at least one second, whole seconds; Kubernetes accepts
// it through the cron library it uses, though its documentation does not
// list it).
//
// Refused: TZ= and CRON_TZ= prefixes (a CronJob names its zone in
// spec.timeZone), @reboot, values out of range, and a day-of-month that no
// month of the schedule has ("0 0 30 2 *" would never fire).
//
// # Days
//
// As in cron, when both day-of-month and day-of-week are restricted a day
// matches if EITHER does ("0 0 13 * 5": every 13th and every Friday); when
// one of them is unrestricted ("*" or "?", without a step greater than
// one, as the library Kubernetes uses decides) only the other applies.
// "*/2" counts as restricted.
//
// # Time zones and daylight saving
//
// A Schedule reads wall-clock time in its location. Where a zone's clock
// jumps, the rule is ISC cron's:
//
//   - A schedule whose minute or hour field is unrestricted ("frequent",
//     e.g. "*/15 * * * *", "30 * * * *", "* 2 * * *") follows the wall
//     clock: times skipped by a spring-forward jump do not occur, and times
//     repeated by a fall-back occur twice.
//   - Any other schedule (fixed hours and minutes, e.g. "30 2 * * *") fires
//     once per matching wall-clock time: a time skipped by a jump fires at
//     the instant the jump happens (02:30 on the day New York skips 02:00-03:00
//     fires at 03:00 EDT), and a repeated time fires at its first occurrence
//     only (01:30 EDT, not 01:30 EST).
//
// Kubernetes' controller (robfig/cron) skips a fixed time in the gap and
// runs it twice in the overlap; Kelson runs a daily job once every day.
//
// # Example
//
//	ny, _ := cron.LoadLocation("America/New_York")
//	s, err := cron.Parse("30 2 * * 1-5", ny)
//	if err != nil { ... }
//	next := s.Next(time.Now())                  // first 02:30 New York time after now on a weekday
//	last, n := s.Latest(lastRun, time.Now(), 100) // latest missed time and how many were missed
package cron
