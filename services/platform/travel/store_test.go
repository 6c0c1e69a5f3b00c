package travel

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"meridian.dev/platform/fault"
	"meridian.dev/platform/outbox"
	"meridian.dev/platform/testenv"
)

// storeClock is the store's "now" in these tests; departures are weeks later.
var storeClock = time.Date(2030, 3, 1, 9, 0, 0, 0, time.UTC)

// tripsHarness is a store on a fresh database with two travellers.
type tripsHarness struct {
	store *Store
	pool  *pgxpool.Pool
}

func newTripsHarness(t *testing.T) tripsHarness {
	t.Helper()
	pool := testenv.NewPool(t)
	if _, err := pool.Exec(context.Background(), `INSERT INTO users (subject, name, email) VALUES
		('alice', 'Alice Achieng', 'alice@example.org'), ('bob', 'Bob Baker', 'bob@example.org')`); err != nil {
		t.Fatalf("insert users: %v", err)
	}
	s := NewStore(pool)
	s.now = func() time.Time { return storeClock }
	return tripsHarness{store: s, pool: pool}
}

// setCountryLevel writes the effective level of a country by hand, as the
// advisory ingestion would.
func (h tripsHarness) setCountryLevel(t *testing.T, code string, level int) {
	t.Helper()
	if _, err := h.pool.Exec(context.Background(), `INSERT INTO country_risk (country_code, level, rule, version)
		VALUES ($1, $2, 'SOURCE_MAX', 1) ON CONFLICT (country_code) DO UPDATE SET level = $2, version = country_risk.version + 1`,
		code, level); err != nil {
		t.Fatalf("country_risk %s: %v", code, err)
	}
}

func (h tripsHarness) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := h.pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// tableCounts is every table a trip write touches, to prove a refused
// write left them alone.
func (h tripsHarness) tableCounts(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range []string{"trips", "trip_segments", "trip_timeline", "audit_log", "outbox", "mutation_receipts"} {
		out[table] = h.count(t, `SELECT count(*) FROM `+table)
	}
	return out
}

