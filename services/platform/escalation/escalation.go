// Package escalation keeps escalations and their timelines in Postgres. The
// Temporal workflow drives paging; this store is the record everyone reads,
// and every change to it is announced through the outbox.
package escalation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"meridian.dev/platform/audit"
	"meridian.dev/platform/auth"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/live"
	"meridian.dev/platform/outbox"
	"meridian.dev/platform/policy"
	"meridian.dev/platform/postgres"
)

// Status of an escalation.
type Status string

const (
	StatusOpen         Status = "OPEN"
	StatusAcknowledged Status = "ACKNOWLEDGED"
	StatusResolved     Status = "RESOLVED"
)

// Timeline entry kinds.
const (
	KindOpened     = "OPENED"
	KindPaged      = "PAGED"
	KindPageFailed = "PAGE_FAILED"
	// KindDelivered: one person's page reached its channel's receiver.
	KindDelivered = "DELIVERED"
	// KindDeliveryFailed: one attempt at one person's page failed; PAGE_FAILED
	// follows when no attempt is left.
	KindDeliveryFailed = "DELIVERY_FAILED"
	KindAcknowledged   = "ACKNOWLEDGED"
	KindResolved       = "RESOLVED"
	KindTimedOut       = "TIMED_OUT"
	KindEscalated      = "ESCALATED"
	KindRepeated       = "REPEATED"
	KindExhausted      = "EXHAUSTED"
	KindAckTimedOut    = "ACK_TIMED_OUT"
	KindHandedOff      = "HANDED_OFF"
	KindNote           = "NOTE"
)

// TimelineKinds lists every kind a timeline step may have; the API's
// TimelineKind enum names the same, which a test checks.
var TimelineKinds = []string{KindOpened, KindPaged, KindDelivered, KindDeliveryFailed, KindPageFailed, KindTimedOut,
	KindEscalated, KindRepeated, KindExhausted, KindAcknowledged, KindAckTimedOut, KindHandedOff, KindNote, KindResolved}

// MaxNoteLength bounds a note on an escalation step, in characters.
const MaxNoteLength = 2000

// Sentinel errors of the escalation domain.
var (
	ErrNotFound        = fault.New(fault.NotFound, "escalation not found")
	ErrAlreadyResolved = fault.New(fault.Conflict, "the escalation is already resolved")
	ErrAlreadyAcked    = fault.New(fault.Conflict, "the escalation is already acknowledged")
)

// Escalation is one incident being escalated.
type Escalation struct {
	ID             uuid.UUID `json:"id"`
	SiteID         uuid.UUID `json:"siteId"`
	Region         string    `json:"region"`
	Status         Status    `json:"status"`
	Tier           int32     `json:"tier"`
	TriggerLevel   string    `json:"triggerLevel"`
	TriggerPosture string    `json:"triggerPosture"`
	AcknowledgedBy *string   `json:"acknowledgedBy,omitempty"`
	StartedAt      time.Time `json:"startedAt"`
	WorkflowID     string    `json:"workflowId"`
	Severity       Severity  `json:"severity"`
	PolicyName     string    `json:"policyName"`
	PolicyVersion  int32     `json:"policyVersion"`
	Disposition    *string   `json:"disposition,omitempty"`
	// IncidentID is set for escalations of an incident raised by hand; a
	// site's own status escalations have none (and SiteID set).
	IncidentID *uuid.UUID `json:"incidentId,omitempty"`
	// PolicyID names the written policy frozen into the escalation for its
	// owning region; nil for the built-in default.
	PolicyID *uuid.UUID `json:"policyId,omitempty"`
	// RestrictedTo, when set, is who besides global leads may see the
	// escalation (its incident's list): never streamed, never listed to
	// others.
	RestrictedTo []string `json:"restrictedTo,omitempty"`
}

// Restricted reports whether the escalation is restricted (RestrictedTo is
// set, as restricted_to IS NOT NULL in SQL).
func (e Escalation) Restricted() bool { return e.RestrictedTo != nil }

