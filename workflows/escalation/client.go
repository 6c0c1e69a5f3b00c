package escalation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"meridian.dev/platform/auth"
	esc "meridian.dev/platform/escalation"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/policy"
)

// UpdateTimeout bounds how long a decision waits for the workflow's answer
// before it counts the workflow as unreachable.
const UpdateTimeout = 10 * time.Second

// ErrEngineUnavailable refuses what only the workflow can do (escalate now,
// hand off) while it cannot be reached.
var ErrEngineUnavailable = fault.New(fault.Internal, "the escalation engine cannot be reached right now; try again in a moment")

// Client takes decisions on escalations: through the workflow (a Temporal
// Update, which validates with esc.Authority and answers with what really
// happened), or, for acknowledgements and resolutions while the workflow
// cannot be reached, in Postgres under the same Authority, from where the
// relay tells the workflow when it can: a page storm at 3 a.m. must be
// stoppable while Temporal is down.
type Client struct {
	temporal client.Client // nil: Postgres only
	store    *esc.Store
	log      *slog.Logger
}

// NewClient returns a client deciding through c (nil: Postgres only) and
// store.
func NewClient(c client.Client, store *esc.Store, log *slog.Logger) *Client {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{temporal: c, store: store, log: log}
}

// Acknowledge records that caller has the escalation in hand, with an
// optional disposition (one of esc.Dispositions).
func (c *Client) Acknowledge(ctx context.Context, caller auth.Identity, id uuid.UUID, note, disposition string) (esc.Escalation, error) {
	if err := esc.ValidateNote(note); err != nil {
		return esc.Escalation{}, err
	}
	if disposition != "" && !slices.Contains(esc.Dispositions, disposition) {
		return esc.Escalation{}, fault.Invalid("disposition", "must be one of %v", esc.Dispositions)
	}
	d := decision(caller, note)
	d.Disposition = disposition
	return c.decide(ctx, caller, id, UpdateAcknowledge, d, esc.SignalAcknowledge)
}

// Resolve closes the escalation.
func (c *Client) Resolve(ctx context.Context, caller auth.Identity, id uuid.UUID, note string) (esc.Escalation, error) {
	if err := esc.ValidateNote(note); err != nil {
		return esc.Escalation{}, err
	}
	return c.decide(ctx, caller, id, UpdateResolve, decision(caller, note), esc.SignalResolve)
}

// EscalateNow pages the next tier at once. It needs the workflow.
func (c *Client) EscalateNow(ctx context.Context, caller auth.Identity, id uuid.UUID, note string) (esc.Escalation, error) {
	if err := esc.ValidateNote(note); err != nil {
		return esc.Escalation{}, err
	}
	return c.only(ctx, caller, id, UpdateEscalateNow, decision(caller, note), esc.ActEscalateNow)
}

// HandOff passes the escalation to toRegion, whose first tier is paged under
// its own policy. It needs the workflow.
func (c *Client) HandOff(ctx context.Context, caller auth.Identity, id uuid.UUID, toRegion, note string) (esc.Escalation, error) {
	if err := esc.ValidateNote(note); err != nil {
		return esc.Escalation{}, err
	}
	return c.only(ctx, caller, id, UpdateHandOff, HandOff{Decision: decision(caller, note), ToRegion: toRegion}, esc.ActHandOff)
}

func decision(caller auth.Identity, note string) Decision {
	return Decision{Actor: caller.Subject, Roles: caller.Roles, Regions: caller.Regions, Note: note}
}

// decide asks the workflow, and records the decision in Postgres when the
// workflow cannot be reached (down, or not started yet: the start may still
// be in the outbox).
func (c *Client) decide(ctx context.Context, caller auth.Identity, id uuid.UUID, update string, d Decision, signal string) (esc.Escalation, error) {
	err := c.update(ctx, id, update, d)
	if !errors.Is(err, errUnreachable) {
		if err != nil {
			return esc.Escalation{}, err
		}
		return c.store.Get(ctx, id)
	}
	c.log.WarnContext(ctx, "escalation workflow unreachable; recording the decision in postgres", "escalation", id, "err", err)
	return c.store.Decide(ctx, caller, id, signal, d.Note, esc.DecisionOptions{Disposition: d.Disposition})
}

// only asks the workflow and nothing else; when it cannot be reached the
// caller still learns whether the escalation exists and whether they may
// act on it, before being told to try again.
func (c *Client) only(ctx context.Context, caller auth.Identity, id uuid.UUID, update string, arg any, action policy.Action) (esc.Escalation, error) {
	err := c.update(ctx, id, update, arg)
	if !errors.Is(err, errUnreachable) {
		if err != nil {
			return esc.Escalation{}, err
		}
		return c.store.Get(ctx, id)
	}
	c.log.WarnContext(ctx, "escalation workflow unreachable", "escalation", id, "update", update, "err", err)
	if _, err := c.store.Allow(ctx, caller, id, action); err != nil {
		return esc.Escalation{}, err
	}
	return esc.Escalation{}, ErrEngineUnavailable
}

// errUnreachable marks a decision the workflow did not answer.
var errUnreachable = errors.New("escalation workflow unreachable")

// rejections are the error types of updates the workflow refused, each the
// API code it means.
var rejections = []fault.Code{RejectForbidden, RejectConflict, RejectInvalid}

// update runs a workflow update to completion, within UpdateTimeout, and
// maps the workflow's refusal onto its API code. Any other failure means the
// workflow did not answer: errUnreachable.
func (c *Client) update(ctx context.Context, id uuid.UUID, name string, arg any) error {
	if c.temporal == nil {
		return errUnreachable
	}
	ctx, cancel := context.WithTimeout(ctx, UpdateTimeout)
	defer cancel()
	handle, err := c.temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: esc.WorkflowID(id), UpdateName: name, Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		var st State
		err = handle.Get(ctx, &st)
	}
	if err == nil {
		return nil
	}
	var rejected *temporal.ApplicationError
	if errors.As(err, &rejected) && slices.Contains(rejections, fault.Code(rejected.Type())) {
		return fault.New(fault.Code(rejected.Type()), rejected.Message())
	}
	return fmt.Errorf("%w: %s %s: %w", errUnreachable, name, esc.WorkflowID(id), err)
}
