package escalation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"meridian.dev/platform/directory"
	esc "meridian.dev/platform/escalation"
	"meridian.dev/platform/notify"
)

// Error types of delivery failures not worth a retry.
const errPermanentDelivery = "PermanentDelivery"

// PlanPages decides whom a tier pages and on which channels, and puts that
// on the timeline (one PAGED step per tier and round) before any page goes
// out, so the workflow knows who may acknowledge before anyone is told.
// Like Page, it pages nobody when Postgres shows the escalation
// acknowledged (unless this is a reminder) or resolved.
func (a *Activities) PlanPages(ctx context.Context, req PageRequest) (PlanResult, error) {
	id, err := uuid.Parse(req.Input.EscalationID)
	if err != nil {
		return PlanResult{}, temporal.NewNonRetryableApplicationError("plan pages: bad escalation id", "BadInput", err)
	}
	if req.Tier < 1 || req.Tier > len(req.Input.Policy.Tiers) {
		return PlanResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("plan pages: tier %d not in policy", req.Tier), "BadInput", nil)
	}
	current, err := a.Escalations.Get(ctx, id)
	if err != nil {
		return PlanResult{}, fmt.Errorf("plan pages: %w", err)
	}
	if current.Status == esc.StatusResolved || current.Status != esc.StatusOpen && !req.Reminder {
		return PlanResult{PageResult: PageResult{Skipped: true, Status: string(current.Status)}}, nil
	}
	tier := req.Input.Policy.Tiers[req.Tier-1]
	people, err := a.recipients(ctx, tier)
	if err != nil {
		return PlanResult{}, fmt.Errorf("plan pages: %w", err)
	}
	key := fmt.Sprintf("%s:tier%d:round%d", req.Input.EscalationID, req.Tier, req.Round)
	res := PlanResult{PageResult: PageResult{Status: string(current.Status)}}
	if len(people) == 0 {
		return res, a.Escalations.RecordStep(ctx, esc.Step{EscalationID: id, Kind: esc.KindPageFailed,
			Actor: "meridian", Tier: int32(req.Tier), DedupeKey: key + ":nobody",
			Note: fmt.Sprintf("tier %d (%s): nobody to page", req.Tier, tier.Name)})
	}
	subjects := make([]string, len(people))
	for i, p := range people {
		subjects[i] = p.Subject
	}
	contacts, err := a.Directory.ContactsOf(ctx, subjects)
	if err != nil {
		return PlanResult{}, fmt.Errorf("plan pages: %w", err)
	}
	var paging, unreachable []string
	for _, p := range people {
		var channels, missing []string
		for _, ch := range tier.PageChannels() {
			if _, err := a.Sender.Resolve(ch, addresses(contacts[p.Subject])); err != nil {
				missing = append(missing, fmt.Sprintf("%s: %v", ch, err))
				continue
			}
			channels = append(channels, ch)
		}
		if len(channels) == 0 && !slices.Contains(tier.PageChannels(), notify.ChannelWebhook) {
			// Nobody may fall through a gap: with none of the tier's
			// channels on file, use the organisation's webhook.
			if _, err := a.Sender.Resolve(notify.ChannelWebhook, addresses(contacts[p.Subject])); err == nil {
				channels = append(channels, notify.ChannelWebhook)
				missing = append(missing, "paged by WEBHOOK instead")
			}
		}
		if len(missing) > 0 {
			unreachable = append(unreachable, fmt.Sprintf("%s (%s)", p.Subject, strings.Join(missing, "; ")))
		}
		if len(channels) == 0 {
			continue
		}
		res.Recipients = append(res.Recipients, p.Subject)
		paging = append(paging, fmt.Sprintf("%s by %s", p.Subject, strings.Join(channels, ", ")))
		for _, ch := range channels {
			res.Deliveries = append(res.Deliveries, Delivery{Subject: p.Subject, Channel: ch})
		}
	}
	note := fmt.Sprintf("tier %d (%s), round %d: paging %s", req.Tier, tier.Name, max(req.Round, 1), strings.Join(paging, "; "))
	if len(paging) == 0 {
		note = fmt.Sprintf("tier %d (%s), round %d: nobody can be reached", req.Tier, tier.Name, max(req.Round, 1))
	}
	if req.Reminder {
		note = "reminder: " + note
	}
	if len(unreachable) > 0 {
		note += ". Not reachable: " + strings.Join(unreachable, "; ")
	}
	kind := esc.KindPaged
	if len(paging) == 0 {
		kind = esc.KindPageFailed
	}
	err = a.Escalations.RecordStep(ctx, esc.Step{EscalationID: id, Kind: kind, Actor: "meridian",
		Tier: int32(req.Tier), DedupeKey: key + ":paged", Note: note, Recipients: res.Recipients})
	if err != nil {
		return PlanResult{}, err
	}
	return res, nil
}

func addresses(c directory.Contacts) notify.Addresses {
	return notify.Addresses{Email: c.Email, WebhookURL: c.WebhookURL, SlackURL: c.SlackWebhookURL}
}

