package travel

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"meridian.dev/platform/fault"
	trips "meridian.dev/platform/travel"
)

// maxReminders bounds the reminders of one round, so a far deadline with a
// short interval cannot grow the history without end; past it the workflow
// only waits for the deadline.
const maxReminders = 200

// Workflow asks the deciders for one approval round of one trip and waits
// for the decide update or the cancel signal:
//
//   - at start: ASKED, the travel team paged (and the global leads from
//     level 4);
//   - every ReminderEvery before the deadline: REMINDED, paged again;
//   - at the deadline, undecided: ESCALATED, the global leads paged;
//   - at departure, undecided: NOT_DECIDED_BEFORE_DEPARTURE, and the run
//     ends with Postgres still showing the approval PENDING (see
//     StatusNotDecided);
//   - a decision (validated here, recorded in Postgres by the Decide
//     activity) or a cancellation ends the run.
//
// Every page first looks at Postgres: a round Postgres no longer waits for
// (cancelled while the signal was in the outbox, superseded by a later
// round) ends the run without paging anyone.
func Workflow(ctx workflow.Context, in Input) (State, error) {
	w := &run{in: in, state: State{Status: StatusPending}}
	if err := w.handle(ctx); err != nil {
		return w.state, err
	}
	if err := w.await(ctx); err != nil {
		return w.state, err
	}
	// A decision being recorded, or a repeated one being answered, finishes
	// before the run ends: its caller is waiting for the answer.
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return w.state, err
	}
	if w.state.Status == StatusCancelled && w.cancelledBySignal {
		note := "cancelled by " + w.state.CancelledBy
		if w.state.Note != "" {
			note += ": " + w.state.Note
		}
		if err := w.recordStep(ctx, KindCancelled, w.state.CancelledBy, note+"; approval no longer needed", w.key("cancelled")); err != nil {
			return w.state, err
		}
	}
	return w.state, nil
}

type run struct {
	in    Input
	state State

	cancelCh workflow.ReceiveChannel
	// wake ends a wait when a decision has been recorded.
	wake workflow.Channel
	// deciding is set while a decision's activity runs: decisions are
	// recorded one at a time, each judged on the state the one before it
	// left.
	deciding bool
	// cancelledBySignal: the cancellation came by signal (and is recorded
	// as a step here), not read from Postgres (already on the timeline).
	cancelledBySignal bool
}

// key is a timeline dedupe key and the stem of page idempotency keys:
// trip:<id>:r<round>:<what>.
func (w *run) key(what string) string {
	return fmt.Sprintf("trip:%s:r%d:%s", w.in.TripID, w.in.Round, what)
}

func (w *run) reminderEvery() time.Duration {
	if w.in.ReminderEvery > 0 {
		return w.in.ReminderEvery
	}
	return DefaultReminderEvery
}

// deadline is when the global leads are told nobody decided: the input's,
// or departure when the input gives none or one after departure.
func (w *run) deadline() time.Time {
	d := w.in.Deadline
	if d.IsZero() || !w.in.Departure.IsZero() && d.After(w.in.Departure) {
		return w.in.Departure
	}
	return d
}

func activityContexts(ctx workflow.Context) (ask, step, decide workflow.Context) {
	ask = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		// A few tries, then ASK_FAILED on the timeline; the next reminder
		// tries again. Pages carry idempotency keys, so a retry that pages
		// someone twice can be dropped by the receiver.
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second, MaximumAttempts: 5},
	})
	step = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		// Recording a step only needs Postgres; keep trying until it answers.
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
	decide = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Second,
		// Someone is waiting for the answer (Client.Decide gives up after
		// UpdateTimeout): a few quick tries, then the update fails and they
		// try again. Refusals from Postgres are not retried.
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 500 * time.Millisecond, BackoffCoefficient: 2, MaximumInterval: 2 * time.Second,
			MaximumAttempts: 4, NonRetryableErrorTypes: []string{RejectForbidden, RejectConflict, RejectInvalid}},
	})
	return ask, step, decide
}

// handle installs the query, the cancel signal's channel and the decide
// update.
func (w *run) handle(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (State, error) { return w.state, nil }); err != nil {
		return err
	}
	w.cancelCh = workflow.GetSignalChannel(ctx, SignalCancel)
	w.wake = workflow.NewBufferedChannel(ctx, 1)
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateDecide, w.decide,
		workflow.UpdateHandlerOptions{Validator: w.mayDecide})
}

