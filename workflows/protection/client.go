package protection

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"meridian.dev/platform/protection"
)

// ErrWatchNotRunning: the detail's watch was never started, or has ended.
// The relay decides what a signal to it means (a check-in before the START
// was relayed, or after the detail ended).
var ErrWatchNotRunning = errors.New("protection: the check-in watch is not running")

// StartWatchOn starts a detail's watch (ID protection.WatchWorkflowID) on
// the queue the worker polls (MERIDIAN_TASK_QUEUE; "" is TaskQueue). A
// watch that is running, or that completed, for the detail counts as
// started: the relay may deliver START more than once, and a detail that
// ended does not start watching again. One that was terminated, failed or
// timed out is started afresh: an active detail is always watched.
func StartWatchOn(ctx context.Context, c client.Client, taskQueue string, in Input) error {
	if taskQueue == "" {
		taskQueue = TaskQueue
	}
	return startWatch(ctx, c, in, taskQueue)
}

func startWatch(ctx context.Context, c client.Client, in Input, taskQueue string) error {
	switch {
	case in.DetailID == uuid.Nil:
		return errors.New("protection: start watch: no detail")
	case in.Interval <= 0:
		return fmt.Errorf("protection: start watch of %s: the interval must be positive, not %s", in.DetailID, in.Interval)
	}
	id := protection.WatchWorkflowID(in.DetailID)
	_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: taskQueue, WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, WorkflowName, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if err == nil || errors.As(err, &started) {
		return nil
	}
	return fmt.Errorf("protection: start watch %s: %w", id, err)
}

// SendCheckedIn tells the detail's watch of a good check-in.
func SendCheckedIn(ctx context.Context, c client.Client, detailID uuid.UUID, s CheckedIn) error {
	return send(ctx, c, detailID, SignalCheckedIn, s)
}

// SendRetime tells the detail's watch of a new interval and grace.
func SendRetime(ctx context.Context, c client.Client, detailID uuid.UUID, s Retime) error {
	return send(ctx, c, detailID, SignalRetime, s)
}

// SendCodesFailed tells the detail's watch that too many wrong codes were
// entered.
func SendCodesFailed(ctx context.Context, c client.Client, detailID uuid.UUID, s CodesFailed) error {
	return send(ctx, c, detailID, SignalCodesFailed, s)
}

// SendStop ends the detail's watch. A watch that is not running has
// nothing to stop: nil.
func SendStop(ctx context.Context, c client.Client, detailID uuid.UUID, s Stop) error {
	if err := send(ctx, c, detailID, SignalStop, s); err != nil && !errors.Is(err, ErrWatchNotRunning) {
		return err
	}
	return nil
}

// send signals the detail's watch; one that does not exist or has
// completed is ErrWatchNotRunning (Temporal answers NotFound for both).
func send(ctx context.Context, c client.Client, detailID uuid.UUID, name string, arg any) error {
	id := protection.WatchWorkflowID(detailID)
	err := c.SignalWorkflow(ctx, id, "", name, arg)
	var nf *serviceerror.NotFound
	switch {
	case err == nil:
		return nil
	case errors.As(err, &nf):
		return fmt.Errorf("%w: %s: %w", ErrWatchNotRunning, id, err)
	}
	return fmt.Errorf("protection: signal %s to %s: %w", name, id, err)
}
