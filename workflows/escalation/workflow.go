package escalation

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"meridian.dev/platform/auth"
	esc "meridian.dev/platform/escalation"
	"meridian.dev/platform/policy"
)

// Workflow pages each tier of the frozen policy in turn, waiting the tier's
// time for an acknowledgement before moving on, and repeats from a chosen
// tier as the policy says. An acknowledgement stops the climb; the workflow
// then waits for the resolution, which ends it, re-paging the current tier
// whenever the policy's acknowledgement time-out passes unresolved.
//
// Decisions arrive as Updates (validated here: who may acknowledge, nothing
// after resolve; recorded in Postgres by the Decide activity before they
// take effect) or as signals from the outbox relay when Postgres recorded
// them first (the path that keeps working while Temporal is unreachable).
func Workflow(ctx workflow.Context, in Input) (State, error) {
	w := &run{in: in, state: State{Status: StateOpen, Round: 1, Region: in.Region}}
	if in.Resume != nil {
		w.state, w.resumed = *in.Resume, true
		w.in.Resume = nil
	}
	if err := w.handle(ctx); err != nil {
		return w.state, err
	}
	if err := w.climb(ctx); err != nil {
		return w.state, err
	}
	if w.continueAsNew {
		// A long wait (hours of acknowledgement reminders) grows the history
		// without bound: start a fresh run that carries the state over.
		next := w.in
		state := w.state
		next.Resume = &state
		return w.state, workflow.NewContinueAsNewError(ctx, WorkflowName, next)
	}
	return w.state, nil
}

// defaultHistoryLimit is where a waiting escalation continues as new, unless
// Temporal suggests it earlier.
const defaultHistoryLimit = 10_000

func (w *run) historyIsLong(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	limit := w.in.HistoryLimit
	if limit <= 0 {
		limit = defaultHistoryLimit
	}
	return info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() > limit
}

type run struct {
	in    Input
	state State
	// escalate is set by the escalateNow update: stop waiting on this tier.
	escalate bool
	// handedOff is set by the handOff update: start again at the receiving
	// region's first tier.
	handedOff bool
	// resumed: this run continues an earlier one that was waiting for the
	// resolution; continueAsNew: this run is handing over to the next.
	resumed, continueAsNew bool

	ackCh, resolveCh workflow.ReceiveChannel
	wake             workflow.Channel

	// deliveriesInFlight counts pages still being sent (and retried); the
	// run does not end, or continue as new, before they finish.
	deliveriesInFlight int

	// decisions lets one update that records a decision (acknowledge,
	// resolve, escalateNow, handOff) run at a time. Each changes the state
	// only once its activity has answered, so an update validated while
	// another one's activity runs was judged on a state about to change.
	decisions workflow.Mutex
	// escalatedByHand counts escalateNow updates carried out, so one that
	// waited behind another does not escalate a second tier.
	escalatedByHand int
}

// wait blocks until a signal or update arrives, or timeout (when positive)
// passes, and reports whether it timed out. Signals are received here.
func (w *run) wait(ctx workflow.Context, timeout time.Duration) bool {
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(w.ackCh, func(c workflow.ReceiveChannel, _ bool) {
		var d Decision
		c.Receive(ctx, &d)
		w.acknowledged(d)
	})
	sel.AddReceive(w.resolveCh, func(c workflow.ReceiveChannel, _ bool) {
		var d Decision
		c.Receive(ctx, &d)
		w.state.Status, w.state.ResolvedBy = StateResolved, d.Actor
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

func (w *run) activityContexts(ctx workflow.Context) (page, step workflow.Context) {
	page = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		// A few quick retries, then the failure goes on the timeline and the
		// escalation moves on: a broken channel must not stall the climb.
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second, MaximumAttempts: 5},
	})
	step = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		// Recording a step only needs Postgres; keep trying until it answers.
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
	return page, step
}

