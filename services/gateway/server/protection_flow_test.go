package server_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"meridian.dev/gateway/stacktest"
	"meridian.dev/platform/notify/sink"
	"meridian.dev/platform/protection"
)

// Executive protection end to end, through the real worker and gateway, as
// the people involved see it: the agent's screen (the check-in's answer),
// the detail's timeline, the pages on their phones, the incidents and
// escalations each of them can list.

// flowReceipt is a checkIn answer.
type flowReceipt struct{ At, NextDue time.Time }

// flowCheckIn checks in on detailID as who with code, from pos, and returns
// the answer decoded and as sent.
func flowCheckIn(t *testing.T, s *stacktest.Stack, who, detailID, code string, pos [2]float64, cmid string) (flowReceipt, json.RawMessage) {
	t.Helper()
	r := s.GW.Query(t, s.Token(t, who), stacktest.CheckInMutation, map[string]any{"input": map[string]any{
		"detailId": detailID, "code": code, "latitude": pos[0], "longitude": pos[1], "note": "principal at the venue",
		"clientMutationId": cmid,
	}})
	var out struct {
		CheckIn struct {
			ClientMutationID string
			CheckIn          flowReceipt
		}
	}
	r.Decode(t, &out)
	if out.CheckIn.ClientMutationID != cmid {
		t.Errorf("checkIn answered clientMutationId %q, want %q", out.CheckIn.ClientMutationID, cmid)
	}
	return out.CheckIn.CheckIn, r.Data
}

