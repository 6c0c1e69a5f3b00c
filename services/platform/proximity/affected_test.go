package proximity

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"meridian.dev/platform/escalation"
	"meridian.dev/platform/incident"
	"meridian.dev/platform/testenv"
)

// Known straight-line distances, from published figures rather than from
// PostGIS: Tokyo Station to Yokohama Station is about 27 km, London to
// Paris (city centres) about 344 km.
var (
	tokyoStation    = [2]float64{35.6812, 139.7671}
	yokohamaStation = [2]float64{35.4658, 139.6223}
)

func TestAffectedListsNearbySitesAndTravellers(t *testing.T) {
	pool := testenv.NewPool(t)
	ctx := context.Background()
	tokyoSite := insertSite(t, pool, siteRow{"TYO-STN", "Tokyo Station Office", "APAC", "JP", tokyoStation[0], tokyoStation[1]})
	yokohamaSite := insertSite(t, pool, siteRow{"YOK-OFC", "Yokohama Office", "APAC", "JP", yokohamaStation[0], yokohamaStation[1]})
	insertSite(t, pool, siteRow{"OSA-OFC", "Osaka Office", "APAC", "JP", 34.6937, 135.5023}) // ~385 km: outside

	now := time.Now()
	covering := func(position int, lat, lon float64, city string) segmentRow {
		return segmentRow{Position: position, From: now.Add(-24 * time.Hour), To: now.Add(24 * time.Hour),
			City: city, Country: "JP", Lat: lat, Lon: lon}
	}
	// In Yokohama, with a hotel in Tokyo at the same time: listed once, by
	// the nearest segment.
	both := insertTrip(t, pool, "trav-both", "APPROVED")
	insertSegment(t, pool, both, covering(1, tokyoStation[0], tokyoStation[1], "Tokyo"))
	bothMeeting := insertSegment(t, pool, both, covering(2, yokohamaStation[0], yokohamaStation[1], "Yokohama"))
	// In Tokyo, trip awaiting approval: still going, so counted.
	pending := insertTrip(t, pool, "trav-pending", "PENDING_APPROVAL")
	pendingStay := insertSegment(t, pool, pending, covering(1, tokyoStation[0], tokyoStation[1], "Tokyo"))
	// Not affected: cancelled and rejected trips, a segment that has not
	// started, a segment whose place is unknown, one in Osaka.
	for status, subject := range map[string]string{"CANCELLED": "trav-cancelled", "REJECTED": "trav-rejected"} {
		trip := insertTrip(t, pool, subject, status)
		insertSegment(t, pool, trip, covering(1, yokohamaStation[0], yokohamaStation[1], "Yokohama"))
	}
	later := insertTrip(t, pool, "trav-later", "APPROVED")
	insertSegment(t, pool, later, segmentRow{Position: 1, From: now.Add(24 * time.Hour), To: now.Add(48 * time.Hour),
		City: "Yokohama", Country: "JP", Lat: yokohamaStation[0], Lon: yokohamaStation[1]})
	unknown := insertTrip(t, pool, "trav-unplaced", "APPROVED")
	insertSegment(t, pool, unknown, segmentRow{Position: 1, From: now.Add(-time.Hour), To: now.Add(time.Hour),
		City: "Yokohama", Country: "JP", WithoutPlace: true})
	osaka := insertTrip(t, pool, "trav-osaka", "APPROVED")
	insertSegment(t, pool, osaka, covering(1, 34.6937, 135.5023, "Osaka"))

	store := incident.NewStore(pool)
	allow := func([]string) error { return nil }
	// STORM reaches 100 km for sites and 150 km for travellers.
	storm, _, err := store.Raise(ctx, "lead-1", incident.New{Title: "Typhoon landfall at Yokohama", Severity: escalation.SEV2,
		Kind: "STORM", Location: &incident.Location{Latitude: yokohamaStation[0], Longitude: yokohamaStation[1]},
		Regions: []string{"APAC"}}, allow)
	if err != nil {
		t.Fatal(err)
	}
	finder := NewFinder(pool)
	a, err := finder.Affected(ctx, storm.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Sites) != 2 || a.Sites[0].SiteID != yokohamaSite || a.Sites[1].SiteID != tokyoSite {
		t.Fatalf("sites %+v, want Yokohama then Tokyo", a.Sites)
	}
	if s := a.Sites[0]; s.Code != "YOK-OFC" || s.Name != "Yokohama Office" || !roughly(s.DistanceKm, 0, 0.001) {
		t.Errorf("nearest site %+v", s)
	}
	if s := a.Sites[1]; !roughly(s.DistanceKm, 27, 1) {
		t.Errorf("Tokyo Station–Yokohama Station %.2f km, want about 27", s.DistanceKm)
	}
	if len(a.Travellers) != 2 {
		t.Fatalf("travellers %+v, want trav-both and trav-pending", a.Travellers)
	}
	if tr := a.Travellers[0]; tr.Traveller != "trav-both" || tr.TripID != both || tr.SegmentID != bothMeeting || !roughly(tr.DistanceKm, 0, 0.001) {
		t.Errorf("nearest traveller %+v", tr)
	}
	if tr := a.Travellers[1]; tr.Traveller != "trav-pending" || tr.TripID != pending || tr.SegmentID != pendingStay || !roughly(tr.DistanceKm, 27, 1) {
		t.Errorf("second traveller %+v", tr)
	}

	// A narrower kind: FIRE reaches 2 km for sites and 5 km for travellers.
	fire, _, err := store.Raise(ctx, "lead-1", incident.New{Title: "Fire near Yokohama Station", Severity: escalation.SEV3,
		Kind: "FIRE", Location: &incident.Location{Latitude: yokohamaStation[0], Longitude: yokohamaStation[1]},
		Regions: []string{"APAC"}}, allow)
	if err != nil {
		t.Fatal(err)
	}
	// No location: nothing measurable.
	vague, _, err := store.Raise(ctx, "lead-1", incident.New{Title: "Unrest somewhere in Japan", Severity: escalation.SEV3,
		Kind: "UNREST", Regions: []string{"APAC"}}, allow)
	if err != nil {
		t.Fatal(err)
	}
	missing := uuid.New()
	many, err := finder.AffectedMany(ctx, []uuid.UUID{storm.ID, fire.ID, vague.ID, missing})
	if err != nil {
		t.Fatal(err)
	}
	if len(many) != 3 {
		t.Fatalf("AffectedMany returned %d incidents, want 3 (the unknown one absent)", len(many))
	}
	if f := many[fire.ID]; len(f.Sites) != 1 || f.Sites[0].SiteID != yokohamaSite || len(f.Travellers) != 1 || f.Travellers[0].Traveller != "trav-both" {
		t.Errorf("fire affects %+v", f)
	}
	if v := many[vague.ID]; v.Sites == nil || v.Travellers == nil || len(v.Sites)+len(v.Travellers) != 0 {
		t.Errorf("incident without a location affects %+v, want empty lists", v)
	}
	if s := many[storm.ID]; len(s.Sites) != 2 || len(s.Travellers) != 2 {
		t.Errorf("AffectedMany disagrees with Affected for the storm: %+v", s)
	}

	if _, err := finder.Affected(ctx, missing); !errors.Is(err, incident.ErrNotFound) {
		t.Errorf("unknown incident: %v, want incident.ErrNotFound", err)
	}
}

