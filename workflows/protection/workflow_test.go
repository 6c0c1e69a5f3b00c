package protection

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"meridian.dev/platform/protection"
	"meridian.dev/workflows/historytest"
)

// The unit tests below run Watch in the SDK's test environment: a mock
// clock that skips ahead whenever the workflow is blocked, and mocked
// activities, each call recorded with its mock time. activities_test.go
// checks the activities themselves; record_test.go runs real watches on
// the dev server.

const (
	interval = 60 * time.Minute
	grace    = 5 * time.Minute
	tierWait = 3 * time.Minute
)

var (
	start    = time.Date(2025, 3, 1, 2, 0, 0, 0, time.UTC)
	detailID = uuid.MustParse("0190d2a4-0000-7000-8000-00000000d001")
	// incident, then second, are the incidents the harness raises by
	// default.
	incident = uuid.MustParse("0190d2a4-0000-7000-8000-00000000e001")
	second   = uuid.MustParse("0190d2a4-0000-7000-8000-00000000e002")
)

func minute(n int) time.Duration { return time.Duration(n) * time.Minute }

// at is the instant n minutes after the start.
func at(n int) time.Time { return start.Add(minute(n)) }

type remindCall struct {
	At  time.Duration // mock time since the start
	Req RemindRequest
}

type raiseCall struct {
	At  time.Duration
	Req protection.Missed
}

type recoveryCall struct {
	At  time.Duration
	Req RecoveryRequest
}

type harness struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment
	in  Input

	mu         sync.Mutex
	reminds    []remindCall
	raises     []raiseCall
	recoveries []recoveryCall
	// remind, raise and recover answer the activities; by default a
	// reminder goes out, a raise answers as Postgres does (see
	// defaultRaise), a recovery is recorded.
	remind  func(req RemindRequest) (RemindResult, error)
	raise   func(n int, req protection.Missed) (protection.MissedResult, error)
	recover func(req RecoveryRequest) error
	// opened counts the incidents defaultRaise opened; resolved are those
	// people have resolved (resolveAt).
	opened   int
	resolved map[uuid.UUID]bool
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	// The test environment logs every timer at DEBUG; only errors help.
	suite.SetLogger(tlog.NewStructuredLogger(historytest.QuietLogger()))
	h := &harness{t: t, env: suite.NewTestWorkflowEnvironment(), in: Input{
		DetailID: detailID, Interval: interval, Grace: grace, From: start, TierWait: tierWait,
	}, resolved: map[uuid.UUID]bool{}}
	h.env.SetStartTime(start)
	h.env.RegisterWorkflowWithOptions(Watch, workflow.RegisterOptions{Name: WorkflowName})
	// Real method values under the stable names, so the mocks below are
	// checked against the activities' true signatures.
	stub := &Activities{}
	h.env.RegisterActivityWithOptions(stub.RemindCheckIn, activity.RegisterOptions{Name: ActivityRemind})
	h.env.RegisterActivityWithOptions(stub.RaiseMissedCheckIn, activity.RegisterOptions{Name: ActivityMissed})
	h.env.RegisterActivityWithOptions(stub.RecordCheckInRecovery, activity.RegisterOptions{Name: ActivityRecovery})

	h.env.OnActivity(ActivityRemind, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, req RemindRequest) (RemindResult, error) {
			h.mu.Lock()
			h.reminds = append(h.reminds, remindCall{At: h.since(), Req: req})
			answer := h.remind
			h.mu.Unlock()
			if answer != nil {
				return answer(req)
			}
			return RemindResult{Sent: 2}, nil
		}).Maybe()
	h.env.OnActivity(ActivityMissed, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, req protection.Missed) (protection.MissedResult, error) {
			h.mu.Lock()
			h.raises = append(h.raises, raiseCall{At: h.since(), Req: req})
			n, answer := len(h.raises), h.raise
			if answer == nil {
				defer h.mu.Unlock()
				return h.defaultRaise(req), nil
			}
			h.mu.Unlock()
			return answer(n, req)
		}).Maybe()
	h.env.OnActivity(ActivityRecovery, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, req RecoveryRequest) error {
			h.mu.Lock()
			h.recoveries = append(h.recoveries, recoveryCall{At: h.since(), Req: req})
			answer := h.recover
			h.mu.Unlock()
			if answer != nil {
				return answer(req)
			}
			return nil
		}).Maybe()
	return h
}

