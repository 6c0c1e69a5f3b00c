package travel

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	trips "meridian.dev/platform/travel"
)

// The unit tests below run Workflow in the SDK's test environment: a mock
// clock that skips ahead whenever the workflow is blocked, and the
// activities mocked by name. activities_test.go and replay_test.go run the
// same process against the real services.

const (
	testReminderEvery = 4 * time.Hour
	// The round is asked at mock time 0; the deadline and departure are
	// measured from there.
	testDeadlineAfter  = 10 * time.Hour
	testDepartureAfter = 24 * time.Hour
)

type askCall struct {
	Req AskRequest
	At  time.Duration // mock time since the workflow started
}

type stepCall struct {
	Req StepRequest
	At  time.Duration
}

type decisionCall struct {
	Req DecisionRequest
	At  time.Duration
}

type harness struct {
	t     *testing.T
	env   *testsuite.TestWorkflowEnvironment
	in    Input
	start time.Time

	mu        sync.Mutex
	asks      []askCall
	steps     []stepCall
	decisions []decisionCall
	// What the mocked activities answer; each test may change them before
	// the run. answerAsk's default pages someone and reports Postgres still
	// waiting; answerDecide's records what it was asked.
	answerAsk    func(AskRequest) (AskResult, error)
	answerDecide func(DecisionRequest) (DecideResult, error)
	// stepTakes is how long (mock time) recording a step takes.
	stepTakes time.Duration
}

func newHarness(t *testing.T, level int) *harness {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	h := &harness{t: t, env: suite.NewTestWorkflowEnvironment()}
	h.start = h.env.Now().UTC()
	h.in = Input{ApprovalRequested: trips.ApprovalRequested{
		TripID: uuid.MustParse("0190d2a4-0000-7000-8000-0000000000f1"), Round: 1, Level: level,
		Traveller: "tina", Purpose: "site visit", Departure: h.start.Add(testDepartureAfter), Deadline: h.start.Add(testDeadlineAfter),
	}, ReminderEvery: testReminderEvery}
	h.in.WorkflowID = trips.ApprovalWorkflowID(h.in.TripID, h.in.Round)
	h.answerAsk = func(AskRequest) (AskResult, error) { return AskResult{Paged: []string{"someone"}}, nil }
	h.answerDecide = func(req DecisionRequest) (DecideResult, error) {
		return DecideResult{Status: outcome(req.Approve), DecidedBy: req.Actor, DecidedAt: h.env.Now().UTC()}, nil
	}

	// Real method values under the stable names: the mocks below are
	// checked against the activities' true signatures.
	Register(h.env, &Activities{})
	h.env.OnActivity(ActivityAsk, mock.Anything, mock.Anything).Return(func(ctx context.Context, req AskRequest) (AskResult, error) {
		h.mu.Lock()
		h.asks = append(h.asks, askCall{Req: req, At: h.since()})
		answer := h.answerAsk
		h.mu.Unlock()
		return answer(req)
	}).Maybe()
	h.env.OnActivity(ActivityRecordStep, mock.Anything, mock.Anything).AfterFn(func() time.Duration { return h.stepTakes }).Return(
		func(ctx context.Context, req StepRequest) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.steps = append(h.steps, stepCall{Req: req, At: h.since()})
			return nil
		}).Maybe()
	h.env.OnActivity(ActivityDecide, mock.Anything, mock.Anything).Return(func(ctx context.Context, req DecisionRequest) (DecideResult, error) {
		h.mu.Lock()
		h.decisions = append(h.decisions, decisionCall{Req: req, At: h.since()})
		answer := h.answerDecide
		h.mu.Unlock()
		return answer(req)
	}).Maybe()
	return h
}

func (h *harness) since() time.Duration { return h.env.Now().Sub(h.start) }

// at runs fn at mock time d after the workflow started.
func (h *harness) at(d time.Duration, fn func()) { h.env.RegisterDelayedCallback(fn, d) }

