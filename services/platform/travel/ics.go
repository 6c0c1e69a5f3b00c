package travel

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	ics "github.com/arran4/golang-ical"

	"meridian.dev/platform/country"
	"meridian.dev/platform/fault"
)

// MaxICSBytes bounds an imported itinerary: a year of a frequent
// traveller's bookings is a few hundred kilobytes.
const MaxICSBytes = 1 << 20

// ImportICS creates a DRAFT trip from an iCalendar itinerary, one segment
// per VEVENT (see parseItinerary for how events become segments). Anything
// wrong with the document is BAD_USER_INPUT on the field "ics", naming the
// event; nothing is written. A clientMutationId makes a retried import
// return the trip the first one made.
func (s *Store) ImportICS(ctx context.Context, actor, traveller, purpose, icsText, clientMutationID string) (Trip, []Segment, error) {
	segs, err := parseItinerary(icsText)
	if err != nil {
		return Trip{}, nil, err
	}
	return s.create(ctx, actor, NewTrip{Traveller: traveller, Purpose: purpose, Segments: segs, ClientMutationID: clientMutationID}, importOperation)
}

// parseItinerary turns an iCalendar document, as booking tools and calendar
// exports write it, into validated segments:
//
//   - kind: from CATEGORIES, else from SUMMARY keywords (a flight number
//     such as "UA 123" or "BA2490", Flight/Fly → FLIGHT; Hotel/Check-in →
//     HOTEL; Train/Rail → RAIL; Meeting → MEETING; Taxi/Car/Transfer →
//     GROUND), else OTHER;
//   - place: LOCATION's last comma-separated part is the country (a name
//     country.Lookup knows, or an ISO code), the nearest part before it
//     that is not a postcode or a state code is the city; GEO (lat;lon)
//     gives the point. A FLIGHT or RAIL whose LOCATION reads "<from> to
//     <to>" (or "→") gets both ends, and is where it arrives;
//   - times: DTSTART/DTEND (or DURATION) with a TZID (an IANA name, a
//     VTIMEZONE's X-LIC-LOCATION, or a Windows zone name from a short
//     table), in UTC (Z), floating, or all-day DATE values. The segment's
//     zone is its TZID (DTEND's before DTSTART's, since a flight is placed
//     where it lands), else the zone another event of the itinerary uses in
//     the same country, else UTC; floating and all-day values are read in
//     that zone.
func parseItinerary(text string) (segs []SegmentInput, err error) {
	if len(text) > MaxICSBytes {
		return nil, fault.Invalid("ics", "is larger than %d bytes", MaxICSBytes)
	}
	if err := fault.CheckText("ics", text); err != nil {
		return nil, err
	}
	cal, err := parseCalendar(text)
	if err != nil {
		return nil, err
	}
	zones := calendarZones(cal)
	var events []*ics.VEvent
	for _, c := range cal.Components {
		if e, ok := c.(*ics.VEvent); ok {
			events = append(events, e)
		}
	}
	switch {
	case len(events) == 0:
		return nil, fault.Invalid("ics", "contains no VEVENT: an itinerary has one event per flight, hotel stay or meeting")
	case len(events) > MaxSegments:
		return nil, fault.Invalid("ics", "has %d events; a trip has at most %d segments", len(events), MaxSegments)
	}

	parsed := make([]parsedEvent, len(events))
	for i, e := range events {
		if parsed[i], err = parseEvent(&e.ComponentBase, i, zones); err != nil {
			return nil, err
		}
	}
	// Zones the itinerary itself uses in each country, for the events that
	// carry none (UTC or floating times, all-day stays).
	countryZones := map[string]string{}
	for _, p := range parsed {
		if p.zone != "" && countryZones[p.seg.Place.CountryCode] == "" {
			countryZones[p.seg.Place.CountryCode] = p.zone
		}
	}
	segs = make([]SegmentInput, len(parsed))
	for i, p := range parsed {
		zone := p.zone
		if zone == "" {
			zone = countryZones[p.seg.Place.CountryCode]
		}
		if zone == "" {
			zone = "UTC"
		}
		seg, err := p.resolveTimes(zone)
		if err != nil {
			return nil, err
		}
		if seg, err = normalizeSegment(seg, "ics"); err != nil {
			var f *fault.Error
			if errors.As(err, &f) {
				return nil, fault.Invalid("ics", "event %s: %s", p.label, strings.TrimPrefix(f.Message, "ics."))
			}
			return nil, err
		}
		segs[i] = seg
	}
	return segs, nil
}

