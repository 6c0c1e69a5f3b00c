package travel

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"meridian.dev/platform/fault"
)

func TestApprovalDeadline(t *testing.T) {
	now := time.Date(2030, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		departure time.Time
		want      time.Time
	}{
		{"far off: the lead time before departure", now.Add(10 * 24 * time.Hour), now.Add(10*24*time.Hour - ApprovalLead)},
		{"within the lead time: at least an hour", now.Add(5 * time.Hour), now.Add(time.Hour)},
		{"lead time ends within the hour: the hour", now.Add(ApprovalLead + 30*time.Minute), now.Add(time.Hour)},
		{"leaving within the hour: at departure", now.Add(30 * time.Minute), now.Add(30 * time.Minute)},
		{"already left: an hour from now", now.Add(-3 * time.Hour), now.Add(time.Hour)},
		{"leaving now: an hour from now", now, now.Add(time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := approvalDeadline(tt.departure, now); !got.Equal(tt.want) {
				t.Fatalf("approvalDeadline(%v) = %v, want %v", tt.departure, got, tt.want)
			}
		})
	}
}

// pendingTrip is a submitted level-4 trip waiting in round 1.
func pendingTrip(t *testing.T, h tripsHarness) Trip {
	t.Helper()
	h.setCountryLevel(t, "SO", 4)
	created, _, err := h.store.Create(context.Background(), "travel-team", NewTrip{Traveller: "alice",
		Segments: []SegmentInput{stay("HOTEL", "Mogadishu", "SO", 10, 24)}})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	trip, err := h.store.Submit(context.Background(), "travel-team", created.ID)
	if err != nil || trip.Status != StatusPendingApproval {
		t.Fatalf("Submit = %s, %v", trip.Status, err)
	}
	return trip
}

func TestRecordDecision(t *testing.T) {
	h := newTripsHarness(t)
	ctx := context.Background()
	trip := pendingTrip(t, h)

	_, err := h.store.RecordDecision(ctx, trip.ID, 2, true, "lead", "")
	if !errors.Is(err, ErrNotWaiting) || fault.CodeOf(err) != fault.Conflict {
		t.Fatalf("wrong round = %v, want CONFLICT", err)
	}
	approved, err := h.store.RecordDecision(ctx, trip.ID, 1, true, "lead", "Security plan reviewed")
	if err != nil {
		t.Fatalf("RecordDecision: %v", err)
	}
	if a := approved.Approval; approved.Status != StatusApproved || a.Status != StatusApproved || a.DecidedBy != "lead" ||
		a.Note != "Security plan reviewed" || a.DecidedAt == nil || !a.DecidedAt.Equal(storeClock) {
		t.Fatalf("trip = %s, approval %+v", approved.Status, a)
	}
	steps, err := h.store.Timeline(ctx, trip.ID)
	if err != nil || steps[len(steps)-1].Kind != StepApproved || steps[len(steps)-1].Note != "Security plan reviewed" ||
		steps[len(steps)-1].Actor != "lead" {
		t.Fatalf("timeline = %+v, %v", steps, err)
	}
	if n := h.count(t, `SELECT count(*) FROM audit_log WHERE action = 'trip.decide' AND object_id = $1`, trip.ID.String()); n != 1 {
		t.Fatalf("%d audit rows, want 1", n)
	}

	// The same decision by the same person again (a retried activity): the trip, nothing written.
	before := h.tableCounts(t)
	again, err := h.store.RecordDecision(ctx, trip.ID, 1, true, "lead", "Security plan reviewed")
	if err != nil || again.Status != StatusApproved || again.Approval.DecidedBy != "lead" {
		t.Fatalf("repeat = %+v, %v", again.Approval, err)
	}
	if after := h.tableCounts(t); !equalCounts(before, after) {
		t.Fatalf("a repeated decision wrote: %v → %v", before, after)
	}
	// The other answer, or the same answer by someone else, comes too late.
	for _, d := range []struct {
		approve bool
		actor   string
	}{{false, "lead"}, {true, "other-lead"}} {
		_, err := h.store.RecordDecision(ctx, trip.ID, 1, d.approve, d.actor, "")
		if !errors.Is(err, ErrNotWaiting) {
			t.Errorf("decision %+v after approval = %v, want ErrNotWaiting", d, err)
		}
	}
	if after := h.tableCounts(t); !equalCounts(before, after) {
		t.Fatalf("refused decisions wrote: %v → %v", before, after)
	}
	status, round, err := h.store.ApprovalState(ctx, trip.ID)
	if err != nil || status != "APPROVED" || round != 1 {
		t.Fatalf("ApprovalState = %q, %d, %v", status, round, err)
	}
}