func (h *harness) run() (State, time.Duration) {
	h.t.Helper()
	h.env.ExecuteWorkflow(WorkflowName, h.in)
	require.True(h.t, h.env.IsWorkflowCompleted(), "workflow did not complete")
	require.NoError(h.t, h.env.GetWorkflowError())
	var s State
	require.NoError(h.t, h.env.GetWorkflowResult(&s))
	return s, h.since()
}

func (h *harness) askCalls() []askCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]askCall(nil), h.asks...)
}

func (h *harness) stepCalls() []stepCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]stepCall(nil), h.steps...)
}

func (h *harness) decisionCalls() []decisionCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]decisionCall(nil), h.decisions...)
}

type updateOutcome struct {
	result   DecideResult
	err      error
	done     bool
	accepted bool
}

type updateCallback struct{ out *updateOutcome }

func (c *updateCallback) Accept()          { c.out.accepted = true }
func (c *updateCallback) Reject(err error) { c.out.err, c.out.done = err, true }
func (c *updateCallback) Complete(success any, err error) {
	c.out.done, c.out.err = true, err
	if r, ok := success.(DecideResult); ok {
		c.out.result = r
	}
}

func (h *harness) decide(req DecideRequest, out *updateOutcome) {
	h.env.UpdateWorkflow(UpdateDecide, "", &updateCallback{out: out}, req)
}

func rejectionType(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Type()
	}
	return ""
}

func kinds(steps []stepCall) []string {
	out := []string{}
	for _, s := range steps {
		out = append(out, s.Req.Kind)
	}
	return out
}

var (
	travelTeam = []string{RoleTravelTeam}
	globalLead = []string{RoleGlobalLead}
)

func TestAsksTheDecidersAtStart(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 3)
	var approved updateOutcome
	h.at(time.Minute, func() { h.decide(DecideRequest{Actor: "tom", Roles: travelTeam, Approve: true}, &approved) })
	h.run()

	asks := h.askCalls()
	require.Len(t, asks, 1)
	require.Equal(t, time.Duration(0), asks[0].At, "asked at once")
	require.Equal(t, AskRequest{Input: h.in, Kind: KindAsked}, asks[0].Req)
}

func TestRemindsAtTheIntervalThenEscalatesAtTheDeadline(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 3)
	// 10 h deadline, reminders every 4 h: reminders at 4 h and 8 h, the
	// escalation at 10 h; decided at 11 h by a global lead.
	var approved updateOutcome
	h.at(11*time.Hour, func() {
		require.False(t, h.env.IsWorkflowCompleted(), "escalated, the round waits until departure")
		h.decide(DecideRequest{Actor: "gina", Roles: globalLead, Approve: false, Note: "too risky"}, &approved)
	})
	state, took := h.run()

	asks := h.askCalls()
	require.Len(t, asks, 4)
	want := []struct {
		kind     string
		reminder int
		at       time.Duration
	}{{KindAsked, 0, 0}, {KindReminded, 1, 4 * time.Hour}, {KindReminded, 2, 8 * time.Hour}, {KindEscalated, 0, 10 * time.Hour}}
	for i, w := range want {
		require.Equal(t, w.kind, asks[i].Req.Kind, "ask %d", i)
		require.Equal(t, w.reminder, asks[i].Req.Reminder, "ask %d", i)
		require.Equal(t, w.at, asks[i].At, "ask %d", i)
	}
	require.NoError(t, approved.err)
	require.Equal(t, StatusRejected, approved.result.Status)
	require.Equal(t, State{Status: StatusRejected, DecidedBy: "gina", DecidedAt: h.start.Add(11 * time.Hour).UTC(), Note: "too risky", Reminders: 2, Escalated: true}, state)
	require.Equal(t, 11*time.Hour, took, "the decision ends the run at once")
	require.Empty(t, h.stepCalls(), "the decision's step is the store's; the pages record their own")
}

