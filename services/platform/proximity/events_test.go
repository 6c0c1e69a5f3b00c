package proximity

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"meridian.dev/platform/advisory/feed"
	"meridian.dev/platform/escalation"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/incident"
	"meridian.dev/platform/proximity/usgs"
	"meridian.dev/platform/testenv"
)

// The fixture's events happen on 2026-11-19/20 (UTC). Its places, and their
// distances as PostGIS measures them:
//
//	us7000r4k2 M6.4 Tokyo Bay      40.9 km from the Tokyo Office
//	us7000r4k0 M4.3 Urayasu        20.0 km from the Tokyo Office
//	us7000r4h9 M5.2 near Cuernavaca 63.0 km from the Mexico City Office
//	us7000r4g1 M5.8 off Wakayama   71.6 km from Osaka (no site near)
//	us7000r4c7 M4.5 off Valparaíso 140.5 km from the Santiago Office
//	us7000r4f5 M4.6 Mid-Atlantic Ridge, us7000r4e8 M4.8 south of Fiji: far from everything
var (
	tokyoOffice    = siteRow{"TYO-OFC", "Tokyo Office", "APAC", "JP", 35.6762, 139.6503}
	mexicoOffice   = siteRow{"MEX-OFC", "Mexico City Office", "AMER", "MX", 19.4326, -99.1332}
	santiagoOffice = siteRow{"SCL-OFC", "Santiago Office", "AMER", "CL", -33.4489, -70.6693}
	londonHQ       = siteRow{"LON-HQ", "London Regional Headquarters", "EMEA", "GB", 51.5074, -0.1278}
	day            = time.Date(2026, 11, 19, 0, 0, 0, 0, time.UTC)
)

type raisedIncident struct {
	ID                    uuid.UUID
	Title, Severity, Kind string
	SourceType, SourceRef string
	SiteIDs               []uuid.UUID
	Regions               []string
	Lat, Lon              float64
	CreatedBy             string
}

