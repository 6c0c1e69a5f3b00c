package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"meridian.dev/platform/directory"
	"meridian.dev/platform/travel"
)

// Travellers are people on the road: in the directory so trips can name
// them, with no role (they do not sign in to Meridian).
var Travellers = []directory.Person{
	{Subject: "tr-tomas", Name: "Tomás Traveller (sales, EMEA)", Email: "tomas@meridian.example", Regions: []string{"EMEA"}},
	{Subject: "tr-keiko", Name: "Keiko Traveller (engineering, APAC)", Email: "keiko@meridian.example", Regions: []string{"APAC"}},
	{Subject: "tr-marta", Name: "Marta Traveller (audit, AMER)", Email: "marta@meridian.example", Regions: []string{"AMER"}},
}

// demoPurpose marks the demo's trips, so loading again adds none.
const demoPurpose = "Demo: "

func place(city, country string, lat, lon float64) travel.Place {
	return travel.Place{City: city, CountryCode: country, Latitude: &lat, Longitude: &lon}
}

// demoTrips are placed around now: two under way (so whoIsWhere finds
// someone in Kenya and in Japan), one planned to Haiti (level 4 in the
// fixtures: submitting it needs a global lead's approval).
func demoTrips(now time.Time) []travel.NewTrip {
	day := 24 * time.Hour
	start := now.Truncate(time.Hour)
	nairobi := place("Nairobi", "KE", -1.2921, 36.8219)
	tokyo := place("Tokyo", "JP", 35.6812, 139.7671)
	portAuPrince := place("Port-au-Prince", "HT", 18.5944, -72.3074)
	miami := place("Miami", "US", 25.7617, -80.1918)
	return []travel.NewTrip{
		{Traveller: "tr-tomas", Purpose: demoPurpose + "customer visits in East Africa", Segments: []travel.SegmentInput{
			{Kind: "HOTEL", StartsAt: start.Add(-day), EndsAt: start.Add(3 * day), Timezone: "Africa/Nairobi", Place: nairobi},
			{Kind: "MEETING", StartsAt: start.Add(2 * time.Hour), EndsAt: start.Add(4 * time.Hour), Timezone: "Africa/Nairobi", Place: nairobi},
		}},
		{Traveller: "tr-keiko", Purpose: demoPurpose + "data centre audit", Segments: []travel.SegmentInput{
			{Kind: "HOTEL", StartsAt: start.Add(-2 * day), EndsAt: start.Add(4 * day), Timezone: "Asia/Tokyo", Place: tokyo},
		}},
		{Traveller: "tr-marta", Purpose: demoPurpose + "relief programme review", Segments: []travel.SegmentInput{
			{Kind: "FLIGHT", StartsAt: start.Add(10 * day), EndsAt: start.Add(10*day + 2*time.Hour), Timezone: "America/Port-au-Prince",
				Place: portAuPrince, From: &miami, To: &portAuPrince},
			{Kind: "HOTEL", StartsAt: start.Add(10*day + 3*time.Hour), EndsAt: start.Add(13 * day), Timezone: "America/Port-au-Prince", Place: portAuPrince},
		}},
	}
}

// LoadTravel adds the travellers and, the first time, their demo trips
// (created by the travel team's persona, as drafts or under way).
func LoadTravel(ctx context.Context, pool *pgxpool.Pool, now time.Time) (created int, err error) {
	people := directory.NewStore(pool)
	for _, p := range Travellers {
		if err := people.Upsert(ctx, p); err != nil {
			return 0, err
		}
	}
	var existing int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM trips WHERE purpose LIKE $1`, demoPurpose+"%").Scan(&existing); err != nil {
		return 0, fmt.Errorf("demo trips: %w", err)
	}
	if existing > 0 {
		return 0, nil
	}
	trips := travel.NewStore(pool)
	for _, nt := range demoTrips(now) {
		t, _, err := trips.Create(ctx, "tt-theo", nt)
		if err != nil {
			return created, fmt.Errorf("demo trip for %s: %w", nt.Traveller, err)
		}
		created++
		// The trips under way were approved before they began.
		if nt.Segments[0].StartsAt.Before(now) {
			if _, err := trips.Submit(ctx, "tt-theo", t.ID); err != nil {
				return created, fmt.Errorf("demo trip for %s: submit: %w", nt.Traveller, err)
			}
		}
	}
	return created, nil
}
