package escalation

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"meridian.dev/platform/testenv"
	"meridian.dev/workflows/engine"
	"meridian.dev/workflows/historytest"
)

// Updates that arrive together. Each update is validated on arrival, but the
// handler changes the state only once its activity (Decide, HandOff) has
// answered: a second update arriving meanwhile passes a validator that
// cannot see the first one yet. These tests make the activities take time,
// so that the second update really does arrive while the first one's
// activity is running.

// activityTime is how long the mocked Decide and HandOff take: the second
// update of each test arrives a second after the first, well within it.
const activityTime = 10 * time.Second

// decisionRun is one Decide or HandOff call and when it ran, in mock time
// since the workflow started.
type decisionRun struct {
	activity   string
	decide     DecideRequest
	handOff    HandOffRequest
	start, end time.Duration
}

type decisionRuns struct {
	mu   sync.Mutex
	runs []decisionRun
}

func (r *decisionRuns) add(run decisionRun) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs = append(r.runs, run)
}

func (r *decisionRuns) all() []decisionRun {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.runs)
}

func (r *decisionRuns) of(activity string) []decisionRun {
	var out []decisionRun
	for _, run := range r.all() {
		if run.activity == activity {
			out = append(out, run)
		}
	}
	return out
}

// requireOneAtATime fails when two of the runs overlapped in time.
func (r *decisionRuns) requireOneAtATime(t *testing.T) {
	t.Helper()
	runs := r.all()
	slices.SortFunc(runs, func(a, b decisionRun) int { return int(a.start - b.start) })
	for i := 1; i < len(runs); i++ {
		require.GreaterOrEqual(t, runs[i].start, runs[i-1].end,
			"%s started at %s while %s (until %s) was still running", runs[i].activity, runs[i].start, runs[i-1].activity, runs[i-1].end)
	}
}

// regionPolicy is the policy the mocked HandOff freezes in for a region.
func regionPolicy(region string) Policy {
	return Policy{Name: strings.ToLower(region), Version: 1, Tiers: []Tier{
		{Name: region + " managers", Targets: []Target{{Role: "regional_manager", Region: region}}, Wait: 30 * time.Minute},
	}}
}

// withSlowDecisions mocks Decide and HandOff with activities that take
// activityTime of mock time, and records each call.
func withSlowDecisions(h *harness) *decisionRuns {
	runs := &decisionRuns{}
	h.env.OnActivity(ActivityDecide, mock.Anything, mock.Anything).After(activityTime).Return(
		func(ctx context.Context, req DecideRequest) error {
			end := h.env.Now().Sub(h.start)
			runs.add(decisionRun{activity: ActivityDecide, decide: req, start: end - activityTime, end: end})
			return nil
		}).Maybe()
	h.env.OnActivity(ActivityHandOff, mock.Anything, mock.Anything).After(activityTime).Return(
		func(ctx context.Context, req HandOffRequest) (HandOffResult, error) {
			end := h.env.Now().Sub(h.start)
			runs.add(decisionRun{activity: ActivityHandOff, handOff: req, start: end - activityTime, end: end})
			return HandOffResult{Policy: regionPolicy(req.HandOff.ToRegion)}, nil
		}).Maybe()
	return runs
}

func handOffTo(region, actor string) HandOff {
	return HandOff{Decision: Decision{Actor: actor, Roles: []string{"global_lead"}, Note: "shift change"}, ToRegion: region}
}

// requireRefusedByTheHandler checks that an update passed its validator (it
// arrived while the other one's activity was running) and was then refused
// by the handler with CONFLICT.
func requireRefusedByTheHandler(t *testing.T, out updateOutcome, what string) {
	t.Helper()
	require.True(t, out.done, "%s never completed", what)
	require.True(t, out.accepted, "%s was rejected by its validator: the race under test did not happen", what)
	require.Error(t, out.err, "%s succeeded", what)
	require.Equal(t, RejectConflict, rejectionType(out.err), "%s: %v", what, out.err)
}