func (h tripsHarness) outboxPayloads(t *testing.T, topic string) [][]byte {
	t.Helper()
	rows, err := h.pool.Query(context.Background(), `SELECT payload FROM outbox WHERE topic = $1 ORDER BY id`, topic)
	if err != nil {
		t.Fatalf("outbox: %v", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var p []byte
		if err := rows.Scan(&p); err != nil {
			t.Fatalf("outbox: %v", err)
		}
		out = append(out, p)
	}
	return out
}

func (h tripsHarness) timelineKinds(t *testing.T, id uuid.UUID) []string {
	t.Helper()
	steps, err := h.store.Timeline(context.Background(), id)
	if err != nil {
		t.Fatalf("timeline: %v", err)
	}
	var kinds []string
	for _, s := range steps {
		kinds = append(kinds, s.Kind)
	}
	return kinds
}

func float(v float64) *float64 { return &v }

// stay is a segment input at a place, starting days after storeClock.
func stay(kind, city, code string, startDays, hours float64, coords ...float64) SegmentInput {
	start := storeClock.Add(time.Duration(startDays * 24 * float64(time.Hour)))
	in := SegmentInput{Kind: kind, StartsAt: start, EndsAt: start.Add(time.Duration(hours * float64(time.Hour))),
		Timezone: "Africa/Nairobi", Place: Place{City: city, CountryCode: code}}
	if len(coords) == 2 {
		in.Place.Latitude, in.Place.Longitude = float(coords[0]), float(coords[1])
	}
	return in
}

func wantCode(t *testing.T, err error, code fault.Code) {
	t.Helper()
	if fault.CodeOf(err) != code {
		t.Fatalf("error = %v (%s), want %s", err, fault.CodeOf(err), code)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCreateStoresOrderedSegmentsWithRiskTimelineAndAudit(t *testing.T) {
	h := newTripsHarness(t)
	ctx := context.Background()
	h.setCountryLevel(t, "KE", 2)
	hotel := stay("HOTEL", "Nairobi", "KE", 11, 72, -1.263, 36.803)
	meeting := stay("meeting", " Nairobi ", "ke", 12, 2)
	flight := stay("FLIGHT", "", "", 10, 9)
	flight.Place = Place{}
	flight.From = &Place{City: "London", CountryCode: "GB"}
	flight.To = &Place{City: "Nairobi", CountryCode: "KE", Latitude: float(-1.319), Longitude: float(36.927)}

	trip, segs, err := h.store.Create(ctx, "travel-team", NewTrip{Traveller: "alice", Purpose: " Field visit ",
		Segments: []SegmentInput{hotel, meeting, flight}})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if trip.Status != StatusDraft || trip.Traveller != "alice" || trip.Purpose != "Field visit" || trip.CreatedBy != "travel-team" {
		t.Fatalf("trip = %+v", trip)
	}
	if trip.Approval != nil {
		t.Fatalf("a draft has no approval, got %+v", trip.Approval)
	}
	if len(segs) != 3 {
		t.Fatalf("%d segments, want 3", len(segs))
	}
	for i, want := range []string{"FLIGHT", "HOTEL", "MEETING"} {
		if segs[i].Kind != want || segs[i].Position != i || segs[i].TripID != trip.ID {
			t.Errorf("segment %d = %s at %d, want %s at %d", i, segs[i].Kind, segs[i].Position, want, i)
		}
	}
	if got := segs[0].Place; got.City != "Nairobi" || got.CountryCode != "KE" || got.Latitude == nil || *got.Latitude != -1.319 {
		t.Errorf("a flight's place defaults to its to: got %+v", got)
	}
	if segs[0].From == nil || segs[0].From.CountryCode != "GB" || segs[0].To == nil || segs[0].To.City != "Nairobi" {
		t.Errorf("from/to = %+v / %+v", segs[0].From, segs[0].To)
	}
	if segs[2].Place.City != "Nairobi" || segs[2].Place.CountryCode != "KE" {
		t.Errorf("place not normalised: %+v", segs[2].Place)
	}
	if !trip.StartsAt.Equal(flight.StartsAt) || !trip.EndsAt.Equal(hotel.EndsAt) {
		t.Errorf("span = %v..%v, want %v..%v", trip.StartsAt, trip.EndsAt, flight.StartsAt, hotel.EndsAt)
	}
	// The effective level alone (no advisory rows) scores level 2 without a source to cite.
	if trip.Risk.Level != 2 || trip.Risk.Reasons == nil || trip.AssessedAt == nil || !trip.AssessedAt.Equal(storeClock) {
		t.Errorf("trip risk = %+v at %v, want level 2 at %v", trip.Risk, trip.AssessedAt, storeClock)
	}
	for _, s := range segs {
		if s.Risk.Level != 2 {
			t.Errorf("segment %d risk = %d, want 2", s.Position, s.Risk.Level)
		}
	}
	if got := h.count(t, `SELECT count(*) FROM trip_segments WHERE trip_id = $1 AND risk_level = 2 AND jsonb_typeof(risk_reasons) = 'array'`, trip.ID); got != 3 {
		t.Errorf("%d stored segments carry their risk, want 3", got)
	}
	if got := h.timelineKinds(t, trip.ID); !equalStrings(got, []string{StepCreated}) {
		t.Errorf("timeline = %v", got)
	}
	if got := h.count(t, `SELECT count(*) FROM audit_log WHERE action = 'trip.create' AND object_type = 'Trip' AND object_id = $1
		AND actor = 'travel-team'`, trip.ID.String()); got != 1 {
		t.Errorf("%d audit rows, want 1", got)
	}
	got, err := h.store.Get(ctx, trip.ID)
	if err != nil || got.ID != trip.ID || got.Risk.Level != 2 {
		t.Fatalf("Get = %+v, %v", got, err)
	}
}

func TestCreateReplaysClientMutationID(t *testing.T) {
	h := newTripsHarness(t)
	ctx := context.Background()
	in := NewTrip{Traveller: "alice", Segments: []SegmentInput{stay("HOTEL", "Nairobi", "KE", 10, 24)}, ClientMutationID: "m-1"}
	first, _, err := h.store.Create(ctx, "travel-team", in)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	again, segs, err := h.store.Create(ctx, "travel-team", in)
	if err != nil || again.ID != first.ID || len(segs) != 1 {
		t.Fatalf("retry = %v (%d segments), %v; want trip %v", again.ID, len(segs), err, first.ID)
	}
	if n := h.count(t, `SELECT count(*) FROM trips`); n != 1 {
		t.Fatalf("%d trips after a retried create, want 1", n)
	}
}

func TestGetUnknownTrip(t *testing.T) {
	h := newTripsHarness(t)
	_, err := h.store.Get(context.Background(), uuid.New())
	wantCode(t, err, fault.NotFound)
}

func TestAddSegmentKeepsOrderAndRescores(t *testing.T) {
	h := newTripsHarness(t)
	ctx := context.Background()
	h.setCountryLevel(t, "UG", 3)
	trip, _, err := h.store.Create(ctx, "travel-team", NewTrip{Traveller: "alice", Segments: []SegmentInput{
		stay("HOTEL", "Nairobi", "KE", 10, 24), stay("MEETING", "Nairobi", "KE", 14, 2)}})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	trip, segs, err := h.store.AddSegment(ctx, "travel-team", trip.ID, stay("RAIL", "Kampala", "UG", 12, 8))
	if err != nil {
		t.Fatalf("AddSegment: %v", err)
	}
	var cities []string
	for i, s := range segs {
		if s.Position != i {
			t.Errorf("segment %s at position %d, want %d", s.Place.City, s.Position, i)
		}
		cities = append(cities, s.Place.City)
	}
	if !equalStrings(cities, []string{"Nairobi", "Kampala", "Nairobi"}) {
		t.Errorf("order = %v", cities)
	}
	if trip.Status != StatusDraft || trip.Risk.Level != 3 {
		t.Errorf("trip = %s at level %d, want DRAFT at 3 (a draft asks for approval when submitted)", trip.Status, trip.Risk.Level)
	}
	if got := h.timelineKinds(t, trip.ID); !equalStrings(got, []string{StepCreated, StepSegmentAdded}) {
		t.Errorf("timeline = %v", got)
	}
	if n := h.count(t, `SELECT count(*) FROM audit_log WHERE action = 'trip.add_segment' AND object_id = $1`, trip.ID.String()); n != 1 {
		t.Errorf("%d audit rows, want 1", n)
	}
	if n := len(h.outboxPayloads(t, outbox.TopicTripRiskChanged)); n != 1 {
		t.Errorf("%d risk-changed events, want 1 (level 1 → 3)", n)
	}
	if n := len(h.outboxPayloads(t, outbox.TopicTripApprovalRequested)); n != 0 {
		t.Errorf("a draft asked for approval %d times", n)
	}

	// A last segment after every other one extends the trip.
	trip, segs, err = h.store.AddSegment(ctx, "travel-team", trip.ID, stay("FLIGHT", "Nairobi", "KE", 20, 9))
	if err != nil {
		t.Fatalf("AddSegment: %v", err)
	}
	if segs[3].Kind != "FLIGHT" || !trip.EndsAt.Equal(segs[3].EndsAt) {
		t.Errorf("trip ends %v, last segment %+v", trip.EndsAt, segs[3])
	}

	if _, err := h.store.Cancel(ctx, "travel-team", trip.ID, ""); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	before := h.tableCounts(t)
	_, _, err = h.store.AddSegment(ctx, "travel-team", trip.ID, stay("HOTEL", "Nairobi", "KE", 15, 24))
	wantCode(t, err, fault.Conflict)
	if after := h.tableCounts(t); !equalCounts(before, after) {
		t.Errorf("a refused segment wrote: %v → %v", before, after)
	}
	_, _, err = h.store.AddSegment(ctx, "travel-team", uuid.New(), stay("HOTEL", "Nairobi", "KE", 15, 24))
	wantCode(t, err, fault.NotFound)
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestAddSegmentToApprovedTripAsksForApproval(t *testing.T) {
	h := newTripsHarness(t)
	ctx := context.Background()
	trip, _, err := h.store.Create(ctx, "travel-team", NewTrip{Traveller: "alice", Segments: []SegmentInput{stay("HOTEL", "Nairobi", "KE", 10, 24)}})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if trip, err = h.store.Submit(ctx, "travel-team", trip.ID); err != nil || trip.Status != StatusApproved {
		t.Fatalf("Submit = %s, %v", trip.Status, err)
	}
	h.setCountryLevel(t, "SO", 4)
	trip, _, err = h.store.AddSegment(ctx, "travel-team", trip.ID, stay("MEETING", "Mogadishu", "SO", 11, 3))
	if err != nil {
		t.Fatalf("AddSegment: %v", err)
	}
	if trip.Status != StatusPendingApproval || trip.Approval == nil || trip.Approval.Round != 1 || trip.Approval.Level != 4 ||
		trip.Approval.Status != "PENDING" {
		t.Fatalf("trip = %s, approval %+v; want PENDING_APPROVAL round 1 at level 4", trip.Status, trip.Approval)
	}
	requested := h.outboxPayloads(t, outbox.TopicTripApprovalRequested)
	if len(requested) != 1 {
		t.Fatalf("%d approval requests, want 1", len(requested))
	}
	var ev ApprovalRequested
	if err := json.Unmarshal(requested[0], &ev); err != nil || ev.WorkflowID != ApprovalWorkflowID(trip.ID, 1) || ev.Level != 4 {
		t.Fatalf("event = %+v, %v", ev, err)
	}

	// At level 4 after an approval round at 4, a further level-4 segment needs nothing new.
	if _, _, err = h.store.AddSegment(ctx, "travel-team", trip.ID, stay("HOTEL", "Mogadishu", "SO", 12, 20)); err != nil {
		t.Fatalf("AddSegment: %v", err)
	}
	if n := len(h.outboxPayloads(t, outbox.TopicTripApprovalRequested)); n != 1 {
		t.Fatalf("%d approval requests, want still 1", n)
	}
}

func TestAddSegmentRaisingAPendingRoundSupersedesIt(t *testing.T) {
	h := newTripsHarness(t)
	ctx := context.Background()
	h.setCountryLevel(t, "UG", 3)
	h.setCountryLevel(t, "SO", 4)
	trip, _, err := h.store.Create(ctx, "travel-team", NewTrip{Traveller: "alice", Segments: []SegmentInput{stay("HOTEL", "Kampala", "UG", 10, 24)}})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if trip, err = h.store.Submit(ctx, "travel-team", trip.ID); err != nil || trip.Approval == nil || trip.Approval.Round != 1 {
		t.Fatalf("Submit = %+v, %v", trip.Approval, err)
	}
	trip, _, err = h.store.AddSegment(ctx, "travel-team", trip.ID, stay("MEETING", "Mogadishu", "SO", 11, 3))
	if err != nil {
		t.Fatalf("AddSegment: %v", err)
	}
	if trip.Approval.Round != 2 || trip.Approval.Level != 4 || trip.Status != StatusPendingApproval {
		t.Fatalf("approval = %+v, status %s; want round 2 at level 4", trip.Approval, trip.Status)
	}
	cancelled := h.outboxPayloads(t, outbox.TopicTripCancelled)
	var ev Cancelled
	if len(cancelled) != 1 || json.Unmarshal(cancelled[0], &ev) != nil || ev.WorkflowID != ApprovalWorkflowID(trip.ID, 1) {
		t.Fatalf("superseded round not told to stop: %s", cancelled)
	}
	_, err = h.store.RecordDecision(ctx, trip.ID, 1, true, "travel-lead", "")
	if !errors.Is(err, ErrNotWaiting) {
		t.Fatalf("a decision for the superseded round = %v, want ErrNotWaiting", err)
	}
}

func TestSubmitLevelFourTripWaitsForApproval(t *testing.T) {
	h := newTripsHarness(t)
	ctx := context.Background()
	h.setCountryLevel(t, "SO", 4)
	created, _, err := h.store.Create(ctx, "travel-team", NewTrip{Traveller: "alice", Purpose: "Assessment",
		Segments: []SegmentInput{stay("HOTEL", "Mogadishu", "SO", 10, 48)}})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	trip, err := h.store.Submit(ctx, "travel-team", created.ID)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	departure := storeClock.Add(10 * 24 * time.Hour)
	wantDeadline := departure.Add(-ApprovalLead)
	if trip.Status != StatusPendingApproval || trip.Approval == nil {
		t.Fatalf("trip = %s, approval %+v", trip.Status, trip.Approval)
	}
	if a := trip.Approval; a.Round != 1 || a.Status != "PENDING" || a.Level != 4 || a.Deadline == nil || !a.Deadline.Equal(wantDeadline) {
		t.Fatalf("approval = %+v, want round 1 PENDING level 4 due %v", a, wantDeadline)
	}
	requested := h.outboxPayloads(t, outbox.TopicTripApprovalRequested)
	if len(requested) != 1 {
		t.Fatalf("%d approval requests, want 1", len(requested))
	}
	var ev ApprovalRequested
	if err := json.Unmarshal(requested[0], &ev); err != nil {
		t.Fatalf("payload: %v", err)
	}
	want := ApprovalRequested{TripID: trip.ID, Round: 1, Level: 4, Traveller: "alice", Purpose: "Assessment",
		Departure: departure, Deadline: wantDeadline, WorkflowID: "trip-approval-" + trip.ID.String() + "-1"}
	if ev.TripID != want.TripID || ev.Round != want.Round || ev.Level != want.Level || ev.Traveller != want.Traveller ||
		ev.Purpose != want.Purpose || !ev.Departure.Equal(want.Departure) || !ev.Deadline.Equal(want.Deadline) || ev.WorkflowID != want.WorkflowID {
		t.Fatalf("event = %+v\nwant    %+v", ev, want)
	}
	if got := h.timelineKinds(t, trip.ID); !equalStrings(got, []string{StepCreated, StepSubmitted, StepApprovalRequested}) {
		t.Errorf("timeline = %v", got)
	}
	if n := h.count(t, `SELECT count(*) FROM audit_log WHERE action = 'trip.submit' AND object_id = $1`, trip.ID.String()); n != 1 {
		t.Errorf("%d audit rows, want 1", n)
	}
	_, err = h.store.Submit(ctx, "travel-team", trip.ID)
	wantCode(t, err, fault.Conflict)
}

func TestSubmitLevelOneTripIsApprovedAtOnce(t *testing.T) {
	h := newTripsHarness(t)
	ctx := context.Background()
	h.setCountryLevel(t, "KE", 1)
	created, _, err := h.store.Create(ctx, "travel-team", NewTrip{Traveller: "bob", Segments: []SegmentInput{stay("HOTEL", "Nairobi", "KE", 10, 24)}})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	trip, err := h.store.Submit(ctx, "travel-team", created.ID)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if trip.Status != StatusApproved || trip.Approval == nil || trip.Approval.Status != "NOT_REQUIRED" || trip.Approval.Round != 0 ||
		trip.Approval.Deadline != nil {
		t.Fatalf("trip = %s, approval %+v; want APPROVED / NOT_REQUIRED in round 0", trip.Status, trip.Approval)
	}
	if got := h.timelineKinds(t, trip.ID); !equalStrings(got, []string{StepCreated, StepSubmitted, StepAutoApproved}) {
		t.Errorf("timeline = %v", got)
	}
	if n := len(h.outboxPayloads(t, outbox.TopicTripApprovalRequested)); n != 0 {
		t.Errorf("%d approval requests for a level-1 trip", n)
	}
	status, round, err := h.store.ApprovalState(ctx, trip.ID)
	if err != nil || status != "NOT_REQUIRED" || round != 0 {
		t.Errorf("ApprovalState = %q, %d, %v", status, round, err)
	}
}

func TestCancel(t *testing.T) {
	h := newTripsHarness(t)
	ctx := context.Background()
	h.setCountryLevel(t, "SO", 4)
	created, _, err := h.store.Create(ctx, "travel-team", NewTrip{Traveller: "alice", Segments: []SegmentInput{stay("HOTEL", "Mogadishu", "SO", 10, 24)}})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := h.store.Submit(ctx, "travel-team", created.ID); err != nil {
		t.Fatalf("Submit: %v", err)
	}
	_, err = h.store.Cancel(ctx, "travel-team", created.ID, "bad\x00note")
	wantCode(t, err, fault.BadUserInput)

	trip, err := h.store.Cancel(ctx, "travel-team", created.ID, "Meeting moved online")
	if err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if trip.Status != StatusCancelled || trip.Approval == nil || trip.Approval.Status != "CANCELLED" {
		t.Fatalf("trip = %s, approval %+v", trip.Status, trip.Approval)
	}
	cancelled := h.outboxPayloads(t, outbox.TopicTripCancelled)
	var ev Cancelled
	if len(cancelled) != 1 || json.Unmarshal(cancelled[0], &ev) != nil {
		t.Fatalf("cancel events = %s", cancelled)
	}
	if ev.TripID != trip.ID || ev.Round != 1 || ev.Actor != "travel-team" || ev.Note != "Meeting moved online" ||
		ev.WorkflowID != ApprovalWorkflowID(trip.ID, 1) {
		t.Fatalf("event = %+v", ev)
	}
	steps, err := h.store.Timeline(ctx, trip.ID)
	if err != nil || steps[len(steps)-1].Kind != StepCancelled || steps[len(steps)-1].Note != "Meeting moved online" {
		t.Fatalf("timeline = %+v, %v", steps, err)
	}
	if n := h.count(t, `SELECT count(*) FROM audit_log WHERE action = 'trip.cancel' AND object_id = $1`, trip.ID.String()); n != 1 {
		t.Errorf("%d audit rows, want 1", n)
	}
	before := h.tableCounts(t)
	_, err = h.store.Cancel(ctx, "travel-team", trip.ID, "")
	wantCode(t, err, fault.Conflict)
	if after := h.tableCounts(t); !equalCounts(before, after) {
		t.Errorf("cancelling twice wrote: %v → %v", before, after)
	}

	// A draft has no approval to cancel: no event.
	draft, _, err := h.store.Create(ctx, "travel-team", NewTrip{Traveller: "bob", Segments: []SegmentInput{stay("HOTEL", "Nairobi", "KE", 10, 24)}})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if draft, err = h.store.Cancel(ctx, "travel-team", draft.ID, ""); err != nil || draft.Approval != nil {
		t.Fatalf("Cancel draft = %+v, %v", draft.Approval, err)
	}
	if n := len(h.outboxPayloads(t, outbox.TopicTripCancelled)); n != 1 {
		t.Errorf("%d cancel events, want 1", n)
	}
}

func TestList(t *testing.T) {
	h := newTripsHarness(t)
	ctx := context.Background()
	h.setCountryLevel(t, "SO", 4)
	create := func(traveller string, segs ...SegmentInput) Trip {
		t.Helper()
		trip, _, err := h.store.Create(ctx, "travel-team", NewTrip{Traveller: traveller, Segments: segs})
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		return trip
	}
	kenya := create("alice", stay("HOTEL", "Nairobi", "KE", 10, 48))
	japan := create("alice", stay("HOTEL", "Tokyo", "JP", 20, 48))
	somalia := create("bob", stay("HOTEL", "Nairobi", "KE", 5, 24), stay("MEETING", "Mogadishu", "SO", 6, 4))
	usa := create("bob", stay("HOTEL", "New York", "US", 30, 48))
	if _, err := h.store.Submit(ctx, "travel-team", kenya.ID); err != nil {
		t.Fatalf("Submit: %v", err)
	}
	ids := func(trips []Trip) []uuid.UUID {
		out := []uuid.UUID{}
		for _, tr := range trips {
			out = append(out, tr.ID)
		}
		return out
	}
	at := func(days float64) *time.Time {
		v := storeClock.Add(time.Duration(days * 24 * float64(time.Hour)))
		return &v
	}
	tests := []struct {
		name string
		f    Filter
		want []uuid.UUID
	}{
		{"all, by departure", Filter{}, []uuid.UUID{somalia.ID, kenya.ID, japan.ID, usa.ID}},
		{"traveller", Filter{Traveller: "alice"}, []uuid.UUID{kenya.ID, japan.ID}},
		{"status", Filter{Status: StatusApproved}, []uuid.UUID{kenya.ID}},
		{"country", Filter{Country: "ke"}, []uuid.UUID{somalia.ID, kenya.ID}},
		{"at", Filter{At: at(6.1)}, []uuid.UUID{somalia.ID}},
		{"country at", Filter{Country: "KE", At: at(6.1)}, []uuid.UUID{}},
		{"min level", Filter{MinLevel: 4}, []uuid.UUID{somalia.ID}},
		{"regions EMEA", Filter{Regions: []string{"EMEA"}}, []uuid.UUID{somalia.ID, kenya.ID}},
		{"regions APAC and AMER", Filter{Regions: []string{"APAC", "AMER"}}, []uuid.UUID{japan.ID, usa.ID}},
		{"no regions", Filter{Regions: []string{}}, []uuid.UUID{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, more, err := h.store.List(ctx, tt.f, 10, "")
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if more || len(got) != len(tt.want) {
				t.Fatalf("List = %v (more %v), want %v", ids(got), more, tt.want)
			}
			for i := range got {
				if got[i].ID != tt.want[i] {
					t.Fatalf("List = %v, want %v", ids(got), tt.want)
				}
			}
		})
	}

	// Pages of two, then one, by cursor.
	var seen []uuid.UUID
	after := ""
	for range 3 {
		page, more, err := h.store.List(ctx, Filter{}, 2, after)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		seen = append(seen, ids(page)...)
		if !more {
			break
		}
		after = Cursor(page[len(page)-1])
	}
	if len(seen) != 4 || seen[0] != somalia.ID || seen[3] != usa.ID {
		t.Fatalf("paged = %v", seen)
	}

	for _, bad := range []struct {
		f     Filter
		after string
		field string
	}{
		{Filter{Status: "LOST"}, "", "status"},
		{Filter{Country: "XX"}, "", "country"},
		{Filter{MinLevel: 5}, "", "minLevel"},
		{Filter{}, "bm90LWEtY3Vyc29y", "after"},
	} {
		_, _, err := h.store.List(ctx, bad.f, 10, bad.after)
		var f *fault.Error
		if !errors.As(err, &f) || f.Field != bad.field {
			t.Errorf("List(%+v, %q) = %v, want a fault on %s", bad.f, bad.after, err, bad.field)
		}
	}
}

func TestSegmentsAndGetMany(t *testing.T) {
	h := newTripsHarness(t)
	ctx := context.Background()
	a, _, err := h.store.Create(ctx, "travel-team", NewTrip{Traveller: "alice", Segments: []SegmentInput{
		stay("HOTEL", "Nairobi", "KE", 10, 24), stay("MEETING", "Nairobi", "KE", 10.5, 2)}})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	b, _, err := h.store.Create(ctx, "travel-team", NewTrip{Traveller: "bob", Segments: []SegmentInput{stay("HOTEL", "Paris", "FR", 3, 24)}})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	segs, err := h.store.Segments(ctx, []uuid.UUID{a.ID, b.ID, uuid.New()})
	if err != nil || len(segs) != 2 || len(segs[a.ID]) != 2 || len(segs[b.ID]) != 1 || segs[a.ID][1].Kind != "MEETING" {
		t.Fatalf("Segments = %v, %v", segs, err)
	}
	trips, err := h.store.GetMany(ctx, []uuid.UUID{a.ID, b.ID, uuid.New()})
	if err != nil || len(trips) != 2 || trips[b.ID].Traveller != "bob" {
		t.Fatalf("GetMany = %v, %v", trips, err)
	}
}

// TestAddSegmentOnceAddsOnce: a retried addTripSegment (same
// clientMutationId) answers with the trip and adds nothing more.
func TestAddSegmentOnceAddsOnce(t *testing.T) {
	t.Parallel()
	h := newTripsHarness(t)
	ctx := context.Background()
	trip, _, err := h.store.Create(ctx, "travel-team", NewTrip{Traveller: "alice", Segments: []SegmentInput{stay("HOTEL", "Nairobi", "KE", 10, 24)}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		_, segs, err := h.store.AddSegmentOnce(ctx, "travel-team", trip.ID, stay("MEETING", "Nairobi", "KE", 14, 2), "add-meeting-1")
		if err != nil {
			t.Fatalf("AddSegmentOnce: %v", err)
		}
		if len(segs) != 2 {
			t.Fatalf("the trip has %d segments after a retried add, want 2", len(segs))
		}
	}
	if _, _, err := h.store.Create(ctx, "travel-team", NewTrip{Traveller: "alice", ClientMutationID: "add-meeting-1",
		Segments: []SegmentInput{stay("HOTEL", "Nairobi", "KE", 10, 24)}}); fault.CodeOf(err) != fault.BadUserInput {
		t.Fatalf("the same clientMutationId on createTrip: %v, want BAD_USER_INPUT", err)
	}
}
