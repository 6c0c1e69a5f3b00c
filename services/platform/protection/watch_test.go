package protection

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/escalation"
	"meridian.dev/platform/incident"
	"meridian.dev/platform/notify"
)

const ciTierWait = 2 * time.Second

var (
	ciLondon = Point{Latitude: 51.5074, Longitude: -0.1278}
	ciTokyo  = Point{Latitude: 35.6762, Longitude: 139.6503}
)

func (e *ciEnv) report(d Detail, p Point) {
	e.t.Helper()
	if _, err := e.store.ReportPosition(context.Background(), ciAgent, d.ID, p, nil); err != nil {
		e.t.Fatalf("report position: %v", err)
	}
}

func (e *ciEnv) haven(d Detail, city, countryCode string, p Point) {
	e.t.Helper()
	if _, err := e.store.AddSafeHaven(context.Background(), ciLeader, NewSafeHaven{DetailID: d.ID, Kind: "HOSPITAL", Name: city + " General",
		Place: Place{City: city, CountryCode: countryCode, Latitude: p.Latitude, Longitude: p.Longitude}}); err != nil {
		e.t.Fatalf("add safe haven: %v", err)
	}
}

func (e *ciEnv) incident(id uuid.UUID) incident.Incident {
	e.t.Helper()
	inc, err := incident.NewStore(e.pool).Get(context.Background(), id)
	if err != nil {
		e.t.Fatalf("incident %s: %v", id, err)
	}
	return inc
}

// frozenPolicy reads the policy frozen into each of the incident's
// escalations, which must all be the incident's own.
func (e *ciEnv) frozenPolicy(incidentID uuid.UUID) ([]escalation.Escalation, escalation.Policy) {
	e.t.Helper()
	escs, err := escalation.NewStore(e.pool).ForIncident(context.Background(), incidentID)
	if err != nil || len(escs) == 0 {
		e.t.Fatalf("escalations of %s: %d, %v", incidentID, len(escs), err)
	}
	var p escalation.Policy
	var tiers []byte
	var owner *uuid.UUID
	for _, esc := range escs {
		if esc.PolicyID == nil {
			e.t.Fatalf("escalation %s has no frozen policy (the region's default would page the wrong people)", esc.ID)
		}
		if err := e.pool.QueryRow(context.Background(), `SELECT name, severity, tiers, repeat_count, incident_id
			FROM escalation_policies WHERE id = $1`, *esc.PolicyID).Scan(&p.Name, &p.Severity, &tiers, &p.RepeatCount, &owner); err != nil {
			e.t.Fatal(err)
		}
		if owner == nil || *owner != incidentID {
			e.t.Errorf("the frozen policy belongs to %v, want the incident %s", owner, incidentID)
		}
	}
	if err := json.Unmarshal(tiers, &p.Tiers); err != nil {
		e.t.Fatal(err)
	}
	return escs, p
}

func targetsOf(p escalation.Policy) [][]escalation.Target {
	var out [][]escalation.Target
	for _, t := range p.Tiers {
		out = append(out, t.Targets)
	}
	return out
}