func (h *harness) since() time.Duration { return h.env.Now().Sub(start) }

// defaultRaise answers a raise as Postgres does when nobody has checked in:
// the open incident while it is unresolved, else a new one (incident, then
// second). h.mu is held.
func (h *harness) defaultRaise(req protection.Missed) protection.MissedResult {
	if req.Open != nil && !h.resolved[*req.Open] {
		return protection.MissedResult{IncidentID: *req.Open}
	}
	ids := []uuid.UUID{incident, second}
	if h.opened >= len(ids) {
		h.t.Errorf("raise %+v: the harness has no third incident", req)
		return protection.MissedResult{}
	}
	h.opened++
	return protection.MissedResult{IncidentID: ids[h.opened-1]}
}

// resolveAt has people resolve the incident id n minutes after the start.
func (h *harness) resolveAt(n int, id uuid.UUID) {
	h.after(minute(n), func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.resolved[id] = true
	})
}

// after runs fn d after the start, in mock time.
func (h *harness) after(d time.Duration, fn func()) { h.env.RegisterDelayedCallback(fn, d) }

func (h *harness) checkIn(n int, by string) {
	h.after(minute(n), func() { h.env.SignalWorkflow(SignalCheckedIn, CheckedIn{At: at(n), By: by}) })
}

func (h *harness) stopAt(n int) {
	h.after(minute(n), func() { h.env.SignalWorkflow(SignalStop, Stop{At: at(n), Actor: "leader"}) })
}

// run runs the watch to its end and returns its result.
func (h *harness) run() State {
	h.t.Helper()
	h.env.ExecuteWorkflow(WorkflowName, h.in)
	if !h.env.IsWorkflowCompleted() {
		h.t.Fatal("the watch did not end")
	}
	if err := h.env.GetWorkflowError(); err != nil {
		h.t.Fatalf("the watch failed: %v", err)
	}
	var s State
	if err := h.env.GetWorkflowResult(&s); err != nil {
		h.t.Fatal(err)
	}
	return s
}

// continued runs the watch until it continues as new and returns the
// input of the next run.
func (h *harness) continued() Input {
	h.t.Helper()
	h.env.ExecuteWorkflow(WorkflowName, h.in)
	var can *workflow.ContinueAsNewError
	if err := h.env.GetWorkflowError(); !errors.As(err, &can) {
		h.t.Fatalf("the watch ended with %v, want a continue-as-new", err)
	}
	if can.WorkflowType.Name != WorkflowName {
		h.t.Fatalf("continued as %q, want %q", can.WorkflowType.Name, WorkflowName)
	}
	var next Input
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		h.t.Fatal(err)
	}
	return next
}

// remindedAt returns the mock minutes of the reminder attempts.
func (h *harness) remindedAt() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []int
	for _, c := range h.reminds {
		out = append(out, int(c.At/time.Minute))
	}
	return out
}

func (h *harness) wantReminders(minutes ...int) {
	h.t.Helper()
	if got := h.remindedAt(); !reflect.DeepEqual(got, minutes) && !(len(got) == 0 && len(minutes) == 0) {
		h.t.Fatalf("reminders at minutes %v, want %v", got, minutes)
	}
}

// wantDues checks the due time each reminder named.
func (h *harness) wantDues(minutes ...int) {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	var got []int
	for _, c := range h.reminds {
		got = append(got, int(c.Req.Due.Sub(start)/time.Minute))
		if c.Req.DetailID != detailID {
			h.t.Fatalf("reminder for detail %s", c.Req.DetailID)
		}
	}
	if !reflect.DeepEqual(got, minutes) && !(len(got) == 0 && len(minutes) == 0) {
		h.t.Fatalf("reminders for the dues at minutes %v, want %v", got, minutes)
	}
}

func (h *harness) wantRaises(want ...raiseCall) {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if !reflect.DeepEqual(h.raises, want) && !(len(h.raises) == 0 && len(want) == 0) {
		h.t.Fatalf("raises %+v, want %+v", h.raises, want)
	}
}

func (h *harness) wantRecoveries(want ...recoveryCall) {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if !reflect.DeepEqual(h.recoveries, want) && !(len(h.recoveries) == 0 && len(want) == 0) {
		h.t.Fatalf("recoveries %+v, want %+v", h.recoveries, want)
	}
}

