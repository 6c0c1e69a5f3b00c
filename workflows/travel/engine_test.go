package travel

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"meridian.dev/platform/directory"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/notify"
	"meridian.dev/platform/notify/sink"
	"meridian.dev/platform/testenv"
	trips "meridian.dev/platform/travel"
	"meridian.dev/workflows/engine"
	"meridian.dev/workflows/historytest"
)

// The tests here run real approval rounds: the workflow on the Temporal dev
// server, the real activities over a fresh Postgres (the platform's trip
// store and directory), pages delivered over HTTP to a notify sink, and
// decisions sent through Client as the gateway sends them.

const testSecret = "test-pager-secret-0123456789abcdef"

// people are the directory of every test: who decides and who does not.
var people = []directory.Person{
	{Subject: "tina", Name: "Tina Traveller"},
	{Subject: "tom", Name: "Tom Travel", Roles: []string{RoleTravelTeam}},
	{Subject: "gina", Name: "Gina Lead", Roles: []string{RoleGlobalLead}},
	{Subject: "sam", Name: "Sam Viewer", Roles: []string{"viewer"}},
}

// tripFixture is one approval round of a trip written straight into
// Postgres (as Submit leaves it), with the real activities over it.
type tripFixture struct {
	pool       *pgxpool.Pool
	store      *trips.Store
	sink       *sink.Sink
	in         Input
	activities *Activities
}

func newTripFixture(t *testing.T, level int, deadlineIn, departureIn, reminderEvery time.Duration) *tripFixture {
	t.Helper()
	pool := testenv.NewPool(t)
	ctx := context.Background()
	dir := directory.NewStore(pool)
	for _, p := range people {
		if err := dir.Upsert(ctx, p); err != nil {
			t.Fatalf("directory: %v", err)
		}
	}
	now := time.Now().UTC().Truncate(time.Second)
	in := Input{ApprovalRequested: trips.ApprovalRequested{
		TripID: uuid.New(), Round: 1, Level: level, Traveller: "tina", Purpose: "supplier visit",
		Departure: now.Add(departureIn), Deadline: now.Add(deadlineIn),
	}, ReminderEvery: reminderEvery}
	in.WorkflowID = trips.ApprovalWorkflowID(in.TripID, in.Round)
	_, err := pool.Exec(ctx, `INSERT INTO trips (id, traveller, purpose, status, starts_at, ends_at, risk_level,
		approval_round, approval_status, approval_level, approval_deadline, created_by)
		VALUES ($1, $2, $3, 'PENDING_APPROVAL', $4, $5, $6, 1, 'PENDING', $6, $7, $2)`,
		in.TripID, in.Traveller, in.Purpose, in.Departure, in.Departure.Add(72*time.Hour), level, in.Deadline)
	if err != nil {
		t.Fatalf("insert trip: %v", err)
	}
	pages, err := sink.Start(ctx, sink.Options{Secret: testSecret})
	if err != nil {
		t.Fatalf("sink: %v", err)
	}
	t.Cleanup(func() { _ = pages.Close() })
	store := trips.NewStore(pool)
	return &tripFixture{pool: pool, store: store, sink: pages, in: in, activities: &Activities{
		Trips: store, Directory: dir,
		Sender: notify.NewSender(testSecret, pages.URL()+"/pages", notify.SMTPConfig{}),
		Log:    historytest.QuietLogger(),
	}}
}

// round is a tripFixture with a worker for its workflow on the dev server.
type round struct {
	*tripFixture
	tc     client.Client
	client *Client
	tq     string
}

func newRound(t *testing.T, level int, deadlineIn, departureIn, reminderEvery time.Duration) *round {
	t.Helper()
	addr := testenv.TemporalAddress(t)
	f := newTripFixture(t, level, deadlineIn, departureIn, reminderEvery)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tc, err := engine.Dial(ctx, addr, "default", historytest.QuietLogger())
	if err != nil {
		t.Fatalf("temporal: %v", err)
	}
	t.Cleanup(tc.Close)
	r := &round{tripFixture: f, tc: tc, client: &Client{Temporal: tc}, tq: testenv.Unique(t, "tq")}
	w := worker.New(tc, r.tq, worker.Options{})
	Register(w, f.activities)
	if err := w.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	t.Cleanup(w.Stop)
	return r
}

func (r *round) start(t *testing.T) client.WorkflowRun {
	t.Helper()
	run, err := r.tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID: r.in.WorkflowID, TaskQueue: r.tq, WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	}, WorkflowName, r.in)
	if err != nil {
		t.Fatalf("start workflow: %v", err)
	}
	t.Cleanup(func() {
		// A failed test must not leave a round paging on the shared server.
		_ = r.tc.TerminateWorkflow(context.Background(), r.in.WorkflowID, "", "test over")
	})
	return run
}

