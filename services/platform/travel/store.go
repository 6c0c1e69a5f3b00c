package travel

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"meridian.dev/platform/audit"
	"meridian.dev/platform/country"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/outbox"
	"meridian.dev/platform/postgres"
)

// ErrNotFound is an unknown trip.
var ErrNotFound = fault.New(fault.NotFound, "trip not found")

// Timeline kinds written by the store. The approval workflow adds its own
// (reminders, escalation to a global lead, time-outs) through AppendTimeline.
const (
	StepCreated           = "CREATED"
	StepSegmentAdded      = "SEGMENT_ADDED"
	StepSubmitted         = "SUBMITTED"
	StepApprovalRequested = "APPROVAL_REQUESTED"
	StepAutoApproved      = "AUTO_APPROVED"
	StepApproved          = "APPROVED"
	StepRejected          = "REJECTED"
	StepCancelled         = "CANCELLED"
	StepSuperseded        = "APPROVAL_SUPERSEDED"
)

// Store keeps trips in Postgres.
type Store struct {
	pool *pgxpool.Pool
	// now is the clock; tests move it to exercise deadlines.
	now func() time.Time
}

// NewStore returns a store on pool.
func NewStore(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
}

// NewTrip is the input of Create.
type NewTrip struct {
	Traveller string
	Purpose   string
	Segments  []SegmentInput
	// ClientMutationID, when set, makes a retried create return the trip
	// the first attempt created instead of creating another.
	ClientMutationID string
}

// createReceipt is what a clientMutationId remembers of a create.
type createReceipt struct {
	TripID uuid.UUID `json:"tripId"`
}

// The operations a receipt remembers: the same clientMutationId sent with
// another operation is refused rather than answered with the wrong trip.
const (
	createOperation     = "createTrip"
	importOperation     = "importItinerary"
	addSegmentOperation = "addTripSegment"
)

// replayCreate returns the trip an earlier create (or segment added) with
// the same clientMutationId made, as it is now, if there was one.
func (s *Store) replayCreate(ctx context.Context, actor, clientMutationID, operation string) (Trip, []Segment, bool, error) {
	var r createReceipt
	err := s.pool.QueryRow(ctx, `SELECT result FROM mutation_receipts WHERE subject = $1 AND client_mutation_id = $2
		AND operation = $3`, actor, clientMutationID, operation).Scan(&r)
	if errors.Is(err, pgx.ErrNoRows) {
		return Trip{}, nil, false, nil
	}
	if err != nil {
		return Trip{}, nil, false, fmt.Errorf("travel: read receipt: %w", err)
	}
	t, segs, err := loadTrip(ctx, s.pool, r.TripID, false)
	return t, segs, err == nil, err
}

// Filter narrows List. Zero values do not filter, except Regions: a non-nil
// Regions (a regional manager's) shows only trips with a segment in one of
// those regions' countries, and nothing when it is empty.
type Filter struct {
	Traveller string
	Status    string
	Country   string     // a segment in this country (ISO code)
	At        *time.Time // a segment covering this instant
	MinLevel  int
	Regions   []string
}

const tripColumns = `id, traveller, purpose, status, starts_at, ends_at, risk_level, risk_reasons, assessed_at,
	approval_round, approval_status, approval_level, approval_deadline, decided_by, decided_at, decision_note,
	created_by, created_at, updated_at`

func scanTrip(row pgx.Row) (Trip, error) {
	var t Trip
	var round int
	var approvalStatus, decidedBy, note *string
	var approvalLevel *int
	var deadline, decidedAt *time.Time
	err := row.Scan(&t.ID, &t.Traveller, &t.Purpose, &t.Status, &t.StartsAt, &t.EndsAt, &t.Risk.Level, &t.Risk.Reasons,
		&t.AssessedAt, &round, &approvalStatus, &approvalLevel, &deadline, &decidedBy, &decidedAt, &note,
		&t.CreatedBy, &t.CreatedAt, &t.UpdatedAt)
	if err != nil {
		return Trip{}, err
	}
	if t.Risk.Reasons == nil {
		t.Risk.Reasons = []Reason{}
	}
	if approvalStatus != nil {
		t.Approval = &Approval{Round: round, Status: *approvalStatus, Deadline: deadline, DecidedAt: decidedAt}
		if approvalLevel != nil {
			t.Approval.Level = *approvalLevel
		}
		if decidedBy != nil {
			t.Approval.DecidedBy = *decidedBy
		}
		if note != nil {
			t.Approval.Note = *note
		}
	}
	return t, nil
}