// missedAt is the raise at minute n of the check-in due at minute due, by
// a watch whose last check-in is the start and that has nothing open.
func missedAt(n, due int, reason string) raiseCall {
	return raiseCall{At: minute(n), Req: protection.Missed{DetailID: detailID, Due: at(due), Reason: reason, TierWait: tierWait, Last: start}}
}

// under is c made while the watch holds the open incident id.
func (c raiseCall) under(id uuid.UUID) raiseCall {
	c.Req.Open = ptr(id)
	return c
}

// after is c made by a watch whose last check-in was at minute n.
func (c raiseCall) after(n int) raiseCall {
	c.Req.Last = at(n)
	return c
}

func ptr[T any](v T) *T { return &v }

func TestWatchRemindsAtDue(t *testing.T) {
	h := newHarness(t)
	h.stopAt(62)
	state := h.run()
	h.wantReminders(60)
	if got := h.reminds[0].Req; got != (RemindRequest{DetailID: detailID, Due: at(60), Last: start}) {
		t.Fatalf("reminder request %+v", got)
	}
	h.wantRaises()
	want := State{Interval: interval, Grace: grace, LastCheckIn: start, NextDue: at(60), Reminders: 1, Stopped: true}
	if !reflect.DeepEqual(state, want) {
		t.Fatalf("state = %+v, want %+v", state, want)
	}
}

func TestWatchCheckInWithinGracePreventsTheIncident(t *testing.T) {
	h := newHarness(t)
	h.checkIn(63, "agent-a")
	h.checkIn(64, "agent-b")
	// A check-in told again (its signal retried), and one older than the
	// last: neither moves the interval.
	h.after(minute(64), func() { h.env.SignalWorkflow(SignalCheckedIn, CheckedIn{At: at(63), By: "agent-a"}) })
	h.after(minute(65), func() { h.env.SignalWorkflow(SignalCheckedIn, CheckedIn{At: at(10), By: "agent-b"}) })
	h.stopAt(126)
	state := h.run()
	// The interval restarts from the check-in at 64, not from the due time.
	h.wantReminders(60, 124)
	h.wantDues(60, 124)
	if last := h.reminds[1].Req.Last; !last.Equal(at(64)) {
		t.Fatalf("second reminder knows of the check-in at %v, want %v", last, at(64))
	}
	h.wantRaises()
	if !state.LastCheckIn.Equal(at(64)) || state.OpenIncident != nil || state.Missed != 0 {
		t.Fatalf("state = %+v", state)
	}
}

func TestWatchSilenceGoesOnUnderTheOpenIncident(t *testing.T) {
	h := newHarness(t)
	h.stopAt(200)
	state := h.run()
	// Silence goes on: reminders every interval from the missed due time,
	// and at each lapse Postgres is asked again, naming the open incident;
	// while it is unresolved the answer is that incident, counted once.
	h.wantReminders(60, 120, 180)
	h.wantDues(60, 120, 180)
	h.wantRaises(missedAt(65, 60, ReasonNoCheckIn),
		missedAt(125, 120, ReasonNoCheckIn).under(incident),
		missedAt(185, 180, ReasonNoCheckIn).under(incident))
	want := State{Interval: interval, Grace: grace, LastCheckIn: start, NextDue: at(240), Reminders: 3, Missed: 1,
		OpenIncident: ptr(incident), Stopped: true}
	if !reflect.DeepEqual(state, want) {
		t.Fatalf("state = %+v, want %+v", state, want)
	}
}

func TestWatchSilenceAfterTheIncidentWasResolvedRaisesANewOne(t *testing.T) {
	h := newHarness(t)
	// People resolve the incident at 100 though nobody has checked in.
	h.resolveAt(100, incident)
	h.stopAt(200)
	state := h.run()
	h.wantReminders(60, 120, 180)
	h.wantRaises(missedAt(65, 60, ReasonNoCheckIn),
		missedAt(125, 120, ReasonNoCheckIn).under(incident),
		missedAt(185, 180, ReasonNoCheckIn).under(second))
	h.wantRecoveries()
	want := State{Interval: interval, Grace: grace, LastCheckIn: start, NextDue: at(240), Reminders: 3, Missed: 2,
		OpenIncident: ptr(second), Stopped: true}
	if !reflect.DeepEqual(state, want) {
		t.Fatalf("state = %+v, want %+v", state, want)
	}
}

