package protection

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"meridian.dev/platform/audit"
	"meridian.dev/platform/auth"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/policy"
	"meridian.dev/platform/postgres"
)

// detailAudit is what the audit log keeps of a detail: everything an
// uncleared auditor may read, never a position.
type detailAudit struct {
	DetailID        uuid.UUID `json:"detailId"`
	ProtecteeID     uuid.UUID `json:"protecteeId"`
	Region          string    `json:"region"`
	Leader          string    `json:"leader"`
	Agents          []string  `json:"agents"`
	Status          string    `json:"status"`
	StartsAt        time.Time `json:"startsAt"`
	EndsAt          time.Time `json:"endsAt"`
	ThreatLevel     string    `json:"threatLevel"`
	IntervalSeconds int       `json:"checkInIntervalSeconds"`
	CustomInterval  bool      `json:"customInterval"`
	GraceSeconds    int       `json:"gracePeriodSeconds"`
}

func auditView(d Detail) detailAudit {
	return detailAudit{DetailID: d.ID, ProtecteeID: d.ProtecteeID, Region: d.Region, Leader: d.Leader, Agents: d.Agents,
		Status: d.Status, StartsAt: d.StartsAt, EndsAt: d.EndsAt, ThreatLevel: d.ThreatLevel,
		IntervalSeconds: int(d.Interval / time.Second), CustomInterval: d.CustomInterval, GraceSeconds: int(d.Grace / time.Second)}
}

// queueDetailAudit audits a change of a detail, before and after.
func queueDetailAudit(ctx context.Context, b *pgx.Batch, actor, action string, before, after Detail) error {
	return audit.Queue(ctx, b, audit.Entry{Actor: actor, Action: action, ObjectType: "Detail", ObjectID: after.ID.String(),
		Before: auditView(before), After: auditView(after)})
}

// detailWrite decides on the locked detail d and queues its changes on b,
// which is sent in the same transaction.
type detailWrite func(tx pgx.Tx, d Detail, b *pgx.Batch) error

// writeDetail runs one write to a detail in a transaction: the detail is
// locked, the policy decides on the locked row, then write queues the
// changes, sent in one round trip. Refusals return before anything is
// written. With after set, the detail as the write left it is read back
// in the same transaction.
func (s *Store) writeDetail(ctx context.Context, actor auth.Identity, detailID uuid.UUID, action policy.Action,
	write detailWrite, after *Detail) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		d, err := s.loadDetail(ctx, tx, detailID, true)
		if err != nil {
			return err
		}
		if err := Allow(actor, action, &d, nil); err != nil {
			return err
		}
		b := &pgx.Batch{}
		if err := write(tx, d, b); err != nil {
			return err
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("protection: write detail %s: %w", detailID, err)
		}
		if after != nil {
			*after, err = s.loadDetail(ctx, tx, detailID, false)
		}
		return err
	})
}

// onDetail is writeDetail answering with the detail written.
func (s *Store) onDetail(ctx context.Context, actor auth.Identity, detailID uuid.UUID, action policy.Action, write detailWrite) (Detail, error) {
	var after Detail
	if err := s.writeDetail(ctx, actor, detailID, action, write, &after); err != nil {
		return Detail{}, err
	}
	return after, nil
}

// errEnded refuses a change to an ended detail (to those Allow lets edit
// it at all).
var errEnded = fault.New(fault.Conflict, "the detail has ended and can no longer be changed")

// checkPeople refuses a leader or agents who are not in the directory with
// the protection_agent role.
func checkPeople(ctx context.Context, q pgxQuerier, leader string, agents []string) error {
	people := append(slices.Clone(agents), leader)
	rows, err := q.Query(ctx, `SELECT subject FROM users WHERE subject = ANY($1) AND $2 = ANY(roles)`,
		people, auth.RoleProtectionAgent)
	if err != nil {
		return fmt.Errorf("protection: check people: %w", err)
	}
	known, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("protection: check people: %w", err)
	}
	if leader != "" && !slices.Contains(known, leader) {
		return fault.Invalid("leader", "%q is not a person with the %s role in the directory", leader, auth.RoleProtectionAgent)
	}
	for _, a := range agents {
		if !slices.Contains(known, a) {
			return fault.Invalid("agents", "%q is not a person with the %s role in the directory", a, auth.RoleProtectionAgent)
		}
	}
	return nil
}