const segmentColumns = `id, trip_id, position, kind, starts_at, ends_at, timezone, city, country_code, latitude, longitude,
	from_place, to_place, risk_level, risk_reasons`

func scanSegment(row pgx.Row) (Segment, error) {
	var s Segment
	var from, to []byte
	err := row.Scan(&s.ID, &s.TripID, &s.Position, &s.Kind, &s.StartsAt, &s.EndsAt, &s.Timezone, &s.Place.City,
		&s.Place.CountryCode, &s.Place.Latitude, &s.Place.Longitude, &from, &to, &s.Risk.Level, &s.Risk.Reasons)
	if err != nil {
		return Segment{}, err
	}
	if err := decodePlaces(&s, from, to); err != nil {
		return Segment{}, err
	}
	return s, nil
}

// decodePlaces fills a scanned segment's from and to (jsonb, NULL when
// absent) and gives it an empty rather than null list of reasons.
func decodePlaces(s *Segment, from, to []byte) error {
	if s.Risk.Reasons == nil {
		s.Risk.Reasons = []Reason{}
	}
	for _, end := range []struct {
		raw   []byte
		place **Place
	}{{from, &s.From}, {to, &s.To}} {
		if len(end.raw) == 0 {
			continue
		}
		var p Place
		if err := json.Unmarshal(end.raw, &p); err != nil {
			return fmt.Errorf("travel: segment %s place: %w", s.ID, err)
		}
		*end.place = &p
	}
	return nil
}

// loadTrip reads a trip with its segments inside q (FOR UPDATE when lock).
func loadTrip(ctx context.Context, q querier, id uuid.UUID, lock bool) (Trip, []Segment, error) {
	query := `SELECT ` + tripColumns + ` FROM trips WHERE id = $1`
	if lock {
		query += ` FOR UPDATE`
	}
	t, err := scanTrip(q.QueryRow(ctx, query, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Trip{}, nil, ErrNotFound
	}
	if err != nil {
		return Trip{}, nil, fmt.Errorf("travel: load trip %s: %w", id, err)
	}
	rows, err := q.Query(ctx, `SELECT `+segmentColumns+` FROM trip_segments WHERE trip_id = $1 ORDER BY position`, id)
	if err != nil {
		return Trip{}, nil, fmt.Errorf("travel: load segments of %s: %w", id, err)
	}
	segs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Segment, error) { return scanSegment(r) })
	if err != nil {
		return Trip{}, nil, fmt.Errorf("travel: load segments of %s: %w", id, err)
	}
	return t, segs, nil
}

// Get returns one trip.
func (s *Store) Get(ctx context.Context, id uuid.UUID) (Trip, error) {
	t, err := scanTrip(s.pool.QueryRow(ctx, `SELECT `+tripColumns+` FROM trips WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Trip{}, ErrNotFound
	}
	if err != nil {
		return Trip{}, fmt.Errorf("travel: get %s: %w", id, err)
	}
	return t, nil
}

// GetMany returns the trips with the given ids, keyed by id; unknown ids
// are absent. It backs the per-request trip loader.
func (s *Store) GetMany(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]Trip, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tripColumns+` FROM trips WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("travel: get many: %w", err)
	}
	trips, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Trip, error) { return scanTrip(r) })
	if err != nil {
		return nil, fmt.Errorf("travel: get many: %w", err)
	}
	out := make(map[uuid.UUID]Trip, len(trips))
	for _, t := range trips {
		out[t.ID] = t
	}
	return out, nil
}