// handle installs the query, signal and update handlers.
func (w *run) handle(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (State, error) { return w.state, nil }); err != nil {
		return err
	}
	// Signals (Postgres already holds the decision) are received where the
	// workflow waits, as before updates existed, so histories recorded then
	// replay unchanged; updates wake those waits through w.wake.
	w.ackCh = workflow.GetSignalChannel(ctx, SignalAcknowledge)
	w.resolveCh = workflow.GetSignalChannel(ctx, SignalResolve)
	w.wake = workflow.NewBufferedChannel(ctx, 16)
	w.decisions = workflow.NewMutex(ctx)

	decide := func(ctx workflow.Context, kind string, d Decision) error {
		_, stepCtx := w.activityContexts(ctx)
		return workflow.ExecuteActivity(stepCtx, ActivityDecide, DecideRequest{
			EscalationID: w.in.EscalationID, Kind: kind, Decision: d, Tier: w.state.Tier, Round: w.state.Round,
		}).Get(ctx, nil)
	}
	// Each handler notes what its validator judged before it waits for its
	// turn, then asks the same rule again once it has it.
	err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateAcknowledge, func(ctx workflow.Context, d Decision) (State, error) {
		seen := w.premise()
		done, err := w.takeTurn(ctx, func() error { return w.mayAcknowledge(d, seen) })
		if err != nil {
			return w.state, err
		}
		defer done()
		if err := decide(ctx, UpdateAcknowledge, d); err != nil {
			return w.state, err
		}
		w.acknowledged(d)
		w.wake.SendAsync(true)
		return w.state, nil
	}, workflow.UpdateHandlerOptions{Validator: func(d Decision) error { return w.mayAcknowledge(d, w.premise()) }})
	if err != nil {
		return err
	}
	err = workflow.SetUpdateHandlerWithOptions(ctx, UpdateResolve, func(ctx workflow.Context, d Decision) (State, error) {
		seen := w.premise()
		done, err := w.takeTurn(ctx, func() error { return w.mayResolve(d, seen) })
		if err != nil {
			return w.state, err
		}
		defer done()
		if err := decide(ctx, UpdateResolve, d); err != nil {
			return w.state, err
		}
		w.state.Status, w.state.ResolvedBy = StateResolved, d.Actor
		w.wake.SendAsync(true)
		return w.state, nil
	}, workflow.UpdateHandlerOptions{Validator: func(d Decision) error { return w.mayResolve(d, w.premise()) }})
	if err != nil {
		return err
	}
	err = workflow.SetUpdateHandlerWithOptions(ctx, UpdateHandOff, func(ctx workflow.Context, h HandOff) (State, error) {
		seen := w.premise()
		done, err := w.takeTurn(ctx, func() error { return w.mayHandOff(h, seen) })
		if err != nil {
			return w.state, err
		}
		defer done()
		_, stepCtx := w.activityContexts(ctx)
		var res HandOffResult
		err = workflow.ExecuteActivity(stepCtx, ActivityHandOff, HandOffRequest{EscalationID: w.in.EscalationID, FromRegion: w.in.Region, HandOff: h}).Get(ctx, &res)
		if err != nil {
			return w.state, err
		}
		w.state.HandedBy = append(w.state.HandedBy, w.in.Region)
		w.in.Region, w.in.Policy = h.ToRegion, res.Policy
		w.state.Region, w.state.Status, w.state.AcknowledgedBy, w.state.Disposition = h.ToRegion, StateOpen, "", ""
		// The receiving region's people answer for it now.
		w.state.Paged = nil
		w.handedOff = true
		w.wake.SendAsync(true)
		return w.state, nil
	}, workflow.UpdateHandlerOptions{Validator: func(h HandOff) error { return w.mayHandOff(h, w.premise()) }})
	if err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateEscalateNow, func(ctx workflow.Context, d Decision) (State, error) {
		seen := w.premise()
		done, err := w.takeTurn(ctx, func() error { return w.mayEscalateNow(d, seen) })
		if err != nil {
			return w.state, err
		}
		defer done()
		if err := decide(ctx, UpdateEscalateNow, d); err != nil {
			return w.state, err
		}
		w.escalate = true
		w.escalatedByHand++
		w.wake.SendAsync(true)
		return w.state, nil
	}, workflow.UpdateHandlerOptions{Validator: func(d Decision) error { return w.mayEscalateNow(d, w.premise()) }})
}

