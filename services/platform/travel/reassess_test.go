package travel

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"meridian.dev/platform/fault"
	"meridian.dev/platform/incident"
	"meridian.dev/platform/outbox"
)

// approvalRow is a trip's approval columns as a test sets them.
type approvalRow struct {
	round  int
	status string // "" leaves the trip without one
	level  int
}

// storeTrip writes a trip and its segments by hand, with the risk they
// score now stored on them, as Create would have left them.
func (d riskDB) storeTrip(traveller, status string, approval approvalRow, segs ...Segment) uuid.UUID {
	d.t.Helper()
	ctx := context.Background()
	id := uuid.New()
	trip, per, err := assess(ctx, d.pool, segs, time.Now())
	if err != nil {
		d.t.Fatalf("assess: %v", err)
	}
	starts, ends := span(segs)
	var approvalStatus *string
	var approvalLevel *int
	if approval.status != "" {
		approvalStatus, approvalLevel = &approval.status, &approval.level
	}
	d.exec(`INSERT INTO trips (id, traveller, purpose, status, starts_at, ends_at, risk_level, risk_reasons, assessed_at,
		approval_round, approval_status, approval_level, created_by, updated_at)
		VALUES ($1, $2, 'client visit', $3, $4, $5, $6, $7, now(), $8, $9, $10, 'travel-desk', now() - interval '1 hour')`,
		id, traveller, status, starts, ends, trip.Level, trip.Reasons, approval.round, approvalStatus, approvalLevel)
	for i, s := range segs {
		d.exec(`INSERT INTO trip_segments (id, trip_id, position, kind, starts_at, ends_at, timezone, city, country_code,
			latitude, longitude, risk_level, risk_reasons) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			s.ID, id, i, s.Kind, s.StartsAt, s.EndsAt, s.Timezone, s.Place.City, s.Place.CountryCode, s.Place.Latitude,
			s.Place.Longitude, per[i].Level, per[i].Reasons)
	}
	return id
}

type tripState struct {
	level, round           int
	status, approvalStatus string
	updatedAt              time.Time
}

func (d riskDB) tripState(id uuid.UUID) tripState {
	d.t.Helper()
	var s tripState
	var approvalStatus *string
	err := d.pool.QueryRow(context.Background(), `SELECT risk_level, approval_round, status, approval_status, updated_at FROM trips WHERE id = $1`, id).
		Scan(&s.level, &s.round, &s.status, &approvalStatus, &s.updatedAt)
	if err != nil {
		d.t.Fatalf("trip %s: %v", id, err)
	}
	if approvalStatus != nil {
		s.approvalStatus = *approvalStatus
	}
	return s
}

// outboxEvents decodes the outbox rows of topic.
func outboxEvents[T any](d riskDB, topic string) []T {
	d.t.Helper()
	rows, err := d.pool.Query(context.Background(), `SELECT payload FROM outbox WHERE topic = $1 ORDER BY id`, topic)
	if err != nil {
		d.t.Fatal(err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var data []byte
		var v T
		if err := rows.Scan(&data); err != nil {
			d.t.Fatal(err)
		}
		if err := json.Unmarshal(data, &v); err != nil {
			d.t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

type raisedIncident struct {
	title, severity, kind string
	regions               []string
	lat, lon              *float64
	escalations           int
}

func (d riskDB) travelIncident(ref string) []raisedIncident {
	d.t.Helper()
	rows, err := d.pool.Query(context.Background(), `SELECT title, severity, kind, regions, latitude, longitude,
		(SELECT count(*) FROM escalations e WHERE e.incident_id = i.id)
		FROM incidents i WHERE source_type = 'TRAVEL' AND source_ref = $1`, ref)
	if err != nil {
		d.t.Fatal(err)
	}
	defer rows.Close()
	var out []raisedIncident
	for rows.Next() {
		var r raisedIncident
		if err := rows.Scan(&r.title, &r.severity, &r.kind, &r.regions, &r.lat, &r.lon, &r.escalations); err != nil {
			d.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func wantSummary(t *testing.T, got, want ReassessSummary) {
	t.Helper()
	if got != want {
		t.Errorf("summary = %+v, want %+v", got, want)
	}
}

func TestReassessCountry(t *testing.T) {
	d := newRiskDB(t)
	ctx := t.Context()
	store := NewStore(d.pool)
	d.user("ana", "Ana Lima")
	d.user("bob", "Bob Okafor")
	d.advisory("US_STATE", "KE", 2, "Level 2: Exercise Increased Caution", "Kenya - Level 2: Exercise Increased Caution")
	d.countryRisk("KE", 2, "SOURCE_MAX", 2)
	d.advisory("US_STATE", "GB", 2, "Level 2: Exercise Increased Caution", "United Kingdom - Level 2")

	now := time.Now()
	later := now.Add(48 * time.Hour)
	nairobiHotel := func(start time.Time, d time.Duration) Segment {
		return seg("HOTEL", "Nairobi", "KE", start, d, nairobi[0], nairobi[1])
	}
	// Approved without needing it; it will need it at level 4.
	approvedLow := d.storeTrip("ana", StatusApproved, approvalRow{1, "NOT_REQUIRED", 2},
		seg("FLIGHT", "Nairobi", "KE", later, 8*time.Hour), nairobiHotel(later.Add(8*time.Hour), 72*time.Hour))
	// Approved by a global lead at 4 already: a 4 needs nothing more.
	approvedHigh := d.storeTrip("ana", StatusApproved, approvalRow{1, "APPROVED", 4}, nairobiHotel(later, 24*time.Hour))
	elsewhere := d.storeTrip("ana", StatusDraft, approvalRow{}, seg("HOTEL", "London", "GB", later, 24*time.Hour))
	cancelled := d.storeTrip("ana", StatusCancelled, approvalRow{}, nairobiHotel(later, 24*time.Hour))
	finished := d.storeTrip("ana", StatusApproved, approvalRow{1, "NOT_REQUIRED", 2}, nairobiHotel(now.Add(-72*time.Hour), 48*time.Hour))
	// Bob is in Nairobi now.
	there := d.storeTrip("bob", StatusApproved, approvalRow{1, "NOT_REQUIRED", 2}, nairobiHotel(now.Add(-24*time.Hour), 72*time.Hour))
	untouched := map[uuid.UUID]tripState{}
	for _, id := range []uuid.UUID{elsewhere, cancelled, finished} {
		untouched[id] = d.tripState(id)
	}

	// Nothing changed: the live trips in Kenya are scored, nothing is written.
	sum, err := store.ReassessCountry(ctx, "KE", "advisory:KE v2")
	if err != nil {
		t.Fatal(err)
	}
	wantSummary(t, sum, ReassessSummary{Trips: 3})
	if n := len(outboxEvents[RiskChanged](d, outbox.TopicTripRiskChanged)); n != 0 {
		t.Errorf("%d risk changes announced for a re-assessment that changed nothing", n)
	}

	d.advisory("US_STATE", "KE", 4, "Level 4: Do Not Travel", "Kenya - Level 4: Do Not Travel")
	d.countryRisk("KE", 4, "SOURCE_MAX", 3)
	sum, err = store.ReassessCountry(ctx, "KE", "advisory:KE v3")
	if err != nil {
		t.Fatal(err)
	}
	wantSummary(t, sum, ReassessSummary{Trips: 3, Changed: 3, SentForApproval: 1, IncidentsRaised: 1})

	if s := d.tripState(approvedLow); s.level != 4 || s.status != StatusPendingApproval || s.round != 2 || s.approvalStatus != "PENDING" {
		t.Errorf("approved trip now at level 4 = %+v, want level 4, PENDING_APPROVAL, round 2, PENDING", s)
	}
	if s := d.tripState(approvedHigh); s.level != 4 || s.status != StatusApproved || s.round != 1 {
		t.Errorf("trip approved at 4 = %+v, want level 4 and still APPROVED in round 1", s)
	}
	for id, before := range untouched {
		if after := d.tripState(id); after != before {
			t.Errorf("trip %s out of scope changed: %+v → %+v", id, before, after)
		}
	}
	if n := d.count(`SELECT count(*) FROM trip_segments WHERE trip_id = $1 AND risk_level = 4`, approvedLow); n != 2 {
		t.Errorf("%d of 2 segments stored at level 4", n)
	}
	var note, actor string
	if err := d.pool.QueryRow(ctx, `SELECT note, actor FROM trip_timeline WHERE trip_id = $1 AND kind = $2`, approvedLow, StepRiskChanged).
		Scan(&note, &actor); err != nil {
		t.Fatalf("RISK_CHANGED step: %v", err)
	}
	if want := "level 2 → 4: US State Department: Level 4: Do Not Travel"; note != want || actor != SystemActor {
		t.Errorf("step = %q by %s, want %q by %s", note, actor, want, SystemActor)
	}

	changes := outboxEvents[RiskChanged](d, outbox.TopicTripRiskChanged)
	if len(changes) != 3 {
		t.Fatalf("%d risk changes announced, want 3", len(changes))
	}
	for _, c := range changes {
		if c.PreviousLevel != 2 || c.Level != 4 || c.Region != "EMEA" || c.Cause != "advisory:KE v3" || len(c.Reasons) == 0 ||
			c.Reasons[0].Text != "US State Department: Level 4: Do Not Travel" {
			t.Errorf("risk change = %+v", c)
		}
	}
	requests := outboxEvents[ApprovalRequested](d, outbox.TopicTripApprovalRequested)
	if len(requests) != 1 || requests[0].TripID != approvedLow || requests[0].Round != 2 || requests[0].Level != 4 ||
		requests[0].WorkflowID != ApprovalWorkflowID(approvedLow, 2) {
		t.Errorf("approval requests = %+v, want round 2 at level 4 for %s", requests, approvedLow)
	}
	if n := d.count(`SELECT count(*) FROM audit_log WHERE action = 'trip.reassess' AND actor = $1`, SystemActor); n != 3 {
		t.Errorf("%d trip.reassess audit entries, want 3", n)
	}

	ref := "trip:" + there.String() + ":country:KE:level4:v3"
	raised := d.travelIncident(ref)
	if len(raised) != 1 {
		t.Fatalf("incidents for %s = %+v, want one", ref, raised)
	}
	r := raised[0]
	if r.kind != TravellerAtRiskKind || r.severity != "SEV2" || len(r.regions) != 1 || r.regions[0] != "EMEA" || r.escalations != 1 ||
		!strings.Contains(r.title, "Bob Okafor") || !strings.Contains(r.title, "Nairobi, Kenya") ||
		r.lat == nil || *r.lat != nairobi[0] || r.lon == nil || *r.lon != nairobi[1] {
		t.Errorf("traveller incident = %+v (title %q)", r, r.title)
	}

	// Again, as a redelivered event would: nothing changes, nothing is
	// raised twice.
	sum, err = store.ReassessCountry(ctx, "KE", "advisory:KE v3")
	if err != nil {
		t.Fatal(err)
	}
	wantSummary(t, sum, ReassessSummary{Trips: 3})
	if n := len(d.travelIncident(ref)); n != 1 {
		t.Errorf("%d incidents for %s after a second run, want 1", n, ref)
	}

	// Raising is an ensure, not a reaction to a change: a traveller whose
	// trip was already scored at 4 gets an incident the next time round,
	// once, however many runs race for it.
	dee := d.storeTrip("bob", StatusDraft, approvalRow{}, nairobiHotel(now.Add(-time.Hour), 24*time.Hour))
	var wg sync.WaitGroup
	sums := make([]ReassessSummary, 3)
	errs := make([]error, 3)
	for i := range sums {
		wg.Go(func() { sums[i], errs[i] = store.ReassessCountry(ctx, "KE", "advisory:KE v3") })
	}
	wg.Wait()
	total := 0
	for i := range sums {
		if errs[i] != nil {
			t.Fatalf("run %d: %v", i, errs[i])
		}
		total += sums[i].IncidentsRaised
	}
	deeRef := "trip:" + dee.String() + ":country:KE:level4:v3"
	if n := len(d.travelIncident(deeRef)); n != 1 || total != 1 {
		t.Errorf("three racing runs raised %d (counted %d) incidents for %s, want 1", n, total, deeRef)
	}

	// An analyst's override at the same level 4 changes the rule and the
	// version, not the period the country has been at 4: nobody there is
	// raised again.
	d.exec(`INSERT INTO country_risk_versions (country_code, version, level, previous_level, rule, cause)
		VALUES ('KE', 3, 4, 2, 'SOURCE_MAX', 'test'), ('KE', 4, 4, 4, 'OVERRIDE', 'test')`)
	d.countryRisk("KE", 4, "OVERRIDE", 4)
	sum, err = store.ReassessCountry(ctx, "KE", "advisory:KE v4")
	if err != nil {
		t.Fatal(err)
	}
	if sum.IncidentsRaised != 0 || d.count(`SELECT count(*) FROM incidents WHERE source_type = 'TRAVEL'`) != 2 {
		t.Errorf("a change of rule at level 4 raised %d more incidents (summary %+v), want none", sum.IncidentsRaised, sum)
	}
}

func TestReassessCountryRefusesABadCode(t *testing.T) {
	store := NewStore(newRiskDB(t).pool)
	for _, code := range []string{"", "KEN", "ZZ", "k"} {
		if _, err := store.ReassessCountry(t.Context(), code, "x"); fault.CodeOf(err) != fault.BadUserInput {
			t.Errorf("ReassessCountry(%q) = %v, want BAD_USER_INPUT", code, err)
		}
	}
}

func TestReassessNear(t *testing.T) {
	d := newRiskDB(t)
	ctx := t.Context()
	store := NewStore(d.pool)
	d.user("cy", "Cy Mwangi")
	now := time.Now()
	at := func(km float64) (float64, float64) { return d.travel(nairobi[0], nairobi[1], km, 45) }
	lat20, lon20 := at(20)
	lat100, lon100 := at(100)
	lat200, lon200 := at(200)
	current := d.storeTrip("cy", StatusApproved, approvalRow{1, "NOT_REQUIRED", 1},
		seg("HOTEL", "Nairobi", "KE", now.Add(-time.Hour), 48*time.Hour, lat20, lon20))
	upcoming := d.storeTrip("cy", StatusDraft, approvalRow{},
		seg("MEETING", "Machakos", "KE", now.Add(72*time.Hour), 4*time.Hour, lat100, lon100))
	d.storeTrip("cy", StatusDraft, approvalRow{}, seg("MEETING", "Nakuru", "KE", now.Add(72*time.Hour), 4*time.Hour, lat200, lon200))

	// A fire 20 km away is within reach of the search (the largest radius)
	// but not of a fire's own radius: scored, unchanged.
	fire := d.incident("FIRE", "Market fire", "SEV2", nairobi[0], nairobi[1], now.Add(-time.Minute), "OPEN")
	sum, err := store.ReassessNear(ctx, fire, "incident:"+fire.String())
	if err != nil {
		t.Fatal(err)
	}
	wantSummary(t, sum, ReassessSummary{Trips: 2})

	quake := d.incident("EARTHQUAKE", "Earthquake M6.1", "SEV1", nairobi[0], nairobi[1], now.Add(-time.Minute), "OPEN")
	for run := range 2 {
		sum, err = store.ReassessNear(ctx, quake, "incident:"+quake.String())
		if err != nil {
			t.Fatal(err)
		}
		want := ReassessSummary{Trips: 2, Changed: 2, IncidentsRaised: 1}
		if run == 1 {
			want = ReassessSummary{Trips: 2}
		}
		wantSummary(t, sum, want)
	}
	if s := d.tripState(current); s.level != 4 {
		t.Errorf("trip 20 km from a SEV1 earthquake at level %d, want 4", s.level)
	}
	if s := d.tripState(upcoming); s.level != 4 {
		t.Errorf("trip 100 km from a SEV1 earthquake at level %d, want 4", s.level)
	}
	var reasons []Reason
	if err := d.pool.QueryRow(ctx, `SELECT risk_reasons FROM trips WHERE id = $1`, current).Scan(&reasons); err != nil {
		t.Fatal(err)
	}
	if len(reasons) != 1 || reasons[0].Text != "Earthquake M6.1, 20 km from the hotel" || reasons[0].Source != quake.String() {
		t.Errorf("reasons = %+v", reasons)
	}
	raised := d.travelIncident("trip:" + current.String() + ":incident:" + quake.String())
	if len(raised) != 1 || raised[0].severity != "SEV1" || !strings.Contains(raised[0].title, "Cy Mwangi") ||
		!strings.Contains(raised[0].title, "Earthquake M6.1") {
		t.Errorf("incidents for the traveller near the earthquake = %+v", raised)
	}
	if n := d.count(`SELECT count(*) FROM incidents WHERE source_type = 'TRAVEL'`); n != 1 {
		t.Errorf("%d traveller incidents, want 1 (the upcoming trip is not there yet)", n)
	}

	// Our own traveller incident is not chased: it would find the traveller
	// it is about.
	var own uuid.UUID
	if err := d.pool.QueryRow(ctx, `SELECT id FROM incidents WHERE source_type = 'TRAVEL'`).Scan(&own); err != nil {
		t.Fatal(err)
	}
	sum, err = store.ReassessNear(ctx, own, "incident:"+own.String())
	if err != nil {
		t.Fatal(err)
	}
	wantSummary(t, sum, ReassessSummary{})
	if _, err := store.ReassessNear(ctx, uuid.New(), "incident:unknown"); !errors.Is(err, incident.ErrNotFound) {
		t.Errorf("ReassessNear(unknown) = %v, want %v", err, incident.ErrNotFound)
	}
}

// seedTrips writes n future DRAFT trips of three segments in Nairobi, each
// stored at level 2 with no reasons, in one statement per table.
func seedTrips(t testing.TB, pool *pgxpool.Pool, n int) {
	t.Helper()
	_, err := pool.Exec(context.Background(), `
		INSERT INTO users (subject, name) VALUES ('bulk-traveller', 'Bulk Traveller') ON CONFLICT DO NOTHING;
		INSERT INTO trips (id, traveller, status, starts_at, ends_at, risk_level, created_by)
		SELECT gen_random_uuid(), 'bulk-traveller', 'DRAFT', now() + interval '10 days', now() + interval '13 days', 2, 'seed'
		  FROM generate_series(1, `+strconv.Itoa(n)+`);
		INSERT INTO trip_segments (id, trip_id, position, kind, starts_at, ends_at, timezone, city, country_code, latitude, longitude, risk_level)
		SELECT gen_random_uuid(), t.id, p, (ARRAY['FLIGHT','HOTEL','MEETING'])[p + 1], t.starts_at + p * interval '1 day',
		       t.starts_at + (p + 1) * interval '1 day', 'Africa/Nairobi', 'Nairobi', 'KE', -1.2864 + p * 0.01, 36.8172, 2
		  FROM trips t, generate_series(0, 2) p WHERE t.traveller = 'bulk-traveller';
		ANALYZE trips; ANALYZE trip_segments`)
	if err != nil {
		t.Fatal(err)
	}
}

// TestReassessThousandTrips re-scores 1,000 trips after one advisory change
// and logs how long it took; correctness is asserted, speed only logged.
func TestReassessThousandTrips(t *testing.T) {
	d := newRiskDB(t)
	seedTrips(t, d.pool, 1000)
	d.advisory("UK_FCDO", "KE", 4, "advise against all travel to Kenya", "Kenya")
	d.countryRisk("KE", 4, "SOURCE_MAX", 1)
	began := time.Now()
	sum, err := NewStore(d.pool).ReassessCountry(t.Context(), "KE", "advisory:KE v1")
	took := time.Since(began)
	if err != nil {
		t.Fatal(err)
	}
	wantSummary(t, sum, ReassessSummary{Trips: 1000, Changed: 1000})
	if n := d.count(`SELECT count(*) FROM trip_segments WHERE risk_level = 4`); n != 3000 {
		t.Errorf("%d of 3,000 segments at level 4", n)
	}
	if n := d.count(`SELECT count(*) FROM trip_timeline WHERE kind = $1`, StepRiskChanged); n != 1000 {
		t.Errorf("%d RISK_CHANGED steps, want 1,000", n)
	}
	t.Logf("ReassessCountry: 1,000 trips (3,000 segments) re-scored and changed in %v", took)
}

// BenchmarkReassessCountry10k re-scores 10,000 trips (30,000 segments) in
// one country per operation; each operation flips the advisory between
// levels 2 and 4, so every trip changes every time.
func BenchmarkReassessCountry10k(b *testing.B) {
	d := newRiskDB(b)
	seedTrips(b, d.pool, 10000)
	store := NewStore(d.pool)
	ctx := b.Context()
	level := 2
	for b.Loop() {
		level = 6 - level
		d.advisory("UK_FCDO", "KE", level, "level "+strconv.Itoa(level), "Kenya")
		d.countryRisk("KE", level, "SOURCE_MAX", 1)
		sum, err := store.ReassessCountry(ctx, "KE", "advisory:KE")
		if err != nil {
			b.Fatal(err)
		}
		if sum.Trips != 10000 || sum.Changed != 10000 {
			b.Fatalf("summary = %+v, want 10,000 trips changed", sum)
		}
	}
}

// TestReassessNearSite: a site's status escalating next to a hotel raises
// the trip's risk; resolving it lowers it again.
func TestReassessNearSite(t *testing.T) {
	d := newRiskDB(t)
	ctx := t.Context()
	store := NewStore(d.pool)
	d.user("ana", "Ana Lima")
	now := time.Now()
	trip := d.storeTrip("ana", StatusApproved, approvalRow{1, "NOT_REQUIRED", 1},
		seg("HOTEL", "Nairobi", "KE", now.Add(24*time.Hour), 48*time.Hour, nairobi[0], nairobi[1]))
	lat, lon := d.travel(nairobi[0], nairobi[1], 1, 90)
	esc := d.siteEscalation("Nairobi Office", lat, lon, "CRITICAL", "LOCKDOWN", "SEV1")
	var site uuid.UUID
	if err := d.pool.QueryRow(ctx, `SELECT site_id FROM escalations WHERE id = $1`, esc).Scan(&site); err != nil {
		t.Fatal(err)
	}

	sum, err := store.ReassessNearSite(ctx, site, "escalation opened")
	if err != nil {
		t.Fatal(err)
	}
	if s := d.tripState(trip); sum.Changed != 1 || s.level != 4 {
		t.Fatalf("after the site's lockdown: summary %+v, trip %+v, want it at level 4", sum, s)
	}

	d.exec(`UPDATE escalations SET status = 'RESOLVED', resolved_at = now(), resolved_by = 'x' WHERE id = $1`, esc)
	if _, err := store.ReassessNearSite(ctx, site, "escalation resolved"); err != nil {
		t.Fatal(err)
	}
	if s := d.tripState(trip); s.level != 1 {
		t.Fatalf("after the lockdown was resolved the trip is at level %d, want 1", s.level)
	}
}
