package protection

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"meridian.dev/platform/escalation"
	"meridian.dev/platform/incident"
	"meridian.dev/platform/outbox"
	"meridian.dev/platform/postgres"
)

// What the check-in watch (workflows/protection) and the relay need of the
// store. Postgres is the record: the watch re-reads it before every
// reminder and before raising anything, so a signal lost with a worker (or
// still in the outbox) never raises a false alarm.

// WatchState is a detail as the watch needs it.
type WatchState struct {
	DetailID    uuid.UUID     `json:"detailId"`
	Status      string        `json:"status"`
	Region      string        `json:"region"`
	Leader      string        `json:"leader"`
	Agents      []string      `json:"agents"`
	Interval    time.Duration `json:"interval"`
	Grace       time.Duration `json:"grace"`
	LastCheckIn *time.Time    `json:"lastCheckIn,omitempty"`
	// NextDue is when the next check-in falls due (last check-in, or the
	// start, plus the interval).
	NextDue     time.Time `json:"nextDue"`
	FailedCodes int       `json:"failedCodes"`
	EndsAt      time.Time `json:"endsAt"`
}

// WatchState reads the detail for the watch.
func (s *Store) WatchState(ctx context.Context, detailID uuid.UUID) (WatchState, error) {
	d, err := s.loadDetail(ctx, s.pool, detailID, false)
	if err != nil {
		return WatchState{}, err
	}
	// UTC throughout: the watch compares and logs these, and its history
	// should not depend on the database session's time zone.
	w := WatchState{DetailID: d.ID, Status: d.Status, Region: d.Region, Leader: d.Leader, Agents: d.Agents,
		Interval: d.Interval, Grace: d.Grace, FailedCodes: d.FailedCodes, EndsAt: d.EndsAt.UTC()}
	from := d.StartsAt
	if d.StartedAt != nil {
		from = *d.StartedAt
	}
	if d.LastCheckIn != nil {
		at := d.LastCheckIn.At.UTC()
		w.LastCheckIn, from = &at, at
	}
	w.NextDue = from.Add(d.Interval).UTC()
	if d.NextDue != nil {
		w.NextDue = d.NextDue.UTC()
	}
	return w, nil
}

// eventKinds are the kinds a detail's stream carries (the API's
// DetailEventKind).
var eventKinds = []string{EventCheckIn, EventCheckInMissed, EventPosition, EventMovement, EventThreatLevel, EventStatus,
	EventAgents, EventSafeHaven, EventAdvanceNote}

// RecordStep appends one step to a detail's timeline, once per dedupeKey,
// and announces kind on detailUpdated when event is set.
func (s *Store) RecordStep(ctx context.Context, detailID uuid.UUID, step Step, dedupeKey, event string) error {
	if step.Kind == "" {
		return fmt.Errorf("protection: a timeline step needs a kind")
	}
	if event != "" && !slices.Contains(eventKinds, event) {
		return fmt.Errorf("protection: unknown detail event %q", event)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := s.recordStep(ctx, tx, detailID, step, dedupeKey, event)
		return err
	})
}

// recordStep writes a step inside tx and, when it was not there already
// and event is set, the stream event announcing it. It reports whether the
// step was new.
func (s *Store) recordStep(ctx context.Context, tx pgx.Tx, detailID uuid.UUID, step Step, dedupeKey, event string) (bool, error) {
	if step.At.IsZero() {
		step.At = s.clock()
	}
	b := &pgx.Batch{}
	s.appendStep(ctx, b, detailID, step, dedupeKey)
	br := tx.SendBatch(ctx, b)
	tag, err := br.Exec()
	if closeErr := br.Close(); err == nil {
		err = closeErr
	}
	if postgres.IsForeignKeyViolation(err) {
		return false, ErrDetailNotFound
	}
	if err != nil {
		return false, fmt.Errorf("protection: record %s on %s: %w", step.Kind, detailID, err)
	}
	if tag.RowsAffected() == 0 || event == "" {
		return tag.RowsAffected() > 0, nil
	}
	if err := outbox.Enqueue(ctx, tx, TopicDetailChanged, DetailChanged{DetailID: detailID, Kind: event, At: step.At}); err != nil {
		return false, err
	}
	return true, nil
}

// Missed asks RaiseMissed to raise a missed check-in.
type Missed struct {
	DetailID uuid.UUID `json:"detailId"`
	// Due is the check-in that did not come; it names the incident, so a
	// retried activity raises it once.
	Due time.Time `json:"due"`
	// Reason: "no check-in within the grace period" or "3 wrong codes".
	Reason string `json:"reason"`
	// TierWait is each tier's wait in the incident's own policy (leader,
	// then the region's on-call, then the global leads).
	TierWait time.Duration `json:"tierWait"`
	// Last is the last check-in the watch knows of: one Postgres holds
	// after it is a check-in whose signal has not arrived, even if it came
	// before Due.
	Last time.Time `json:"last,omitzero"`
	// Open is the watch's missed check-in not yet recovered: while one of
	// its escalations is unresolved, the silence goes on under it and
	// nothing new is raised; once people resolved it all, a silence that
	// goes on is a new incident.
	Open *uuid.UUID `json:"open,omitempty"`
}

