package travel

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"meridian.dev/platform/fault"
)

func TestCreateRefusesBadInputAndWritesNothing(t *testing.T) {
	h := newTripsHarness(t)
	ctx := context.Background()
	good := func() SegmentInput { return stay("HOTEL", "Nairobi", "KE", 10, 24, -1.29, 36.82) }
	with := func(edit func(*SegmentInput)) []SegmentInput {
		a, b := good(), good()
		b.StartsAt, b.EndsAt = b.StartsAt.Add(48*time.Hour), b.EndsAt.Add(48*time.Hour)
		edit(&b)
		return []SegmentInput{a, b}
	}
	tooMany := make([]SegmentInput, MaxSegments+1)
	for i := range tooMany {
		tooMany[i] = good()
	}
	tests := []struct {
		name  string
		in    NewTrip
		field string
	}{
		{"unknown traveller", NewTrip{Traveller: "mallory", Segments: []SegmentInput{good()}}, "traveller"},
		{"no traveller", NewTrip{Segments: []SegmentInput{good()}}, "traveller"},
		{"purpose too long", NewTrip{Traveller: "alice", Purpose: strings.Repeat("é", 501), Segments: []SegmentInput{good()}}, "purpose"},
		{"purpose not UTF-8", NewTrip{Traveller: "alice", Purpose: "\xff\xfe", Segments: []SegmentInput{good()}}, "purpose"},
		{"purpose with NUL", NewTrip{Traveller: "alice", Purpose: "a\x00b", Segments: []SegmentInput{good()}}, "purpose"},
		{"no segments", NewTrip{Traveller: "alice"}, "segments"},
		{"51 segments", NewTrip{Traveller: "alice", Segments: tooMany}, "segments"},
		{"kind", NewTrip{Traveller: "alice", Segments: with(func(s *SegmentInput) { s.Kind = "BOAT" })}, "segments[1].kind"},
		{"no start", NewTrip{Traveller: "alice", Segments: with(func(s *SegmentInput) { s.StartsAt = time.Time{} })}, "segments[1].startsAt"},
		{"ends before it starts", NewTrip{Traveller: "alice", Segments: with(func(s *SegmentInput) { s.EndsAt = s.StartsAt.Add(-time.Minute) })}, "segments[1].endsAt"},
		{"no timezone", NewTrip{Traveller: "alice", Segments: with(func(s *SegmentInput) { s.Timezone = "" })}, "segments[1].timezone"},
		{"Local timezone", NewTrip{Traveller: "alice", Segments: with(func(s *SegmentInput) { s.Timezone = "Local" })}, "segments[1].timezone"},
		{"unknown timezone", NewTrip{Traveller: "alice", Segments: with(func(s *SegmentInput) { s.Timezone = "Mars/Olympus_Mons" })}, "segments[1].timezone"},
		{"unknown country", NewTrip{Traveller: "alice", Segments: with(func(s *SegmentInput) { s.Place.CountryCode = "XX" })}, "segments[1].place.countryCode"},
		{"country name", NewTrip{Traveller: "alice", Segments: with(func(s *SegmentInput) { s.Place.CountryCode = "Kenya" })}, "segments[1].place.countryCode"},
		{"no place", NewTrip{Traveller: "alice", Segments: with(func(s *SegmentInput) { s.Place = Place{} })}, "segments[1].place"},
		{"latitude out of range", NewTrip{Traveller: "alice", Segments: with(func(s *SegmentInput) { s.Place.Latitude = float(90.5) })}, "segments[1].place.latitude"},
		{"latitude NaN", NewTrip{Traveller: "alice", Segments: with(func(s *SegmentInput) { s.Place.Latitude = float(math.NaN()) })}, "segments[1].place.latitude"},
		{"longitude out of range", NewTrip{Traveller: "alice", Segments: with(func(s *SegmentInput) { s.Place.Longitude = float(-180.01) })}, "segments[1].place.longitude"},
		{"longitude NaN", NewTrip{Traveller: "alice", Segments: with(func(s *SegmentInput) { s.Place.Longitude = float(math.NaN()) })}, "segments[1].place.longitude"},
		{"latitude without longitude", NewTrip{Traveller: "alice", Segments: with(func(s *SegmentInput) { s.Place.Longitude = nil })}, "segments[1].place.latitude"},
		{"city too long", NewTrip{Traveller: "alice", Segments: with(func(s *SegmentInput) { s.Place.City = strings.Repeat("a", 201) })}, "segments[1].place.city"},
		{"city with NUL", NewTrip{Traveller: "alice", Segments: with(func(s *SegmentInput) { s.Place.City = "Nai\x00robi" })}, "segments[1].place.city"},
		{"hotel with a from", NewTrip{Traveller: "alice", Segments: with(func(s *SegmentInput) { s.From = &Place{CountryCode: "GB"} })}, "segments[1].from"},
		{"flight from nowhere", NewTrip{Traveller: "alice", Segments: with(func(s *SegmentInput) {
			s.Kind, s.From, s.To = "FLIGHT", &Place{CountryCode: "ZZ"}, &Place{CountryCode: "KE"}
		})}, "segments[1].from.countryCode"},
		{"flight to a bad point", NewTrip{Traveller: "alice", Segments: with(func(s *SegmentInput) {
			s.Kind, s.Place, s.To = "FLIGHT", Place{}, &Place{CountryCode: "KE", Latitude: float(-1), Longitude: float(200)}
		})}, "segments[1].to.longitude"},
		{"flight to nowhere", NewTrip{Traveller: "alice", Segments: with(func(s *SegmentInput) { s.Kind, s.Place = "FLIGHT", Place{} })}, "segments[1].place"},
	}
	before := h.tableCounts(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := h.store.Create(ctx, "travel-team", tt.in)
			var f *fault.Error
			if !errors.As(err, &f) || f.Code != fault.BadUserInput || f.Field != tt.field {
				t.Fatalf("Create = %v, want BAD_USER_INPUT on %s", err, tt.field)
			}
		})
	}
	if after := h.tableCounts(t); !equalCounts(before, after) {
		t.Fatalf("refused creates wrote: %v → %v", before, after)
	}
}

