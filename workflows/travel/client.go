package travel

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"meridian.dev/platform/fault"
	trips "meridian.dev/platform/travel"
)

// UpdateTimeout bounds how long a decision waits for the workflow's answer.
const UpdateTimeout = 15 * time.Second

// ErrNotWaiting refuses a decision for a round whose workflow is not
// running: never started, decided, cancelled, or past departure.
var ErrNotWaiting = fault.New(fault.Conflict, "the trip is not waiting for a decision")

// Client decides and cancels trip approvals through their workflows. The
// gateway decides through it; the outbox relay cancels through it.
type Client struct {
	Temporal client.Client
}

// Decide sends the decide update to the round's workflow and waits for the
// recorded decision. The workflow's refusals come back as faults:
// FORBIDDEN, CONFLICT, or BAD_USER_INPUT on the field "decision". A round
// whose workflow is not running is a CONFLICT (ErrNotWaiting), except the
// same decision again by the same actor after it ended the run: a client
// retrying a decision whose answer it lost gets the recorded result.
func (c *Client) Decide(ctx context.Context, tripID uuid.UUID, round int, req DecideRequest) (DecideResult, error) {
	id := trips.ApprovalWorkflowID(tripID, round)
	ctx, cancel := context.WithTimeout(ctx, UpdateTimeout)
	defer cancel()
	handle, err := c.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: UpdateDecide, Args: []any{req}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var res DecideResult
	if err == nil {
		err = handle.Get(ctx, &res)
	}
	if err == nil {
		return res, nil
	}
	var rejected *temporal.ApplicationError
	if errors.As(err, &rejected) {
		switch rejected.Type() {
		case RejectForbidden:
			return DecideResult{}, fault.New(fault.Forbidden, rejected.Message())
		case RejectConflict:
			return DecideResult{}, fault.New(fault.Conflict, rejected.Message())
		case RejectInvalid:
			return DecideResult{}, fault.Invalid("decision", "%s", rejected.Message())
		}
	}
	if notRunning(err) {
		return c.decidedBefore(ctx, id, req)
	}
	return DecideResult{}, fmt.Errorf("travel: decide %s: %w", id, err)
}

// decidedBefore answers a decision for a workflow that is not running: the
// recorded result when the run ended with this very decision, else
// ErrNotWaiting.
func (c *Client) decidedBefore(ctx context.Context, id string, req DecideRequest) (DecideResult, error) {
	var st State
	if err := c.Temporal.GetWorkflow(ctx, id, "").Get(ctx, &st); err != nil {
		return DecideResult{}, ErrNotWaiting
	}
	if st.DecidedBy == req.Actor && st.Status == outcome(req.Approve) {
		return DecideResult{Status: st.Status, DecidedBy: st.DecidedBy, DecidedAt: st.DecidedAt}, nil
	}
	switch st.Status {
	case StatusApproved, StatusRejected:
		return DecideResult{}, fault.New(fault.Conflict, fmt.Sprintf("this trip was already %s by %s", lower(st.Status), st.DecidedBy))
	case StatusCancelled:
		return DecideResult{}, fault.New(fault.Conflict, "the trip was cancelled")
	}
	return DecideResult{}, ErrNotWaiting
}

// Cancel tells the round's workflow the trip is off. A workflow that is not
// running (never started, or already ended) has nothing to stop: nil.
func (c *Client) Cancel(ctx context.Context, tripID uuid.UUID, round int, actor, note string) error {
	id := trips.ApprovalWorkflowID(tripID, round)
	err := c.Temporal.SignalWorkflow(ctx, id, "", SignalCancel, CancelRequest{Actor: actor, Note: note})
	if err == nil || notRunning(err) {
		return nil
	}
	return fmt.Errorf("travel: cancel %s: %w", id, err)
}

// notRunning reports Temporal's answer for a workflow that does not exist
// or has completed ("workflow execution already completed" is a NotFound).
func notRunning(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}

func lower(status string) string {
	switch status {
	case StatusApproved:
		return "approved"
	case StatusRejected:
		return "rejected"
	}
	return status
}