// TimelineEntry is one step of an escalation.
type TimelineEntry struct {
	At    time.Time `json:"at"`
	Kind  string    `json:"kind"`
	Actor string    `json:"actor"`
	Note  string    `json:"note"`
	// Set on steps about one page: the tier, the person paged, the channel
	// and, for failures, the attempt.
	Tier      *int32  `json:"tier,omitempty"`
	Recipient *string `json:"recipient,omitempty"`
	Channel   *string `json:"channel,omitempty"`
	Attempt   *int32  `json:"attempt,omitempty"`
}

// Trigger describes the status change that opens an escalation.
type Trigger struct {
	SiteID                 uuid.UUID
	SiteCode, SiteName     string
	Region, Level, Posture string
	Note, Actor            string
}

// OpenedEvent is the outbox payload that makes the relay start the workflow.
type OpenedEvent struct {
	Escalation Escalation `json:"escalation"`
	// Policy is the written policy frozen at open; nil means the default
	// policy, whose waits the worker configures.
	Policy   *Policy `json:"policy,omitempty"`
	SiteCode string  `json:"siteCode"`
	SiteName string  `json:"siteName"`
	Note     string  `json:"note"`
}

// Signal names carried by ChangedEvent for the relay to forward.
const (
	SignalAcknowledge = "acknowledge"
	SignalResolve     = "resolve"
)

// ChangedEvent is the outbox payload announcing any change; Signal, when set,
// is forwarded to the workflow.
type ChangedEvent struct {
	Escalation Escalation `json:"escalation"`
	Signal     string     `json:"signal,omitempty"`
	Actor      string     `json:"actor,omitempty"`
	Note       string     `json:"note,omitempty"`
}

// Updates is the stream kind of ChangedEvent: what escalationUpdated
// subscribers receive. The relay publishes the escalation alone; the signal
// fields are for the workflow.
var Updates = live.Kind[ChangedEvent]{
	Name:   live.TypeEscalation,
	Region: func(e ChangedEvent) string { return e.Escalation.Region },
}

// WorkflowID is deterministic so that a replayed outbox row can never start a
// second workflow for the same escalation.
func WorkflowID(id uuid.UUID) string { return "escalation-" + id.String() }

// Store reads and writes escalations.
type Store struct {
	pool *pgxpool.Pool
}

// NewStore returns a store on pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

const columns = `id, site_id, region, status, tier, trigger_level, trigger_posture, acknowledged_by, started_at, workflow_id,
	severity, policy_name, policy_version, disposition, incident_id, policy_id, restricted_to`

func scan(row pgx.Row) (Escalation, error) {
	var e Escalation
	var site uuid.NullUUID
	err := row.Scan(&e.ID, &site, &e.Region, &e.Status, &e.Tier, &e.TriggerLevel, &e.TriggerPosture,
		&e.AcknowledgedBy, &e.StartedAt, &e.WorkflowID, &e.Severity, &e.PolicyName, &e.PolicyVersion, &e.Disposition, &e.IncidentID, &e.PolicyID, &e.RestrictedTo)
	e.SiteID = site.UUID // uuid.Nil for an incident's escalation without a site
	return e, err
}

// OpenForSite opens an escalation for the site inside the caller's
// transaction, or returns the one already open: one live escalation per site.
func (s *Store) OpenForSite(ctx context.Context, tx pgx.Tx, t Trigger) (Escalation, error) {
	existing, err := scan(tx.QueryRow(ctx, `SELECT `+columns+` FROM escalations WHERE site_id = $1 AND status <> 'RESOLVED'`, t.SiteID))
	if err == nil {
		return existing, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Escalation{}, fmt.Errorf("escalation: find open: %w", err)
	}
	sev := SeverityFor(t.Level, t.Posture)
	esc, frozen, err := open(ctx, tx, opening{site: &t.SiteID, region: t.Region, level: t.Level, posture: t.Posture,
		severity: sev, actor: t.Actor, note: fmt.Sprintf("%s %s/%s: %s", t.SiteCode, t.Level, t.Posture, t.Note)})
	if err != nil {
		return Escalation{}, err
	}
	b := &pgx.Batch{}
	if err := outbox.QueueEnqueue(ctx, b, outbox.TopicEscalationOpened, OpenedEvent{Escalation: esc, Policy: frozen, SiteCode: t.SiteCode, SiteName: t.SiteName, Note: t.Note}); err != nil {
		return Escalation{}, err
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return Escalation{}, fmt.Errorf("escalation: open: %w", err)
	}
	return esc, nil
}