func TestEndsAtDepartureUndecided(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 3)
	state, took := h.run()

	require.Equal(t, StatusNotDecided, state.Status)
	require.True(t, state.Escalated)
	require.Equal(t, testDepartureAfter, took, "the run ends at departure")
	steps := h.stepCalls()
	require.Equal(t, []string{KindNotDecidedBeforeDeparture}, kinds(steps))
	require.Equal(t, testDepartureAfter, steps[0].At)
	require.Equal(t, "trip:"+h.in.TripID.String()+":r1:not-decided", steps[0].Req.DedupeKey)
	require.Contains(t, steps[0].Req.Note, "stays pending")
	// No reminder after the deadline: the global leads have been told.
	asks := h.askCalls()
	require.Equal(t, KindEscalated, asks[len(asks)-1].Req.Kind)
	require.Equal(t, testDeadlineAfter, asks[len(asks)-1].At)
}

func TestTravelTeamApprovesLevel3(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 3)
	var stranger, approved updateOutcome
	h.at(30*time.Minute, func() {
		h.decide(DecideRequest{Actor: "sam", Roles: []string{"regional_manager"}, Approve: true}, &stranger)
	})
	h.at(time.Hour, func() {
		h.decide(DecideRequest{Actor: "tom", Roles: travelTeam, Approve: true, Note: "fine"}, &approved)
	})
	state, took := h.run()

	require.Equal(t, RejectForbidden, rejectionType(stranger.err), "%v", stranger.err)
	require.False(t, stranger.accepted, "refused by the validator")
	require.Contains(t, stranger.err.Error(), "only the travel team or a global lead may decide")
	require.NoError(t, approved.err)
	require.Equal(t, DecideResult{Status: StatusApproved, DecidedBy: "tom", DecidedAt: h.start.Add(time.Hour).UTC()}, approved.result)
	require.Equal(t, StatusApproved, state.Status)
	require.Equal(t, time.Hour, took)
	d := h.decisionCalls()
	require.Len(t, d, 1, "refused decisions record nothing")
	require.Equal(t, DecisionRequest{TripID: h.in.TripID.String(), Round: 1, Approve: true, Actor: "tom", Note: "fine"}, d[0].Req)
}

func TestLevel4NeedsAGlobalLead(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 4)
	var byTeam, byLead updateOutcome
	h.at(time.Hour, func() { h.decide(DecideRequest{Actor: "tom", Roles: travelTeam, Approve: true}, &byTeam) })
	h.at(2*time.Hour, func() {
		require.False(t, h.env.IsWorkflowCompleted(), "a refused decision changes nothing")
		h.decide(DecideRequest{Actor: "gina", Roles: []string{RoleTravelTeam, RoleGlobalLead}, Approve: true}, &byLead)
	})
	state, _ := h.run()

	require.Equal(t, RejectForbidden, rejectionType(byTeam.err))
	require.Contains(t, byTeam.err.Error(), "a level-4 trip needs a global lead's decision")
	require.NoError(t, byLead.err)
	require.Equal(t, StatusApproved, state.Status)
	require.Equal(t, "gina", state.DecidedBy)
	require.Len(t, h.decisionCalls(), 1)
}

func TestSecondDecisionConflictsAndARepeatGetsTheSameAnswer(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 3)
	var first, other, repeat updateOutcome
	// All three arrive together: they take turns, and the ones after the
	// first are judged on the decided trip.
	h.at(time.Hour, func() {
		h.decide(DecideRequest{Actor: "tom", Roles: travelTeam, Approve: true}, &first)
		h.decide(DecideRequest{Actor: "tara", Roles: travelTeam, Approve: false}, &other)
		h.decide(DecideRequest{Actor: "tom", Roles: travelTeam, Approve: true}, &repeat)
	})
	state, _ := h.run()

	require.NoError(t, first.err)
	require.Equal(t, RejectConflict, rejectionType(other.err), "%v", other.err)
	require.Contains(t, other.err.Error(), "this trip was already approved by tom")
	require.NoError(t, repeat.err, "the same decision again is answered, not refused")
	require.Equal(t, first.result, repeat.result)
	require.Equal(t, StatusApproved, state.Status)
	require.Len(t, h.decisionCalls(), 1, "recorded once")
}

