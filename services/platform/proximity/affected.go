package proximity

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"meridian.dev/platform/incident"
)

// AffectedSite is a site within an incident's site radius.
type AffectedSite struct {
	SiteID     uuid.UUID `json:"siteId"`
	Code       string    `json:"code"`
	Name       string    `json:"name"`
	DistanceKm float64   `json:"distanceKm"`
}

// AffectedTraveller is a traveller whose trip puts them within an
// incident's traveller radius when it happened: their nearest segment.
type AffectedTraveller struct {
	Traveller  string    `json:"traveller"` // users.subject
	TripID     uuid.UUID `json:"tripId"`
	SegmentID  uuid.UUID `json:"segmentId"`
	DistanceKm float64   `json:"distanceKm"`
}

// Affected is who and what of ours an incident reaches, nearest first.
type Affected struct {
	Sites      []AffectedSite      `json:"sites"`
	Travellers []AffectedTraveller `json:"travellers"`
}

// MaxAffected bounds each list: past a few hundred sites or people the
// answer is "a whole region", and the list would only slow the page.
const MaxAffected = 500

// Finder finds the sites and travellers near a place and time.
type Finder struct {
	pool  *pgxpool.Pool
	radii *Radii
}

// NewFinder returns a finder on pool.
func NewFinder(pool *pgxpool.Pool) *Finder { return &Finder{pool: pool, radii: NewRadii(pool)} }

// Affected returns the sites within the incident's kind's SITE radius and
// the travellers within its TRAVELLER radius whose segment covers the moment
// it happened, on trips neither cancelled nor rejected. The moment is the
// feed event's time for an incident raised from the event feed (so this
// agrees with the check that raised it), else the incident's creation. An
// incident without a location affects nothing that can be measured: empty
// lists. An unknown incident is incident.ErrNotFound.
func (f *Finder) Affected(ctx context.Context, incidentID uuid.UUID) (Affected, error) {
	all, err := f.AffectedMany(ctx, []uuid.UUID{incidentID})
	if err != nil {
		return Affected{}, err
	}
	a, ok := all[incidentID]
	if !ok {
		return Affected{}, incident.ErrNotFound
	}
	return a, nil
}

