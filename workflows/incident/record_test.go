package incident

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/directory"
	esc "meridian.dev/platform/escalation"
	platformincident "meridian.dev/platform/incident"
	"meridian.dev/platform/notify"
	"meridian.dev/platform/schedule"
	"meridian.dev/platform/testenv"
	"meridian.dev/workflows/engine"
	"meridian.dev/workflows/escalation"
	"meridian.dev/workflows/historytest"
)

func allow(string) error { return nil }

// TestRecordHistories raises real incidents in Postgres and runs them on the
// Temporal dev server through a worker registered as the real one is (the
// incident, the escalation and its real activities, paging a real HTTP
// receiver), checks what they did and replays the parent's history at once.
// With MERIDIAN_RECORD_HISTORIES=1 it also stores them. It needs PostgreSQL
// and Temporal (`make test` starts both); the replay tests need neither.
func TestRecordHistories(t *testing.T) {
	t.Parallel()

	// Regions are sorted, so APAC's escalation is the first child and EMEA's
	// the second. EMEA's child completes first: the parent, awaiting APAC,
	// must still take its result.
	t.Run("two_regions_resolved_out_of_order", func(t *testing.T) {
		t.Parallel()
		r := startIncident(t, time.Minute) // tier 1 stays paged throughout
		apac, emea := r.esc["APAC"], r.esc["EMEA"]
		r.waitState(t, apac, func(s escalation.State) bool { return s.Tier == 1 && slices.Contains(s.Paged, "mgr-apac-1") }, "APAC tier 1 paged")
		r.waitState(t, emea, func(s escalation.State) bool { return s.Tier == 1 && slices.Contains(s.Paged, "mgr-emea-1") }, "EMEA tier 1 paged")

		r.decide(t, apac, escalation.SignalAcknowledge, "mgr-apac-1")
		r.waitState(t, apac, func(s escalation.State) bool { return s.Status == escalation.StateAcknowledged }, "APAC acknowledged")
		r.decide(t, emea, escalation.SignalResolve, "lead-1")
		r.waitChildClosed(t, emea)
		r.decide(t, apac, escalation.SignalResolve, "mgr-apac-1")

		r.checkResult(t, r.result(t), map[uuid.UUID]escalation.State{
			apac: {Status: escalation.StateResolved, Tier: 1, AcknowledgedBy: "mgr-apac-1", ResolvedBy: "mgr-apac-1", Region: "APAC"},
			emea: {Status: escalation.StateResolved, Tier: 1, ResolvedBy: "lead-1", Region: "EMEA"},
		})
		r.keepHistory(t, "two_regions_resolved_out_of_order.json")
	})

	t.Run("two_regions_climb_to_tier2_then_resolve", func(t *testing.T) {
		t.Parallel()
		r := startIncident(t, time.Second)
		// Let each region's last tier run out too: the children keep
		// waiting for their resolution with nobody left to page, and so
		// does the parent.
		for region, id := range r.esc {
			historytest.Await(t, r.tc, esc.WorkflowID(id), func(events []*historypb.HistoryEvent) bool {
				return historytest.Count(events, enumspb.EVENT_TYPE_TIMER_FIRED) == 2
			}, region+"'s two tier timers to fire")
			r.waitState(t, id, func(s escalation.State) bool {
				return s.Status == escalation.StateOpen && s.Tier == 2 && slices.Contains(s.Paged, "lead-1")
			}, region+" OPEN at tier 2, the global lead paged")
		}
		for _, region := range []string{"APAC", "EMEA"} {
			r.decide(t, r.esc[region], escalation.SignalResolve, "lead-1")
		}

		r.checkResult(t, r.result(t), map[uuid.UUID]escalation.State{
			r.esc["APAC"]: {Status: escalation.StateResolved, Tier: 2, ResolvedBy: "lead-1", Region: "APAC"},
			r.esc["EMEA"]: {Status: escalation.StateResolved, Tier: 2, ResolvedBy: "lead-1", Region: "EMEA"},
		})
		r.keepHistory(t, "two_regions_climb_to_tier2_then_resolve.json")
	})
}

// The directory: one manager per region of the incident, one global lead.
var people = []directory.Person{
	{Subject: "mgr-apac-1", Name: "Ada Apac", Email: "ada@example.com", Roles: []string{auth.RoleRegionalManager}, Regions: []string{"APAC"}},
	{Subject: "mgr-emea-1", Name: "Eva Emea", Email: "eva@example.com", Roles: []string{auth.RoleRegionalManager}, Regions: []string{"EMEA"}},
	{Subject: "lead-1", Name: "Gil Lead", Email: "gil@example.com", Roles: []string{auth.RoleGlobalLead}},
}

// liveIncident is one incident raised in a fresh database and running on
// the Temporal dev server, on a task queue of its own.
type liveIncident struct {
	tc          client.Client
	escalations *esc.Store
	rcv         *receiver
	id          string               // the incident's workflow ID
	esc         map[string]uuid.UUID // escalation ID by region
	run         client.WorkflowRun
}

