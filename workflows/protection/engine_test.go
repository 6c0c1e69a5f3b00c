package protection

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"meridian.dev/platform/directory"
	"meridian.dev/platform/protection"
	"meridian.dev/platform/testenv"
	"meridian.dev/workflows/engine"
	"meridian.dev/workflows/historytest"
)

// The tests here run real watches on the Temporal dev server: a worker with
// the real activities over the in-memory store, directory and pager of
// fake_test.go, the watch started and signalled through this package's
// client helpers, as the relay does, on seconds-long intervals. What they
// check is the watch on a real server (timers, signals, retries); their
// histories are kept for the replay test.

// watchRun is one watch on the dev server.
type watchRun struct {
	tc     client.Client
	tq     string
	store  *fakeStore
	pager  *fakePager
	in     Input
	detail uuid.UUID
}

func newWatchRun(t *testing.T, every, grace time.Duration) *watchRun {
	t.Helper()
	addr := testenv.TemporalAddress(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tc, err := engine.Dial(ctx, addr, "default", historytest.QuietLogger())
	if err != nil {
		t.Fatalf("temporal: %v", err)
	}
	t.Cleanup(tc.Close)
	store, pager := newFakeStore(), &fakePager{}
	dir := newFakeDirectory(directory.Person{Subject: "lead", Name: "Lena Lead"}, directory.Person{Subject: "agent-a", Name: "Ana Agent"})
	r := &watchRun{tc: tc, tq: testenv.Unique(t, "tq"), store: store, pager: pager}
	r.detail = store.addDetail("Ada Lovelace", "lead", []string{"agent-a"}, every, grace)
	r.in = Input{DetailID: r.detail, Interval: every, Grace: grace, From: time.Now().UTC().Truncate(time.Millisecond), TierWait: time.Minute}
	w := worker.New(tc, r.tq, worker.Options{})
	Register(w, &Activities{Store: store, Directory: dir, Sender: pager, Log: historytest.QuietLogger()})
	if err := w.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	t.Cleanup(w.Stop)
	return r
}

func (r *watchRun) id() string { return protection.WatchWorkflowID(r.detail) }

func (r *watchRun) start(t *testing.T) {
	t.Helper()
	if err := startWatch(context.Background(), r.tc, r.in, r.tq); err != nil {
		t.Fatalf("start watch: %v", err)
	}
	t.Cleanup(func() {
		// A failed test must not leave a watch reminding on the shared server.
		_ = r.tc.TerminateWorkflow(context.Background(), r.id(), "", "test over")
	})
}

// checkIn records a check-in where the store would, then tells the watch,
// as the relay does after the check-in's transaction commits.
func (r *watchRun) checkIn(t *testing.T, by string) time.Time {
	t.Helper()
	at := time.Now().UTC().Truncate(time.Millisecond)
	r.store.checkIn(r.detail, at, by)
	if err := SendCheckedIn(context.Background(), r.tc, r.detail, CheckedIn{At: at, By: by}); err != nil {
		t.Fatalf("check in: %v", err)
	}
	return at
}

func (r *watchRun) stop(t *testing.T) State {
	t.Helper()
	r.store.end(r.detail)
	if err := SendStop(context.Background(), r.tc, r.detail, Stop{At: time.Now().UTC(), Actor: "lead"}); err != nil {
		t.Fatalf("stop: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), historytest.AwaitTimeout)
	defer cancel()
	var s State
	if err := r.tc.GetWorkflow(ctx, r.id(), "").Get(ctx, &s); err != nil {
		t.Fatalf("watch result: %v", err)
	}
	return s
}

// query asks the watch for its state; a watch that has not run its first
// task yet may not answer, which ok reports.
func (r *watchRun) query() (s State, ok bool) {
	v, err := r.tc.QueryWorkflow(context.Background(), r.id(), "", QueryState)
	return s, err == nil && v.Get(&s) == nil
}

// lastCheckInIs reports whether the watch has taken the check-in at at.
func (r *watchRun) lastCheckInIs(at time.Time) func() bool {
	return func() bool {
		s, ok := r.query()
		return ok && s.LastCheckIn.Equal(at)
	}
}

// await polls until ok holds, failing the test after AwaitTimeout.
func await(t *testing.T, ok func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(historytest.AwaitTimeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *watchRun) reminders() int { return len(r.store.stepsOf(protection.StepReminded)) }

func (r *watchRun) keepHistory(t *testing.T, name string) {
	t.Helper()
	events, err := historytest.Fetch(context.Background(), r.tc, r.id())
	if err != nil {
		t.Fatal(err)
	}
	historytest.Keep(t, newReplayer(), events, "testdata", name)
}

// watchWithCheckIns: agents check in before each due time, and once within
// the grace period after a reminder; nothing is raised.
func watchWithCheckIns(t *testing.T) {
	r := newWatchRun(t, 3*time.Second, 3*time.Second)
	r.start(t)
	first := r.checkIn(t, "agent-a")
	await(t, r.lastCheckInIs(first), "the first check-in taken")
	await(t, func() bool { return r.reminders() == 1 }, "a reminder")
	second := r.checkIn(t, "lead")
	await(t, r.lastCheckInIs(second), "the second check-in taken")
	state := r.stop(t)
	if len(r.store.raises()) != 0 {
		t.Fatalf("raised %+v for a detail that checked in", r.store.raises())
	}
	if !state.Stopped || !state.LastCheckIn.Equal(second) || state.Reminders < 1 || state.OpenIncident != nil {
		t.Fatalf("result = %+v", state)
	}
	// The reminder was for the due time after the first check-in, and
	// reached both people on both channels.
	pages := r.pager.sent()
	if len(pages) < 4 || !strings.Contains(pages[0].IdempotencyKey, r.detail.String()) || pages[0].Headline != "Check-in due: detail of Ada Lovelace" {
		t.Fatalf("pages %+v", pages)
	}
	if got := r.store.stepsOf(protection.StepReminded)[0].Key; got != "remind:"+r.detail.String()+":"+unix(first.Add(r.in.Interval)) {
		t.Fatalf("reminder step key %s, want one for the due time %v", got, first.Add(r.in.Interval))
	}
	r.keepHistory(t, "checkins.json")
}

// watchMissThenRecovery: nobody checks in; one missed check-in is raised
// at the due time plus the grace, reminders go on, the next lapse asks
// Postgres again under the open incident and raises nothing new, and a
// check-in later records the recovery once.
func watchMissThenRecovery(t *testing.T) {
	r := newWatchRun(t, 2*time.Second, time.Second)
	r.start(t)
	await(t, func() bool { return len(r.store.raises()) == 1 }, "the missed check-in raised")
	await(t, func() bool { return r.reminders() >= 2 }, "the reminders going on after the miss")
	await(t, func() bool { return len(r.store.asks()) >= 2 }, "a lapse under the open incident")
	by := r.checkIn(t, "agent-a")
	await(t, func() bool { return len(r.store.recoveriesOf()) == 1 }, "the recovery recorded")
	state := r.stop(t)
	raised := r.store.raises()
	if len(raised) != 1 || !raised[0].Due.Equal(r.in.From.Add(r.in.Interval)) || raised[0].Reason != ReasonNoCheckIn ||
		raised[0].TierWait != time.Minute || raised[0].Open != nil || !raised[0].Last.Equal(r.in.From) {
		t.Fatalf("raised %+v, want one for the first due time %v", raised, r.in.From.Add(r.in.Interval))
	}
	rec := r.store.recoveriesOf()[0]
	if !rec.At.Equal(by) || rec.By != "agent-a" {
		t.Fatalf("recovery %+v", rec)
	}
	for _, m := range r.store.asks()[1:] {
		if m.Open == nil || *m.Open != rec.Incident || !m.Last.Equal(r.in.From) {
			t.Fatalf("a lapse after the miss asked %+v, want it under the open incident %s", m, rec.Incident)
		}
	}
	if state.Missed != 1 || state.OpenIncident != nil || !state.LastCheckIn.Equal(by) {
		t.Fatalf("result = %+v", state)
	}
	r.keepHistory(t, "miss_then_recovery.json")
}

// watchResolvedThenSilence: nobody checks in; people resolve the missed
// check-in's incident while the silence goes on, and the next lapse raises
// a new one, which the watch then holds.
func watchResolvedThenSilence(t *testing.T) {
	r := newWatchRun(t, 2*time.Second, time.Second)
	r.start(t)
	var first uuid.UUID
	await(t, func() bool {
		s, ok := r.query()
		if ok && s.OpenIncident != nil {
			first = *s.OpenIncident
		}
		return first != uuid.Nil
	}, "the missed check-in raised and held")
	r.store.resolve(first)
	await(t, func() bool { return len(r.store.raises()) == 2 }, "a new incident for the silence going on")
	state := r.stop(t)
	raised := r.store.raises()
	if raised[1].Open == nil || *raised[1].Open != first || !raised[1].Due.After(raised[0].Due) || raised[1].Reason != ReasonNoCheckIn {
		t.Fatalf("raised %+v, want the second under the resolved %s", raised, first)
	}
	if state.Missed != 2 || state.OpenIncident == nil || *state.OpenIncident == first || len(r.store.recoveriesOf()) != 0 {
		t.Fatalf("result = %+v, recoveries %+v", state, r.store.recoveriesOf())
	}
	r.keepHistory(t, "miss_resolved_then_new.json")
}

// watchRetimed: an hour's interval shortened to seconds: the reminder
// comes at the new due time, not in an hour.
func watchRetimed(t *testing.T) {
	r := newWatchRun(t, time.Hour, 2*time.Second)
	r.start(t)
	r.store.retime(r.detail, 3*time.Second, 2*time.Second)
	if err := SendRetime(context.Background(), r.tc, r.detail, Retime{Interval: 3 * time.Second, Grace: 2 * time.Second}); err != nil {
		t.Fatalf("retime: %v", err)
	}
	await(t, func() bool { return r.reminders() == 1 }, "the reminder at the new due time")
	if got := r.store.stepsOf(protection.StepReminded)[0].Key; got != "remind:"+r.detail.String()+":"+unix(r.in.From.Add(3*time.Second)) {
		t.Fatalf("reminder step key %s, want one for %v", got, r.in.From.Add(3*time.Second))
	}
	r.checkIn(t, "agent-a")
	state := r.stop(t)
	if state.Interval != 3*time.Second || len(r.store.raises()) != 0 {
		t.Fatalf("result = %+v, raised %+v", state, r.store.raises())
	}
	r.keepHistory(t, "retimed.json")
}

// watchCodesFailed: three wrong codes raise a missed check-in at once;
// three more while it is open ask Postgres under it, and raise nothing new.
func watchCodesFailed(t *testing.T) {
	r := newWatchRun(t, time.Hour, time.Minute)
	r.start(t)
	failedAt := time.Now().UTC().Truncate(time.Millisecond)
	if err := SendCodesFailed(context.Background(), r.tc, r.detail, CodesFailed{At: failedAt}); err != nil {
		t.Fatalf("codes failed: %v", err)
	}
	await(t, func() bool { return len(r.store.raises()) == 1 }, "the missed check-in raised")
	again := failedAt.Add(time.Second)
	if err := SendCodesFailed(context.Background(), r.tc, r.detail, CodesFailed{At: again}); err != nil {
		t.Fatalf("codes failed again: %v", err)
	}
	await(t, func() bool { return len(r.store.asks()) == 2 }, "the second codes-failed asked")
	state := r.stop(t)
	if got := r.store.raises(); len(got) != 1 || !got[0].Due.Equal(failedAt) || got[0].Reason != ReasonCodesFailed {
		t.Fatalf("raised %+v", got)
	}
	if state.OpenIncident == nil || state.Missed != 1 {
		t.Fatalf("result = %+v", state)
	}
	if m := r.store.asks()[1]; !m.Due.Equal(again) || m.Reason != ReasonCodesFailed || m.Open == nil || *m.Open != *state.OpenIncident {
		t.Fatalf("the second codes-failed asked %+v, want it under %s", m, *state.OpenIncident)
	}
	r.keepHistory(t, "codes_failed.json")
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

func TestStartWatchIsIdempotent(t *testing.T) {
	t.Parallel()
	r := newWatchRun(t, time.Hour, time.Minute)
	r.start(t)
	first := r.tc.GetWorkflow(context.Background(), r.id(), "").GetRunID()
	if err := startWatch(context.Background(), r.tc, r.in, r.tq); err != nil {
		t.Fatalf("starting a running watch again = %v, want nil", err)
	}
	if again := r.tc.GetWorkflow(context.Background(), r.id(), "").GetRunID(); again != first {
		t.Fatalf("a second start began run %s beside %s", again, first)
	}
	r.stop(t)
	// A detail that ended does not start watching again.
	if err := startWatch(context.Background(), r.tc, r.in, r.tq); err != nil {
		t.Fatalf("starting an ended watch again = %v, want nil", err)
	}
	desc, err := r.tc.DescribeWorkflow(context.Background(), r.id(), "")
	if err != nil {
		t.Fatal(err)
	}
	if info := desc.RawResponse.GetWorkflowExecutionInfo(); info.GetExecution().GetRunId() != first || info.GetCloseTime() == nil {
		t.Fatalf("the ended watch was started again: %+v", info)
	}
	// Signals to it: the relay is told; a stop is nothing to do.
	if err := SendCheckedIn(context.Background(), r.tc, r.detail, CheckedIn{At: time.Now()}); !errors.Is(err, ErrWatchNotRunning) {
		t.Fatalf("a check-in for an ended watch = %v, want ErrWatchNotRunning", err)
	}
	if err := SendStop(context.Background(), r.tc, r.detail, Stop{}); err != nil {
		t.Fatalf("stopping an ended watch = %v, want nil", err)
	}
}

func TestClientWithoutAWatch(t *testing.T) {
	t.Parallel()
	addr := testenv.TemporalAddress(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tc, err := engine.Dial(ctx, addr, "default", historytest.QuietLogger())
	if err != nil {
		t.Fatalf("temporal: %v", err)
	}
	defer tc.Close()
	nobody := uuid.New()
	for name, send := range map[string]func() error{
		"checked-in":   func() error { return SendCheckedIn(ctx, tc, nobody, CheckedIn{At: time.Now()}) },
		"retime":       func() error { return SendRetime(ctx, tc, nobody, Retime{Interval: time.Minute}) },
		"codes-failed": func() error { return SendCodesFailed(ctx, tc, nobody, CodesFailed{At: time.Now()}) },
	} {
		if err := send(); !errors.Is(err, ErrWatchNotRunning) {
			t.Errorf("%s to a detail without a watch = %v, want ErrWatchNotRunning", name, err)
		}
	}
	if err := SendStop(ctx, tc, nobody, Stop{}); err != nil {
		t.Fatalf("stopping a watch that never started = %v, want nil", err)
	}
	if err := StartWatchOn(ctx, tc, "", Input{DetailID: nobody}); err == nil || !strings.Contains(err.Error(), "interval must be positive") {
		t.Fatalf("starting a watch without an interval = %v", err)
	}
	if err := StartWatchOn(ctx, tc, "", Input{Interval: time.Minute}); err == nil || !strings.Contains(err.Error(), "no detail") {
		t.Fatalf("starting a watch without a detail = %v", err)
	}
}