// decide records an accepted decision. Decisions take turns: the validator
// judged the state when the update arrived, and one recorded meanwhile may
// have settled the trip, so the rule is asked again once it is this one's
// turn.
func (w *run) decide(ctx workflow.Context, req DecideRequest) (DecideResult, error) {
	if err := workflow.Await(ctx, func() bool { return !w.deciding }); err != nil {
		return DecideResult{}, err
	}
	if err := w.mayDecide(req); err != nil {
		return DecideResult{}, err
	}
	if w.decided() {
		// The same decision again (a client retry): the same answer.
		return w.result(), nil
	}
	w.deciding = true
	defer func() { w.deciding = false }()
	_, _, decideCtx := activityContexts(ctx)
	var res DecideResult
	err := workflow.ExecuteActivity(decideCtx, ActivityDecide, DecisionRequest{
		TripID: w.in.TripID.String(), Round: w.in.Round, Approve: req.Approve, Actor: req.Actor, Note: req.Note,
	}).Get(ctx, &res)
	if err != nil {
		return DecideResult{}, refusalOf(err)
	}
	if w.state.Status != StatusPending {
		// Cancelled while Postgres was recording the decision; Postgres
		// accepted it, so it stands, and the cancellation is not recorded
		// again here.
		w.cancelledBySignal = false
	}
	w.state.Status, w.state.DecidedBy, w.state.DecidedAt, w.state.Note = res.Status, res.DecidedBy, res.DecidedAt, req.Note
	w.wake.SendAsync(true)
	return res, nil
}

// refusalOf passes on Postgres's refusal of a decision (an ApplicationError
// of one of the Reject types, from the activity) as the update's own
// refusal, so Client maps it like a validator's.
func refusalOf(err error) error {
	var app *temporal.ApplicationError
	if errors.As(err, &app) && slices.Contains([]string{RejectForbidden, RejectConflict, RejectInvalid}, app.Type()) {
		return temporal.NewApplicationError(app.Message(), app.Type())
	}
	return err
}

func (w *run) decided() bool {
	return w.state.Status == StatusApproved || w.state.Status == StatusRejected
}

func (w *run) result() DecideResult {
	return DecideResult{Status: w.state.Status, DecidedBy: w.state.DecidedBy, DecidedAt: w.state.DecidedAt}
}

func outcome(approve bool) string {
	if approve {
		return StatusApproved
	}
	return StatusRejected
}

// mayDecide is the decide update's validator (and its handler's re-check).
// It changes nothing. The order matters: a malformed request is refused
// first, then a caller who may not decide (who learns nothing about the
// trip's state), then a trip that is not waiting for a decision.
//
// A decision repeated exactly (same actor, same outcome) after it was
// recorded is accepted and answered with the recorded result: the caller's
// client retried after losing the first answer. Any other decision on a
// decided trip is a CONFLICT.
func (w *run) mayDecide(req DecideRequest) error {
	switch {
	case strings.TrimSpace(req.Actor) == "":
		return temporal.NewApplicationError("a decision must say who decides", RejectInvalid)
	case utf8.RuneCountInString(req.Note) > MaxNoteLength:
		return temporal.NewApplicationError(fmt.Sprintf("the note is longer than %d characters", MaxNoteLength), RejectInvalid)
	}
	if err := fault.CheckText("note", req.Note); err != nil {
		return temporal.NewApplicationError(err.Error(), RejectInvalid)
	}
	isLead := slices.Contains(req.Roles, RoleGlobalLead)
	switch {
	case !isLead && !slices.Contains(req.Roles, RoleTravelTeam):
		return temporal.NewApplicationError("only the travel team or a global lead may decide", RejectForbidden)
	case w.in.Level >= trips.GlobalLeadLevel && !isLead:
		return temporal.NewApplicationError(fmt.Sprintf("a level-%d trip needs a global lead's decision", w.in.Level), RejectForbidden)
	}
	switch w.state.Status {
	case StatusPending:
		return nil
	case StatusCancelled:
		return temporal.NewApplicationError("the trip was cancelled", RejectConflict)
	case StatusApproved, StatusRejected:
		if w.state.DecidedBy == req.Actor && w.state.Status == outcome(req.Approve) {
			return nil
		}
		return temporal.NewApplicationError(fmt.Sprintf("this trip was already %s by %s", strings.ToLower(w.state.Status), w.state.DecidedBy), RejectConflict)
	}
	return temporal.NewApplicationError("the trip is not waiting for a decision", RejectConflict)
}

