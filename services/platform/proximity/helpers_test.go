package proximity

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"meridian.dev/platform/proximity/usgs"
)

// Rows are inserted by hand: these tests are about proximity, not about the
// stores that normally write sites and trips.

type siteRow struct {
	Code, Name, Region, Country string
	Lat, Lon                    float64
}

func insertSite(t *testing.T, pool *pgxpool.Pool, s siteRow) uuid.UUID {
	t.Helper()
	id := uuid.New()
	if _, err := pool.Exec(context.Background(), `INSERT INTO sites (id, code, name, region, country_code, city, latitude, longitude,
		timezone, criticality) VALUES ($1, $2, $3, $4, $5, $3, $6, $7, 'UTC', 'HIGH')`,
		id, s.Code, s.Name, s.Region, s.Country, s.Lat, s.Lon); err != nil {
		t.Fatalf("insert site %s: %v", s.Code, err)
	}
	return id
}

func insertUser(t *testing.T, pool *pgxpool.Pool, subject string, regions ...string) {
	t.Helper()
	if regions == nil {
		regions = []string{}
	}
	if _, err := pool.Exec(context.Background(), `INSERT INTO users (subject, name, roles, regions) VALUES ($1, $1, '{}', $2)
		ON CONFLICT (subject) DO NOTHING`, subject, regions); err != nil {
		t.Fatalf("insert user %s: %v", subject, err)
	}
}

func insertTrip(t *testing.T, pool *pgxpool.Pool, traveller, status string) uuid.UUID {
	t.Helper()
	insertUser(t, pool, traveller)
	id := uuid.New()
	if _, err := pool.Exec(context.Background(), `INSERT INTO trips (id, traveller, status, created_by) VALUES ($1, $2, $3, 'travel-desk')`,
		id, traveller, status); err != nil {
		t.Fatalf("insert trip: %v", err)
	}
	return id
}

type segmentRow struct {
	Position       int
	From, To       time.Time
	City, Country  string
	Lat, Lon       float64
	WithoutPlace   bool // a segment whose coordinates are unknown
	Kind, Timezone string
}

func insertSegment(t *testing.T, pool *pgxpool.Pool, tripID uuid.UUID, s segmentRow) uuid.UUID {
	t.Helper()
	id := uuid.New()
	var lat, lon *float64
	if !s.WithoutPlace {
		lat, lon = &s.Lat, &s.Lon
	}
	if s.Kind == "" {
		s.Kind = "HOTEL"
	}
	if s.Timezone == "" {
		s.Timezone = "UTC"
	}
	if _, err := pool.Exec(context.Background(), `INSERT INTO trip_segments (id, trip_id, position, kind, starts_at, ends_at, timezone,
		city, country_code, latitude, longitude) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		id, tripID, s.Position, s.Kind, s.From, s.To, s.Timezone, s.City, s.Country, lat, lon); err != nil {
		t.Fatalf("insert segment: %v", err)
	}
	return id
}

const fixtureDir = "../advisory/feed/fixtures/usgs"

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	body, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func dayFeed(t *testing.T) usgs.Feed {
	t.Helper()
	f, err := usgs.Parse(readFixture(t, "2.5_day.geojson"))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// roughly says whether got is within tolerance of want.
func roughly(got, want, tolerance float64) bool {
	return got >= want-tolerance && got <= want+tolerance
}
