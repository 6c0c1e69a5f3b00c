package protection

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"meridian.dev/platform/audit"
	"meridian.dev/platform/auth"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/proximity"
)

// positionAudit is what the audit log keeps of a reported position: that
// one was reported, never where.
type positionAudit struct {
	DetailID uuid.UUID `json:"detailId"`
	Changed  []string  `json:"changed"`
}

// ReportPosition keeps a position in the track and, when it is the newest,
// as the detail's last one (FieldReport: an agent or the leader of an
// active detail). Postgres records it in one transaction; the live copy in
// Redis follows, and a failure there is logged, not returned.
func (s *Store) ReportPosition(ctx context.Context, actor auth.Identity, detailID uuid.UUID, p Point, at *time.Time) (Position, error) {
	now := s.clock()
	pos, err := checkReport(p, at, now)
	if err != nil {
		return Position{}, err
	}
	err = s.writeDetail(ctx, actor, detailID, FieldReport, func(tx pgx.Tx, d Detail, b *pgx.Batch) error {
		queuePosition(b, d.ID, actor.Subject, pos)
		if err := queueDetailChanged(ctx, b, d.ID, EventPosition, now); err != nil {
			return err
		}
		return audit.Queue(ctx, b, audit.Entry{Actor: actor.Subject, Action: "detail.report_position", ObjectType: "Detail",
			ObjectID: d.ID.String(), After: positionAudit{DetailID: d.ID, Changed: []string{FieldLastPosition}}})
	}, nil)
	if err != nil {
		return Position{}, err
	}
	s.writeLivePosition(ctx, detailID, pos)
	return pos, nil
}

// LastPositions reads each detail's last position: Redis's live one when it
// is as new as Postgres's, else Postgres's. Redis down or slow: Postgres's,
// which holds every position Redis does (it is written first).
func (s *Store) LastPositions(ctx context.Context, detailIDs []uuid.UUID) (map[uuid.UUID]Position, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, position_lat, position_lon, position_at FROM details
		WHERE id = ANY($1) AND position_at IS NOT NULL AND position_lat IS NOT NULL AND position_lon IS NOT NULL`, detailIDs)
	if err != nil {
		return nil, fmt.Errorf("protection: last positions: %w", err)
	}
	out := make(map[uuid.UUID]Position, len(detailIDs))
	var id uuid.UUID
	var pos Position
	if _, err := pgx.ForEachRow(rows, []any{&id, &pos.Latitude, &pos.Longitude, &pos.At}, func() error {
		out[id] = pos
		return nil
	}); err != nil {
		return nil, fmt.Errorf("protection: last positions: %w", err)
	}
	live, err := s.livePositions(ctx, detailIDs)
	if err != nil {
		s.logger().WarnContext(ctx, "protection: live positions unavailable; serving Postgres's", "err", err)
		return out, nil
	}
	for id, p := range live {
		if stored, ok := out[id]; !ok || !p.At.Before(stored.At) {
			out[id] = p
		}
	}
	return out, nil
}

// livePositions reads the live positions Redis holds, in one round trip.
func (s *Store) livePositions(ctx context.Context, detailIDs []uuid.UUID) (map[uuid.UUID]Position, error) {
	if s.rdb == nil || len(detailIDs) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(detailIDs))
	for i, id := range detailIDs {
		cmds[i] = pipe.HMGet(ctx, s.positionKey(id), "at", "lat", "lon")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	out := make(map[uuid.UUID]Position, len(detailIDs))
	for i, cmd := range cmds {
		if p, ok := parseLive(cmd.Val()); ok {
			out[detailIDs[i]] = p
		}
	}
	return out, nil
}

// parseLive reads the hash setIfNewer writes; anything else is ignored.
func parseLive(vals []any) (Position, bool) {
	if len(vals) != 3 {
		return Position{}, false
	}
	var nums [3]float64
	for i, v := range vals {
		text, ok := v.(string)
		if !ok {
			return Position{}, false
		}
		n, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return Position{}, false
		}
		nums[i] = n
	}
	if checkCoordinates("", nums[1], nums[2]) != nil {
		return Position{}, false
	}
	return Position{Point: Point{Latitude: nums[1], Longitude: nums[2]}, At: time.UnixMicro(int64(nums[0])).UTC()}, true
}

// MaxNearest bounds nearestSafeHavens' first.
const MaxNearest = 50

// NearestSafeHavens lists the detail's havens nearest its last known
// position first, with their distances (PostGIS, on the spheroid).
func (s *Store) NearestSafeHavens(ctx context.Context, detailID uuid.UUID, first int) ([]NearbySafeHaven, error) {
	if first < 1 || first > MaxNearest {
		return nil, fault.Invalid("first", "must be between 1 and %d", MaxNearest)
	}
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM details WHERE id = $1)`, detailID).Scan(&exists); err != nil {
		return nil, fmt.Errorf("protection: nearest safe havens: %w", err)
	}
	if !exists {
		return nil, ErrDetailNotFound
	}
	positions, err := s.LastPositions(ctx, []uuid.UUID{detailID})
	if err != nil {
		return nil, err
	}
	pos, ok := positions[detailID]
	if !ok {
		return nil, fault.New(fault.Conflict, "the detail has reported no position yet")
	}
	rows, err := s.pool.Query(ctx, `WITH here AS (SELECT ST_SetSRID(ST_MakePoint($2, $3), 4326)::geography AS g)
		SELECT `+havenColumns+`, ST_Distance(h.location, here.g) / 1000
		  FROM safe_havens h, here WHERE h.detail_id = $1
		 ORDER BY ST_Distance(h.location, here.g), h.id LIMIT $4`, detailID, pos.Longitude, pos.Latitude, first)
	if err != nil {
		return nil, fmt.Errorf("protection: nearest safe havens: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (NearbySafeHaven, error) {
		var n NearbySafeHaven
		h, err := scanHaven(r, &n.DistanceKm)
		n.SafeHaven = h
		return n, err
	})
	if err != nil {
		return nil, fmt.Errorf("protection: nearest safe havens: %w", err)
	}
	return list, nil
}