func startIncident(t *testing.T, tierWait time.Duration) *liveIncident {
	t.Helper()
	ctx := context.Background()
	addr := testenv.TemporalAddress(t)
	pool := testenv.NewPool(t)
	dir := directory.NewStore(pool)
	for _, p := range people {
		if err := dir.Upsert(ctx, p); err != nil {
			t.Fatalf("upsert %s: %v", p.Subject, err)
		}
	}
	escalations := esc.NewStore(pool)
	inc, escs, err := platformincident.NewStore(pool).Raise(ctx, "lead-1", platformincident.New{
		Title: "Unrest near both offices", Severity: esc.SEV2, Kind: "UNREST", Regions: []string{"EMEA", "APAC"},
	}, func([]string) error { return nil })
	if err != nil {
		t.Fatalf("raise incident: %v", err)
	}

	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tc, err := engine.Dial(dctx, addr, "default", historytest.QuietLogger())
	if err != nil {
		t.Fatalf("temporal: %v", err)
	}
	t.Cleanup(tc.Close)
	r := &liveIncident{tc: tc, escalations: escalations, rcv: newReceiver(t), id: inc.WorkflowID, esc: map[string]uuid.UUID{}}

	tq := testenv.Unique(t, "tq")
	w := worker.New(tc, tq, worker.Options{})
	escalation.Register(w, &escalation.Activities{Escalations: escalations, Directory: dir, Schedules: schedule.NewStore(pool),
		Sender:   notify.NewSender("test-pager-secret-0123456789abcdef", r.rcv.srv.URL, notify.SMTPConfig{}),
		TierWait: tierWait, Log: historytest.QuietLogger()})
	Register(w)
	if err := w.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	t.Cleanup(w.Stop)

	// The input the relay starts an incident with (relay.incidentOpened):
	// each region's escalation under the default policy, frozen.
	in := Input{IncidentID: inc.ID.String(), Title: inc.Title}
	for _, e := range escs {
		r.esc[e.Region] = e.ID
		in.Escalations = append(in.Escalations, escalation.Input{
			EscalationID: e.ID.String(), SiteName: inc.Title, Region: e.Region, Level: e.TriggerLevel,
			Posture: e.TriggerPosture, Note: inc.Title, Policy: escalation.DefaultPolicy(e.Region, tierWait),
		})
	}
	if len(r.esc) != 2 {
		t.Fatalf("the incident opened escalations in %v, want APAC and EMEA", r.esc)
	}
	r.run, err = tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: r.id, TaskQueue: tq,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE}, WorkflowName, in)
	if err != nil {
		t.Fatalf("start workflow: %v", err)
	}
	t.Cleanup(func() {
		// A failed test must leave nothing paging on the shared server; the
		// children outlive their parent, so end them one by one.
		_ = tc.TerminateWorkflow(context.Background(), r.id, "", "test over")
		for _, id := range r.esc {
			_ = tc.TerminateWorkflow(context.Background(), esc.WorkflowID(id), "", "test over")
		}
	})
	return r
}

// decide records the decision in Postgres, then signals the region's
// escalation, as the gateway and the relay do.
func (r *liveIncident) decide(t *testing.T, id uuid.UUID, signal, actor string) {
	t.Helper()
	var err error
	if signal == escalation.SignalAcknowledge {
		_, err = r.escalations.Acknowledge(context.Background(), actor, id, "on my way", allow)
	} else {
		_, err = r.escalations.Resolve(context.Background(), actor, id, "all clear", allow)
	}
	if err != nil {
		t.Fatalf("%s %s: %v", signal, id, err)
	}
	if err := r.tc.SignalWorkflow(context.Background(), esc.WorkflowID(id), "", signal, escalation.Decision{Actor: actor}); err != nil {
		t.Fatalf("signal %s: %v", signal, err)
	}
}

func (r *liveIncident) waitState(t *testing.T, id uuid.UUID, ok func(escalation.State) bool, what string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var s escalation.State
	for time.Now().Before(deadline) {
		v, err := r.tc.QueryWorkflow(context.Background(), esc.WorkflowID(id), "", escalation.QueryState)
		if err == nil && v.Get(&s) == nil && ok(s) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("waiting for %s: state is %+v", what, s)
}

func (r *liveIncident) waitChildClosed(t *testing.T, id uuid.UUID) {
	t.Helper()
	historytest.Await(t, r.tc, esc.WorkflowID(id), func(events []*historypb.HistoryEvent) bool {
		return len(events) > 0 && events[len(events)-1].GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
	}, "the escalation to complete")
	// ...and the parent to hear of it, while the other region is still open.
	historytest.Await(t, r.tc, r.id, func(events []*historypb.HistoryEvent) bool {
		return historytest.Count(events, enumspb.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED) == 1
	}, "the parent to record its first child's completion")
}

func (r *liveIncident) result(t *testing.T) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var res Result
	if err := r.run.Get(ctx, &res); err != nil {
		t.Fatalf("incident result: %v", err)
	}
	return res
}

// checkResult compares each region's final state, but for the people paged
// and the round, which the escalation's own tests check.
func (r *liveIncident) checkResult(t *testing.T, res Result, want map[uuid.UUID]escalation.State) {
	t.Helper()
	got := map[uuid.UUID]escalation.State{}
	for id, s := range res.Escalations {
		s.Paged, s.Round = nil, 0
		got[uuid.MustParse(id)] = s
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("incident result = %+v, want %+v", got, want)
	}
	if r.rcv.count() == 0 {
		t.Fatal("no page reached the receiver: the children did not page through the real activities")
	}
	for id, s := range want {
		e, err := r.escalations.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("escalation %s: %v", id, err)
		}
		if string(e.Status) != s.Status {
			t.Fatalf("escalation %s is %s in Postgres, want %s", id, e.Status, s.Status)
		}
	}
}

// keepHistory checks the finished incident's history, replays it against
// the current code, and stores it in testdata when recording.
func (r *liveIncident) keepHistory(t *testing.T, name string) {
	t.Helper()
	events, err := historytest.Fetch(context.Background(), r.tc, r.id)
	if err != nil {
		t.Fatal(err)
	}
	checkHistory(t, r.id, events)
	historytest.Keep(t, newReplayer(nil), events, "testdata", name)
}

// receiver is a real HTTP peer standing in for the paging provider; the
// escalation's own tests check what the pages say.
type receiver struct {
	srv *httptest.Server
	n   atomic.Int32
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		r.n.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) count() int { return int(r.n.Load()) }
