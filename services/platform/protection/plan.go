package protection

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"meridian.dev/platform/audit"
	"meridian.dev/platform/auth"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/policy"
)

// The plan's audit rows and timeline notes name what changed, never the
// places, times, route notes or texts: auditors, admins and the managers
// of the region read them and are not cleared.

// planAudit is what the audit log keeps of a movement, a safe haven or an
// advance note.
type planAudit struct {
	ID       uuid.UUID `json:"id"`
	DetailID uuid.UUID `json:"detailId"`
	Seq      int       `json:"seq,omitempty"`
	Status   string    `json:"status,omitempty"`
	Kind     string    `json:"kind,omitempty"`
	Name     string    `json:"name,omitempty"`
	Changed  []string  `json:"changed"`
}

func queuePlanAudit(ctx context.Context, b *pgx.Batch, actor, action, objectType string, after planAudit) error {
	return audit.Queue(ctx, b, audit.Entry{Actor: actor, Action: action, ObjectType: objectType, ObjectID: after.ID.String(),
		After: after})
}

// onPlan runs a change to a detail's plan: as writeDetail, refusing an
// ended detail to those Allow lets edit it.
func (s *Store) onPlan(ctx context.Context, actor auth.Identity, detailID uuid.UUID, action policy.Action, write detailWrite) error {
	return s.writeDetail(ctx, actor, detailID, action, func(tx pgx.Tx, d Detail, b *pgx.Batch) error {
		if d.Status == StatusEnded {
			return errEnded
		}
		return write(tx, d, b)
	}, nil)
}

const movementColumns = `id, detail_id, seq, from_city, from_country, from_lat, from_lon, to_city, to_country, to_lat, to_lon,
	planned_departure, planned_arrival, actual_departure, actual_arrival, departure_zone, arrival_zone, vehicle, route_notes, status`

func scanMovement(row pgx.Row) (Movement, error) {
	var m Movement
	err := row.Scan(&m.ID, &m.DetailID, &m.Seq, &m.From.City, &m.From.CountryCode, &m.From.Latitude, &m.From.Longitude,
		&m.To.City, &m.To.CountryCode, &m.To.Latitude, &m.To.Longitude, &m.PlannedDeparture, &m.PlannedArrival,
		&m.ActualDeparture, &m.ActualArrival, &m.DepartureZone, &m.ArrivalZone, &m.Vehicle, &m.RouteNotes, &m.Status)
	return m, err
}