// jsonShape is a JSON document with every value replaced by its type: two
// answers with the same shape carry the same fields.
func jsonShape(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	var shape func(any) any
	shape = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			out := map[string]any{}
			for k, e := range x {
				out[k] = shape(e)
			}
			return out
		case []any:
			out := make([]any, len(x))
			for i, e := range x {
				out[i] = shape(e)
			}
			return out
		case nil:
			return "null"
		default:
			return fmt.Sprintf("%T", x)
		}
	}
	b, err := json.Marshal(shape(v)) // maps marshal with sorted keys
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitDetailSteps reads the detail as who until its timeline holds at least
// n steps of kind, and returns that reading.
func waitDetailSteps(t *testing.T, s *stacktest.Stack, who, detailID, kind string, n int) detailView {
	t.Helper()
	deadline := time.Now().Add(stacktest.WaitLimit)
	for {
		d, r := readDetail(t, s, who, detailID)
		r.Decode(t, &struct{}{})
		if stepCount(*d, kind) >= n {
			return *d
		}
		s.RequireWorkerRunning(t)
		if time.Now().After(deadline) {
			t.Fatalf("the detail's timeline holds %d %s steps after %s, want %d: %+v", stepCount(*d, kind), kind, stacktest.WaitLimit, n, d.Timeline)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func stepCount(d detailView, kind string) int {
	n := 0
	for _, st := range d.Timeline {
		if st.Kind == kind {
			n++
		}
	}
	return n
}

// flowEscalation is an escalation as a list shows it, with its incident.
type flowEscalation struct {
	ID, Status, Severity string
	Region               struct{ Code string }
	Incident             *struct{ ID, Kind, Title string }
}

// protectionEscalations pages through every escalation who may list and
// keeps those of incidents of kind whose title names the protectee.
func protectionEscalations(t *testing.T, s *stacktest.Stack, who, kind, protectee string) []flowEscalation {
	t.Helper()
	var found []flowEscalation
	var after *string
	for {
		var out struct {
			Escalations struct {
				Edges    []struct{ Node flowEscalation }
				PageInfo struct {
					HasNextPage bool
					EndCursor   *string
				}
			}
		}
		s.GW.Query(t, s.Token(t, who), `query($after: String) { escalations(first: 50, after: $after) {
			edges { node { id status severity region { code } incident { id kind title } } } pageInfo { hasNextPage endCursor } } }`,
			map[string]any{"after": after}).Decode(t, &out)
		for _, e := range out.Escalations.Edges {
			if inc := e.Node.Incident; inc != nil && inc.Kind == kind && strings.Contains(inc.Title, protectee) {
				found = append(found, e.Node)
			}
		}
		if !out.Escalations.PageInfo.HasNextPage {
			return found
		}
		after = out.Escalations.PageInfo.EndCursor
	}
}

// waitProtectionEscalation waits until the global lead lists an escalation
// of an incident of kind naming the protectee, and returns it.
func waitProtectionEscalation(t *testing.T, s *stacktest.Stack, kind, protectee string) flowEscalation {
	t.Helper()
	deadline := time.Now().Add(stacktest.WaitLimit)
	for {
		if found := protectionEscalations(t, s, stacktest.GlobalLead, kind, protectee); len(found) > 0 {
			return found[0]
		}
		s.RequireWorkerRunning(t)
		if time.Now().After(deadline) {
			t.Fatalf("no %s incident naming %q within %s", kind, protectee, stacktest.WaitLimit)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

const flowIncidentQuery = `query($id: ID!) { incident(id: $id) {
  id title kind severity sourceType regions { code } location { latitude longitude }
  escalations { id status region { code } }
} }`

type flowIncidentView struct {
	ID, Title, Kind, Severity, SourceType string
	Regions                               []struct{ Code string }
	Location                              *protGeo
	Escalations                           []struct {
		ID, Status string
		Region     struct{ Code string }
	}
}

func readFlowIncident(t *testing.T, s *stacktest.Stack, who, id string) flowIncidentView {
	t.Helper()
	var out struct{ Incident *flowIncidentView }
	s.GW.Query(t, s.Token(t, who), flowIncidentQuery, map[string]any{"id": id}).Decode(t, &out)
	if out.Incident == nil {
		t.Fatalf("incident %s is null for %s", id, who)
	}
	return *out.Incident
}

// waitEscalationStep waits until the escalation's timeline, as the global
// lead reads it, holds a step match accepts.
func waitEscalationStep(t *testing.T, s *stacktest.Stack, escalationID, what string, match func(timelineEntry) bool) timelineEntry {
	t.Helper()
	deadline := time.Now().Add(stacktest.WaitLimit)
	for {
		_, steps := escalationOf(t, s, escalationID)
		if i := slices.IndexFunc(steps, match); i >= 0 {
			return steps[i]
		}
		s.RequireWorkerRunning(t)
		if time.Now().After(deadline) {
			t.Fatalf("no %s on escalation %s within %s: %+v", what, escalationID, stacktest.WaitLimit, steps)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// pagedPeople is who the pages match accepts reached, sorted, each once
// ("" for a page naming nobody it can tell).
func pagedPeople(s *stacktest.Stack, match func(sink.Received) bool) []string {
	var out []string
	for _, r := range s.PagesWhere(match) {
		if p := stacktest.PagedPerson(r); !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// positionWords is how an incident's title gives a position.
func positionWords(p [2]float64) string { return fmt.Sprintf("%.4f, %.4f", p[0], p[1]) }

// TestMissedCheckInEscalatesAndRecovers: an agent checks in once and then
// goes silent. The watch reminds her when the check-in falls due, raises a
// MISSED_CHECK_IN incident in EMEA naming the detail and her last position
// when the grace period passes, and the incident climbs unacknowledged from
// the detail's leader to the region's on-call to the global lead. When she
// checks in again, the incident's escalation and the detail's timeline
// record the recovery, the interval restarts from her check-in, and
// nothing is raised a second time.
func TestMissedCheckInEscalatesAndRecovers(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{})
	const protectee = "Miriam Okafor"
	const interval, grace = 6 * time.Second, 3 * time.Second
	s.SetOwnWebhook(t, stacktest.ProtectionAgent)
	d := s.PlanDetail(t, stacktest.DetailPlan{Protectee: protectee, Interval: interval, Grace: grace})
	detailUUID := rawID(t, "Detail", d.DetailID)
	code := stacktest.CheckInCode(stacktest.ProtectionAgent)
	here := [2]float64{51.5033, -0.1196}

	first, _ := flowCheckIn(t, s, stacktest.ProtectionAgent, d.DetailID, code, here, "first")
	if !first.NextDue.Equal(first.At.Add(interval)) {
		t.Fatalf("checkIn answered %+v, want the next check-in due %s after it", first, interval)
	}

	// Silence. The reminder comes once the check-in is due, not before.
	reminder := s.WaitReceived(t, "check-in reminder to pa-petra", func(r sink.Received) bool {
		return r.Page != nil && r.Page.Topic == "protection" && r.Page.Site == detailUUID &&
			strings.HasPrefix(r.Page.Headline, "Check-in due") && stacktest.PagedPerson(r) == stacktest.ProtectionAgent
	})
	if !strings.Contains(reminder.Page.Headline, protectee) || reminder.Page.Region != "EMEA" {
		t.Errorf("the reminder reads %q in %s; want it to name the detail of %s, in EMEA", reminder.Page.Headline, reminder.Page.Region, protectee)
	}
	if reminder.At.Before(first.NextDue) {
		t.Errorf("reminded at %s, before the check-in fell due at %s", reminder.At, first.NextDue)
	}
	waitDetailSteps(t, s, stacktest.ProtectionAgent, d.DetailID, protection.StepReminded, 1)

	// The grace period passes: a missed check-in in EMEA, where she last
	// checked in, naming the detail and that position.
	esc := waitProtectionEscalation(t, s, protection.IncidentMissedCheckIn, protectee)
	inc := readFlowIncident(t, s, stacktest.GlobalLead, esc.Incident.ID)
	if inc.Kind != protection.IncidentMissedCheckIn || inc.SourceType != protection.SourceType || len(inc.Regions) != 1 ||
		inc.Regions[0].Code != "EMEA" || len(inc.Escalations) != 1 || inc.Escalations[0].Region.Code != "EMEA" {
		t.Fatalf("the missed check-in is %+v; want one in EMEA, raised by protection", inc)
	}
	if !strings.Contains(inc.Title, protectee) || !strings.Contains(inc.Title, positionWords(here)) {
		t.Errorf("incident title %q names neither the detail of %s nor the last position %s", inc.Title, protectee, positionWords(here))
	}
	if inc.Location == nil || inc.Location.Latitude != here[0] || inc.Location.Longitude != here[1] {
		t.Errorf("incident location %+v, want the last check-in's %v", inc.Location, here)
	}

	// Nobody acknowledges: leader, then the region's on-call, then the
	// global lead.
	escUUID := idOf(t, esc.ID)
	tierPage := func(tier int, who string) sink.Received {
		t.Helper()
		return s.WaitReceived(t, fmt.Sprintf("tier-%d page to %s", tier, who), func(r sink.Received) bool {
			return r.Page != nil && r.Page.EscalationID == escUUID && r.Page.Tier == tier && stacktest.PagedPerson(r) == who
		})
	}
	tier1 := tierPage(1, stacktest.ProtectionLeader)
	onCall := onCallAt(t, s, "EMEA", tier1.At)
	if len(onCall) != 1 {
		t.Fatalf("onCall(EMEA) = %+v, want one person", onCall)
	}
	want := map[int]string{1: stacktest.ProtectionLeader, 2: onCall[0].Person.Subject, 3: stacktest.GlobalLead}
	tierPage(2, want[2])
	tierPage(3, want[3])
	if !reminder.At.Before(tier1.At) {
		t.Errorf("the reminder came at %s, after the missed check-in's first page at %s", reminder.At, tier1.At)
	}
	for tier, who := range want {
		got := pagedPeople(s, func(r sink.Received) bool {
			return r.Page != nil && r.Page.EscalationID == escUUID && r.Page.Tier == tier
		})
		if !slices.Equal(got, []string{who}) {
			t.Errorf("tier %d paged %v, want %s alone", tier, got, who)
		}
	}
	// The climb, in order, as the escalation's timeline records it (pages
	// are delivered beside the climb, so their arrival says less).
	_, steps := timelineOf(t, s, esc.ID)
	var climb []int
	for _, st := range steps {
		if st.Kind == "PAGED" && st.Tier != nil {
			climb = append(climb, *st.Tier)
			if !strings.Contains(st.Note, want[*st.Tier]) {
				t.Errorf("tier %d's PAGED step reads %q, want it to name %s", *st.Tier, st.Note, want[*st.Tier])
			}
		}
	}
	if !slices.Equal(climb, []int{1, 2, 3}) {
		t.Errorf("the escalation paged tiers %v, want 1, 2, 3 in that order", climb)
	}

	// She checks in again: the recovery is on the incident's escalation
	// and on the detail.
	again, _ := flowCheckIn(t, s, stacktest.ProtectionAgent, d.DetailID, code, here, "again")
	afterAgain := time.Now()
	waitEscalationStep(t, s, esc.ID, "note of the recovery", func(e timelineEntry) bool {
		return e.Kind == "NOTE" && e.Actor == protection.SystemActor && strings.Contains(e.Note, "Petra")
	})
	waitDetailSteps(t, s, stacktest.ProtectionAgent, d.DetailID, protection.StepRecovered, 1)

	// The interval restarts from her check-in: the next reminder is for
	// one interval after it, not on the missed check-in's old schedule. She
	// answers it, and the moment her previous check-in's grace period ends
	// passes without a second incident.
	next := s.WaitReceived(t, "the reminder after the recovery", func(r sink.Received) bool {
		return r.At.After(afterAgain) && r.Page != nil && r.Page.Topic == "protection" && r.Page.Site == detailUUID &&
			strings.HasPrefix(r.Page.Headline, "Check-in due") && stacktest.PagedPerson(r) == stacktest.ProtectionAgent
	})
	if next.At.Before(again.NextDue) {
		t.Errorf("reminded at %s, before the check-in due at %s, one interval after her last", next.At, again.NextDue)
	}
	flowCheckIn(t, s, stacktest.ProtectionAgent, d.DetailID, code, here, "answering the reminder")
	time.Sleep(time.Until(again.NextDue.Add(grace + time.Second)))
	if found := protectionEscalations(t, s, stacktest.GlobalLead, protection.IncidentMissedCheckIn, protectee); len(found) != 1 {
		t.Errorf("%d missed check-in incidents, want the one: %+v", len(found), found)
	}
	s.GW.Query(t, s.Token(t, stacktest.ProtectionLeader), stacktest.EndDetailMutation,
		map[string]any{"id": d.DetailID, "note": "principal home"}).Decode(t, &struct{}{})
	final, r := readDetail(t, s, stacktest.ProtectionLeader, d.DetailID)
	r.Decode(t, &struct{}{})
	if n := stepCount(*final, protection.StepMissed); n != 1 {
		t.Errorf("%d CHECK_IN_MISSED steps on the detail, want 1: %+v", n, final.Timeline)
	}
}

// TestThreatLevelChangesIntervalAtOnce: an active detail at LOW checks in
// every two hours; raised to CRITICAL with a six-second interval, its next
// check-in falls due six seconds after the last one, and the reminder
// comes then, not two hours later.
func TestThreatLevelChangesIntervalAtOnce(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{})
	const protectee = "Tomasz Wierzbicki"
	s.SetOwnWebhook(t, stacktest.ProtectionAgent)
	d := s.PlanDetail(t, stacktest.DetailPlan{Protectee: protectee, ThreatLevel: "LOW"})
	detailUUID := rawID(t, "Detail", d.DetailID)
	before, r := readDetail(t, s, stacktest.ProtectionLeader, d.DetailID)
	r.Decode(t, &struct{}{})
	if before.ThreatLevel != "LOW" || before.CheckInInterval != 7200 {
		t.Fatalf("the detail is at %s every %d s, want LOW every 7200 s", before.ThreatLevel, before.CheckInInterval)
	}
	receipt, _ := flowCheckIn(t, s, stacktest.ProtectionAgent, d.DetailID, stacktest.CheckInCode(stacktest.ProtectionAgent),
		[2]float64{51.5074, -0.1278}, "")
	if got := receipt.NextDue.Sub(receipt.At); got != 2*time.Hour {
		t.Fatalf("at LOW the next check-in is due %s after one, want 2h", got)
	}

	var set struct {
		SetDetailThreatLevel struct {
			Detail struct {
				ThreatLevel     string
				CheckInInterval int
			}
		}
	}
	s.GW.Query(t, s.Token(t, stacktest.ProtectionLeader), stacktest.SetThreatLevelMutation, map[string]any{"input": map[string]any{
		"detailId": d.DetailID, "threatLevel": "CRITICAL", "checkInInterval": 6,
	}}).Decode(t, &set)
	if got := set.SetDetailThreatLevel.Detail; got.ThreatLevel != "CRITICAL" || got.CheckInInterval != 6 {
		t.Fatalf("setDetailThreatLevel answered %+v", got)
	}
	after, r := readDetail(t, s, stacktest.ProtectionAgent, d.DetailID)
	r.Decode(t, &struct{}{})
	if after.NextCheckInDue == nil || !after.NextCheckInDue.Equal(receipt.At.Add(6*time.Second)) {
		t.Errorf("nextCheckInDue = %v, want six seconds after the last check-in (%s)", after.NextCheckInDue, receipt.At)
	}

	// Within WaitLimit, under a minute: nowhere near the two hours the old
	// interval would take.
	reminder := s.WaitReceived(t, "check-in reminder at the new interval", func(r sink.Received) bool {
		return r.Page != nil && r.Page.Topic == "protection" && r.Page.Site == detailUUID &&
			strings.HasPrefix(r.Page.Headline, "Check-in due") && stacktest.PagedPerson(r) == stacktest.ProtectionAgent
	})
	if reminder.At.Before(receipt.At.Add(6 * time.Second)) {
		t.Errorf("reminded at %s, before the new due time %s", reminder.At, receipt.At.Add(6*time.Second))
	}
	waitDetailSteps(t, s, stacktest.ProtectionAgent, d.DetailID, protection.StepReminded, 1)
}

// TestDuressCheckInLooksOrdinary: an agent checks in with her duress code.
// Her screen, the detail's check-ins and its timeline show an ordinary
// check-in; silently, a SEV1 DURESS incident pages the detail's leader and
// the global lead and nobody else, never reaches the EMEA manager's
// escalationUpdated subscription, and is listed and readable by the global
// lead and the leader alone.
func TestDuressCheckInLooksOrdinary(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{})
	const protectee = "Viktor Lindqvist"
	d := s.PlanDetail(t, stacktest.DetailPlan{Protectee: protectee, Interval: time.Hour})
	here := [2]float64{51.5115, -0.1160}

	emeaWS := stacktest.DialWS(t, s.GW, s.Token(t, stacktest.EMEAManager))
	_, c0 := s.PrimedSubscription(t, emeaWS, "board", "EMEA", "AMS-OFC", stacktest.EMEAManager)
	escalations := emeaWS.Subscribe(t, "escalations", stacktest.EscalationSubscription, map[string]any{"region": "EMEA", "after": c0})

	agent := stacktest.ProtectionAgent
	ordinary, ordinaryRaw := flowCheckIn(t, s, agent, d.DetailID, stacktest.CheckInCode(agent), here, "ordinary-1")
	duress, duressRaw := flowCheckIn(t, s, agent, d.DetailID, stacktest.DuressCode(agent), here, "ordinary-2")
	if a, b := jsonShape(t, ordinaryRaw), jsonShape(t, duressRaw); a != b {
		t.Errorf("the duress answer %s has another shape than the ordinary one %s", b, a)
	}
	if got := duress.NextDue.Sub(duress.At); got != ordinary.NextDue.Sub(ordinary.At) || got != time.Hour {
		t.Errorf("the duress answer's next check-in is due %s after it, the ordinary one's %s; want an hour both",
			got, ordinary.NextDue.Sub(ordinary.At))
	}

	// The silent alarm: pages to the leader and the global lead.
	esc := waitProtectionEscalation(t, s, protection.IncidentDuress, protectee)
	escUUID := idOf(t, esc.ID)
	for _, who := range []string{stacktest.ProtectionLeader, stacktest.GlobalLead} {
		s.WaitReceived(t, "duress page to "+who, func(r sink.Received) bool {
			return r.EscalationID == escUUID && stacktest.PagedPerson(r) == who
		})
	}
	inc := readFlowIncident(t, s, stacktest.GlobalLead, esc.Incident.ID)
	if inc.Severity != "SEV1" || inc.Kind != protection.IncidentDuress || len(inc.Regions) != 1 || inc.Regions[0].Code != "EMEA" ||
		inc.Location == nil || inc.Location.Latitude != here[0] || inc.Location.Longitude != here[1] {
		t.Errorf("the duress incident as the global lead reads it: %+v; want SEV1 DURESS in EMEA at %v", inc, here)
	}

	// What the detail shows, to her and to everyone who may see it: two
	// ordinary check-ins.
	for _, who := range []string{agent, stacktest.ProtectionLeader, stacktest.GlobalLead, stacktest.EMEAManager} {
		v, r := readDetail(t, s, who, d.DetailID)
		r.Decode(t, &struct{}{})
		requireOrdinaryCheckIns(t, who, *v, ordinary, duress)
	}

	// The EMEA manager's subscription: the next escalation it gets is an
	// ordinary incident's raised after the duress was relayed.
	waitRelayed(t, s)
	var raised struct {
		RaiseIncident struct{ Incident incidentView }
	}
	s.GW.Query(t, s.Token(t, stacktest.GlobalLead), raiseMutation, map[string]any{"input": map[string]any{
		"title": "Power cut at the London office", "severity": "SEV3", "kind": "OUTAGE", "regions": []string{"EMEA"}}}).Decode(t, &raised)
	if ev := escalations.NextEscalationEvent(t); ev.Escalation.ID != raised.RaiseIncident.Incident.Escalations[0].ID {
		t.Fatalf("the EMEA manager's first escalation event is of %s, want the power cut's %s (the duress is %s)",
			ev.Escalation.ID, raised.RaiseIncident.Incident.Escalations[0].ID, esc.ID)
	}

	// Lists and reads: the global lead and the leader, nobody else.
	for _, who := range []string{stacktest.EMEAManager, stacktest.Admin, stacktest.Auditor, agent} {
		if found := protectionEscalations(t, s, who, protection.IncidentDuress, protectee); len(found) != 0 {
			t.Errorf("%s lists the duress: %+v", who, found)
		}
		if ids := listedEscalations(t, s, s.Token(t, who)); slices.Contains(ids, esc.ID) {
			t.Errorf("%s lists the duress's escalation among EMEA's", who)
		}
		s.GW.Query(t, s.Token(t, who), flowIncidentQuery, map[string]any{"id": esc.Incident.ID}).Refused(t, "NOT_FOUND")
		s.GW.Query(t, s.Token(t, who), `query($id: ID!) { escalation(id: $id) { id } }`, map[string]any{"id": esc.ID}).Refused(t, "NOT_FOUND")
	}
	for _, who := range []string{stacktest.GlobalLead, stacktest.ProtectionLeader} {
		if found := protectionEscalations(t, s, who, protection.IncidentDuress, protectee); len(found) != 1 || found[0].Severity != "SEV1" {
			t.Errorf("%s lists %+v, want the SEV1 duress", who, found)
		}
		readFlowIncident(t, s, who, esc.Incident.ID)
	}

	// Nobody acknowledges, so every round of the duress's policy pages:
	// once the last has, the timeline names everyone it will ever page,
	// and the pages name who they reached. The leader and the global lead,
	// never the agent holding the phone, the region's manager or anyone
	// else.
	waitEscalationStep(t, s, esc.ID, "the end of the last round", func(e timelineEntry) bool { return e.Kind == "EXHAUSTED" })
	_, steps := escalationOf(t, s, esc.ID)
	paged := 0
	for _, st := range steps {
		if st.Kind != "PAGED" {
			continue
		}
		paged++
		if !strings.Contains(st.Note, stacktest.ProtectionLeader) || !strings.Contains(st.Note, stacktest.GlobalLead) {
			t.Errorf("a round of the duress paged %q, want the leader and the global lead", st.Note)
		}
		for _, who := range stacktest.Personas {
			if who != stacktest.ProtectionLeader && who != stacktest.GlobalLead && strings.Contains(st.Note, who) {
				t.Errorf("a round of the duress paged %s: %q", who, st.Note)
			}
		}
	}
	if paged < 2 {
		t.Errorf("the duress's timeline holds %d PAGED steps, want a round and its repeats", paged)
	}
	if got := pagedPeople(s, func(r sink.Received) bool { return r.EscalationID == escUUID }); !slices.Equal(got, []string{stacktest.GlobalLead, stacktest.ProtectionLeader}) {
		t.Errorf("the duress paged %v, want %s and %s alone", got, stacktest.GlobalLead, stacktest.ProtectionLeader)
	}
	for _, r := range s.PagesWhere(func(r sink.Received) bool {
		who := stacktest.PagedPerson(r)
		return who != stacktest.GlobalLead && who != stacktest.ProtectionLeader
	}) {
		text := strings.ToLower(r.Subject + r.Text)
		if r.Page != nil {
			text += strings.ToLower(r.Page.Headline + r.Page.SiteName + r.Page.Note)
		}
		if r.EscalationID == escUUID || strings.Contains(text, "duress") {
			t.Errorf("%s (%s) received a page of the duress: %+v", stacktest.PagedPerson(r), r.Channel, r)
		}
	}
}

// requireOrdinaryCheckIns: the detail, as who reads it, shows the ordinary
// and the duress check-ins alike, and nothing of a duress.
func requireOrdinaryCheckIns(t *testing.T, who string, v detailView, ordinary, duress flowReceipt) {
	t.Helper()
	if len(v.CheckIns.Edges) != 2 {
		t.Fatalf("%s reads %d check-ins, want 2", who, len(v.CheckIns.Edges))
	}
	latest := v.CheckIns.Edges[0].Node
	if !latest.At.Equal(duress.At) || !latest.NextDue.Equal(duress.NextDue) || latest.By.Subject != stacktest.ProtectionAgent {
		t.Errorf("%s reads the latest check-in as %+v, want the duress one at %s", who, latest, duress.At)
	}
	if v.LastCheckIn == nil || !v.LastCheckIn.At.Equal(duress.At) {
		t.Errorf("%s reads lastCheckIn %+v, want %s", who, v.LastCheckIn, duress.At)
	}
	var checkedIn []time.Time
	for _, st := range v.Timeline {
		if strings.Contains(strings.ToLower(st.Kind+" "+st.Note), "duress") {
			t.Errorf("%s reads a timeline step giving the duress away: %+v", who, st)
		}
		if st.Kind == protection.StepCheckedIn {
			// A caller not cleared reads every note empty (timeline.note
			// is masked); a cleared one reads the ordinary note.
			masked := slices.Contains(v.MaskedFields, protection.FieldTimelineNotes)
			if st.Actor != stacktest.ProtectionAgent || masked && st.Note != "" || !masked && !strings.HasPrefix(st.Note, "next check-in due by ") {
				t.Errorf("%s reads a CHECKED_IN step %+v unlike an ordinary one", who, st)
			}
			checkedIn = append(checkedIn, st.At)
		}
	}
	slices.SortFunc(checkedIn, time.Time.Compare)
	if len(checkedIn) != 2 || !checkedIn[0].Equal(ordinary.At) || !checkedIn[1].Equal(duress.At) {
		t.Errorf("%s reads CHECKED_IN steps at %v, want one at %s and one at %s", who, checkedIn, ordinary.At, duress.At)
	}
}

// TestIncidentNearDetailPagesLeader: a fire a kilometre from where an
// active detail last reported pages its leader and lists the detail on the
// incident, with the distance for those cleared for it only; a planned
// detail whose movement ends inside the fire's radius counts too, through
// that movement.
func TestIncidentNearDetailPagesLeader(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{})
	s.SetOwnWebhook(t, stacktest.ProtectionLeader)
	s.SetOwnWebhook(t, stacktest.OtherAgent)
	near := s.PlanDetail(t, stacktest.DetailPlan{Protectee: "Aurelia Santos", Interval: time.Hour})
	planned := s.PlanDetail(t, stacktest.DetailPlan{Protectee: "Benedikt Maurer", Leader: stacktest.OtherAgent, Planned: true})
	westminster := [2]float64{51.5007, -0.1246}
	s.GW.Query(t, s.Token(t, stacktest.ProtectionAgent), stacktest.ReportPositionMutation, map[string]any{"input": map[string]any{
		"detailId": near.DetailID, "latitude": westminster[0], "longitude": westminster[1]}}).Decode(t, &struct{}{})

	// 0.009° of latitude north: a kilometre; about 1.5 km from Mayfair,
	// where the planned detail's movement ends. FIRE reaches 5 km for
	// details.
	fire := [2]float64{westminster[0] + 0.009, westminster[1]}
	const title = "Fire in a Whitehall substation"
	var raised struct {
		RaiseIncident struct{ Incident incidentView }
	}
	s.GW.Query(t, s.Token(t, stacktest.GlobalLead), raiseMutation, map[string]any{"input": map[string]any{
		"title": title, "severity": "SEV2", "kind": "FIRE", "regions": []string{"EMEA"}, "latitude": fire[0], "longitude": fire[1],
	}}).Decode(t, &raised)
	incID := raised.RaiseIncident.Incident.ID

	for detailID, leader := range map[string]string{near.DetailID: stacktest.ProtectionLeader, planned.DetailID: stacktest.OtherAgent} {
		detailUUID := rawID(t, "Detail", detailID)
		page := s.WaitReceived(t, "nearby incident page to "+leader, func(r sink.Received) bool {
			return r.Page != nil && r.Page.Topic == "protection" && r.Page.Site == detailUUID && stacktest.PagedPerson(r) == leader
		})
		if !strings.Contains(page.Page.Headline, title) {
			t.Errorf("%s's page reads %q; want it to name the fire", leader, page.Page.Headline)
		}
		waitDetailSteps(t, s, leader, detailID, protection.StepNearIncident, 1)
	}

	type entry struct {
		Detail     struct{ ID string }
		DistanceKm *float64
		Via        string
	}
	affected := func(who string) map[string]entry {
		t.Helper()
		var out struct {
			Incident *struct{ Affected struct{ Details []entry } }
		}
		s.GW.Query(t, s.Token(t, who), `query($id: ID!) { incident(id: $id) { affected { details { detail { id } distanceKm via } } } }`,
			map[string]any{"id": incID}).Decode(t, &out)
		if out.Incident == nil {
			t.Fatalf("the fire is null for %s", who)
		}
		got := map[string]entry{}
		for _, e := range out.Incident.Affected.Details {
			got[e.Detail.ID] = e
		}
		return got
	}
	within := func(e entry, lo, hi float64) bool {
		return e.DistanceKm != nil && *e.DistanceKm >= lo && *e.DistanceKm <= hi
	}
	for _, c := range []struct {
		who                    string
		near, planned, cleared bool
	}{
		{stacktest.GlobalLead, true, true, true},
		{stacktest.ProtectionLeader, true, false, true},
		{stacktest.OtherAgent, false, true, true},
		{stacktest.EMEAManager, true, true, false},
		{stacktest.APACManager, false, false, false},
	} {
		got := affected(c.who)
		if e, ok := got[near.DetailID]; ok != c.near {
			t.Errorf("%s: the detail near the fire listed = %v, want %v", c.who, ok, c.near)
		} else if ok && (e.Via != protection.ViaPosition || c.cleared != within(e, 0.9, 1.1) || !c.cleared && e.DistanceKm != nil) {
			t.Errorf("%s reads the detail near the fire as %+v (distance %v); want via POSITION, about 1 km away if cleared, else null",
				c.who, e, e.DistanceKm)
		}
		if e, ok := got[planned.DetailID]; ok != c.planned {
			t.Errorf("%s: the planned detail listed = %v, want %v", c.who, ok, c.planned)
		} else if ok && (e.Via != protection.ViaMovement || c.cleared != within(e, 1.3, 1.8) || !c.cleared && e.DistanceKm != nil) {
			t.Errorf("%s reads the planned detail as %+v (distance %v); want via MOVEMENT, about 1.5 km away if cleared, else null",
				c.who, e, e.DistanceKm)
		}
		if len(got) > 2 {
			t.Errorf("%s reads %d affected details, want at most the two", c.who, len(got))
		}
	}

	// The leaders were told; the agent, who is on neither page's detail as
	// its leader, was not.
	if got := pagedPeople(s, func(r sink.Received) bool {
		return strings.Contains(r.Subject+r.Text, title) || r.Page != nil && strings.Contains(r.Page.Headline, title)
	}); slices.Contains(got, stacktest.ProtectionAgent) {
		t.Errorf("the agent was paged about the fire: %v", got)
	}
}

// TestWrongCodesRaiseMissedCheckIn: three wrong codes in a row are each
// refused, and the third raises a missed check-in at once, an hour before
// the check-in falls due, paged to the detail's leader.
func TestWrongCodesRaiseMissedCheckIn(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{})
	const protectee = "Keiko Hartmann"
	d := s.PlanDetail(t, stacktest.DetailPlan{Protectee: protectee, Interval: time.Hour})
	agent := s.Token(t, stacktest.ProtectionAgent)
	var refused time.Time
	for i := range protection.MaxFailedCodes {
		refused = time.Now()
		s.GW.Query(t, agent, stacktest.CheckInMutation, map[string]any{"input": map[string]any{
			"detailId": d.DetailID, "code": fmt.Sprintf("00000%d", i), "latitude": 51.5, "longitude": -0.12,
		}}).RefusedField(t, "code")
	}

	esc := waitProtectionEscalation(t, s, protection.IncidentMissedCheckIn, protectee)
	inc := readFlowIncident(t, s, stacktest.GlobalLead, esc.Incident.ID)
	if !strings.Contains(inc.Title, "wrong codes") || len(inc.Regions) != 1 || inc.Regions[0].Code != "EMEA" {
		t.Errorf("the missed check-in reads %q in %v; want the wrong codes as its reason, in EMEA", inc.Title, inc.Regions)
	}
	escUUID := idOf(t, esc.ID)
	page := s.WaitReceived(t, "tier-1 page to the leader", func(r sink.Received) bool {
		return r.Page != nil && r.Page.EscalationID == escUUID && r.Page.Tier == 1 && stacktest.PagedPerson(r) == stacktest.ProtectionLeader
	})
	if page.At.Before(refused) {
		t.Errorf("the leader was paged at %s, before the third wrong code at %s", page.At, refused)
	}
	v := waitDetailSteps(t, s, stacktest.ProtectionLeader, d.DetailID, protection.StepMissed, 1)
	if n := stepCount(v, protection.StepCodeRefused); n != protection.MaxFailedCodes {
		t.Errorf("%d CHECK_IN_CODE_REFUSED steps, want %d", n, protection.MaxFailedCodes)
	}
	if len(v.CheckIns.Edges) != 0 || v.LastCheckIn != nil {
		t.Errorf("refused codes recorded a check-in: %+v", v.CheckIns.Edges)
	}
	if found := protectionEscalations(t, s, stacktest.GlobalLead, protection.IncidentMissedCheckIn, protectee); len(found) != 1 {
		t.Errorf("%d missed check-in incidents, want one", len(found))
	}
}