// takeTurn waits until no other decision is being recorded, then asks the
// update's rule again: the validator judged the state as it was when the
// update arrived, and the updates ahead of this one may have changed it
// since (acknowledged it, handed it off). The caller runs done when its
// change is made, which lets the next update go.
//
// Versioned change: in the history of an escalation started before it, two
// updates may have run their activities side by side (both scheduled in one
// workflow task); taking turns would schedule the second one later, or not
// at all, and its replay would fail. Such runs keep the old way to the end
// (testdata/v2_overlapping_updates.json); the lock itself issues no command.
func (w *run) takeTurn(ctx workflow.Context, rule func() error) (done func(), err error) {
	if workflow.GetVersion(ctx, "serialised-decisions", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return func() {}, nil
	}
	if err := w.decisions.Lock(ctx); err != nil {
		return nil, err
	}
	if err := rule(); err != nil {
		w.decisions.Unlock()
		return nil, err
	}
	return w.decisions.Unlock, nil
}

// premise is what an update was judged against when it arrived. The caller
// was judged against the region owning the escalation then, and only that
// region's people answer for it, so an update that waited while the
// escalation changed hands no longer stands; escalating "now" means past
// the tier the caller saw, not past the next one too.
type premise struct {
	region          string
	handOffs        int // tells A→B→A from A
	escalatedByHand int
}

func (w *run) premise() premise {
	return premise{region: w.in.Region, handOffs: len(w.state.HandedBy), escalatedByHand: w.escalatedByHand}
}

// stillOwnedAsSeen refuses an update of an escalation that has been handed
// off since the update arrived.
func (w *run) stillOwnedAsSeen(seen premise) error {
	if seen.region != w.in.Region || seen.handOffs != len(w.state.HandedBy) {
		return temporal.NewApplicationError(fmt.Sprintf("the escalation has been handed off from %s to %s meanwhile", seen.region, w.in.Region), RejectConflict)
	}
	return nil
}

// The rules below are each an update's validator, and its handler asks them
// again once it is its turn (takeTurn); seen is what the update was judged
// against (the current premise, for the validator).

// mayAcknowledge: a responder (esc.Authority) may acknowledge, once, and
// never after the resolution.
func (w *run) mayAcknowledge(d Decision, seen premise) error {
	switch {
	case w.state.Status == StateResolved:
		return temporal.NewApplicationError("the escalation is already resolved", RejectConflict)
	case w.state.Status == StateAcknowledged:
		return temporal.NewApplicationError("the escalation is already acknowledged by "+w.state.AcknowledgedBy, RejectConflict)
	}
	if err := w.stillOwnedAsSeen(seen); err != nil {
		return err
	}
	if d.Disposition != "" && !slices.Contains(esc.Dispositions, d.Disposition) {
		return temporal.NewApplicationError(fmt.Sprintf("disposition must be one of %v", esc.Dispositions), RejectInvalid)
	}
	return w.mayAct(d, esc.ActAcknowledge)
}

// mayAct asks the escalation's Authority, built from this run's state (the
// owning region's frozen policy, the tier reached, whom it paged), whether
// the decision's caller may take action. Postgres asks the same Authority
// when it decides without the workflow, so the two cannot disagree.
func (w *run) mayAct(d Decision, action policy.Action) error {
	a := esc.Authority{Region: w.in.Region, Tiers: w.in.Policy.Tiers, Tier: w.state.Tier, Paged: w.state.Paged,
		RestrictedTo: w.in.RestrictedTo}
	if err := a.Allow(auth.Identity{Subject: d.Actor, Roles: d.Roles, Regions: d.Regions}, action); err != nil {
		return temporal.NewApplicationError(err.Error(), RejectForbidden)
	}
	return nil
}

