package schedule

import (
	"errors"
	"fmt"
	"time"
)

// Hours are the local business hours of a region.
type Hours struct {
	Region   string
	TimeZone string
	Days     []time.Weekday // days a window opens
	Open     string         // local "HH:MM"
	Close    string         // local "HH:MM"; Close <= Open crosses midnight
	Order    int            // follow-the-sun order, breaks ties (lower first)
}

// Validate reports every bad field, each as a *FieldError naming it.
func (h Hours) Validate() error {
	_, err := h.window()
	return err
}

// IsOpen reports whether at falls in h's business hours.
func IsOpen(h Hours, at time.Time) (bool, error) {
	w, err := h.window()
	if err != nil {
		return false, fmt.Errorf("is open: %w", err)
	}
	return w.contains(at), nil
}

// DutyRegion returns the region on duty at the instant and whether it is
// within its business hours; see the package comment for the rule.
func DutyRegion(hours []Hours, at time.Time) (region string, open bool, err error) {
	if len(hours) == 0 {
		return "", false, errors.New("duty region: no business hours")
	}
	best := -1
	var bestOpening time.Time
	var bestWindow window
	for i, h := range hours {
		w, err := h.window()
		if err != nil {
			return "", false, fmt.Errorf("duty region: %w", err)
		}
		o, ok := w.lastOpening(at)
		if !ok {
			continue
		}
		if best < 0 || o.After(bestOpening) || o.Equal(bestOpening) && h.Order < hours[best].Order {
			best, bestOpening, bestWindow = i, o, w
		}
	}
	if best < 0 {
		// Validation guarantees an opening every week; kept for safety.
		return "", false, errors.New("duty region: no region has opened")
	}
	return hours[best].Region, bestWindow.contains(at), nil
}

// window is validated Hours.
type window struct {
	loc         *time.Location
	days        [7]bool
	open, close clock
}

func (h Hours) window() (window, error) {
	var w window
	var errs []error
	var err error
	if h.Region == "" {
		errs = append(errs, invalid("region", "is empty"))
	}
	if w.loc, err = loadZone(h.TimeZone); err != nil {
		errs = append(errs, &FieldError{Field: "timeZone", Err: err})
	}
	if len(h.Days) == 0 {
		// A region that never opens would never take duty: almost certainly
		// a mistake, not an intent.
		errs = append(errs, invalid("days", "none"))
	}
	for _, d := range h.Days {
		if d < time.Sunday || d > time.Saturday {
			errs = append(errs, invalid("days", "%d is not a weekday", int(d)))
			continue
		}
		w.days[d] = true
	}
	if w.open, err = parseClock(h.Open); err != nil {
		errs = append(errs, &FieldError{Field: "open", Err: err})
	}
	if w.close, err = parseClock(h.Close); err != nil {
		errs = append(errs, &FieldError{Field: "close", Err: err})
	}
	if len(errs) > 0 {
		return window{}, fmt.Errorf("hours of %q: %w", h.Region, errors.Join(errs...))
	}
	return w, nil
}

// span is the window that opens on local date d, if any.
func (w window) span(d date) (from, to time.Time, ok bool) {
	if !w.days[d.weekday()] {
		return time.Time{}, time.Time{}, false
	}
	closes := d
	if w.close.minutes() <= w.open.minutes() {
		closes++
	}
	from, to = wall(d, w.open, w.loc), wall(closes, w.close, w.loc)
	// A DST jump can squeeze a short window to nothing.
	return from, to, to.After(from)
}

func (w window) contains(at time.Time) bool {
	today := localDate(at, w.loc)
	// A window lasts at most a day and an hour, so only those opening today
	// or the two days before can still be open.
	for d := today - 2; d <= today; d++ {
		if from, to, ok := w.span(d); ok && !at.Before(from) && at.Before(to) {
			return true
		}
	}
	return false
}

// lastOpening is the latest opening at or before at.
func (w window) lastOpening(at time.Time) (time.Time, bool) {
	today := localDate(at, w.loc)
	// Eight days back always reaches an open weekday.
	for d := today; d >= today-8; d-- {
		if from, _, ok := w.span(d); ok && !from.After(at) {
			return from, true
		}
	}
	return time.Time{}, false
}
