package protection

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"meridian.dev/platform/audit"
	"meridian.dev/platform/auth"
	"meridian.dev/platform/fault"
)

const (
	maxCheckInNoteLen      = 500
	maxClientMutationIDLen = 128
)

// A check-in for an unknown detail, or by someone without codes, still
// derives once, under these: a refusal then costs what a wrong code costs.
// No derivation yields an all-zero key, so the dummy hash matches nothing.
var (
	dummySalt = make([]byte, saltLength)
	dummyHash = make([]byte, keyLength)
)

// checkInView is what the check-in decides on, read in one query before
// the code is derived: the detail as the caller stands on it, the caller's
// codes and the receipt of an earlier try with the same clientMutationId.
type checkInView struct {
	detail   *Detail // nil: unknown detail; only Status, Leader and Agents are read
	params   *string // nil: the caller has set no codes
	salt     []byte
	codeHash []byte
	duress   []byte
	prior    *Receipt
}

// CheckIn verifies the code and records a check-in. A duress code answers
// exactly as an ordinary one and, silently, has the relay raise a DURESS
// incident. Refusals take the same time whatever the cause: every path
// after the input checks reads once and derives exactly once.
func (s *Store) CheckIn(ctx context.Context, actor auth.Identity, in CheckInInput) (Receipt, error) {
	if actor.Subject == "" {
		return Receipt{}, auth.ErrUnauthenticated
	}
	in, err := normalizeCheckIn(in)
	if err != nil {
		return Receipt{}, err
	}
	v, err := s.readCheckInView(ctx, in.DetailID, actor.Subject, in.ClientMutationID)
	if err != nil {
		return Receipt{}, err
	}
	ordinary, duress, err := v.verify(ctx, in.Code)
	if err != nil {
		return Receipt{}, err
	}
	switch {
	case v.detail == nil:
		return Receipt{}, ErrDetailNotFound
	case !assigned(*v.detail, actor.Subject):
		return Receipt{}, ErrNotOnDetail
	case v.prior != nil && (ordinary || duress):
		// A retry of a check-in already recorded answers as the first
		// did, even if the detail has ended since.
		return *v.prior, nil
	}
	if err := Allow(actor, FieldReport, v.detail, nil); err != nil {
		return Receipt{}, err
	}
	switch {
	case v.params == nil:
		return Receipt{}, ErrNoCodes
	case !ordinary && !duress:
		return Receipt{}, s.refuseCode(ctx, actor.Subject, in.DetailID)
	}
	return s.recordCheckIn(ctx, actor.Subject, in, duress)
}

// normalizeCheckIn checks what the caller sent, before anything is read:
// these refusals depend on the input alone, so they tell nobody anything.
func normalizeCheckIn(in CheckInInput) (CheckInInput, error) {
	if n := utf8.RuneCountInString(in.Code); n < MinCodeLength || n > maxCodeLength {
		return in, fault.Invalid("code", "must be %d-%d characters", MinCodeLength, maxCodeLength)
	}
	if err := fault.CheckText("code", in.Code); err != nil {
		return in, err
	}
	if p := in.Position; p != nil {
		if err := checkCoordinates("", p.Latitude, p.Longitude); err != nil {
			return in, err
		}
	}
	note, err := checkText("note", in.Note, 0, maxCheckInNoteLen)
	if err != nil {
		return in, err
	}
	in.Note = note
	if err := fault.CheckText("clientMutationId", in.ClientMutationID); err != nil {
		return in, err
	}
	if len(in.ClientMutationID) > maxClientMutationIDLen {
		return in, fault.Invalid("clientMutationId", "must be at most %d characters", maxClientMutationIDLen)
	}
	return in, nil
}

// readCheckInView is the check-in's one read before the derivation. The
// outer VALUES row makes it answer one row whether or not the detail, the
// codes or an earlier try exist.
func (s *Store) readCheckInView(ctx context.Context, detailID uuid.UUID, subject, clientMutationID string) (checkInView, error) {
	var v checkInView
	var found bool
	var status, leader *string
	var agents []string
	var priorAt, priorDue *time.Time
	err := s.pool.QueryRow(ctx, `SELECT d.id IS NOT NULL, d.status, d.leader,
			ARRAY(SELECT a.subject FROM detail_agents a WHERE a.detail_id = d.id ORDER BY a.subject),
			c.params, c.salt, c.code_hash, c.duress_hash, r.at, r.next_due
		FROM (VALUES (1)) AS one (x)
		LEFT JOIN details d ON d.id = $1
		LEFT JOIN check_in_codes c ON c.subject = $2
		LEFT JOIN check_ins r ON r.detail_id = $1 AND r.agent = $2 AND r.client_mutation_id = NULLIF($3, '')`,
		detailID, subject, clientMutationID).Scan(&found, &status, &leader, &agents,
		&v.params, &v.salt, &v.codeHash, &v.duress, &priorAt, &priorDue)
	if err != nil {
		return checkInView{}, fmt.Errorf("protection: check-in %s: %w", detailID, err)
	}
	if found && status != nil && leader != nil {
		v.detail = &Detail{ID: detailID, Status: *status, Leader: *leader, Agents: agents}
	}
	if priorAt != nil && priorDue != nil {
		v.prior = &Receipt{At: priorAt.UTC(), NextDue: priorDue.UTC()}
	}
	return v, nil
}

