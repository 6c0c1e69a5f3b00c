package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/protection"
)

// Demo protection: one protectee with an ACTIVE detail in London, led by
// pa-liam with pa-petra as agent, whose check-in interval is two minutes
// (with one minute's grace) so a newcomer sees a missed check-in escalate
// within minutes of stopping.
const (
	ProtecteeName = "Helena Vance"
	DemoInterval  = 2 * time.Minute
	DemoGrace     = time.Minute
)

// CheckInCodes are the demo agents' codes: the ordinary one and the duress
// one. They are printed by `make run` beside the tokens; a development
// convenience, like the tokens themselves.
var CheckInCodes = map[string][2]string{
	"pa-petra": {"246810", "135790"},
	"pa-liam":  {"112233", "998877"},
}

func person(subject string) auth.Identity {
	for _, p := range Personas {
		if p.Subject == subject {
			return auth.Identity{Subject: p.Subject, Name: p.Name, Roles: p.Roles, Regions: p.Regions}
		}
	}
	panic("demo: no persona " + subject)
}

// LoadProtection adds the demo protectee, its active detail, the plan and
// the agents' codes, unless the protectee is already there. Starting the
// detail writes the outbox row from which the worker starts its check-in
// watch.
func LoadProtection(ctx context.Context, pool *pgxpool.Pool, now time.Time) (bool, error) {
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM protectees WHERE name = $1)`, ProtecteeName).Scan(&exists); err != nil {
		return false, fmt.Errorf("demo: protection: %w", err)
	}
	if exists {
		return false, nil
	}
	// No Redis: loading reports no position, the only live state.
	store := protection.NewStore(pool, nil, "")
	lead := person("gl-ada")
	p, err := store.CreateProtectee(ctx, lead, protection.NewProtectee{
		Name: ProtecteeName, Title: "Chief Executive Officer", ThreatLevel: protection.ThreatHigh,
		Profile: protection.Profile{
			HomeAddress: "14 Example Gardens, London SW1A 0AA",
			Medical:     &protection.Medical{BloodType: "O-", Allergies: []string{"penicillin"}, Conditions: []string{"asthma (inhaler carried by the detail)"}},
			EmergencyContacts: []protection.EmergencyContact{
				{Name: "Martin Vance", Phone: "+44 20 7946 0958", Relation: "spouse"},
			},
			Vehicles: []protection.Vehicle{{Plate: "LV24 MRD", Description: "black armoured saloon"}},
			PhotoRef: "vault://protectees/helena-vance/2026.jpg",
		},
	})
	if err != nil {
		return false, fmt.Errorf("demo: protectee: %w", err)
	}
	interval, grace := DemoInterval, DemoGrace
	start := now.Add(-time.Hour).Truncate(time.Minute)
	d, err := store.CreateDetail(ctx, lead, protection.NewDetail{
		ProtecteeID: p.ID, Region: "EMEA", Leader: "pa-liam", Agents: []string{"pa-petra"},
		StartsAt: start, EndsAt: start.Add(7 * 24 * time.Hour), Interval: &interval, Grace: &grace,
	})
	if err != nil {
		return false, fmt.Errorf("demo: detail: %w", err)
	}
	leader := person("pa-liam")
	heathrow := protection.Place{City: "London", CountryCode: "GB", Latitude: 51.4700, Longitude: -0.4543}
	mayfair := protection.Place{City: "London", CountryCode: "GB", Latitude: 51.5101, Longitude: -0.1470}
	office := protection.Place{City: "London", CountryCode: "GB", Latitude: 51.5074, Longitude: -0.1278}
	day := start.Truncate(24 * time.Hour).Add(24 * time.Hour)
	for _, m := range []protection.NewMovement{
		{DetailID: d.ID, From: heathrow, To: mayfair, PlannedDeparture: day.Add(8 * time.Hour), PlannedArrival: day.Add(9 * time.Hour),
			DepartureZone: "Europe/London", ArrivalZone: "Europe/London", Vehicle: "LV24 MRD", RouteNotes: "M4, A4; alternate via A40"},
		{DetailID: d.ID, From: mayfair, To: office, PlannedDeparture: day.Add(10 * time.Hour), PlannedArrival: day.Add(10*time.Hour + 30*time.Minute),
			DepartureZone: "Europe/London", ArrivalZone: "Europe/London", Vehicle: "LV24 MRD", RouteNotes: "Piccadilly, the Strand"},
	} {
		if _, err := store.AddMovement(ctx, leader, m); err != nil {
			return false, fmt.Errorf("demo: movement: %w", err)
		}
	}
	for _, h := range []protection.NewSafeHaven{
		{DetailID: d.ID, Kind: "HOSPITAL", Name: "St Thomas' Hospital (A&E)", Place: protection.Place{City: "London", CountryCode: "GB", Latitude: 51.4980, Longitude: -0.1181},
			Phone: "+44 20 7188 7188", Notes: "Ambulance bay on Westminster Bridge Road; ask for the duty consultant"},
		{DetailID: d.ID, Kind: "POLICE", Name: "Charing Cross Police Station", Place: protection.Place{City: "London", CountryCode: "GB", Latitude: 51.5096, Longitude: -0.1234},
			Phone: "+44 20 7321 7514"},
		{DetailID: d.ID, Kind: "HOTEL", Name: "Mayfair hotel (principal's suite)", Place: mayfair, Phone: "+44 20 7946 0000", Notes: "Service entrance on the mews"},
	} {
		if _, err := store.AddSafeHaven(ctx, leader, h); err != nil {
			return false, fmt.Errorf("demo: safe haven: %w", err)
		}
	}
	for subject, codes := range CheckInCodes {
		if _, err := store.SetCodes(ctx, person(subject), codes[0], codes[1]); err != nil {
			return false, fmt.Errorf("demo: codes of %s: %w", subject, err)
		}
	}
	if _, err := store.Start(ctx, lead, d.ID); err != nil {
		return false, fmt.Errorf("demo: start detail: %w", err)
	}
	return true, nil
}