func TestConcurrentHandOffsOnlyOneWins(t *testing.T) {
	t.Parallel()
	h := newHarness(t, pageOK)
	runs := withSlowDecisions(h)
	var toAPAC, toAMER updateOutcome
	h.at(2*time.Minute, func() { h.update(UpdateHandOff, handOffTo("APAC", "lead-1"), &toAPAC) })
	h.at(2*time.Minute+time.Second, func() { h.update(UpdateHandOff, handOffTo("AMER", "lead-2"), &toAMER) })
	h.at(5*time.Minute, func() { h.signal(SignalResolve, "lead-1") })
	state, _ := h.run()

	require.True(t, toAPAC.done && toAMER.done, "both hand-offs must complete")
	require.True(t, (toAPAC.err == nil) != (toAMER.err == nil),
		"exactly one hand-off may succeed: to APAC: %v; to AMER: %v", toAPAC.err, toAMER.err)
	// The first one takes its turn at once, so it wins.
	require.NoError(t, toAPAC.err)
	requireRefusedByTheHandler(t, toAMER, "the second hand-off")

	handOffs := runs.of(ActivityHandOff)
	require.Len(t, handOffs, 1, "the HandOff activity runs once, for the winner")
	require.Equal(t, "APAC", handOffs[0].handOff.HandOff.ToRegion)
	require.Equal(t, "EMEA", handOffs[0].handOff.FromRegion)
	require.Empty(t, runs.of(ActivityDecide))

	require.Equal(t, "APAC", toAPAC.state.Region)
	require.Equal(t, "APAC", state.Region, "the workflow ends in the winner's region")
	require.Equal(t, []string{"EMEA"}, state.HandedBy, "handed off once")
	pages := h.pageCalls()
	require.Len(t, pages, 2, "EMEA's tier 1, then the winner's")
	require.Equal(t, "APAC", pages[1].Req.Input.Region)
	require.Equal(t, "apac", pages[1].Req.Input.Policy.Name)
}

func TestConcurrentHandOffAndAcknowledgementAreSerialised(t *testing.T) {
	t.Parallel()
	ack := Decision{Actor: "tier1-person", Disposition: "IMPACT", Note: "on my way"}

	// The hand-off arrives first: the escalation changes hands while the
	// acknowledgement (made of EMEA's escalation, by a person EMEA paged)
	// waits, so the acknowledgement is refused and APAC is paged.
	t.Run("hand-off first", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, pageOK)
		runs := withSlowDecisions(h)
		var handed, acked updateOutcome
		var afterBoth State
		h.at(2*time.Minute, func() { h.update(UpdateHandOff, handOffTo("APAC", "lead-1"), &handed) })
		h.at(2*time.Minute+time.Second, func() { h.update(UpdateAcknowledge, ack, &acked) })
		h.at(3*time.Minute, func() { afterBoth = h.query() })
		h.at(5*time.Minute, func() { h.signal(SignalResolve, "lead-1") })
		state, _ := h.run()

		runs.requireOneAtATime(t)
		require.NoError(t, handed.err)
		requireRefusedByTheHandler(t, acked, "the acknowledgement of the escalation just handed off")
		require.Len(t, runs.of(ActivityHandOff), 1)
		require.Empty(t, runs.of(ActivityDecide), "a refused acknowledgement records nothing")
		requireConsistent(t, afterBoth, runs.all())
		require.Equal(t, StateOpen, afterBoth.Status, "open in the receiving region")
		require.Equal(t, "APAC", afterBoth.Region)
		require.Empty(t, afterBoth.AcknowledgedBy)
		pages := h.pageCalls()
		require.Len(t, pages, 2, "the receiving region's first tier is paged")
		require.Equal(t, "APAC", pages[1].Req.Input.Region)
		require.Equal(t, "APAC", state.Region)
		require.Empty(t, state.AcknowledgedBy)
	})

	// The acknowledgement arrives first: it is recorded, then the hand-off
	// (still allowed for an acknowledged escalation) reopens it in APAC.
	t.Run("acknowledgement first", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, pageOK)
		runs := withSlowDecisions(h)
		var handed, acked updateOutcome
		var afterBoth State
		h.at(2*time.Minute, func() { h.update(UpdateAcknowledge, ack, &acked) })
		h.at(2*time.Minute+time.Second, func() { h.update(UpdateHandOff, handOffTo("APAC", "lead-1"), &handed) })
		h.at(3*time.Minute, func() { afterBoth = h.query() })
		h.at(5*time.Minute, func() { h.signal(SignalResolve, "lead-1") })
		state, _ := h.run()

		runs.requireOneAtATime(t)
		require.NoError(t, acked.err)
		require.Equal(t, StateAcknowledged, acked.state.Status)
		require.Equal(t, "EMEA", acked.state.Region, "acknowledged while EMEA owned it")
		require.NoError(t, handed.err)
		decided := runs.all()
		require.Len(t, decided, 2, "one activity per accepted update")
		require.Equal(t, ActivityDecide, decided[0].activity)
		require.Equal(t, ActivityHandOff, decided[1].activity)
		requireConsistent(t, afterBoth, decided)
		require.Equal(t, StateOpen, afterBoth.Status, "the hand-off reopens it in the receiving region")
		require.Equal(t, "APAC", afterBoth.Region)
		require.Empty(t, afterBoth.AcknowledgedBy, "EMEA's acknowledgement does not carry over to APAC")
		require.Equal(t, "APAC", state.Region)
	})
}