// await runs the round: ask, remind, escalate, give up at departure, until
// the trip is decided or cancelled.
func (w *run) await(ctx workflow.Context) error {
	// Reminders count from when the round was asked, however long the
	// asking took.
	start := workflow.Now(ctx)
	if err := w.ask(ctx, KindAsked, 0); err != nil {
		return err
	}
	deadline := w.deadline()
	every := w.reminderEvery()
	for w.state.Status == StatusPending {
		var due time.Time
		var next func() error
		switch {
		case !w.state.Escalated:
			reminderDue := start.Add(time.Duration(w.state.Reminders+1) * every)
			if w.state.Reminders < maxReminders && (deadline.IsZero() || reminderDue.Before(deadline)) {
				due = reminderDue
				next = func() error {
					w.state.Reminders++
					return w.ask(ctx, KindReminded, w.state.Reminders)
				}
			} else if !deadline.IsZero() {
				due = deadline
				next = func() error {
					w.state.Escalated = true
					return w.ask(ctx, KindEscalated, 0)
				}
			}
		case !w.in.Departure.IsZero():
			due = w.in.Departure
			next = func() error {
				note := fmt.Sprintf("nobody decided before departure (%s); the approval stays pending and the travel team must follow up by hand", when(w.in.Departure))
				if err := w.recordStep(ctx, KindNotDecidedBeforeDeparture, "meridian", note, w.key("not-decided")); err != nil {
					return err
				}
				w.state.Status = StatusNotDecided
				return nil
			}
		}
		// due stays zero only without a deadline and departure, once the
		// reminders are spent: then only a decision or a cancellation ends
		// the wait.
		if !w.wait(ctx, due) || w.state.Status != StatusPending {
			continue
		}
		if err := next(); err != nil {
			return err
		}
	}
	return nil
}

// wait blocks until the cancel signal, a recorded decision, or due (when
// not zero) arrives, and reports whether due was reached. A due time
// already past is reached at once, without a timer.
func (w *run) wait(ctx workflow.Context, due time.Time) bool {
	var timeout time.Duration
	if !due.IsZero() {
		if timeout = due.Sub(workflow.Now(ctx)); timeout <= 0 {
			return true
		}
	}
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(w.cancelCh, func(c workflow.ReceiveChannel, _ bool) {
		var req CancelRequest
		c.Receive(ctx, &req)
		if w.state.Status == StatusPending {
			w.state.Status, w.state.CancelledBy, w.state.Note = StatusCancelled, req.Actor, req.Note
			w.cancelledBySignal = true
		}
	})
	sel.AddReceive(w.wake, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil) })
	timedOut := false
	if timeout > 0 {
		timerCtx, cancelTimer := workflow.WithCancel(ctx)
		defer cancelTimer()
		sel.AddFuture(workflow.NewTimer(timerCtx, timeout), func(workflow.Future) { timedOut = true })
	}
	sel.Select(ctx)
	return timedOut
}

// ask pages the deciders once (kind ASKED, REMINDED or ESCALATED). When
// Postgres no longer waits for this round, the run adopts what it says.
// When nobody could be asked, ASK_FAILED goes on the timeline and the run
// goes on: the next reminder tries again.
func (w *run) ask(ctx workflow.Context, kind string, reminder int) error {
	askCtx, _, _ := activityContexts(ctx)
	var res AskResult
	err := workflow.ExecuteActivity(askCtx, ActivityAsk, AskRequest{Input: w.in, Kind: kind, Reminder: reminder}).Get(ctx, &res)
	if err != nil {
		what := strings.ToLower(kind)
		if reminder > 0 {
			what = fmt.Sprintf("%s:%d", what, reminder)
		}
		return w.recordStep(ctx, KindAskFailed, "meridian", fmt.Sprintf("%s: nobody could be paged: %s", strings.ToLower(kind), causeOf(err)), w.key(what+":failed"))
	}
	if w.state.Status != StatusPending {
		return nil
	}
	switch res.Settled {
	case "":
	case StatusApproved, StatusRejected:
		w.state.Status, w.state.DecidedBy = res.Settled, res.DecidedBy
	case StatusCancelled:
		w.state.Status = StatusCancelled
	default:
		w.state.Status = StatusSuperseded
	}
	return nil
}

func (w *run) recordStep(ctx workflow.Context, kind, actor, note, key string) error {
	_, stepCtx, _ := activityContexts(ctx)
	return workflow.ExecuteActivity(stepCtx, ActivityRecordStep, StepRequest{
		TripID: w.in.TripID.String(), Kind: kind, Actor: actor, Note: note, DedupeKey: key,
	}).Get(ctx, nil)
}

// causeOf is an activity's own error message, without Temporal's wrapping
// ("activity error (type: …, attempt: 5): …").
func causeOf(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	return err.Error()
}

// when formats a time for people: minutes, UTC.
func when(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04 MST")
}