// recipients resolves a tier's targets into people, each once.
func (a *Activities) recipients(ctx context.Context, tier Tier) ([]directory.Person, error) {
	var out []directory.Person
	seen := map[string]bool{}
	for _, t := range tier.Targets {
		people, err := a.resolve(ctx, t)
		if err != nil {
			return nil, err
		}
		for _, p := range people {
			if !seen[p.Subject] {
				seen[p.Subject] = true
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// Deliver sends one page to one person on one channel, and puts the
// outcome on the timeline: DELIVERED, or DELIVERY_FAILED for each failed
// attempt. The idempotency key (escalation, tier, round, person, channel)
// travels with the page, and a page already recorded as delivered is not
// sent again, so a retried activity does not page twice.
func (a *Activities) Deliver(ctx context.Context, req DeliverRequest) (DeliverResult, error) {
	id, err := uuid.Parse(req.EscalationID)
	if err != nil {
		return DeliverResult{}, temporal.NewNonRetryableApplicationError("deliver: bad escalation id", "BadInput", err)
	}
	key := req.IdempotencyKey()
	if a.Escalations.HasStep(ctx, key+":delivered") {
		return DeliverResult{AlreadySent: true}, nil
	}
	current, err := a.Escalations.Get(ctx, id)
	if err != nil {
		return DeliverResult{}, fmt.Errorf("deliver: %w", err)
	}
	if current.Status == esc.StatusResolved || current.Status != esc.StatusOpen && !req.Reminder {
		return DeliverResult{Skipped: true}, nil
	}
	attempt := activity.GetInfo(ctx).Attempt
	person, contacts, err := a.Directory.Reach(ctx, req.Subject)
	if errors.Is(err, directory.ErrUnknownPerson) {
		return DeliverResult{}, a.deliveryFailed(ctx, id, req, attempt,
			notify.Permanent(fmt.Errorf("%s is no longer in the directory", req.Subject)))
	}
	if err != nil {
		return DeliverResult{}, fmt.Errorf("deliver: %w", err)
	}
	page := notify.Page{
		IdempotencyKey: key, EscalationID: req.EscalationID, Tier: req.Tier, TierName: req.TierName, Round: req.Round,
		Reminder: req.Reminder, Site: req.Site, SiteName: req.SiteName, Region: req.Region, Level: req.Level,
		Posture: req.Posture, Note: req.Note, Recipients: []directory.Person{person}, SentAt: time.Now().UTC(),
	}
	addr, err := a.Sender.Resolve(req.Channel, addresses(contacts))
	if err == nil {
		err = a.Sender.Send(ctx, addr, page)
	}
	if err != nil {
		return DeliverResult{}, a.deliveryFailed(ctx, id, req, attempt, err)
	}
	err = a.Escalations.RecordStep(ctx, esc.Step{EscalationID: id, Kind: esc.KindDelivered, Actor: "meridian",
		AboutTier: int32(req.Tier), DedupeKey: key + ":delivered", Recipient: req.Subject, Channel: req.Channel, Attempt: attempt,
		Note: fmt.Sprintf("tier %d page delivered to %s by %s (attempt %d)", req.Tier, req.Subject, req.Channel, attempt)})
	if err != nil {
		// Sent but not recorded: the retry will send it again with the same
		// key, which the receiver can drop.
		return DeliverResult{}, fmt.Errorf("deliver: record delivery: %w", err)
	}
	return DeliverResult{}, nil
}

// deliveryFailed records one failed attempt and returns the error Temporal
// should see: retryable, unless retrying cannot help.
func (a *Activities) deliveryFailed(ctx context.Context, id uuid.UUID, req DeliverRequest, attempt int32, cause error) error {
	permanent := notify.IsPermanent(cause)
	next := "will retry"
	switch {
	case permanent:
		next = "not retried: retrying cannot fix this"
	case req.MaxAttempts > 0 && int(attempt) >= req.MaxAttempts:
		next = "no attempts left"
	}
	a.Log.WarnContext(ctx, "page delivery failed", "escalation", id, "tier", req.Tier, "recipient", req.Subject,
		"channel", req.Channel, "attempt", attempt, "err", cause)
	err := a.Escalations.RecordStep(ctx, esc.Step{EscalationID: id, Kind: esc.KindDeliveryFailed, Actor: "meridian",
		AboutTier: int32(req.Tier), DedupeKey: fmt.Sprintf("%s:failed:%d", req.IdempotencyKey(), attempt), Recipient: req.Subject, Channel: req.Channel,
		Attempt: attempt,
		Note:    fmt.Sprintf("tier %d page to %s by %s failed (attempt %d of %d): %v; %s", req.Tier, req.Subject, req.Channel, attempt, req.MaxAttempts, cause, next)})
	if err != nil {
		a.Log.WarnContext(ctx, "record delivery failure", "escalation", id, "err", err)
	}
	if permanent {
		return temporal.NewNonRetryableApplicationError(cause.Error(), errPermanentDelivery, cause)
	}
	return cause
}
