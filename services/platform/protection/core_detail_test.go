package protection

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"meridian.dev/platform/fault"
)

func TestCreateDetailDefaultsAndOverrides(t *testing.T) {
	c := newCore(t)
	ctx := context.Background()
	p := c.protectee(t, "Ada") // HIGH
	d, err := c.store.CreateDetail(ctx, idAdmin, NewDetail{ProtecteeID: p.ID, Region: "emea", Leader: "leader",
		Agents: []string{"agent2", "agent", "leader", "agent"}, StartsAt: coreClock, EndsAt: coreClock.Add(time.Hour)})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if d.Status != StatusPlanned || d.Region != "EMEA" || d.ThreatLevel != ThreatHigh || d.Interval != 30*time.Minute ||
		d.CustomInterval || d.Grace != DefaultGrace || d.WorkflowID != WatchWorkflowID(d.ID) || d.CreatedBy != "admin" {
		t.Fatalf("defaults: %+v", d)
	}
	// The leader is not counted again among the agents; duplicates go.
	if !slices.Equal(d.Agents, []string{"agent", "agent2"}) {
		t.Fatalf("agents %v", d.Agents)
	}
	steps, err := c.store.Timeline(ctx, d.ID)
	if err != nil || len(steps) != 1 || steps[0].Kind != StepCreated || steps[0].Actor != "admin" {
		t.Fatalf("timeline %+v %v", steps, err)
	}

	custom, err := c.store.CreateDetail(ctx, idLead, NewDetail{ProtecteeID: p.ID, Region: "AMER", Leader: "leader",
		StartsAt: coreClock, EndsAt: coreClock.Add(time.Hour), ThreatLevel: "low", Interval: corePtr(10 * time.Second),
		Grace: corePtr(time.Duration(0)), ClientMutationID: "d-1"})
	if err != nil {
		t.Fatal(err)
	}
	if custom.ThreatLevel != ThreatLow || custom.Interval != 10*time.Second || !custom.CustomInterval || custom.Grace != 0 ||
		len(custom.Agents) != 0 {
		t.Fatalf("overrides: %+v", custom)
	}
	again, err := c.store.CreateDetail(ctx, idLead, NewDetail{ProtecteeID: p.ID, Region: "AMER", Leader: "leader",
		StartsAt: coreClock, EndsAt: coreClock.Add(time.Hour), ClientMutationID: "d-1"})
	if err != nil || again.ID != custom.ID || c.count(t, `SELECT count(*) FROM details`) != 2 {
		t.Fatalf("retry: %v %v", again.ID, err)
	}
}

func TestCreateDetailRefusals(t *testing.T) {
	c := newCore(t)
	ctx := context.Background()
	p := c.protectee(t, "Ada")
	ok := NewDetail{ProtecteeID: p.ID, Region: "EMEA", Leader: "leader", Agents: []string{"agent"},
		StartsAt: coreClock, EndsAt: coreClock.Add(time.Hour)}
	with := func(f func(*NewDetail)) NewDetail { n := ok; f(&n); return n }
	many := make([]string, 51)
	for i := range many {
		many[i] = strings.Repeat("a", i+1)
	}
	cases := []struct {
		name  string
		in    NewDetail
		field string
	}{
		{"no protectee", with(func(n *NewDetail) { n.ProtecteeID = [16]byte{} }), "protecteeId"},
		{"unknown protectee", with(func(n *NewDetail) { n.ProtecteeID = coreID(t) }), "protecteeId"},
		{"unknown region", with(func(n *NewDetail) { n.Region = "MARS" }), "region"},
		{"no leader", with(func(n *NewDetail) { n.Leader = "" }), "leader"},
		{"leader unknown", with(func(n *NewDetail) { n.Leader = "nobody" }), "leader"},
		{"leader not an agent", with(func(n *NewDetail) { n.Leader = "manager" }), "leader"},
		{"agent not an agent", with(func(n *NewDetail) { n.Agents = []string{"agent", "traveller"} }), "agents"},
		{"agent unknown", with(func(n *NewDetail) { n.Agents = []string{"ghost"} }), "agents"},
		{"empty agent", with(func(n *NewDetail) { n.Agents = []string{" "} }), "agents"},
		{"too many agents", with(func(n *NewDetail) { n.Agents = many }), "agents"},
		{"no start", with(func(n *NewDetail) { n.StartsAt = time.Time{} }), "startsAt"},
		{"ends before it starts", with(func(n *NewDetail) { n.EndsAt = n.StartsAt.Add(-time.Minute) }), "endsAt"},
		{"ends as it starts", with(func(n *NewDetail) { n.EndsAt = n.StartsAt }), "endsAt"},
		{"threat level", with(func(n *NewDetail) { n.ThreatLevel = "SEVERE" }), "threatLevel"},
		{"interval too short", with(func(n *NewDetail) { n.Interval = corePtr(4 * time.Second) }), "checkInInterval"},
		{"interval too long", with(func(n *NewDetail) { n.Interval = corePtr(25 * time.Hour) }), "checkInInterval"},
		{"negative grace", with(func(n *NewDetail) { n.Grace = corePtr(-time.Second) }), "gracePeriod"},
		{"grace too long", with(func(n *NewDetail) { n.Grace = corePtr(3 * time.Hour) }), "gracePeriod"},
	}
	before := c.snapshot(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.store.CreateDetail(ctx, idLead, tc.in)
			wantCoreFault(t, err, fault.BadUserInput, tc.field)
		})
	}
	for _, who := range []string{"leader", "agent", "auditor", "manager", "traveller"} {
		if _, err := c.store.CreateDetail(ctx, personas[who], ok); !isForbidden(err) {
			t.Errorf("%s created a detail: %v", who, err)
		}
	}
	c.assertUnchanged(t, before, "refused detail creates")
}