// Segments returns the segments of each trip, in order, keyed by trip; it
// backs the per-request loader that avoids one query per trip.
func (s *Store) Segments(ctx context.Context, tripIDs []uuid.UUID) (map[uuid.UUID][]Segment, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+segmentColumns+` FROM trip_segments WHERE trip_id = ANY($1)
		ORDER BY trip_id, position`, tripIDs)
	if err != nil {
		return nil, fmt.Errorf("travel: segments: %w", err)
	}
	segs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Segment, error) { return scanSegment(r) })
	if err != nil {
		return nil, fmt.Errorf("travel: segments: %w", err)
	}
	out := make(map[uuid.UUID][]Segment, len(tripIDs))
	for _, seg := range segs {
		out[seg.TripID] = append(out[seg.TripID], seg)
	}
	return out, nil
}

// Timeline returns a trip's steps, oldest first.
func (s *Store) Timeline(ctx context.Context, id uuid.UUID) ([]Step, error) {
	rows, err := s.pool.Query(ctx, `SELECT at, kind, actor, note FROM trip_timeline WHERE trip_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("travel: timeline %s: %w", id, err)
	}
	steps, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Step])
	if err != nil {
		return nil, fmt.Errorf("travel: timeline %s: %w", id, err)
	}
	return steps, nil
}

// newSegments gives validated inputs their ids and positions, in order.
func newSegments(tripID uuid.UUID, inputs []SegmentInput) ([]Segment, error) {
	segs := make([]Segment, len(inputs))
	for i, in := range inputs {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, fmt.Errorf("travel: new segment id: %w", err)
		}
		segs[i] = Segment{ID: id, TripID: tripID, Position: i, Kind: in.Kind, StartsAt: in.StartsAt.UTC(), EndsAt: in.EndsAt.UTC(),
			Timezone: in.Timezone, Place: in.Place, From: in.From, To: in.To, Risk: Risk{Level: 1, Reasons: []Reason{}}}
	}
	return segs, nil
}

// applyRisk copies assess's per-segment answer onto the segments.
func applyRisk(segs []Segment, perSegment []Risk) error {
	if len(perSegment) != len(segs) {
		return fmt.Errorf("travel: assess scored %d segments of %d", len(perSegment), len(segs))
	}
	for i := range segs {
		segs[i].Risk = normalizeRisk(perSegment[i])
	}
	return nil
}

func normalizeRisk(r Risk) Risk {
	if r.Level < 1 {
		r.Level = 1
	}
	if r.Reasons == nil {
		r.Reasons = []Reason{}
	}
	return r
}

// span is the first start and the last end of the segments.
func span(segs []Segment) (starts, ends *time.Time) {
	for i := range segs {
		if starts == nil || segs[i].StartsAt.Before(*starts) {
			starts = &segs[i].StartsAt
		}
		if ends == nil || segs[i].EndsAt.After(*ends) {
			ends = &segs[i].EndsAt
		}
	}
	return starts, ends
}

func insertSegment(b *pgx.Batch, seg Segment) {
	b.Queue(`INSERT INTO trip_segments (id, trip_id, position, kind, starts_at, ends_at, timezone, city, country_code,
		latitude, longitude, from_place, to_place, risk_level, risk_reasons)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		seg.ID, seg.TripID, seg.Position, seg.Kind, seg.StartsAt, seg.EndsAt, seg.Timezone, seg.Place.City,
		seg.Place.CountryCode, seg.Place.Latitude, seg.Place.Longitude, seg.From, seg.To, seg.Risk.Level, seg.Risk.Reasons)
}

// storeRisk writes a fresh assessment onto the trip and each of its segments.
func storeRisk(ctx context.Context, tx pgx.Tx, tripID uuid.UUID, segs []Segment, risk Risk, now time.Time) error {
	starts, ends := span(segs)
	b := &pgx.Batch{}
	b.Queue(`UPDATE trips SET risk_level = $2, risk_reasons = $3, assessed_at = $4, starts_at = $5, ends_at = $6, updated_at = $4
		WHERE id = $1`, tripID, risk.Level, risk.Reasons, now, starts, ends)
	for _, seg := range segs {
		b.Queue(`UPDATE trip_segments SET risk_level = $2, risk_reasons = $3 WHERE id = $1`, seg.ID, seg.Risk.Level, seg.Risk.Reasons)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("travel: store risk of %s: %w", tripID, err)
	}
	return nil
}