func TestAffectedUsesTheKindsRadius(t *testing.T) {
	pool := testenv.NewPool(t)
	ctx := context.Background()
	london := insertSite(t, pool, londonHQ)
	paris := [2]float64{48.8566, 2.3522}
	store := incident.NewStore(pool)
	raise := func(kind string) uuid.UUID {
		inc, _, err := store.Raise(ctx, "lead-1", incident.New{Title: kind + " in Paris", Severity: escalation.SEV3, Kind: kind,
			Location: &incident.Location{Latitude: paris[0], Longitude: paris[1]}, Regions: []string{"EMEA"}},
			func([]string) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		return inc.ID
	}
	// VOLCANO has no radius of its own, so '*' (5 km) applies; give the
	// kind 400 km and London (about 344 km away) is affected.
	volcano := raise("VOLCANO")
	a, err := NewFinder(pool).Affected(ctx, volcano)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Sites) != 0 {
		t.Errorf("default radius: sites %+v, want none", a.Sites)
	}
	if _, err := NewRadii(pool).Set(ctx, "admin-1", "VOLCANO", "SITE", 400); err != nil {
		t.Fatal(err)
	}
	a, err = NewFinder(pool).Affected(ctx, volcano)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Sites) != 1 || a.Sites[0].SiteID != london || !roughly(a.Sites[0].DistanceKm, 344, 2) {
		t.Errorf("400 km radius: sites %+v, want London at about 344 km", a.Sites)
	}
}
