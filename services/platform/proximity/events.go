package proximity

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"meridian.dev/platform/advisory/feed"
	"meridian.dev/platform/country"
	"meridian.dev/platform/escalation"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/incident"
	"meridian.dev/platform/proximity/usgs"
)

// MinMagnitude is the smallest earthquake that may raise an incident. Below
// M4.5 shaking rarely harms buildings or people, and the USGS 2.5+ feed
// carries dozens of such events a day: they are stored and shown, never
// paged. A variable so an operator's build (or a test) can move it.
var MinMagnitude = 4.5

// Values written for USGS events.
const (
	SourceUSGS     = "USGS"
	KindEarthquake = "EARTHQUAKE"
	// EventActor raises the incidents of feed events, in audit rows and
	// timelines.
	EventActor = "system:usgs"
	// EventSourceType marks incidents raised by a feed event; source_ref is
	// the event's id, and the unique index incidents_source_once makes one
	// event raise one incident however often the feed is applied.
	EventSourceType = "EVENT_FEED"
	// USGSFeedURL is the feed the ingester reads by default: every M2.5+
	// earthquake of the past day, refreshed by USGS every minute.
	USGSFeedURL = "https://earthquake.usgs.gov/earthquakes/feed/v1.0/summary/2.5_day.geojson"
)

// Event is a stored feed event.
type Event struct {
	ID         string     `json:"id"` // "usgs:<the feed's id>"
	Source     string     `json:"source"`
	Kind       string     `json:"kind"`
	Title      string     `json:"title"`
	Magnitude  *float64   `json:"magnitude,omitempty"`
	Latitude   float64    `json:"latitude"`
	Longitude  float64    `json:"longitude"`
	DepthKm    *float64   `json:"depthKm,omitempty"`
	OccurredAt time.Time  `json:"occurredAt"`
	UpdatedAt  time.Time  `json:"updatedAt"`
	URL        string     `json:"url"`
	IncidentID *uuid.UUID `json:"incidentId,omitempty"` // set once the event raised an incident
	FetchedAt  time.Time  `json:"fetchedAt"`
}

// Cursor is the event's position in List, for `after`.
func (e Event) Cursor() string {
	return base64.RawURLEncoding.EncodeToString([]byte("geo_event:" + strconv.FormatInt(e.OccurredAt.UnixMicro(), 10) + ":" + e.ID))
}

func decodeEventCursor(cursor string) (time.Time, string, error) {
	bad := fault.Invalid("after", "is not a cursor from this list")
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return time.Time{}, "", bad
	}
	rest, ok := strings.CutPrefix(string(raw), "geo_event:")
	if !ok {
		return time.Time{}, "", bad
	}
	micros, id, ok := strings.Cut(rest, ":")
	us, err := strconv.ParseInt(micros, 10, 64)
	if !ok || err != nil || id == "" || !utf8.ValidString(id) || strings.IndexByte(id, 0) >= 0 {
		return time.Time{}, "", bad
	}
	return time.UnixMicro(us).UTC(), id, nil
}

// EventSummary is what one Apply did.
type EventSummary struct {
	Fetched         int      // events in the feed, after the parser's skips
	New             int      // stored for the first time
	Updated         int      // stored before, and the feed has a newer version
	IncidentsRaised int      // by this Apply (not those raised earlier or concurrently)
	Skipped         []string // the parser's skips, and events near us that could not be raised
}

// Events stores feed events and raises incidents for those near us.
type Events struct {
	pool      *pgxpool.Pool
	incidents *incident.Store
	finder    *Finder
}

// NewEvents returns events on pool, raising incidents through incidents.
func NewEvents(pool *pgxpool.Pool, incidents *incident.Store) *Events {
	return &Events{pool: pool, incidents: incidents, finder: NewFinder(pool)}
}