// AffectedDetail is one detail an incident affects.
type AffectedDetail struct {
	Detail     Detail
	DistanceKm float64
	Via        string // ViaPosition or ViaMovement
}

// Ways a detail is near an incident.
const (
	ViaPosition = "POSITION"
	ViaMovement = "MOVEMENT"
)

// Near lists the details an incident of kind at p, at time at, affects:
// active details whose last position lies within the kind's DETAIL radius
// (via POSITION), and details not ended with a leg not yet arrived and
// planned to arrive at or after at that starts or ends within it (via
// MOVEMENT). One entry per detail, its position preferred; nearest first.
func (s *Store) Near(ctx context.Context, kind string, p Point, at time.Time) ([]AffectedDetail, error) {
	if err := checkCoordinates("", p.Latitude, p.Longitude); err != nil {
		return nil, err
	}
	radiusKm, err := proximity.NewRadii(s.pool).For(ctx, kind, proximity.AssetDetail)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `WITH here AS (SELECT ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography AS g),
		near AS (
			SELECT d.id, ST_Distance(d.position, here.g) AS dist, 'POSITION' AS via, 0 AS rank
			  FROM details d, here
			 WHERE d.status = 'ACTIVE' AND d.position IS NOT NULL AND ST_DWithin(d.position, here.g, $3)
			UNION ALL
			SELECT m.detail_id, least(ST_Distance(m.from_location, here.g), ST_Distance(m.to_location, here.g)), 'MOVEMENT', 1
			  FROM movements m JOIN details d ON d.id = m.detail_id, here
			 WHERE d.status <> 'ENDED' AND m.status <> 'ARRIVED' AND m.planned_arrival >= $4
			   AND (ST_DWithin(m.from_location, here.g, $3) OR ST_DWithin(m.to_location, here.g, $3))),
		best AS (SELECT DISTINCT ON (id) id, dist, via FROM near ORDER BY id, rank, dist)
		SELECT id, dist / 1000, via FROM best ORDER BY dist, id LIMIT $5`,
		p.Longitude, p.Latitude, radiusKm*1000, at, proximity.MaxAffected)
	if err != nil {
		return nil, fmt.Errorf("protection: details near: %w", err)
	}
	type hit struct {
		ID  uuid.UUID
		Km  float64
		Via string
	}
	hits, err := pgx.CollectRows(rows, pgx.RowToStructByPos[hit])
	if err != nil {
		return nil, fmt.Errorf("protection: details near: %w", err)
	}
	ids := make([]uuid.UUID, len(hits))
	for i, h := range hits {
		ids[i] = h.ID
	}
	details, err := s.DetailsByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]AffectedDetail, 0, len(hits))
	for _, h := range hits {
		if d, ok := details[h.ID]; ok {
			out = append(out, AffectedDetail{Detail: d, DistanceKm: h.Km, Via: h.Via})
		}
	}
	return out, nil
}