// AddMovement appends a leg to the plan (EditDetail).
func (s *Store) AddMovement(ctx context.Context, actor auth.Identity, n NewMovement) (Movement, error) {
	n, err := normalizeNewMovement(n)
	if err != nil {
		return Movement{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Movement{}, fmt.Errorf("protection: new movement id: %w", err)
	}
	m := Movement{ID: id, DetailID: n.DetailID, From: n.From, To: n.To, PlannedDeparture: n.PlannedDeparture,
		PlannedArrival: n.PlannedArrival, DepartureZone: n.DepartureZone, ArrivalZone: n.ArrivalZone, Vehicle: n.Vehicle,
		RouteNotes: n.RouteNotes, Status: MovementStatuses[0]}
	err = s.onPlan(ctx, actor, n.DetailID, EditDetail, func(tx pgx.Tx, d Detail, b *pgx.Batch) error {
		// The detail is locked, so no other leg takes the same number.
		var count int
		if err := tx.QueryRow(ctx, `SELECT count(*), coalesce(max(seq), 0) + 1 FROM movements WHERE detail_id = $1`,
			d.ID).Scan(&count, &m.Seq); err != nil {
			return fmt.Errorf("protection: number movement: %w", err)
		}
		if count >= MaxMovements {
			return fault.Invalid("detailId", "the plan already has %d movements, the most a detail may have", MaxMovements)
		}
		now := s.clock()
		b.Queue(`INSERT INTO movements (id, detail_id, seq, from_city, from_country, from_lat, from_lon, to_city, to_country,
			to_lat, to_lon, planned_departure, planned_arrival, departure_zone, arrival_zone, vehicle, route_notes, status,
			created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $19)`,
			m.ID, m.DetailID, m.Seq, m.From.City, m.From.CountryCode, m.From.Latitude, m.From.Longitude, m.To.City,
			m.To.CountryCode, m.To.Latitude, m.To.Longitude, m.PlannedDeparture, m.PlannedArrival, m.DepartureZone,
			m.ArrivalZone, m.Vehicle, m.RouteNotes, m.Status, now)
		s.appendStep(ctx, b, d.ID, Step{At: now, Kind: StepMovementAdded, Actor: actor.Subject,
			Note: fmt.Sprintf("leg %d added", m.Seq)}, "")
		if err := queueDetailChanged(ctx, b, d.ID, EventMovement, now); err != nil {
			return err
		}
		return queuePlanAudit(ctx, b, actor.Subject, "movement.add", "Movement", planAudit{ID: m.ID, DetailID: d.ID, Seq: m.Seq,
			Status: m.Status, Changed: []string{"from", "to", "plannedDeparture", "plannedArrival", "departureTimezone",
				"arrivalTimezone", "vehicle", "routeNotes"}})
	})
	if err != nil {
		return Movement{}, err
	}
	return m, nil
}

// UpdateMovement changes a leg (EditDetail). A change that changes nothing
// writes nothing.
func (s *Store) UpdateMovement(ctx context.Context, actor auth.Identity, c MovementChange) (Movement, error) {
	detailID, err := s.MovementDetail(ctx, c.MovementID)
	if err != nil {
		return Movement{}, err
	}
	var m Movement
	err = s.onPlan(ctx, actor, detailID, EditDetail, func(tx pgx.Tx, d Detail, b *pgx.Batch) error {
		before, err := scanMovement(tx.QueryRow(ctx, `SELECT `+movementColumns+` FROM movements WHERE id = $1 FOR UPDATE`, c.MovementID))
		if err != nil {
			return fmt.Errorf("protection: load movement %s: %w", c.MovementID, err)
		}
		var changed []string
		if m, changed, err = applyMovementChange(before, c); err != nil || len(changed) == 0 {
			return err
		}
		now := s.clock()
		b.Queue(`UPDATE movements SET status = $2, planned_departure = $3, planned_arrival = $4, actual_departure = $5,
			actual_arrival = $6, vehicle = $7, route_notes = $8, updated_at = $9 WHERE id = $1`,
			m.ID, m.Status, m.PlannedDeparture, m.PlannedArrival, m.ActualDeparture, m.ActualArrival, m.Vehicle, m.RouteNotes, now)
		note := fmt.Sprintf("leg %d updated", m.Seq)
		if m.Status != before.Status {
			note += fmt.Sprintf(": %s → %s", before.Status, m.Status)
		}
		s.appendStep(ctx, b, d.ID, Step{At: now, Kind: StepMovementUpdated, Actor: actor.Subject, Note: note}, "")
		if err := queueDetailChanged(ctx, b, d.ID, EventMovement, now); err != nil {
			return err
		}
		return queuePlanAudit(ctx, b, actor.Subject, "movement.update", "Movement",
			planAudit{ID: m.ID, DetailID: d.ID, Seq: m.Seq, Status: m.Status, Changed: changed})
	})
	if err != nil {
		return Movement{}, err
	}
	return m, nil
}

// Movements reads the legs of each detail, in order.
func (s *Store) Movements(ctx context.Context, detailIDs []uuid.UUID) (map[uuid.UUID][]Movement, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+movementColumns+` FROM movements WHERE detail_id = ANY($1) ORDER BY detail_id, seq`,
		detailIDs)
	if err != nil {
		return nil, fmt.Errorf("protection: movements: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Movement, error) { return scanMovement(r) })
	if err != nil {
		return nil, fmt.Errorf("protection: movements: %w", err)
	}
	out := make(map[uuid.UUID][]Movement, len(detailIDs))
	for _, m := range list {
		out[m.DetailID] = append(out[m.DetailID], m)
	}
	return out, nil
}

const havenColumns = `h.id, h.detail_id, h.kind, h.name, h.city, h.country, h.latitude, h.longitude, h.phone, h.notes, h.created_by`

func scanHaven(row pgx.Row, extra ...any) (SafeHaven, error) {
	var h SafeHaven
	dest := append([]any{&h.ID, &h.DetailID, &h.Kind, &h.Name, &h.Place.City, &h.Place.CountryCode, &h.Place.Latitude,
		&h.Place.Longitude, &h.Phone, &h.Notes, &h.CreatedBy}, extra...)
	return h, row.Scan(dest...)
}

// AddSafeHaven adds a safe haven to the plan (EditDetail).
func (s *Store) AddSafeHaven(ctx context.Context, actor auth.Identity, n NewSafeHaven) (SafeHaven, error) {
	n, err := normalizeNewSafeHaven(n)
	if err != nil {
		return SafeHaven{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return SafeHaven{}, fmt.Errorf("protection: new safe haven id: %w", err)
	}
	h := SafeHaven{ID: id, DetailID: n.DetailID, Kind: n.Kind, Name: n.Name, Place: n.Place, Phone: n.Phone, Notes: n.Notes,
		CreatedBy: actor.Subject}
	err = s.onPlan(ctx, actor, n.DetailID, EditDetail, func(tx pgx.Tx, d Detail, b *pgx.Batch) error {
		var count int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM safe_havens WHERE detail_id = $1`, d.ID).Scan(&count); err != nil {
			return fmt.Errorf("protection: count safe havens: %w", err)
		}
		if count >= MaxSafeHavens {
			return fault.Invalid("detailId", "the plan already has %d safe havens, the most a detail may have", MaxSafeHavens)
		}
		now := s.clock()
		b.Queue(`INSERT INTO safe_havens (id, detail_id, kind, name, city, country, latitude, longitude, phone, notes,
			created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			h.ID, h.DetailID, h.Kind, h.Name, h.Place.City, h.Place.CountryCode, h.Place.Latitude, h.Place.Longitude,
			h.Phone, h.Notes, h.CreatedBy, now)
		s.appendStep(ctx, b, d.ID, Step{At: now, Kind: StepSafeHavenAdded, Actor: actor.Subject,
			Note: fmt.Sprintf("%s %s", h.Kind, h.Name)}, "")
		if err := queueDetailChanged(ctx, b, d.ID, EventSafeHaven, now); err != nil {
			return err
		}
		changed := []string{"place", "phone"}
		if h.Notes != "" {
			changed = append(changed, "notes")
		}
		return queuePlanAudit(ctx, b, actor.Subject, "safe_haven.add", "SafeHaven",
			planAudit{ID: h.ID, DetailID: d.ID, Kind: h.Kind, Name: h.Name, Changed: changed})
	})
	if err != nil {
		return SafeHaven{}, err
	}
	return h, nil
}

// SafeHavens reads the safe havens of each detail, in the order added.
func (s *Store) SafeHavens(ctx context.Context, detailIDs []uuid.UUID) (map[uuid.UUID][]SafeHaven, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+havenColumns+` FROM safe_havens h WHERE h.detail_id = ANY($1)
		ORDER BY h.detail_id, h.created_at, h.id`, detailIDs)
	if err != nil {
		return nil, fmt.Errorf("protection: safe havens: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SafeHaven, error) { return scanHaven(r) })
	if err != nil {
		return nil, fmt.Errorf("protection: safe havens: %w", err)
	}
	out := make(map[uuid.UUID][]SafeHaven, len(detailIDs))
	for _, h := range list {
		out[h.DetailID] = append(out[h.DetailID], h)
	}
	return out, nil
}

// AddAdvanceNote records an advance note (AddAdvanceNote): about a place,
// a movement of the same detail, or both.
func (s *Store) AddAdvanceNote(ctx context.Context, actor auth.Identity, n NewAdvanceNote) (AdvanceNote, error) {
	n, err := normalizeNewAdvanceNote(n, s.clock())
	if err != nil {
		return AdvanceNote{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return AdvanceNote{}, fmt.Errorf("protection: new advance note id: %w", err)
	}
	note := AdvanceNote{ID: id, DetailID: n.DetailID, MovementID: n.MovementID, Place: n.Place, NotedFor: n.NotedFor,
		Note: n.Note, CreatedBy: actor.Subject}
	err = s.onPlan(ctx, actor, n.DetailID, AddAdvanceNote, func(tx pgx.Tx, d Detail, b *pgx.Batch) error {
		if n.MovementID != nil {
			var ours bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM movements WHERE id = $1 AND detail_id = $2)`,
				*n.MovementID, d.ID).Scan(&ours); err != nil {
				return fmt.Errorf("protection: check movement: %w", err)
			}
			if !ours {
				return fault.Invalid("movementId", "is not a movement of this detail")
			}
		}
		note.CreatedAt = s.clock()
		b.Queue(`INSERT INTO advance_notes (id, detail_id, movement_id, place, noted_for, note, created_by, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, note.ID, note.DetailID, note.MovementID, note.Place, note.NotedFor,
			note.Note, note.CreatedBy, note.CreatedAt)
		s.appendStep(ctx, b, d.ID, Step{At: note.CreatedAt, Kind: StepAdvanceNote, Actor: actor.Subject,
			Note: "advance note for " + note.NotedFor.Format(time.DateOnly)}, "")
		if err := queueDetailChanged(ctx, b, d.ID, EventAdvanceNote, note.CreatedAt); err != nil {
			return err
		}
		changed := []string{"note"}
		if note.Place != "" {
			changed = append(changed, "place")
		}
		return queuePlanAudit(ctx, b, actor.Subject, "advance_note.add", "AdvanceNote",
			planAudit{ID: note.ID, DetailID: d.ID, Changed: changed})
	})
	if err != nil {
		return AdvanceNote{}, err
	}
	return note, nil
}

// AdvanceNotes reads each detail's notes, by the date they are about.
func (s *Store) AdvanceNotes(ctx context.Context, detailIDs []uuid.UUID) (map[uuid.UUID][]AdvanceNote, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, detail_id, movement_id, place, noted_for, note, created_by, created_at
		FROM advance_notes WHERE detail_id = ANY($1) ORDER BY detail_id, noted_for, id`, detailIDs)
	if err != nil {
		return nil, fmt.Errorf("protection: advance notes: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[AdvanceNote])
	if err != nil {
		return nil, fmt.Errorf("protection: advance notes: %w", err)
	}
	out := make(map[uuid.UUID][]AdvanceNote, len(detailIDs))
	for _, n := range list {
		out[n.DetailID] = append(out[n.DetailID], n)
	}
	return out, nil
}

// MovementDetail returns the detail a movement belongs to (ErrMovementNotFound
// for an unknown movement): the gateway hides a movement whose detail the
// caller may not see.
func (s *Store) MovementDetail(ctx context.Context, movementID uuid.UUID) (uuid.UUID, error) {
	var detailID uuid.UUID
	err := s.pool.QueryRow(ctx, `SELECT detail_id FROM movements WHERE id = $1`, movementID).Scan(&detailID)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, ErrMovementNotFound
	}
	if err != nil {
		return uuid.Nil, fmt.Errorf("protection: find movement %s: %w", movementID, err)
	}
	return detailID, nil
}
