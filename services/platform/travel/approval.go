package travel

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"meridian.dev/platform/audit"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/outbox"
)

// ApprovalLead is how long before departure an approval is due. The
// deadline (approvalDeadline) is departure − ApprovalLead, moved later to
// leave the approver at least an hour (now + 1 h), but never past
// departure itself: a trip leaving in 30 minutes is due when it leaves, and
// one whose departure has already passed (a request raised mid-trip) gets
// the hour.
var ApprovalLead = 48 * time.Hour

// minimumDecisionTime is the least an approver is ever given.
const minimumDecisionTime = time.Hour

// approvalDeadline is when a decision is due; see ApprovalLead.
func approvalDeadline(departure, now time.Time) time.Time {
	floor := now.Add(minimumDecisionTime)
	if !departure.After(now) {
		return floor
	}
	deadline := departure.Add(-ApprovalLead)
	if deadline.Before(floor) {
		deadline = floor
	}
	if deadline.After(departure) {
		deadline = departure
	}
	return deadline
}

// ErrNotWaiting refuses a decision for a round that is not the trip's
// pending one: decided already (by someone else, or the other way),
// cancelled, or replaced by a newer round.
var ErrNotWaiting = fault.New(fault.Conflict, "the trip is no longer waiting for this decision")

// requestApproval puts a trip (DRAFT, or APPROVED not yet started) into
// PENDING_APPROVAL for a new round at level, inside tx: approval_round+1,
// approval_status PENDING, approval_level, the deadline, a timeline step,
// and the outbox event TopicTripApprovalRequested with ApprovalRequested.
// The caller holds the trip's row lock and writes the audit entry. t must
// carry the trip's current StartsAt (its departure).
func requestApproval(ctx context.Context, tx pgx.Tx, t Trip, level int, actor, cause string, now time.Time) (ApprovalRequested, error) {
	if t.StartsAt == nil {
		return ApprovalRequested{}, fmt.Errorf("travel: request approval for %s: the trip has no segments", t.ID)
	}
	departure := *t.StartsAt
	deadline := approvalDeadline(departure, now)
	var round int
	// The round comes from the row, not from t, so a stale copy can never reuse a round.
	err := tx.QueryRow(ctx, `UPDATE trips SET status = $2, approval_round = approval_round + 1, approval_status = 'PENDING',
		approval_level = $3, approval_deadline = $4, decided_by = NULL, decided_at = NULL, decision_note = NULL, updated_at = $5
		WHERE id = $1 RETURNING approval_round`, t.ID, StatusPendingApproval, level, deadline, now).Scan(&round)
	if err != nil {
		return ApprovalRequested{}, fmt.Errorf("travel: request approval for %s: %w", t.ID, err)
	}
	ev := ApprovalRequested{TripID: t.ID, Round: round, Level: level, Traveller: t.Traveller, Purpose: t.Purpose,
		Departure: departure, Deadline: deadline, WorkflowID: ApprovalWorkflowID(t.ID, round)}
	note := fmt.Sprintf("round %d at risk level %d (%s), decision due by %s", round, level, cause, deadline.UTC().Format(time.RFC3339))
	if err := appendStep(ctx, tx, t.ID, StepApprovalRequested, actor, note, fmt.Sprintf("trip:%s:round:%d:requested", t.ID, round)); err != nil {
		return ApprovalRequested{}, err
	}
	if err := outbox.Enqueue(ctx, tx, outbox.TopicTripApprovalRequested, ev); err != nil {
		return ApprovalRequested{}, err
	}
	return ev, nil
}

