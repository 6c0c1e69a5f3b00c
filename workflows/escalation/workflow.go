package escalation

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Workflow pages each tier of the frozen policy in turn, waiting the tier's
// time for an acknowledgement before moving on. An acknowledgement stops the
// paging; the workflow then waits for the resolution, which ends it.
func Workflow(ctx workflow.Context, in Input) (State, error) {
	state := State{Status: StateOpen}
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (State, error) { return state, nil }); err != nil {
		return state, err
	}
	ackCh := workflow.GetSignalChannel(ctx, SignalAcknowledge)
	resolveCh := workflow.GetSignalChannel(ctx, SignalResolve)
	onAck := func(c workflow.ReceiveChannel, _ bool) {
		var d Decision
		c.Receive(ctx, &d)
		switch {
		case state.Status == StateOpen:
			state.Status = StateAcknowledged
			state.AcknowledgedBy = d.Actor
		case state.Status == StateAcknowledged && state.AcknowledgedBy == "":
			// Adopted from Postgres before this signal arrived: the signal
			// still says who acknowledged.
			state.AcknowledgedBy = d.Actor
		}
	}
	onResolve := func(c workflow.ReceiveChannel, _ bool) {
		var d Decision
		c.Receive(ctx, &d)
		state.Status = StateResolved
		state.ResolvedBy = d.Actor
	}

	pageCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		// A few quick retries, then the failure goes on the timeline and the
		// escalation moves on: a broken channel must not stall the climb.
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second, MaximumAttempts: 5},
	})
	stepCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		// Recording a step only needs Postgres; keep trying until it answers.
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})

	for i, tier := range in.Policy.Tiers {
		if state.Status != StateOpen {
			break
		}
		tierNo := i + 1
		var res PageResult
		err := workflow.ExecuteActivity(pageCtx, ActivityPage, PageRequest{Input: in, Tier: tierNo, Round: 1}).Get(ctx, &res)
		if err != nil {
			step := StepRequest{EscalationID: in.EscalationID, Kind: "PAGE_FAILED", Tier: tierNo,
				Note: fmt.Sprintf("tier %d (%s): %v", tierNo, tier.Name, err), DedupeKey: fmt.Sprintf("%s:tier%d:page-failed", in.EscalationID, tierNo)}
			if err := workflow.ExecuteActivity(stepCtx, ActivityRecordStep, step).Get(ctx, nil); err != nil {
				return state, err
			}
		}
		state.Tier = tierNo
		if res.Skipped {
			// Postgres is the record: a decision whose signal has not
			// arrived yet (or never will) still stops the paging.
			adopt(&state, res.Status)
			continue
		}

		timerCtx, cancelTimer := workflow.WithCancel(ctx)
		timedOut := false
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(ackCh, onAck)
		sel.AddReceive(resolveCh, onResolve)
		sel.AddFuture(workflow.NewTimer(timerCtx, tier.Wait), func(workflow.Future) { timedOut = true })
		sel.Select(ctx)
		cancelTimer()
		if timedOut && state.Status == StateOpen && tierNo < len(in.Policy.Tiers) {
			step := StepRequest{EscalationID: in.EscalationID, Kind: "TIMED_OUT", Tier: tierNo,
				Note:      fmt.Sprintf("no acknowledgement within %s; escalating to tier %d", tier.Wait, tierNo+1),
				DedupeKey: fmt.Sprintf("%s:tier%d:timed-out", in.EscalationID, tierNo)}
			if err := workflow.ExecuteActivity(stepCtx, ActivityRecordStep, step).Get(ctx, nil); err != nil {
				return state, err
			}
		}
	}

	// Every tier paged, or acknowledged: wait for the resolution. Late
	// acknowledgements still update the state others query.
	for state.Status != StateResolved {
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(ackCh, onAck)
		sel.AddReceive(resolveCh, onResolve)
		sel.Select(ctx)
	}
	return state, nil
}

func adopt(state *State, status string) {
	switch status {
	case StateAcknowledged:
		if state.Status == StateOpen {
			state.Status = StateAcknowledged
		}
	case StateResolved:
		state.Status = StateResolved
	}
}
