// Package usgs reads the USGS earthquake GeoJSON summary feeds
// (https://earthquake.usgs.gov/earthquakes/feed/v1.0/geojson.php), for
// example summary/2.5_day.geojson. It is a pure parser: no network, no
// database. A document that is not a FeatureCollection is refused whole; a
// feature that cannot be used (bad coordinates, deleted, not an earthquake)
// is skipped and named in Feed.Skipped, so one odd feature never hides the
// rest of the feed.
package usgs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrMalformed wraps every refusal of a whole document: an HTML error page,
// truncated JSON, anything but a FeatureCollection with a features array.
var ErrMalformed = errors.New("usgs: malformed feed")

// Event is one earthquake as the feed describes it.
type Event struct {
	ID        string   // the feed's id, for example us7000r4k2
	Magnitude *float64 // nil when the feed has none yet
	Place     string   // "7 km NE of Kisarazu, Japan"; may be empty
	Title     string   // "M 6.4 - 7 km NE of Kisarazu, Japan"
	URL       string   // the event page
	Type      string   // always "earthquake": other types are skipped
	Status    string   // automatic or reviewed: deleted ones are skipped
	Alert     string   // PAGER alert: "", green, yellow, orange, red
	Time      time.Time
	Updated   time.Time
	Latitude  float64
	Longitude float64
	DepthKm   float64 // may be negative: above sea level
	Tsunami   bool
}

// Feed is one parsed document.
type Feed struct {
	Generated time.Time // metadata.generated; zero when absent
	Events    []Event   // in the feed's order (newest first, as USGS serves it)
	// Skipped says which features were left out and why ("ci40871234:
	// deleted"); worth logging, never fatal.
	Skipped []string
}

// The wire format. Numbers the feed may send as null are pointers.
type document struct {
	Type     string `json:"type"`
	Metadata *struct {
		Generated *int64 `json:"generated"`
	} `json:"metadata"`
	Features []json.RawMessage `json:"features"`
}

type feature struct {
	Type       string `json:"type"`
	ID         string `json:"id"`
	Properties *struct {
		Mag     *float64 `json:"mag"`
		Place   *string  `json:"place"`
		Time    *int64   `json:"time"`
		Updated *int64   `json:"updated"`
		URL     *string  `json:"url"`
		Alert   *string  `json:"alert"`
		Status  *string  `json:"status"`
		Tsunami *int     `json:"tsunami"`
		Type    *string  `json:"type"`
		Title   *string  `json:"title"`
	} `json:"properties"`
	Geometry *struct {
		Type        string     `json:"type"`
		Coordinates []*float64 `json:"coordinates"`
	} `json:"geometry"`
}

