package server_test

import (
	"context"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"meridian.dev/gateway/stacktest"
)

const setRadiusMutation = `mutation($input: SetImpactRadiusInput!) { setImpactRadius(input: $input) { kind assetType radiusKm updatedBy updatedAt } }`

const impactRadiiQuery = `{ impactRadii { kind assetType radiusKm updatedBy updatedAt } }`

const affectedQuery = `query($id: ID!) {
  incident(id: $id) {
    id title kind severity sourceType sourceRef location { latitude longitude }
    affected {
      sites { site { code } distanceKm }
      travellers { traveller { subject name } trip { id } segment { id kind } distanceKm }
    }
  }
}`

const geoEventsQuery = `query($first: Int, $after: String) {
  geoEvents(first: $first, after: $after) {
    edges { cursor node { id source kind title magnitude location { latitude longitude } depthKm occurredAt url incident { id kind sourceType sourceRef } } }
    pageInfo { hasNextPage endCursor }
  }
}`

type radiusView struct {
	Kind, AssetType string
	RadiusKm        float64
	UpdatedBy       string
	UpdatedAt       time.Time
}

type affectedView struct {
	ID, Title, Kind, Severity, SourceType, SourceRef string
	Location                                         *struct{ Latitude, Longitude float64 }
	Affected                                         struct {
		Sites []struct {
			Site       struct{ Code string }
			DistanceKm float64
		}
		Travellers []struct {
			Traveller  struct{ Subject, Name string }
			Trip       struct{ ID string }
			Segment    struct{ ID, Kind string }
			DistanceKm *float64
		}
	}
}

func affectedBy(t testing.TB, s *stacktest.Stack, subject, incidentID string) affectedView {
	t.Helper()
	var out struct{ Incident *affectedView }
	s.GW.Query(t, s.Token(t, subject), affectedQuery, map[string]any{"id": incidentID}).Decode(t, &out)
	if out.Incident == nil {
		t.Fatalf("incident %s is not readable by %s", incidentID, subject)
	}
	return *out.Incident
}

func impactRadii(t testing.TB, s *stacktest.Stack, subject string) map[string]radiusView {
	t.Helper()
	var out struct{ ImpactRadii []radiusView }
	s.GW.Query(t, s.Token(t, subject), impactRadiiQuery, nil).Decode(t, &out)
	m := map[string]radiusView{}
	for _, r := range out.ImpactRadii {
		m[r.Kind+"/"+r.AssetType] = r
	}
	return m
}