// awaitPages waits until the sink holds n pages whose key starts with
// trip:<id>:r1:<step>, and returns whom they went to, sorted.
func (r *tripFixture) awaitPages(t *testing.T, step string, n int) []string {
	t.Helper()
	prefix := "trip:" + r.in.TripID.String() + ":r1:" + step + ":"
	matching := func(all []sink.Received) []sink.Received {
		var out []sink.Received
		for _, p := range all {
			if strings.HasPrefix(p.IdempotencyKey, prefix) {
				out = append(out, p)
			}
		}
		return out
	}
	ctx, cancel := context.WithTimeout(context.Background(), historytest.AwaitTimeout)
	defer cancel()
	if err := r.sink.WaitFor(ctx, func(all []sink.Received) bool { return len(matching(all)) >= n }); err != nil {
		t.Fatalf("waiting for %d %s pages: %v", n, step, err)
	}
	var to []string
	for _, p := range matching(r.sink.Received()) {
		if p.Page == nil || len(p.Page.Recipients) != 1 {
			t.Fatalf("page %s is not a verified page to one person: %+v", p.IdempotencyKey, p)
		}
		to = append(to, p.Page.Recipients[0].Subject)
	}
	slices.Sort(to)
	return to
}

func (r *tripFixture) timeline(t *testing.T) []string {
	t.Helper()
	steps, err := r.store.Timeline(context.Background(), r.in.TripID)
	if err != nil {
		t.Fatalf("timeline: %v", err)
	}
	var kinds []string
	for _, s := range steps {
		kinds = append(kinds, s.Kind)
	}
	return kinds
}

func (r *round) result(t *testing.T, run client.WorkflowRun) State {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), historytest.AwaitTimeout)
	defer cancel()
	var s State
	if err := run.Get(ctx, &s); err != nil {
		t.Fatalf("workflow result: %v", err)
	}
	return s
}

// keepHistory replays the finished run's history against the current code
// and stores it in testdata when recording.
func (r *round) keepHistory(t *testing.T, name string) {
	t.Helper()
	events, err := historytest.Fetch(context.Background(), r.tc, r.in.WorkflowID)
	if err != nil {
		t.Fatal(err)
	}
	historytest.Keep(t, newReplayer(), events, "testdata", name)
}

func (r *round) decide(actor string, roles []string, approve bool, note string) (DecideResult, error) {
	return r.client.Decide(context.Background(), r.in.TripID, r.in.Round, DecideRequest{Actor: actor, Roles: roles, Approve: approve, Note: note})
}

func wantFault(t *testing.T, err error, code fault.Code, msg string) {
	t.Helper()
	var f *fault.Error
	if !errors.As(err, &f) || f.Code != code || !strings.Contains(f.Message, msg) {
		t.Fatalf("got %v, want %s containing %q", err, code, msg)
	}
}

func awaitActivities(t *testing.T, r *round, n int, what string) {
	t.Helper()
	historytest.Await(t, r.tc, r.in.WorkflowID, func(events []*historypb.HistoryEvent) bool {
		return historytest.Count(events, enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) >= n
	}, what)
}