func TestDetailLifecycle(t *testing.T) {
	c := newCore(t)
	ctx := context.Background()
	p := c.protectee(t, "Ada")
	d := c.detail(t, p, "EMEA", "leader", "agent")

	// Agents and strangers may not start it; the leader may.
	before := c.snapshot(t)
	for _, who := range []string{"agent", "other", "manager", "auditor"} {
		if _, err := c.store.Start(ctx, personas[who], d.ID); !isForbidden(err) {
			t.Errorf("%s started the detail: %v", who, err)
		}
	}
	_, err := c.store.Start(ctx, idLead, coreID(t))
	wantCoreFault(t, err, fault.NotFound, "")
	c.assertUnchanged(t, before, "refused starts")

	started, err := c.store.Start(ctx, idLeader, d.ID)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if started.Status != StatusActive || started.StartedAt == nil || !started.StartedAt.Equal(coreClock) ||
		started.NextDue == nil || !started.NextDue.Equal(coreClock.Add(30*time.Minute)) {
		t.Fatalf("started: %+v", started)
	}
	watch := coreOutbox[WatchCommand](t, c, TopicWatch)
	if len(watch) != 1 || watch[0].Command != WatchStart || watch[0].Interval != 30*time.Minute || watch[0].Grace != DefaultGrace ||
		!watch[0].At.Equal(coreClock) || watch[0].DetailID != d.ID || watch[0].Actor != "leader" {
		t.Fatalf("watch commands %+v", watch)
	}
	before = c.snapshot(t)
	_, err = c.store.Start(ctx, idLead, d.ID)
	wantCoreFault(t, err, fault.Conflict, "")
	c.assertUnchanged(t, before, "a second start")

	// A change of threat level re-times the watch: from the start, as no
	// check-in came yet.
	retimed, err := c.store.SetThreatLevel(ctx, idLeader, d.ID, ThreatCritical, nil)
	if err != nil {
		t.Fatal(err)
	}
	if retimed.ThreatLevel != ThreatCritical || retimed.Interval != 15*time.Minute || retimed.CustomInterval ||
		!retimed.NextDue.Equal(coreClock.Add(15*time.Minute)) {
		t.Fatalf("retimed %+v", retimed)
	}
	// From the last check-in when there was one, with a custom interval.
	checkedIn := coreClock.Add(10 * time.Minute)
	if _, err := c.pool.Exec(ctx, `UPDATE details SET last_check_in_at = $2, last_check_in_by = 'agent' WHERE id = $1`,
		d.ID, checkedIn); err != nil {
		t.Fatal(err)
	}
	custom, err := c.store.SetThreatLevel(ctx, idLead, d.ID, ThreatLow, corePtr(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if custom.Interval != 20*time.Second || !custom.CustomInterval || !custom.NextDue.Equal(checkedIn.Add(20*time.Second)) {
		t.Fatalf("custom %+v", custom)
	}
	watch = coreOutbox[WatchCommand](t, c, TopicWatch)
	if len(watch) != 3 || watch[1].Command != WatchRetime || watch[1].Interval != 15*time.Minute ||
		watch[2].Command != WatchRetime || watch[2].Interval != 20*time.Second || watch[2].Grace != DefaultGrace {
		t.Fatalf("watch commands %+v", watch)
	}
	before = c.snapshot(t)
	_, err = c.store.SetThreatLevel(ctx, idLead, d.ID, "RED", nil)
	wantCoreFault(t, err, fault.BadUserInput, "threatLevel")
	_, err = c.store.SetThreatLevel(ctx, idLead, d.ID, ThreatLow, corePtr(time.Second))
	wantCoreFault(t, err, fault.BadUserInput, "checkInInterval")
	if _, err := c.store.SetThreatLevel(ctx, idAgent, d.ID, ThreatLow, nil); !isForbidden(err) {
		t.Fatalf("an agent set the threat level: %v", err)
	}
	c.assertUnchanged(t, before, "refused threat levels")

	// Agents are replaced as a set.
	assigned, err := c.store.AssignAgents(ctx, idLeader, d.ID, []string{"agent2", "leader"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(assigned.Agents, []string{"agent2"}) {
		t.Fatalf("agents %v", assigned.Agents)
	}
	before = c.snapshot(t)
	_, err = c.store.AssignAgents(ctx, idLeader, d.ID, []string{"agent", "manager"})
	wantCoreFault(t, err, fault.BadUserInput, "agents")
	c.assertUnchanged(t, before, "refused agents")

	ended, err := c.store.End(ctx, idLeader, d.ID, "principal home safe")
	if err != nil {
		t.Fatal(err)
	}
	if ended.Status != StatusEnded || ended.EndedAt == nil || ended.NextDue != nil {
		t.Fatalf("ended %+v", ended)
	}
	watch = coreOutbox[WatchCommand](t, c, TopicWatch)
	if last := watch[len(watch)-1]; len(watch) != 4 || last.Command != WatchStop || last.DetailID != d.ID {
		t.Fatalf("watch commands %+v", watch)
	}
	events := coreOutbox[DetailChanged](t, c, TopicDetailChanged)
	var kinds []string
	for _, e := range events {
		kinds = append(kinds, e.Kind)
	}
	if want := []string{EventStatus, EventThreatLevel, EventThreatLevel, EventAgents, EventStatus}; !slices.Equal(kinds, want) {
		t.Fatalf("detail events %v, want %v", kinds, want)
	}
	steps, err := c.store.Timeline(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	var stepKinds []string
	for _, s := range steps {
		stepKinds = append(stepKinds, s.Kind)
	}
	want := []string{StepCreated, StepStarted, StepThreatLevel, StepThreatLevel, StepAgentsAssigned, StepEnded}
	if !slices.Equal(stepKinds, want) || steps[5].Note != "principal home safe" || steps[4].Note != "added agent2; removed agent" {
		t.Fatalf("timeline %+v", steps)
	}
	if n := c.count(t, `SELECT count(*) FROM audit_log WHERE object_type = 'Detail' AND object_id = $1`, d.ID.String()); n != 6 {
		t.Fatalf("%d audit rows for the detail, want 6 (create, start, 2 threat levels, agents, end)", n)
	}

	// An ended detail: the leader is no longer allowed, leads meet a conflict.
	before = c.snapshot(t)
	_, err = c.store.End(ctx, idLead, d.ID, "")
	wantCoreFault(t, err, fault.Conflict, "")
	_, err = c.store.SetThreatLevel(ctx, idLead, d.ID, ThreatLow, nil)
	wantCoreFault(t, err, fault.Conflict, "")
	_, err = c.store.AssignAgents(ctx, idAdmin, d.ID, nil)
	wantCoreFault(t, err, fault.Conflict, "")
	_, err = c.store.Start(ctx, idLead, d.ID)
	wantCoreFault(t, err, fault.Conflict, "")
	if _, err := c.store.SetThreatLevel(ctx, idLeader, d.ID, ThreatLow, nil); !isForbidden(err) {
		t.Fatalf("the leader edited an ended detail: %v", err)
	}
	c.assertUnchanged(t, before, "edits of an ended detail")
}

func TestEndPlannedDetailStopsNoWatch(t *testing.T) {
	c := newCore(t)
	ctx := context.Background()
	d := c.detail(t, c.protectee(t, "Ada"), "EMEA", "leader")
	if _, err := c.store.SetThreatLevel(ctx, idLead, d.ID, ThreatLow, nil); err != nil {
		t.Fatal(err)
	}
	if d, err := c.store.Detail(ctx, d.ID); err != nil || d.NextDue != nil {
		t.Fatalf("a planned detail has a due check-in: %+v %v", d, err)
	}
	if _, err := c.store.End(ctx, idLead, d.ID, ""); err != nil {
		t.Fatal(err)
	}
	if watch := coreOutbox[WatchCommand](t, c, TopicWatch); len(watch) != 0 {
		t.Fatalf("a detail that never started told its watch %+v", watch)
	}
	_, err := c.store.End(ctx, idLead, d.ID, strings.Repeat("n", 501))
	wantCoreFault(t, err, fault.BadUserInput, "note")
}

func TestStartRefusedAfterTheWindow(t *testing.T) {
	c := newCore(t)
	ctx := context.Background()
	p := c.protectee(t, "Ada")
	d, err := c.store.CreateDetail(ctx, idLead, NewDetail{ProtecteeID: p.ID, Region: "EMEA", Leader: "leader",
		StartsAt: coreClock.Add(-2 * time.Hour), EndsAt: coreClock.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	before := c.snapshot(t)
	_, err = c.store.Start(ctx, idLead, d.ID)
	wantCoreFault(t, err, fault.Conflict, "")
	c.assertUnchanged(t, before, "a start after the window")
}
