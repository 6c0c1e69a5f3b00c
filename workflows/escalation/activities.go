package escalation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/directory"
	esc "meridian.dev/platform/escalation"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/notify"
	"meridian.dev/platform/schedule"
)

// Page is the body of a webhook page.
type Page = notify.Page

// Activities holds the dependencies of the escalation activities.
type Activities struct {
	Escalations *esc.Store
	Directory   *directory.Store
	Schedules   *schedule.Store
	// Sender delivers pages; its default webhook also receives the
	// tier-wide pages of escalations started before per-person paging.
	Sender *notify.Sender
	// TierWait is the default policy's wait, for hand-offs to a region with
	// no written policy.
	TierWait time.Duration
	Log      *slog.Logger
}

// Page pages every person the tier targets with one webhook to the default
// receiver, unless Postgres already shows the escalation acknowledged or
// resolved. The page carries an idempotency key per escalation, tier and
// round, so a receiver can drop a retried one. Escalations started since
// per-person paging use PlanPages and Deliver; this remains for those
// started before, which replay down the old path.
func (a *Activities) Page(ctx context.Context, req PageRequest) (PageResult, error) {
	id, err := uuid.Parse(req.Input.EscalationID)
	if err != nil {
		return PageResult{}, fmt.Errorf("page: bad escalation id: %w", err)
	}
	current, err := a.Escalations.Get(ctx, id)
	if err != nil {
		return PageResult{}, fmt.Errorf("page: %w", err)
	}
	if current.Status == esc.StatusResolved || current.Status != esc.StatusOpen && !req.Reminder {
		return PageResult{Skipped: true, Status: string(current.Status)}, nil
	}
	if req.Tier < 1 || req.Tier > len(req.Input.Policy.Tiers) {
		return PageResult{}, fmt.Errorf("page: tier %d not in policy", req.Tier)
	}
	tier := req.Input.Policy.Tiers[req.Tier-1]
	recipients, err := a.recipients(ctx, tier)
	if err != nil {
		return PageResult{}, fmt.Errorf("page: %w", err)
	}
	key := fmt.Sprintf("%s:tier%d:round%d", req.Input.EscalationID, req.Tier, req.Round)
	page := Page{
		IdempotencyKey: key, EscalationID: req.Input.EscalationID, Tier: req.Tier, TierName: tier.Name,
		Site: req.Input.SiteCode, SiteName: req.Input.SiteName, Region: req.Input.Region, Level: req.Input.Level,
		Posture: req.Input.Posture, Note: req.Input.Note, Recipients: recipients, SentAt: time.Now().UTC(),
	}
	names := make([]string, len(recipients))
	for i, p := range recipients {
		names[i] = p.Subject
	}
	if a.Escalations.HasStep(ctx, key+":paged") {
		// An earlier attempt sent this page and recorded it, then died
		// before reporting: do not page again.
		return PageResult{Status: string(current.Status), Recipients: names}, nil
	}
	if len(recipients) == 0 {
		// Nobody to page is itself worth seeing on the timeline.
		return PageResult{Status: string(current.Status)}, a.Escalations.RecordStep(ctx, esc.Step{EscalationID: id, Kind: esc.KindPageFailed,
			Actor: "meridian", Tier: int32(req.Tier), DedupeKey: key + ":nobody",
			Note: fmt.Sprintf("tier %d (%s): nobody holds this role", req.Tier, tier.Name)})
	}
	target := notify.Address{Channel: notify.ChannelWebhook, Target: a.Sender.DefaultWebhookURL}
	if err := a.Sender.Send(ctx, target, page); err != nil {
		info := activity.GetInfo(ctx)
		a.Log.WarnContext(ctx, "page failed", "escalation", id, "tier", req.Tier, "attempt", info.Attempt, "err", err)
		return PageResult{}, err
	}
	err = a.Escalations.RecordStep(ctx, esc.Step{EscalationID: id, Kind: esc.KindPaged, Actor: "meridian",
		Tier: int32(req.Tier), DedupeKey: key + ":paged", Recipients: names,
		Note: fmt.Sprintf("tier %d (%s) paged by webhook: %v", req.Tier, tier.Name, names)})
	if err != nil {
		return PageResult{}, err
	}
	return PageResult{Status: string(current.Status), Recipients: names}, nil
}