// requireConsistent checks the workflow's state against what the
// activities recorded in Postgres, in the order they ran: the state must be
// what the last of them left (Postgres keeps the last write), never an
// acknowledgement that a later hand-off cleared, nor an open escalation in
// the new region whose acknowledgement was recorded last.
func requireConsistent(t *testing.T, state State, runs []decisionRun) {
	t.Helper()
	slices.SortFunc(runs, func(a, b decisionRun) int { return int(a.end - b.end) })
	require.NotEmpty(t, runs)
	last := runs[len(runs)-1]
	switch {
	case last.activity == ActivityHandOff:
		require.Equal(t, last.handOff.HandOff.ToRegion, state.Region, "the last hand-off recorded decides the region")
		require.Equal(t, StateOpen, state.Status, "the last thing recorded was a hand-off: open in %s, but the workflow says %+v", state.Region, state)
		require.Empty(t, state.AcknowledgedBy, "the hand-off recorded last cleared the acknowledgement")
	case last.decide.Kind == UpdateAcknowledge:
		require.Equal(t, StateAcknowledged, state.Status, "the last thing recorded was an acknowledgement, but the workflow says %+v", state)
		require.Equal(t, last.decide.Decision.Actor, state.AcknowledgedBy)
	}
}

func TestConcurrentAcknowledgementsOnlyOneWins(t *testing.T) {
	t.Parallel()
	h := newHarness(t, pageOK)
	runs := withSlowDecisions(h)
	var first, second updateOutcome
	h.at(2*time.Minute, func() {
		h.update(UpdateAcknowledge, Decision{Actor: "tier1-person", Disposition: "IMPACT"}, &first)
	})
	h.at(2*time.Minute+time.Second, func() {
		h.update(UpdateAcknowledge, Decision{Actor: "lead-1", Roles: []string{"global_lead"}, Disposition: "NO_IMPACT"}, &second)
	})
	h.at(5*time.Minute, func() { h.signal(SignalResolve, "lead-1") })
	state, _ := h.run()

	require.True(t, (first.err == nil) != (second.err == nil),
		"exactly one acknowledgement may succeed: first: %v; second: %v", first.err, second.err)
	require.NoError(t, first.err)
	require.Equal(t, "tier1-person", first.state.AcknowledgedBy)
	requireRefusedByTheHandler(t, second, "the second acknowledgement")
	decided := runs.of(ActivityDecide)
	require.Len(t, decided, 1, "Decide runs once, for the winner")
	require.Equal(t, "tier1-person", decided[0].decide.Decision.Actor)
	require.Equal(t, "tier1-person", state.AcknowledgedBy)
	require.Equal(t, "IMPACT", state.Disposition, "the winner's disposition stands")
}

