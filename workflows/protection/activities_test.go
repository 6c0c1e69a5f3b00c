package protection

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"meridian.dev/platform/directory"
	"meridian.dev/platform/protection"
	"meridian.dev/workflows/historytest"
)

// The activities against in-memory fakes of the store, the directory and
// the pager (fake_test.go). The same activities over the real store are
// the store's helpers' to test.

type activityFixture struct {
	store  *fakeStore
	pager  *fakePager
	a      *Activities
	detail uuid.UUID
}

func newActivityFixture(t *testing.T) *activityFixture {
	t.Helper()
	store := newFakeStore()
	pager := &fakePager{}
	dir := newFakeDirectory(
		directory.Person{Subject: "lead", Name: "Lena Lead"},
		directory.Person{Subject: "agent-a", Name: "Ana Agent"},
		directory.Person{Subject: "agent-b", Name: "Ben Agent"},
	)
	f := &activityFixture{store: store, pager: pager, a: &Activities{Store: store, Directory: dir, Sender: pager, Log: historytest.QuietLogger()}}
	f.detail = store.addDetail("Ada Lovelace", "lead", []string{"agent-a", "agent-b", "lead"}, time.Hour, 5*time.Minute)
	return f
}

var due = time.Date(2025, 3, 1, 3, 0, 0, 0, time.UTC)

func (f *activityFixture) remind(t *testing.T) (RemindResult, error) {
	t.Helper()
	return f.a.RemindCheckIn(context.Background(), RemindRequest{DetailID: f.detail, Due: due, Last: due.Add(-time.Hour)})
}

func pageKeys(f *activityFixture) []string {
	var keys []string
	for _, p := range f.pager.sent() {
		keys = append(keys, p.IdempotencyKey)
	}
	slices.Sort(keys)
	return keys
}

func TestRemindPagesTheLeaderAndAgentsAndRecordsTheStepOnce(t *testing.T) {
	f := newActivityFixture(t)
	res, err := f.remind(t)
	if err != nil {
		t.Fatal(err)
	}
	// Leader and agents (the leader listed twice is paged once), each on
	// both their channels.
	if res.Sent != 6 || res.Ended || res.CheckedIn != nil || res.Interval != time.Hour || res.Grace != 5*time.Minute {
		t.Fatalf("result = %+v", res)
	}
	var want []string
	for _, s := range []string{"agent-a", "agent-b", "lead"} {
		for _, ch := range []string{"EMAIL", "WEBHOOK"} {
			want = append(want, fmt.Sprintf("checkin-remind:%s:%d:%s:%s", f.detail, due.Unix(), s, ch))
		}
	}
	if got := pageKeys(f); !slices.Equal(got, want) {
		t.Fatalf("page keys %v, want %v", got, want)
	}
	for _, p := range f.pager.sent() {
		if p.Topic != "protection" || p.Headline != "Check-in due: detail of Ada Lovelace" || p.Action != "Check in now" ||
			len(p.Recipients) != 1 || p.Region != "EMEA" || !strings.Contains(p.Note, "2025-03-01 03:00:00 UTC") ||
			!strings.Contains(p.Note, "2025-03-01 03:05:00 UTC") {
			t.Fatalf("page %+v", p)
		}
		role := "detail agent"
		if p.Recipients[0].Subject == "lead" {
			role = "detail leader"
		}
		if p.TierName != role {
			t.Fatalf("page to %s names them %q", p.Recipients[0].Subject, p.TierName)
		}
	}

	// A retry (the first attempt's answer was lost) pages again under the
	// same keys, and records nothing more.
	if _, err := f.remind(t); err != nil {
		t.Fatal(err)
	}
	steps := f.store.stepsOf(protection.StepReminded)
	if len(steps) != 1 || steps[0].Key != fmt.Sprintf("remind:%s:%d", f.detail, due.Unix()) || steps[0].Step.Actor != protection.SystemActor ||
		!strings.Contains(steps[0].Step.Note, "Paged lead, agent-a, agent-b: 6 sent.") {
		t.Fatalf("steps %+v", steps)
	}
	if got := len(f.pager.sent()); got != 12 {
		t.Fatalf("%d pages after the retry, want 12 (6 again, same keys)", got)
	}
}