// resolve turns a target into people, now.
func (a *Activities) resolve(ctx context.Context, t Target) ([]directory.Person, error) {
	switch t.Kind {
	case "", esc.TargetRole:
		return a.Directory.InRole(ctx, t.Role, t.Region)
	case esc.TargetUser:
		return a.Directory.People(ctx, []string{t.Subject})
	case esc.TargetSchedule, esc.TargetDuty:
		region := t.Region
		now := time.Now()
		if t.Kind == esc.TargetDuty {
			hours, err := a.Schedules.Hours(ctx)
			if err != nil {
				return nil, err
			}
			if region, _, err = schedule.DutyRegion(hours, now); err != nil {
				return nil, err
			}
		}
		shifts, err := a.Schedules.OnCallIn(ctx, region, now)
		if err != nil {
			return nil, err
		}
		subjects := make([]string, len(shifts))
		for i, s := range shifts {
			subjects[i] = s.Person
		}
		return a.Directory.People(ctx, subjects)
	}
	return nil, fmt.Errorf("unknown target kind %q", t.Kind)
}

// Decide records a decision that reached the workflow as an Update. Retried
// after a commit it finds the decision already there and succeeds.
func (a *Activities) Decide(ctx context.Context, req DecideRequest) error {
	id, err := uuid.Parse(req.EscalationID)
	if err != nil {
		return fmt.Errorf("decide: bad escalation id: %w", err)
	}
	// The workflow's validator decided who may (esc.Authority).
	opts := esc.DecisionOptions{Disposition: req.Decision.Disposition, FromWorkflow: true}
	actor := auth.Identity{Subject: req.Decision.Actor, Roles: req.Decision.Roles, Regions: req.Decision.Regions}
	switch req.Kind {
	case UpdateAcknowledge:
		_, err = a.Escalations.Decide(ctx, actor, id, esc.SignalAcknowledge, req.Decision.Note, opts)
		if errors.Is(err, esc.ErrAlreadyAcked) {
			return nil
		}
	case UpdateResolve:
		_, err = a.Escalations.Decide(ctx, actor, id, esc.SignalResolve, req.Decision.Note, opts)
		if errors.Is(err, esc.ErrAlreadyResolved) {
			return nil
		}
	case UpdateEscalateNow:
		err = a.Escalations.RecordStep(ctx, esc.Step{EscalationID: id, Kind: esc.KindEscalated, Actor: req.Decision.Actor,
			Note:      strings.TrimSpace(fmt.Sprintf("escalated by hand past tier %d. %s", req.Tier, req.Decision.Note)),
			Tier:      int32(req.Tier),
			DedupeKey: fmt.Sprintf("%s:tier%d:round%d:escalated", req.EscalationID, req.Tier, req.Round)})
	default:
		return fmt.Errorf("decide: unknown decision %q", req.Kind)
	}
	return err
}

// HandOff records a hand-off in Postgres and returns the receiving region's
// policy, to be frozen into the escalation from now on.
func (a *Activities) HandOff(ctx context.Context, req HandOffRequest) (HandOffResult, error) {
	id, err := uuid.Parse(req.EscalationID)
	if err != nil {
		return HandOffResult{}, fmt.Errorf("hand off: bad escalation id: %w", err)
	}
	_, policy, err := a.Escalations.HandOff(ctx, req.HandOff.Actor, id, req.HandOff.ToRegion, req.HandOff.Note)
	switch code := fault.CodeOf(err); {
	case err == nil:
	case code == fault.Conflict || code == fault.BadUserInput:
		// The caller's mistake, not the system's: refuse it with its code.
		return HandOffResult{}, temporal.NewNonRetryableApplicationError(err.Error(), string(code), err)
	default:
		return HandOffResult{}, err // Postgres trouble: retried
	}
	if policy.Version == 0 {
		return HandOffResult{Policy: DefaultPolicy(req.HandOff.ToRegion, a.TierWait)}, nil
	}
	return HandOffResult{Policy: policy}, nil
}

// RecordStep writes a workflow step to the timeline.
func (a *Activities) RecordStep(ctx context.Context, req StepRequest) error {
	id, err := uuid.Parse(req.EscalationID)
	if err != nil {
		return fmt.Errorf("record step: bad escalation id: %w", err)
	}
	return a.Escalations.RecordStep(ctx, esc.Step{EscalationID: id, Kind: req.Kind, Actor: "meridian",
		Note: req.Note, Tier: int32(req.Tier), AboutTier: int32(req.AboutTier), DedupeKey: req.DedupeKey,
		Recipient: req.Recipient, Channel: req.Channel})
}