// MissedResult says what RaiseMissed did.
type MissedResult struct {
	// IncidentID is the MISSED_CHECK_IN incident (raised now or before).
	IncidentID uuid.UUID `json:"incidentId"`
	// CheckedIn is set when Postgres shows a check-in at or after Due (a
	// signal that did not arrive): nothing is raised, the watch restarts
	// its interval from it.
	CheckedIn *time.Time `json:"checkedIn,omitempty"`
	// Ended: the detail ended; nothing is raised.
	Ended bool `json:"ended,omitempty"`
}

// RaiseMissed raises a MISSED_CHECK_IN incident (SEV2, source PROTECTION,
// in the region of the last known position, naming the detail and that
// position) under the detail's own policy, unless Postgres shows a
// check-in since Due or the detail ended; once per (detail, Due). It
// records CHECK_IN_MISSED on the detail's timeline.
//
// The incident already raised for (detail, Due) is looked up first, so a
// retried attempt returns it even if a check-in has arrived since: the
// watch must know of it to note the recovery on it.
//
// The decision is taken on a read, not under the detail's lock: the
// incident store raises in a transaction of its own, and holding the
// detail's row lock on one connection while waiting for another would let
// a burst of missed check-ins, and the check-ins queued behind their locks,
// exhaust the pool and stall each other. A check-in committing in the
// milliseconds between the read and the raise leaves an incident the
// watch then notes the recovery on.
func (s *Store) RaiseMissed(ctx context.Context, m Missed) (MissedResult, error) {
	ref := missedRef(m.DetailID, m.Due)
	id, raised, err := s.incidentBySource(ctx, ref)
	if err != nil {
		return MissedResult{}, err
	}
	d, err := s.loadDetail(ctx, s.pool, m.DetailID, false)
	if err != nil {
		return MissedResult{}, err
	}
	if !raised {
		switch {
		case d.Status != StatusActive:
			return MissedResult{Ended: true}, nil
		case d.LastCheckIn != nil && (!d.LastCheckIn.At.Before(m.Due) || !m.Last.IsZero() && d.LastCheckIn.At.After(m.Last)):
			at := d.LastCheckIn.At.UTC()
			return MissedResult{CheckedIn: &at}, nil
		}
		open, err := s.stillOpen(ctx, m.Open)
		if err != nil {
			return MissedResult{}, err
		}
		if open {
			return MissedResult{IncidentID: *m.Open}, s.moveDue(ctx, d, m.Due)
		}
		if id, err = s.raiseMissedIncident(ctx, d, m); err != nil {
			return MissedResult{}, err
		}
	}
	if err := s.moveDue(ctx, d, m.Due); err != nil {
		return MissedResult{}, err
	}
	note := fmt.Sprintf("check-in due at %s missed (%s): incident %s raised", m.Due.UTC().Format("15:04:05 UTC"),
		missedReason(m.Reason), id)
	err = s.RecordStep(ctx, d.ID, Step{Kind: StepMissed, Actor: SystemActor, Note: note}, ref, EventCheckInMissed)
	if err != nil {
		return MissedResult{}, err
	}
	return MissedResult{IncidentID: id, Ended: d.Status != StatusActive}, nil
}

// stillOpen reports whether the incident has an escalation nobody has
// resolved yet.
func (s *Store) stillOpen(ctx context.Context, incidentID *uuid.UUID) (bool, error) {
	if incidentID == nil {
		return false, nil
	}
	var open bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM escalations WHERE incident_id = $1 AND status <> 'RESOLVED')`,
		*incidentID).Scan(&open)
	if err != nil {
		return false, fmt.Errorf("protection: is incident %s open: %w", *incidentID, err)
	}
	return open, nil
}

// moveDue keeps the detail's next due time with the watch's after a miss
// of the check-in Postgres shows due: the next one falls due an interval
// after it. A miss raised early (wrong codes) leaves the due time alone, as
// the watch does.
func (s *Store) moveDue(ctx context.Context, d Detail, missed time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE details SET next_check_in_due = $2
		WHERE id = $1 AND status = 'ACTIVE' AND next_check_in_due <= $3`, d.ID, missed.Add(d.Interval), missed)
	if err != nil {
		return fmt.Errorf("protection: move the next due time of %s: %w", d.ID, err)
	}
	return nil
}