// mayResolve: an owner (esc.Authority) may resolve; nothing is accepted
// after the resolution.
func (w *run) mayResolve(d Decision, seen premise) error {
	if w.state.Status == StateResolved {
		return temporal.NewApplicationError("the escalation is already resolved", RejectConflict)
	}
	if err := w.stillOwnedAsSeen(seen); err != nil {
		return err
	}
	return w.mayAct(d, esc.ActResolve)
}

// mayHandOff: an owner (esc.Authority) may pass an unresolved escalation to
// another region, one hand-off at a time.
func (w *run) mayHandOff(h HandOff, seen premise) error {
	switch {
	case w.state.Status == StateResolved:
		return temporal.NewApplicationError("the escalation is already resolved", RejectConflict)
	case h.ToRegion == "" || h.ToRegion == seen.region:
		return temporal.NewApplicationError("hand off to another region than "+seen.region, RejectInvalid)
	case w.handedOff:
		return temporal.NewApplicationError("a hand-off is already under way", RejectConflict)
	}
	if err := w.stillOwnedAsSeen(seen); err != nil {
		return err
	}
	return w.mayAct(h.Decision, esc.ActHandOff)
}

// mayEscalateNow: an owner (esc.Authority) may hurry on an open,
// unacknowledged escalation with a tier left to page, once for the tier
// they saw.
func (w *run) mayEscalateNow(d Decision, seen premise) error {
	switch {
	case w.state.Status != StateOpen:
		return temporal.NewApplicationError("only an open, unacknowledged escalation can be escalated", RejectConflict)
	case w.state.Tier >= len(w.in.Policy.Tiers) && w.state.Round > w.in.Policy.RepeatCount:
		return temporal.NewApplicationError("every tier has been paged; there is no tier to escalate to", RejectConflict)
	case w.escalate || seen.escalatedByHand != w.escalatedByHand:
		return temporal.NewApplicationError("the escalation has just been escalated; look again before escalating it further", RejectConflict)
	}
	if err := w.stillOwnedAsSeen(seen); err != nil {
		return err
	}
	return w.mayAct(d, esc.ActEscalateNow)
}

func (w *run) acknowledged(d Decision) {
	switch {
	case w.state.Status == StateOpen:
		w.state.Status, w.state.AcknowledgedBy, w.state.Disposition = StateAcknowledged, d.Actor, d.Disposition
	case w.state.Status == StateAcknowledged && w.state.AcknowledgedBy == "":
		// Adopted from Postgres before this decision arrived: it still says
		// who acknowledged.
		w.state.AcknowledgedBy = d.Actor
	}
}

func (w *run) climb(ctx workflow.Context) error {
	pageCtx, stepCtx := w.activityContexts(ctx)
	recordStep := func(kind, note string, tierNo int, key string) error {
		return workflow.ExecuteActivity(stepCtx, ActivityRecordStep, StepRequest{
			EscalationID: w.in.EscalationID, Kind: kind, Tier: tierNo, Note: note, DedupeKey: key,
		}).Get(ctx, nil)
	}
	// keys stay as they were for round 1, so steps recorded by older code
	// and by this code deduplicate against each other.
	key := func(tierNo int, what string) string {
		if w.state.Round == 1 {
			return fmt.Sprintf("%s:tier%d:%s", w.in.EscalationID, tierNo, what)
		}
		return fmt.Sprintf("%s:tier%d:round%d:%s", w.in.EscalationID, tierNo, w.state.Round, what)
	}
	page := func(tierNo int, reminder bool) error {
		// Versioned change: escalations started before per-person paging
		// have no marker and page the whole tier with one activity.
		if workflow.GetVersion(ctx, "per-person-pages", workflow.DefaultVersion, 1) == 1 {
			return w.pageEachPerson(ctx, tierNo, reminder, recordStep, key)
		}
		var res PageResult
		err := workflow.ExecuteActivity(pageCtx, ActivityPage, PageRequest{Input: w.in, Tier: tierNo, Round: w.state.Round, Reminder: reminder}).Get(ctx, &res)
		_, err = w.pageAnswered(tierNo, res, err, recordStep, key)
		return err
	}

	// Each pass climbs one region's policy; a hand-off starts another pass
	// at the receiving region's first tier.
	for pass := 0; ; pass++ {
		if pass > 0 {
			w.handedOff = false
			w.state.Round++ // fresh idempotency keys for the new region's pages
		}
		if err := w.climbPolicy(ctx, page, recordStep, key); err != nil {
			return err
		}
		if !w.handedOff {
			break
		}
	}
	// Let an update being handled, and pages being sent, finish before the
	// run ends.
	return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) && w.deliveriesInFlight == 0 })
}