func TestWatchCheckInAfterANewIncidentRecoversTheNewOne(t *testing.T) {
	h := newHarness(t)
	h.resolveAt(100, incident)
	h.checkIn(150, "agent-a")
	h.stopAt(151)
	state := h.run()
	h.wantRaises(missedAt(65, 60, ReasonNoCheckIn), missedAt(125, 120, ReasonNoCheckIn).under(incident))
	h.wantRecoveries(recoveryCall{At: minute(150), Req: RecoveryRequest{DetailID: detailID, IncidentID: second, At: at(150), By: "agent-a"}})
	if state.OpenIncident != nil || state.Missed != 2 {
		t.Fatalf("state = %+v", state)
	}
}

func TestWatchLaterCheckInRecordsTheRecoveryOnce(t *testing.T) {
	h := newHarness(t)
	h.checkIn(90, "agent-a")
	h.checkIn(100, "agent-b")
	h.stopAt(162)
	state := h.run()
	h.wantRaises(missedAt(65, 60, ReasonNoCheckIn))
	h.wantRecoveries(recoveryCall{At: minute(90), Req: RecoveryRequest{DetailID: detailID, IncidentID: incident, At: at(90), By: "agent-a"}})
	h.wantReminders(60, 160)
	if state.OpenIncident != nil || state.Missed != 1 || !state.LastCheckIn.Equal(at(100)) {
		t.Fatalf("state = %+v", state)
	}
}

func TestWatchNewMissAfterRecoveryRaisesAgain(t *testing.T) {
	h := newHarness(t)
	h.checkIn(90, "agent-a")
	h.stopAt(160)
	state := h.run()
	// The recovery closed the watch's hold on the first incident, resolved
	// or not: the next miss names nothing open.
	h.wantRaises(missedAt(65, 60, ReasonNoCheckIn), missedAt(155, 150, ReasonNoCheckIn).after(90))
	if state.OpenIncident == nil || *state.OpenIncident != second || state.Missed != 2 {
		t.Fatalf("state = %+v", state)
	}
}

func TestWatchRetimeTakesEffectAtOnce(t *testing.T) {
	h := newHarness(t)
	h.after(minute(10), func() { h.env.SignalWorkflow(SignalRetime, Retime{Interval: 15 * time.Minute, Grace: 2 * time.Minute}) })
	h.stopAt(16)
	state := h.run()
	h.wantReminders(15)
	h.wantDues(15)
	if state.Interval != 15*time.Minute || state.Grace != 2*time.Minute {
		t.Fatalf("state = %+v", state)
	}
}

func TestWatchRetimeToADueAlreadyPastActsNow(t *testing.T) {
	h := newHarness(t)
	h.after(minute(40), func() { h.env.SignalWorkflow(SignalRetime, Retime{Interval: 15 * time.Minute, Grace: 2 * time.Minute}) })
	h.stopAt(43)
	h.run()
	// Due at 15 under the new interval, which nobody could have kept: the
	// reminder goes now and the grace period runs from now.
	h.wantReminders(40)
	h.wantDues(40)
	h.wantRaises(missedAt(42, 40, ReasonNoCheckIn))
}

func TestWatchRetimeDuringTheGracePeriod(t *testing.T) {
	t.Run("a longer interval moves the due time", func(t *testing.T) {
		h := newHarness(t)
		h.after(minute(62), func() { h.env.SignalWorkflow(SignalRetime, Retime{Interval: 120 * time.Minute, Grace: grace}) })
		h.stopAt(121)
		h.run()
		h.wantReminders(60, 120)
		h.wantRaises()
	})
	t.Run("a shorter one only changes the grace", func(t *testing.T) {
		h := newHarness(t)
		h.after(minute(61), func() { h.env.SignalWorkflow(SignalRetime, Retime{Interval: 30 * time.Minute, Grace: 3 * time.Minute}) })
		h.stopAt(100)
		h.run()
		// No second reminder for the due already reminded of; the next due
		// after the miss is the missed one plus the new interval.
		h.wantReminders(60, 90)
		h.wantRaises(missedAt(63, 60, ReasonNoCheckIn), missedAt(93, 90, ReasonNoCheckIn).under(incident))
	})
	t.Run("an interval that is not positive is ignored", func(t *testing.T) {
		h := newHarness(t)
		h.after(minute(10), func() { h.env.SignalWorkflow(SignalRetime, Retime{Interval: 0, Grace: time.Minute}) })
		h.stopAt(61)
		state := h.run()
		h.wantReminders(60)
		if state.Interval != interval || state.Grace != grace {
			t.Fatalf("state = %+v", state)
		}
	})
}