func TestCancelEndsTheRoundAndRefusesLaterDecisions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 3)
	h.at(5*time.Hour, func() {
		h.env.SignalWorkflow(SignalCancel, CancelRequest{Actor: "tina", Note: "trip called off"})
	})
	state, took := h.run()

	require.Equal(t, State{Status: StatusCancelled, CancelledBy: "tina", Note: "trip called off", Reminders: 1}, state)
	require.Equal(t, 5*time.Hour, took, "no reminder, no escalation after the cancellation")
	steps := h.stepCalls()
	require.Equal(t, []string{KindCancelled}, kinds(steps))
	require.Equal(t, "tina", steps[0].Req.Actor)
	require.Equal(t, "trip:"+h.in.TripID.String()+":r1:cancelled", steps[0].Req.DedupeKey)
	require.Len(t, h.askCalls(), 2, "asked, reminded once")

	// A decision after the cancellation: the validator refuses it while the
	// run is still finishing (the client maps a finished run to CONFLICT too).
	w := &run{in: h.in, state: state}
	err := w.mayDecide(DecideRequest{Actor: "tom", Roles: travelTeam, Approve: true})
	require.Equal(t, RejectConflict, rejectionType(err))
	require.Contains(t, err.Error(), "the trip was cancelled")
}

func TestDecisionDuringTheCancellationIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 3)
	var after updateOutcome
	// The CANCELLED step takes a while to record; a decision arriving then
	// meets a cancelled round.
	h.stepTakes = time.Minute
	h.at(time.Hour, func() { h.env.SignalWorkflow(SignalCancel, CancelRequest{Actor: "tina"}) })
	h.at(time.Hour+30*time.Second, func() {
		h.decide(DecideRequest{Actor: "tom", Roles: travelTeam, Approve: true}, &after)
	})
	state, _ := h.run()

	require.Equal(t, StatusCancelled, state.Status)
	require.True(t, after.done, "the decision was answered")
	require.Equal(t, RejectConflict, rejectionType(after.err), "%v", after.err)
	require.Contains(t, after.err.Error(), "the trip was cancelled")
	require.Empty(t, h.decisionCalls())
}

func TestAdoptsWhatPostgresShows(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ settled, want string }{
		{StatusCancelled, StatusCancelled},
		{StatusApproved, StatusApproved},
		{StatusSuperseded, StatusSuperseded},
	} {
		t.Run(tc.settled, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, 3)
			h.answerAsk = func(AskRequest) (AskResult, error) { return AskResult{Settled: tc.settled}, nil }
			state, took := h.run()
			require.Equal(t, tc.want, state.Status)
			require.Equal(t, time.Duration(0), took, "nothing to wait for")
			require.Empty(t, h.stepCalls(), "Postgres already has the step that settled it")
		})
	}
}

func TestAskFailureIsRecordedAndTheRoundGoesOn(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 3)
	h.answerAsk = func(req AskRequest) (AskResult, error) {
		if req.Kind == KindAsked {
			return AskResult{}, errors.New("directory down")
		}
		return AskResult{}, nil
	}
	var approved updateOutcome
	h.at(5*time.Hour, func() { h.decide(DecideRequest{Actor: "tom", Roles: travelTeam, Approve: true}, &approved) })
	state, _ := h.run()

	require.Equal(t, StatusApproved, state.Status)
	steps := h.stepCalls()
	require.Equal(t, []string{KindAskFailed}, kinds(steps))
	require.Contains(t, steps[0].Req.Note, "directory down")
	asks := h.askCalls()
	require.Len(t, asks, 6, "five attempts at the start, then the reminder at 4 h")
	require.Equal(t, KindReminded, asks[5].Req.Kind)
}