func TestWatchStateFollowsTheDetail(t *testing.T) {
	e := newCIEnv(t)
	e.setCodes(ciAgent)
	ctx := context.Background()
	planned := e.plannedDetail("Helena Vance")
	w, err := e.store.WatchState(ctx, planned.ID)
	if err != nil {
		t.Fatal(err)
	}
	if w.Status != StatusPlanned || !w.NextDue.Equal(planned.StartsAt.Add(planned.Interval)) || w.LastCheckIn != nil {
		t.Errorf("planned: %+v", w)
	}
	d := e.activeDetail("Marcus Hale")
	w, err = e.store.WatchState(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := WatchState{DetailID: d.ID, Status: StatusActive, Region: "EMEA", Leader: ciLeader.Subject,
		Agents: []string{ciAgent.Subject, ciAgent2.Subject}, Interval: d.Interval, Grace: d.Grace, NextDue: e.now.Add(d.Interval),
		EndsAt: d.EndsAt.UTC()}
	if !reflect.DeepEqual(w, want) {
		t.Errorf("active:\n got %+v\nwant %+v", w, want)
	}
	e.now = e.now.Add(12 * time.Minute)
	if _, err := e.store.CheckIn(ctx, ciAgent, CheckInInput{DetailID: d.ID, Code: "guessing"}); !errors.Is(err, ErrWrongCode) {
		t.Fatal(err)
	}
	w, _ = e.store.WatchState(ctx, d.ID)
	if w.FailedCodes != 1 {
		t.Errorf("failed codes %d, want 1", w.FailedCodes)
	}
	if _, err := e.store.CheckIn(ctx, ciAgent, CheckInInput{DetailID: d.ID, Code: ciCode}); err != nil {
		t.Fatal(err)
	}
	w, _ = e.store.WatchState(ctx, d.ID)
	if w.LastCheckIn == nil || !w.LastCheckIn.Equal(e.now) || !w.NextDue.Equal(e.now.Add(d.Interval)) || w.FailedCodes != 0 {
		t.Errorf("after a check-in: %+v", w)
	}
	if _, err := e.store.WatchState(ctx, ciDetailID(t)); !errors.Is(err, ErrDetailNotFound) {
		t.Errorf("unknown detail: %v", err)
	}
}

func TestRecordStepWritesOncePerKey(t *testing.T) {
	e := newCIEnv(t)
	d := e.activeDetail("Helena Vance")
	ctx := context.Background()
	step := Step{Kind: StepReminded, Actor: SystemActor, Note: "check-in due"}
	events := func() int {
		return e.count(`SELECT count(*) FROM outbox WHERE topic = $1 AND payload->>'kind' = $2`, TopicDetailChanged, EventCheckInMissed)
	}
	for range 2 {
		if err := e.store.RecordStep(ctx, d.ID, step, "remind:x:1", EventCheckInMissed); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.count(`SELECT count(*) FROM detail_timeline WHERE kind = $1`, StepReminded); n != 1 {
		t.Errorf("%d steps for one key, want 1", n)
	}
	if n := events(); n != 1 {
		t.Errorf("%d events for one key, want 1", n)
	}
	var at time.Time
	if err := e.pool.QueryRow(ctx, `SELECT at FROM detail_timeline WHERE kind = $1`, StepReminded).Scan(&at); err != nil || !at.Equal(e.now) {
		t.Errorf("a step without a time is stamped %s (%v), want the store's now", at, err)
	}
	// Without a key, nothing is deduplicated; without an event, nothing is streamed.
	for range 2 {
		if err := e.store.RecordStep(ctx, d.ID, step, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.count(`SELECT count(*) FROM detail_timeline WHERE kind = $1`, StepReminded); n != 3 {
		t.Errorf("%d steps, want 3", n)
	}
	if n := events(); n != 1 {
		t.Errorf("%d events, want 1", n)
	}
	before := e.state()
	if err := e.store.RecordStep(ctx, ciDetailID(t), step, "k", ""); !errors.Is(err, ErrDetailNotFound) {
		t.Errorf("unknown detail: %v", err)
	}
	if err := e.store.RecordStep(ctx, d.ID, step, "k2", "NOT_AN_EVENT"); err == nil {
		t.Errorf("an unknown event kind was accepted")
	}
	e.assertState(before, "refused steps")
}

func TestRaiseMissedRaisesOncePerDueUnderTheDetailsOwnPolicy(t *testing.T) {
	e := newCIEnv(t)
	d := e.activeDetail("Helena Vance")
	e.haven(d, "London", "GB", Point{Latitude: 51.5194, Longitude: -0.0921})
	e.report(d, ciLondon)
	due := e.now.Add(d.Interval)
	e.now = due.Add(d.Grace)
	m := Missed{DetailID: d.ID, Due: due, Reason: "no check-in within the grace period", TierWait: ciTierWait}

	first, err := e.store.RaiseMissed(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.store.RaiseMissed(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if first.IncidentID == uuid.Nil || again != first || first.CheckedIn != nil || first.Ended {
		t.Fatalf("first %+v, again %+v: want one incident, the same twice", first, again)
	}
	if n := e.count(`SELECT count(*) FROM incidents`); n != 1 {
		t.Fatalf("%d incidents, want 1", n)
	}
	inc := e.incident(first.IncidentID)
	wantTitle := "Missed check-in: Helena Vance's detail (EMEA), last known position 51.5074, -0.1278 at 14:00 UTC"
	if !strings.HasPrefix(inc.Title, wantTitle) || !strings.Contains(inc.Title, m.Reason) {
		t.Errorf("title %q, want it to start %q and give the reason", inc.Title, wantTitle)
	}
	if inc.Severity != escalation.SEV2 || inc.Kind != IncidentMissedCheckIn || inc.SourceType != SourceType ||
		inc.SourceRef != missedRef(d.ID, due) || inc.RestrictedTo != nil || inc.CreatedBy != SystemActor {
		t.Errorf("incident %+v", inc)
	}
	if inc.Location == nil || *inc.Location != (incident.Location{Latitude: ciLondon.Latitude, Longitude: ciLondon.Longitude}) {
		t.Errorf("location %v, want the last position", inc.Location)
	}
	if !reflect.DeepEqual(inc.Regions, []string{"EMEA"}) {
		t.Errorf("regions %v", inc.Regions)
	}
	escs, p := e.frozenPolicy(inc.ID)
	if len(escs) != 1 || escs[0].Region != "EMEA" || escs[0].Severity != escalation.SEV2 || escs[0].RestrictedTo != nil {
		t.Errorf("escalations %+v", escs)
	}
	wantTargets := [][]escalation.Target{
		{{Kind: escalation.TargetUser, Subject: ciLeader.Subject}},
		{{Kind: escalation.TargetSchedule, Region: "EMEA"}},
		{{Kind: escalation.TargetRole, Role: auth.RoleGlobalLead}},
	}
	if got := targetsOf(p); !reflect.DeepEqual(got, wantTargets) || p.Severity != escalation.SEV2 {
		t.Errorf("policy %s %+v, want tiers %+v", p.Severity, got, wantTargets)
	}
	for i, tier := range p.Tiers {
		if tier.Wait != ciTierWait || !reflect.DeepEqual(tier.Channels, notify.Channels) {
			t.Errorf("tier %d waits %s on %v, want %s on every channel", i+1, tier.Wait, tier.Channels, ciTierWait)
		}
	}
	if n := e.count(`SELECT count(*) FROM detail_timeline WHERE detail_id = $1 AND kind = $2 AND dedupe_key = $3`,
		d.ID, StepMissed, missedRef(d.ID, due)); n != 1 {
		t.Errorf("%d CHECK_IN_MISSED steps, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM outbox WHERE topic = $1 AND payload->>'kind' = $2`, TopicDetailChanged, EventCheckInMissed); n != 1 {
		t.Errorf("%d CHECK_IN_MISSED events, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM outbox WHERE topic = 'incident.opened'`); n != 1 {
		t.Errorf("%d incident.opened rows, want 1", n)
	}

	// The next due time that passes is another incident.
	next, err := e.store.RaiseMissed(context.Background(), Missed{DetailID: d.ID, Due: due.Add(d.Interval), TierWait: ciTierWait})
	if err != nil || next.IncidentID == first.IncidentID {
		t.Errorf("the next due: %+v, %v; want a new incident", next, err)
	}
}

// A wait shorter than the escalation engine accepts, or none, still raises.
func TestRaiseMissedBoundsTheTierWait(t *testing.T) {
	e := newCIEnv(t)
	d := e.activeDetail("Helena Vance")
	for i, wait := range []time.Duration{0, time.Millisecond} {
		r, err := e.store.RaiseMissed(context.Background(), Missed{DetailID: d.ID, Due: e.now.Add(time.Duration(i) * time.Hour), TierWait: wait})
		if err != nil {
			t.Fatalf("wait %s: %v", wait, err)
		}
		_, p := e.frozenPolicy(r.IncidentID)
		if want := tierWait(wait); p.Tiers[0].Wait != want {
			t.Errorf("wait %s became %s, want %s", wait, p.Tiers[0].Wait, want)
		}
	}
}

func TestRaiseMissedRegionIsWhereThePositionIs(t *testing.T) {
	e := newCIEnv(t)
	ctx := context.Background()

	// Near a safe haven in Japan: APAC, though the detail is EMEA's.
	d := e.activeDetail("Helena Vance")
	e.haven(d, "Tokyo", "JP", Point{Latitude: 35.6586, Longitude: 139.7454})
	e.haven(d, "London", "GB", ciLondon)
	e.report(d, ciTokyo)
	r, err := e.store.RaiseMissed(ctx, Missed{DetailID: d.ID, Due: e.now, TierWait: ciTierWait})
	if err != nil {
		t.Fatal(err)
	}
	inc := e.incident(r.IncidentID)
	escs, p := e.frozenPolicy(r.IncidentID)
	if !reflect.DeepEqual(inc.Regions, []string{"APAC"}) || escs[0].Region != "APAC" || p.Tiers[1].Targets[0].Region != "APAC" {
		t.Errorf("near Tokyo: regions %v, escalation %s, on call %+v; want APAC", inc.Regions, escs[0].Region, p.Tiers[1].Targets)
	}
	if !strings.Contains(inc.Title, "(EMEA)") {
		t.Errorf("title %q names the detail by its own region", inc.Title)
	}

	// Near a movement's endpoint in Australia: APAC.
	moving := e.activeDetail("Arjun Mehta")
	if _, err := e.store.AddMovement(ctx, ciLeader, NewMovement{DetailID: moving.ID,
		From:             Place{City: "Singapore", CountryCode: "SG", Latitude: 1.3521, Longitude: 103.8198},
		To:               Place{City: "Sydney", CountryCode: "AU", Latitude: -33.8688, Longitude: 151.2093},
		PlannedDeparture: e.now.Add(time.Hour), PlannedArrival: e.now.Add(9 * time.Hour),
		DepartureZone: "Asia/Singapore", ArrivalZone: "Australia/Sydney"}); err != nil {
		t.Fatal(err)
	}
	e.report(moving, Point{Latitude: -33.9, Longitude: 151.1})
	r, err = e.store.RaiseMissed(ctx, Missed{DetailID: moving.ID, Due: e.now, TierWait: ciTierWait})
	if err != nil {
		t.Fatal(err)
	}
	if inc := e.incident(r.IncidentID); !reflect.DeepEqual(inc.Regions, []string{"APAC"}) {
		t.Errorf("near Sydney: regions %v, want APAC", inc.Regions)
	}

	// Far from every place of the plan (mid-Pacific): the detail's region.
	far := e.activeDetail("Marcus Hale")
	e.haven(far, "Tokyo", "JP", ciTokyo)
	e.report(far, Point{Latitude: 10, Longitude: -150})
	r, err = e.store.RaiseMissed(ctx, Missed{DetailID: far.ID, Due: e.now, TierWait: ciTierWait})
	if err != nil {
		t.Fatal(err)
	}
	if inc := e.incident(r.IncidentID); !reflect.DeepEqual(inc.Regions, []string{"EMEA"}) {
		t.Errorf("far from the plan: regions %v, want the detail's EMEA", inc.Regions)
	}

	// No position at all: the detail's region, and the title says so.
	none := e.activeDetail("Ines Duarte")
	r, err = e.store.RaiseMissed(ctx, Missed{DetailID: none.ID, Due: e.now, TierWait: ciTierWait})
	if err != nil {
		t.Fatal(err)
	}
	inc = e.incident(r.IncidentID)
	if !reflect.DeepEqual(inc.Regions, []string{"EMEA"}) || inc.Location != nil || !strings.Contains(inc.Title, "no position reported") {
		t.Errorf("no position: %+v", inc)
	}
}

// The last known position is the newest of the reported one and the last
// check-in's.
func TestRaiseMissedUsesTheNewestKnownPosition(t *testing.T) {
	e := newCIEnv(t)
	e.setCodes(ciAgent)
	d := e.activeDetail("Helena Vance")
	e.report(d, ciLondon)
	e.now = e.now.Add(10 * time.Minute)
	paris := Point{Latitude: 48.8566, Longitude: 2.3522}
	if _, err := e.store.CheckIn(context.Background(), ciAgent, CheckInInput{DetailID: d.ID, Code: ciCode, Position: &paris}); err != nil {
		t.Fatal(err)
	}
	r, err := e.store.RaiseMissed(context.Background(), Missed{DetailID: d.ID, Due: e.now.Add(time.Hour), TierWait: ciTierWait})
	if err != nil {
		t.Fatal(err)
	}
	inc := e.incident(r.IncidentID)
	if inc.Location == nil || inc.Location.Latitude != paris.Latitude || !strings.Contains(inc.Title, "48.8566, 2.3522 at 14:10 UTC") {
		t.Errorf("incident %q at %v, want the check-in's newer position", inc.Title, inc.Location)
	}
}

func TestRaiseMissedRaisesNothingAfterACheckInOrTheEnd(t *testing.T) {
	e := newCIEnv(t)
	e.setCodes(ciAgent)
	ctx := context.Background()
	d := e.activeDetail("Helena Vance")
	due := e.now.Add(d.Interval)

	// A check-in before the due time does not answer for it.
	e.now = due.Add(-time.Minute)
	if _, err := e.store.CheckIn(ctx, ciAgent, CheckInInput{DetailID: d.ID, Code: ciCode}); err != nil {
		t.Fatal(err)
	}
	r, err := e.store.RaiseMissed(ctx, Missed{DetailID: d.ID, Due: due.Add(time.Hour), TierWait: ciTierWait})
	if err != nil || r.IncidentID == uuid.Nil {
		t.Fatalf("a check-in before the due time: %+v, %v; want an incident", r, err)
	}
	raised := e.count(`SELECT count(*) FROM incidents`)

	// A check-in at or after the due time, whose signal the watch missed.
	later := due.Add(2 * time.Hour)
	e.now = later.Add(time.Minute)
	if _, err := e.store.CheckIn(ctx, ciAgent, CheckInInput{DetailID: d.ID, Code: ciCode}); err != nil {
		t.Fatal(err)
	}
	before := e.state()
	r, err = e.store.RaiseMissed(ctx, Missed{DetailID: d.ID, Due: later, TierWait: ciTierWait})
	if err != nil {
		t.Fatal(err)
	}
	if r.CheckedIn == nil || !r.CheckedIn.Equal(e.now) || r.IncidentID != uuid.Nil || r.Ended {
		t.Errorf("after a check-in: %+v, want CheckedIn at %s", r, e.now)
	}
	e.assertState(before, "missed after a check-in")

	// Once raised, a retry returns the incident even after a check-in: the
	// watch must know of it to note the recovery.
	e.now = e.now.Add(time.Hour)
	if again, err := e.store.RaiseMissed(ctx, Missed{DetailID: d.ID, Due: due.Add(time.Hour), TierWait: ciTierWait}); err != nil ||
		again.CheckedIn != nil || again.IncidentID == uuid.Nil {
		t.Errorf("retry of a raised incident: %+v, %v", again, err)
	}
	if n := e.count(`SELECT count(*) FROM incidents`); n != raised {
		t.Errorf("%d incidents, want %d", n, raised)
	}

	// Ended: nothing.
	if _, err := e.store.End(ctx, ciLead, d.ID, ""); err != nil {
		t.Fatal(err)
	}
	before = e.state()
	r, err = e.store.RaiseMissed(ctx, Missed{DetailID: d.ID, Due: e.now, TierWait: ciTierWait})
	if err != nil || !r.Ended || r.IncidentID != uuid.Nil {
		t.Errorf("ended: %+v, %v", r, err)
	}
	e.assertState(before, "missed after the end")
	if _, err := e.store.RaiseMissed(ctx, Missed{DetailID: ciDetailID(t), Due: e.now}); !errors.Is(err, ErrDetailNotFound) {
		t.Errorf("unknown detail: %v", err)
	}
}

func TestRecordRecoveryNotesOnceOnEveryEscalationAndTheDetail(t *testing.T) {
	e := newCIEnv(t)
	d := e.activeDetail("Helena Vance")
	ctx := context.Background()
	r, err := e.store.RaiseMissed(ctx, Missed{DetailID: d.ID, Due: e.now, TierWait: ciTierWait})
	if err != nil {
		t.Fatal(err)
	}
	at := e.now.Add(3 * time.Minute)
	for range 2 {
		if err := e.store.RecordRecovery(ctx, d.ID, r.IncidentID, at, ciAgent.Subject); err != nil {
			t.Fatal(err)
		}
	}
	escs, _ := e.frozenPolicy(r.IncidentID)
	for _, esc := range escs {
		var notes []string
		rows := e.rowsAsMaps(`SELECT note FROM escalation_timeline WHERE escalation_id = $1 AND kind = $2`, esc.ID, escalation.KindNote)
		for _, row := range rows {
			notes = append(notes, row["note"].(string))
		}
		if len(notes) != 1 || !strings.Contains(notes[0], "14:03:00 UTC by Name of ci-agent") || !strings.Contains(notes[0], "back in contact") {
			t.Errorf("escalation %s notes %q, want one recovery note", esc.ID, notes)
		}
	}
	if n := e.count(`SELECT count(*) FROM detail_timeline WHERE detail_id = $1 AND kind = $2`, d.ID, StepRecovered); n != 1 {
		t.Errorf("%d CHECK_IN_RECOVERED steps, want 1", n)
	}
}

// duressCheckIn checks in with the duress code and returns what the relay
// receives: the duress its CHECKED_IN watch row carries.
func (e *ciEnv) duressCheckIn(who auth.Identity, d Detail, p *Point) Duress {
	e.t.Helper()
	if _, err := e.store.CheckIn(context.Background(), who, CheckInInput{DetailID: d.ID, Code: ciDuress, Position: p}); err != nil {
		e.t.Fatal(err)
	}
	all := e.checkedInDuress(d.ID)
	if len(all) == 0 || all[len(all)-1] == nil {
		e.t.Fatalf("the duress check-in's CHECKED_IN carries no duress: %v", all)
	}
	out := *all[len(all)-1]
	if (p == nil && out.Position != nil) || (p != nil && (out.Position == nil || *out.Position != *p)) {
		e.t.Fatalf("duress position %v, want the check-in's own %v", out.Position, p)
	}
	return out
}

func TestRaiseDuressIsRestrictedSEV1PagedToTheLeaderAndGlobalLeads(t *testing.T) {
	e := newCIEnv(t)
	e.setCodes(ciAgent)
	ctx := context.Background()
	d := e.activeDetail("Helena Vance")
	e.haven(d, "London", "GB", ciLondon)
	du := e.duressCheckIn(ciAgent, d, &ciLondon)

	before := e.state()
	timeline := e.count(`SELECT count(*) FROM detail_timeline`)
	stream := e.count(`SELECT count(*) FROM outbox WHERE topic = $1`, TopicDetailChanged)
	id, err := e.store.RaiseDuress(ctx, du, ciTierWait)
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.store.RaiseDuress(ctx, du, ciTierWait)
	if err != nil || again != id {
		t.Fatalf("again: %s, %v; want %s", again, err, id)
	}
	if n := e.count(`SELECT count(*) FROM incidents`); n != before["incidents"]+1 {
		t.Errorf("%d incidents, want one more than %d", n, before["incidents"])
	}
	inc := e.incident(id)
	leaderOnly := []string{ciLeader.Subject}
	if inc.Severity != escalation.SEV1 || inc.Kind != IncidentDuress || inc.SourceType != SourceType || inc.SourceRef != duressRef(du.CheckInID) ||
		!reflect.DeepEqual(inc.RestrictedTo, leaderOnly) || !reflect.DeepEqual(inc.Regions, []string{"EMEA"}) {
		t.Errorf("incident %+v", inc)
	}
	if inc.Location == nil || inc.Location.Latitude != ciLondon.Latitude || inc.Location.Longitude != ciLondon.Longitude {
		t.Errorf("location %v, want the duress position", inc.Location)
	}
	if !strings.Contains(inc.Title, "Name of ci-agent") || !strings.Contains(inc.Title, "Helena Vance") {
		t.Errorf("title %q names neither the agent nor the detail", inc.Title)
	}
	escs, p := e.frozenPolicy(id)
	for _, esc := range escs {
		if !reflect.DeepEqual(esc.RestrictedTo, leaderOnly) || esc.Severity != escalation.SEV1 {
			t.Errorf("escalation %+v is not restricted to the leader", esc)
		}
	}
	wantTargets := [][]escalation.Target{{{Kind: escalation.TargetUser, Subject: ciLeader.Subject}, {Kind: escalation.TargetRole, Role: auth.RoleGlobalLead}}}
	if got := targetsOf(p); !reflect.DeepEqual(got, wantTargets) || p.RepeatCount != 3 || p.Severity != escalation.SEV1 || p.Tiers[0].Wait != ciTierWait {
		t.Errorf("policy %+v, want one tier %+v repeated 3 times", p, wantTargets)
	}
	// Every audit row of the raise is restricted too.
	if n := e.count(`SELECT count(*) FROM audit_log WHERE action IN ('incident.raise', 'escalation.open')`); n != 1+len(escs) {
		t.Errorf("%d audit rows of the raise, want %d", n, 1+len(escs))
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE action IN ('incident.raise', 'escalation.open') AND restricted_to = $1`, leaderOnly); n != 1+len(escs) {
		t.Errorf("%d restricted audit rows of the raise, want %d", n, 1+len(escs))
	}
	// Nothing on the detail's timeline or stream.
	if n := e.count(`SELECT count(*) FROM detail_timeline`); n != timeline {
		t.Errorf("the duress wrote %d timeline steps", n-timeline)
	}
	if n := e.count(`SELECT count(*) FROM outbox WHERE topic = $1`, TopicDetailChanged); n != stream {
		t.Errorf("the duress wrote %d stream events", n-stream)
	}
}

// A leader under duress is not paged, nor shown the incident: the phone
// may be in someone else's hands.
func TestRaiseDuressOfTheLeaderPagesOnlyTheGlobalLeads(t *testing.T) {
	e := newCIEnv(t)
	e.setCodes(ciLeader)
	d := e.activeDetail("Helena Vance")
	du := e.duressCheckIn(ciLeader, d, nil)
	id, err := e.store.RaiseDuress(context.Background(), du, ciTierWait)
	if err != nil {
		t.Fatal(err)
	}
	inc := e.incident(id)
	if !reflect.DeepEqual(inc.RestrictedTo, []string{SystemActor}) {
		t.Errorf("restricted to %v, want nobody but the global leads", inc.RestrictedTo)
	}
	if !strings.Contains(inc.Title, "no position reported") || inc.Location != nil {
		t.Errorf("incident %q at %v", inc.Title, inc.Location)
	}
	_, p := e.frozenPolicy(id)
	if got := targetsOf(p); !reflect.DeepEqual(got, [][]escalation.Target{{{Kind: escalation.TargetRole, Role: auth.RoleGlobalLead}}}) {
		t.Errorf("targets %+v, want the global leads only", got)
	}
}