// roundApproved: a level-4 round; the travel team is refused, a global lead
// approves, the same approval again gets the same answer, another decision
// a conflict.
func roundApproved(t *testing.T) {
	r := newRound(t, 4, 24*time.Hour, 72*time.Hour, 0)
	run := r.start(t)
	if got := r.awaitPages(t, "asked", 2); !slices.Equal(got, []string{"gina", "tom"}) {
		t.Fatalf("a level-4 trip asks the travel team and the global leads; paged %v", got)
	}
	awaitActivities(t, r, 1, "the ASKED step recorded")

	_, err := r.decide("sam", []string{"viewer"}, true, "")
	wantFault(t, err, fault.Forbidden, "only the travel team or a global lead may decide")
	_, err = r.decide("tom", []string{RoleTravelTeam}, true, "")
	wantFault(t, err, fault.Forbidden, "a level-4 trip needs a global lead's decision")
	_, err = r.decide("gina", []string{RoleGlobalLead}, true, strings.Repeat("x", MaxNoteLength+1))
	wantFault(t, err, fault.BadUserInput, "longer than 1000 characters")

	res, err := r.decide("gina", []string{RoleGlobalLead}, true, "briefed on the route")
	if err != nil {
		t.Fatalf("approve: %v", err)
	}
	if res.Status != StatusApproved || res.DecidedBy != "gina" || time.Since(res.DecidedAt) > time.Minute {
		t.Fatalf("approve answered %+v", res)
	}
	state := r.result(t, run)
	if state.Status != StatusApproved || state.DecidedBy != "gina" {
		t.Fatalf("result = %+v", state)
	}
	again, err := r.decide("gina", []string{RoleGlobalLead}, true, "briefed on the route")
	if err != nil || again != res {
		t.Fatalf("the same approval again = %+v, %v; want %+v", again, err, res)
	}
	_, err = r.decide("tom", []string{RoleTravelTeam, RoleGlobalLead}, false, "")
	wantFault(t, err, fault.Conflict, "this trip was already approved by gina")

	trip, err := r.store.Get(context.Background(), r.in.TripID)
	if err != nil {
		t.Fatal(err)
	}
	if trip.Status != trips.StatusApproved || trip.Approval == nil || trip.Approval.DecidedBy != "gina" {
		t.Fatalf("postgres holds %+v (approval %+v)", trip, trip.Approval)
	}
	if got := r.timeline(t); !slices.Equal(got, []string{KindAsked, trips.StepApproved}) {
		t.Fatalf("timeline = %v", got)
	}
	var audits int
	if err := r.pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE action = 'trip.decide' AND object_id = $1`,
		r.in.TripID.String()).Scan(&audits); err != nil {
		t.Fatal(err)
	}
	if audits != 1 {
		t.Fatalf("%d trip.decide audit rows, want 1", audits)
	}
	r.keepHistory(t, "approved.json")
}

// roundEscalatedThenRejected: nobody decides; reminders every second until
// the deadline, then the global leads are told, and one rejects.
func roundEscalatedThenRejected(t *testing.T) {
	r := newRound(t, 3, 2500*time.Millisecond, 72*time.Hour, time.Second)
	run := r.start(t)
	if got := r.awaitPages(t, "asked", 1); !slices.Equal(got, []string{"tom"}) {
		t.Fatalf("a level-3 trip asks the travel team; paged %v", got)
	}
	if got := r.awaitPages(t, "reminded:1", 1); !slices.Equal(got, []string{"tom"}) {
		t.Fatalf("reminder 1 paged %v", got)
	}
	if got := r.awaitPages(t, "escalated", 1); !slices.Equal(got, []string{"gina"}) {
		t.Fatalf("the deadline escalates to the global leads; paged %v", got)
	}
	historytest.Await(t, r.tc, r.in.WorkflowID, func(events []*historypb.HistoryEvent) bool {
		for _, e := range events {
			if e.GetEventType() == enumspb.EVENT_TYPE_TIMER_STARTED && e.GetTimerStartedEventAttributes().GetStartToFireTimeout().AsDuration() > time.Hour {
				return true // the wait for departure has begun
			}
		}
		return false
	}, "the wait for departure")

	res, err := r.decide("gina", []string{RoleGlobalLead}, false, "no escort available")
	if err != nil || res.Status != StatusRejected {
		t.Fatalf("reject = %+v, %v", res, err)
	}
	state := r.result(t, run)
	if !state.Escalated || state.Reminders < 1 || state.Status != StatusRejected {
		t.Fatalf("result = %+v", state)
	}
	kinds := r.timeline(t)
	want := []string{KindAsked}
	for range state.Reminders {
		want = append(want, KindReminded)
	}
	want = append(want, KindEscalated, trips.StepRejected)
	if !slices.Equal(kinds, want) {
		t.Fatalf("timeline = %v, want %v", kinds, want)
	}
	r.keepHistory(t, "escalated_then_rejected.json")
}

// roundCancelled: the trip is cancelled in Postgres and the workflow told
// (as the relay does); a later decision is a conflict.
func roundCancelled(t *testing.T) {
	r := newRound(t, 3, 24*time.Hour, 72*time.Hour, 0)
	run := r.start(t)
	r.awaitPages(t, "asked", 1)
	awaitActivities(t, r, 1, "the ASKED step recorded")

	if _, err := r.store.Cancel(context.Background(), "tina", r.in.TripID, "meeting moved online"); err != nil {
		t.Fatalf("cancel in postgres: %v", err)
	}
	if err := r.client.Cancel(context.Background(), r.in.TripID, r.in.Round, "tina", "meeting moved online"); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	state := r.result(t, run)
	if state.Status != StatusCancelled || state.CancelledBy != "tina" {
		t.Fatalf("result = %+v", state)
	}
	_, err := r.decide("tom", []string{RoleTravelTeam}, true, "")
	wantFault(t, err, fault.Conflict, "the trip was cancelled")
	if err := r.client.Cancel(context.Background(), r.in.TripID, r.in.Round, "tina", "again"); err != nil {
		t.Fatalf("cancelling a finished round: %v, want nil", err)
	}
	// One CANCELLED step: the store's (the trip) takes the key the
	// workflow's own step (the round) uses, so the second never lands.
	if got := r.timeline(t); !slices.Equal(got, []string{KindAsked, trips.StepCancelled}) {
		t.Fatalf("timeline = %v", got)
	}
	r.keepHistory(t, "cancelled.json")
}

func TestClientWithoutARunningRound(t *testing.T) {
	t.Parallel()
	addr := testenv.TemporalAddress(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tc, err := engine.Dial(ctx, addr, "default", historytest.QuietLogger())
	if err != nil {
		t.Fatalf("temporal: %v", err)
	}
	defer tc.Close()
	c := &Client{Temporal: tc}
	_, err = c.Decide(ctx, uuid.New(), 1, DecideRequest{Actor: "tom", Roles: []string{RoleTravelTeam}, Approve: true})
	if !errors.Is(err, ErrNotWaiting) {
		t.Fatalf("deciding a round that never started = %v, want %v", err, ErrNotWaiting)
	}
	if err := c.Cancel(ctx, uuid.New(), 1, "tina", ""); err != nil {
		t.Fatalf("cancelling a round that never started = %v, want nil", err)
	}
}
