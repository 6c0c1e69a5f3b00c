package schedule

import (
	"fmt"
	"sync"
	"time"
)

// FieldError names the input field that is wrong, so a caller can point the
// user at it (the gateway reports it as BAD_USER_INPUT on that field).
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

func invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// zones caches loaded locations: time.LoadLocation reads and parses the zone
// file on every call, and OnCall runs on every page of every escalation.
var zones sync.Map // name → *time.Location

func loadZone(name string) (*time.Location, error) {
	// "" and "Local" are accepted by time.LoadLocation but mean UTC and the
	// machine's zone: a schedule must mean the same on every worker.
	if name == "" || name == "Local" {
		return nil, fmt.Errorf("%q is not an IANA time zone name", name)
	}
	if loc, ok := zones.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("load %q: %w", name, err)
	}
	zones.Store(name, loc)
	return loc, nil
}

// clock is a local wall-clock reading, minutes resolution.
type clock struct{ h, m int }

func (c clock) minutes() int { return c.h*60 + c.m }

// parseClock accepts exactly "HH:MM", 00:00 to 23:59. Anything looser ("9:00",
// "24:00") is refused rather than guessed at: a hand-off an hour off is worse
// than an error.
func parseClock(s string) (clock, error) {
	if len(s) != 5 || s[2] != ':' {
		return clock{}, fmt.Errorf("%q is not HH:MM", s)
	}
	h, okH := twoDigits(s[0:2])
	m, okM := twoDigits(s[3:5])
	if !okH || !okM || h > 23 || m > 59 {
		return clock{}, fmt.Errorf("%q is not a time of day between 00:00 and 23:59", s)
	}
	return clock{h, m}, nil
}

func twoDigits(s string) (int, bool) {
	if s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return 0, false
	}
	return int(s[0]-'0')*10 + int(s[1]-'0'), true
}

// date is a calendar date, counted in days since 1970-01-01. Turns are counted
// on it, never on elapsed hours, so a 23- or 25-hour day is still one day.
type date int64

const secondsPerDay = 24 * 60 * 60

func dateOf(y int, m time.Month, d int) date {
	// Midnight UTC is an exact multiple of a day, so the division is exact
	// for dates before 1970 too.
	return date(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / secondsPerDay)
}

func parseDate(s string) (date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a date YYYY-MM-DD", s)
	}
	return dateOf(t.Date()), nil
}

// localDate is the calendar date the wall clock in loc shows at t.
func localDate(t time.Time, loc *time.Location) date { return dateOf(t.In(loc).Date()) }

func (d date) midnightUTC() time.Time { return time.Unix(int64(d)*secondsPerDay, 0).UTC() }

func (d date) weekday() time.Weekday { return d.midnightUTC().Weekday() }

// wall returns the instant at which the wall clock in loc reads c on date d.
//
// Readings a DST change makes impossible or ambiguous are resolved as RFC 5545
// (iCalendar) does, because that is what the people on call see in their
// calendars: a skipped reading is taken with the offset in force before the
// jump, so it moves forward by the jump (02:30 → 03:30); a repeated reading is
// its first occurrence. time.Date alone is not enough: its choice is
// unspecified, and in practice depends on which side of Greenwich the zone is
// (a skipped 02:30 becomes 01:30 in New York but 03:30 in Sydney; a repeated
// reading is the first occurrence in New York but the second in London and
// Sydney).
func wall(d date, c clock, loc *time.Location) time.Time {
	y, m, dd := d.midnightUTC().Date()
	t := time.Date(y, m, dd, c.h, c.m, 0, 0, loc)
	// w is the reading itself, counted as if it were UTC: the instant that
	// shows it under offset o is w-o.
	w := time.Date(y, m, dd, c.h, c.m, 0, 0, time.UTC).Unix()

	// A repeated or skipped reading sits on a transition at one end of t's
	// zone period, so the offsets of t's period and its two neighbours are
	// all that can show it.
	start, end := t.ZoneBounds()
	offsets := []int{offsetAt(t)}
	if !start.IsZero() {
		offsets = append(offsets, offsetAt(start.Add(-time.Second)))
	}
	if !end.IsZero() {
		offsets = append(offsets, offsetAt(end))
	}
	var first time.Time
	for _, o := range offsets {
		u := time.Unix(w-int64(o), 0).In(loc)
		if offsetAt(u) == o && (first.IsZero() || u.Before(first)) {
			first = u
		}
	}
	if !first.IsZero() {
		return first
	}

	// Skipped: find the forward jump whose gap holds the reading and read it
	// with the offset from before the jump.
	for _, tr := range []time.Time{start, end} {
		if tr.IsZero() {
			continue
		}
		before, after := offsetAt(tr.Add(-time.Second)), offsetAt(tr)
		if after > before && tr.Unix()+int64(before) <= w && w < tr.Unix()+int64(after) {
			return time.Unix(w-int64(before), 0).In(loc)
		}
	}
	return t // not reached with real zone data; time.Date's answer is the best left
}

func offsetAt(t time.Time) int {
	_, o := t.Zone()
	return o
}
