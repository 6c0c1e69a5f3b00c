package protection

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/outbox"
)

// pgxQuerier is what a read goes through: the pool, or the transaction of
// a write so that what it decides on is what it locked.
type pgxQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

const detailColumns = `d.id, d.protectee_id, d.region, d.leader, d.status, d.starts_at, d.ends_at, d.threat_level,
	d.check_in_interval_s, d.interval_is_custom, d.grace_s, d.last_check_in_at, d.last_check_in_by, d.last_check_in_lat,
	d.last_check_in_lon, d.next_check_in_due, d.position_lat, d.position_lon, d.position_at, d.failed_codes,
	d.workflow_id, d.created_by, d.created_at, d.started_at, d.ended_at`

// scanDetail reads one row of detailColumns; the agents are filled by
// the caller (withAgents).
func scanDetail(row pgx.Row) (Detail, error) {
	var d Detail
	var intervalS, graceS int
	var lastAt *time.Time
	var lastBy *string
	var lastLat, lastLon, posLat, posLon *float64
	var posAt *time.Time
	err := row.Scan(&d.ID, &d.ProtecteeID, &d.Region, &d.Leader, &d.Status, &d.StartsAt, &d.EndsAt, &d.ThreatLevel,
		&intervalS, &d.CustomInterval, &graceS, &lastAt, &lastBy, &lastLat, &lastLon, &d.NextDue, &posLat, &posLon,
		&posAt, &d.FailedCodes, &d.WorkflowID, &d.CreatedBy, &d.CreatedAt, &d.StartedAt, &d.EndedAt)
	if err != nil {
		return Detail{}, err
	}
	d.Interval = time.Duration(intervalS) * time.Second
	d.Grace = time.Duration(graceS) * time.Second
	d.Agents = []string{}
	if lastAt != nil {
		d.LastCheckIn = &CheckInRef{At: *lastAt}
		if lastBy != nil {
			d.LastCheckIn.By = *lastBy
		}
		if lastLat != nil && lastLon != nil {
			d.LastCheckIn.Position = &Point{Latitude: *lastLat, Longitude: *lastLon}
		}
	}
	if posAt != nil && posLat != nil && posLon != nil {
		d.LastPosition = &Position{Point: Point{Latitude: *posLat, Longitude: *posLon}, At: *posAt}
	}
	return d, nil
}