func TestRemindSurvivesAFailingChannel(t *testing.T) {
	f := newActivityFixture(t)
	f.pager.setFailing("agent-a:EMAIL", "agent-b:EMAIL", "agent-b:WEBHOOK")
	res, err := f.remind(t)
	if err != nil {
		t.Fatalf("a reminder that reached someone failed: %v", err)
	}
	if res.Sent != 3 {
		t.Fatalf("result = %+v", res)
	}
	steps := f.store.stepsOf(protection.StepReminded)
	if len(steps) != 1 || !strings.Contains(steps[0].Step.Note, "Not delivered: agent-a by EMAIL") ||
		!strings.Contains(steps[0].Step.Note, "agent-b by WEBHOOK") {
		t.Fatalf("steps %+v", steps)
	}
}

func TestRemindThatReachesNobodyFailsForARetry(t *testing.T) {
	f := newActivityFixture(t)
	f.pager.setFailing("*")
	if _, err := f.remind(t); err == nil || !strings.Contains(err.Error(), "could be reached") {
		t.Fatalf("a reminder that reached nobody = %v, want an error to retry", err)
	}
	steps := f.store.stepsOf(protection.StepReminded)
	if len(steps) != 1 || !strings.HasSuffix(steps[0].Key, ":unreached") || !strings.Contains(steps[0].Step.Note, "Nobody could be reached") {
		t.Fatalf("steps %+v", steps)
	}
	// The retry gets through: its own step lands beside the failure's.
	f.pager.setFailing()
	if _, err := f.remind(t); err != nil {
		t.Fatal(err)
	}
	if steps := f.store.stepsOf(protection.StepReminded); len(steps) != 2 || steps[1].Key != fmt.Sprintf("remind:%s:%d", f.detail, due.Unix()) {
		t.Fatalf("steps %+v", steps)
	}
}

func TestRemindWithNobodyToRemind(t *testing.T) {
	f := newActivityFixture(t)
	f.a.Directory = newFakeDirectory() // nobody on the detail is in the directory
	res, err := f.remind(t)
	if err == nil || res.Sent != 0 {
		t.Fatalf("a reminder to people the directory does not know = %+v, %v; want an error", res, err)
	}
	steps := f.store.stepsOf(protection.StepReminded)
	if len(steps) != 1 || !strings.Contains(steps[0].Step.Note, "lead: not in the directory") {
		t.Fatalf("steps %+v", steps)
	}

	empty := newActivityFixture(t)
	id := empty.store.addDetail("Grace Hopper", "", nil, time.Hour, time.Minute)
	res, err = empty.a.RemindCheckIn(context.Background(), RemindRequest{DetailID: id, Due: due})
	if err != nil || res.Sent != 0 {
		t.Fatalf("a detail with nobody on it = %+v, %v; want nothing sent and no retry", res, err)
	}
	if steps := empty.store.stepsOf(protection.StepReminded); len(steps) != 1 || !strings.Contains(steps[0].Step.Note, "nobody to remind") {
		t.Fatalf("steps %+v", steps)
	}
}

func TestRemindAdoptsACheckInOnlyPostgresHolds(t *testing.T) {
	f := newActivityFixture(t)
	f.store.checkIn(f.detail, due.Add(-time.Minute), "agent-b")
	res, err := f.remind(t)
	if err != nil {
		t.Fatal(err)
	}
	if res.CheckedIn == nil || !res.CheckedIn.Equal(due.Add(-time.Minute)) || res.By != "agent-b" {
		t.Fatalf("result = %+v", res)
	}
	if len(f.pager.sent()) != 0 || len(f.store.stepsOf(protection.StepReminded)) != 0 {
		t.Fatal("a detail that checked in was reminded")
	}
	// The check-in the watch already knows of is no news.
	res, err = f.a.RemindCheckIn(context.Background(), RemindRequest{DetailID: f.detail, Due: due, Last: due.Add(-time.Minute)})
	if err != nil || res.CheckedIn != nil || res.Sent == 0 {
		t.Fatalf("result = %+v, %v", res, err)
	}
}