// climbPolicy pages the current policy's tiers (and rounds), then waits for
// the resolution, re-paging on the acknowledgement time-out. It returns early
// when the escalation is handed off.
func (w *run) climbPolicy(ctx workflow.Context, page func(int, bool) error, recordStep func(string, string, int, string) error, key func(int, string) string) error {
	tiers := w.in.Policy.Tiers
	start := 0
	// A resumed run's predecessor had climbed already: only wait.
	climbed := w.resumed
	w.resumed = false
	for !climbed {
		for i := start; i < len(tiers) && w.state.Status == StateOpen && !w.handedOff; i++ {
			tierNo := i + 1
			if err := page(tierNo, false); err != nil {
				return err
			}
			if w.state.Status != StateOpen {
				break
			}
			timedOut := w.wait(ctx, tiers[i].Wait)
			if w.handedOff {
				return nil
			}
			if w.escalate {
				w.escalate = false // the update recorded ESCALATED
				continue
			}
			if timedOut && w.state.Status == StateOpen && tierNo < len(tiers) {
				note := fmt.Sprintf("no acknowledgement within %s; escalating to tier %d", tiers[i].Wait, tierNo+1)
				if err := recordStep(esc.KindTimedOut, note, tierNo, key(tierNo, "timed-out")); err != nil {
					return err
				}
			}
		}
		if w.handedOff {
			return nil
		}
		if w.state.Status != StateOpen {
			break
		}
		if w.state.Round > w.in.Policy.RepeatCount {
			// Versioned change: histories recorded before it have no
			// EXHAUSTED step and replay down the old path.
			if workflow.GetVersion(ctx, "exhausted-step", workflow.DefaultVersion, 1) == 1 {
				note := fmt.Sprintf("every tier paged %d time(s) and nobody acknowledged", w.state.Round)
				if err := recordStep(esc.KindExhausted, note, w.state.Tier, key(w.state.Tier, "exhausted")); err != nil {
					return err
				}
			}
			break
		}
		from := max(w.in.Policy.RepeatFromTier, 1)
		w.state.Round++
		note := fmt.Sprintf("nobody acknowledged; round %d starts again from tier %d", w.state.Round, from)
		if err := recordStep(esc.KindRepeated, note, from, key(from, "repeated")); err != nil {
			return err
		}
		start = from - 1
	}

	// Acknowledged, or every round paged: wait for the resolution. With an
	// acknowledgement time-out, remind the current tier each time it passes.
	for w.state.Status != StateResolved && !w.handedOff {
		var reminderDue time.Duration
		if w.state.Status == StateAcknowledged {
			reminderDue = w.in.Policy.AckTimeout
		}
		if w.wait(ctx, reminderDue) && w.state.Status == StateAcknowledged {
			w.state.Round++
			note := fmt.Sprintf("acknowledged by %s but not resolved within %s; paging tier %d again", w.state.AcknowledgedBy, w.in.Policy.AckTimeout, w.state.Tier)
			if err := recordStep(esc.KindAckTimedOut, note, w.state.Tier, key(w.state.Tier, "ack-timed-out")); err != nil {
				return err
			}
			if err := page(w.state.Tier, true); err != nil {
				return err
			}
		}
		if w.state.Status != StateResolved && !w.handedOff && w.historyIsLong(ctx) {
			w.continueAsNew = true
			return nil
		}
	}
	return nil
}

