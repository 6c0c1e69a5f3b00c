package escalation

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Tests of the engine's updates, repeats and acknowledgement time-outs, in
// the SDK's time-skipping test environment.

type decideRecorder struct {
	mu    sync.Mutex
	calls []DecideRequest
}

func (d *decideRecorder) all() []DecideRequest {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]DecideRequest(nil), d.calls...)
}

func withDecide(h *harness) *decideRecorder {
	rec := &decideRecorder{}
	h.env.OnActivity(ActivityDecide, mock.Anything, mock.Anything).Return(func(ctx context.Context, req DecideRequest) error {
		rec.mu.Lock()
		rec.calls = append(rec.calls, req)
		rec.mu.Unlock()
		return nil
	}).Maybe()
	return rec
}

type updateOutcome struct {
	state State
	err   error
	done  bool
	// accepted: the validator let the update through, so a refusal came
	// from the handler's own re-check.
	accepted bool
}

// update sends an update and records its outcome.
func (h *harness) update(name string, d any, out *updateOutcome) {
	h.env.UpdateWorkflow(name, "", &testUpdateCallback{out: out}, d)
}

type testUpdateCallback struct{ out *updateOutcome }

func (c *testUpdateCallback) Accept() { c.out.accepted = true }
func (c *testUpdateCallback) Reject(err error) {
	c.out.err, c.out.done = err, true
}
func (c *testUpdateCallback) Complete(success any, err error) {
	c.out.done, c.out.err = true, err
	if s, ok := success.(State); ok {
		c.out.state = s
	}
}

func rejectionType(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Type()
	}
	return ""
}

func TestUpdateAcknowledgeValidatesWhoAndAnswersWithTheState(t *testing.T) {
	t.Parallel()
	h := newHarness(t, pageOK)
	decisions := withDecide(h)
	var stranger, badDisposition, paged, again, afterResolve updateOutcome
	h.at(time.Minute, func() {
		h.update(UpdateAcknowledge, Decision{Actor: "someone-else", Roles: []string{"regional_manager"}}, &stranger)
		h.update(UpdateAcknowledge, Decision{Actor: "tier1-person", Disposition: "SHRUG"}, &badDisposition)
	})
	h.at(2*time.Minute, func() {
		h.update(UpdateAcknowledge, Decision{Actor: "tier1-person", Disposition: "IMPACT", Note: "on site"}, &paged)
	})
	h.at(3*time.Minute, func() { h.update(UpdateAcknowledge, Decision{Actor: "lead", Roles: []string{"global_lead"}}, &again) })
	h.at(4*time.Minute, func() {
		h.update(UpdateResolve, Decision{Actor: "lead", Roles: []string{"global_lead"}}, &updateOutcome{})
	})
	h.at(5*time.Minute, func() {
		h.update(UpdateAcknowledge, Decision{Actor: "lead", Roles: []string{"global_lead"}}, &afterResolve)
	})
	state, _ := h.run()

	require.Equal(t, RejectForbidden, rejectionType(stranger.err), "not paged and not a global lead: %v", stranger.err)
	require.Equal(t, RejectInvalid, rejectionType(badDisposition.err), "unknown disposition: %v", badDisposition.err)
	require.NoError(t, paged.err)
	require.Equal(t, StateAcknowledged, paged.state.Status)
	require.Equal(t, "tier1-person", paged.state.AcknowledgedBy)
	require.Equal(t, "IMPACT", paged.state.Disposition)
	require.Equal(t, RejectConflict, rejectionType(again.err), "a second acknowledgement: %v", again.err)
	// The resolution ends the workflow: a later acknowledgement is never
	// accepted (it finds no running escalation to update).
	require.False(t, afterResolve.done && afterResolve.err == nil, "an acknowledgement after the resolution was accepted")

	require.Equal(t, StateResolved, state.Status)
	require.Len(t, h.pageCalls(), 1, "acknowledged during tier 1: tier 2 is never paged")
	kinds := []string{}
	for _, d := range decisions.all() {
		kinds = append(kinds, d.Kind)
	}
	require.Equal(t, []string{UpdateAcknowledge, UpdateResolve}, kinds, "rejected updates record nothing")
}

