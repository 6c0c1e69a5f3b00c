package travel

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/platform/fault"
	"meridian.dev/platform/testenv"
)

// The fixtures are written in the shapes real exports have:
//   - itinerary-google.ics: Google Calendar's export (CRLF, 75-octet folded
//     lines, VTIMEZONE blocks with X-LIC-LOCATION, escaped commas in
//     LOCATION, an all-day hotel stay, a VALARM, ATTENDEE/ORGANIZER);
//   - itinerary-tripit.ics: a TripIt-like feed (LF line ends, everything in
//     UTC, a whole-trip all-day event, DURATION instead of DTEND, CATEGORIES).
//     TripIt's own flights name only the departure ("San Francisco (SFO)");
//     the fixture's flights use the "<from> to <to>" LOCATION this import
//     reads, since no airport table maps a code to a country here;
//   - itinerary-outlook.ics: Exchange/Outlook (CRLF, folding inside words
//     and postcodes, Windows TZIDs such as "W. Europe Standard Time", one of
//     them quoted, LANGUAGE parameters, X-MICROSOFT-CDO-* properties).

type wantSegment struct {
	kind, start, end, zone, city, country string
	lat, lon                              *float64
	from, to                              string // "City/CC", "" for none
}

func utc(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse("2006-01-02T15:04Z", s)
	if err != nil {
		t.Fatalf("bad time %q: %v", s, err)
	}
	return v
}

func placeKey(p *Place) string {
	if p == nil {
		return ""
	}
	return p.City + "/" + p.CountryCode
}

func readFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return string(b)
}

func TestParseItineraryFixtures(t *testing.T) {
	tests := map[string][]wantSegment{
		"itinerary-google.ics": {
			{kind: "FLIGHT", start: "2030-03-10T21:30Z", end: "2030-03-11T04:15Z", zone: "Africa/Nairobi", city: "Nairobi", country: "KE",
				from: "London/GB", to: "Nairobi/KE"},
			// All day, in the zone the itinerary uses in Kenya: 11 to 14 March, Nairobi time.
			{kind: "HOTEL", start: "2030-03-10T21:00Z", end: "2030-03-13T21:00Z", zone: "Africa/Nairobi", city: "Nairobi", country: "KE",
				lat: float(-1.2630), lon: float(36.8030)},
			{kind: "MEETING", start: "2030-03-12T07:00Z", end: "2030-03-12T08:30Z", zone: "Africa/Nairobi", city: "Nairobi", country: "KE",
				lat: float(-1.3195), lon: float(36.8267)},
			{kind: "FLIGHT", start: "2030-03-14T20:35Z", end: "2030-03-15T05:45Z", zone: "Europe/London", city: "London", country: "GB",
				from: "Nairobi/KE", to: "London/GB"},
		},
		"itinerary-tripit.ics": {
			{kind: "OTHER", start: "2030-04-20T00:00Z", end: "2030-04-25T00:00Z", zone: "UTC", city: "Tokyo", country: "JP",
				lat: float(35.6895), lon: float(139.6917)},
			{kind: "FLIGHT", start: "2030-04-20T17:05Z", end: "2030-04-21T07:40Z", zone: "UTC", city: "Narita", country: "JP",
				from: "San Francisco/US", to: "Narita/JP"},
			{kind: "HOTEL", start: "2030-04-21T10:00Z", end: "2030-04-24T02:00Z", zone: "UTC", city: "Tokyo", country: "JP",
				lat: float(35.6856), lon: float(139.6907)},
			{kind: "RAIL", start: "2030-04-22T23:30Z", end: "2030-04-23T01:45Z", zone: "UTC", city: "Kyoto", country: "JP",
				from: "Tokyo/JP", to: "Kyoto/JP"},
			{kind: "GROUND", start: "2030-04-24T01:00Z", end: "2030-04-24T02:00Z", zone: "UTC", city: "Narita", country: "JP"},
		},
		"itinerary-outlook.ics": {
			{kind: "RAIL", start: "2030-06-02T07:01Z", end: "2030-06-02T10:59Z", zone: "Europe/Paris", city: "Paris", country: "FR",
				from: "Frankfurt am Main/DE", to: "Paris/FR"},
			{kind: "HOTEL", start: "2030-06-02T13:00Z", end: "2030-06-05T09:00Z", zone: "Europe/Paris", city: "Paris", country: "FR"},
			{kind: "MEETING", start: "2030-06-03T07:30Z", end: "2030-06-03T15:00Z", zone: "Europe/Paris", city: "Paris", country: "FR"},
			{kind: "GROUND", start: "2030-06-05T09:30Z", end: "2030-06-05T10:30Z", zone: "Europe/Paris", city: "Paris", country: "FR"},
			{kind: "FLIGHT", start: "2030-06-05T12:30Z", end: "2030-06-05T13:45Z", zone: "Europe/Berlin", city: "Frankfurt am Main", country: "DE",
				from: "Roissy-en-France/FR", to: "Frankfurt am Main/DE"},
		},
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseItinerary(readFixture(t, name))
			if err != nil {
				t.Fatalf("parseItinerary: %v", err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d segments, want %d", len(got), len(want))
			}
			for i, w := range want {
				g := got[i]
				if g.Kind != w.kind || !g.StartsAt.Equal(utc(t, w.start)) || !g.EndsAt.Equal(utc(t, w.end)) || g.Timezone != w.zone ||
					g.Place.City != w.city || g.Place.CountryCode != w.country || placeKey(g.From) != w.from || placeKey(g.To) != w.to {
					t.Errorf("segment %d = %s %v..%v %s %s/%s from %q to %q\nwant          %+v", i, g.Kind, g.StartsAt.UTC(), g.EndsAt.UTC(),
						g.Timezone, g.Place.City, g.Place.CountryCode, placeKey(g.From), placeKey(g.To), w)
				}
				if (g.Place.Latitude == nil) != (w.lat == nil) || (w.lat != nil && (*g.Place.Latitude != *w.lat || *g.Place.Longitude != *w.lon)) {
					t.Errorf("segment %d point = %v,%v, want %v,%v", i, g.Place.Latitude, g.Place.Longitude, w.lat, w.lon)
				}
			}
		})
	}
}