type opening struct {
	site, incident         *uuid.UUID
	region, level, posture string
	severity               Severity
	actor, note            string
	// policy, when set, is frozen instead of the region's policy in force.
	policy       *Policy
	restrictedTo []string
}

// open inserts an escalation with the policy in force for its region and
// severity frozen into it (later edits change only escalations opened after
// them), its OPENED step, its audit row and its escalationUpdated event. The
// caller announces it to the relay.
func open(ctx context.Context, tx pgx.Tx, o opening) (Escalation, *Policy, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return Escalation{}, nil, fmt.Errorf("escalation: new id: %w", err)
	}
	var policy Policy
	if o.policy != nil {
		policy = *o.policy
	} else if policy, err = CurrentPolicy(ctx, tx, o.region, o.severity); err != nil {
		return Escalation{}, nil, err
	}
	var frozen *Policy
	if policy.Version > 0 {
		frozen = &policy
	}
	esc, err := scan(tx.QueryRow(ctx, `INSERT INTO escalations (id, site_id, incident_id, region, trigger_level, trigger_posture,
		workflow_id, severity, policy_name, policy_version, policy_id, restricted_to)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING `+columns, id, o.site, o.incident, o.region, o.level, o.posture,
		WorkflowID(id), string(o.severity), policy.Name, policy.Version, policyIDOf(policy), o.restrictedTo))
	if err != nil {
		return Escalation{}, nil, fmt.Errorf("escalation: insert: %w", err)
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO escalation_timeline (escalation_id, at, kind, actor, note) VALUES ($1, $2, $3, $4, $5)`,
		esc.ID, esc.StartedAt, KindOpened, o.actor, o.note)
	if err := audit.Queue(ctx, b, audit.Entry{Actor: o.actor, Action: "escalation.open", ObjectType: "Escalation",
		ObjectID: esc.ID.String(), After: esc, RestrictedTo: o.restrictedTo}); err != nil {
		return Escalation{}, nil, err
	}
	if err := outbox.QueueEnqueue(ctx, b, outbox.TopicEscalationChanged, ChangedEvent{Escalation: esc}); err != nil {
		return Escalation{}, nil, err
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return Escalation{}, nil, fmt.Errorf("escalation: open: %w", err)
	}
	return esc, frozen, nil
}

// IncidentOpening is one region's escalation of an incident.
type IncidentOpening struct {
	Incident           uuid.UUID
	Region             string
	Severity           Severity
	Title, Kind, Actor string
	// Policy, when set, is the incident's own (SaveIncidentPolicy), frozen
	// instead of the region's policy in force.
	Policy       *Policy
	RestrictedTo []string
}

// OpenForIncident opens the escalation of one region of an incident, inside
// the caller's transaction, and returns what the relay needs to start it.
func OpenForIncident(ctx context.Context, tx pgx.Tx, o IncidentOpening) (OpenedEvent, error) {
	esc, frozen, err := open(ctx, tx, opening{incident: &o.Incident, region: o.Region, level: string(o.Severity), posture: o.Kind,
		severity: o.Severity, actor: o.Actor, note: fmt.Sprintf("%s %s: %s", o.Severity, o.Kind, o.Title),
		policy: o.Policy, restrictedTo: o.RestrictedTo})
	if err != nil {
		return OpenedEvent{}, err
	}
	return OpenedEvent{Escalation: esc, Policy: frozen, SiteName: o.Title, Note: o.Title}, nil
}

// ViewerArgs are the named arguments the visibility conditions (see
// visible and PagedSQL) read: who is looking, and whether they lead
// globally. The zero identity sees no restricted row.
func ViewerArgs(viewer auth.Identity) pgx.NamedArgs {
	return pgx.NamedArgs{"viewer": viewer.Subject, "global_lead": viewer.HasRole(auth.RoleGlobalLead)}
}

// PagedSQL is the SQL condition that the viewer (ViewerArgs) was paged
// about the escalation whose ID is the SQL expression escalationID: a PAGED
// step lists them, or a delivery names them.
func PagedSQL(escalationID string) string {
	return `EXISTS (SELECT 1 FROM escalation_timeline t WHERE t.escalation_id = ` + escalationID + `
		AND (@viewer::text = ANY(t.recipients) OR t.recipient = @viewer::text))`
}

// visible is the SQL condition under which the viewer (ViewerArgs) sees
// the escalation row e. A restricted escalation (a duress) is seen by
// global leads, the people it is restricted to and the people its tiers
// paged; for anybody else it does not exist, admins, auditors and its
// region's managers included. Lists filter with it in SQL so that their
// pages stay full and their cursors right.
var visible = `(e.restricted_to IS NULL OR @global_lead::boolean OR @viewer::text = ANY(e.restricted_to) OR ` + PagedSQL("e.id") + `)`

// Get returns one escalation, restricted or not: for the engine and the
// domains. The API reads with GetAs.
func (s *Store) Get(ctx context.Context, id uuid.UUID) (Escalation, error) {
	e, err := scan(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM escalations WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Escalation{}, ErrNotFound
	}
	if err != nil {
		return Escalation{}, fmt.Errorf("escalation: get %s: %w", id, err)
	}
	return e, nil
}

// GetAs returns one escalation as viewer may see it: ErrNotFound, as for
// an unknown ID, when it is restricted and out of their sight.
func (s *Store) GetAs(ctx context.Context, viewer auth.Identity, id uuid.UUID) (Escalation, error) {
	args := ViewerArgs(viewer)
	args["id"] = id
	e, err := scan(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM escalations e WHERE e.id = @id AND `+visible, args))
	if errors.Is(err, pgx.ErrNoRows) {
		return Escalation{}, ErrNotFound
	}
	if err != nil {
		return Escalation{}, fmt.Errorf("escalation: get %s: %w", id, err)
	}
	return e, nil
}

