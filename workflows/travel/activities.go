package travel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"

	"meridian.dev/platform/directory"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/notify"
	trips "meridian.dev/platform/travel"
)

// Trips is what the activities need of the trip store (*trips.Store).
type Trips interface {
	AppendTimeline(ctx context.Context, tripID uuid.UUID, kind, actor, note, dedupeKey string) error
	RecordDecision(ctx context.Context, tripID uuid.UUID, round int, approve bool, actor, note string) (trips.Trip, error)
	ApprovalState(ctx context.Context, tripID uuid.UUID) (status string, round int, err error)
}

// Directory is who can be paged (*directory.Store).
type Directory interface {
	InRole(ctx context.Context, role, region string) ([]directory.Person, error)
	ContactsOf(ctx context.Context, subjects []string) (map[string]directory.Contacts, error)
}

// Pager delivers pages (*notify.Sender).
type Pager interface {
	Resolve(channel string, a notify.Addresses) (notify.Address, error)
	Send(ctx context.Context, addr notify.Address, page notify.Page) error
}

// Activities holds the dependencies of the trip approval activities.
type Activities struct {
	Trips     Trips
	Directory Directory
	Sender    Pager
	Log       *slog.Logger
}

func (a *Activities) log() *slog.Logger {
	if a.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Log
}

// approvalPending is the approval status (trips.approval_status) of a round
// waiting for its decision.
const approvalPending = "PENDING"

// AskDeciders pages the deciders for one step of the round (ASKED and REMINDED: the
// travel team, plus the global leads from level 4; ESCALATED: the global
// leads), each person on every channel they can be reached on, then records
// the step under its dedupe key with whom it paged and whom it could not.
//
// It pages nobody when Postgres no longer waits for this round's decision,
// and says so (AskResult.Settled). A page that fails is named in the step
// and not retried here: the next reminder pages again. Each page carries
// the key trip:<id>:r<round>:<step>:<person>:<CHANNEL>; the step's own
// dedupe key is trip:<id>:r<round>:<step>, so a retried activity that pages
// again is recognisable to the receiver, and records one step.
func (a *Activities) AskDeciders(ctx context.Context, req AskRequest) (AskResult, error) {
	in := req.Input
	status, round, err := a.Trips.ApprovalState(ctx, in.TripID)
	if err != nil {
		return AskResult{}, fmt.Errorf("ask: approval state: %w", err)
	}
	switch {
	case round > in.Round || status == "":
		// A later round, or none at all (the trip went back to draft):
		// nobody waits for this round's decision.
		return AskResult{Settled: StatusSuperseded}, nil
	case status != approvalPending && status != trips.StatusPendingApproval:
		return AskResult{Settled: status}, nil
	}

	roles := deciderRoles(in.Level)
	what := "asked"
	note := fmt.Sprintf("Trip approval needed: %s, %s, level %d, departs %s, decide by %s",
		in.Traveller, in.Purpose, in.Level, when(in.Departure), when(in.Deadline))
	switch req.Kind {
	case KindReminded:
		what = fmt.Sprintf("reminded:%d", req.Reminder)
		note = fmt.Sprintf("Reminder %d: %s", req.Reminder, note)
	case KindEscalated:
		roles, what = []string{RoleGlobalLead}, "escalated"
		note = fmt.Sprintf("Nobody decided trip %s (%s, %s, level %d) before the deadline %s; it departs %s. Please decide it in Meridian now.",
			in.TripID, in.Traveller, in.Purpose, in.Level, when(in.Deadline), when(in.Departure))
	}
	key := fmt.Sprintf("trip:%s:r%d:%s", in.TripID, in.Round, what)

	people, err := a.people(ctx, roles)
	if err != nil {
		return AskResult{}, fmt.Errorf("ask: %w", err)
	}
	subjects := make([]string, len(people))
	for i, p := range people {
		subjects[i] = p.Subject
	}
	contacts, err := a.Directory.ContactsOf(ctx, subjects)
	if err != nil {
		return AskResult{}, fmt.Errorf("ask: %w", err)
	}
	var res AskResult
	var paged, unreached []string
	for _, p := range people {
		c := contacts[p.Subject]
		addrs := notify.Addresses{Email: c.Email, WebhookURL: c.WebhookURL, SlackURL: c.SlackWebhookURL}
		var sent, failed []string
		for _, ch := range notify.Channels {
			addr, err := a.Sender.Resolve(ch, addrs)
			if err != nil {
				continue // not on file: the person is reached on the others
			}
			page := notify.Page{
				IdempotencyKey: fmt.Sprintf("%s:%s:%s", key, p.Subject, ch),
				Site:           in.TripID.String(), SiteName: fmt.Sprintf("trip of %s (%s)", in.Traveller, in.Purpose),
				TierName: strings.Join(roles, " and "), Region: "TRAVEL", Level: fmt.Sprintf("LEVEL %d", in.Level),
				Round: in.Round, Reminder: req.Kind == KindReminded, Note: note,
				Recipients: []directory.Person{p}, SentAt: time.Now().UTC(),
				Topic:    "trip",
				Headline: fmt.Sprintf("approval needed (level %d): trip of %s", in.Level, in.Traveller),
				Action:   fmt.Sprintf("Trip %s, round %d. Decide it in Meridian (decideTrip).", in.TripID, in.Round),
			}
			if err := a.Sender.Send(ctx, addr, page); err != nil {
				a.log().WarnContext(ctx, "trip approval page failed", "trip", in.TripID, "recipient", p.Subject, "channel", ch, "err", err)
				failed = append(failed, fmt.Sprintf("%s: %v", ch, err))
				continue
			}
			sent = append(sent, ch)
		}
		if len(sent) > 0 {
			res.Paged = append(res.Paged, p.Subject)
			paged = append(paged, fmt.Sprintf("%s by %s", p.Subject, strings.Join(sent, ", ")))
		}
		if len(failed) > 0 || len(sent) == 0 {
			if len(failed) == 0 {
				failed = append(failed, "no channel on file")
			}
			unreached = append(unreached, fmt.Sprintf("%s (%s)", p.Subject, strings.Join(failed, "; ")))
		}
	}
	stepNote := note + ". "
	switch {
	case len(people) == 0:
		stepNote += fmt.Sprintf("Nobody holds the role %s.", strings.Join(roles, " or "))
	case len(paged) == 0:
		stepNote += "Nobody could be reached."
	default:
		stepNote += "Paged " + strings.Join(paged, "; ") + "."
	}
	if len(unreached) > 0 {
		stepNote += " Not reached: " + strings.Join(unreached, "; ") + "."
	}
	if err := a.Trips.AppendTimeline(ctx, in.TripID, req.Kind, "meridian", stepNote, key); err != nil {
		return AskResult{}, fmt.Errorf("ask: record %s: %w", req.Kind, err)
	}
	return res, nil
}