// Feed ids are short network+code strings (us7000r4k2, ak0266h3l2f1,
// pr2026324001); anything else is not an id we will key rows and incidents
// on.
var validID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Parse reads one summary feed document.
func Parse(body []byte) (Feed, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Feed{}, fmt.Errorf("%w: not a JSON object (%s)", ErrMalformed, preview(trimmed))
	}
	var doc document
	if err := json.Unmarshal(trimmed, &doc); err != nil {
		return Feed{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if doc.Type != "FeatureCollection" {
		return Feed{}, fmt.Errorf("%w: type %q, want FeatureCollection", ErrMalformed, clip(doc.Type, 40))
	}
	if doc.Features == nil {
		return Feed{}, fmt.Errorf("%w: no features array", ErrMalformed)
	}
	var f Feed
	if doc.Metadata != nil && doc.Metadata.Generated != nil {
		f.Generated = time.UnixMilli(*doc.Metadata.Generated).UTC()
	}
	seen := make(map[string]bool, len(doc.Features))
	for i, raw := range doc.Features {
		ev, reason := parseFeature(raw)
		label := ev.ID
		if label == "" {
			label = fmt.Sprintf("feature %d", i)
		}
		switch {
		case reason != "":
			f.Skipped = append(f.Skipped, label+": "+reason)
		case seen[ev.ID]:
			f.Skipped = append(f.Skipped, label+": duplicate id")
		default:
			seen[ev.ID] = true
			f.Events = append(f.Events, ev)
		}
	}
	return f, nil
}

// parseFeature returns the event, or why the feature cannot be used (with
// as much of the event as was read, for the message).
func parseFeature(raw json.RawMessage) (Event, string) {
	var ft feature
	if err := json.Unmarshal(raw, &ft); err != nil {
		return Event{}, "unreadable feature"
	}
	ev := Event{ID: ft.ID}
	if !validID.MatchString(ft.ID) {
		return Event{ID: clip(cleanText(ft.ID), 64)}, "missing or unusable id"
	}
	if ft.Type != "Feature" {
		return ev, "not a Feature"
	}
	p := ft.Properties
	if p == nil {
		return ev, "no properties"
	}
	ev.Status = text(p.Status)
	if strings.EqualFold(ev.Status, "deleted") {
		return ev, "deleted"
	}
	ev.Type = text(p.Type)
	// Events without a type predate the field; every one of them is an
	// earthquake. Quarry blasts, explosions, ice quakes… are not ours.
	if ev.Type == "" {
		ev.Type = "earthquake"
	}
	if !strings.EqualFold(ev.Type, "earthquake") {
		return ev, "not an earthquake (" + clip(ev.Type, 40) + ")"
	}
	ev.Type = "earthquake"
	g := ft.Geometry
	if g == nil || g.Type != "Point" || len(g.Coordinates) < 2 || g.Coordinates[0] == nil || g.Coordinates[1] == nil {
		return ev, "missing coordinates"
	}
	lon, lat := *g.Coordinates[0], *g.Coordinates[1]
	if lon < -180 || lon > 180 || lat < -90 || lat > 90 {
		return ev, fmt.Sprintf("coordinates out of range (%g, %g)", lon, lat)
	}
	ev.Longitude, ev.Latitude = lon, lat
	if len(g.Coordinates) > 2 && g.Coordinates[2] != nil {
		ev.DepthKm = *g.Coordinates[2]
	}
	if p.Time == nil {
		return ev, "no time"
	}
	ev.Time = time.UnixMilli(*p.Time).UTC()
	if !plausible(ev.Time) {
		return ev, "time out of range"
	}
	ev.Updated = ev.Time
	if p.Updated != nil {
		if u := time.UnixMilli(*p.Updated).UTC(); plausible(u) {
			ev.Updated = u
		}
	}
	if p.Mag != nil && !math.IsNaN(*p.Mag) && !math.IsInf(*p.Mag, 0) {
		m := *p.Mag
		ev.Magnitude = &m
	}
	ev.Place = clip(text(p.Place), 300)
	ev.Title = clip(text(p.Title), 300)
	ev.URL = clip(text(p.URL), 500)
	switch a := strings.ToLower(text(p.Alert)); a {
	case "green", "yellow", "orange", "red":
		ev.Alert = a
	}
	ev.Tsunami = p.Tsunami != nil && *p.Tsunami != 0
	return ev, ""
}

// plausible keeps absurd epochs out of the database, which would refuse
// the year 300,000 and with it the whole batch.
func plausible(t time.Time) bool { return t.Year() >= 1800 && t.Year() <= 3000 }

// text returns a feed string fit to store: Postgres refuses NUL, and the
// decoder has already replaced invalid UTF-8.
func text(s *string) string {
	if s == nil {
		return ""
	}
	return cleanText(*s)
}

func cleanText(s string) string {
	return strings.TrimSpace(strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", ""))
}

// clip shortens s to at most n runes.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// preview shows the start of a refused body, for the error message.
func preview(b []byte) string {
	if len(b) == 0 {
		return "empty body"
	}
	return fmt.Sprintf("%q", clip(strings.ToValidUTF8(string(b[:min(len(b), 60)]), "?"), 40))
}
