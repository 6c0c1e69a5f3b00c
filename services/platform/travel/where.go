package travel

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"meridian.dev/platform/country"
	"meridian.dev/platform/fault"
)

// MaxRadiusKm bounds a who-is-where radius: beyond it the answer is a
// country's, or everyone's.
const MaxRadiusKm = 2000

// Where asks who of ours is where at an instant: in a country, and/or within
// RadiusKm of a point (the three go together). Regions, when not nil,
// restricts the answer to segments in those regions' countries (a regional
// manager's view), and to nothing when empty.
type Where struct {
	Country                       string
	Latitude, Longitude, RadiusKm *float64
	At                            time.Time
	Regions                       []string
}

// Presence is one traveller somewhere at the instant asked about.
type Presence struct {
	Traveller string
	TripID    uuid.UUID
	SegmentID uuid.UUID
	Segment   Segment
	// DistanceKm is from the point asked about; nil when asked by country only.
	DistanceKm *float64
}

func (w Where) validate() (Where, error) {
	if w.Country != "" {
		w.Country = strings.ToUpper(strings.TrimSpace(w.Country))
		if _, ok := country.Get(w.Country); !ok {
			return w, fault.Invalid("country", "unknown country %q", w.Country)
		}
	}
	given := 0
	for _, v := range []*float64{w.Latitude, w.Longitude, w.RadiusKm} {
		if v != nil {
			given++
		}
	}
	switch {
	case given == 0:
	case given != 3:
		return w, fault.Invalid("radiusKm", "a point needs latitude, longitude and radiusKm together")
	case math.IsNaN(*w.Latitude) || *w.Latitude < -90 || *w.Latitude > 90:
		return w, fault.Invalid("latitude", "must be between -90 and 90")
	case math.IsNaN(*w.Longitude) || *w.Longitude < -180 || *w.Longitude > 180:
		return w, fault.Invalid("longitude", "must be between -180 and 180")
	case math.IsNaN(*w.RadiusKm) || *w.RadiusKm <= 0 || *w.RadiusKm > MaxRadiusKm:
		return w, fault.Invalid("radiusKm", "must be more than 0 and at most %d", MaxRadiusKm)
	}
	return w, nil
}

// whereQuery is WhoIsWhere's SQL for a validated question.
func whereQuery(w Where) (string, []any) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	at := arg(w.At)
	where := []string{
		"t.status NOT IN ('CANCELLED', 'REJECTED')",
		"s.starts_at <= " + at, "s.ends_at >= " + at,
	}
	distance := "NULL::double precision"
	order := "t.traveller, s.starts_at, s.id"
	if w.Country != "" {
		where = append(where, "s.country_code = "+arg(w.Country))
	}
	if w.Latitude != nil {
		point := "ST_SetSRID(ST_MakePoint(" + arg(*w.Longitude) + ", " + arg(*w.Latitude) + "), 4326)::geography"
		// ST_DWithin on the geography column is what uses the GiST index
		// trip_segments_location; IS NOT NULL matches its predicate.
		where = append(where, "s.location IS NOT NULL", "ST_DWithin(s.location, "+point+", "+arg(*w.RadiusKm*1000)+")")
		distance = "ST_Distance(s.location, " + point + ") / 1000"
		order = "distance_km, t.traveller, s.id"
	}
	if w.Regions != nil {
		where = append(where, "s.country_code = ANY("+arg(regionCountries(w.Regions))+")")
	}
	return `SELECT t.traveller, ` + prefixed("s.", segmentColumns) + `, ` + distance + ` AS distance_km
		FROM trip_segments s JOIN trips t ON t.id = s.trip_id
		WHERE ` + strings.Join(where, " AND ") + ` ORDER BY ` + order, args
}

// WhoIsWhere returns the segments covering w.At of trips that are neither
// cancelled nor rejected, with their travellers: nearest first when a point
// is given (distances by PostGIS on the spheroid), else by traveller.
func (s *Store) WhoIsWhere(ctx context.Context, w Where) ([]Presence, error) {
	w, err := w.validate()
	if err != nil {
		return nil, err
	}
	if w.At.IsZero() {
		w.At = s.now()
	}
	query, args := whereQuery(w)
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("travel: who is where: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Presence, error) {
		var p Presence
		var from, to []byte
		seg := &p.Segment
		err := r.Scan(&p.Traveller, &seg.ID, &seg.TripID, &seg.Position, &seg.Kind, &seg.StartsAt, &seg.EndsAt, &seg.Timezone,
			&seg.Place.City, &seg.Place.CountryCode, &seg.Place.Latitude, &seg.Place.Longitude, &from, &to,
			&seg.Risk.Level, &seg.Risk.Reasons, &p.DistanceKm)
		if err != nil {
			return Presence{}, err
		}
		if err := decodePlaces(seg, from, to); err != nil {
			return Presence{}, err
		}
		p.TripID, p.SegmentID = seg.TripID, seg.ID
		return p, nil
	})
	if err != nil {
		return nil, fmt.Errorf("travel: who is where: %w", err)
	}
	return out, nil
}