func TestRemindEndsTheWatchOfADetailThatEnded(t *testing.T) {
	f := newActivityFixture(t)
	f.store.end(f.detail)
	res, err := f.remind(t)
	if err != nil || !res.Ended || len(f.pager.sent()) != 0 {
		t.Fatalf("result = %+v, %v, %d pages", res, err, len(f.pager.sent()))
	}
	res, err = f.a.RemindCheckIn(context.Background(), RemindRequest{DetailID: uuid.New(), Due: due})
	if err != nil || !res.Ended {
		t.Fatalf("a detail that does not exist = %+v, %v; want the watch ended", res, err)
	}
}

func TestRemindFailsWhilePostgresIsDown(t *testing.T) {
	f := newActivityFixture(t)
	f.store.setFail(errors.New("connection refused"))
	if _, err := f.remind(t); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("remind = %v, want the store's error", err)
	}
	if len(f.pager.sent()) != 0 {
		t.Fatal("paged without reading Postgres")
	}
}

func TestRaiseMissedCheckIn(t *testing.T) {
	f := newActivityFixture(t)
	ctx := context.Background()
	m := protection.Missed{DetailID: f.detail, Due: due, Reason: ReasonNoCheckIn, TierWait: time.Minute}
	first, err := f.a.RaiseMissedCheckIn(ctx, m)
	if err != nil || first.IncidentID == uuid.Nil {
		t.Fatalf("raise = %+v, %v", first, err)
	}
	again, err := f.a.RaiseMissedCheckIn(ctx, m)
	if err != nil || again.IncidentID != first.IncidentID || len(f.store.raises()) != 1 {
		t.Fatalf("the same raise again = %+v, %v (%d raised)", again, err, len(f.store.raises()))
	}

	f.store.setFail(errors.New("connection refused"))
	if _, err := f.a.RaiseMissedCheckIn(ctx, protection.Missed{DetailID: f.detail, Due: due.Add(time.Hour)}); err == nil {
		t.Fatal("a raise while Postgres is down succeeded")
	}
	f.store.setFail(nil)
	res, err := f.a.RaiseMissedCheckIn(ctx, protection.Missed{DetailID: uuid.New(), Due: due})
	if err != nil || !res.Ended {
		t.Fatalf("raise for a detail that does not exist = %+v, %v; want the watch ended", res, err)
	}
}

