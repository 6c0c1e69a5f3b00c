// Package schedule answers two follow-the-sun questions for the GSOC: who in a
// rotation is on call at an instant, and which region holds duty.
//
// Everything is local wall-clock time in an IANA zone, never a fixed UTC
// offset, so hand-offs and business hours stay where people expect them
// across daylight-saving changes.
//
// # Rotations
//
// A turn begins at HandoffTime on a calendar date in the rotation's zone and
// ends at HandoffTime on the next date of the rotation: the next day (Daily)
// or seven days on (Weekly). The first turn begins on Start (Weekly: on the
// first HandoffDay on or after Start) and belongs to the first participant;
// turn k belongs to Participants[k mod n]. Turns are counted in calendar days
// or weeks since the first one, never in elapsed hours, so a daily 09:00
// hand-off in America/New_York happens at 09:00 local on both sides of a DST
// change and the turn spanning it lasts 23 or 25 hours (167 or 169 for a
// weekly turn).
//
// A hand-off reading that a DST change skips or repeats is resolved as RFC
// 5545 (iCalendar) does, which is what the people on call see in their
// calendars:
//
//   - skipped (spring forward): read with the offset in force before the
//     jump, so it moves forward by the jump. 02:30 on 2026-03-08 in
//     America/New_York is 03:30 EDT; 02:30 on 2026-10-04 in Australia/Sydney
//     is 03:30 AEDT. The turn before it is longer, the turn after shorter.
//   - repeated (fall back): the first occurrence. 01:30 on 2026-11-01 in
//     America/New_York is 01:30 EDT; 01:30 on 2026-10-25 in Europe/London is
//     01:30 BST; 02:30 on 2026-04-05 in Australia/Sydney is 02:30 AEDT.
//
// This is time.Date on the calendar date, with its normalisation pinned down:
// time.Date's own choice is unspecified and differs by hemisphere (it gives
// 01:30 EST for New York's skipped 02:30, and the second occurrence of a
// repeated reading in London and Sydney).
//
// # Overrides
//
// An override puts Person on call for [From, To) in place of the rotation.
// When several cover an instant, the one with the latest From wins (the most
// specific cover), and between equal From the later one in the list. An
// override applies even before the rotation starts: it is an explicit
// assignment. The Shift returned carries the boundaries of whatever answered,
// the override's or the turn's; it is not clipped by other overrides, so To
// is when that turn or override ends, not necessarily the next change of
// person.
//
// # Duty
//
// Duty passes to a region at each opening of its business hours and stays
// with it until another region opens. DutyRegion therefore picks the region
// whose most recent opening at or before the instant is the latest; equal
// openings go to the lower Order, then to the earlier in the list. So in an
// overlap the region that opened last has duty; in a gap when nobody is open
// the region that opened last keeps it; over a weekend the region with the
// latest Friday opening keeps it until the next opening anywhere. DutyRegion
// also says whether that region is within its hours, so a caller can tell a
// staffed desk from an after-hours one. A business-hours window opens on each
// of its Days at Open and closes at Close the same day, or the next day when
// Close <= Open (Open == Close is a 24-hour window); Open and Close are local
// readings resolved like hand-offs.
package schedule

import (
	"errors"
	"fmt"
	"time"
)

// ShiftKind is how long a turn lasts.
type ShiftKind string

const (
	Daily  ShiftKind = "DAILY"
	Weekly ShiftKind = "WEEKLY"
)

// Rotation is an ordered list of people taking turns.
type Rotation struct {
	ID          string
	Region      string
	Name        string
	TimeZone    string // IANA, e.g. "Europe/London"
	Kind        ShiftKind
	HandoffTime string       // local "HH:MM"
	HandoffDay  time.Weekday // Weekly only
	// Start is the local date "YYYY-MM-DD" of the first hand-off (Weekly:
	// the first HandoffDay on or after it).
	Start        string
	Participants []string // subjects, in turn order
}

// Override puts Person on call for [From, To) instead of whoever the rotation
// says.
type Override struct {
	RotationID string
	Person     string
	From, To   time.Time
}