// Apply stores every event of the feed (inserting new ones, updating those
// the feed has revised), then raises an incident for each event that has
// none yet, is at least MinMagnitude, and has a site within the EARTHQUAKE
// SITE radius or a traveller (a segment covering the event's time, on a
// trip neither cancelled nor rejected) within the EARTHQUAKE TRAVELLER
// radius. Other events stay stored and visible; nobody is paged. Applying
// the same feed again raises nothing new.
func (e *Events) Apply(ctx context.Context, f usgs.Feed) (EventSummary, error) {
	sum := EventSummary{Fetched: len(f.Events), Skipped: slices.Clone(f.Skipped)}
	ids := make([]string, 0, len(f.Events))
	err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, ev := range f.Events {
			id := "usgs:" + ev.ID
			ids = append(ids, id)
			b.Queue(upsertEventSQL, id, SourceUSGS, KindEarthquake, eventTitle(ev), ev.Magnitude, ev.Latitude, ev.Longitude,
				ev.DepthKm, ev.Time, ev.Updated, ev.URL).QueryRow(func(row pgx.Row) error {
				var inserted bool
				switch err := row.Scan(&inserted); {
				case errors.Is(err, pgx.ErrNoRows): // unchanged since the last reading
				case err != nil:
					return fmt.Errorf("proximity: store event %s: %w", id, err)
				case inserted:
					sum.New++
				default:
					sum.Updated++
				}
				return nil
			})
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return EventSummary{}, err
	}

	rows, err := e.pool.Query(ctx, `SELECT id, magnitude, latitude, longitude, occurred_at FROM geo_events
		WHERE id = ANY($1) AND incident_id IS NULL AND magnitude >= $2 ORDER BY occurred_at, id`, ids, MinMagnitude)
	if err != nil {
		return sum, fmt.Errorf("proximity: candidate events: %w", err)
	}
	type candidate struct {
		id        string
		magnitude float64
		at        place
	}
	candidates, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (candidate, error) {
		var c candidate
		err := row.Scan(&c.id, &c.magnitude, &c.at.Latitude, &c.at.Longitude, &c.at.At)
		return c, err
	})
	if err != nil {
		return sum, fmt.Errorf("proximity: candidate events: %w", err)
	}
	if len(candidates) == 0 {
		return sum, nil
	}
	radii, err := e.finder.radii.table(ctx)
	if err != nil {
		return sum, err
	}
	siteKm, travellerKm := radii.of(KindEarthquake, AssetSite), radii.of(KindEarthquake, AssetTraveller)
	for _, c := range candidates {
		near, err := e.finder.near(ctx, c.at, siteKm, travellerKm)
		if err != nil {
			return sum, err
		}
		if near.empty() {
			continue
		}
		raised, err := e.raise(ctx, c.id, c.magnitude, c.at, near)
		var f *fault.Error
		switch {
		case errors.As(err, &f):
			// The input is ours, so a refusal means data we cannot map (a
			// traveller in a country without a region): report it and go on
			// with the other events rather than block the feed.
			sum.Skipped = append(sum.Skipped, c.id+": not raised: "+f.Message)
		case err != nil:
			return sum, err
		case raised:
			sum.IncidentsRaised++
		}
	}
	return sum, nil
}

// upsertEventSQL stores an event; a stored event changes only when the feed
// has a newer version of it. It returns no row when nothing changed.
const upsertEventSQL = `INSERT INTO geo_events (id, source, kind, title, magnitude, latitude, longitude, depth_km,
		occurred_at, updated_at, url, fetched_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now())
	ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, magnitude = EXCLUDED.magnitude,
		latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude, depth_km = EXCLUDED.depth_km,
		occurred_at = EXCLUDED.occurred_at, updated_at = EXCLUDED.updated_at, url = EXCLUDED.url, fetched_at = now()
	 WHERE geo_events.updated_at < EXCLUDED.updated_at
	RETURNING xmax = 0`

func eventTitle(ev usgs.Event) string {
	switch {
	case ev.Title != "":
		return ev.Title
	case ev.Place != "":
		return "Earthquake - " + ev.Place
	default:
		return "Earthquake"
	}
}

// raise raises the event's incident and links it to the event. It reports
// false when another run raised it first (the unique index on the source
// says so); the link is then made to that incident.
func (e *Events) raise(ctx context.Context, eventID string, magnitude float64, at place, near *nearby) (bool, error) {
	nearestName, nearestKm := nearest(near)
	n := incident.New{
		Title:      clipRunes(fmt.Sprintf("Earthquake M%.1f, %.0f km from %s", magnitude, nearestKm, nearestName), 200),
		Severity:   Severity(magnitude, nearestKm),
		Kind:       KindEarthquake,
		SourceType: EventSourceType,
		SourceRef:  eventID,
		Location:   &incident.Location{Latitude: at.Latitude, Longitude: at.Longitude},
		Regions:    travellerRegions(near.travellers),
	}
	// Raise takes at most 100 sites; the nearest are the ones to name. The
	// regions of the others still escalate.
	for i, s := range near.sites {
		if i < 100 {
			n.SiteIDs = append(n.SiteIDs, s.SiteID)
		} else {
			n.Regions = append(n.Regions, s.Region)
		}
	}
	var incidentID uuid.UUID
	raised := true
	inc, _, err := e.incidents.Raise(ctx, EventActor, n, func([]string) error { return nil })
	switch {
	case alreadyRaised(err):
		raised = false
		if err := e.pool.QueryRow(ctx, `SELECT id FROM incidents WHERE source_type = $1 AND source_ref = $2`,
			EventSourceType, eventID).Scan(&incidentID); err != nil {
			return false, fmt.Errorf("proximity: incident of %s: %w", eventID, err)
		}
	case err != nil:
		return false, err
	default:
		incidentID = inc.ID
	}
	// A crash between Raise and this update is repaired by the next Apply:
	// the event still has no incident, Raise meets the unique index, and the
	// link is made here.
	if _, err := e.pool.Exec(ctx, `UPDATE geo_events SET incident_id = $2 WHERE id = $1 AND incident_id IS NULL`,
		eventID, incidentID); err != nil {
		return false, fmt.Errorf("proximity: link %s: %w", eventID, err)
	}
	return raised, nil
}