// AffectedMany is Affected for many incidents in three round trips, for the
// GraphQL loader; unknown IDs are absent from the map.
func (f *Finder) AffectedMany(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]Affected, error) {
	out := make(map[uuid.UUID]Affected, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	type located struct {
		id   uuid.UUID
		kind string
		at   time.Time
		lat  *float64
		lon  *float64
	}
	rows, err := f.pool.Query(ctx, `SELECT i.id, i.kind, i.latitude, i.longitude, COALESCE(g.occurred_at, i.created_at)
		  FROM incidents i
		  LEFT JOIN geo_events g ON i.source_type = 'EVENT_FEED' AND g.id = i.source_ref
		 WHERE i.id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("proximity: affected: %w", err)
	}
	incidents, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (located, error) {
		var l located
		err := row.Scan(&l.id, &l.kind, &l.lat, &l.lon, &l.at)
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("proximity: affected: %w", err)
	}
	radii, err := f.radii.table(ctx)
	if err != nil {
		return nil, err
	}
	found := make(map[uuid.UUID]*nearby, len(incidents))
	batch := &pgx.Batch{}
	for _, l := range incidents {
		out[l.id] = Affected{Sites: []AffectedSite{}, Travellers: []AffectedTraveller{}}
		if l.lat == nil || l.lon == nil {
			continue
		}
		n := &nearby{}
		found[l.id] = n
		queueNearby(batch, place{Latitude: *l.lat, Longitude: *l.lon, At: l.at},
			radii.of(l.kind, AssetSite), radii.of(l.kind, AssetTraveller), n)
	}
	if batch.Len() > 0 {
		if err := f.pool.SendBatch(ctx, batch).Close(); err != nil {
			return nil, fmt.Errorf("proximity: affected: %w", err)
		}
	}
	for id, n := range found {
		out[id] = n.affected()
	}
	return out, nil
}

// place is a point at a moment: where and when something happened.
type place struct {
	Latitude, Longitude float64
	At                  time.Time
}

// nearSite and nearTraveller carry what raising an incident also needs:
// which regions must escalate.
type nearSite struct {
	AffectedSite
	Region string
}

type nearTraveller struct {
	AffectedTraveller
	CountryCode string
	City        string
	HomeRegions []string // users.regions, when the country names no region
}

type nearby struct {
	sites      []nearSite
	travellers []nearTraveller
}

func (n *nearby) empty() bool { return len(n.sites) == 0 && len(n.travellers) == 0 }

func (n *nearby) affected() Affected {
	a := Affected{Sites: make([]AffectedSite, 0, len(n.sites)), Travellers: make([]AffectedTraveller, 0, len(n.travellers))}
	for _, s := range n.sites {
		a.Sites = append(a.Sites, s.AffectedSite)
	}
	for _, t := range n.travellers {
		a.Travellers = append(a.Travellers, t.AffectedTraveller)
	}
	return a
}

// pointSQL is the place as a geography; written inline (not joined from a
// subquery) so the planner sees a constant and uses the GiST indexes.
const pointSQL = `ST_SetSRID(ST_MakePoint($2, $1), 4326)::geography`

// Sites within $3 km of ($1, $2), nearest first.
const sitesNearSQL = `SELECT s.id, s.code, s.name, s.region, ST_Distance(s.location, ` + pointSQL + `) / 1000 AS km
	  FROM sites s
	 WHERE ST_DWithin(s.location, ` + pointSQL + `, $3::float8 * 1000)
	 ORDER BY km, s.code
	 LIMIT $4`

// Travellers within $3 km of ($1, $2) at $4: each traveller once, by their
// nearest segment covering the moment, on a trip that still stands.
const travellersNearSQL = `SELECT traveller, trip_id, segment_id, country_code, city, regions, km FROM (
	SELECT DISTINCT ON (t.traveller) t.traveller, t.id AS trip_id, seg.id AS segment_id, seg.country_code, seg.city,
	       u.regions, ST_Distance(seg.location, ` + pointSQL + `) / 1000 AS km
	  FROM trip_segments seg
	  JOIN trips t ON t.id = seg.trip_id
	  JOIN users u ON u.subject = t.traveller
	 WHERE ST_DWithin(seg.location, ` + pointSQL + `, $3::float8 * 1000)
	   AND seg.starts_at <= $4 AND seg.ends_at >= $4
	   AND t.status NOT IN ('CANCELLED', 'REJECTED')
	 ORDER BY t.traveller, km, seg.id) nearest
	 ORDER BY km, traveller
	 LIMIT $5`

// queueNearby queues the two proximity queries for p on b; their rows land
// in into when the batch runs.
func queueNearby(b *pgx.Batch, p place, siteKm, travellerKm float64, into *nearby) {
	b.Queue(sitesNearSQL, p.Latitude, p.Longitude, siteKm, MaxAffected).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var s nearSite
			if err := rows.Scan(&s.SiteID, &s.Code, &s.Name, &s.Region, &s.DistanceKm); err != nil {
				return err
			}
			into.sites = append(into.sites, s)
		}
		return rows.Err()
	})
	b.Queue(travellersNearSQL, p.Latitude, p.Longitude, travellerKm, p.At, MaxAffected).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var t nearTraveller
			if err := rows.Scan(&t.Traveller, &t.TripID, &t.SegmentID, &t.CountryCode, &t.City, &t.HomeRegions, &t.DistanceKm); err != nil {
				return err
			}
			into.travellers = append(into.travellers, t)
		}
		return rows.Err()
	})
}

// near runs the proximity queries for one place.
func (f *Finder) near(ctx context.Context, p place, siteKm, travellerKm float64) (*nearby, error) {
	n := &nearby{}
	b := &pgx.Batch{}
	queueNearby(b, p, siteKm, travellerKm, n)
	if err := f.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("proximity: near: %w", err)
	}
	return n, nil
}