// Updates waiting behind a hand-off were asked of the region that gave the
// escalation away (and authorised by the gateway for it): whatever the
// order they get their turn in, none of them goes through, not even one
// the receiving region's state would allow (acknowledging by someone paged
// before, handing off again).
func TestUpdatesWaitingBehindAHandOffAreRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t, pageOK)
	runs := withSlowDecisions(h)
	var toAPAC, toAMER, acked updateOutcome
	h.at(2*time.Minute, func() { h.update(UpdateHandOff, handOffTo("APAC", "lead-1"), &toAPAC) })
	h.at(2*time.Minute+time.Second, func() { h.update(UpdateHandOff, handOffTo("AMER", "lead-2"), &toAMER) })
	h.at(2*time.Minute+2*time.Second, func() { h.update(UpdateAcknowledge, Decision{Actor: "tier1-person"}, &acked) })
	h.at(5*time.Minute, func() { h.signal(SignalResolve, "lead-1") })
	state, _ := h.run()

	require.NoError(t, toAPAC.err)
	requireRefusedByTheHandler(t, toAMER, "the hand-off waiting behind another")
	requireRefusedByTheHandler(t, acked, "the acknowledgement waiting behind a hand-off")
	require.Len(t, runs.all(), 1, "only the first hand-off recorded anything")
	require.Equal(t, "APAC", state.Region)
	require.Equal(t, []string{"EMEA"}, state.HandedBy)
	require.Empty(t, state.AcknowledgedBy)
}

// Two people escalating at once mean "page the next tier now", once: the
// second must not skip the tier the first one just paged.
func TestConcurrentEscalateNowEscalatesOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, pageOK)
	h.in.Policy.Tiers = append(h.in.Policy.Tiers, Tier{Name: "desk", Targets: []Target{{Kind: "USER", Subject: "desk"}}, Wait: tierWait})
	runs := withSlowDecisions(h)
	var first, second updateOutcome
	lead := func(who string) Decision { return Decision{Actor: who, Roles: []string{"global_lead"}} }
	h.at(time.Minute, func() { h.update(UpdateEscalateNow, lead("lead-1"), &first) })
	h.at(time.Minute+time.Second, func() { h.update(UpdateEscalateNow, lead("lead-2"), &second) })
	h.at(4*time.Minute, func() { h.signal(SignalResolve, "lead-1") })
	h.run()

	require.NoError(t, first.err)
	requireRefusedByTheHandler(t, second, "the second escalateNow")
	decided := runs.of(ActivityDecide)
	require.Len(t, decided, 1, "Decide runs once")
	require.Equal(t, 1, decided[0].decide.Tier, "escalated past tier 1")
	pages := h.pageCalls()
	require.Len(t, pages, 2, "tier 1, then tier 2 when escalated; tier 3 waits for tier 2's time")
	require.Equal(t, 2, pages[1].Req.Tier)
	require.Equal(t, time.Minute+activityTime, pages[1].At)
}

// standIns are activities for a run on the dev server whose Decide and
// HandOff take a second, long enough for the updates sent together to
// overlap there too; they record what they were asked.
type standIns struct {
	mu      sync.Mutex
	decided []DecideRequest
	handed  []HandOffRequest
}

func (s *standIns) register(w worker.Registry) {
	w.RegisterWorkflowWithOptions(Workflow, workflow.RegisterOptions{Name: WorkflowName})
	w.RegisterActivityWithOptions(func(_ context.Context, req PageRequest) (PlanResult, error) {
		res, _ := pageOK(req, 1)
		return PlanResult{PageResult: res, Deliveries: []Delivery{{Subject: res.Recipients[0], Channel: "WEBHOOK"}}}, nil
	}, activity.RegisterOptions{Name: ActivityPlanPages})
	w.RegisterActivityWithOptions(func(context.Context, DeliverRequest) (DeliverResult, error) { return DeliverResult{}, nil },
		activity.RegisterOptions{Name: ActivityDeliver})
	w.RegisterActivityWithOptions(func(context.Context, StepRequest) error { return nil }, activity.RegisterOptions{Name: ActivityRecordStep})
	w.RegisterActivityWithOptions(func(_ context.Context, req DecideRequest) error {
		time.Sleep(time.Second)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.decided = append(s.decided, req)
		return nil
	}, activity.RegisterOptions{Name: ActivityDecide})
	w.RegisterActivityWithOptions(func(_ context.Context, req HandOffRequest) (HandOffResult, error) {
		time.Sleep(time.Second)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.handed = append(s.handed, req)
		return HandOffResult{Policy: regionPolicy(req.HandOff.ToRegion)}, nil
	}, activity.RegisterOptions{Name: ActivityHandOff})
}