// assessAll scores the segments and copies the answer onto them.
func assessAll(ctx context.Context, q querier, segs []Segment, now time.Time) (Risk, error) {
	risk, perSegment, err := assess(ctx, q, segs, now)
	if err != nil {
		return Risk{}, fmt.Errorf("travel: assess: %w", err)
	}
	if err := applyRisk(segs, perSegment); err != nil {
		return Risk{}, err
	}
	return normalizeRisk(risk), nil
}

// Create validates and stores a DRAFT trip with its first assessment.
// Nothing is written when any field is wrong.
func (s *Store) Create(ctx context.Context, actor string, in NewTrip) (Trip, []Segment, error) {
	return s.create(ctx, actor, in, createOperation)
}

func (s *Store) create(ctx context.Context, actor string, in NewTrip, operation string) (Trip, []Segment, error) {
	purpose, err := checkPurpose(in.Purpose)
	if err != nil {
		return Trip{}, nil, err
	}
	inputs, err := normalizeSegments(in.Segments)
	if err != nil {
		return Trip{}, nil, err
	}
	if err := fault.CheckText("clientMutationId", in.ClientMutationID); err != nil {
		return Trip{}, nil, err
	}
	if in.ClientMutationID != "" {
		if t, segs, ok, err := s.replayCreate(ctx, actor, in.ClientMutationID, operation); ok || err != nil {
			return t, segs, err
		}
	}
	var trip Trip
	var segs []Segment
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := checkTraveller(ctx, tx, in.Traveller); err != nil {
			return err
		}
		now := s.now()
		id, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("travel: new trip id: %w", err)
		}
		fresh, err := newSegments(id, inputs)
		if err != nil {
			return err
		}
		risk, err := assessAll(ctx, tx, fresh, now)
		if err != nil {
			return err
		}
		starts, ends := span(fresh)
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO trips (id, traveller, purpose, status, starts_at, ends_at, risk_level, risk_reasons, assessed_at,
			created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $9, $9)`,
			id, in.Traveller, purpose, StatusDraft, starts, ends, risk.Level, risk.Reasons, now, actor)
		for _, seg := range fresh {
			insertSegment(b, seg)
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("travel: insert trip: %w", err)
		}
		note := fmt.Sprintf("%d segment(s), risk level %d", len(fresh), risk.Level)
		if err := appendStep(ctx, tx, id, StepCreated, actor, note, ""); err != nil {
			return err
		}
		if in.ClientMutationID != "" {
			if _, err := tx.Exec(ctx, `INSERT INTO mutation_receipts (subject, client_mutation_id, operation, result)
				VALUES ($1, $2, $3, $4)`, actor, in.ClientMutationID, operation, createReceipt{TripID: id}); err != nil {
				return fmt.Errorf("travel: receipt: %w", err)
			}
		}
		if trip, segs, err = loadTrip(ctx, tx, id, false); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: "trip.create", ObjectType: "Trip", ObjectID: id.String(),
			After: tripWithSegments{trip, segs}})
	})
	if in.ClientMutationID != "" && postgres.IsUniqueViolation(err, "mutation_receipts_pkey") {
		// A concurrent retry of the same create won the race: answer as it did.
		if t, segs, ok, rerr := s.replayCreate(ctx, actor, in.ClientMutationID, operation); ok || rerr != nil {
			return t, segs, rerr
		}
		return Trip{}, nil, fault.Invalid("clientMutationId", "was already used for another mutation")
	}
	if err != nil {
		return Trip{}, nil, err
	}
	return trip, segs, nil
}

// tripWithSegments is what the audit log keeps of a trip.
type tripWithSegments struct {
	Trip     Trip      `json:"trip"`
	Segments []Segment `json:"segments"`
}

// approvalTier groups levels by who must approve: nobody, the travel team,
// a global lead. A trip needs a new approval when its tier rises.
func approvalTier(level int) int {
	switch {
	case level >= GlobalLeadLevel:
		return 2
	case level >= ApprovalLevel:
		return 1
	}
	return 0
}

// AddSegment adds one segment to a trip that is not cancelled or rejected
// and re-scores the trip. A PENDING or APPROVED trip whose new risk needs an
// approval it does not have (level 3 first reached, or 4 after an approval
// at 3) goes back for approval in a new round; a pending round it replaces
// is told to stop.
func (s *Store) AddSegment(ctx context.Context, actor string, tripID uuid.UUID, in SegmentInput) (Trip, []Segment, error) {
	return s.AddSegmentOnce(ctx, actor, tripID, in, "")
}

// AddSegmentOnce is AddSegment with a clientMutationId: a retry of the same
// request answers with the trip as it is and adds nothing a second time.
func (s *Store) AddSegmentOnce(ctx context.Context, actor string, tripID uuid.UUID, in SegmentInput, clientMutationID string) (Trip, []Segment, error) {
	if err := fault.CheckText("clientMutationId", clientMutationID); err != nil {
		return Trip{}, nil, err
	}
	if clientMutationID != "" {
		if t, segs, ok, err := s.replayCreate(ctx, actor, clientMutationID, addSegmentOperation); ok || err != nil {
			return t, segs, err
		}
	}
	in, err := normalizeSegment(in, "segment")
	if err != nil {
		return Trip{}, nil, err
	}
	var trip Trip
	var segs []Segment
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		before, existing, err := loadTrip(ctx, tx, tripID, true)
		if err != nil {
			return err
		}
		if before.Status == StatusCancelled || before.Status == StatusRejected {
			return fault.New(fault.Conflict, "a "+strings.ToLower(before.Status)+" trip takes no new segments")
		}
		if len(existing) >= MaxSegments {
			return fault.Invalid("segment", "the trip already has %d segments, the most a trip may have", MaxSegments)
		}
		now := s.now()
		fresh, err := newSegments(tripID, []SegmentInput{in})
		if err != nil {
			return err
		}
		added := fresh[0]
		// After every segment starting at or before it, so equal starts keep the order they were added in.
		added.Position = len(existing)
		for _, seg := range existing {
			if seg.StartsAt.After(added.StartsAt) {
				added.Position = min(added.Position, seg.Position)
			}
		}
		all := slices.Clone(existing)
		for i := range all {
			if all[i].Position >= added.Position {
				all[i].Position++
			}
		}
		all = slices.Insert(all, added.Position, added)
		risk, err := assessAll(ctx, tx, all, now)
		if err != nil {
			return err
		}
		added = all[added.Position]

		// Positions are unique per trip and the constraint is checked row by
		// row, so the segments after the new one move through negative
		// positions rather than over each other.
		b := &pgx.Batch{}
		b.Queue(`UPDATE trip_segments SET position = -position - 1 WHERE trip_id = $1 AND position >= $2`, tripID, added.Position)
		b.Queue(`UPDATE trip_segments SET position = -position WHERE trip_id = $1 AND position < 0`, tripID)
		insertSegment(b, added)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("travel: add segment to %s: %w", tripID, err)
		}
		if err := storeRisk(ctx, tx, tripID, all, risk, now); err != nil {
			return err
		}
		note := fmt.Sprintf("%s in %s from %s, risk level %d", added.Kind, placeName(added.Place),
			added.StartsAt.Format(time.RFC3339), added.Risk.Level)
		if risk.Level != before.Risk.Level {
			note += fmt.Sprintf("; trip risk %d → %d", before.Risk.Level, risk.Level)
		}
		if err := appendStep(ctx, tx, tripID, StepSegmentAdded, actor, note, ""); err != nil {
			return err
		}
		if err := enqueueRiskChange(ctx, tx, before, all, risk, "segment added", now); err != nil {
			return err
		}
		if (before.Status == StatusPendingApproval || before.Status == StatusApproved) && risk.Level >= ApprovalLevel &&
			(before.Approval == nil || approvalTier(risk.Level) > approvalTier(before.Approval.Level)) {
			if before.Status == StatusPendingApproval && before.Approval != nil {
				if err := supersedeRound(ctx, tx, before, actor, risk.Level); err != nil {
					return err
				}
			}
			starts, ends := span(all)
			current := before
			current.StartsAt, current.EndsAt, current.Risk = starts, ends, risk
			if _, err := requestApproval(ctx, tx, current, risk.Level, actor, "segment added", now); err != nil {
				return err
			}
		}
		if trip, segs, err = loadTrip(ctx, tx, tripID, false); err != nil {
			return err
		}
		if clientMutationID != "" {
			if _, err := tx.Exec(ctx, `INSERT INTO mutation_receipts (subject, client_mutation_id, operation, result)
				VALUES ($1, $2, $3, $4)`, actor, clientMutationID, addSegmentOperation, createReceipt{TripID: tripID}); err != nil {
				return fmt.Errorf("travel: receipt: %w", err)
			}
		}
		return audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: "trip.add_segment", ObjectType: "Trip",
			ObjectID: tripID.String(), Before: before, After: tripWithSegments{trip, segs}})
	})
	if clientMutationID != "" && postgres.IsUniqueViolation(err, "mutation_receipts_pkey") {
		// A concurrent retry won the race: answer as it did.
		if t, segs, ok, rerr := s.replayCreate(ctx, actor, clientMutationID, addSegmentOperation); ok || rerr != nil {
			return t, segs, rerr
		}
		return Trip{}, nil, fault.Invalid("clientMutationId", "was already used for another mutation")
	}
	if err != nil {
		return Trip{}, nil, err
	}
	return trip, segs, nil
}

// supersedeRound tells the workflow of a pending round that its question
// is void: the risk rose past what it was asking about, and a new round asks
// the right people. A decision it still sends fails on the round.
func supersedeRound(ctx context.Context, tx pgx.Tx, t Trip, actor string, level int) error {
	round := t.Approval.Round
	note := fmt.Sprintf("round %d at level %d replaced: the trip's risk is now level %d", round, t.Approval.Level, level)
	// The key is the one the round's workflow gives the CANCELLED step it
	// records when told to stop, so the timeline shows the round ending
	// once, as superseded.
	if err := appendStep(ctx, tx, t.ID, StepSuperseded, actor, note, fmt.Sprintf("trip:%s:r%d:cancelled", t.ID, round)); err != nil {
		return err
	}
	return outbox.Enqueue(ctx, tx, outbox.TopicTripCancelled, Cancelled{TripID: t.ID, Round: round, Actor: actor, Note: note,
		WorkflowID: ApprovalWorkflowID(t.ID, round)})
}

// enqueueRiskChange announces a new trip level to tripRiskChanged
// subscribers; an unchanged level says nothing.
func enqueueRiskChange(ctx context.Context, tx pgx.Tx, before Trip, segs []Segment, risk Risk, cause string, now time.Time) error {
	if risk.Level == before.Risk.Level {
		return nil
	}
	riskiest := 0
	for i := range segs {
		if segs[i].Risk.Level > segs[riskiest].Risk.Level {
			riskiest = i
		}
	}
	var region string
	if len(segs) > 0 {
		if c, ok := country.Get(segs[riskiest].Place.CountryCode); ok {
			region = c.Region
		}
	}
	return outbox.Enqueue(ctx, tx, outbox.TopicTripRiskChanged, RiskChanged{TripID: before.ID, Traveller: before.Traveller,
		Region: region, PreviousLevel: before.Risk.Level, Level: risk.Level, Reasons: risk.Reasons, Cause: cause, At: now})
}

func placeName(p Place) string {
	if p.City == "" {
		return p.CountryCode
	}
	return p.City + ", " + p.CountryCode
}

// Cancel calls a trip off. A pending approval is cancelled with it and its
// workflow told to stop; cancelling twice is a CONFLICT.
func (s *Store) Cancel(ctx context.Context, actor string, tripID uuid.UUID, note string) (Trip, error) {
	note, err := checkNote(note)
	if err != nil {
		return Trip{}, err
	}
	var trip Trip
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		before, _, err := loadTrip(ctx, tx, tripID, true)
		if err != nil {
			return err
		}
		switch before.Status {
		case StatusCancelled:
			return fault.New(fault.Conflict, "the trip is already cancelled")
		case StatusRejected:
			return fault.New(fault.Conflict, "a rejected trip cannot be cancelled")
		}
		now := s.now()
		if _, err := tx.Exec(ctx, `UPDATE trips SET status = $2, updated_at = $3,
			approval_status = CASE WHEN approval_status = 'PENDING' THEN 'CANCELLED' ELSE approval_status END
			WHERE id = $1`, tripID, StatusCancelled, now); err != nil {
			return fmt.Errorf("travel: cancel %s: %w", tripID, err)
		}
		// With a round pending, the step takes the key the approval
		// workflow's own CANCELLED step uses, so the timeline shows one.
		dedupe := ""
		if before.Approval != nil && before.Approval.Status == "PENDING" {
			dedupe = fmt.Sprintf("trip:%s:r%d:cancelled", tripID, before.Approval.Round)
		}
		if err := appendStep(ctx, tx, tripID, StepCancelled, actor, note, dedupe); err != nil {
			return err
		}
		if before.Approval != nil && before.Approval.Status == "PENDING" {
			round := before.Approval.Round
			if err := outbox.Enqueue(ctx, tx, outbox.TopicTripCancelled, Cancelled{TripID: tripID, Round: round, Actor: actor,
				Note: note, WorkflowID: ApprovalWorkflowID(tripID, round)}); err != nil {
				return err
			}
		}
		if trip, _, err = loadTrip(ctx, tx, tripID, false); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: "trip.cancel", ObjectType: "Trip", ObjectID: tripID.String(),
			Before: before, After: trip})
	})
	if err != nil {
		return Trip{}, err
	}
	return trip, nil
}

// Submit sends a DRAFT for approval after scoring it again: from
// ApprovalLevel it waits for a decision (PENDING_APPROVAL), below it is
// APPROVED at once with approval status NOT_REQUIRED.
func (s *Store) Submit(ctx context.Context, actor string, tripID uuid.UUID) (Trip, error) {
	var trip Trip
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		before, segs, err := loadTrip(ctx, tx, tripID, true)
		if err != nil {
			return err
		}
		if before.Status != StatusDraft {
			return fault.New(fault.Conflict, "only a draft can be submitted; this trip is "+before.Status)
		}
		if len(segs) == 0 {
			return fault.New(fault.Conflict, "a trip needs at least one segment before it is submitted")
		}
		now := s.now()
		risk, err := assessAll(ctx, tx, segs, now)
		if err != nil {
			return err
		}
		if err := storeRisk(ctx, tx, tripID, segs, risk, now); err != nil {
			return err
		}
		if err := enqueueRiskChange(ctx, tx, before, segs, risk, "submitted", now); err != nil {
			return err
		}
		if err := appendStep(ctx, tx, tripID, StepSubmitted, actor, fmt.Sprintf("risk level %d", risk.Level), ""); err != nil {
			return err
		}
		if risk.Level >= ApprovalLevel {
			current := before
			current.StartsAt, current.EndsAt = span(segs)
			current.Risk = risk
			if _, err := requestApproval(ctx, tx, current, risk.Level, actor, "submitted", now); err != nil {
				return err
			}
		} else {
			if _, err := tx.Exec(ctx, `UPDATE trips SET status = $2, approval_status = 'NOT_REQUIRED', approval_level = $3,
				approval_deadline = NULL, updated_at = $4 WHERE id = $1`, tripID, StatusApproved, risk.Level, now); err != nil {
				return fmt.Errorf("travel: approve %s: %w", tripID, err)
			}
			note := fmt.Sprintf("risk level %d is below the approval level %d", risk.Level, ApprovalLevel)
			if err := appendStep(ctx, tx, tripID, StepAutoApproved, actor, note, ""); err != nil {
				return err
			}
		}
		if trip, _, err = loadTrip(ctx, tx, tripID, false); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: "trip.submit", ObjectType: "Trip", ObjectID: tripID.String(),
			Before: before, After: trip})
	})
	if err != nil {
		return Trip{}, err
	}
	return trip, nil
}

// regionCountries lists the country codes of the regions, for SQL.
func regionCountries(regions []string) []string {
	codes := []string{}
	for _, c := range country.All() {
		if slices.Contains(regions, c.Region) {
			codes = append(codes, c.Code)
		}
	}
	return codes
}

const tripCursorKind = "trip"

func encodeTripCursor(t Trip) string {
	var starts string
	if t.StartsAt != nil {
		starts = t.StartsAt.UTC().Format(time.RFC3339Nano)
	}
	return base64.RawURLEncoding.EncodeToString([]byte(tripCursorKind + ":" + starts + "|" + t.ID.String()))
}

func decodeTripCursor(cursor string) (time.Time, uuid.UUID, error) {
	bad := fault.Invalid("after", "is not a cursor from this list")
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return time.Time{}, uuid.Nil, bad
	}
	rest, ok := strings.CutPrefix(string(raw), tripCursorKind+":")
	if !ok {
		return time.Time{}, uuid.Nil, bad
	}
	startsText, idText, ok := strings.Cut(rest, "|")
	if !ok {
		return time.Time{}, uuid.Nil, bad
	}
	starts, err := time.Parse(time.RFC3339Nano, startsText)
	if err != nil {
		return time.Time{}, uuid.Nil, bad
	}
	id, err := uuid.Parse(idText)
	if err != nil {
		return time.Time{}, uuid.Nil, bad
	}
	return starts, id, nil
}

// Cursor is the cursor of a trip in List, for connection edges.
func Cursor(t Trip) string { return encodeTripCursor(t) }

var tripStatuses = []string{StatusDraft, StatusPendingApproval, StatusApproved, StatusRejected, StatusCancelled}

// List returns up to first trips matching f, ordered by departure then id,
// after the cursor, and whether more follow.
func (s *Store) List(ctx context.Context, f Filter, first int, after string) ([]Trip, bool, error) {
	if first < 0 {
		return nil, false, fault.Invalid("first", "must not be negative")
	}
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Traveller != "" {
		where = append(where, "t.traveller = "+arg(f.Traveller))
	}
	if f.Status != "" {
		if !slices.Contains(tripStatuses, f.Status) {
			return nil, false, fault.Invalid("status", "must be one of %s", strings.Join(tripStatuses, ", "))
		}
		where = append(where, "t.status = "+arg(f.Status))
	}
	if f.MinLevel != 0 {
		if f.MinLevel < 1 || f.MinLevel > 4 {
			return nil, false, fault.Invalid("minLevel", "must be between 1 and 4")
		}
		where = append(where, "t.risk_level >= "+arg(f.MinLevel))
	}
	var segmentConds []string
	if f.Country != "" {
		code := strings.ToUpper(strings.TrimSpace(f.Country))
		if _, ok := country.Get(code); !ok {
			return nil, false, fault.Invalid("country", "unknown country %q", f.Country)
		}
		segmentConds = append(segmentConds, "s.country_code = "+arg(code))
	}
	if f.At != nil {
		at := arg(*f.At)
		segmentConds = append(segmentConds, "s.starts_at <= "+at+" AND s.ends_at >= "+at)
	}
	if len(segmentConds) > 0 {
		// One segment must meet them all: "in Kenya on the 3rd", not "in Kenya once and away on the 3rd".
		where = append(where, "EXISTS (SELECT 1 FROM trip_segments s WHERE s.trip_id = t.id AND "+strings.Join(segmentConds, " AND ")+")")
	}
	if f.Regions != nil {
		where = append(where, "EXISTS (SELECT 1 FROM trip_segments s WHERE s.trip_id = t.id AND s.country_code = ANY("+
			arg(regionCountries(f.Regions))+"))")
	}
	if after != "" {
		starts, id, err := decodeTripCursor(after)
		if err != nil {
			return nil, false, err
		}
		where = append(where, "(t.starts_at, t.id) > ("+arg(starts)+", "+arg(id)+")")
	}
	query := `SELECT ` + prefixed("t.", tripColumns) + ` FROM trips t`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY t.starts_at, t.id LIMIT " + arg(first+1)
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, false, fmt.Errorf("travel: list: %w", err)
	}
	trips, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Trip, error) { return scanTrip(r) })
	if err != nil {
		return nil, false, fmt.Errorf("travel: list: %w", err)
	}
	if len(trips) > first {
		return trips[:first], true, nil
	}
	return trips, false, nil
}

// prefixed qualifies each column of a column list with a table alias.
func prefixed(alias, columns string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = alias + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}