func TestWatchAdoptsTheIntervalPostgresHolds(t *testing.T) {
	h := newHarness(t)
	// The retime's signal never came; Remind reads the new interval.
	h.remind = func(RemindRequest) (RemindResult, error) {
		return RemindResult{Sent: 1, Interval: 30 * time.Minute, Grace: grace}, nil
	}
	h.stopAt(91)
	h.run()
	h.wantReminders(60, 90)
	h.wantRaises(missedAt(65, 60, ReasonNoCheckIn))
}

func TestWatchCodesFailedRaisesAtOnce(t *testing.T) {
	h := newHarness(t)
	h.after(minute(20), func() { h.env.SignalWorkflow(SignalCodesFailed, CodesFailed{At: at(20)}) })
	h.stopAt(70)
	state := h.run()
	// The reminder still goes at 60; its lapse names the open incident,
	// which Postgres keeps.
	h.wantReminders(60)
	h.wantRaises(missedAt(20, 20, ReasonCodesFailed), missedAt(65, 60, ReasonNoCheckIn).under(incident))
	if ReasonCodesFailed != "3 wrong codes in a row" {
		t.Fatalf("reason %q", ReasonCodesFailed)
	}
	if state.OpenIncident == nil || *state.OpenIncident != incident || state.Missed != 1 {
		t.Fatalf("state = %+v", state)
	}
}

func TestWatchCodesFailedWhileAnIncidentIsOpen(t *testing.T) {
	codesFailedAt := func(h *harness, n int) {
		h.after(minute(n), func() { h.env.SignalWorkflow(SignalCodesFailed, CodesFailed{At: at(n)}) })
	}
	t.Run("unresolved: the open incident covers it", func(t *testing.T) {
		h := newHarness(t)
		codesFailedAt(h, 70)
		h.stopAt(71)
		state := h.run()
		h.wantRaises(missedAt(65, 60, ReasonNoCheckIn), missedAt(70, 70, ReasonCodesFailed).under(incident))
		if state.OpenIncident == nil || *state.OpenIncident != incident || state.Missed != 1 {
			t.Fatalf("state = %+v", state)
		}
	})
	t.Run("resolved: a new incident", func(t *testing.T) {
		h := newHarness(t)
		h.resolveAt(68, incident)
		codesFailedAt(h, 70)
		h.stopAt(71)
		state := h.run()
		h.wantRaises(missedAt(65, 60, ReasonNoCheckIn), missedAt(70, 70, ReasonCodesFailed).under(incident))
		if state.OpenIncident == nil || *state.OpenIncident != second || state.Missed != 2 {
			t.Fatalf("state = %+v", state)
		}
	})
}

func TestWatchCodesFailedBeforeALaterCheckInIsIgnored(t *testing.T) {
	h := newHarness(t)
	h.checkIn(30, "agent-a")
	// Wrong codes at 25, then a good one at 30: the signal came late.
	h.after(minute(31), func() { h.env.SignalWorkflow(SignalCodesFailed, CodesFailed{At: at(25)}) })
	h.stopAt(40)
	h.run()
	h.wantRaises()
}

func TestWatchStopEndsTheWatch(t *testing.T) {
	h := newHarness(t)
	h.stopAt(30)
	state := h.run()
	h.wantReminders()
	h.wantRaises()
	if !state.Stopped {
		t.Fatalf("state = %+v", state)
	}
	if got := h.env.Now().Sub(start); got != minute(30) {
		t.Fatalf("the watch ended at %v, want 30m", got)
	}
}

func TestWatchAdoptsACheckInOnlyPostgresHolds(t *testing.T) {
	h := newHarness(t)
	h.remind = func(req RemindRequest) (RemindResult, error) {
		if req.Due.Equal(at(60)) {
			return RemindResult{CheckedIn: ptr(at(59)), By: "agent-b"}, nil
		}
		return RemindResult{Sent: 1}, nil
	}
	h.stopAt(121)
	state := h.run()
	h.wantRaises()
	h.wantReminders(60, 119)
	if !state.LastCheckIn.Equal(at(59)) || state.Reminders != 1 {
		t.Fatalf("state = %+v", state)
	}
}