// TestConcurrentUpdatesOnTheServer sends updates together to an escalation
// on the Temporal dev server, where updates are delivered as the
// production worker sees them (not as the test environment simulates
// them), then replays the run's history against the current code.
func TestConcurrentUpdatesOnTheServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tc, err := engine.Dial(ctx, testenv.TemporalAddress(t), "default", historytest.QuietLogger())
	if err != nil {
		t.Fatalf("temporal: %v", err)
	}
	t.Cleanup(tc.Close)
	tq, id := testenv.Unique(t, "tq"), testenv.Unique(t, "escalation")
	acts := &standIns{}
	w := worker.New(tc, tq, worker.Options{})
	acts.register(w)
	if err := w.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	t.Cleanup(w.Stop)
	in := testInput()
	in.Policy.Tiers[0].Wait = time.Hour // no tier moves on by itself meanwhile
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: tq}, WorkflowName, in)
	if err != nil {
		t.Fatalf("start workflow: %v", err)
	}
	t.Cleanup(func() { _ = tc.TerminateWorkflow(context.Background(), id, "", "test over") })
	historytest.Await(t, tc, id, func(events []*historypb.HistoryEvent) bool {
		return historytest.Count(events, enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) > 0
	}, "tier 1 to be paged")

	// together sends the updates 100 ms apart, each waiting for its result.
	together := func(name string, args ...any) []error {
		errs := make([]error, len(args))
		var wg sync.WaitGroup
		for i, arg := range args {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h, err := tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: name, Args: []any{arg},
					WaitForStage: client.WorkflowUpdateStageCompleted})
				if err == nil {
					err = h.Get(ctx, nil)
				}
				errs[i] = err
			}()
			time.Sleep(100 * time.Millisecond)
		}
		wg.Wait()
		return errs
	}
	requireFirstWinsSecondConflicts := func(errs []error, what string) {
		t.Helper()
		require.NoError(t, errs[0], "the first %s", what)
		require.Error(t, errs[1], "the second %s succeeded too", what)
		require.Equal(t, RejectConflict, rejectionType(errs[1]), "the second %s: %v", what, errs[1])
	}

	errs := together(UpdateHandOff, handOffTo("APAC", "lead-1"), handOffTo("AMER", "lead-2"))
	requireFirstWinsSecondConflicts(errs, "hand-off")
	// The receiving region's people answer for it once its first tier is
	// paged: wait for that before they acknowledge.
	waitPaged := time.Now().Add(30 * time.Second)
	for {
		var st State
		v, err := tc.QueryWorkflow(ctx, id, "", QueryState)
		if err == nil {
			err = v.Get(&st)
		}
		if err == nil && st.Region == "APAC" && slices.Contains(st.Paged, "tier1-person") {
			break
		}
		if time.Now().After(waitPaged) {
			t.Fatalf("APAC's first tier not paged within 30 s: %+v, %v", st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	errs = together(UpdateAcknowledge, Decision{Actor: "tier1-person", Disposition: "IMPACT"},
		Decision{Actor: "lead-1", Roles: []string{"global_lead"}})
	requireFirstWinsSecondConflicts(errs, "acknowledgement")
	if err := tc.SignalWorkflow(ctx, id, "", SignalResolve, Decision{Actor: "lead-1"}); err != nil {
		t.Fatalf("signal: %v", err)
	}
	var state State
	if err := run.Get(ctx, &state); err != nil {
		t.Fatalf("workflow result: %v", err)
	}
	require.Equal(t, "APAC", state.Region)
	require.Equal(t, []string{"EMEA"}, state.HandedBy)
	require.Equal(t, "tier1-person", state.AcknowledgedBy)
	acts.mu.Lock()
	require.Len(t, acts.handed, 1, "HandOff ran once")
	require.Len(t, acts.decided, 1, "Decide ran once")
	acts.mu.Unlock()

	events, err := historytest.Fetch(ctx, tc, id)
	if err != nil {
		t.Fatal(err)
	}
	require.NoError(t, historytest.Replay(newReplayer(), &historypb.History{Events: events}),
		"the run that took turns must replay against the current code")
}
