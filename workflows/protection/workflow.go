package protection

import (
	"strconv"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"meridian.dev/platform/protection"
)

// ReasonNoCheckIn is the reason (protection.Missed.Reason) of a missed
// check-in raised when the grace period passed.
const ReasonNoCheckIn = "no check-in within the grace period"

// ReasonCodesFailed is the reason of a missed check-in raised because an
// agent kept entering wrong codes: the watch cannot tell a forgetful agent
// from one being made to guess.
var ReasonCodesFailed = strconv.Itoa(protection.MaxFailedCodes) + " wrong codes in a row"

// historyLimit is the history length past which a watch continues as new,
// unless Temporal suggests it earlier. A watch lives as long as its detail
// (days); each interval adds a dozen events.
const historyLimit = 5000

// Watch watches one detail's check-ins until the detail ends:
//
//   - at each due time (the last check-in plus the interval) it reminds
//     the detail's agents and leader (Remind, which first asks Postgres
//     whether a check-in or the end of the detail came without its
//     signal);
//   - when the grace period then passes without a check-in, it raises a
//     MISSED_CHECK_IN incident (RaiseMissed, which asks Postgres again),
//     and the next due is the missed one plus the interval: reminders go
//     on, but while that incident is open nothing new is raised;
//   - a check-in restarts the interval and, when an incident is open,
//     records the recovery on it;
//   - a retime applies a new interval and grace at once, codes-failed
//     raises a missed check-in at once, and stop ends the run.
func Watch(ctx workflow.Context, in Input) (State, error) {
	if in.Interval <= 0 {
		return State{}, temporal.NewNonRetryableApplicationError("a check-in watch needs a positive interval", "BadInput", nil)
	}
	w := newRun(ctx, in)
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (State, error) { return w.state, nil }); err != nil {
		return w.state, err
	}
	for !w.state.Stopped {
		if !w.reminded && w.historyIsLong(ctx) {
			return w.continueAsNew(ctx)
		}
		var err error
		if w.reminded {
			err = w.untilGraceEnds(ctx)
		} else {
			err = w.untilDue(ctx)
		}
		if err != nil {
			return w.state, err
		}
	}
	return w.state, nil
}

type run struct {
	in    Input
	state State
	// reminded: the reminder for state.NextDue has gone out (or was tried
	// for as long as the grace period allows); the run now waits for the
	// grace period to end.
	reminded bool

	checkedInCh, retimeCh, codesFailedCh, stopCh workflow.ReceiveChannel
}

func newRun(ctx workflow.Context, in Input) *run {
	w := &run{in: in, state: State{
		Interval: in.Interval, Grace: max(in.Grace, 0), LastCheckIn: in.From, NextDue: in.NextDue,
		Reminders: in.Reminders, Missed: in.Missed, OpenIncident: in.OpenIncident,
	}}
	if w.state.NextDue.IsZero() {
		w.state.NextDue = in.From.Add(in.Interval)
	}
	w.checkedInCh = workflow.GetSignalChannel(ctx, SignalCheckedIn)
	w.retimeCh = workflow.GetSignalChannel(ctx, SignalRetime)
	w.codesFailedCh = workflow.GetSignalChannel(ctx, SignalCodesFailed)
	w.stopCh = workflow.GetSignalChannel(ctx, SignalStop)
	return w
}

func (w *run) untilDue(ctx workflow.Context) error {
	sig, due := w.wait(ctx, w.state.NextDue)
	if !due {
		return w.apply(ctx, sig)
	}
	return w.remind(ctx)
}

func (w *run) untilGraceEnds(ctx workflow.Context) error {
	sig, lapsed := w.wait(ctx, w.state.NextDue.Add(w.state.Grace))
	if !lapsed {
		return w.apply(ctx, sig)
	}
	return w.lapse(ctx)
}

// signal is one signal taken off its channel: name says which payload is
// set.
type signal struct {
	name        string
	checkedIn   CheckedIn
	retime      Retime
	codesFailed CodesFailed
}

// wait blocks until a signal arrives or until passes, and reports whether
// until was reached. A signal already waiting goes first, even when until
// is past: a check-in that came with the timer must win over the raise.
func (w *run) wait(ctx workflow.Context, until time.Time) (signal, bool) {
	if sig, ok := w.pending(); ok {
		return sig, false
	}
	timeout := until.Sub(workflow.Now(ctx))
	if timeout <= 0 {
		return signal{}, true
	}
	var sig signal
	sel := workflow.NewSelector(ctx)
	w.addSignals(sel, &sig)
	timerCtx, cancelTimer := workflow.WithCancel(ctx)
	defer cancelTimer()
	reached := false
	sel.AddFuture(workflow.NewTimer(timerCtx, timeout), func(workflow.Future) { reached = true })
	sel.Select(ctx)
	return sig, reached
}