func TestAddSegmentNamesTheSegmentField(t *testing.T) {
	h := newTripsHarness(t)
	ctx := context.Background()
	trip, _, err := h.store.Create(ctx, "travel-team", NewTrip{Traveller: "alice", Segments: []SegmentInput{stay("HOTEL", "Nairobi", "KE", 10, 24)}})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	before := h.tableCounts(t)
	bad := stay("HOTEL", "Nairobi", "KE", 12, 24)
	bad.Timezone = "Eastern Standard Time"
	_, _, err = h.store.AddSegment(ctx, "travel-team", trip.ID, bad)
	var f *fault.Error
	if !errors.As(err, &f) || f.Field != "segment.timezone" {
		t.Fatalf("AddSegment = %v, want a fault on segment.timezone", err)
	}
	if after := h.tableCounts(t); !equalCounts(before, after) {
		t.Fatalf("a refused segment wrote: %v → %v", before, after)
	}
}

func TestNormalizeSegmentsOrdersByStartStably(t *testing.T) {
	late := stay("HOTEL", "Nairobi", "KE", 12, 24)
	firstOfTwo := stay("MEETING", "Nairobi", "KE", 10, 1)
	secondOfTwo := stay("GROUND", "Nairobi", "KE", 10, 1)
	got, err := normalizeSegments([]SegmentInput{late, firstOfTwo, secondOfTwo})
	if err != nil {
		t.Fatalf("normalizeSegments: %v", err)
	}
	var kinds []string
	for _, s := range got {
		kinds = append(kinds, s.Kind)
	}
	if !equalStrings(kinds, []string{"MEETING", "GROUND", "HOTEL"}) {
		t.Fatalf("order = %v", kinds)
	}
}
