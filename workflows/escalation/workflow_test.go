package escalation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	esc "meridian.dev/platform/escalation"
)

// The unit tests below run Workflow in the SDK's test environment: a mock
// clock that skips ahead whenever the workflow is blocked, and mocked
// activities. They check the climb itself; activities_test.go and the relay
// tests check the same process against the real services.

const tierWait = 5 * time.Minute

func testInput() Input {
	return Input{
		EscalationID: "0190d2a4-0000-7000-8000-000000000001",
		SiteID:       "0190d2a4-0000-7000-8000-0000000000aa",
		SiteCode:     "PAR-HQ",
		SiteName:     "Paris headquarters",
		Region:       "EMEA",
		Level:        "CRITICAL",
		Posture:      "LOCKDOWN",
		Note:         "intruder on site",
		Policy: Policy{Name: "test", Version: 3, Tiers: []Tier{
			{Name: "regional managers", Targets: []Target{{Role: "regional_manager", Region: "EMEA"}}, Wait: tierWait},
			{Name: "global leads", Targets: []Target{{Role: "global_lead"}}, Wait: tierWait},
		}},
	}
}

type pageCall struct {
	Req     PageRequest
	Attempt int32
	At      time.Duration // mock time since the workflow started
}

type deliverCall struct {
	Req     DeliverRequest
	Attempt int32
	At      time.Duration
}

type stepCall struct {
	Req StepRequest
	At  time.Duration
}

// harness is a test workflow environment with the activities mocked by name
// and every call recorded with its mock time.
type harness struct {
	t     *testing.T
	env   *testsuite.TestWorkflowEnvironment
	in    Input
	start time.Time

	mu         sync.Mutex
	pages      []pageCall
	deliveries []deliverCall
	steps      []stepCall
	// deliver answers each Deliver attempt; nil delivers.
	deliver func(req DeliverRequest, attempt int32) error
}

// newHarness mocks PlanPages with page (called for every attempt; each
// recipient it names is paged by WEBHOOK), Deliver with h.deliver, and
// RecordStep with a recorder that always succeeds.
func newHarness(t *testing.T, page func(req PageRequest, attempt int32) (PageResult, error)) *harness {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	h := &harness{t: t, env: suite.NewTestWorkflowEnvironment(), in: testInput()}
	h.env.RegisterWorkflowWithOptions(Workflow, workflow.RegisterOptions{Name: WorkflowName})
	// Register real method values under the stable names, so the mocks below
	// are checked against the activities' true signatures.
	stub := &Activities{}
	h.env.RegisterActivityWithOptions(stub.Page, activity.RegisterOptions{Name: ActivityPage})
	h.env.RegisterActivityWithOptions(stub.RecordStep, activity.RegisterOptions{Name: ActivityRecordStep})
	h.env.RegisterActivityWithOptions(stub.Decide, activity.RegisterOptions{Name: ActivityDecide})
	h.env.RegisterActivityWithOptions(stub.HandOff, activity.RegisterOptions{Name: ActivityHandOff})
	h.env.RegisterActivityWithOptions(stub.PlanPages, activity.RegisterOptions{Name: ActivityPlanPages})
	h.env.RegisterActivityWithOptions(stub.Deliver, activity.RegisterOptions{Name: ActivityDeliver})

	h.env.OnActivity(ActivityPlanPages, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, req PageRequest) (PlanResult, error) {
			attempt := activity.GetInfo(ctx).Attempt
			h.mu.Lock()
			h.pages = append(h.pages, pageCall{Req: req, Attempt: attempt, At: h.env.Now().Sub(h.start)})
			h.mu.Unlock()
			res, err := page(req, attempt)
			plan := PlanResult{PageResult: res}
			for _, p := range res.Recipients {
				plan.Deliveries = append(plan.Deliveries, Delivery{Subject: p, Channel: "WEBHOOK"})
			}
			return plan, err
		}).Maybe()
	h.env.OnActivity(ActivityDeliver, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, req DeliverRequest) (DeliverResult, error) {
			attempt := activity.GetInfo(ctx).Attempt
			h.mu.Lock()
			h.deliveries = append(h.deliveries, deliverCall{Req: req, Attempt: attempt, At: h.env.Now().Sub(h.start)})
			deliver := h.deliver
			h.mu.Unlock()
			if deliver != nil {
				return DeliverResult{}, deliver(req, attempt)
			}
			return DeliverResult{}, nil
		}).Maybe()
	h.env.OnActivity(ActivityRecordStep, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, req StepRequest) error {
			h.mu.Lock()
			h.steps = append(h.steps, stepCall{Req: req, At: h.env.Now().Sub(h.start)})
			h.mu.Unlock()
			return nil
		}).Maybe()
	return h
}

