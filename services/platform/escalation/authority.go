package escalation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/policy"
)

// Actions on one escalation. Who may take them depends on the escalation
// itself (its policy, how far it climbed, whom it paged), so Authority
// decides them, not policy.Allow's region rule.
const (
	ActAcknowledge = policy.AcknowledgeEscalation
	ActResolve     = policy.ResolveEscalation
	ActEscalateNow = policy.Action("escalation.escalate_now")
	ActNote        = policy.Action("escalation.note")
	ActHandOff     = policy.HandOffEscalation
)

// ErrNotResponder refuses someone the escalation did not call on.
var ErrNotResponder = fault.New(fault.Forbidden, "only the people this escalation's tiers call on so far, global leads and admins may do this")

// ErrNotOwner refuses someone who neither responds to the escalation nor
// manages its region.
var ErrNotOwner = fault.New(fault.Forbidden, "only the escalation's responders, the managers of its region, global leads and admins may do this")

// ErrRestrictedResponder refuses someone acting on a restricted escalation
// (a duress) whom it has not called on: its region's managers and admins
// included.
var ErrRestrictedResponder = fault.New(fault.Forbidden,
	"a restricted escalation is acted on only by the people its tiers call on so far and global leads")

// ErrRestrictedHandOff refuses every hand-off of a restricted escalation.
// It is the escalation's nature, not the caller's rights, that refuses, and
// a BAD_USER_INPUT is also what the workflow's hand-off activity passes on
// without retrying.
var ErrRestrictedHandOff = fault.Invalid("escalationId",
	"a restricted escalation (a duress) stays with the detail's leader and the global leads: it cannot be handed off")

// Authority is everything that decides who may act on one escalation, in
// one place: the workflow's update validators build it from the workflow's
// state, and Postgres-only paths (a decision while Temporal is down, a
// note) load it with the escalation. Both then ask Allow, so the two can
// never disagree.
type Authority struct {
	// Region owns the escalation now; it changes with a hand-off.
	Region string
	// Tiers is the owning region's policy, frozen into the escalation.
	Tiers []Tier
	// Tier is the tier paged most recently (1-based; 0 before the first).
	Tier int
	// Paged is everyone the owning region's tiers paged so far.
	Paged []string
	// RestrictedTo, when not nil, makes the escalation restricted (a
	// duress, Escalation.RestrictedTo): only its responders and global
	// leads act on it, and it is never handed off.
	RestrictedTo []string
}

// Allow decides whether id may take action on the escalation.
//
// Responders may acknowledge: a target of a tier paged so far, and of the
// first tier from the moment the escalation opens (a ROLE target matches
// the roles and regions in the caller's token, so a manager who is not in
// the paging directory still qualifies; USER, SCHEDULE and DUTY targets
// match the people they resolved to when paged, whatever region they are
// in), global leads and admins. Earlier tiers stay responders on purpose: at
// 3 a.m. the first-tier manager who wakes up late must still be able to stop
// the climb. Owners, who may also resolve, escalate now, hand off and add
// notes, are the responders and the managers of the owning region.
//
// A restricted escalation has no owners beyond its responders and global
// leads: an admin or a manager of its region who was not called on may not
// touch it, and nobody hands it off.
func (a Authority) Allow(id auth.Identity, action policy.Action) error {
	if id.Subject == "" {
		return auth.ErrUnauthenticated
	}
	if a.RestrictedTo != nil {
		return a.allowRestricted(id, action)
	}
	if id.HasRole(auth.RoleGlobalLead) || id.HasRole(auth.RoleAdmin) || a.responds(id) {
		return nil
	}
	switch action {
	case ActAcknowledge:
		return ErrNotResponder
	case ActResolve, ActEscalateNow, ActHandOff, ActNote:
		if id.HasRole(auth.RoleRegionalManager) && id.InRegion(a.Region) {
			return nil
		}
		return ErrNotOwner
	}
	return fmt.Errorf("%w: %s", policy.ErrForbidden, action)
}

func (a Authority) allowRestricted(id auth.Identity, action policy.Action) error {
	switch {
	case action == ActHandOff:
		return ErrRestrictedHandOff
	case action != ActAcknowledge && action != ActResolve && action != ActEscalateNow && action != ActNote:
		return fmt.Errorf("%w: %s", policy.ErrForbidden, action)
	case id.HasRole(auth.RoleGlobalLead) || a.responds(id):
		return nil
	}
	return ErrRestrictedResponder
}