// parseCalendar runs the library's parser, tolerating properties between
// components as some exporters write them, and turns its failures (and any
// panic on hostile input) into BAD_USER_INPUT.
func parseCalendar(text string) (cal *ics.Calendar, err error) {
	defer func() {
		if r := recover(); r != nil {
			cal, err = nil, fault.Invalid("ics", "is not a readable iCalendar document")
		}
	}()
	if !strings.HasPrefix(strings.TrimLeft(text, "\ufeff \t\r\n"), "BEGIN:VCALENDAR") {
		return nil, fault.Invalid("ics", "is not an iCalendar document: it must start with BEGIN:VCALENDAR")
	}
	cal, err = ics.ParseCalendarWithOptions(strings.NewReader(strings.TrimLeft(text, "\ufeff \t\r\n")),
		ics.WithUnknownPropertyHandler(ics.AcceptUnknownPropertyHandler))
	if err != nil {
		return nil, fault.Invalid("ics", "is not a well-formed iCalendar document: %v", err)
	}
	if cal == nil {
		return nil, fault.Invalid("ics", "is not a well-formed iCalendar document")
	}
	return cal, nil
}

// calendarZones maps each VTIMEZONE's TZID to the IANA zone it names in
// X-LIC-LOCATION (Google, Thunderbird and many others write one), for TZIDs
// that are not IANA names themselves.
func calendarZones(cal *ics.Calendar) map[string]string {
	zones := map[string]string{}
	for _, c := range cal.Components {
		tz, ok := c.(*ics.VTimezone)
		if !ok {
			continue
		}
		id, loc := property(&tz.ComponentBase, "TZID"), property(&tz.ComponentBase, "X-LIC-LOCATION")
		if id != nil && loc != nil {
			zones[id.Value] = strings.TrimSpace(loc.Value)
		}
	}
	return zones
}

// property finds a component's property by name, ignoring case as RFC 5545
// asks.
func property(c *ics.ComponentBase, name string) *ics.IANAProperty {
	for i := range c.Properties {
		if strings.EqualFold(c.Properties[i].IANAToken, name) {
			return &c.Properties[i]
		}
	}
	return nil
}

func parameter(p *ics.IANAProperty, name string) string {
	for k, v := range p.ICalParameters {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return strings.Trim(v[0], `"`)
		}
	}
	return ""
}

// parsedEvent is one VEVENT read but for its times, which wait until the
// itinerary's zones are known.
type parsedEvent struct {
	label            string // how errors name it: its SUMMARY, UID, or position
	seg              SegmentInput
	zone             string // IANA zone of DTEND's TZID, else DTSTART's, if any: the place's
	start, end       icsTime
	hasEnd           bool
	duration         time.Duration
	startLoc, endLoc *time.Location // from the TZIDs
}

// icsTime is a DATE or DATE-TIME value as written.
type icsTime struct {
	value  string
	isDate bool
	utc    bool
}

func parseEvent(c *ics.ComponentBase, index int, zones map[string]string) (parsedEvent, error) {
	var p parsedEvent
	summary, uid := propertyText(c, "SUMMARY"), propertyText(c, "UID")
	switch {
	case summary != "" && uid != "":
		p.label = strconv.Quote(summary) + " (" + uid + ")"
	case summary != "":
		p.label = strconv.Quote(summary)
	case uid != "":
		p.label = strconv.Quote(uid)
	default:
		p.label = fmt.Sprintf("#%d", index+1)
	}
	bad := func(format string, args ...any) error {
		return fault.Invalid("ics", "event %s: %s", p.label, fmt.Sprintf(format, args...))
	}

	var categories []string
	for i := range c.Properties {
		if strings.EqualFold(c.Properties[i].IANAToken, "CATEGORIES") {
			categories = append(categories, strings.Split(c.Properties[i].Value, ",")...)
		}
	}
	p.seg.Kind = segmentKind(categories, summary)

	location := propertyText(c, "LOCATION")
	if location == "" {
		return p, bad("has no LOCATION naming where it happens (\"…, Kenya\" or \"…, KE\")")
	}
	from, to, isRoute := splitRoute(location)
	if isRoute && (p.seg.Kind == "FLIGHT" || p.seg.Kind == "RAIL") {
		fromPlace, err := placeFromLocation(from)
		if err != nil {
			return p, bad("%v", err)
		}
		toPlace, err := placeFromLocation(to)
		if err != nil {
			return p, bad("%v", err)
		}
		p.seg.From, p.seg.To, p.seg.Place = &fromPlace, &toPlace, toPlace
	} else {
		place, err := placeFromLocation(location)
		if err != nil {
			return p, bad("%v", err)
		}
		if geo := property(c, "GEO"); geo != nil {
			lat, lon, err := parseGeo(geo.Value)
			if err != nil {
				return p, bad("%v", err)
			}
			place.Latitude, place.Longitude = &lat, &lon
		}
		p.seg.Place = place
	}

	start := property(c, "DTSTART")
	if start == nil {
		return p, bad("has no DTSTART")
	}
	var err error
	if p.start, p.startLoc, p.zone, err = readTime(start, zones); err != nil {
		return p, bad("DTSTART: %v", err)
	}
	if end := property(c, "DTEND"); end != nil {
		p.hasEnd = true
		var endZone string
		if p.end, p.endLoc, endZone, err = readTime(end, zones); err != nil {
			return p, bad("DTEND: %v", err)
		}
		// A flight's DTEND is in the zone it lands in, which is its place's.
		if endZone != "" {
			p.zone = endZone
		}
	} else if d := property(c, "DURATION"); d != nil {
		if p.duration, err = parseDuration(d.Value); err != nil {
			return p, bad("DURATION: %v", err)
		}
	}
	return p, nil
}

