package escalation

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	esc "meridian.dev/platform/escalation"
	"meridian.dev/platform/testenv"
	"meridian.dev/workflows/engine"
	"meridian.dev/workflows/historytest"
)

// Stored histories of real runs, replayed against the current Workflow code:
// a change that would make running escalations fail their replay fails here
// first. Regenerate them (after a deliberate, versioned change) with
//
//	MERIDIAN_RECORD_HISTORIES=1 go test -count=1 -run TestRecordHistories ./escalation/
//
// against the Temporal dev server `make test` starts (historytest.RecordEnv).

// storedHistories are the files TestRecordHistories writes, plus those
// recorded by older code (see docs/ARCHITECTURE.md, "Changing workflow
// code"): v0_ before the versioned "exhausted-step" change, v1_ before
// "per-person-pages", v2_ before "serialised-decisions" (two pairs of
// updates that ran side by side: a stand-in worker's slow Decide and
// HandOff, on the dev server). They prove that running escalations started
// by older code still replay. The replay test insists on every one, so a
// lost file cannot pass silently.
var storedHistories = []string{
	"acknowledge_then_resolve.json", "timeout_to_tier2_then_resolve.json",
	"v0_acknowledge_then_resolve.json", "v0_timeout_to_tier2_then_resolve.json",
	"v1_acknowledge_then_resolve.json", "v1_timeout_to_tier2_then_resolve.json",
	"v2_overlapping_updates.json",
}

func newReplayer() worker.WorkflowReplayer {
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(Workflow, workflow.RegisterOptions{Name: WorkflowName})
	return r
}

func TestReplayStoredHistories(t *testing.T) {
	t.Parallel()
	historytest.ReplayStored(t, "testdata", newReplayer, storedHistories...)
}

// TestRecordHistories drives real escalations through a real worker (real
// activities, real Postgres, a real HTTP receiver) on the Temporal dev
// server, checks what they did, and replays their histories at once. With
// MERIDIAN_RECORD_HISTORIES=1 it also stores them in testdata for
// TestReplayStoredHistories.
func TestRecordHistories(t *testing.T) {
	t.Parallel()
	t.Run("acknowledge_then_resolve", func(t *testing.T) {
		t.Parallel()
		r := startRealWorker(t)
		// A long tier wait: the acknowledgement always lands during tier 1.
		run := r.start(t, time.Minute)

		// Tier 1 is EMEA's two managers: one page each.
		var got []string
		for range 2 {
			page := r.rcv.next(t, 15*time.Second)
			if page.Page.Tier != 1 || page.VerifyErr != nil || page.Page.Channel != "WEBHOOK" {
				t.Fatalf("tier 1 page: tier %d, channel %q, verify %v", page.Page.Tier, page.Page.Channel, page.VerifyErr)
			}
			got = append(got, subjects(page.Page.Recipients)...)
		}
		if slices.Sort(got); !slices.Equal(got, []string{"mgr-emea-1", "mgr-emea-2"}) {
			t.Fatalf("tier 1 pages went to %v", got)
		}
		r.waitState(t, func(s State) bool { return s.Tier == 1 }, "tier 1 paged")
		historytest.Await(t, r.tc, r.id, func(events []*historypb.HistoryEvent) bool {
			return historytest.Count(events, enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) == 3
		}, "the plan and both deliveries completed")

		if _, err := r.f.escalations.Acknowledge(context.Background(), "mgr-emea-1", r.f.escalation.ID, "on my way", allow); err != nil {
			t.Fatalf("acknowledge: %v", err)
		}
		r.signal(t, SignalAcknowledge, "mgr-emea-1")
		r.waitState(t, func(s State) bool {
			return reflect.DeepEqual(core(s), State{Status: StateAcknowledged, Tier: 1, AcknowledgedBy: "mgr-emea-1"})
		}, "acknowledged by mgr-emea-1")

		if _, err := r.f.escalations.Resolve(context.Background(), "lead-1", r.f.escalation.ID, "all clear", allow); err != nil {
			t.Fatalf("resolve: %v", err)
		}
		r.signal(t, SignalResolve, "lead-1")
		state := r.result(t, run)
		if want := (State{Status: StateResolved, Tier: 1, AcknowledgedBy: "mgr-emea-1", ResolvedBy: "lead-1"}); !reflect.DeepEqual(core(state), want) {
			t.Fatalf("result = %+v, want %+v", state, want)
		}
		if n := r.rcv.count(); n != 2 {
			t.Fatalf("receiver got %d pages, want only tier 1's two", n)
		}
		r.timeline(t, esc.KindOpened, esc.KindPaged, esc.KindDelivered, esc.KindDelivered, esc.KindAcknowledged, esc.KindResolved)
		r.keepHistory(t, run, "acknowledge_then_resolve.json")
	})

	t.Run("timeout_to_tier2_then_resolve", func(t *testing.T) {
		t.Parallel()
		r := startRealWorker(t)
		const wait = 2 * time.Second
		run := r.start(t, wait)

		first := r.rcv.next(t, 15*time.Second)
		firstToo := r.rcv.next(t, 15*time.Second)
		second := r.rcv.next(t, 15*time.Second)
		gap := second.At.Sub(first.At)
		if first.Page.Tier != 1 || firstToo.Page.Tier != 1 || second.Page.Tier != 2 {
			t.Fatalf("pages went to tiers %d, %d then %d, want 1, 1 then 2", first.Page.Tier, firstToo.Page.Tier, second.Page.Tier)
		}
		// The tier's wait starts when the workflow pages tier 1, alongside the
		// delivery activities, not when a page reaches the receiver: the
		// first page's own delivery time comes off the measured gap (it
		// measured 1.990 s for a 2 s wait once). Paging tier 2 without
		// waiting would still show as a gap near zero.
		const deliverySlack = 250 * time.Millisecond
		if gap < wait-deliverySlack {
			t.Fatalf("tier 2 was paged %s after tier 1; the tier wait is %s", gap, wait)
		}
		if got := subjects(second.Page.Recipients); !slices.Equal(got, []string{"lead-1"}) {
			t.Fatalf("tier 2 recipients = %v", got)
		}
		// Let the last tier's wait run out too: the workflow must keep
		// waiting for the resolution with nobody left to page.
		historytest.Await(t, r.tc, r.id, func(events []*historypb.HistoryEvent) bool {
			// plan + 2 deliveries, TIMED_OUT, plan + 1 delivery, EXHAUSTED
			return historytest.Count(events, enumspb.EVENT_TYPE_TIMER_FIRED) == 2 &&
				historytest.Count(events, enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) == 7
		}, "both tier timers fired and the EXHAUSTED step recorded")
		if s := r.query(t); !reflect.DeepEqual(core(s), State{Status: StateOpen, Tier: 2}) {
			t.Fatalf("state after every tier = %+v, want OPEN at tier 2", s)
		}

		if _, err := r.f.escalations.Resolve(context.Background(), "lead-1", r.f.escalation.ID, "all clear", allow); err != nil {
			t.Fatalf("resolve: %v", err)
		}
		r.signal(t, SignalResolve, "lead-1")
		state := r.result(t, run)
		if want := (State{Status: StateResolved, Tier: 2, ResolvedBy: "lead-1"}); !reflect.DeepEqual(core(state), want) {
			t.Fatalf("result = %+v, want %+v", state, want)
		}
		if n := r.rcv.count(); n != 3 {
			t.Fatalf("receiver got %d pages, want 3", n)
		}
		r.timeline(t, esc.KindOpened, esc.KindPaged, esc.KindDelivered, esc.KindDelivered, esc.KindTimedOut,
			esc.KindPaged, esc.KindDelivered, "EXHAUSTED", esc.KindResolved)
		r.keepHistory(t, run, "timeout_to_tier2_then_resolve.json")
	})
}