// responds reports whether id is among the people the tiers reached so far
// call on.
func (a Authority) responds(id auth.Identity) bool {
	if slices.Contains(a.Paged, id.Subject) {
		return true
	}
	for _, tier := range a.Tiers[:min(max(a.Tier, 1), len(a.Tiers))] {
		for _, t := range tier.Targets {
			if (t.Kind == TargetRole || t.Kind == "") && id.HasRole(t.Role) && (t.Region == "" || id.InRegion(t.Region)) {
				return true
			}
		}
	}
	return false
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// authorityOf loads what decides who may act on e, from Postgres. Inside a
// transaction that locked the escalation's row, it cannot change under the
// decision.
func authorityOf(ctx context.Context, q querier, e Escalation) (Authority, error) {
	policy, err := FrozenPolicy(ctx, q, e)
	if err != nil {
		return Authority{}, err
	}
	a := Authority{Region: e.Region, Tiers: policy.Tiers, Tier: int(e.Tier), RestrictedTo: e.RestrictedTo}
	// Only the owning region's pages count: a hand-off passes the escalation
	// on, and the people the giving region paged no longer answer for it.
	// A PAGED step lists its tier's people; a delivery names its one person
	// (the only record of whom a tier paged before PAGED steps listed them).
	err = q.QueryRow(ctx, `SELECT coalesce(array_agg(DISTINCT who), '{}') FROM (
			SELECT unnest(recipients) AS who, id FROM escalation_timeline WHERE escalation_id = $1 AND kind = $2
			UNION ALL
			SELECT recipient, id FROM escalation_timeline WHERE escalation_id = $1 AND recipient IS NOT NULL
		) paged
		WHERE id > coalesce((SELECT max(id) FROM escalation_timeline WHERE escalation_id = $1 AND kind = $3), 0)`,
		e.ID, KindPaged, KindHandedOff).Scan(&a.Paged)
	if err != nil {
		return Authority{}, fmt.Errorf("escalation: who was paged for %s: %w", e.ID, err)
	}
	return a, nil
}

// FrozenPolicy returns the policy the escalation runs under in its owning
// region: the written version frozen when it opened (or was handed off), or
// the built-in default.
func FrozenPolicy(ctx context.Context, q querier, e Escalation) (Policy, error) {
	if e.PolicyID == nil {
		return DefaultPolicy(e.Region, e.Severity, 0), nil
	}
	p, err := scanPolicy(q.QueryRow(ctx, `SELECT `+policyColumns+` FROM escalation_policies WHERE id = $1`, *e.PolicyID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Policy{}, fmt.Errorf("escalation: %s names policy %s, which does not exist", e.ID, *e.PolicyID)
	}
	return p, err
}

// policyIDOf is the column value recording a frozen policy: NULL for the
// built-in default.
func policyIDOf(p Policy) *uuid.UUID {
	if p.Version == 0 || p.ID == uuid.Nil {
		return nil
	}
	return &p.ID
}

// Authority loads what decides who may act on e now, for a caller asking
// what they could do (a board offering only the actions the mutations would
// take).
func (s *Store) Authority(ctx context.Context, e Escalation) (Authority, error) {
	return authorityOf(ctx, s.pool, e)
}

// Allow loads the escalation and answers whether caller may take action on
// it now, for paths that need the workflow but must still refuse the
// caller clearly when it is out of reach.
func (s *Store) Allow(ctx context.Context, caller auth.Identity, id uuid.UUID, action policy.Action) (Escalation, error) {
	e, err := s.Get(ctx, id)
	if err != nil {
		return Escalation{}, err
	}
	a, err := authorityOf(ctx, s.pool, e)
	if err != nil {
		return Escalation{}, err
	}
	return e, a.Allow(caller, action)
}

// Guard is what the API asks before it acts on an escalation for caller,
// before any workflow is asked: ErrNotFound when the escalation does not
// exist for them (unknown, or restricted and out of their sight, which
// must answer alike), and for a restricted escalation its Authority's
// answer, so a caller who may not see it learns nothing from the
// workflow's refusal. Runs started before escalations carried their
// restriction in the workflow's input rely on this check; an ordinary
// escalation is left to the workflow's validators.
func (s *Store) Guard(ctx context.Context, caller auth.Identity, id uuid.UUID, action policy.Action) error {
	e, err := s.GetAs(ctx, caller, id)
	if err != nil || !e.Restricted() {
		return err
	}
	a, err := authorityOf(ctx, s.pool, e)
	if err != nil {
		return err
	}
	return a.Allow(caller, action)
}

// ValidateNote checks the note a decision or a hand-off carries.
func ValidateNote(note string) error {
	if utf8.RuneCountInString(note) > MaxNoteLength {
		return fault.Invalid("note", "must be at most %d characters", MaxNoteLength)
	}
	return fault.CheckText("note", note)
}