// appendStep adds one timeline row inside tx; a non-empty dedupeKey makes
// it land once (ON CONFLICT DO NOTHING), so an activity retried after a
// crash does not write its step twice.
func appendStep(ctx context.Context, tx pgx.Tx, tripID uuid.UUID, kind, actor, note, dedupeKey string) error {
	_, err := tx.Exec(ctx, `INSERT INTO trip_timeline (trip_id, kind, actor, note, dedupe_key)
		VALUES ($1, $2, $3, $4, NULLIF($5, '')) ON CONFLICT (dedupe_key) DO NOTHING`, tripID, kind, actor, note, dedupeKey)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" { // foreign_key_violation: no such trip
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("travel: timeline %s %s: %w", tripID, kind, err)
	}
	return nil
}

// AppendTimeline adds one step for the approval workflow's activities (a
// reminder, an escalation to a global lead, a time-out); the dedupe key
// makes a retried activity write it once.
func (s *Store) AppendTimeline(ctx context.Context, tripID uuid.UUID, kind, actor, note, dedupeKey string) error {
	kind = strings.TrimSpace(kind)
	if kind == "" || len(kind) > maxTimelineLen {
		return fault.Invalid("kind", "must be 1-%d characters", maxTimelineLen)
	}
	for field, text := range map[string]string{"kind": kind, "actor": actor, "note": note, "dedupeKey": dedupeKey} {
		if err := fault.CheckText(field, text); err != nil {
			return err
		}
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return appendStep(ctx, tx, tripID, kind, actor, note, dedupeKey)
	})
}

// RecordDecision records the approver's answer to one round. Only the
// pending round can be decided (else ErrNotWaiting, a CONFLICT); the same
// decision repeated by the same actor (a retried activity, a double click)
// returns the trip and writes nothing.
func (s *Store) RecordDecision(ctx context.Context, tripID uuid.UUID, round int, approve bool, actor, note string) (Trip, error) {
	note, err := checkNote(note)
	if err != nil {
		return Trip{}, err
	}
	status, step := StatusRejected, StepRejected
	if approve {
		status, step = StatusApproved, StepApproved
	}
	var trip Trip
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		before, _, err := loadTrip(ctx, tx, tripID, true)
		if err != nil {
			return err
		}
		a := before.Approval
		if a == nil || a.Round != round {
			return ErrNotWaiting
		}
		if before.Status != StatusPendingApproval || a.Status != "PENDING" {
			if before.Status == status && a.Status == status && a.DecidedBy == actor {
				trip = before
				return nil
			}
			return ErrNotWaiting
		}
		now := s.now()
		if _, err := tx.Exec(ctx, `UPDATE trips SET status = $2, approval_status = $2, decided_by = $3, decided_at = $4,
			decision_note = $5, updated_at = $4 WHERE id = $1`, tripID, status, actor, now, note); err != nil {
			return fmt.Errorf("travel: decide %s: %w", tripID, err)
		}
		if err := appendStep(ctx, tx, tripID, step, actor, note, fmt.Sprintf("trip:%s:round:%d:decided", tripID, round)); err != nil {
			return err
		}
		if trip, _, err = loadTrip(ctx, tx, tripID, false); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: "trip.decide", ObjectType: "Trip", ObjectID: tripID.String(),
			Before: before, After: trip})
	})
	if err != nil {
		return Trip{}, err
	}
	return trip, nil
}

// ApprovalState is the trip's current approval round and its status
// (PENDING, APPROVED, REJECTED, CANCELLED, NOT_REQUIRED; "" before the trip
// is submitted): what a workflow asks before it reminds or escalates, so a
// round decided or cancelled meanwhile is left alone.
func (s *Store) ApprovalState(ctx context.Context, tripID uuid.UUID) (status string, round int, err error) {
	var approvalStatus *string
	err = s.pool.QueryRow(ctx, `SELECT approval_status, approval_round FROM trips WHERE id = $1`, tripID).Scan(&approvalStatus, &round)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", 0, ErrNotFound
	}
	if err != nil {
		return "", 0, fmt.Errorf("travel: approval state %s: %w", tripID, err)
	}
	if approvalStatus != nil {
		status = *approvalStatus
	}
	return status, round, nil
}