// verify derives the key of code once, under the caller's salt and
// parameters when the detail and the codes exist and under the dummy ones
// otherwise, and compares it with both hashes.
func (v checkInView) verify(ctx context.Context, code string) (ordinary, duress bool, err error) {
	k, salt, codeHash, duressHash := currentKDF, dummySalt, dummyHash, dummyHash
	var paramsErr error
	if v.detail != nil && v.params != nil {
		if k, paramsErr = parseKDF(*v.params); paramsErr == nil {
			salt, codeHash, duressHash = v.salt, v.codeHash, v.duress
		} else {
			k = currentKDF
		}
	}
	key, err := derive(ctx, k, code, salt)
	if err != nil {
		return false, false, err
	}
	if paramsErr != nil {
		return false, false, paramsErr
	}
	ordinary, duress = matchCodes(key, codeHash, duressHash)
	return ordinary, duress, nil
}

// refuseCode counts a wrong code on the detail, in one transaction with its
// timeline step and audit row; the MaxFailedCodes-th in a row has the watch
// treat the detail as having missed its check-in. Neither says what was
// entered.
func (s *Store) refuseCode(ctx context.Context, subject string, detailID uuid.UUID) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var failed int
		err := tx.QueryRow(ctx, `UPDATE details SET failed_codes = failed_codes + 1
			WHERE id = $1 AND status = 'ACTIVE' RETURNING failed_codes`, detailID).Scan(&failed)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotActive // ended since it was read
		}
		if err != nil {
			return fmt.Errorf("protection: count refused code: %w", err)
		}
		at := s.clock()
		b := &pgx.Batch{}
		s.appendStep(ctx, b, detailID, Step{At: at, Kind: StepCodeRefused, Actor: subject,
			Note: fmt.Sprintf("a check-in code was refused (%d in a row)", failed)}, "")
		if err := audit.Queue(ctx, b, audit.Entry{Actor: subject, Action: "detail.check_in_refused", ObjectType: "Detail",
			ObjectID: detailID.String(), After: map[string]any{"detailId": detailID, "failedCodes": failed}}); err != nil {
			return err
		}
		// Exactly at the threshold, so one run of wrong codes alerts once.
		if failed == MaxFailedCodes {
			if err := queueWatch(ctx, b, WatchCommand{DetailID: detailID, Command: WatchCodesFail, At: at, Actor: subject}); err != nil {
				return err
			}
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("protection: refused code: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return ErrWrongCode
}

// checkInAudit is the audit row of a check-in: the same fields whichever
// code was used, and no position.
type checkInAudit struct {
	DetailID  uuid.UUID `json:"detailId"`
	CheckInID uuid.UUID `json:"checkInId"`
	At        time.Time `json:"at"`
	NextDue   time.Time `json:"nextDue"`
}

// recordCheckIn records a good check-in in one transaction. The duress code
// writes the same rows as the ordinary one, the same number of them, and
// answers the same: the row, the detail, the timeline, the audit row, the
// stream event and the watch's CHECKED_IN; only that last row's payload,
// which only the relay reads, carries the duress.
func (s *Store) recordCheckIn(ctx context.Context, subject string, in CheckInInput, duress bool) (Receipt, error) {
	var receipt Receipt
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		d, prior, err := lockForCheckIn(ctx, tx, in.DetailID, subject, in.ClientMutationID)
		if err != nil {
			return err
		}
		switch {
		case !assigned(d, subject):
			return ErrNotOnDetail
		case prior != nil:
			receipt = *prior // the same retry, raced in meanwhile
			return nil
		case d.Status != StatusActive:
			return ErrNotActive
		}
		id, err := uuid.NewV7()
		if err != nil {
			return err
		}
		at := s.clock()
		receipt = Receipt{At: at, NextDue: at.Add(d.Interval)}
		b := &pgx.Batch{}
		if err := s.queueCheckIn(ctx, b, CheckIn{ID: id, DetailID: in.DetailID, Agent: subject, At: at, Position: in.Position,
			Note: in.Note, NextDue: receipt.NextDue}, in.ClientMutationID, duress); err != nil {
			return err
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("protection: check-in: %w", err)
		}
		return nil
	})
	if err != nil {
		return Receipt{}, err
	}
	return receipt, nil
}