// at runs fn at mock time d after the workflow started.
func (h *harness) at(d time.Duration, fn func()) { h.env.RegisterDelayedCallback(fn, d) }

func (h *harness) signal(name, actor string) {
	h.env.SignalWorkflow(name, Decision{Actor: actor, Note: name + " by " + actor})
}

func (h *harness) query() State {
	h.t.Helper()
	v, err := h.env.QueryWorkflow(QueryState)
	if err != nil {
		h.t.Fatalf("query %s: %v", QueryState, err)
	}
	var s State
	if err := v.Get(&s); err != nil {
		h.t.Fatalf("decode state: %v", err)
	}
	return s
}

// run executes the workflow to completion and returns its result and how
// much mock time it took.
func (h *harness) run() (State, time.Duration) {
	h.t.Helper()
	h.start = h.env.Now()
	h.env.ExecuteWorkflow(WorkflowName, h.in)
	if !h.env.IsWorkflowCompleted() {
		h.t.Fatal("workflow did not complete")
	}
	if err := h.env.GetWorkflowError(); err != nil {
		h.t.Fatalf("workflow failed: %v", err)
	}
	var s State
	if err := h.env.GetWorkflowResult(&s); err != nil {
		h.t.Fatalf("workflow result: %v", err)
	}
	return s, h.env.Now().Sub(h.start)
}

func (h *harness) deliverCalls() []deliverCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]deliverCall(nil), h.deliveries...)
}

// pageCalls returns every PlanPages attempt, in call order.
func (h *harness) pageCalls() []pageCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]pageCall(nil), h.pages...)
}

func (h *harness) stepCalls() []stepCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]stepCall(nil), h.steps...)
}

func pageOK(req PageRequest, _ int32) (PageResult, error) {
	return PageResult{Status: StateOpen, Recipients: []string{fmt.Sprintf("tier%d-person", req.Tier)}}, nil
}

func TestWorkflowClimbsToTier2WithoutAcknowledgement(t *testing.T) {
	t.Parallel()
	h := newHarness(t, pageOK)
	h.at(15*time.Minute, func() {
		require.False(t, h.env.IsWorkflowCompleted(), "every tier paged: the workflow must keep waiting for the resolution")
		s := h.query()
		require.Equal(t, State{Status: StateOpen, Tier: 2}, core(s))
	})
	h.at(20*time.Minute, func() { h.signal(SignalResolve, "bob") })

	state, took := h.run()

	require.Equal(t, State{Status: StateResolved, Tier: 2, ResolvedBy: "bob"}, core(state))
	require.Equal(t, 20*time.Minute, took, "the workflow ends when the resolve signal arrives, not before")

	pages := h.pageCalls()
	require.Len(t, pages, 2, "tier 1 then tier 2, once each")
	for i, p := range pages {
		require.Equal(t, i+1, p.Req.Tier, "page %d", i)
		require.Equal(t, 1, p.Req.Round, "page %d", i)
		require.Equal(t, h.in, p.Req.Input, "the frozen input travels with every page")
	}
	require.Equal(t, time.Duration(0), pages[0].At, "tier 1 is paged at once")
	require.Equal(t, tierWait, pages[1].At, "tier 2 is paged when tier 1's wait is over")

	steps := h.stepCalls()
	require.Len(t, steps, 2, "TIMED_OUT for tier 1, then EXHAUSTED when the last tier's wait ends")
	require.Equal(t, "EXHAUSTED", steps[1].Req.Kind)
	require.Equal(t, 2*tierWait, steps[1].At)
	require.Equal(t, StepRequest{
		EscalationID: h.in.EscalationID, Kind: esc.KindTimedOut, Tier: 1,
		Note:      "no acknowledgement within 5m0s; escalating to tier 2",
		DedupeKey: h.in.EscalationID + ":tier1:timed-out",
	}, steps[0].Req)
	require.Equal(t, tierWait, steps[0].At)
}