// addSignals makes sel receive each signal into sig. Signals are added
// before any timer, so one that arrives with the timer is taken first.
// They are taken with ReceiveAsync: a payload that cannot be decoded is
// dropped (sig.name stays empty) instead of blocking the watch until the
// next good one.
func (w *run) addSignals(sel workflow.Selector, sig *signal) {
	sel.AddReceive(w.checkedInCh, func(c workflow.ReceiveChannel, _ bool) {
		if c.ReceiveAsync(&sig.checkedIn) {
			sig.name = SignalCheckedIn
		}
	})
	sel.AddReceive(w.retimeCh, func(c workflow.ReceiveChannel, _ bool) {
		if c.ReceiveAsync(&sig.retime) {
			sig.name = SignalRetime
		}
	})
	sel.AddReceive(w.codesFailedCh, func(c workflow.ReceiveChannel, _ bool) {
		if c.ReceiveAsync(&sig.codesFailed) {
			sig.name = SignalCodesFailed
		}
	})
	sel.AddReceive(w.stopCh, func(c workflow.ReceiveChannel, _ bool) {
		if c.ReceiveAsync(&Stop{}) {
			sig.name = SignalStop
		}
	})
}

// pending takes a signal that has already arrived, without blocking.
func (w *run) pending() (signal, bool) {
	var sig signal
	switch {
	case w.checkedInCh.ReceiveAsync(&sig.checkedIn):
		sig.name = SignalCheckedIn
	case w.retimeCh.ReceiveAsync(&sig.retime):
		sig.name = SignalRetime
	case w.codesFailedCh.ReceiveAsync(&sig.codesFailed):
		sig.name = SignalCodesFailed
	case w.stopCh.ReceiveAsync(&Stop{}):
		sig.name = SignalStop
	default:
		return signal{}, false
	}
	return sig, true
}

func (w *run) apply(ctx workflow.Context, sig signal) error {
	switch sig.name {
	case SignalCheckedIn:
		return w.checkedIn(ctx, sig.checkedIn.At, sig.checkedIn.By)
	case SignalRetime:
		w.retime(ctx, sig.retime)
	case SignalCodesFailed:
		return w.codesFailed(ctx, sig.codesFailed)
	case SignalStop:
		w.state.Stopped = true
	}
	return nil
}

// checkedIn restarts the interval from a check-in later than the last one
// (the same check-in told twice, by its signal and by Postgres, counts
// once) and records the recovery of an open missed check-in.
func (w *run) checkedIn(ctx workflow.Context, at time.Time, by string) error {
	if !at.After(w.state.LastCheckIn) {
		return nil
	}
	w.state.LastCheckIn = at
	w.state.NextDue, w.reminded = at.Add(w.state.Interval), false
	open := w.state.OpenIncident
	if open == nil {
		return nil
	}
	err := workflow.ExecuteActivity(postgresOnly(ctx), ActivityRecovery, RecoveryRequest{
		DetailID: w.in.DetailID, IncidentID: *open, At: at, By: by,
	}).Get(ctx, nil)
	if err != nil {
		return err
	}
	w.state.OpenIncident = nil
	return nil
}

// retime applies a new interval and grace at once. The due time is
// recomputed from the last check-in; one already past is acted on now,
// not backdated: the agents could not have known of the shorter interval.
// While the grace period of a reminder already sent runs, an earlier due
// changes only the grace.
func (w *run) retime(ctx workflow.Context, r Retime) {
	if r.Interval <= 0 {
		workflow.GetLogger(ctx).Warn("check-in watch: a retime without a positive interval is ignored", "detail", w.in.DetailID, "interval", r.Interval)
		return
	}
	grace := max(r.Grace, 0)
	if r.Interval == w.state.Interval && grace == w.state.Grace {
		// Told twice (its signal, and Postgres through Remind): the due
		// time of a run of misses must not jump back to the last check-in.
		return
	}
	w.state.Interval, w.state.Grace = r.Interval, grace
	due := w.state.LastCheckIn.Add(r.Interval)
	if w.reminded && !due.After(w.state.NextDue) {
		return
	}
	if now := workflow.Now(ctx); due.Before(now) {
		due = now
	}
	w.state.NextDue, w.reminded = due, false
}

// codesFailed raises a missed check-in now, unless a good check-in came
// after the wrong codes (Postgres decides whether an open one covers it).
func (w *run) codesFailed(ctx workflow.Context, c CodesFailed) error {
	if !c.At.After(w.state.LastCheckIn) {
		return nil
	}
	return w.raise(ctx, c.At, ReasonCodesFailed)
}