func propertyText(c *ics.ComponentBase, name string) string {
	if p := property(c, name); p != nil {
		return strings.TrimSpace(p.Value)
	}
	return ""
}

// resolveTimes reads the event's times; zone is where the segment happens,
// used for values that name no zone of their own.
func (p parsedEvent) resolveTimes(zone string) (SegmentInput, error) {
	seg := p.seg
	seg.Timezone = zone
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return seg, fault.Invalid("ics", "event %s: time zone %q: %v", p.label, zone, err)
	}
	startLoc, endLoc := loc, loc
	if p.startLoc != nil {
		startLoc = p.startLoc
	}
	if p.endLoc != nil {
		endLoc = p.endLoc
	}
	if seg.StartsAt, err = p.start.in(startLoc); err != nil {
		return seg, fault.Invalid("ics", "event %s: DTSTART: %v", p.label, err)
	}
	switch {
	case p.hasEnd:
		if seg.EndsAt, err = p.end.in(endLoc); err != nil {
			return seg, fault.Invalid("ics", "event %s: DTEND: %v", p.label, err)
		}
	case p.duration > 0:
		seg.EndsAt = seg.StartsAt.Add(p.duration)
	case p.start.isDate:
		// RFC 5545: an all-day event without an end lasts the day.
		seg.EndsAt = seg.StartsAt.AddDate(0, 0, 1)
	default:
		seg.EndsAt = seg.StartsAt
	}
	return seg, nil
}

var (
	dateValue     = regexp.MustCompile(`^\d{8}$`)
	dateTimeValue = regexp.MustCompile(`^\d{8}T\d{6}Z?$`)
)

// readTime reads a DTSTART or DTEND: its value, and the zone its TZID names
// (nil when it names none).
func readTime(p *ics.IANAProperty, zones map[string]string) (icsTime, *time.Location, string, error) {
	v := strings.TrimSpace(p.Value)
	t := icsTime{value: v}
	switch {
	case dateValue.MatchString(v):
		t.isDate = true
	case dateTimeValue.MatchString(v):
		t.utc = strings.HasSuffix(v, "Z")
	default:
		return t, nil, "", fmt.Errorf("%q is neither a DATE (20260310) nor a DATE-TIME (20260310T083000, …Z)", v)
	}
	tzid := parameter(p, "TZID")
	if tzid == "" || t.utc {
		return t, nil, "", nil
	}
	zone, err := ianaZone(tzid, zones)
	if err != nil {
		return t, nil, "", err
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return t, nil, "", err
	}
	return t, loc, zone, nil
}

func (t icsTime) in(loc *time.Location) (time.Time, error) {
	switch {
	case t.isDate:
		return time.ParseInLocation("20060102", t.value, loc)
	case t.utc:
		return time.Parse("20060102T150405Z", t.value)
	}
	return time.ParseInLocation("20060102T150405", t.value, loc)
}

