package schedule

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"meridian.dev/platform/audit"
	"meridian.dev/platform/fault"
)

// Store keeps business hours, rotations and overrides in Postgres.
type Store struct{ pool *pgxpool.Pool }

// NewStore returns a store on pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Hours returns every region's business hours.
func (s *Store) Hours(ctx context.Context) ([]Hours, error) {
	rows, err := s.pool.Query(ctx, `SELECT region, timezone, days, open_local, close_local, sun_order
		FROM region_hours ORDER BY sun_order, region`)
	if err != nil {
		return nil, fmt.Errorf("schedule: hours: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Hours, error) {
		var h Hours
		var days []int16
		err := r.Scan(&h.Region, &h.TimeZone, &days, &h.Open, &h.Close, &h.Order)
		for _, d := range days {
			h.Days = append(h.Days, time.Weekday(d))
		}
		return h, err
	})
}

const rotationColumns = `id, region, name, timezone, kind, handoff_time, handoff_day, to_char(start_date, 'YYYY-MM-DD'), participants`

func scanRotation(r pgx.CollectableRow) (Rotation, error) {
	var rot Rotation
	var id uuid.UUID
	var day int16
	err := r.Scan(&id, &rot.Region, &rot.Name, &rot.TimeZone, &rot.Kind, &rot.HandoffTime, &day, &rot.Start, &rot.Participants)
	rot.ID, rot.HandoffDay = id.String(), time.Weekday(day)
	return rot, err
}

// Rotations returns the region's rotations, by name.
func (s *Store) Rotations(ctx context.Context, region string) ([]Rotation, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+rotationColumns+` FROM rotations WHERE region = $1 ORDER BY name`, region)
	if err != nil {
		return nil, fmt.Errorf("schedule: rotations: %w", err)
	}
	return pgx.CollectRows(rows, scanRotation)
}

// Overrides returns the overrides of the rotations that cover at.
func (s *Store) Overrides(ctx context.Context, rotationIDs []string, at time.Time) ([]Override, error) {
	rows, err := s.pool.Query(ctx, `SELECT rotation_id::text, person, starts_at, ends_at FROM rotation_overrides
		WHERE rotation_id::text = ANY($1) AND starts_at <= $2 AND ends_at > $2 ORDER BY starts_at, created_at`, rotationIDs, at)
	if err != nil {
		return nil, fmt.Errorf("schedule: overrides: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Override])
}

// CreateRotation adds a rotation after validating it.
func (s *Store) CreateRotation(ctx context.Context, actor string, r Rotation) (Rotation, error) {
	if err := r.Validate(); err != nil {
		return Rotation{}, asFault(err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Rotation{}, err
	}
	r.ID = id.String()
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO rotations (id, region, name, timezone, kind, handoff_time, handoff_day, start_date, participants)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8::date, $9)`, id, r.Region, r.Name, r.TimeZone, string(r.Kind), r.HandoffTime,
			int16(r.HandoffDay), r.Start, r.Participants)
		if err != nil {
			return fmt.Errorf("schedule: create rotation: %w", err)
		}
		return audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: "rotation.create", ObjectType: "Rotation", ObjectID: r.ID, After: r})
	})
	return r, err
}

// AddOverride puts person on call in the region's named rotation for
// [from, to).
func (s *Store) AddOverride(ctx context.Context, actor, region, rotation, person string, from, to time.Time) (Override, error) {
	if person == "" {
		return Override{}, fault.Invalid("person", "is required")
	}
	if !to.After(from) {
		return Override{}, fault.Invalid("to", "must be after from")
	}
	o := Override{Person: person, From: from, To: to}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var rotID uuid.UUID
		err := tx.QueryRow(ctx, `SELECT id FROM rotations WHERE region = $1 AND name = $2`, region, rotation).Scan(&rotID)
		if errors.Is(err, pgx.ErrNoRows) {
			return fault.New(fault.NotFound, "no rotation "+rotation+" in "+region)
		}
		if err != nil {
			return fmt.Errorf("schedule: add override: %w", err)
		}
		o.RotationID = rotID.String()
		id, err := uuid.NewV7()
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO rotation_overrides (id, rotation_id, person, starts_at, ends_at, created_by)
			VALUES ($1, $2, $3, $4, $5, $6)`, id, rotID, person, from, to, actor); err != nil {
			return fmt.Errorf("schedule: add override: %w", err)
		}
		return audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: "rotation.override", ObjectType: "Rotation", ObjectID: o.RotationID, After: o})
	})
	return o, err
}

// OnCallShift is who a rotation has on call.
type OnCallShift struct {
	Rotation string
	Shift
}

// OnCallIn answers who is on call in region at the instant, one shift per
// rotation that has someone on call.
func (s *Store) OnCallIn(ctx context.Context, region string, at time.Time) ([]OnCallShift, error) {
	rots, err := s.Rotations(ctx, region)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(rots))
	for i, r := range rots {
		ids[i] = r.ID
	}
	overrides, err := s.Overrides(ctx, ids, at)
	if err != nil {
		return nil, err
	}
	var out []OnCallShift
	for _, r := range rots {
		shift, ok, err := OnCall(r, overrides, at)
		if err != nil {
			return nil, fmt.Errorf("schedule: rotation %s: %w", r.Name, err)
		}
		if ok {
			out = append(out, OnCallShift{Rotation: r.Name, Shift: shift})
		}
	}
	return out, nil
}

// asFault turns a FieldError into the API's BAD_USER_INPUT naming the field.
func asFault(err error) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		field := fe.Field
		if field == "timeZone" {
			field = "timezone" // the API's spelling
		}
		return fault.Invalid(field, "%v", fe.Err)
	}
	return fault.New(fault.BadUserInput, err.Error())
}