// people returns everyone holding any of roles, each once, in role order.
func (a *Activities) people(ctx context.Context, roles []string) ([]directory.Person, error) {
	var out []directory.Person
	seen := map[string]bool{}
	for _, role := range roles {
		people, err := a.Directory.InRole(ctx, role, "")
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

// RecordTripStep appends one step to the trip's timeline; its dedupe key makes
// a retried activity record it once.
func (a *Activities) RecordTripStep(ctx context.Context, req StepRequest) error {
	id, err := uuid.Parse(req.TripID)
	if err != nil {
		return temporal.NewNonRetryableApplicationError("record step: bad trip id", "BadInput", err)
	}
	if err := a.Trips.AppendTimeline(ctx, id, req.Kind, req.Actor, req.Note, req.DedupeKey); err != nil {
		return fmt.Errorf("record step %s: %w", req.Kind, err)
	}
	return nil
}

// RecordTripDecision records a decision in Postgres (status, timeline, audit: the
// store's RecordDecision) and answers with what was recorded. Postgres's
// refusals come back as non-retryable errors of the Reject types, which the
// workflow passes on as the update's refusal. An attempt retried after an
// earlier one committed gets the recorded trip back: RecordDecision answers
// the same decision by the same actor without writing anything.
func (a *Activities) RecordTripDecision(ctx context.Context, req DecisionRequest) (DecideResult, error) {
	id, err := uuid.Parse(req.TripID)
	if err != nil {
		return DecideResult{}, temporal.NewNonRetryableApplicationError("decide: bad trip id", RejectInvalid, err)
	}
	trip, err := a.Trips.RecordDecision(ctx, id, req.Round, req.Approve, req.Actor, req.Note)
	if err == nil {
		return decisionOf(trip, req), nil
	}
	code := fault.CodeOf(err)
	var f *fault.Error
	switch {
	case code == fault.Forbidden || code == fault.Conflict:
		return DecideResult{}, temporal.NewNonRetryableApplicationError(messageOf(err), string(code), nil)
	case code == fault.BadUserInput:
		return DecideResult{}, temporal.NewNonRetryableApplicationError(messageOf(err), RejectInvalid, nil)
	case code == fault.NotFound && errors.As(err, &f):
		return DecideResult{}, temporal.NewNonRetryableApplicationError(f.Message, RejectConflict, nil)
	}
	return DecideResult{}, fmt.Errorf("decide: %w", err)
}

// messageOf is a fault's own message (safe to show), else the error text.
func messageOf(err error) string {
	var f *fault.Error
	if errors.As(err, &f) {
		return f.Message
	}
	return err.Error()
}

// decisionOf reads the recorded decision off the trip the store returns.
func decisionOf(trip trips.Trip, req DecisionRequest) DecideResult {
	res := DecideResult{Status: outcome(req.Approve), DecidedBy: req.Actor, DecidedAt: time.Now().UTC()}
	if ap := trip.Approval; ap != nil {
		if ap.Status == StatusApproved || ap.Status == StatusRejected {
			res.Status = ap.Status
		}
		if ap.DecidedBy != "" {
			res.DecidedBy = ap.DecidedBy
		}
		if ap.DecidedAt != nil {
			res.DecidedAt = ap.DecidedAt.UTC()
		}
	}
	return res
}