// remind runs Remind for the current due time. A reminder that could not
// be sent within the grace period is given up on (Remind recorded why on
// the timeline): the missed check-in it would have warned of must still be
// raised in time.
func (w *run) remind(ctx workflow.Context) error {
	var res RemindResult
	err := workflow.ExecuteActivity(remindContext(ctx, w.state.Grace), ActivityRemind, RemindRequest{
		DetailID: w.in.DetailID, Due: w.state.NextDue, Last: w.state.LastCheckIn,
	}).Get(ctx, &res)
	w.reminded = true
	if err != nil {
		workflow.GetLogger(ctx).Warn("check-in watch: the reminder could not be sent; the grace period runs on",
			"detail", w.in.DetailID, "due", w.state.NextDue, "error", err)
		return nil
	}
	switch {
	case res.Ended:
		w.state.Stopped = true
		return nil
	case res.CheckedIn != nil:
		return w.checkedIn(ctx, *res.CheckedIn, res.By)
	}
	w.state.Reminders++
	if res.Interval > 0 {
		// Postgres is the record: a retime whose signal is still on its way
		// applies now.
		w.retime(ctx, Retime{Interval: res.Interval, Grace: res.Grace})
	}
	return nil
}

// lapse acts on a grace period that passed without a check-in: it raises
// the missed check-in (Postgres keeps one still open instead of raising
// another), and moves on to the next due time, the missed one plus the
// interval.
func (w *run) lapse(ctx workflow.Context) error {
	last := w.state.LastCheckIn
	if err := w.raise(ctx, w.state.NextDue, ReasonNoCheckIn); err != nil {
		return err
	}
	if w.state.Stopped || !w.state.LastCheckIn.Equal(last) {
		return nil // ended, or Postgres held a check-in: the interval restarted from it
	}
	next := w.state.NextDue.Add(w.state.Interval)
	if now := workflow.Now(ctx); next.Before(now) {
		// The raise took longer than an interval (Postgres was down): remind
		// now rather than once for every due time missed meanwhile.
		next = now
	}
	w.state.NextDue, w.reminded = next, false
	return nil
}

// raise runs RaiseMissed for the check-in due at due and adopts what
// Postgres answered.
func (w *run) raise(ctx workflow.Context, due time.Time, reason string) error {
	var res protection.MissedResult
	err := workflow.ExecuteActivity(postgresOnly(ctx), ActivityMissed, protection.Missed{
		DetailID: w.in.DetailID, Due: due, Reason: reason, TierWait: w.in.TierWait,
		Last: w.state.LastCheckIn, Open: w.state.OpenIncident,
	}).Get(ctx, &res)
	if err != nil {
		return err
	}
	switch {
	case res.Ended:
		w.state.Stopped = true
	case res.CheckedIn != nil:
		return w.checkedIn(ctx, *res.CheckedIn, "")
	case res.IncidentID == uuid.Nil:
		workflow.GetLogger(ctx).Error("check-in watch: RaiseMissed named no incident", "detail", w.in.DetailID, "due", due)
	case w.state.OpenIncident != nil && *w.state.OpenIncident == res.IncidentID:
		// Still open: the silence goes on under it.
	default:
		id := res.IncidentID
		w.state.OpenIncident = &id
		w.state.Missed++
	}
	return nil
}

func (w *run) historyIsLong(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	return info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() > historyLimit
}

// continueAsNew hands the watch to a fresh run. Signals that have arrived
// but not been taken would be lost with this run, so they are applied
// first (and those that arrive while one of them runs an activity too).
func (w *run) continueAsNew(ctx workflow.Context) (State, error) {
	for {
		sig, ok := w.pending()
		if !ok {
			break
		}
		if err := w.apply(ctx, sig); err != nil {
			return w.state, err
		}
		if w.state.Stopped {
			return w.state, nil
		}
	}
	next := w.in
	next.From, next.Interval, next.Grace = w.state.LastCheckIn, w.state.Interval, w.state.Grace
	next.NextDue, next.OpenIncident = w.state.NextDue, w.state.OpenIncident
	next.Reminders, next.Missed = w.state.Reminders, w.state.Missed
	return w.state, workflow.NewContinueAsNewError(ctx, WorkflowName, next)
}

// remindContext bounds a reminder by the grace period (and at least
// minRemindWindow): the raise waits for it, and must not wait longer. An
// attempt gets at most half the window: one held by a worker that died is
// only known lost when its attempt times out, and must leave time to try
// again, or the reminder is given up unrecorded (and, if the worker died
// before paging, unsent).
func remindContext(ctx workflow.Context, grace time.Duration) workflow.Context {
	window := max(grace, minRemindWindow)
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		ScheduleToCloseTimeout: window,
		StartToCloseTimeout:    min(window/2, 30*time.Second),
		// Pages carry idempotency keys and the step a dedupe key, so a
		// retry that pages someone twice can be dropped by the receiver.
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second},
	})
}

// minRemindWindow is the least time a reminder is given, however short
// the grace period: room for two attempts (a page gives up after 10 s).
const minRemindWindow = 15 * time.Second

// postgresOnly is for activities that only need Postgres and must happen
// (a raise, a recovery): retried until Postgres answers, each attempt
// bounded.
func postgresOnly(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
}