func TestWatchRaiseAnsweringCheckedInLeavesNothingOpen(t *testing.T) {
	h := newHarness(t)
	h.raise = func(n int, _ protection.Missed) (protection.MissedResult, error) {
		if n == 1 {
			return protection.MissedResult{CheckedIn: ptr(at(64))}, nil
		}
		return protection.MissedResult{IncidentID: incident}, nil
	}
	h.stopAt(130)
	state := h.run()
	// Nothing was open after the first raise, so the next miss names
	// nothing open, and the check-in Postgres held as the last.
	h.wantRaises(missedAt(65, 60, ReasonNoCheckIn), missedAt(129, 124, ReasonNoCheckIn).after(64))
	h.wantReminders(60, 124)
	h.wantRecoveries()
	if state.Missed != 1 || !state.LastCheckIn.Equal(at(64)) {
		t.Fatalf("state = %+v", state)
	}
}

func TestWatchRaiseAnsweringACheckInBeforeTheDueTime(t *testing.T) {
	h := newHarness(t)
	// Postgres holds a check-in at 59 whose signal never came and that the
	// reminder at 60 did not see: it counts, though before the due time.
	h.raise = func(n int, req protection.Missed) (protection.MissedResult, error) {
		if n == 1 {
			return protection.MissedResult{CheckedIn: ptr(at(59))}, nil
		}
		return protection.MissedResult{IncidentID: incident}, nil
	}
	h.stopAt(120)
	state := h.run()
	h.wantRaises(missedAt(65, 60, ReasonNoCheckIn))
	h.wantReminders(60, 119)
	want := State{Interval: interval, Grace: grace, LastCheckIn: at(59), NextDue: at(119), Reminders: 2, Stopped: true}
	if !reflect.DeepEqual(state, want) {
		t.Fatalf("state = %+v, want %+v", state, want)
	}
}

func TestWatchEndsWhenPostgresShowsTheDetailEnded(t *testing.T) {
	t.Run("at a reminder", func(t *testing.T) {
		h := newHarness(t)
		h.remind = func(RemindRequest) (RemindResult, error) { return RemindResult{Ended: true}, nil }
		state := h.run()
		h.wantReminders(60)
		h.wantRaises()
		if !state.Stopped {
			t.Fatalf("state = %+v", state)
		}
	})
	t.Run("at a raise", func(t *testing.T) {
		h := newHarness(t)
		h.raise = func(int, protection.Missed) (protection.MissedResult, error) {
			return protection.MissedResult{Ended: true}, nil
		}
		state := h.run()
		h.wantRaises(missedAt(65, 60, ReasonNoCheckIn))
		if !state.Stopped || state.OpenIncident != nil {
			t.Fatalf("state = %+v", state)
		}
	})
}

func TestWatchReminderThatCannotBeSentDoesNotHoldUpTheRaise(t *testing.T) {
	h := newHarness(t)
	h.remind = func(RemindRequest) (RemindResult, error) {
		return RemindResult{}, temporal.NewApplicationError("every channel failed", "Unreachable")
	}
	h.stopAt(66)
	state := h.run()
	if len(h.reminds) < 3 {
		t.Fatalf("the reminder was tried %d times, want it retried within the grace period", len(h.reminds))
	}
	for _, c := range h.reminds {
		if c.At > minute(65) {
			t.Fatalf("a reminder attempt at %v, after the grace period", c.At)
		}
	}
	h.wantRaises(missedAt(65, 60, ReasonNoCheckIn))
	if state.Reminders != 0 {
		t.Fatalf("state = %+v", state)
	}
}

func TestWatchQueryState(t *testing.T) {
	h := newHarness(t)
	var got State
	h.after(minute(62), func() {
		v, err := h.env.QueryWorkflow(QueryState)
		if err != nil {
			t.Errorf("query: %v", err)
			return
		}
		if err := v.Get(&got); err != nil {
			t.Errorf("query result: %v", err)
		}
	})
	h.stopAt(63)
	h.run()
	want := State{Interval: interval, Grace: grace, LastCheckIn: start, NextDue: at(60), Reminders: 1}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("query at minute 62 = %+v, want %+v", got, want)
	}
}