// CreateDetail records a PLANNED detail (ManageProtectees), once per
// clientMutationId.
func (s *Store) CreateDetail(ctx context.Context, actor auth.Identity, n NewDetail) (Detail, error) {
	if err := Allow(actor, ManageProtectees, nil, nil); err != nil {
		return Detail{}, err
	}
	n, err := normalizeNewDetail(n)
	if err != nil {
		return Detail{}, err
	}
	if n.ClientMutationID != "" {
		if id, ok, err := s.replayReceipt(ctx, actor.Subject, n.ClientMutationID, opCreateDetail); ok || err != nil {
			return replayed(ctx, s.pool, id, err, s.loadDetail)
		}
	}
	var d Detail
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		d, err = s.insertDetail(ctx, tx, actor.Subject, n)
		return err
	})
	if n.ClientMutationID != "" && postgres.IsUniqueViolation(err, "mutation_receipts_pkey") {
		// A concurrent retry of the same create won the race: answer as it did.
		id, ok, rerr := s.replayReceipt(ctx, actor.Subject, n.ClientMutationID, opCreateDetail)
		if ok || rerr != nil {
			return replayed(ctx, s.pool, id, rerr, s.loadDetail)
		}
		return Detail{}, errReceiptReused
	}
	if err != nil {
		return Detail{}, err
	}
	return d, nil
}