func TestWorkflowAcknowledgementStopsTheClimb(t *testing.T) {
	t.Parallel()
	h := newHarness(t, pageOK)
	h.at(2*time.Minute, func() { h.signal(SignalAcknowledge, "alice") })
	h.at(3*time.Minute, func() {
		require.Equal(t, State{Status: StateAcknowledged, Tier: 1, AcknowledgedBy: "alice"}, core(h.query()))
	})
	// Long after tier 1's wait: still acknowledged, still running, nobody else paged.
	h.at(30*time.Minute, func() {
		require.False(t, h.env.IsWorkflowCompleted())
		require.Equal(t, StateAcknowledged, h.query().Status)
		h.signal(SignalResolve, "bob")
	})

	state, took := h.run()

	require.Equal(t, State{Status: StateResolved, Tier: 1, AcknowledgedBy: "alice", ResolvedBy: "bob"}, core(state))
	require.Equal(t, 30*time.Minute, took)
	pages := h.pageCalls()
	require.Len(t, pages, 1, "tier 2 must never be paged after an acknowledgement")
	require.Equal(t, 1, pages[0].Req.Tier)
	require.Empty(t, h.stepCalls(), "no TIMED_OUT step after an acknowledgement")
}

func TestWorkflowResolveDuringTier1(t *testing.T) {
	t.Parallel()
	h := newHarness(t, pageOK)
	h.at(time.Minute, func() { h.signal(SignalResolve, "carol") })

	state, took := h.run()

	require.Equal(t, State{Status: StateResolved, Tier: 1, ResolvedBy: "carol"}, core(state))
	require.Equal(t, time.Minute, took, "resolving ends the workflow at once; the tier timer must not hold it")
	pages := h.pageCalls()
	require.Len(t, pages, 1)
	require.Equal(t, 1, pages[0].Req.Tier)
	require.Empty(t, h.stepCalls())
}

func TestWorkflowAdoptsAcknowledgementFromPostgres(t *testing.T) {
	t.Parallel()
	// The signal was lost or is late, but Postgres already holds the
	// acknowledgement: the plan says so and nobody is paged.
	h := newHarness(t, func(PageRequest, int32) (PageResult, error) {
		return PageResult{Skipped: true, Status: StateAcknowledged}, nil
	})
	h.at(time.Minute, func() {
		s := h.query()
		require.Equal(t, StateAcknowledged, s.Status)
		require.Equal(t, 1, s.Tier)
	})
	h.at(30*time.Minute, func() {
		require.False(t, h.env.IsWorkflowCompleted(), "an acknowledged escalation waits for its resolution")
		require.Equal(t, StateAcknowledged, h.query().Status)
	})
	h.at(40*time.Minute, func() { h.signal(SignalResolve, "bob") })

	state, took := h.run()

	require.Equal(t, StateResolved, state.Status)
	require.Equal(t, "bob", state.ResolvedBy)
	require.Equal(t, 40*time.Minute, took)
	pages := h.pageCalls()
	require.Len(t, pages, 1, "no page after Postgres showed the acknowledgement")
	require.Equal(t, 1, pages[0].Req.Tier)
	require.Empty(t, h.stepCalls(), "no TIMED_OUT when nothing was waited for")
}