// Shift is one person's turn, or an override.
type Shift struct {
	Person   string
	From, To time.Time
	Override bool
}

// Validate reports every bad field, each as a *FieldError naming it.
func (r Rotation) Validate() error {
	_, err := r.plan()
	return err
}

// OnCall returns who is on call at the instant, honouring overrides, with the
// boundaries of the turn or override that answered. ok is false before the
// first turn when no override covers the instant.
func OnCall(r Rotation, overrides []Override, at time.Time) (Shift, bool, error) {
	p, err := r.plan()
	if err != nil {
		return Shift{}, false, fmt.Errorf("on call: %w", err)
	}
	if o, ok := covering(r.ID, overrides, at); ok {
		if o.Person == "" {
			return Shift{}, false, fmt.Errorf("on call: override of rotation %q from %s: %w",
				r.ID, o.From.Format(time.RFC3339), invalid("person", "is empty"))
		}
		return Shift{Person: o.Person, From: o.From, To: o.To, Override: true}, true, nil
	}
	k, ok := p.turn(at)
	if !ok {
		return Shift{}, false, nil
	}
	return Shift{
		Person: p.people[k%int64(len(p.people))],
		From:   p.boundary(k),
		To:     p.boundary(k + 1),
	}, true, nil
}

// covering returns the override of rotation id in force at at: the latest
// From among those covering it, the later in the list on a tie.
func covering(id string, overrides []Override, at time.Time) (Override, bool) {
	var best Override
	found := false
	for _, o := range overrides {
		if o.RotationID != id || at.Before(o.From) || !at.Before(o.To) {
			continue
		}
		if !found || !o.From.Before(best.From) {
			best, found = o, true
		}
	}
	return best, found
}

// plan is a validated rotation, ready to compute turns.
type plan struct {
	loc    *time.Location
	at     clock
	first  date  // date of turn 0's hand-off
	step   int64 // days per turn
	people []string
}

func (r Rotation) plan() (plan, error) {
	var p plan
	var errs []error
	var err error
	if p.loc, err = loadZone(r.TimeZone); err != nil {
		errs = append(errs, &FieldError{Field: "timeZone", Err: err})
	}
	if p.at, err = parseClock(r.HandoffTime); err != nil {
		errs = append(errs, &FieldError{Field: "handoffTime", Err: err})
	}
	start, err := parseDate(r.Start)
	if err != nil {
		errs = append(errs, &FieldError{Field: "start", Err: err})
	}
	switch r.Kind {
	case Daily:
		p.step, p.first = 1, start
	case Weekly:
		if r.HandoffDay < time.Sunday || r.HandoffDay > time.Saturday {
			errs = append(errs, invalid("handoffDay", "%d is not a weekday", int(r.HandoffDay)))
		}
		p.step = 7
		p.first = start + date((int(r.HandoffDay)-int(start.weekday())+7)%7)
	default:
		errs = append(errs, invalid("kind", "%q is not %s or %s", r.Kind, Daily, Weekly))
	}
	if len(r.Participants) == 0 {
		errs = append(errs, invalid("participants", "none"))
	}
	for i, s := range r.Participants {
		if s == "" {
			errs = append(errs, invalid("participants", "entry %d is empty", i))
		}
	}
	if len(errs) > 0 {
		return plan{}, fmt.Errorf("rotation %q: %w", r.ID, errors.Join(errs...))
	}
	p.people = r.Participants
	return p, nil
}

// boundary is the instant turn k begins.
func (p plan) boundary(k int64) time.Time {
	return wall(p.first+date(k*p.step), p.at, p.loc)
}

// turn returns the k with boundary(k) <= at < boundary(k+1), or false when at
// is before turn 0.
func (p plan) turn(at time.Time) (int64, bool) {
	// The local date gives the turn to within one; the boundaries settle it.
	k := floorDiv(int64(localDate(at, p.loc)-p.first), p.step)
	if k < 0 {
		k = -1
	}
	for k >= 0 && at.Before(p.boundary(k)) {
		k--
	}
	for !at.Before(p.boundary(k + 1)) {
		k++
	}
	return k, k >= 0
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}