func TestImportICSCreatesTheTrip(t *testing.T) {
	h := newTripsHarness(t)
	ctx := context.Background()
	for _, name := range []string{"itinerary-google.ics", "itinerary-tripit.ics", "itinerary-outlook.ics"} {
		trip, segs, err := h.store.ImportICS(ctx, "travel-team", "alice", "Imported "+name, readFixture(t, name), "")
		if err != nil {
			t.Fatalf("ImportICS %s: %v", name, err)
		}
		if trip.Status != StatusDraft || trip.Purpose != "Imported "+name || len(segs) < 4 || !trip.StartsAt.Equal(segs[0].StartsAt) {
			t.Errorf("%s: trip %+v with %d segments", name, trip, len(segs))
		}
	}
	if n := h.count(t, `SELECT count(*) FROM trip_segments`); n != 14 {
		t.Errorf("%d segments stored, want 14", n)
	}
	if n := h.count(t, `SELECT count(*) FROM audit_log WHERE action = 'trip.create'`); n != 3 {
		t.Errorf("%d audit rows, want 3", n)
	}
}

// ics builds a calendar around the events.
func icsCalendar(events ...string) string {
	return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" + strings.Join(events, "") + "END:VCALENDAR\r\n"
}

func icsEvent(lines ...string) string {
	return "BEGIN:VEVENT\r\n" + strings.Join(lines, "\r\n") + "\r\nEND:VEVENT\r\n"
}