func TestValidatorRefusals(t *testing.T) {
	t.Parallel()
	lvl3 := &run{in: Input{ApprovalRequested: trips.ApprovalRequested{Level: 3}}, state: State{Status: StatusPending}}
	lvl4 := &run{in: Input{ApprovalRequested: trips.ApprovalRequested{Level: 4}}, state: State{Status: StatusPending}}
	approvedByTom := &run{in: lvl3.in, state: State{Status: StatusApproved, DecidedBy: "tom"}}
	cancelled := &run{in: lvl3.in, state: State{Status: StatusCancelled}}
	for _, tc := range []struct {
		name     string
		w        *run
		req      DecideRequest
		wantType string
		wantMsg  string
	}{
		{"no actor", lvl3, DecideRequest{Roles: travelTeam}, RejectInvalid, "who decides"},
		{"long note", lvl3, DecideRequest{Actor: "tom", Roles: travelTeam, Note: strings.Repeat("é", MaxNoteLength+1)}, RejectInvalid, "longer than 1000"},
		{"note of 1000 characters", lvl3, DecideRequest{Actor: "tom", Roles: travelTeam, Note: strings.Repeat("é", MaxNoteLength)}, "", ""},
		{"NUL in note", lvl3, DecideRequest{Actor: "tom", Roles: travelTeam, Note: "a\x00b"}, RejectInvalid, "NUL"},
		{"no role", lvl3, DecideRequest{Actor: "sam", Roles: []string{"viewer"}}, RejectForbidden, "only the travel team or a global lead may decide"},
		{"travel team at level 4", lvl4, DecideRequest{Actor: "tom", Roles: travelTeam}, RejectForbidden, "a level-4 trip needs a global lead's decision"},
		{"global lead at level 4", lvl4, DecideRequest{Actor: "gina", Roles: globalLead}, "", ""},
		{"decided by another", approvedByTom, DecideRequest{Actor: "tara", Roles: travelTeam, Approve: true}, RejectConflict, "this trip was already approved by tom"},
		{"the other outcome by the same actor", approvedByTom, DecideRequest{Actor: "tom", Roles: travelTeam}, RejectConflict, "already approved by tom"},
		{"the same decision again", approvedByTom, DecideRequest{Actor: "tom", Roles: travelTeam, Approve: true}, "", ""},
		{"cancelled", cancelled, DecideRequest{Actor: "tom", Roles: travelTeam, Approve: true}, RejectConflict, "the trip was cancelled"},
		{"stranger on a cancelled trip learns nothing", cancelled, DecideRequest{Actor: "sam"}, RejectForbidden, "only the travel team"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.w.mayDecide(tc.req)
			if tc.wantType == "" {
				require.NoError(t, err)
				return
			}
			require.Equal(t, tc.wantType, rejectionType(err), "%v", err)
			require.Contains(t, err.Error(), tc.wantMsg)
		})
	}
}

func TestPostgresRefusalIsTheUpdatesRefusal(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 3)
	recordDecision := h.answerDecide
	refuseFirst := true
	h.answerDecide = func(req DecisionRequest) (DecideResult, error) {
		if refuseFirst {
			refuseFirst = false
			return DecideResult{}, temporal.NewNonRetryableApplicationError("the trip was cancelled", RejectConflict, nil)
		}
		return recordDecision(req)
	}
	var refused, approved updateOutcome
	h.at(time.Hour, func() { h.decide(DecideRequest{Actor: "tom", Roles: travelTeam, Approve: true}, &refused) })
	h.at(2*time.Hour, func() { h.decide(DecideRequest{Actor: "tom", Roles: travelTeam, Approve: true}, &approved) })
	state, _ := h.run()

	require.True(t, refused.accepted, "the workflow's rule let it through; Postgres refused it")
	require.Equal(t, RejectConflict, rejectionType(refused.err), "%v", refused.err)
	require.NoError(t, approved.err, "a refused decision leaves the round waiting")
	require.Equal(t, StatusApproved, state.Status)
}
