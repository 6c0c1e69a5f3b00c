package protection

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
)

// A check-in the watch has not heard of answers for the miss even when it
// came before the due time: the watch names the last one it knows.
func TestRaiseMissedCountsACheckInAfterTheWatchsLast(t *testing.T) {
	e := newCIEnv(t)
	e.setCodes(ciAgent)
	ctx := context.Background()
	d := e.activeDetail("Helena Vance")
	last := e.now
	due := last.Add(d.Interval)

	e.now = due.Add(-time.Minute)
	if _, err := e.store.CheckIn(ctx, ciAgent, CheckInInput{DetailID: d.ID, Code: ciCode}); err != nil {
		t.Fatal(err)
	}
	r, err := e.store.RaiseMissed(ctx, Missed{DetailID: d.ID, Due: due, Last: last, TierWait: ciTierWait})
	if err != nil {
		t.Fatal(err)
	}
	if r.CheckedIn == nil || !r.CheckedIn.Equal(e.now) || r.IncidentID != uuid.Nil {
		t.Fatalf("a check-in the watch did not know of: %+v, want CheckedIn at %s and no incident", r, e.now)
	}
	if n := e.count(`SELECT count(*) FROM incidents`); n != 0 {
		t.Errorf("%d incidents raised for a detail that checked in", n)
	}
}

// While an escalation of the open missed check-in is unresolved, the
// silence goes on under it; once people resolved it all, silence that goes
// on is a new incident. Each miss moves the stored next due time on.
func TestRaiseMissedKeepsTheOpenIncidentUntilItIsResolved(t *testing.T) {
	e := newCIEnv(t)
	ctx := context.Background()
	d := e.activeDetail("Helena Vance")
	last := e.now
	due := last.Add(d.Interval)
	nextDue := func() time.Time {
		var at time.Time
		if err := e.pool.QueryRow(ctx, `SELECT next_check_in_due FROM details WHERE id = $1`, d.ID).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at
	}

	e.now = due.Add(d.Grace)
	first, err := e.store.RaiseMissed(ctx, Missed{DetailID: d.ID, Due: due, Last: last, TierWait: ciTierWait})
	if err != nil || first.IncidentID == uuid.Nil {
		t.Fatalf("first miss: %+v, %v", first, err)
	}
	if got := nextDue(); !got.Equal(due.Add(d.Interval)) {
		t.Errorf("next due after the miss: %s, want %s", got, due.Add(d.Interval))
	}

	due2 := due.Add(d.Interval)
	e.now = due2.Add(d.Grace)
	open := first.IncidentID
	again, err := e.store.RaiseMissed(ctx, Missed{DetailID: d.ID, Due: due2, Last: last, Open: &open, TierWait: ciTierWait})
	if err != nil || again.IncidentID != first.IncidentID {
		t.Fatalf("silence under the open incident: %+v, %v; want %s again", again, err, first.IncidentID)
	}
	if n := e.count(`SELECT count(*) FROM incidents`); n != 1 {
		t.Errorf("%d incidents while the first is open, want 1", n)
	}
	if got := nextDue(); !got.Equal(due2.Add(d.Interval)) {
		t.Errorf("next due after the second miss: %s, want %s", got, due2.Add(d.Interval))
	}

	if _, err := e.pool.Exec(ctx, `UPDATE escalations SET status = 'RESOLVED' WHERE incident_id = $1`, open); err != nil {
		t.Fatal(err)
	}
	due3 := due2.Add(d.Interval)
	e.now = due3.Add(d.Grace)
	fresh, err := e.store.RaiseMissed(ctx, Missed{DetailID: d.ID, Due: due3, Last: last, Open: &open, TierWait: ciTierWait})
	if err != nil || fresh.IncidentID == uuid.Nil || fresh.IncidentID == open {
		t.Fatalf("silence after the incident was resolved: %+v, %v; want a new incident", fresh, err)
	}
	if n := e.count(`SELECT count(*) FROM incidents WHERE kind = $1`, IncidentMissedCheckIn); n != 2 {
		t.Errorf("%d missed check-in incidents, want 2", n)
	}
}