// pageAnswered applies what a paging activity answered: the tier reached, a
// failure on the timeline, who may now acknowledge, and a decision Postgres
// already holds (a decision whose signal has not arrived yet, or never will,
// still stops the paging). It reports whether the pages should go out.
func (w *run) pageAnswered(tierNo int, res PageResult, err error, recordStep func(string, string, int, string) error, key func(int, string) string) (bool, error) {
	w.state.Tier = tierNo
	if err != nil {
		return false, recordStep(esc.KindPageFailed, fmt.Sprintf("tier %d (%s): %v", tierNo, w.in.Policy.Tiers[tierNo-1].Name, err), tierNo, key(tierNo, "page-failed"))
	}
	for _, p := range res.Recipients {
		if !slices.Contains(w.state.Paged, p) {
			w.state.Paged = append(w.state.Paged, p)
		}
	}
	if res.Skipped {
		adopt(&w.state, res.Status)
		return false, nil
	}
	return true, nil
}

// deliveryAttempts is how many times one page is tried on one channel.
const deliveryAttempts = 5

// pageEachPerson plans the tier's pages (whom, on which channels; recorded
// as PAGED), then sends each as its own activity. The climb does not wait
// for them: the tier's wait starts when the tier is paged, and a channel
// that keeps failing must not hold up the next tier. A page that runs out
// of attempts is recorded as PAGE_FAILED for that person and channel.
func (w *run) pageEachPerson(ctx workflow.Context, tierNo int, reminder bool, recordStep func(string, string, int, string) error, key func(int, string) string) error {
	_, stepCtx := w.activityContexts(ctx)
	var plan PlanResult
	err := workflow.ExecuteActivity(stepCtx, ActivityPlanPages, PageRequest{Input: w.in, Tier: tierNo, Round: w.state.Round, Reminder: reminder}).Get(ctx, &plan)
	// Known before any page goes out: whoever is told can acknowledge.
	if send, err := w.pageAnswered(tierNo, plan.PageResult, err, recordStep, key); !send || err != nil {
		return err
	}
	deliverCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// A page lost with a crashed worker is retried when this runs out:
		// keep it short (the HTTP client gives up after 10 s, SMTP 15 s).
		StartToCloseTimeout: 15 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second,
			MaximumAttempts: deliveryAttempts, NonRetryableErrorTypes: []string{errPermanentDelivery}},
	})
	tier := w.in.Policy.Tiers[tierNo-1]
	for _, d := range plan.Deliveries {
		req := DeliverRequest{
			EscalationID: w.in.EscalationID, Tier: tierNo, TierName: tier.Name, Round: w.state.Round, Reminder: reminder,
			Subject: d.Subject, Channel: d.Channel, Site: w.in.SiteCode, SiteName: w.in.SiteName, Region: w.in.Region,
			Level: w.in.Level, Posture: w.in.Posture, Note: w.in.Note, MaxAttempts: deliveryAttempts,
		}
		sent := workflow.ExecuteActivity(deliverCtx, ActivityDeliver, req)
		w.deliveriesInFlight++
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer func() { w.deliveriesInFlight-- }()
			if err := sent.Get(ctx, nil); err != nil {
				stepCtx := workflow.WithActivityOptions(ctx, workflow.GetActivityOptions(stepCtx))
				_ = workflow.ExecuteActivity(stepCtx, ActivityRecordStep, StepRequest{
					EscalationID: w.in.EscalationID, Kind: esc.KindPageFailed, AboutTier: tierNo,
					Recipient: d.Subject, Channel: d.Channel,
					Note:      fmt.Sprintf("gave up paging %s by %s for tier %d: %v", d.Subject, d.Channel, tierNo, err),
					DedupeKey: req.IdempotencyKey() + ":gave-up",
				}).Get(ctx, nil)
			}
		})
	}
	return nil
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