func TestRaiseMissedCheckInUnderAnOpenIncident(t *testing.T) {
	f := newActivityFixture(t)
	ctx := context.Background()
	last := due.Add(-time.Hour)
	missed := func(n int, open *uuid.UUID) protection.MissedResult {
		t.Helper()
		res, err := f.a.RaiseMissedCheckIn(ctx, protection.Missed{DetailID: f.detail, Due: due.Add(time.Duration(n) * time.Hour),
			Reason: ReasonNoCheckIn, Last: last, Open: open})
		if err != nil || res.IncidentID == uuid.Nil || res.CheckedIn != nil || res.Ended {
			t.Fatalf("raise %d = %+v, %v", n, res, err)
		}
		return res
	}
	first := missed(0, nil).IncidentID
	// While it is unresolved the silence goes on under it: nothing new is
	// raised or written on the timeline.
	for n := 1; n <= 2; n++ {
		if got := missed(n, &first).IncidentID; got != first {
			t.Fatalf("lapse %d under the open incident answered %s, want %s", n, got, first)
		}
	}
	if got := len(f.store.raises()); got != 1 {
		t.Fatalf("%d incidents raised while the first was open, want 1", got)
	}
	if got := len(f.store.stepsOf(protection.StepMissed)); got != 1 {
		t.Fatalf("%d missed steps, want 1", got)
	}
	// People resolved it all; the silence goes on: a new incident, once.
	f.store.resolve(first)
	next := missed(3, &first).IncidentID
	if next == first || len(f.store.raises()) != 2 {
		t.Fatalf("after the resolution: %s (first %s), %d raised", next, first, len(f.store.raises()))
	}
	if got := missed(3, &first).IncidentID; got != next {
		t.Fatalf("the same raise retried answered %s, want %s", got, next)
	}
	if got := missed(4, &next).IncidentID; got != next {
		t.Fatalf("a lapse under the new incident answered %s, want %s", got, next)
	}
	// An incident Postgres does not know is not open.
	if got := missed(5, ptr(uuid.New())).IncidentID; got == next || len(f.store.raises()) != 3 {
		t.Fatalf("a lapse naming an unknown incident answered %s, %d raised", got, len(f.store.raises()))
	}
	if asks := f.store.asks(); len(asks) != 7 || asks[1].Open == nil || *asks[1].Open != first {
		t.Fatalf("asked %+v", asks)
	}
}

func TestRaiseMissedCheckInAfterACheckInTheWatchMissed(t *testing.T) {
	f := newActivityFixture(t)
	ctx := context.Background()
	last := due.Add(-time.Hour)
	// Postgres holds the watch's own last check-in: before the due time, and
	// no news, so the miss is raised.
	f.store.checkIn(f.detail, last, "agent-a")
	res, err := f.a.RaiseMissedCheckIn(ctx, protection.Missed{DetailID: f.detail, Due: due, Last: last})
	if err != nil || res.IncidentID == uuid.Nil || res.CheckedIn != nil {
		t.Fatalf("raise after the watch's own last check-in = %+v, %v", res, err)
	}
	// One after the watch's last, even before the due time, is a check-in
	// whose signal has not arrived.
	early := due.Add(-10 * time.Minute)
	f.store.checkIn(f.detail, early, "agent-b")
	res, err = f.a.RaiseMissedCheckIn(ctx, protection.Missed{DetailID: f.detail, Due: due.Add(time.Hour), Last: last})
	if err != nil || res.CheckedIn == nil || !res.CheckedIn.Equal(early) || res.IncidentID != uuid.Nil {
		t.Fatalf("raise after a check-in the watch missed = %+v, %v", res, err)
	}
	if got := len(f.store.raises()); got != 1 {
		t.Fatalf("%d raised, want 1", got)
	}
}

func TestRecordCheckInRecovery(t *testing.T) {
	f := newActivityFixture(t)
	ctx := context.Background()
	raised, err := f.a.RaiseMissedCheckIn(ctx, protection.Missed{DetailID: f.detail, Due: due, Reason: ReasonNoCheckIn})
	if err != nil {
		t.Fatal(err)
	}
	req := RecoveryRequest{DetailID: f.detail, IncidentID: raised.IncidentID, At: due.Add(20 * time.Minute), By: "agent-a"}
	for range 2 {
		if err := f.a.RecordCheckInRecovery(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.store.recoveriesOf(); len(got) != 1 || got[0].By != "agent-a" {
		t.Fatalf("recoveries %+v", got)
	}
	// An incident the store does not know: nothing to record, and nothing to
	// retry.
	if err := f.a.RecordCheckInRecovery(ctx, RecoveryRequest{DetailID: f.detail, IncidentID: uuid.New(), At: due}); err != nil {
		t.Fatalf("recovery of an unknown incident = %v, want nil", err)
	}
	f.store.setFail(errors.New("connection refused"))
	if err := f.a.RecordCheckInRecovery(ctx, req); err == nil {
		t.Fatal("a recovery while Postgres is down succeeded")
	}
}