// loadDetail reads one detail with its agents, locked when forUpdate
// (inside a transaction: every write decides on the locked row). FOR NO
// KEY UPDATE serialises the writers of a detail without blocking the
// inserts of rows that merely reference it (timeline, positions, access
// log), which FOR UPDATE would.
func (s *Store) loadDetail(ctx context.Context, q pgxQuerier, id uuid.UUID, forUpdate bool) (Detail, error) {
	query := `SELECT ` + detailColumns + ` FROM details d WHERE d.id = $1`
	if forUpdate {
		query += ` FOR NO KEY UPDATE`
	}
	d, err := scanDetail(q.QueryRow(ctx, query, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Detail{}, ErrDetailNotFound
	}
	if err != nil {
		return Detail{}, fmt.Errorf("protection: load detail %s: %w", id, err)
	}
	list := []Detail{d}
	if err := withAgents(ctx, q, list); err != nil {
		return Detail{}, err
	}
	return list[0], nil
}

// queryDetails runs a query selecting detailColumns and fills the agents
// of every detail it returns in one more query.
func queryDetails(ctx context.Context, q pgxQuerier, query string, args ...any) ([]Detail, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("protection: details: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Detail, error) { return scanDetail(r) })
	if err != nil {
		return nil, fmt.Errorf("protection: details: %w", err)
	}
	if err := withAgents(ctx, q, list); err != nil {
		return nil, err
	}
	return list, nil
}

// withAgents fills each detail's agents, in subject order.
func withAgents(ctx context.Context, q pgxQuerier, list []Detail) error {
	if len(list) == 0 {
		return nil
	}
	ids := make([]uuid.UUID, len(list))
	index := make(map[uuid.UUID][]int, len(list))
	for i, d := range list {
		ids[i] = d.ID
		index[d.ID] = append(index[d.ID], i)
	}
	rows, err := q.Query(ctx, `SELECT detail_id, subject FROM detail_agents WHERE detail_id = ANY($1)
		ORDER BY detail_id, subject`, ids)
	if err != nil {
		return fmt.Errorf("protection: agents: %w", err)
	}
	var detailID uuid.UUID
	var subject string
	_, err = pgx.ForEachRow(rows, []any{&detailID, &subject}, func() error {
		for _, i := range index[detailID] {
			list[i].Agents = append(list[i].Agents, subject)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("protection: agents: %w", err)
	}
	return nil
}

// appendStep queues one step of a detail's timeline, written once per
// dedupeKey ("" never deduplicates). A zero step.At is the store's now.
func (s *Store) appendStep(ctx context.Context, b *pgx.Batch, detailID uuid.UUID, step Step, dedupeKey string) {
	at := step.At
	if at.IsZero() {
		at = s.clock()
	}
	b.Queue(`INSERT INTO detail_timeline (detail_id, at, kind, actor, note, dedupe_key)
		VALUES ($1, $2, $3, $4, $5, NULLIF($6, '')) ON CONFLICT (dedupe_key) DO NOTHING`,
		detailID, at, step.Kind, step.Actor, step.Note, dedupeKey)
}

// queueDetailChanged announces a change of kind (an Event* constant) to the
// detail's detailUpdated subscribers, through the outbox.
func queueDetailChanged(ctx context.Context, b *pgx.Batch, detailID uuid.UUID, kind string, at time.Time) error {
	return outbox.QueueEnqueue(ctx, b, TopicDetailChanged, DetailChanged{DetailID: detailID, Kind: kind, At: at})
}

// queueWatch has the relay act on the detail's check-in watch once the
// transaction commits.
func queueWatch(ctx context.Context, b *pgx.Batch, cmd WatchCommand) error {
	return outbox.QueueEnqueue(ctx, b, TopicWatch, cmd)
}

// queuePosition keeps a reported position in the track and, when it is
// newer than the one the detail holds, as the detail's last position (a
// late report never moves the detail back).
func queuePosition(b *pgx.Batch, detailID uuid.UUID, by string, p Position) {
	b.Queue(`INSERT INTO detail_positions (detail_id, reported_by, latitude, longitude, at) VALUES ($1, $2, $3, $4, $5)`,
		detailID, by, p.Latitude, p.Longitude, p.At)
	b.Queue(`UPDATE details SET position_lat = $2, position_lon = $3, position_at = $4
		WHERE id = $1 AND (position_at IS NULL OR position_at < $4)`, detailID, p.Latitude, p.Longitude, p.At)
}

// positionKey is the Redis hash holding a detail's live position.
func (s *Store) positionKey(detailID uuid.UUID) string {
	return s.prefix + "protection:position:" + detailID.String()
}

// positionTTL bounds how long a live position outlives its detail in
// Redis; Postgres keeps it for good, so an expired key loses nothing.
const positionTTL = 30 * 24 * time.Hour

// setIfNewer stores a live position only when it is newer than the one
// held: reports that arrive out of order, or a retried write, never move
// the live position back.
var setIfNewer = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'at')
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'at', ARGV[1], 'lat', ARGV[2], 'lon', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`)

// writeLivePosition sets the detail's live position in Redis after the
// transaction that recorded it committed. A failure is logged, not
// returned: Postgres accepted the position, and LastPositions serves
// Postgres's whenever Redis is behind.
func (s *Store) writeLivePosition(ctx context.Context, detailID uuid.UUID, p Position) {
	if s.rdb == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), redisTimeout)
	defer cancel()
	err := setIfNewer.Run(ctx, s.rdb, []string{s.positionKey(detailID)}, p.At.UnixMicro(),
		strconv.FormatFloat(p.Latitude, 'g', -1, 64), strconv.FormatFloat(p.Longitude, 'g', -1, 64),
		positionTTL.Milliseconds()).Err()
	if err != nil {
		s.logger().WarnContext(ctx, "protection: live position not written; Postgres holds it", "detail", detailID, "err", err)
	}
}

// Detail reads one detail; no check here.
func (s *Store) Detail(ctx context.Context, id uuid.UUID) (Detail, error) {
	return s.loadDetail(ctx, s.pool, id, false)
}

// DetailsOf reads every detail of each protectee (for standings), newest
// first.
func (s *Store) DetailsOf(ctx context.Context, protecteeIDs []uuid.UUID) (map[uuid.UUID][]Detail, error) {
	list, err := queryDetails(ctx, s.pool, `SELECT `+detailColumns+` FROM details d WHERE d.protectee_id = ANY($1)
		ORDER BY d.created_at DESC, d.id DESC`, protecteeIDs)
	if err != nil {
		return nil, err
	}
	out := make(map[uuid.UUID][]Detail, len(protecteeIDs))
	for _, d := range list {
		out[d.ProtecteeID] = append(out[d.ProtecteeID], d)
	}
	return out, nil
}

// DetailsByID reads several details (for loaders); unknown ids are absent.
func (s *Store) DetailsByID(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]Detail, error) {
	list, err := queryDetails(ctx, s.pool, `SELECT `+detailColumns+` FROM details d WHERE d.id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[uuid.UUID]Detail, len(list))
	for _, d := range list {
		out[d.ID] = d
	}
	return out, nil
}

var detailStatuses = []string{StatusPlanned, StatusActive, StatusEnded}

// Details pages the details viewer stands Masked or Cleared on, newest
// first.
func (s *Store) Details(ctx context.Context, viewer auth.Identity, f DetailFilter, first int, after string) ([]Detail, bool, error) {
	if err := checkFirst(first); err != nil {
		return nil, false, err
	}
	var args sqlArgs
	where := []string{visibleDetailSQL(viewer, &args)}
	if f.Status != "" {
		if !slices.Contains(detailStatuses, f.Status) {
			return nil, false, fault.Invalid("status", "must be one of %s", strings.Join(detailStatuses, ", "))
		}
		where = append(where, "d.status = "+args.add(f.Status))
	}
	if f.Region != "" {
		if err := s.checkRegion(ctx, f.Region); err != nil {
			return nil, false, err
		}
		where = append(where, "d.region = "+args.add(f.Region))
	}
	if after != "" {
		at, id, err := decodeCursor(detailCursorKind, after)
		if err != nil {
			return nil, false, err
		}
		where = append(where, "(d.created_at, d.id) < ("+args.add(at)+", "+args.add(id)+")")
	}
	list, err := queryDetails(ctx, s.pool, `SELECT `+detailColumns+` FROM details d WHERE `+strings.Join(where, " AND ")+
		` ORDER BY d.created_at DESC, d.id DESC LIMIT `+args.add(first+1), args...)
	if err != nil {
		return nil, false, err
	}
	list, more := page(list, first)
	return list, more, nil
}

func (s *Store) checkRegion(ctx context.Context, region string) error {
	if err := fault.CheckText("region", region); err != nil {
		return err
	}
	var known bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM regions WHERE code = $1)`, region).Scan(&known); err != nil {
		return fmt.Errorf("protection: check region: %w", err)
	}
	if !known {
		return fault.Invalid("region", "unknown region %q", region)
	}
	return nil
}

// CheckIns pages a detail's check-ins, newest first.
func (s *Store) CheckIns(ctx context.Context, detailID uuid.UUID, first int, after string) ([]CheckIn, bool, error) {
	if err := checkFirst(first); err != nil {
		return nil, false, err
	}
	var args sqlArgs
	where := "detail_id = " + args.add(detailID)
	if after != "" {
		at, id, err := decodeCursor(checkInCursorKind, after)
		if err != nil {
			return nil, false, err
		}
		where += " AND (at, id) < (" + args.add(at) + ", " + args.add(id) + ")"
	}
	rows, err := s.pool.Query(ctx, `SELECT id, detail_id, agent, at, latitude, longitude, note, next_due FROM check_ins
		WHERE `+where+` ORDER BY at DESC, id DESC LIMIT `+args.add(first+1), args...)
	if err != nil {
		return nil, false, fmt.Errorf("protection: check-ins of %s: %w", detailID, err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (CheckIn, error) {
		var c CheckIn
		var lat, lon *float64
		if err := r.Scan(&c.ID, &c.DetailID, &c.Agent, &c.At, &lat, &lon, &c.Note, &c.NextDue); err != nil {
			return CheckIn{}, err
		}
		if lat != nil && lon != nil {
			c.Position = &Point{Latitude: *lat, Longitude: *lon}
		}
		return c, nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("protection: check-ins of %s: %w", detailID, err)
	}
	list, more := page(list, first)
	return list, more, nil
}

// Timeline reads a detail's timeline, oldest first.
func (s *Store) Timeline(ctx context.Context, detailID uuid.UUID) ([]Step, error) {
	rows, err := s.pool.Query(ctx, `SELECT at, kind, actor, note FROM detail_timeline WHERE detail_id = $1 ORDER BY id`, detailID)
	if err != nil {
		return nil, fmt.Errorf("protection: timeline of %s: %w", detailID, err)
	}
	steps, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Step])
	if err != nil {
		return nil, fmt.Errorf("protection: timeline of %s: %w", detailID, err)
	}
	return steps, nil
}