// travelIncidents counts the incidents re-assessment raised for a trip's
// traveller (source TRAVEL).
func travelIncidents(t testing.TB, s *stacktest.Stack, tripID string) int {
	t.Helper()
	var n int
	if err := s.Pool.QueryRow(context.Background(), `SELECT count(*) FROM incidents
		WHERE source_type = 'TRAVEL' AND source_ref LIKE 'trip:' || $1 || ':%'`, rawID(t, "Trip", tripID)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestProximityIncidentNearTraveller: an incident raised near a traveller's
// hotel and a site lists both with their distances; the traveller's trip
// gains an INCIDENT reason once re-assessed; and the traveller, there right
// now, gets an incident of their own, exactly once however often the trip
// is re-assessed.
func TestProximityIncidentNearTraveller(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{})
	s.LoadAdvisories(t)
	s.LoadTravellers(t)
	now := time.Now()
	trip := createTrip(t, s, stacktest.TravelTeam, map[string]any{"traveller": "tr-tomas", "purpose": "Customer visits in East Africa",
		"segments": []any{segment("HOTEL", now.Add(-24*time.Hour), now.Add(72*time.Hour), "Africa/Nairobi", nairobiHotel)}})
	tripMutation(t, s, stacktest.TravelTeam, submitTripMutation, "submitTrip", map[string]any{"id": trip.ID})
	if trip.Risk.Level != 2 || len(reasonsOf(trip, "INCIDENT")) != 0 {
		t.Fatalf("before the incident the trip scores %+v", trip.Risk)
	}

	var raised struct {
		RaiseIncident struct{ Incident struct{ ID string } }
	}
	s.GW.Query(t, s.Token(t, stacktest.GlobalLead), raiseMutation, map[string]any{"input": map[string]any{
		"title": "Protest march on Kenyatta Avenue", "severity": "SEV2", "kind": "UNREST", "regions": []string{"EMEA"},
		"latitude": -1.2833, "longitude": 36.8219,
	}}).Decode(t, &raised)
	incidentID := raised.RaiseIncident.Incident.ID

	a := affectedBy(t, s, stacktest.GlobalLead, incidentID)
	var sites []string
	for _, site := range a.Affected.Sites {
		sites = append(sites, site.Site.Code)
		if site.Site.Code == "NBO-OFC" && (site.DistanceKm < 0.5 || site.DistanceKm > 1.5) {
			t.Errorf("the Nairobi office is %.2f km from the march, want about 1", site.DistanceKm)
		}
	}
	if !slices.Equal(sites, []string{"NBO-OFC"}) {
		t.Errorf("affected sites %v, want the Nairobi office alone (UNREST reaches 10 km)", sites)
	}
	if len(a.Affected.Travellers) != 1 || a.Affected.Travellers[0].Traveller.Subject != "tr-tomas" ||
		a.Affected.Travellers[0].Trip.ID != trip.ID || a.Affected.Travellers[0].Segment.Kind != "HOTEL" {
		t.Fatalf("affected travellers %+v, want Tomás at his hotel", a.Affected.Travellers)
	}
	if d := a.Affected.Travellers[0].DistanceKm; d == nil || *d < 0.1 || *d > 1 {
		t.Errorf("the hotel is %v km from the march, want about 0.4", d)
	}
	// A caller who may not read trips sees the sites only.
	if b := affectedBy(t, s, stacktest.ProtectionAgent, incidentID); len(b.Affected.Travellers) != 0 || len(b.Affected.Sites) != 1 {
		t.Errorf("the protection agent sees %+v", b.Affected)
	}

	scored := waitTrip(t, s, trip.ID, "an INCIDENT reason", func(v tripView) bool { return len(reasonsOf(v, "INCIDENT")) > 0 })
	reason := reasonsOf(scored, "INCIDENT")[0]
	if reason.Level != 3 || reason.Source != rawID(t, "Incident", incidentID) || !strings.HasSuffix(reason.Text, "km from the hotel") ||
		!strings.Contains(reason.Text, "Protest march on Kenyatta Avenue") || reason.SegmentID != scored.Segments[0].ID {
		t.Errorf("the INCIDENT reason: %+v", reason)
	}
	if scored.Risk.Level != 3 {
		t.Errorf("the trip scores %d with a SEV2 incident nearby, want 3", scored.Risk.Level)
	}

	deadline := time.Now().Add(stacktest.WaitLimit)
	for travelIncidents(t, s, trip.ID) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no incident was raised for the traveller within %s", stacktest.WaitLimit)
		}
		s.RequireWorkerRunning(t)
		time.Sleep(200 * time.Millisecond)
	}
	var title, kind, sourceRef string
	if err := s.Pool.QueryRow(context.Background(), `SELECT title, kind, source_ref FROM incidents WHERE source_type = 'TRAVEL'`).
		Scan(&title, &kind, &sourceRef); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(title, "Tomás") || !strings.Contains(title, "Nairobi") || sourceRef != "trip:"+rawID(t, "Trip", trip.ID)+":incident:"+rawID(t, "Incident", incidentID) {
		t.Errorf("the traveller's incident: %q (%s, %s)", title, kind, sourceRef)
	}

	// Another re-assessment of the same trip (an analyst's word on Kenya)
	// finds the traveller still there and raises nothing more.
	s.GW.Query(t, s.Token(t, stacktest.TravelTeam), setOverrideMutation, map[string]any{"input": map[string]any{
		"country": "KE", "level": 2, "reason": "Reviewed after the march"}}).Decode(t, &struct{}{})
	waitTrip(t, s, trip.ID, "re-assessment after the override", func(v tripView) bool { return len(reasonsOf(v, "OVERRIDE")) > 0 })
	if n := travelIncidents(t, s, trip.ID); n != 1 {
		t.Errorf("%d incidents raised for the traveller, want exactly one", n)
	}
}