func incidentsBySource(t *testing.T, pool *pgxpool.Pool) map[string]raisedIncident {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT id, title, severity, kind, source_type, source_ref, site_ids, regions,
		latitude, longitude, created_by FROM incidents`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]raisedIncident{}
	for rows.Next() {
		var r raisedIncident
		if err := rows.Scan(&r.ID, &r.Title, &r.Severity, &r.Kind, &r.SourceType, &r.SourceRef, &r.SiteIDs, &r.Regions,
			&r.Lat, &r.Lon, &r.CreatedBy); err != nil {
			t.Fatal(err)
		}
		out[r.SourceRef] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestApplyRaisesIncidentsForEventsNearUs(t *testing.T) {
	pool := testenv.NewPool(t)
	ctx := context.Background()
	tokyo := insertSite(t, pool, tokyoOffice)
	mexico := insertSite(t, pool, mexicoOffice)
	insertSite(t, pool, santiagoOffice)
	insertSite(t, pool, londonHQ)

	// A traveller in Osaka during the Wakayama earthquake; their home region
	// is EMEA, but the incident belongs to where they are (Japan: APAC).
	insertUser(t, pool, "trav-osaka", "EMEA")
	osakaTrip := insertTrip(t, pool, "trav-osaka", "APPROVED")
	osakaStay := insertSegment(t, pool, osakaTrip, segmentRow{Position: 1, From: day, To: day.Add(72 * time.Hour),
		City: "Osaka", Country: "JP", Lat: 34.6937, Lon: 135.5023})
	// Santiago is outside the EARTHQUAKE site radius (100 km) of the
	// Valparaíso event but inside the traveller radius (150 km): only
	// travellers could raise it, and none counts — one trip is cancelled,
	// the other's segment starts after the earthquake.
	cancelled := insertTrip(t, pool, "trav-cancelled", "CANCELLED")
	insertSegment(t, pool, cancelled, segmentRow{Position: 1, From: day, To: day.Add(72 * time.Hour),
		City: "Santiago", Country: "CL", Lat: -33.4489, Lon: -70.6693})
	later := insertTrip(t, pool, "trav-later", "APPROVED")
	insertSegment(t, pool, later, segmentRow{Position: 1, From: day.Add(48 * time.Hour), To: day.Add(96 * time.Hour),
		City: "Santiago", Country: "CL", Lat: -33.4489, Lon: -70.6693})

	events := NewEvents(pool, incident.NewStore(pool))
	sum, err := events.Apply(ctx, dayFeed(t))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Fetched != 14 || sum.New != 14 || sum.Updated != 0 || sum.IncidentsRaised != 3 || len(sum.Skipped) != 2 {
		t.Errorf("summary %+v, want 14 fetched, 14 new, 3 raised, 2 skipped", sum)
	}

	got := incidentsBySource(t, pool)
	if len(got) != 3 {
		t.Fatalf("%d incidents, want 3: %+v", len(got), got)
	}
	want := map[string]raisedIncident{
		"usgs:us7000r4k2": {Title: "Earthquake M6.4, 41 km from Tokyo Office", Severity: "SEV1",
			SiteIDs: []uuid.UUID{tokyo}, Regions: []string{"APAC"}, Lat: 35.421, Lon: 139.976},
		"usgs:us7000r4h9": {Title: "Earthquake M5.2, 63 km from Mexico City Office", Severity: "SEV3",
			SiteIDs: []uuid.UUID{mexico}, Regions: []string{"AMER"}, Lat: 18.951, Lon: -99.452},
		"usgs:us7000r4g1": {Title: "Earthquake M5.8, 72 km from a traveller in Osaka", Severity: "SEV3",
			SiteIDs: []uuid.UUID{}, Regions: []string{"APAC"}, Lat: 34.05, Lon: 135.45},
	}
	for ref, w := range want {
		g, ok := got[ref]
		if !ok {
			t.Errorf("no incident for %s", ref)
			continue
		}
		if g.Title != w.Title || g.Severity != w.Severity || g.Kind != "EARTHQUAKE" || g.SourceType != "EVENT_FEED" ||
			!slices.Equal(g.SiteIDs, w.SiteIDs) || !slices.Equal(g.Regions, w.Regions) || g.Lat != w.Lat || g.Lon != w.Lon ||
			g.CreatedBy != "system:usgs" {
			t.Errorf("%s:\n got %+v\nwant %+v", ref, g, w)
		}
		// One escalation per region, really opened by the incident store.
		if n := count(t, pool, `SELECT count(*) FROM escalations WHERE incident_id = $1 AND region = ANY($2)`, g.ID, w.Regions); n != len(w.Regions) {
			t.Errorf("%s: %d escalations, want %d", ref, n, len(w.Regions))
		}
		if n := count(t, pool, `SELECT count(*) FROM geo_events WHERE id = $1 AND incident_id = $2`, ref, g.ID); n != 1 {
			t.Errorf("%s: geo_events.incident_id not set", ref)
		}
	}

	// Every event is stored, raised or not; only the three carry an incident.
	if n := count(t, pool, `SELECT count(*) FROM geo_events`); n != 14 {
		t.Errorf("%d events stored, want 14", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM geo_events WHERE incident_id IS NOT NULL`); n != 3 {
		t.Errorf("%d events with an incident, want 3", n)
	}
	var title, url string
	var mag, depth float64
	var at time.Time
	if err := pool.QueryRow(ctx, `SELECT title, magnitude, depth_km, occurred_at, url FROM geo_events WHERE id = 'usgs:us7000r4c7'`).
		Scan(&title, &mag, &depth, &at, &url); err != nil {
		t.Fatal(err)
	}
	if title != "M 4.5 - 45 km W of Valparaíso, Chile" || mag != 4.5 || depth != 28.4 ||
		!at.Equal(time.Date(2026, 11, 19, 16, 21, 47, 902e6, time.UTC)) || url != "https://earthquake.usgs.gov/earthquakes/eventpage/us7000r4c7" {
		t.Errorf("stored Valparaíso event: %q %v %v %v %q", title, mag, depth, at, url)
	}

	// Affected agrees with what raised the incident: the Osaka traveller's
	// segment covers the earthquake's time, not the (much later) raising.
	a, err := NewFinder(pool).Affected(ctx, got["usgs:us7000r4g1"].ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Sites) != 0 || len(a.Travellers) != 1 || a.Travellers[0].SegmentID != osakaStay || !roughly(a.Travellers[0].DistanceKm, 71.6, 0.1) {
		t.Errorf("affected by the Wakayama earthquake: %+v", a)
	}

	// The same feed again: nothing new, nothing raised.
	again, err := events.Apply(ctx, dayFeed(t))
	if err != nil {
		t.Fatal(err)
	}
	if again.New != 0 || again.Updated != 0 || again.IncidentsRaised != 0 {
		t.Errorf("second apply %+v, want nothing new", again)
	}
	if n := count(t, pool, `SELECT count(*) FROM incidents`); n != 3 {
		t.Errorf("%d incidents after a second apply, want 3", n)
	}
}