func TestWatchRefusesAnIntervalThatIsNotPositive(t *testing.T) {
	h := newHarness(t)
	h.in.Interval = 0
	h.env.ExecuteWorkflow(WorkflowName, h.in)
	var app *temporal.ApplicationError
	if err := h.env.GetWorkflowError(); !errors.As(err, &app) || app.Type() != "BadInput" {
		t.Fatalf("a watch without an interval ended with %v, want a BadInput failure", err)
	}
}

func TestWatchContinuesAsNewCarryingTheOpenIncident(t *testing.T) {
	h := newHarness(t)
	h.after(minute(70), func() { h.env.SetCurrentHistoryLength(historyLimit + 1) })
	next := h.continued()
	// The run hands over once the grace period of the reminder at 120 has
	// passed; that lapse named the open incident, and nothing new came.
	h.wantReminders(60, 120)
	h.wantRaises(missedAt(65, 60, ReasonNoCheckIn), missedAt(125, 120, ReasonNoCheckIn).under(incident))
	want := Input{DetailID: detailID, Interval: interval, Grace: grace, From: start, TierWait: tierWait,
		OpenIncident: ptr(incident), NextDue: at(180), Reminders: 2, Missed: 1}
	if !reflect.DeepEqual(next, want) {
		t.Fatalf("continued with %+v, want %+v", next, want)
	}
}

func TestWatchContinuesAsNewWithoutLosingASignal(t *testing.T) {
	h := newHarness(t)
	h.after(minute(70), func() { h.env.SetContinueAsNewSuggested(true) })
	h.checkIn(90, "agent-a")
	// A retime arrives while the recovery is being recorded: it is still in
	// its channel when the run decides to hand over.
	h.recover = func(RecoveryRequest) error {
		h.env.SignalWorkflow(SignalRetime, Retime{Interval: 30 * time.Minute, Grace: 2 * time.Minute})
		return nil
	}
	next := h.continued()
	h.wantRecoveries(recoveryCall{At: minute(90), Req: RecoveryRequest{DetailID: detailID, IncidentID: incident, At: at(90), By: "agent-a"}})
	want := Input{DetailID: detailID, Interval: 30 * time.Minute, Grace: 2 * time.Minute, From: at(90), TierWait: tierWait,
		NextDue: at(120), Reminders: 1, Missed: 1}
	if !reflect.DeepEqual(next, want) {
		t.Fatalf("continued with %+v, want %+v", next, want)
	}
}

func TestWatchResumesFromACarriedInput(t *testing.T) {
	h := newHarness(t)
	h.in.From, h.in.NextDue = at(-50), at(10)
	h.in.OpenIncident, h.in.Reminders, h.in.Missed = ptr(incident), 3, 1
	h.checkIn(20, "agent-a")
	h.stopAt(21)
	state := h.run()
	h.wantReminders(10)
	h.wantDues(10)
	// The lapse at 15 names the carried incident, still open, so nothing
	// new is counted; the check-in recovers it.
	h.wantRaises(raiseCall{At: minute(15), Req: protection.Missed{DetailID: detailID, Due: at(10), Reason: ReasonNoCheckIn,
		TierWait: tierWait, Last: at(-50), Open: ptr(incident)}})
	h.wantRecoveries(recoveryCall{At: minute(20), Req: RecoveryRequest{DetailID: detailID, IncidentID: incident, At: at(20), By: "agent-a"}})
	want := State{Interval: interval, Grace: grace, LastCheckIn: at(20), NextDue: at(80), Reminders: 4, Missed: 1, Stopped: true}
	if !reflect.DeepEqual(state, want) {
		t.Fatalf("state = %+v, want %+v", state, want)
	}
}

func TestWatchCheckInThatCameDuringTheReminderWinsOverTheRaise(t *testing.T) {
	h := newHarness(t)
	// No grace at all: the grace period is over when the reminder returns,
	// and the check-in that arrived meanwhile waits in its channel.
	h.in.Grace = 0
	h.remind = func(req RemindRequest) (RemindResult, error) {
		h.env.SignalWorkflow(SignalCheckedIn, CheckedIn{At: req.Due, By: "agent-a"})
		return RemindResult{Sent: 1}, nil
	}
	h.stopAt(62)
	state := h.run()
	h.wantRaises()
	if !state.LastCheckIn.Equal(at(60)) || !state.NextDue.Equal(at(120)) {
		t.Fatalf("state = %+v", state)
	}
}