// insertDetail checks what needs the database and writes a new detail.
func (s *Store) insertDetail(ctx context.Context, tx pgx.Tx, actor string, n NewDetail) (Detail, error) {
	var level string
	var regionKnown bool
	err := tx.QueryRow(ctx, `SELECT coalesce((SELECT threat_level FROM protectees WHERE id = $1), ''),
		EXISTS (SELECT 1 FROM regions WHERE code = $2)`, n.ProtecteeID, n.Region).Scan(&level, &regionKnown)
	if err != nil {
		return Detail{}, fmt.Errorf("protection: check detail: %w", err)
	}
	if level == "" {
		return Detail{}, fault.Invalid("protecteeId", "no such protectee")
	}
	if !regionKnown {
		return Detail{}, fault.Invalid("region", "unknown region %q", n.Region)
	}
	if err := checkPeople(ctx, tx, n.Leader, n.Agents); err != nil {
		return Detail{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Detail{}, fmt.Errorf("protection: new detail id: %w", err)
	}
	if n.ThreatLevel != "" {
		level = n.ThreatLevel
	}
	d := Detail{ID: id, ProtecteeID: n.ProtecteeID, Region: n.Region, Leader: n.Leader, Agents: n.Agents, Status: StatusPlanned,
		StartsAt: n.StartsAt, EndsAt: n.EndsAt, ThreatLevel: level, Interval: DefaultInterval[level], Grace: DefaultGrace,
		WorkflowID: WatchWorkflowID(id), CreatedBy: actor, CreatedAt: s.clock()}
	if n.Interval != nil {
		d.Interval, d.CustomInterval = *n.Interval, true
	}
	if n.Grace != nil {
		d.Grace = *n.Grace
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO details (id, protectee_id, region, leader, status, starts_at, ends_at, threat_level,
		check_in_interval_s, interval_is_custom, grace_s, workflow_id, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		d.ID, d.ProtecteeID, d.Region, d.Leader, d.Status, d.StartsAt, d.EndsAt, d.ThreatLevel,
		int(d.Interval/time.Second), d.CustomInterval, int(d.Grace/time.Second), d.WorkflowID, d.CreatedBy, d.CreatedAt)
	b.Queue(`INSERT INTO detail_agents (detail_id, subject, assigned_at) SELECT $1, unnest($2::text[]), $3`, d.ID, d.Agents, d.CreatedAt)
	s.appendStep(ctx, b, d.ID, Step{At: d.CreatedAt, Kind: StepCreated, Actor: actor,
		Note: fmt.Sprintf("led by %s with %d agent(s), threat level %s", d.Leader, len(d.Agents), d.ThreatLevel)}, "")
	if n.ClientMutationID != "" {
		queueReceipt(b, actor, n.ClientMutationID, opCreateDetail, d.ID)
	}
	if err := audit.Queue(ctx, b, audit.Entry{Actor: actor, Action: "detail.create", ObjectType: "Detail",
		ObjectID: d.ID.String(), After: auditView(d)}); err != nil {
		return Detail{}, err
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return Detail{}, fmt.Errorf("protection: create detail: %w", err)
	}
	return s.loadDetail(ctx, tx, d.ID, false)
}

// AssignAgents replaces the detail's agents (EditDetail). The leader,
// listed among them, stays its leader.
func (s *Store) AssignAgents(ctx context.Context, actor auth.Identity, detailID uuid.UUID, agents []string) (Detail, error) {
	agents, err := normalizeSubjects("agents", agents)
	if err != nil {
		return Detail{}, err
	}
	return s.onDetail(ctx, actor, detailID, EditDetail, func(tx pgx.Tx, d Detail, b *pgx.Batch) error {
		if d.Status == StatusEnded {
			return errEnded
		}
		agents := slices.DeleteFunc(slices.Clone(agents), func(a string) bool { return a == d.Leader })
		if err := checkPeople(ctx, tx, "", agents); err != nil {
			return err
		}
		next := d
		next.Agents = agents
		now := s.clock()
		b.Queue(`DELETE FROM detail_agents WHERE detail_id = $1 AND NOT (subject = ANY($2))`, d.ID, agents)
		b.Queue(`INSERT INTO detail_agents (detail_id, subject, assigned_at) SELECT $1, unnest($2::text[]), $3
			ON CONFLICT DO NOTHING`, d.ID, agents, now)
		s.appendStep(ctx, b, d.ID, Step{At: now, Kind: StepAgentsAssigned, Actor: actor.Subject, Note: agentsNote(d.Agents, agents)}, "")
		if err := queueDetailChanged(ctx, b, d.ID, EventAgents, now); err != nil {
			return err
		}
		return queueDetailAudit(ctx, b, actor.Subject, "detail.assign_agents", d, next)
	})
}

// agentsNote says who joined and who left.
func agentsNote(before, after []string) string {
	var added, removed []string
	for _, a := range after {
		if !slices.Contains(before, a) {
			added = append(added, a)
		}
	}
	for _, a := range before {
		if !slices.Contains(after, a) {
			removed = append(removed, a)
		}
	}
	var parts []string
	if len(added) > 0 {
		parts = append(parts, "added "+strings.Join(added, ", "))
	}
	if len(removed) > 0 {
		parts = append(parts, "removed "+strings.Join(removed, ", "))
	}
	if len(parts) == 0 {
		return "agents unchanged"
	}
	return strings.Join(parts, "; ")
}

// Start makes a PLANNED detail ACTIVE and has the relay start its watch.
// The first check-in falls due one interval after the start.
func (s *Store) Start(ctx context.Context, actor auth.Identity, detailID uuid.UUID) (Detail, error) {
	return s.onDetail(ctx, actor, detailID, EditDetail, func(tx pgx.Tx, d Detail, b *pgx.Batch) error {
		if d.Status != StatusPlanned {
			return fault.New(fault.Conflict, "only a PLANNED detail can start; this one is "+d.Status)
		}
		now := s.clock()
		if !now.Before(d.EndsAt) {
			return fault.New(fault.Conflict, "the detail's window ended at "+d.EndsAt.Format(time.RFC3339))
		}
		next := d
		next.Status = StatusActive
		b.Queue(`UPDATE details SET status = $2, started_at = $3, next_check_in_due = $4 WHERE id = $1`,
			d.ID, StatusActive, now, now.Add(d.Interval))
		s.appendStep(ctx, b, d.ID, Step{At: now, Kind: StepStarted, Actor: actor.Subject,
			Note: fmt.Sprintf("check-ins every %s, grace %s", d.Interval, d.Grace)}, "")
		if err := queueWatch(ctx, b, WatchCommand{DetailID: d.ID, Command: WatchStart, At: now, Interval: d.Interval,
			Grace: d.Grace, Actor: actor.Subject}); err != nil {
			return err
		}
		if err := queueDetailChanged(ctx, b, d.ID, EventStatus, now); err != nil {
			return err
		}
		return queueDetailAudit(ctx, b, actor.Subject, "detail.start", d, next)
	})
}

// End ends a detail and has the relay stop its watch: its agents are no
// longer cleared.
func (s *Store) End(ctx context.Context, actor auth.Identity, detailID uuid.UUID, note string) (Detail, error) {
	note, err := checkText("note", note, 0, maxEndNoteLen)
	if err != nil {
		return Detail{}, err
	}
	return s.onDetail(ctx, actor, detailID, EditDetail, func(tx pgx.Tx, d Detail, b *pgx.Batch) error {
		if d.Status == StatusEnded {
			return fault.New(fault.Conflict, "the detail has already ended")
		}
		now := s.clock()
		next := d
		next.Status = StatusEnded
		b.Queue(`UPDATE details SET status = $2, ended_at = $3, next_check_in_due = NULL WHERE id = $1`, d.ID, StatusEnded, now)
		s.appendStep(ctx, b, d.ID, Step{At: now, Kind: StepEnded, Actor: actor.Subject, Note: note}, "")
		if d.Status == StatusActive {
			if err := queueWatch(ctx, b, WatchCommand{DetailID: d.ID, Command: WatchStop, At: now, Actor: actor.Subject}); err != nil {
				return err
			}
		}
		if err := queueDetailChanged(ctx, b, d.ID, EventStatus, now); err != nil {
			return err
		}
		return queueDetailAudit(ctx, b, actor.Subject, "detail.end", d, next)
	})
}

// SetThreatLevel changes the threat level and the interval at once: nil
// takes the level's default, a given one is the detail's own. The next
// check-in falls due one new interval after the last (or the start), and
// an active detail's watch is re-timed.
func (s *Store) SetThreatLevel(ctx context.Context, actor auth.Identity, detailID uuid.UUID, level string, interval *time.Duration) (Detail, error) {
	level, err := checkThreatLevel("threatLevel", level)
	if err != nil {
		return Detail{}, err
	}
	if interval != nil {
		if err := checkInterval(*interval); err != nil {
			return Detail{}, err
		}
	}
	return s.onDetail(ctx, actor, detailID, EditDetail, func(tx pgx.Tx, d Detail, b *pgx.Batch) error {
		if d.Status == StatusEnded {
			return errEnded
		}
		now := s.clock()
		next := d
		next.ThreatLevel, next.Interval, next.CustomInterval = level, DefaultInterval[level], false
		if interval != nil {
			next.Interval, next.CustomInterval = *interval, true
		}
		var due *time.Time
		if d.Status == StatusActive {
			base := now
			if d.LastCheckIn != nil {
				base = d.LastCheckIn.At
			} else if d.StartedAt != nil {
				base = *d.StartedAt
			}
			// As the watch does: a due time already past is now, not
			// backdated (the agents could not have known of it).
			t := base.Add(next.Interval)
			if t.Before(now) {
				t = now
			}
			due = &t
		}
		b.Queue(`UPDATE details SET threat_level = $2, check_in_interval_s = $3, interval_is_custom = $4,
			next_check_in_due = $5 WHERE id = $1`, d.ID, level, int(next.Interval/time.Second), next.CustomInterval, due)
		s.appendStep(ctx, b, d.ID, Step{At: now, Kind: StepThreatLevel, Actor: actor.Subject,
			Note: fmt.Sprintf("%s → %s, check-ins every %s", d.ThreatLevel, level, next.Interval)}, "")
		if d.Status == StatusActive {
			if err := queueWatch(ctx, b, WatchCommand{DetailID: d.ID, Command: WatchRetime, At: now, Interval: next.Interval,
				Grace: d.Grace, Actor: actor.Subject}); err != nil {
				return err
			}
		}
		if err := queueDetailChanged(ctx, b, d.ID, EventThreatLevel, now); err != nil {
			return err
		}
		return queueDetailAudit(ctx, b, actor.Subject, "detail.set_threat_level", d, next)
	})
}