func TestImportICSRefusesBadItineraries(t *testing.T) {
	h := newTripsHarness(t)
	ctx := context.Background()
	ok := func(summary string) string {
		return icsEvent("UID:"+summary+"@test", "SUMMARY:"+summary, "DTSTART:20300310T090000Z", "DTEND:20300310T100000Z",
			"LOCATION:Nairobi\\, Kenya")
	}
	var fiftyOne []string
	for i := range 51 {
		fiftyOne = append(fiftyOne, ok(fmt.Sprintf("Meeting %d", i)))
	}
	tests := []struct {
		name, ics, mention string
	}{
		{"empty", "", "BEGIN:VCALENDAR"},
		{"not a calendar", "hello, world", "BEGIN:VCALENDAR"},
		{"vcard", "BEGIN:VCARD\r\nFN:Jane\r\nEND:VCARD\r\n", "BEGIN:VCALENDAR"},
		{"malformed line", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\n;;;\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", "well-formed"},
		{"mismatched end", "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:x\r\nEND:VTODO\r\nEND:VCALENDAR\r\n", "well-formed"},
		{"no events", icsCalendar(), "no VEVENT"},
		{"51 events", icsCalendar(fiftyOne...), "51 events"},
		{"no DTSTART", icsCalendar(ok("Flight 1"), icsEvent("UID:e2@test", "SUMMARY:Hotel Kempinski", "LOCATION:Nairobi\\, Kenya")),
			`"Hotel Kempinski" (e2@test): has no DTSTART`},
		{"unknown country", icsCalendar(icsEvent("SUMMARY:Dinner", "DTSTART:20300310T190000Z", "LOCATION:Somewhere\\, Atlantis")),
			`"Dinner"`},
		{"no location", icsCalendar(icsEvent("UID:only-uid@test", "DTSTART:20300310T190000Z")), `"only-uid@test"`},
		{"bad TZID", icsCalendar(icsEvent("SUMMARY:Town hall", "DTSTART;TZID=Mars Standard Time:20300310T190000", "LOCATION:Paris\\, FR")),
			`"Town hall": DTSTART: TZID "Mars Standard Time"`},
		{"bad date", icsCalendar(icsEvent("SUMMARY:Lunch", "DTSTART:2030-03-10 12:00", "LOCATION:Paris\\, FR")), `"Lunch": DTSTART`},
		{"bad GEO", icsCalendar(icsEvent("SUMMARY:Lunch", "DTSTART:20300310T120000Z", "LOCATION:Paris\\, FR", "GEO:north")), `"Lunch": GEO`},
		{"GEO out of range", icsCalendar(icsEvent("SUMMARY:Lunch", "DTSTART:20300310T120000Z", "LOCATION:Paris\\, FR", "GEO:91;2")),
			`"Lunch": place.latitude`},
		{"ends before it starts", icsCalendar(icsEvent("SUMMARY:Lunch", "DTSTART:20300310T120000Z", "DTEND:20300310T110000Z",
			"LOCATION:Paris\\, FR")), `"Lunch": endsAt: ends before it starts`},
		{"bad duration", icsCalendar(icsEvent("SUMMARY:Lunch", "DTSTART:20300310T120000Z", "DURATION:-PT1H", "LOCATION:Paris\\, FR")),
			`"Lunch": DURATION`},
		{"too large", "BEGIN:VCALENDAR\r\n" + strings.Repeat("X-FILLER:"+strings.Repeat("a", 60)+"\r\n", MaxICSBytes/70+1) + "END:VCALENDAR\r\n", "larger"},
		{"not UTF-8", icsCalendar(icsEvent("SUMMARY:\xff", "DTSTART:20300310T120000Z", "LOCATION:Paris\\, FR")), "UTF-8"},
	}
	before := h.tableCounts(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := h.store.ImportICS(ctx, "travel-team", "alice", "", tt.ics, "")
			var f *fault.Error
			if !errors.As(err, &f) || f.Code != fault.BadUserInput || f.Field != "ics" {
				t.Fatalf("ImportICS = %v, want BAD_USER_INPUT on ics", err)
			}
			if !strings.Contains(f.Message, tt.mention) {
				t.Fatalf("message %q does not mention %q", f.Message, tt.mention)
			}
		})
	}
	if after := h.tableCounts(t); !equalCounts(before, after) {
		t.Fatalf("refused imports wrote: %v → %v", before, after)
	}
	_, _, err := h.store.ImportICS(ctx, "travel-team", "mallory", "", icsCalendar(ok("Meeting")), "")
	var f *fault.Error
	if !errors.As(err, &f) || f.Field != "traveller" {
		t.Fatalf("unknown traveller = %v, want a fault on traveller", err)
	}
}