func missedReason(reason string) string {
	if r := strings.TrimSpace(reason); r != "" {
		return r
	}
	return "no check-in within the grace period"
}

// raiseMissedIncident raises the incident of a missed check-in: named for
// the detail and its last known position, in that position's region,
// under the detail's own policy.
func (s *Store) raiseMissedIncident(ctx context.Context, d Detail, m Missed) (uuid.UUID, error) {
	pos := s.lastKnownPosition(ctx, d)
	var where *Point
	if pos != nil {
		where = &pos.Point
	}
	region, err := s.regionAt(ctx, d, where)
	if err != nil {
		return uuid.Nil, err
	}
	protectee, err := s.protecteeName(ctx, d.ProtecteeID)
	if err != nil {
		return uuid.Nil, err
	}
	title := fmt.Sprintf("Missed check-in: %s's detail (%s), ", protectee, d.Region)
	if pos != nil {
		title += "last known position " + positionWords(pos)
	} else {
		title += "no position reported"
	}
	policy := missedPolicy(d.Leader, region, tierWait(m.TierWait))
	return s.raiseOnce(ctx, incident.New{
		Title:      clip(title+"; "+missedReason(m.Reason), 200),
		Severity:   escalation.SEV2,
		Kind:       IncidentMissedCheckIn,
		SourceType: SourceType,
		SourceRef:  missedRef(d.ID, m.Due),
		Location:   locationOf(where),
		Regions:    []string{region},
		Policy:     &policy,
	})
}

// RecordRecovery notes a check-in after a missed one on the incident's
// escalations' timelines and on the detail's (CHECK_IN_RECOVERED), once per
// incident.
func (s *Store) RecordRecovery(ctx context.Context, detailID, incidentID uuid.UUID, at time.Time, by string) error {
	escalations := escalation.NewStore(s.pool)
	list, err := escalations.ForIncident(ctx, incidentID)
	if err != nil {
		return err
	}
	who, err := s.personName(ctx, by)
	if err != nil {
		return err
	}
	note := fmt.Sprintf("check-in received at %s by %s; the detail is back in contact", at.UTC().Format("15:04:05 UTC"), who)
	for _, e := range list {
		if err := escalations.RecordStep(ctx, escalation.Step{EscalationID: e.ID, Kind: escalation.KindNote, Actor: SystemActor,
			Note: note, DedupeKey: fmt.Sprintf("protection-recovered:%s:%s", incidentID, e.ID)}); err != nil {
			return err
		}
	}
	return s.RecordStep(ctx, detailID, Step{Kind: StepRecovered, Actor: SystemActor, Note: fmt.Sprintf("%s (incident %s)", note, incidentID)},
		"recovered:"+incidentID.String(), EventCheckIn)
}

// RaiseDuress raises the restricted SEV1 DURESS incident of a duress
// check-in (once per check-in): paged to the detail's leader and the global
// leads only, visible to them only. Nothing is written on the detail's
// timeline or stream: they must show an ordinary check-in.
func (s *Store) RaiseDuress(ctx context.Context, d Duress, wait time.Duration) (uuid.UUID, error) {
	ref := duressRef(d.CheckInID)
	if id, ok, err := s.incidentBySource(ctx, ref); ok || err != nil {
		return id, err
	}
	det, err := s.loadDetail(ctx, s.pool, d.DetailID, false)
	if err != nil {
		return uuid.Nil, err
	}
	// The check-in's own position, else the last the detail is known at.
	var pos *Position
	if d.Position != nil {
		pos = &Position{Point: *d.Position, At: d.At}
	} else {
		pos = s.lastKnownPosition(ctx, det)
	}
	var where *Point
	if pos != nil {
		where = &pos.Point
	}
	region, err := s.regionAt(ctx, det, where)
	if err != nil {
		return uuid.Nil, err
	}
	protectee, err := s.protecteeName(ctx, det.ProtecteeID)
	if err != nil {
		return uuid.Nil, err
	}
	agent, err := s.personName(ctx, d.Agent)
	if err != nil {
		return uuid.Nil, err
	}
	title := fmt.Sprintf("DURESS: %s checked in under duress on %s's detail (%s)", agent, protectee, det.Region)
	if pos != nil {
		title += ", position " + positionWords(pos)
	} else {
		title += ", no position reported"
	}
	policy := duressPolicy(det.Leader, d.Agent, tierWait(wait))
	return s.raiseOnce(ctx, incident.New{
		Title:        clip(title, 200),
		Severity:     escalation.SEV1,
		Kind:         IncidentDuress,
		SourceType:   SourceType,
		SourceRef:    ref,
		Location:     locationOf(where),
		Regions:      []string{region},
		Policy:       &policy,
		RestrictedTo: duressAudience(det.Leader, d.Agent),
	})
}