// realWorker is a Temporal worker with the real activities on a task queue
// of its own, over a fresh database and a real HTTP receiver.
type realWorker struct {
	f   *fixture
	rcv *receiver
	tc  client.Client
	tq  string
	id  string
}

func startRealWorker(t *testing.T) *realWorker {
	t.Helper()
	addr := testenv.TemporalAddress(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tc, err := engine.Dial(ctx, addr, "default", historytest.QuietLogger())
	if err != nil {
		t.Fatalf("temporal: %v", err)
	}
	t.Cleanup(tc.Close)
	r := &realWorker{f: newFixture(t), rcv: newReceiver(t), tc: tc, tq: testenv.Unique(t, "tq")}
	r.id = esc.WorkflowID(r.f.escalation.ID)
	w := worker.New(tc, r.tq, worker.Options{})
	Register(w, r.f.activities(r.rcv.pager()))
	if err := w.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	t.Cleanup(w.Stop)
	return r
}

func (r *realWorker) start(t *testing.T, wait time.Duration) client.WorkflowRun {
	t.Helper()
	run, err := r.tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: r.id, TaskQueue: r.tq},
		WorkflowName, r.f.input(wait))
	if err != nil {
		t.Fatalf("start workflow: %v", err)
	}
	t.Cleanup(func() {
		// A failed test must not leave an escalation paging on the shared server.
		_ = r.tc.TerminateWorkflow(context.Background(), r.id, "", "test over")
	})
	return run
}

func (r *realWorker) signal(t *testing.T, name, actor string) {
	t.Helper()
	if err := r.tc.SignalWorkflow(context.Background(), r.id, "", name, Decision{Actor: actor}); err != nil {
		t.Fatalf("signal %s: %v", name, err)
	}
}

func (r *realWorker) query(t *testing.T) State {
	t.Helper()
	v, err := r.tc.QueryWorkflow(context.Background(), r.id, "", QueryState)
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	var s State
	if err := v.Get(&s); err != nil {
		t.Fatalf("decode state: %v", err)
	}
	return s
}

func (r *realWorker) waitState(t *testing.T, ok func(State) bool, what string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var s State
	for time.Now().Before(deadline) {
		if s = r.query(t); ok(s) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("waiting for %s: state is %+v", what, s)
}

func (r *realWorker) result(t *testing.T, run client.WorkflowRun) State {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var s State
	if err := run.Get(ctx, &s); err != nil {
		t.Fatalf("workflow result: %v", err)
	}
	return s
}

// timeline checks the escalation's timeline kinds, in order.
func (r *realWorker) timeline(t *testing.T, want ...string) {
	t.Helper()
	entries, err := r.f.escalations.Timeline(context.Background(), r.f.escalation.ID)
	if err != nil {
		t.Fatalf("timeline: %v", err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Kind)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("timeline = %v, want %v", got, want)
	}
}

// keepHistory replays the finished run's history against the current code
// and stores it in testdata when recording.
func (r *realWorker) keepHistory(t *testing.T, run client.WorkflowRun, name string) {
	t.Helper()
	events, err := historytest.Fetch(context.Background(), r.tc, run.GetID())
	if err != nil {
		t.Fatal(err)
	}
	historytest.Keep(t, newReplayer(), events, "testdata", name)
}