func TestParseItineraryTimeForms(t *testing.T) {
	segs, err := parseItinerary(icsCalendar(
		// Floating time, read in the zone the itinerary uses in France.
		icsEvent("SUMMARY:Breakfast meeting", "DTSTART:20300310T080000", "DTEND:20300310T090000", "LOCATION:Paris\\, France"),
		icsEvent("SUMMARY:Conference", "DTSTART;TZID=Europe/Paris:20300310T100000", "DURATION:PT2H30M", "LOCATION:Paris\\, France"),
		// All day without DTEND: one day.
		icsEvent("SUMMARY:Day trip", "DTSTART;VALUE=DATE:20300311", "LOCATION:Versailles\\, FR"),
		// A Windows zone and a state code before the country.
		icsEvent("SUMMARY:Taxi to the office", "DTSTART;TZID=Pacific Standard Time:20300312T080000", "DTEND;TZID=Pacific Standard Time:20300312T083000",
			"LOCATION:1600 Amphitheatre Pkwy\\, Mountain View\\, CA 94043\\, USA"),
	))
	if err != nil {
		t.Fatalf("parseItinerary: %v", err)
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	want := []struct {
		kind, zone, city string
		start, end       time.Time
	}{
		{"MEETING", "Europe/Paris", "Paris", time.Date(2030, 3, 10, 8, 0, 0, 0, paris), time.Date(2030, 3, 10, 9, 0, 0, 0, paris)},
		{"OTHER", "Europe/Paris", "Paris", time.Date(2030, 3, 10, 10, 0, 0, 0, paris), time.Date(2030, 3, 10, 12, 30, 0, 0, paris)},
		{"OTHER", "Europe/Paris", "Versailles", time.Date(2030, 3, 11, 0, 0, 0, 0, paris), time.Date(2030, 3, 12, 0, 0, 0, 0, paris)},
		{"GROUND", "America/Los_Angeles", "Mountain View", time.Date(2030, 3, 12, 15, 0, 0, 0, time.UTC), time.Date(2030, 3, 12, 15, 30, 0, 0, time.UTC)},
	}
	for i, w := range want {
		g := segs[i]
		if g.Kind != w.kind || g.Timezone != w.zone || g.Place.City != w.city || !g.StartsAt.Equal(w.start) || !g.EndsAt.Equal(w.end) {
			t.Errorf("segment %d = %s %s %s %v..%v, want %+v", i, g.Kind, g.Timezone, g.Place.City, g.StartsAt, g.EndsAt, w)
		}
	}
	if segs[3].Place.CountryCode != "US" {
		t.Errorf("USA → %q, want US", segs[3].Place.CountryCode)
	}
}

func TestSegmentKind(t *testing.T) {
	tests := []struct {
		categories []string
		summary    string
		want       string
	}{
		{nil, "UA 123 SFO to NRT", "FLIGHT"},
		{nil, "BA2490 to Nairobi", "FLIGHT"},
		{nil, "Fly to Kigali", "FLIGHT"},
		{nil, "Check-in: Serena", "HOTEL"},
		{nil, "Train to Lyon", "RAIL"},
		{nil, "Eurostar 9014", "RAIL"},
		{nil, "Meeting with the ambassador", "MEETING"},
		{nil, "Taxi to the hotel", "GROUND"},
		{nil, "Hotel shuttle", "HOTEL"},
		{nil, "Airport transfer", "GROUND"},
		{nil, "Dinner at Carnivore", "OTHER"},
		{[]string{"Travel", "Flight"}, "Going home", "FLIGHT"},
		{[]string{"Lodging"}, "Park Hyatt", "HOTEL"},
	}
	for _, tt := range tests {
		if got := segmentKind(tt.categories, tt.summary); got != tt.want {
			t.Errorf("segmentKind(%v, %q) = %s, want %s", tt.categories, tt.summary, got, tt.want)
		}
	}
}

// TestParseItineraryOverSharedFeeds runs the parser over any .ics document
// in the shared feed samples, when that folder exists: whatever they hold,
// the answer is segments or a BAD_USER_INPUT on ics, never a panic or an
// internal error.
func TestParseItineraryOverSharedFeeds(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(testenv.SharedFeeds(t), "*.ics"))
	if len(files) == 0 {
		t.Skip("no .ics samples in ../shared/feeds")
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		segs, err := parseItinerary(string(b))
		if err != nil && fault.CodeOf(err) != fault.BadUserInput {
			t.Errorf("%s: %v is not BAD_USER_INPUT", file, err)
		}
		t.Logf("%s: %d segments, %v", filepath.Base(file), len(segs), err)
	}
}

// FuzzParseItinerary feeds the pure parse step arbitrary documents: it
// must answer with valid segments or BAD_USER_INPUT on ics, never panic.
func FuzzParseItinerary(f *testing.F) {
	for _, name := range []string{"itinerary-google.ics", "itinerary-tripit.ics", "itinerary-outlook.ics"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatalf("fixture: %v", err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, doc string) {
		segs, err := parseItinerary(doc)
		if err != nil {
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Code != fault.BadUserInput || fe.Field != "ics" {
				t.Fatalf("error %v is not BAD_USER_INPUT on ics", err)
			}
			return
		}
		if len(segs) == 0 || len(segs) > MaxSegments {
			t.Fatalf("%d segments without an error", len(segs))
		}
		for i, s := range segs {
			if _, err := normalizeSegment(s, "check"); err != nil {
				t.Fatalf("segment %d does not validate: %v", i, err)
			}
		}
	})
}