// ianaZone turns a TZID into an IANA zone name: itself when it is one, the
// X-LIC-LOCATION of its VTIMEZONE, or the Windows name's usual zone.
func ianaZone(tzid string, zones map[string]string) (string, error) {
	candidates := []string{tzid, zones[tzid], windowsZones[tzid]}
	for _, name := range candidates {
		if name == "" || name == "Local" {
			continue
		}
		if _, err := time.LoadLocation(name); err == nil {
			return name, nil
		}
	}
	return "", fmt.Errorf("TZID %q is not an IANA time zone (such as Europe/Paris) nor a Windows zone this import knows", tzid)
}

// windowsZones maps the Windows zone names Outlook and Exchange write as
// TZID to the zone CLDR's windowsZones.xml gives for their territory "001".
var windowsZones = map[string]string{
	"UTC":                             "UTC",
	"GMT Standard Time":               "Europe/London",
	"Greenwich Standard Time":         "Atlantic/Reykjavik",
	"W. Europe Standard Time":         "Europe/Berlin",
	"Romance Standard Time":           "Europe/Paris",
	"Central Europe Standard Time":    "Europe/Budapest",
	"Central European Standard Time":  "Europe/Warsaw",
	"E. Europe Standard Time":         "Europe/Chisinau",
	"GTB Standard Time":               "Europe/Bucharest",
	"FLE Standard Time":               "Europe/Kiev",
	"Russian Standard Time":           "Europe/Moscow",
	"Turkey Standard Time":            "Europe/Istanbul",
	"Israel Standard Time":            "Asia/Jerusalem",
	"Egypt Standard Time":             "Africa/Cairo",
	"South Africa Standard Time":      "Africa/Johannesburg",
	"E. Africa Standard Time":         "Africa/Nairobi",
	"W. Central Africa Standard Time": "Africa/Lagos",
	"Morocco Standard Time":           "Africa/Casablanca",
	"Arab Standard Time":              "Asia/Riyadh",
	"Arabian Standard Time":           "Asia/Dubai",
	"Iran Standard Time":              "Asia/Tehran",
	"Pakistan Standard Time":          "Asia/Karachi",
	"India Standard Time":             "Asia/Calcutta",
	"Bangladesh Standard Time":        "Asia/Dhaka",
	"SE Asia Standard Time":           "Asia/Bangkok",
	"Singapore Standard Time":         "Asia/Singapore",
	"China Standard Time":             "Asia/Shanghai",
	"Tokyo Standard Time":             "Asia/Tokyo",
	"Korea Standard Time":             "Asia/Seoul",
	"AUS Eastern Standard Time":       "Australia/Sydney",
	"New Zealand Standard Time":       "Pacific/Auckland",
	"Eastern Standard Time":           "America/New_York",
	"Central Standard Time":           "America/Chicago",
	"Mountain Standard Time":          "America/Denver",
	"Pacific Standard Time":           "America/Los_Angeles",
	"Central Standard Time (Mexico)":  "America/Mexico_City",
	"SA Pacific Standard Time":        "America/Bogota",
	"E. South America Standard Time":  "America/Sao_Paulo",
	"Argentina Standard Time":         "America/Buenos_Aires",
}

var durationValue = regexp.MustCompile(`^\+?P(?:(\d{1,4})W)?(?:(\d{1,5})D)?(?:T(?:(\d{1,6})H)?(?:(\d{1,8})M)?(?:(\d{1,9})S)?)?$`)

// parseDuration reads an RFC 5545 DURATION (P1D, PT2H30M, P1W); days count
// as 24 hours, which is what an itinerary's durations mean in practice.
func parseDuration(v string) (time.Duration, error) {
	m := durationValue.FindStringSubmatch(strings.TrimSpace(v))
	if m == nil || v == "P" || strings.HasSuffix(v, "T") {
		return 0, fmt.Errorf("%q is not a positive duration such as PT2H30M", v)
	}
	units := []time.Duration{7 * 24 * time.Hour, 24 * time.Hour, time.Hour, time.Minute, time.Second}
	var d time.Duration
	for i, unit := range units {
		if m[i+1] == "" {
			continue
		}
		n, _ := strconv.Atoi(m[i+1]) // the pattern bounds it
		d += time.Duration(n) * unit
	}
	return d, nil
}