func TestWorkflowAdoptedAcknowledgementLearnsWhoFromTheLateSignal(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(PageRequest, int32) (PageResult, error) {
		return PageResult{Skipped: true, Status: StateAcknowledged}, nil
	})
	h.at(time.Minute, func() {
		require.Equal(t, State{Status: StateAcknowledged, Tier: 1}, core(h.query()), "Postgres says acknowledged; who is not known yet")
	})
	h.at(2*time.Minute, func() { h.signal(SignalAcknowledge, "alice") })
	h.at(3*time.Minute, func() {
		require.Equal(t, State{Status: StateAcknowledged, Tier: 1, AcknowledgedBy: "alice"}, core(h.query()))
	})
	h.at(4*time.Minute, func() { h.signal(SignalResolve, "bob") })

	state, _ := h.run()
	require.Equal(t, State{Status: StateResolved, Tier: 1, AcknowledgedBy: "alice", ResolvedBy: "bob"}, core(state))
}

func TestWorkflowFirstAcknowledgementWins(t *testing.T) {
	t.Parallel()
	h := newHarness(t, pageOK)
	h.at(2*time.Minute, func() { h.signal(SignalAcknowledge, "alice") })
	h.at(3*time.Minute, func() { h.signal(SignalAcknowledge, "mallory") })
	h.at(4*time.Minute, func() {
		require.Equal(t, "alice", h.query().AcknowledgedBy)
		h.signal(SignalResolve, "bob")
	})

	state, _ := h.run()
	require.Equal(t, State{Status: StateResolved, Tier: 1, AcknowledgedBy: "alice", ResolvedBy: "bob"}, core(state))
}

func TestWorkflowEndsWhenPostgresShowsResolved(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(PageRequest, int32) (PageResult, error) {
		return PageResult{Skipped: true, Status: StateResolved}, nil
	})

	state, took := h.run()

	require.Equal(t, StateResolved, state.Status)
	require.Equal(t, time.Duration(0), took, "nothing left to wait for")
	require.Len(t, h.pageCalls(), 1)
}

func TestWorkflowDeliveryFailureIsRecordedAndTheClimbGoesOn(t *testing.T) {
	t.Parallel()
	h := newHarness(t, pageOK)
	h.deliver = func(req DeliverRequest, _ int32) error {
		if req.Tier == 1 {
			return errors.New("webhook down")
		}
		return nil
	}
	h.at(time.Hour, func() { h.signal(SignalResolve, "bob") })

	state, _ := h.run()
	require.Equal(t, State{Status: StateResolved, Tier: 2, ResolvedBy: "bob"}, core(state))

	var tier1, tier2 []deliverCall
	for _, d := range h.deliverCalls() {
		require.Equal(t, "WEBHOOK", d.Req.Channel)
		require.Equal(t, fmt.Sprintf("tier%d-person", d.Req.Tier), d.Req.Subject)
		require.Equal(t, deliveryAttempts, d.Req.MaxAttempts)
		if d.Req.Tier == 1 {
			tier1 = append(tier1, d)
		} else {
			tier2 = append(tier2, d)
		}
	}
	// The delivery retry policy allows 5 attempts, then the failure goes on
	// the timeline; the climb never waited for them.
	require.Len(t, tier1, deliveryAttempts, "tier 1 attempts")
	for i, d := range tier1 {
		require.Equal(t, int32(i+1), d.Attempt)
	}
	require.Len(t, tier2, 1, "tier 2 is paged once")
	gaveUp := tier1[len(tier1)-1].At
	require.Less(t, gaveUp, time.Minute, "retries back off over seconds, not minutes")

	pages := h.pageCalls()
	require.Len(t, pages, 2)
	require.Equal(t, tierWait, pages[1].At, "tier 2 is paged when tier 1's wait is over, failed page or not")

	steps := h.stepCalls()
	require.Len(t, steps, 3, "PAGE_FAILED for tier 1's person, TIMED_OUT for tier 1, then EXHAUSTED")
	failed := steps[0].Req
	require.Equal(t, esc.KindPageFailed, failed.Kind)
	require.Equal(t, 0, failed.Tier, "a delivery's outcome does not move the escalation")
	require.Equal(t, 1, failed.AboutTier)
	require.Equal(t, "tier1-person", failed.Recipient)
	require.Equal(t, "WEBHOOK", failed.Channel)
	require.Equal(t, h.in.EscalationID+":tier1:round1:tier1-person:WEBHOOK:gave-up", failed.DedupeKey)
	require.True(t, strings.Contains(failed.Note, "webhook down"), "the note says why: %q", failed.Note)
	require.Equal(t, gaveUp, steps[0].At, "the failure is recorded as soon as the retries are exhausted")
	require.Equal(t, esc.KindTimedOut, steps[1].Req.Kind)
	require.Equal(t, tierWait, steps[1].At)
}