func TestUpdateEscalateNowPagesTheNextTierAtOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, pageOK)
	decisions := withDecide(h)
	var now, tooFar updateOutcome
	h.at(time.Minute, func() { h.update(UpdateEscalateNow, Decision{Actor: "lead", Roles: []string{"global_lead"}}, &now) })
	h.at(2*time.Minute, func() {
		h.update(UpdateEscalateNow, Decision{Actor: "lead", Roles: []string{"global_lead"}}, &tooFar)
	})
	h.at(3*time.Minute, func() { h.signal(SignalResolve, "lead") })
	h.run()

	require.NoError(t, now.err)
	pages := h.pageCalls()
	require.Len(t, pages, 2)
	require.Equal(t, 2, pages[1].Req.Tier)
	require.Equal(t, time.Minute, pages[1].At, "tier 2 paged when escalated, not after tier 1's wait")
	require.Equal(t, RejectConflict, rejectionType(tooFar.err), "no tier left to escalate to: %v", tooFar.err)
	d := decisions.all()
	require.Len(t, d, 1)
	require.Equal(t, UpdateEscalateNow, d[0].Kind)
	require.Equal(t, 1, d[0].Tier, "escalated past tier 1")
}

func TestRepeatsFromAChosenTierThenExhausts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, pageOK)
	h.in.Policy.Tiers = append(h.in.Policy.Tiers, Tier{Name: "desk", Targets: []Target{{Kind: "USER", Subject: "desk"}}, Wait: tierWait})
	h.in.Policy.RepeatCount, h.in.Policy.RepeatFromTier = 1, 2
	h.at(time.Hour, func() { h.signal(SignalResolve, "lead") })
	h.run()

	type tr struct{ tier, round int }
	var got []tr
	for _, p := range h.pageCalls() {
		got = append(got, tr{p.Req.Tier, p.Req.Round})
	}
	require.Equal(t, []tr{{1, 1}, {2, 1}, {3, 1}, {2, 2}, {3, 2}}, got, "round 2 starts again from tier 2")
	var kinds []string
	for _, s := range h.stepCalls() {
		kinds = append(kinds, s.Req.Kind)
	}
	require.Equal(t, []string{"TIMED_OUT", "TIMED_OUT", "REPEATED", "TIMED_OUT", "EXHAUSTED"}, kinds)
	// Tier 3's wait ends at 15 min; round 2 pages tier 2 then, tier 3 at 20.
	require.Equal(t, 4*tierWait, h.pageCalls()[4].At, "no wait skipped")
}

func TestAcknowledgedButUnresolvedIsPagedAgain(t *testing.T) {
	t.Parallel()
	h := newHarness(t, pageOK)
	withDecide(h)
	h.in.Policy.AckTimeout = 10 * time.Minute
	h.at(time.Minute, func() { h.update(UpdateAcknowledge, Decision{Actor: "tier1-person"}, &updateOutcome{}) })
	h.at(25*time.Minute, func() { h.update(UpdateResolve, Decision{Actor: "tier1-person"}, &updateOutcome{}) })
	state, _ := h.run()

	pages := h.pageCalls()
	require.Len(t, pages, 3, "tier 1, then reminders at 11 and 21 minutes")
	for i, want := range []time.Duration{0, 11 * time.Minute, 21 * time.Minute} {
		require.Equal(t, want, pages[i].At)
		require.Equal(t, 1, pages[i].Req.Tier, "reminders page the current tier")
		require.Equal(t, i > 0, pages[i].Req.Reminder)
		require.Equal(t, i+1, pages[i].Req.Round)
	}
	require.Equal(t, StateResolved, state.Status)
	require.Equal(t, "tier1-person", state.AcknowledgedBy)
}