// lockForCheckIn locks the detail and reads what a check-in decides on
// now that nobody else can change it: its status, leader and agents, its
// interval and the receipt of a try with the same clientMutationId.
func lockForCheckIn(ctx context.Context, tx pgx.Tx, detailID uuid.UUID, subject, clientMutationID string) (Detail, *Receipt, error) {
	var d Detail
	var intervalS int
	err := tx.QueryRow(ctx, `SELECT status, leader, check_in_interval_s FROM details
		WHERE id = $1 FOR UPDATE`, detailID).Scan(&d.Status, &d.Leader, &intervalS)
	if errors.Is(err, pgx.ErrNoRows) {
		return Detail{}, nil, ErrDetailNotFound
	}
	if err != nil {
		return Detail{}, nil, fmt.Errorf("protection: lock detail %s: %w", detailID, err)
	}
	// A second statement, begun once the lock is held: under READ
	// COMMITTED a statement sees only what committed before it began, so
	// rows joined by the locking statement could predate the transaction
	// it waited for (a retry of this very check-in, a change of agents).
	var priorAt, priorDue *time.Time
	err = tx.QueryRow(ctx, `SELECT ARRAY(SELECT a.subject FROM detail_agents a WHERE a.detail_id = $1 ORDER BY a.subject),
			r.at, r.next_due
		FROM (VALUES (1)) AS one (x)
		LEFT JOIN check_ins r ON r.detail_id = $1 AND r.agent = $2 AND r.client_mutation_id = NULLIF($3, '')`,
		detailID, subject, clientMutationID).Scan(&d.Agents, &priorAt, &priorDue)
	if err != nil {
		return Detail{}, nil, fmt.Errorf("protection: check-in %s: %w", detailID, err)
	}
	d.ID, d.Interval = detailID, time.Duration(intervalS)*time.Second
	var prior *Receipt
	if priorAt != nil && priorDue != nil {
		prior = &Receipt{At: priorAt.UTC(), NextDue: priorDue.UTC()}
	}
	return d, prior, nil
}

// queueCheckIn queues a good check-in's writes: its row, the detail's last
// check-in and next due time (and the wrong codes forgiven), the timeline
// step, the audit row, the stream event and the watch's signal, which
// carries the duress of a duress check-in.
func (s *Store) queueCheckIn(ctx context.Context, b *pgx.Batch, c CheckIn, clientMutationID string, duress bool) error {
	var lat, lon *float64
	if c.Position != nil {
		lat, lon = &c.Position.Latitude, &c.Position.Longitude
	}
	b.Queue(`INSERT INTO check_ins (id, detail_id, agent, at, latitude, longitude, note, next_due, client_mutation_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULLIF($9, ''))`,
		c.ID, c.DetailID, c.Agent, c.At, lat, lon, c.Note, c.NextDue, clientMutationID)
	b.Queue(`UPDATE details SET last_check_in_at = $2, last_check_in_by = $3, last_check_in_lat = $4, last_check_in_lon = $5,
		next_check_in_due = $6, failed_codes = 0 WHERE id = $1`, c.DetailID, c.At, c.Agent, lat, lon, c.NextDue)
	s.appendStep(ctx, b, c.DetailID, Step{At: c.At, Kind: StepCheckedIn, Actor: c.Agent,
		Note: "next check-in due by " + c.NextDue.UTC().Format("15:04:05 UTC")}, "")
	if err := audit.Queue(ctx, b, audit.Entry{Actor: c.Agent, Action: "detail.check_in", ObjectType: "Detail",
		ObjectID: c.DetailID.String(), After: checkInAudit{DetailID: c.DetailID, CheckInID: c.ID, At: c.At, NextDue: c.NextDue}}); err != nil {
		return err
	}
	if err := queueDetailChanged(ctx, b, c.DetailID, EventCheckIn, c.At); err != nil {
		return err
	}
	cmd := WatchCommand{DetailID: c.DetailID, Command: WatchCheckedIn, At: c.At, Actor: c.Agent}
	if duress {
		// The check-in's own position only: a fallback chosen here would
		// carry the check-in's time, not its own. Without one, RaiseDuress
		// finds the last known position, with the time it was known.
		cmd.Duress = &Duress{CheckInID: c.ID, DetailID: c.DetailID, Agent: c.Agent, At: c.At, Position: c.Position}
	}
	return queueWatch(ctx, b, cmd)
}