func TestWorkflowPermanentDeliveryFailureIsNotRetried(t *testing.T) {
	t.Parallel()
	h := newHarness(t, pageOK)
	h.deliver = func(req DeliverRequest, _ int32) error {
		return temporal.NewNonRetryableApplicationError("no Slack webhook on file", errPermanentDelivery, nil)
	}
	h.at(time.Minute, func() { h.signal(SignalResolve, "bob") })

	h.run()
	require.Len(t, h.deliverCalls(), 1, "retrying cannot fix a missing address")
	steps := h.stepCalls()
	require.Len(t, steps, 1)
	require.Equal(t, esc.KindPageFailed, steps[0].Req.Kind)
	require.Contains(t, steps[0].Req.Note, "no Slack webhook on file")
}

// The people a tier pages may acknowledge as soon as they are chosen, before
// any page reaches them: a quick acknowledgement is never refused.
func TestWorkflowPagedPeopleMayAcknowledgeBeforeDelivery(t *testing.T) {
	t.Parallel()
	h := newHarness(t, pageOK)
	release := make(chan struct{})
	h.deliver = func(DeliverRequest, int32) error {
		<-release // the page is still on its way
		return nil
	}
	h.at(time.Second, func() {
		h.env.UpdateWorkflow(UpdateAcknowledge, "ack-1", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { t.Errorf("acknowledgement by a paged person refused: %v", err) },
			OnAccept: func() {},
			OnComplete: func(v any, err error) {
				require.NoError(t, err)
				close(release)
			},
		}, Decision{Actor: "tier1-person", Disposition: "IMPACT"})
	})
	h.at(2*time.Minute, func() { h.signal(SignalResolve, "bob") })
	h.env.OnActivity(ActivityDecide, mock.Anything, mock.Anything).Return(nil).Maybe()

	state, _ := h.run()
	require.Equal(t, "tier1-person", state.AcknowledgedBy)
	require.Equal(t, StateResolved, state.Status)
}

func TestWorkflowLateAcknowledgementAfterEveryTier(t *testing.T) {
	t.Parallel()
	h := newHarness(t, pageOK)
	h.at(12*time.Minute, func() { h.signal(SignalAcknowledge, "dave") })
	h.at(13*time.Minute, func() {
		require.Equal(t, State{Status: StateAcknowledged, Tier: 2, AcknowledgedBy: "dave"}, core(h.query()))
	})
	h.at(14*time.Minute, func() { h.signal(SignalResolve, "erin") })

	state, _ := h.run()

	require.Equal(t, State{Status: StateResolved, Tier: 2, AcknowledgedBy: "dave", ResolvedBy: "erin"}, core(state))
	require.Len(t, h.pageCalls(), 2)
}

// Page reports Postgres's status and the workflow adopts it by comparing
// with its own state names: the two vocabularies must stay one.
func TestWorkflowStatesMatchPostgresStatuses(t *testing.T) {
	t.Parallel()
	require.Equal(t, string(esc.StatusOpen), StateOpen)
	require.Equal(t, string(esc.StatusAcknowledged), StateAcknowledged)
	require.Equal(t, string(esc.StatusResolved), StateResolved)
	require.Equal(t, esc.SignalAcknowledge, SignalAcknowledge)
	require.Equal(t, esc.SignalResolve, SignalResolve)
}

// core is the part of State the tests before rounds and paged lists
// compared; tests of those compare them on their own.
func core(s State) State {
	s.Round, s.Paged, s.Region, s.HandedBy = 0, nil, "", nil
	return s
}