func TestApplyRevisedEvent(t *testing.T) {
	pool := testenv.NewPool(t)
	ctx := context.Background()
	insertSite(t, pool, tokyoOffice)
	events := NewEvents(pool, incident.NewStore(pool))
	f := dayFeed(t)
	if _, err := events.Apply(ctx, f); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, `SELECT count(*) FROM incidents WHERE source_ref = 'usgs:us7000r4k0'`); n != 0 {
		t.Fatalf("the M4.3 below MinMagnitude raised an incident")
	}

	// USGS revises the Urayasu event from M4.3 to M4.7: now it is big enough,
	// and it has no incident yet. An older version changes nothing.
	revised := usgs.Feed{Events: []usgs.Event{f.Events[1], f.Events[2]}}
	if revised.Events[0].ID != "us7000r4k0" {
		t.Fatalf("fixture order changed: %s", revised.Events[0].ID)
	}
	m := 4.7
	revised.Events[0].Magnitude = &m
	revised.Events[0].Updated = revised.Events[0].Updated.Add(time.Hour)
	stale := 9.9
	revised.Events[1].Magnitude = &stale
	revised.Events[1].Updated = revised.Events[1].Updated.Add(-time.Hour)
	sum, err := events.Apply(ctx, revised)
	if err != nil {
		t.Fatal(err)
	}
	if sum.New != 0 || sum.Updated != 1 || sum.IncidentsRaised != 1 {
		t.Errorf("summary %+v, want 1 updated, 1 raised", sum)
	}
	inc := incidentsBySource(t, pool)["usgs:us7000r4k0"]
	if inc.Title != "Earthquake M4.7, 20 km from Tokyo Office" || inc.Severity != "SEV4" {
		t.Errorf("revised event's incident: %+v", inc)
	}
	if n := count(t, pool, `SELECT count(*) FROM geo_events WHERE id = 'usgs:us7000r4h9' AND magnitude = 5.2`); n != 1 {
		t.Errorf("an older version of an event overwrote the stored one")
	}
}

func TestApplyBelowMinMagnitudeRaisesNothing(t *testing.T) {
	pool := testenv.NewPool(t)
	ctx := context.Background()
	insertSite(t, pool, tokyoOffice)
	insertSite(t, pool, mexicoOffice)
	old := MinMagnitude
	MinMagnitude = 6.5 // above every event in the fixture
	t.Cleanup(func() { MinMagnitude = old })
	sum, err := NewEvents(pool, incident.NewStore(pool)).Apply(ctx, dayFeed(t))
	if err != nil {
		t.Fatal(err)
	}
	if sum.New != 14 || sum.IncidentsRaised != 0 {
		t.Errorf("summary %+v, want 14 stored and none raised", sum)
	}
	if n := count(t, pool, `SELECT count(*) FROM incidents`); n != 0 {
		t.Errorf("%d incidents, want 0", n)
	}
}