// ForIncident returns an incident's escalations, one per region, restricted
// or not: for the engine and the domains. The API reads with ForIncidentAs.
func (s *Store) ForIncident(ctx context.Context, incidentID uuid.UUID) ([]Escalation, error) {
	return s.forIncident(ctx, auth.Identity{}, incidentID, "TRUE")
}

// ForIncidentAs returns the incident's escalations viewer may see.
func (s *Store) ForIncidentAs(ctx context.Context, viewer auth.Identity, incidentID uuid.UUID) ([]Escalation, error) {
	return s.forIncident(ctx, viewer, incidentID, visible)
}

func (s *Store) forIncident(ctx context.Context, viewer auth.Identity, incidentID uuid.UUID, condition string) ([]Escalation, error) {
	args := ViewerArgs(viewer)
	args["incident"] = incidentID
	rows, err := s.pool.Query(ctx, `SELECT `+columns+` FROM escalations e WHERE e.incident_id = @incident AND `+condition+` ORDER BY e.region`, args)
	if err != nil {
		return nil, fmt.Errorf("escalation: for incident: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Escalation, error) { return scan(r) })
}

// Filter narrows List. Zero values match everything, but for Viewer.
type Filter struct {
	Region   string
	Status   Status
	Severity Severity
	Since    time.Time // started at or after
	Until    time.Time // started before
	// Viewer is who lists: the restricted escalations they may not see are
	// left out. The zero identity sees none of them.
	Viewer auth.Identity
}

// List returns escalations newest first. The cursor is the last seen ID:
// UUIDv7 IDs sort by creation time.
func (s *Store) List(ctx context.Context, f Filter, first int, after string) ([]Escalation, bool, error) {
	var afterID *uuid.UUID
	if after != "" {
		id, err := uuid.Parse(after)
		if err != nil {
			return nil, false, fault.Invalid("after", "is not a cursor from this list")
		}
		afterID = &id
	}
	var since, until *time.Time
	if !f.Since.IsZero() {
		since = &f.Since
	}
	if !f.Until.IsZero() {
		until = &f.Until
	}
	args := ViewerArgs(f.Viewer)
	args["region"], args["status"], args["severity"] = f.Region, string(f.Status), string(f.Severity)
	args["after"], args["since"], args["until"], args["limit"] = afterID, since, until, first+1
	rows, err := s.pool.Query(ctx, `SELECT `+columns+` FROM escalations e
		WHERE (@region::text = '' OR e.region = @region) AND (@status::text = '' OR e.status = @status)
		AND (@after::uuid IS NULL OR e.id < @after) AND (@severity::text = '' OR e.severity = @severity)
		AND (@since::timestamptz IS NULL OR e.started_at >= @since) AND (@until::timestamptz IS NULL OR e.started_at < @until)
		AND `+visible+`
		ORDER BY e.id DESC LIMIT @limit`, args)
	if err != nil {
		return nil, false, fmt.Errorf("escalation: list: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Escalation, error) { return scan(r) })
	if err != nil {
		return nil, false, fmt.Errorf("escalation: list: %w", err)
	}
	if len(list) > first {
		return list[:first], true, nil
	}
	return list, false, nil
}

// Stats are time-to-acknowledge and time-to-resolve percentiles.
type Stats struct {
	Opened, Acknowledged, Resolved int64
	// Nil when nothing was acknowledged (resolved) in the window.
	AckP50, AckP90, ResolveP50, ResolveP90 *time.Duration
}

// Stats summarises the escalations started since the instant, in region
// (every region when empty). Restricted escalations are left out for
// everyone, global leads included: a count or a percentile that moved
// would tell someone not cleared that a duress is under way.
func (s *Store) Stats(ctx context.Context, region string, since time.Time) (Stats, error) {
	var st Stats
	var ack50, ack90, res50, res90 *float64
	err := s.pool.QueryRow(ctx, `SELECT count(*), count(acknowledged_at), count(resolved_at),
		percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM acknowledged_at - started_at)),
		percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM acknowledged_at - started_at)),
		percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - started_at)),
		percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - started_at))
		FROM escalations WHERE ($1 = '' OR region = $1) AND started_at >= $2 AND restricted_to IS NULL`, region, since).
		Scan(&st.Opened, &st.Acknowledged, &st.Resolved, &ack50, &ack90, &res50, &res90)
	if err != nil {
		return Stats{}, fmt.Errorf("escalation: stats: %w", err)
	}
	seconds := func(f *float64) *time.Duration {
		if f == nil {
			return nil
		}
		d := time.Duration(*f * float64(time.Second))
		return &d
	}
	st.AckP50, st.AckP90, st.ResolveP50, st.ResolveP90 = seconds(ack50), seconds(ack90), seconds(res50), seconds(res90)
	return st, nil
}

// Timeline returns every step, oldest first.
func (s *Store) Timeline(ctx context.Context, id uuid.UUID) ([]TimelineEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT at, kind, actor, note, tier, recipient, channel, attempt
		FROM escalation_timeline WHERE escalation_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("escalation: timeline: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[TimelineEntry])
}

// Authorize is asked, inside the transaction, whether the caller may act on
// an escalation of the given region.
type Authorize func(region string) error

// Dispositions an acknowledgement may carry.
var Dispositions = []string{"NO_IMPACT", "IMPACT", "DUPLICATE", "FALSE_ALARM"}

// DecisionOptions refine an acknowledgement or a resolution.
type DecisionOptions struct {
	Disposition string // acknowledgements only; empty leaves it unset
	// FromWorkflow is true when the escalation workflow itself records the
	// decision (a Temporal Update): the outbox then carries no signal back
	// to it.
	FromWorkflow bool
}

// Acknowledge marks the escalation acknowledged: paging stops once the relay
// delivers the signal, and the paging activity checks this row before every
// page, so nobody is paged after an acknowledgement Postgres accepted.
// authorize sees the escalation's region; the API decides with Decide.
func (s *Store) Acknowledge(ctx context.Context, actor string, id uuid.UUID, note string, authorize Authorize) (Escalation, error) {
	return s.transition(ctx, actor, id, note, byRegion(authorize), SignalAcknowledge, DecisionOptions{})
}

// Resolve closes the escalation; authorize is as for Acknowledge.
func (s *Store) Resolve(ctx context.Context, actor string, id uuid.UUID, note string, authorize Authorize) (Escalation, error) {
	return s.transition(ctx, actor, id, note, byRegion(authorize), SignalResolve, DecisionOptions{})
}

// Decide records an acknowledgement (SignalAcknowledge) or a resolution
// (SignalResolve) by the caller, whom the escalation's Authority must allow
// unless the workflow already decided (opts.FromWorkflow).
func (s *Store) Decide(ctx context.Context, caller auth.Identity, id uuid.UUID, kind, note string, opts DecisionOptions) (Escalation, error) {
	action := ActAcknowledge
	switch kind {
	case SignalAcknowledge:
	case SignalResolve:
		action = ActResolve
	default:
		return Escalation{}, fmt.Errorf("escalation: unknown decision %q", kind)
	}
	check := func(ctx context.Context, tx pgx.Tx, e Escalation) error {
		if opts.FromWorkflow {
			return nil
		}
		return allowed(ctx, tx, e, caller, action)
	}
	return s.transition(ctx, caller.Subject, id, note, check, kind, opts)
}

// allowed asks the escalation's Authority, loaded in tx, whether caller may
// take action.
func allowed(ctx context.Context, tx pgx.Tx, e Escalation, caller auth.Identity, action policy.Action) error {
	a, err := authorityOf(ctx, tx, e)
	if err != nil {
		return err
	}
	return a.Allow(caller, action)
}

// check is asked, inside the transaction and with the escalation's row
// locked, whether the change may go ahead.
type check func(ctx context.Context, tx pgx.Tx, e Escalation) error

func byRegion(authorize Authorize) check {
	return func(_ context.Context, _ pgx.Tx, e Escalation) error { return authorize(e.Region) }
}

func (s *Store) transition(ctx context.Context, actor string, id uuid.UUID, note string, allow check, signal string, opts DecisionOptions) (Escalation, error) {
	if err := ValidateNote(note); err != nil {
		return Escalation{}, err
	}
	if opts.Disposition != "" && !slices.Contains(Dispositions, opts.Disposition) {
		return Escalation{}, fault.Invalid("disposition", "must be one of %v", Dispositions)
	}
	var after Escalation
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		before, err := scan(tx.QueryRow(ctx, `SELECT `+columns+` FROM escalations WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("escalation: lock %s: %w", id, err)
		}
		// What the escalation's state refuses comes first, then who may act:
		// the order the workflow's validators answer in.
		if before.Status == StatusResolved {
			return ErrAlreadyResolved
		}
		if signal == SignalAcknowledge && before.Status == StatusAcknowledged {
			return fmt.Errorf("%w by %s", ErrAlreadyAcked, deref(before.AcknowledgedBy))
		}
		if err := allow(ctx, tx, before); err != nil {
			return err
		}
		kind, action := KindResolved, "escalation.resolve"
		if signal == SignalAcknowledge {
			kind, action = KindAcknowledged, "escalation.acknowledge"
			after, err = scan(tx.QueryRow(ctx, `UPDATE escalations SET status = 'ACKNOWLEDGED', acknowledged_by = $2,
				acknowledged_at = now(), disposition = nullif($3, '') WHERE id = $1 RETURNING `+columns, id, actor, opts.Disposition))
		} else {
			after, err = scan(tx.QueryRow(ctx, `UPDATE escalations SET status = 'RESOLVED', resolved_by = $2,
				resolved_at = now() WHERE id = $1 RETURNING `+columns, id, actor))
		}
		if err != nil {
			return fmt.Errorf("escalation: %s %s: %w", signal, id, err)
		}
		b := &pgx.Batch{}
		stepNote := note
		if opts.Disposition != "" {
			stepNote = strings.TrimSpace(opts.Disposition + ": " + note)
		}
		b.Queue(`INSERT INTO escalation_timeline (escalation_id, kind, actor, note) VALUES ($1, $2, $3, $4)`, id, kind, actor, stepNote)
		if err := audit.Queue(ctx, b, audit.Entry{Actor: actor, Action: action, ObjectType: "Escalation",
			ObjectID: id.String(), Before: before, After: after, RestrictedTo: before.RestrictedTo}); err != nil {
			return err
		}
		changed := ChangedEvent{Escalation: after, Signal: signal, Actor: actor, Note: note}
		if opts.FromWorkflow {
			changed.Signal = "" // the workflow already knows
		}
		if err := outbox.QueueEnqueue(ctx, b, outbox.TopicEscalationChanged, changed); err != nil {
			return err
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return Escalation{}, err
	}
	return after, nil
}

func deref(s *string) string {
	if s == nil {
		return "someone"
	}
	return *s
}

// AddNote puts the caller's note on the timeline, at any stage (after the
// resolution too: what was learnt belongs with the incident), when the
// escalation's Authority lets them. A retried request with the same
// requestKey adds the note once.
func (s *Store) AddNote(ctx context.Context, caller auth.Identity, id uuid.UUID, note, requestKey string) (Escalation, error) {
	actor := caller.Subject
	note = strings.TrimSpace(note)
	if note == "" {
		return Escalation{}, fault.Invalid("note", "must not be empty")
	}
	if err := ValidateNote(note); err != nil {
		return Escalation{}, err
	}
	var e Escalation
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		e, err = scan(tx.QueryRow(ctx, `SELECT `+columns+` FROM escalations WHERE id = $1`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("escalation: note on %s: %w", id, err)
		}
		if err := allowed(ctx, tx, e, caller, ActNote); err != nil {
			return err
		}
		var key *string
		if requestKey != "" {
			k := fmt.Sprintf("%s:note:%s:%s", id, actor, requestKey)
			key = &k
		}
		tag, err := tx.Exec(ctx, `INSERT INTO escalation_timeline (escalation_id, kind, actor, note, dedupe_key)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (dedupe_key) DO NOTHING`, id, KindNote, actor, note, key)
		if err != nil {
			return fmt.Errorf("escalation: note on %s: %w", id, err)
		}
		if tag.RowsAffected() == 0 {
			return nil // the same request, retried
		}
		b := &pgx.Batch{}
		if err := audit.Queue(ctx, b, audit.Entry{Actor: actor, Action: "escalation.note", ObjectType: "Escalation",
			ObjectID: id.String(), After: map[string]string{"note": note}, RestrictedTo: e.RestrictedTo}); err != nil {
			return err
		}
		if err := outbox.QueueEnqueue(ctx, b, outbox.TopicEscalationChanged, ChangedEvent{Escalation: e}); err != nil {
			return err
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return Escalation{}, err
	}
	return e, nil
}

// HandOff passes the escalation to another region: it is open again there,
// under that region's policy for its severity (returned; the default's waits
// are the caller's), with a HANDED_OFF step the giving region keeps seeing.
func (s *Store) HandOff(ctx context.Context, actor string, id uuid.UUID, toRegion, note string) (Escalation, Policy, error) {
	var after Escalation
	var policy Policy
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		before, err := scan(tx.QueryRow(ctx, `SELECT `+columns+` FROM escalations WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("escalation: hand off %s: %w", id, err)
		}
		if before.Status == StatusResolved {
			return ErrAlreadyResolved
		}
		if before.Restricted() {
			// The workflow's validators do not know the restriction; this
			// refusal reaches its caller through the hand-off activity.
			return ErrRestrictedHandOff
		}
		if before.Region == toRegion {
			return nil // an earlier attempt already handed it off
		}
		if policy, err = CurrentPolicy(ctx, tx, toRegion, before.Severity); err != nil {
			return err
		}
		after, err = scan(tx.QueryRow(ctx, `UPDATE escalations SET region = $2, status = 'OPEN', acknowledged_by = NULL,
			acknowledged_at = NULL, disposition = NULL, tier = 0, policy_name = $3, policy_version = $4, policy_id = $5
			WHERE id = $1 RETURNING `+columns, id, toRegion, policy.Name, policy.Version, policyIDOf(policy)))
		if postgres.IsForeignKeyViolation(err) {
			return fault.Invalid("toRegion", "%q is not a known region", toRegion)
		}
		if err != nil {
			return fmt.Errorf("escalation: hand off %s: %w", id, err)
		}
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO escalation_timeline (escalation_id, kind, actor, note) VALUES ($1, $2, $3, $4)`,
			id, KindHandedOff, actor, strings.TrimSpace(fmt.Sprintf("from %s to %s. %s", before.Region, toRegion, note)))
		if err := audit.Queue(ctx, b, audit.Entry{Actor: actor, Action: "escalation.hand_off", ObjectType: "Escalation",
			ObjectID: id.String(), Before: before, After: after}); err != nil {
			return err
		}
		if err := outbox.QueueEnqueue(ctx, b, outbox.TopicEscalationChanged, ChangedEvent{Escalation: after}); err != nil {
			return err
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return Escalation{}, Policy{}, err
	}
	if after.ID == uuid.Nil { // already handed off: answer with what is there
		if after, err = s.Get(ctx, id); err != nil {
			return Escalation{}, Policy{}, err
		}
		if policy, err = CurrentPolicy(ctx, s.pool, toRegion, after.Severity); err != nil {
			return Escalation{}, Policy{}, err
		}
	}
	return after, policy, nil
}

// HasStep reports whether a step with the dedupe key is on a timeline. An
// error reads as "no": the caller then does the step, and RecordStep's
// dedupe keeps the timeline right.
func (s *Store) HasStep(ctx context.Context, dedupeKey string) bool {
	var found bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM escalation_timeline WHERE dedupe_key = $1)`, dedupeKey).Scan(&found)
	return err == nil && found
}

// Step is a timeline entry written by the workflow's activities.
type Step struct {
	EscalationID uuid.UUID
	Kind         string
	Actor        string
	Note         string
	Tier         int32 // the tier now reached; 0 leaves it unchanged
	// AboutTier names the tier of a step that does not move the escalation:
	// a delivery finishing late (after a hand-off reset the tier, say) must
	// not raise it again.
	AboutTier int32
	// DedupeKey makes a retried activity record its step once.
	DedupeKey string
	// Recipient, Channel and Attempt describe a step about one page.
	Recipient, Channel string
	Attempt            int32
	// Recipients of a PAGED step are everyone the tier pages: they may then
	// act on the escalation (see Authority).
	Recipients []string
}

// RecordStep appends a workflow step to the timeline, raises the tier and
// announces the change, once per DedupeKey.
func (s *Store) RecordStep(ctx context.Context, step Step) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// An empty key is stored as NULL: steps without a key are never
		// deduplicated against each other.
		tag, err := tx.Exec(ctx, `INSERT INTO escalation_timeline (escalation_id, kind, actor, note, dedupe_key,
			tier, recipient, channel, attempt, recipients)
			VALUES ($1, $2, $3, $4, NULLIF($5, ''), NULLIF($6, 0), NULLIF($7, ''), NULLIF($8, ''), NULLIF($9, 0), $10)
			ON CONFLICT (dedupe_key) DO NOTHING`,
			step.EscalationID, step.Kind, step.Actor, step.Note, step.DedupeKey, max(step.Tier, step.AboutTier), step.Recipient, step.Channel, step.Attempt,
			step.Recipients)
		if postgres.IsForeignKeyViolation(err) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("escalation: record %s: %w", step.Kind, err)
		}
		if tag.RowsAffected() == 0 {
			return nil // already recorded by an earlier attempt
		}
		esc, err := scan(tx.QueryRow(ctx, `UPDATE escalations SET tier = GREATEST(tier, $2) WHERE id = $1 RETURNING `+columns,
			step.EscalationID, step.Tier))
		if err != nil {
			return fmt.Errorf("escalation: record %s: %w", step.Kind, err)
		}
		return outbox.Enqueue(ctx, tx, outbox.TopicEscalationChanged, ChangedEvent{Escalation: esc})
	})
}
