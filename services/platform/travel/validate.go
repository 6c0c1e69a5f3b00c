package travel

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	_ "time/tzdata" // segment time zones must load on hosts without a zoneinfo database
	"unicode/utf8"

	"meridian.dev/platform/country"
	"meridian.dev/platform/fault"
)

// Limits on what one trip may carry.
const (
	MaxSegments    = 50
	maxPurposeLen  = 500
	maxCityLen     = 200
	maxNoteLen     = 500
	maxTimelineLen = 64 // a timeline kind is a short upper-case word
)

// checkPurpose trims a trip's purpose and refuses one that is too long or
// cannot be stored.
func checkPurpose(purpose string) (string, error) {
	purpose = strings.TrimSpace(purpose)
	if err := fault.CheckText("purpose", purpose); err != nil {
		return "", err
	}
	if utf8.RuneCountInString(purpose) > maxPurposeLen {
		return "", fault.Invalid("purpose", "must be at most %d characters", maxPurposeLen)
	}
	return purpose, nil
}

// checkNote is checkPurpose for the free-text notes of cancellations and
// decisions.
func checkNote(note string) (string, error) {
	note = strings.TrimSpace(note)
	if err := fault.CheckText("note", note); err != nil {
		return "", err
	}
	if utf8.RuneCountInString(note) > maxNoteLen {
		return "", fault.Invalid("note", "must be at most %d characters", maxNoteLen)
	}
	return note, nil
}

// checkTraveller refuses a traveller the directory does not know. It runs in
// the writing transaction, so a person deleted meanwhile still fails cleanly.
func checkTraveller(ctx context.Context, q querier, traveller string) error {
	if strings.TrimSpace(traveller) == "" {
		return fault.Invalid("traveller", "is required")
	}
	if err := fault.CheckText("traveller", traveller); err != nil {
		return err
	}
	var known bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE subject = $1)`, traveller).Scan(&known); err != nil {
		return fmt.Errorf("travel: check traveller: %w", err)
	}
	if !known {
		return fault.Invalid("traveller", "%q is not a person in the directory", traveller)
	}
	return nil
}

// normalizeSegments validates every segment, naming the faulty field by its
// position in the input ("segments[2].timezone"), and returns them ordered by
// start, which is the order they are stored in.
func normalizeSegments(in []SegmentInput) ([]SegmentInput, error) {
	if len(in) == 0 {
		return nil, fault.Invalid("segments", "a trip needs at least one segment")
	}
	if len(in) > MaxSegments {
		return nil, fault.Invalid("segments", "a trip has at most %d segments", MaxSegments)
	}
	out := make([]SegmentInput, len(in))
	for i, s := range in {
		n, err := normalizeSegment(s, fmt.Sprintf("segments[%d]", i))
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	// Stable, so two segments starting together keep the order they were given in.
	sort.SliceStable(out, func(a, b int) bool { return out[a].StartsAt.Before(out[b].StartsAt) })
	return out, nil
}

// normalizeSegment validates one segment; field is its path in the input
// ("segments[2]" or "segment"). A FLIGHT without a place is where it lands.
func normalizeSegment(s SegmentInput, field string) (SegmentInput, error) {
	s.Kind = strings.ToUpper(strings.TrimSpace(s.Kind))
	if !slices.Contains(SegmentKinds, s.Kind) {
		return s, fault.Invalid(field+".kind", "must be one of %s", strings.Join(SegmentKinds, ", "))
	}
	if s.StartsAt.IsZero() {
		return s, fault.Invalid(field+".startsAt", "is required")
	}
	if s.EndsAt.IsZero() {
		return s, fault.Invalid(field+".endsAt", "is required")
	}
	if s.EndsAt.Before(s.StartsAt) {
		return s, fault.Invalid(field+".endsAt", "ends before it starts")
	}
	if _, err := fault.CheckTimezone(field+".timezone", s.Timezone); err != nil {
		return s, err
	}
	s.Timezone = strings.TrimSpace(s.Timezone)
	if s.From != nil || s.To != nil {
		if s.Kind != "FLIGHT" && s.Kind != "RAIL" {
			name := "from"
			if s.From == nil {
				name = "to"
			}
			return s, fault.Invalid(field+"."+name, "only flights and rail have a from and a to")
		}
		for _, end := range []struct {
			name  string
			place **Place
		}{{"from", &s.From}, {"to", &s.To}} {
			if *end.place == nil {
				continue
			}
			p, err := normalizePlace(**end.place, field+"."+end.name)
			if err != nil {
				return s, err
			}
			*end.place = &p
		}
	}
	if s.Kind == "FLIGHT" && placeIsEmpty(s.Place) && s.To != nil {
		s.Place = *s.To
	}
	if placeIsEmpty(s.Place) {
		return s, fault.Invalid(field+".place", "is required (a flight's defaults to its to)")
	}
	p, err := normalizePlace(s.Place, field+".place")
	if err != nil {
		return s, err
	}
	s.Place = p
	return s, nil
}

func placeIsEmpty(p Place) bool {
	return strings.TrimSpace(p.City) == "" && strings.TrimSpace(p.CountryCode) == "" && p.Latitude == nil && p.Longitude == nil
}

func normalizePlace(p Place, field string) (Place, error) {
	p.City = strings.TrimSpace(p.City)
	if err := fault.CheckText(field+".city", p.City); err != nil {
		return p, err
	}
	if utf8.RuneCountInString(p.City) > maxCityLen {
		return p, fault.Invalid(field+".city", "must be at most %d characters", maxCityLen)
	}
	p.CountryCode = strings.ToUpper(strings.TrimSpace(p.CountryCode))
	if _, ok := country.Get(p.CountryCode); !ok {
		return p, fault.Invalid(field+".countryCode", "unknown country %q (an ISO 3166-1 alpha-2 code such as KE)", p.CountryCode)
	}
	if (p.Latitude == nil) != (p.Longitude == nil) {
		return p, fault.Invalid(field+".latitude", "latitude and longitude go together: give both or neither")
	}
	if p.Latitude != nil {
		if lat := *p.Latitude; math.IsNaN(lat) || lat < -90 || lat > 90 {
			return p, fault.Invalid(field+".latitude", "must be between -90 and 90")
		}
		if lon := *p.Longitude; math.IsNaN(lon) || lon < -180 || lon > 180 {
			return p, fault.Invalid(field+".longitude", "must be between -180 and 180")
		}
		// Copies, so the caller's later edits of its own floats never reach a stored segment.
		lat, lon := *p.Latitude, *p.Longitude
		p.Latitude, p.Longitude = &lat, &lon
	}
	return p, nil
}