func TestApplyRadiusBoundary(t *testing.T) {
	// The M6.4 is 40.913 km from the Tokyo Office (PostGIS, WGS 84).
	for _, c := range []struct {
		name   string
		radius float64
		raised int
	}{
		{"just inside", 40.92, 1},
		{"just outside", 40.90, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			pool := testenv.NewPool(t)
			ctx := context.Background()
			insertSite(t, pool, tokyoOffice)
			if _, err := NewRadii(pool).Set(ctx, "admin-1", "EARTHQUAKE", "SITE", c.radius); err != nil {
				t.Fatal(err)
			}
			f := dayFeed(t)
			sum, err := NewEvents(pool, incident.NewStore(pool)).Apply(ctx, usgs.Feed{Events: f.Events[:1]})
			if err != nil {
				t.Fatal(err)
			}
			if sum.IncidentsRaised != c.raised {
				t.Errorf("radius %v km: %d raised, want %d", c.radius, sum.IncidentsRaised, c.raised)
			}
		})
	}
}

func TestApplyLinksAnIncidentRaisedElsewhere(t *testing.T) {
	// Another worker raised the incident and died before linking it: the
	// unique source index refuses a second one, and Apply links the first.
	pool := testenv.NewPool(t)
	ctx := context.Background()
	tokyo := insertSite(t, pool, tokyoOffice)
	store := incident.NewStore(pool)
	first, _, err := store.Raise(ctx, EventActor, incident.New{Title: "Earthquake near Tokyo", Severity: escalation.SEV1,
		Kind: KindEarthquake, SourceType: EventSourceType, SourceRef: "usgs:us7000r4k2", SiteIDs: []uuid.UUID{tokyo}},
		func([]string) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	f := dayFeed(t)
	sum, err := NewEvents(pool, store).Apply(ctx, usgs.Feed{Events: f.Events[:1]})
	if err != nil {
		t.Fatal(err)
	}
	if sum.IncidentsRaised != 0 {
		t.Errorf("raised %d, want 0", sum.IncidentsRaised)
	}
	if n := count(t, pool, `SELECT count(*) FROM geo_events WHERE id = 'usgs:us7000r4k2' AND incident_id = $1`, first.ID); n != 1 {
		t.Errorf("event not linked to the existing incident")
	}
	if n := count(t, pool, `SELECT count(*) FROM incidents`); n != 1 {
		t.Errorf("%d incidents, want 1", n)
	}
}

func TestSeverity(t *testing.T) {
	for _, c := range []struct {
		mag, km float64
		want    escalation.Severity
	}{
		{7.0, 140, escalation.SEV1},
		{6.0, 50, escalation.SEV1},
		{6.0, 51, escalation.SEV2},
		{5.0, 25, escalation.SEV2},
		{5.0, 26, escalation.SEV3},
		{5.9, 99, escalation.SEV3},
		{4.9, 1, escalation.SEV4},
		{4.5, 100, escalation.SEV4},
	} {
		if got := Severity(c.mag, c.km); got != c.want {
			t.Errorf("Severity(M%.1f, %v km) = %s, want %s", c.mag, c.km, got, c.want)
		}
	}
}

func TestListEvents(t *testing.T) {
	pool := testenv.NewPool(t)
	ctx := context.Background()
	insertSite(t, pool, tokyoOffice)
	events := NewEvents(pool, incident.NewStore(pool))
	f := dayFeed(t)
	if _, err := events.Apply(ctx, f); err != nil {
		t.Fatal(err)
	}
	var all []Event
	after := ""
	for pages := 0; ; pages++ {
		page, more, err := events.List(ctx, 5, after)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if !more {
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		after = page[len(page)-1].Cursor()
	}
	if len(all) != len(f.Events) {
		t.Fatalf("%d events listed, want %d", len(all), len(f.Events))
	}
	// The fixture is newest first, as USGS serves it.
	for i, ev := range all {
		if ev.ID != "usgs:"+f.Events[i].ID {
			t.Errorf("position %d: %s, want usgs:%s", i, ev.ID, f.Events[i].ID)
		}
	}
	if first := all[0]; first.IncidentID == nil || first.Source != "USGS" || first.Kind != "EARTHQUAKE" || *first.Magnitude != 6.4 {
		t.Errorf("first event %+v", first)
	}
	if all[1].IncidentID != nil {
		t.Errorf("the M4.3 has an incident")
	}
	if _, _, err := events.List(ctx, 5, "bm90IGEgY3Vyc29y"); fault.CodeOf(err) != fault.BadUserInput {
		t.Errorf("foreign cursor: %v", err)
	}
	if _, _, err := events.List(ctx, MaxPageSize+1, ""); fault.CodeOf(err) != fault.BadUserInput {
		t.Errorf("oversized page: %v", err)
	}
}

func TestEventsIngesterRun(t *testing.T) {
	pool := testenv.NewPool(t)
	ctx := context.Background()
	insertSite(t, pool, tokyoOffice)
	insertSite(t, pool, mexicoOffice)
	day := readFixture(t, "2.5_day.geojson")
	page := "<!DOCTYPE html><html><body>Service Unavailable</body></html>"
	serveHTML := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/earthquakes/feed/v1.0/summary/2.5_day.geojson" {
			http.NotFound(w, r)
			return
		}
		if serveHTML {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte(page))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(day)
	}))
	t.Cleanup(srv.Close)

	in := &EventsIngester{Events: NewEvents(pool, incident.NewStore(pool)), Getter: &feed.HTTPGetter{Attempts: 1},
		URL: srv.URL + "/earthquakes/feed/v1.0/summary/2.5_day.geojson"}
	sum, err := in.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Fetched != 14 || sum.New != 14 || sum.IncidentsRaised != 2 {
		t.Errorf("summary %+v, want 14 fetched and new, 2 raised (Tokyo, Mexico City)", sum)
	}
	if !slices.ContainsFunc(sum.Skipped, func(s string) bool { return strings.HasPrefix(s, "uw62071234:") }) {
		t.Errorf("skips %q do not name the quarry blast", sum.Skipped)
	}

	// An error page instead of the feed: an error, and nothing changes.
	serveHTML = true
	if _, err := pool.Exec(ctx, `DELETE FROM geo_events WHERE incident_id IS NULL`); err != nil {
		t.Fatal(err)
	}
	// The getter or the parser refuses it, each with its ErrMalformed.
	if _, err := in.Run(ctx); !errors.Is(err, usgs.ErrMalformed) && !errors.Is(err, feed.ErrMalformed) {
		t.Fatalf("an HTML page instead of the feed: err %v, want a malformed-document error", err)
	}
	if n := count(t, pool, `SELECT count(*) FROM geo_events`); n != 2 {
		t.Errorf("%d events after a refused fetch, want the 2 kept", n)
	}
}

func TestApplyEmptyFeed(t *testing.T) {
	pool := testenv.NewPool(t)
	f, err := usgs.Parse(readFixture(t, "empty.geojson"))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := NewEvents(pool, incident.NewStore(pool)).Apply(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Fetched != 0 || sum.New != 0 || sum.IncidentsRaised != 0 || len(sum.Skipped) != 0 {
		t.Errorf("summary %+v, want all zero", sum)
	}
	if n := count(t, pool, `SELECT count(*) FROM geo_events`); n != 0 {
		t.Errorf("%d events stored from an empty feed", n)
	}
}