func TestRecordDecisionRejectsAndRefusesCancelledTrips(t *testing.T) {
	h := newTripsHarness(t)
	ctx := context.Background()
	trip := pendingTrip(t, h)
	rejected, err := h.store.RecordDecision(ctx, trip.ID, 1, false, "lead", "Not essential")
	if err != nil || rejected.Status != StatusRejected || rejected.Approval.Status != StatusRejected {
		t.Fatalf("reject = %s / %+v, %v", rejected.Status, rejected.Approval, err)
	}
	if kinds := h.timelineKinds(t, trip.ID); kinds[len(kinds)-1] != StepRejected {
		t.Fatalf("timeline = %v", kinds)
	}
	_, err = h.store.Cancel(ctx, "travel-team", trip.ID, "")
	wantCode(t, err, fault.Conflict)

	other := pendingTrip(t, h)
	if _, err := h.store.Cancel(ctx, "travel-team", other.ID, "off"); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	_, err = h.store.RecordDecision(ctx, other.ID, 1, true, "lead", "")
	if !errors.Is(err, ErrNotWaiting) {
		t.Fatalf("decision on a cancelled trip = %v, want ErrNotWaiting", err)
	}
	status, round, err := h.store.ApprovalState(ctx, other.ID)
	if err != nil || status != "CANCELLED" || round != 1 {
		t.Fatalf("ApprovalState = %q, %d, %v", status, round, err)
	}
	_, err = h.store.RecordDecision(ctx, uuid.New(), 1, true, "lead", "")
	wantCode(t, err, fault.NotFound)
	_, _, err = h.store.ApprovalState(ctx, uuid.New())
	wantCode(t, err, fault.NotFound)
}

func TestAppendTimelineLandsOnce(t *testing.T) {
	h := newTripsHarness(t)
	ctx := context.Background()
	trip := pendingTrip(t, h)
	for range 2 {
		if err := h.store.AppendTimeline(ctx, trip.ID, "REMINDED", "meridian", "reminded the travel team", "trip:x:r1:reminded:1"); err != nil {
			t.Fatalf("AppendTimeline: %v", err)
		}
	}
	if err := h.store.AppendTimeline(ctx, trip.ID, "NOTE", "lead", "no key, every time", ""); err != nil {
		t.Fatalf("AppendTimeline: %v", err)
	}
	if err := h.store.AppendTimeline(ctx, trip.ID, "NOTE", "lead", "no key, every time", ""); err != nil {
		t.Fatalf("AppendTimeline: %v", err)
	}
	if n := h.count(t, `SELECT count(*) FROM trip_timeline WHERE trip_id = $1 AND kind = 'REMINDED'`, trip.ID); n != 1 {
		t.Errorf("%d REMINDED steps, want 1", n)
	}
	if n := h.count(t, `SELECT count(*) FROM trip_timeline WHERE trip_id = $1 AND kind = 'NOTE'`, trip.ID); n != 2 {
		t.Errorf("%d NOTE steps, want 2", n)
	}
	wantCode(t, h.store.AppendTimeline(ctx, uuid.New(), "NOTE", "lead", "", "k"), fault.NotFound)
	wantCode(t, h.store.AppendTimeline(ctx, trip.ID, "", "lead", "", ""), fault.BadUserInput)
}