func alreadyRaised(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "incidents_source_once"
}

// nearest names the nearest asset and its distance, for the title.
func nearest(n *nearby) (string, float64) {
	name, km := "", -1.0
	if len(n.sites) > 0 {
		name, km = n.sites[0].Name, n.sites[0].DistanceKm
	}
	if len(n.travellers) > 0 && (km < 0 || n.travellers[0].DistanceKm < km) {
		t := n.travellers[0]
		// The title is seen by everyone paged: it says where, not who.
		name, km = "a traveller in "+t.CountryCode, t.DistanceKm
		if t.City != "" {
			name = "a traveller in " + t.City
		}
	}
	return name, km
}

// travellerRegions are the regions of the countries the travellers are in;
// a country the country table does not place falls back to the traveller's
// own regions in the directory.
func travellerRegions(ts []nearTraveller) []string {
	var regions []string
	for _, t := range ts {
		if c, ok := country.Get(strings.TrimSpace(t.CountryCode)); ok && c.Region != "" {
			regions = append(regions, c.Region)
		} else {
			regions = append(regions, t.HomeRegions...)
		}
	}
	slices.Sort(regions)
	return slices.Compact(regions)
}

// Severity maps an earthquake's magnitude and its distance to the nearest
// of our assets onto an incident severity:
//
//	SEV1: M ≥ 7, or M ≥ 6 within 50 km — destructive shaking where we are;
//	SEV2: M ≥ 6, or M ≥ 5 within 25 km — damage likely nearby;
//	SEV3: M ≥ 5 — felt strongly, check on people;
//	SEV4: anything smaller (M4.5–5) — felt, rarely harmful.
func Severity(magnitude, nearestKm float64) escalation.Severity {
	switch {
	case magnitude >= 7, magnitude >= 6 && nearestKm <= 50:
		return escalation.SEV1
	case magnitude >= 6, magnitude >= 5 && nearestKm <= 25:
		return escalation.SEV2
	case magnitude >= 5:
		return escalation.SEV3
	default:
		return escalation.SEV4
	}
}

func clipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// MaxPageSize bounds List's `first`.
const MaxPageSize = 500

// List returns stored events newest first, after the cursor, and whether
// more follow.
func (e *Events) List(ctx context.Context, first int, after string) ([]Event, bool, error) {
	if first < 0 || first > MaxPageSize {
		return nil, false, fault.Invalid("first", "must be between 0 and %d", MaxPageSize)
	}
	// The first page starts after a sentinel later than any event (the
	// parser refuses times past the year 3000).
	afterAt, afterID := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), ""
	if after != "" {
		var err error
		if afterAt, afterID, err = decodeEventCursor(after); err != nil {
			return nil, false, err
		}
	}
	rows, err := e.pool.Query(ctx, `SELECT id, source, kind, title, magnitude, latitude, longitude, depth_km,
			occurred_at, updated_at, url, incident_id, fetched_at
		  FROM geo_events
		 WHERE (occurred_at, id) < ($1, $2)
		 ORDER BY occurred_at DESC, id DESC
		 LIMIT $3`, afterAt, afterID, first+1)
	if err != nil {
		return nil, false, fmt.Errorf("proximity: list events: %w", err)
	}
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Event, error) {
		var ev Event
		err := row.Scan(&ev.ID, &ev.Source, &ev.Kind, &ev.Title, &ev.Magnitude, &ev.Latitude, &ev.Longitude, &ev.DepthKm,
			&ev.OccurredAt, &ev.UpdatedAt, &ev.URL, &ev.IncidentID, &ev.FetchedAt)
		return ev, err
	})
	if err != nil {
		return nil, false, fmt.Errorf("proximity: list events: %w", err)
	}
	more := len(events) > first
	if more {
		events = events[:first]
	}
	return events, more, nil
}

// EventsIngester fetches the USGS feed and applies it: one Run per tick of
// whatever schedules it.
type EventsIngester struct {
	Events *Events
	Getter feed.Getter
	URL    string // USGSFeedURL when empty
}

// Run fetches, parses and applies the feed once. A feed that cannot be
// fetched or parsed changes nothing.
func (in *EventsIngester) Run(ctx context.Context) (EventSummary, error) {
	url := in.URL
	if url == "" {
		url = USGSFeedURL
	}
	doc, err := in.Getter.Get(ctx, url)
	if err != nil {
		return EventSummary{}, fmt.Errorf("proximity: fetch %s: %w", url, err)
	}
	f, err := usgs.Parse(doc.Body)
	if err != nil {
		return EventSummary{}, fmt.Errorf("proximity: %s: %w", url, err)
	}
	return in.Events.Apply(ctx, f)
}
