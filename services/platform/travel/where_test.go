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

func TestWhoIsWhere(t *testing.T) {
	h := newTripsHarness(t)
	ctx := context.Background()
	create := func(traveller string, seg SegmentInput) Trip {
		t.Helper()
		trip, _, err := h.store.Create(ctx, "travel-team", NewTrip{Traveller: traveller, Segments: []SegmentInput{seg}})
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		return trip
	}
	nairobi := create("alice", stay("HOTEL", "Nairobi", "KE", 10, 72, -1.2921, 36.8219))
	mombasa := create("bob", stay("HOTEL", "Mombasa", "KE", 10, 72, -4.0435, 39.6682))
	// In Kenya without coordinates: found by country, never by distance.
	kisumu := create("bob", stay("MEETING", "Kisumu", "KE", 10, 72))
	create("alice", stay("HOTEL", "Tokyo", "JP", 10, 72, 35.6895, 139.6917))
	create("bob", stay("HOTEL", "Nairobi", "KE", 30, 72, -1.2921, 36.8219)) // later
	gone := create("alice", stay("HOTEL", "Nairobi", "KE", 10, 72, -1.30, 36.80))
	if _, err := h.store.Cancel(ctx, "travel-team", gone.ID, ""); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	at := storeClock.Add(11 * 24 * time.Hour)

	inKenya, err := h.store.WhoIsWhere(ctx, Where{Country: "ke", At: at})
	if err != nil {
		t.Fatalf("WhoIsWhere: %v", err)
	}
	if len(inKenya) != 3 {
		t.Fatalf("%d in Kenya, want 3: %+v", len(inKenya), inKenya)
	}
	for _, p := range inKenya {
		if p.DistanceKm != nil || p.Segment.Place.CountryCode != "KE" || p.SegmentID != p.Segment.ID || p.TripID != p.Segment.TripID {
			t.Errorf("presence = %+v", p)
		}
		if p.TripID != nairobi.ID && p.TripID != mombasa.ID && p.TripID != kisumu.ID {
			t.Errorf("unexpected trip %v in Kenya", p.TripID)
		}
	}

	// Nairobi to Mombasa is about 440 km on the spheroid.
	near, err := h.store.WhoIsWhere(ctx, Where{Latitude: float(-1.2921), Longitude: float(36.8219), RadiusKm: float(460), At: at})
	if err != nil {
		t.Fatalf("WhoIsWhere: %v", err)
	}
	if len(near) != 2 || near[0].TripID != nairobi.ID || near[1].TripID != mombasa.ID {
		t.Fatalf("near = %+v", near)
	}
	if d := near[0].DistanceKm; d == nil || *d > 0.001 {
		t.Errorf("distance to the traveller at the point = %v, want 0", d)
	}
	if d := near[1].DistanceKm; d == nil || *d < 430 || *d > 450 {
		t.Errorf("Nairobi-Mombasa = %v km, want about 440", d)
	}
	if near[0].Traveller != "alice" || near[1].Traveller != "bob" {
		t.Errorf("travellers = %s, %s", near[0].Traveller, near[1].Traveller)
	}

	close, err := h.store.WhoIsWhere(ctx, Where{Country: "KE", Latitude: float(-4.05), Longitude: float(39.67), RadiusKm: float(50), At: at})
	if err != nil || len(close) != 1 || close[0].TripID != mombasa.ID {
		t.Fatalf("near Mombasa = %+v, %v", close, err)
	}

	for _, tt := range []struct {
		name    string
		regions []string
		want    int
	}{{"EMEA", []string{"EMEA"}, 3}, {"APAC", []string{"APAC"}, 0}, {"none", []string{}, 0}} {
		got, err := h.store.WhoIsWhere(ctx, Where{Country: "KE", At: at, Regions: tt.regions})
		if err != nil || len(got) != tt.want {
			t.Errorf("regions %s: %d presences, %v; want %d", tt.name, len(got), err, tt.want)
		}
	}
	everyone, err := h.store.WhoIsWhere(ctx, Where{At: at})
	if err != nil || len(everyone) != 4 {
		t.Errorf("everyone = %d, %v; want 4 (cancelled and later trips left out)", len(everyone), err)
	}
}

func TestWhoIsWhereValidation(t *testing.T) {
	h := newTripsHarness(t)
	ctx := context.Background()
	tests := []struct {
		name  string
		w     Where
		field string
	}{
		{"unknown country", Where{Country: "XX"}, "country"},
		{"point without radius", Where{Latitude: float(1), Longitude: float(36)}, "radiusKm"},
		{"radius without point", Where{RadiusKm: float(10)}, "radiusKm"},
		{"zero radius", Where{Latitude: float(1), Longitude: float(36), RadiusKm: float(0)}, "radiusKm"},
		{"radius too large", Where{Latitude: float(1), Longitude: float(36), RadiusKm: float(2000.5)}, "radiusKm"},
		{"radius NaN", Where{Latitude: float(1), Longitude: float(36), RadiusKm: float(math.NaN())}, "radiusKm"},
		{"latitude", Where{Latitude: float(-91), Longitude: float(36), RadiusKm: float(10)}, "latitude"},
		{"longitude", Where{Latitude: float(1), Longitude: float(math.NaN()), RadiusKm: float(10)}, "longitude"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.store.WhoIsWhere(ctx, tt.w)
			var f *fault.Error
			if !errors.As(err, &f) || f.Code != fault.BadUserInput || f.Field != tt.field {
				t.Fatalf("WhoIsWhere = %v, want BAD_USER_INPUT on %s", err, tt.field)
			}
		})
	}
	if _, err := h.store.WhoIsWhere(ctx, Where{Latitude: float(1), Longitude: float(36), RadiusKm: float(2000)}); err != nil {
		t.Fatalf("a 2000 km radius is allowed: %v", err)
	}
}

// TestWhoIsWhereUsesTheGiSTIndex checks the plan of the radius question:
// the point search is a scan of trip_segments_location, not of every
// segment. Sequential scans are switched off for the one connection so the
// planner's choice on a near-empty table says what it can do, not what is
// cheapest on ten rows.
func TestWhoIsWhereUsesTheGiSTIndex(t *testing.T) {
	h := newTripsHarness(t)
	ctx := context.Background()
	conn, err := h.pool.Acquire(ctx)
	if err != nil {
		t.Fatalf("acquire: %v", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatalf("set: %v", err)
	}
	w, err := Where{Latitude: float(-1.3), Longitude: float(36.8), RadiusKm: float(50), At: storeClock}.validate()
	if err != nil {
		t.Fatalf("validate: %v", err)
	}
	query, args := whereQuery(w)
	rows, err := conn.Query(ctx, "EXPLAIN "+query, args...)
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatalf("explain: %v", err)
		}
		plan = append(plan, line)
	}
	if !strings.Contains(strings.Join(plan, "\n"), "trip_segments_location") {
		t.Fatalf("the radius search does not use trip_segments_location:\n%s", strings.Join(plan, "\n"))
	}
}