// parseGeo reads GEO: "lat;lon" (some exporters write a comma).
func parseGeo(v string) (lat, lon float64, err error) {
	latText, lonText, ok := strings.Cut(v, ";")
	if !ok {
		latText, lonText, ok = strings.Cut(v, ",")
	}
	if ok {
		lat, err = strconv.ParseFloat(strings.TrimSpace(latText), 64)
		if err == nil {
			lon, err = strconv.ParseFloat(strings.TrimSpace(lonText), 64)
		}
	}
	if !ok || err != nil {
		return 0, 0, fmt.Errorf("GEO %q is not latitude;longitude", v)
	}
	return lat, lon, nil
}

// routeSeparators split a journey's LOCATION into where from and where to.
var routeSeparator = regexp.MustCompile(`\s+(?:to|→|->)\s+`)

func splitRoute(location string) (from, to string, ok bool) {
	parts := routeSeparator.Split(location, -1)
	if len(parts) != 2 || strings.TrimSpace(parts[0]) == "" || strings.TrimSpace(parts[1]) == "" {
		return "", "", false
	}
	return strings.TrimSpace(parts[0]), strings.TrimSpace(parts[1]), true
}

// placeFromLocation reads a LOCATION such as "Hilton, Mama Ngina St, Nairobi,
// Kenya" or "10 Rue de Rivoli, 75001 Paris, FR": the country last, the city
// the nearest part before it once postcodes and state codes are set aside.
func placeFromLocation(location string) (Place, error) {
	parts := strings.Split(location, ",")
	last := withoutDigits(parts[len(parts)-1])
	code, ok := countryCode(last)
	if !ok {
		return Place{}, fmt.Errorf("LOCATION %q does not end with a country this import knows (\"…, Kenya\" or \"…, KE\")", location)
	}
	p := Place{CountryCode: code}
	for i := len(parts) - 2; i >= 0; i-- {
		city := withoutDigits(parts[i])
		if city != "" && !isStateCode(city) {
			p.City = city
			break
		}
	}
	return p, nil
}

func countryCode(name string) (string, bool) {
	if len(name) == 2 {
		if c, ok := country.Get(strings.ToUpper(name)); ok {
			return c.Code, true
		}
	}
	if c, ok := country.Lookup(name); ok {
		return c.Code, true
	}
	return "", false
}

// withoutDigits drops the words of a LOCATION part that hold digits
// (postcodes, street numbers) and trims it.
func withoutDigits(part string) string {
	words := strings.Fields(part)
	kept := words[:0]
	for _, w := range words {
		if !strings.ContainsFunc(w, unicode.IsDigit) {
			kept = append(kept, w)
		}
	}
	return strings.Join(kept, " ")
}

// isStateCode spots "CA" in "Mountain View, CA 94043, USA".
func isStateCode(s string) bool {
	if len(s) != 2 {
		return false
	}
	for _, r := range s {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

var (
	flightNumber = regexp.MustCompile(`\b(?:[A-Z]{2}|[A-Z][0-9]|[0-9][A-Z])\s?[0-9]{1,4}\b`)
	kindWords    = []struct {
		kind  string
		words *regexp.Regexp
	}{
		{"FLIGHT", regexp.MustCompile(`(?i)\b(?:flight|flights|fly|flying|airline)\b`)},
		{"HOTEL", regexp.MustCompile(`(?i)\b(?:hotel|check-in|check in|checkin|lodging|accommodation|hostel)\b`)},
		{"RAIL", regexp.MustCompile(`(?i)\b(?:train|rail|railway|eurostar|shinkansen)\b`)},
		{"MEETING", regexp.MustCompile(`(?i)\b(?:meeting)\b`)},
		{"GROUND", regexp.MustCompile(`(?i)\b(?:taxi|car|car hire|transfer|shuttle|chauffeur)\b`)},
	}
)

// segmentKind classifies an event: CATEGORIES first (a booking tool's own
// word), then the SUMMARY, where the earliest keyword wins ("Taxi to the
// hotel" is GROUND, "Hotel shuttle" HOTEL), then a flight number ("UA837
// SFO to NRT").
func segmentKind(categories []string, summary string) string {
	for _, c := range categories {
		c = strings.TrimSpace(c)
		for _, k := range kindWords {
			if strings.EqualFold(c, k.kind) || k.words.MatchString(c) {
				return k.kind
			}
		}
	}
	kind, at := "", len(summary)+1
	for _, k := range kindWords {
		if loc := k.words.FindStringIndex(summary); loc != nil && loc[0] < at {
			kind, at = k.kind, loc[0]
		}
	}
	switch {
	case kind != "":
		return kind
	case flightNumber.MatchString(summary):
		return "FLIGHT"
	}
	return "OTHER"
}