// TestProximityRadiiAndEarthquakes: the impact radius table is read by
// everyone and set by global leads and admins; the earthquake feed, run by
// the worker's EventIngest workflow, stores every event and raises an
// incident only for those near a site or a traveller.
func TestProximityRadiiAndEarthquakes(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{Tables: []string{"impact_radii", "incidents", "geo_events"}})
	s.LoadTravellers(t)

	radii := impactRadii(t, s, stacktest.Auditor)
	for key, km := range map[string]float64{"*/SITE": 5, "*/TRAVELLER": 10, "*/DETAIL": 10, "EARTHQUAKE/SITE": 100, "EARTHQUAKE/TRAVELLER": 150} {
		if r, ok := radii[key]; !ok || r.RadiusKm != km {
			t.Errorf("impactRadii %s = %+v, want %g km", key, r, km)
		}
	}

	t.Run("global leads and admins set radii", func(t *testing.T) {
		var set struct{ SetImpactRadius radiusView }
		s.GW.Query(t, s.Token(t, stacktest.Admin), setRadiusMutation, map[string]any{"input": map[string]any{
			"kind": "fire", "assetType": "SITE", "radiusKm": 3.5}}).Decode(t, &set)
		if r := set.SetImpactRadius; r.Kind != "FIRE" || r.AssetType != "SITE" || r.RadiusKm != 3.5 || r.UpdatedBy != stacktest.Admin {
			t.Errorf("setImpactRadius answered %+v", r)
		}
		if r := impactRadii(t, s, stacktest.EMEAManager)["FIRE/SITE"]; r.RadiusKm != 3.5 {
			t.Errorf("impactRadii shows FIRE/SITE as %+v", r)
		}
		s.GW.Query(t, s.Token(t, stacktest.GlobalLead), setRadiusMutation, map[string]any{"input": map[string]any{
			"kind": "VOLCANO", "assetType": "TRAVELLER", "radiusKm": 80.0}}).Decode(t, &set)
		entries := readAuditLog(t, s, s.Token(t, stacktest.Auditor), map[string]any{"action": "proximity.set_radius"}, 50)
		if len(entries) != 2 || entries[1].Actor != stacktest.Admin || entries[1].ObjectID != "FIRE/SITE" || string(entries[1].Before) == "null" ||
			entries[0].Actor != stacktest.GlobalLead || string(entries[0].Before) != "null" {
			t.Errorf("the audit log of radii: %s", auditSummary(entries))
		}

		s.Unchanged(t, func() {
			for _, who := range []string{stacktest.TravelTeam, stacktest.EMEAManager, stacktest.Auditor, stacktest.ProtectionAgent} {
				s.GW.Query(t, s.Token(t, who), setRadiusMutation, map[string]any{"input": map[string]any{
					"kind": "FIRE", "assetType": "SITE", "radiusKm": 50.0}}).Refused(t, "FORBIDDEN")
			}
			for _, c := range []struct {
				field string
				in    map[string]any
			}{
				{"radiusKm", map[string]any{"kind": "FIRE", "assetType": "SITE", "radiusKm": 0.0}},
				{"radiusKm", map[string]any{"kind": "FIRE", "assetType": "SITE", "radiusKm": -5.0}},
				{"radiusKm", map[string]any{"kind": "FIRE", "assetType": "SITE", "radiusKm": 2001.0}},
				{"kind", map[string]any{"kind": "forest fire!", "assetType": "SITE", "radiusKm": 5.0}},
				{"kind", map[string]any{"kind": "", "assetType": "SITE", "radiusKm": 5.0}},
			} {
				s.GW.Query(t, s.Token(t, stacktest.Admin), setRadiusMutation, map[string]any{"input": c.in}).RefusedField(t, c.field)
			}
		})
		if r := impactRadii(t, s, stacktest.Auditor)["FIRE/SITE"]; r.RadiusKm != 3.5 || r.UpdatedBy != stacktest.Admin {
			t.Errorf("refused calls changed FIRE/SITE to %+v", r)
		}
	})

	t.Run("earthquakes near us raise incidents, far ones do not", func(t *testing.T) {
		// Keiko was in Wakayama when the M5.8 quake 33 km SE of it struck
		// (the fixture's us7000r4g1): no site is near it, she was.
		quake := time.UnixMilli(1795140318335)
		wakayama := createTrip(t, s, stacktest.TravelTeam, map[string]any{"traveller": "tr-keiko", "purpose": "Plant audit",
			"segments": []any{segment("HOTEL", quake.Add(-24*time.Hour), quake.Add(24*time.Hour), "Asia/Tokyo",
				place("Wakayama", "JP", 34.2260, 135.1675))}})

		sum := s.RunEventIngest(t)
		if sum.Fetched < 10 || sum.New != sum.Fetched || sum.IncidentsRaised != 3 {
			t.Errorf("the first run: %+v, want every event new and three incidents (Tokyo office, Mexico City office, Keiko)", sum)
		}
		events := map[string]geoEventView{}
		var order []time.Time
		after := ""
		for pages := 0; ; pages++ {
			if pages > 20 {
				t.Fatal("geoEvents did not end")
			}
			vars := map[string]any{"first": 5}
			if after != "" {
				vars["after"] = after
			}
			var out struct {
				GeoEvents struct {
					Edges []struct {
						Cursor string
						Node   geoEventView
					}
					PageInfo struct {
						HasNextPage bool
						EndCursor   *string
					}
				}
			}
			s.GW.Query(t, s.Token(t, stacktest.EMEAManager), geoEventsQuery, vars).Decode(t, &out)
			for _, e := range out.GeoEvents.Edges {
				events[e.Node.ID] = e.Node
				order = append(order, e.Node.OccurredAt)
			}
			if !out.GeoEvents.PageInfo.HasNextPage {
				break
			}
			after = *out.GeoEvents.PageInfo.EndCursor
		}
		if len(events) != sum.Fetched || len(order) != sum.Fetched {
			t.Errorf("geoEvents lists %d events in %d edges, the run stored %d", len(events), len(order), sum.Fetched)
		}
		if !slices.IsSortedFunc(order, func(a, b time.Time) int { return b.Compare(a) }) {
			t.Errorf("geoEvents is not newest first: %v", order)
		}

		near := map[string]string{"usgs:us7000r4k2": "TYO-OFC", "usgs:us7000r4h9": "MEX-OFC"}
		for id, site := range near {
			ev, ok := events[id]
			if !ok || ev.Incident == nil || ev.Incident.Kind != "EARTHQUAKE" || ev.Incident.SourceRef != id {
				t.Errorf("event %s near %s: %+v, want its EARTHQUAKE incident", id, site, ev)
				continue
			}
			a := affectedBy(t, s, stacktest.GlobalLead, ev.Incident.ID)
			if len(a.Affected.Sites) == 0 || a.Affected.Sites[0].Site.Code != site || a.Location == nil {
				t.Errorf("the incident of %s affects %+v, want %s first", id, a.Affected.Sites, site)
			}
		}
		wk, ok := events["usgs:us7000r4g1"]
		if !ok || wk.Incident == nil {
			t.Fatalf("the Wakayama quake, 33 km from Keiko, raised no incident: %+v", wk)
		}
		if a := affectedBy(t, s, stacktest.TravelTeam, wk.Incident.ID); len(a.Affected.Sites) != 0 || len(a.Affected.Travellers) != 1 ||
			a.Affected.Travellers[0].Trip.ID != wakayama.ID {
			t.Errorf("the Wakayama incident affects %+v, want Keiko's trip alone", a.Affected)
		}
		for _, id := range []string{"usgs:us7000r4f5", "usgs:us7000r4c7", "usgs:us7000r4e8"} {
			if ev, ok := events[id]; !ok || ev.Incident != nil {
				t.Errorf("event %s, far from anyone of ours: %+v, want it stored without an incident", id, ev)
			}
		}

		// The next run of the same feed stores nothing new and raises
		// nothing twice.
		before := s.Counts(t)
		again := s.RunEventIngest(t)
		if again.New != 0 || again.Updated != 0 || again.IncidentsRaised != 0 {
			t.Errorf("the second run: %+v, want nothing new", again)
		}
		if after := s.Counts(t); after["incidents"] != before["incidents"] || after["geo_events"] != before["geo_events"] {
			t.Errorf("the second run wrote incidents %d → %d, events %d → %d", before["incidents"], after["incidents"], before["geo_events"], after["geo_events"])
		}
	})
}

type geoEventView struct {
	ID, Source, Kind, Title string
	Magnitude               *float64
	Location                struct{ Latitude, Longitude float64 }
	DepthKm                 *float64
	OccurredAt              time.Time
	URL                     string
	Incident                *struct{ ID, Kind, SourceType, SourceRef string }
}

// rawID is the stored UUID inside a global ID of kind ("Trip",
// "Incident"), as reasons and source references name objects.
func rawID(t testing.TB, kind, global string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(global)
	k, id, ok := strings.Cut(string(b), ":")
	if err != nil || !ok || k != kind {
		t.Fatalf("not a %s ID: %q", kind, global)
	}
	return id
}