func TestHandOffPagesTheReceivingRegionsFirstTier(t *testing.T) {
	t.Parallel()
	h := newHarness(t, pageOK)
	withDecide(h)
	apac := Policy{Name: "apac", Version: 2, Tiers: []Tier{{Name: "apac managers", Targets: []Target{{Role: "regional_manager", Region: "APAC"}}, Wait: 30 * time.Minute}}}
	var handOffs []HandOffRequest
	h.env.OnActivity(ActivityHandOff, mock.Anything, mock.Anything).Return(func(ctx context.Context, req HandOffRequest) (HandOffResult, error) {
		handOffs = append(handOffs, req)
		return HandOffResult{Policy: apac}, nil
	})
	var handed, same, ack updateOutcome
	h.at(2*time.Minute, func() {
		h.update(UpdateHandOff, HandOff{Decision: Decision{Actor: "lead", Roles: []string{"global_lead"}, Note: "night shift"}, ToRegion: "APAC"}, &handed)
	})
	h.at(3*time.Minute, func() {
		h.update(UpdateHandOff, HandOff{Decision: Decision{Actor: "lead"}, ToRegion: "APAC"}, &same)
	})
	h.at(4*time.Minute, func() { h.update(UpdateAcknowledge, Decision{Actor: "tier1-person", Disposition: "IMPACT"}, &ack) })
	h.at(5*time.Minute, func() { h.signal(SignalResolve, "lead") })
	state, _ := h.run()

	require.NoError(t, handed.err)
	require.Equal(t, "APAC", handed.state.Region)
	require.Equal(t, []string{"EMEA"}, handed.state.HandedBy, "the giving region is remembered")
	require.Equal(t, StateOpen, handed.state.Status)
	require.Len(t, handOffs, 1)
	require.Equal(t, "EMEA", handOffs[0].FromRegion)
	require.Equal(t, RejectInvalid, rejectionType(same.err), "handing off to the owning region: %v", same.err)

	pages := h.pageCalls()
	require.Len(t, pages, 2)
	require.Equal(t, "APAC", pages[1].Req.Input.Region)
	require.Equal(t, "apac", pages[1].Req.Input.Policy.Name, "the receiving region's policy is frozen in")
	require.Equal(t, 1, pages[1].Req.Tier, "the receiving region's first tier")
	require.Equal(t, 2*time.Minute, pages[1].At, "paged at the hand-off")
	require.Equal(t, 2, pages[1].Req.Round, "a fresh round keeps idempotency keys apart")
	require.NoError(t, ack.err, "the receiving region's paged person takes it")
	require.Equal(t, StateResolved, state.Status)
	require.Equal(t, "tier1-person", state.AcknowledgedBy)
}

// TestLongWaitContinuesAsNew: reminders every minute for hours grow the
// history; past the limit the run continues as new, carrying its state.
func TestLongWaitContinuesAsNew(t *testing.T) {
	t.Parallel()
	h := newHarness(t, pageOK)
	withDecide(h)
	h.env.SetTestTimeout(20 * time.Second)
	h.in.Policy.AckTimeout = time.Minute
	h.in.HistoryLimit = 60
	h.at(30*time.Second, func() {
		h.update(UpdateAcknowledge, Decision{Actor: "tier1-person", Disposition: "IMPACT"}, &updateOutcome{})
	})
	// The test environment keeps no real history: say how long it has grown.
	h.at(3*time.Minute+30*time.Second, func() { h.env.SetCurrentHistoryLength(61) })
	h.start = h.env.Now()
	h.env.ExecuteWorkflow(WorkflowName, h.in)
	require.True(t, h.env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(h.env.GetWorkflowError(), &can), "want continue-as-new, got %v", h.env.GetWorkflowError())
	var next Input
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	require.NotNil(t, next.Resume)
	require.Equal(t, StateAcknowledged, next.Resume.Status)
	require.Equal(t, "tier1-person", next.Resume.AcknowledgedBy)
	require.Greater(t, next.Resume.Round, 2, "reminders ran before the hand-over to a new run")
	require.Equal(t, h.in.Policy, next.Policy, "the frozen policy travels on")
}

// TestResumedRunOnlyWaits: a run continued from a waiting one pages nobody
// until its reminder is due, and ends at the resolution.
func TestResumedRunOnlyWaits(t *testing.T) {
	t.Parallel()
	h := newHarness(t, pageOK)
	h.in.Policy.AckTimeout = 10 * time.Minute
	h.in.Resume = &State{Status: StateAcknowledged, Tier: 2, Round: 7, AcknowledgedBy: "alice", Region: "EMEA", Paged: []string{"alice"}}
	h.at(15*time.Minute, func() { h.signal(SignalResolve, "bob") })
	state, _ := h.run()
	pages := h.pageCalls()
	require.Len(t, pages, 1, "only the reminder at 10 minutes")
	require.Equal(t, 10*time.Minute, pages[0].At)
	require.Equal(t, 2, pages[0].Req.Tier)
	require.Equal(t, 8, pages[0].Req.Round, "rounds go on from where the last run stopped")
	require.True(t, pages[0].Req.Reminder)
	require.Equal(t, StateResolved, state.Status)
	require.Equal(t, "alice", state.AcknowledgedBy)
}
