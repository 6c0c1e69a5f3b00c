package stacktest

import (
	"context"
	"strings"
	"testing"
	"time"

	"meridian.dev/platform/notify"
	"meridian.dev/platform/notify/sink"
	"meridian.dev/worker/demo"
)

// Protection's pages go to people on their own channels: a reminder or a
// nearby incident by every channel a person has of their own (the demo
// personas all have an email address), a duress by email and Slack only.
// The organisation's webhook (Pages, WaitPage) sees only some of them, so
// the tests of those flows look at every channel, by person.

// Places of the London plan PlanDetail gives a detail.
var (
	LondonHeathrow = [2]float64{51.4700, -0.4543}
	LondonMayfair  = [2]float64{51.5101, -0.1470}
	LondonStThomas = [2]float64{51.4980, -0.1181}
)

// DetailPlan says what PlanDetail makes; the zero value of a field takes the
// default named beside it.
type DetailPlan struct {
	// Protectee is the protectee's name. Each test should use its own: the
	// titles of the incidents and pages of the detail carry it.
	Protectee string
	// ThreatLevel: HIGH.
	ThreatLevel string
	// Leader: ProtectionLeader. Agents: ProtectionAgent alone.
	Leader string
	Agents []string
	// Interval and Grace: the threat level's and the default (whole
	// seconds).
	Interval, Grace time.Duration
	// Planned leaves the detail PLANNED: no watch runs.
	Planned bool
}

// PlannedDetail is what PlanDetail made.
type PlannedDetail struct {
	ProtecteeID, DetailID, MovementID string
	// MovementArrives is when the movement (Heathrow → Mayfair) is
	// planned to arrive: tomorrow.
	MovementArrives time.Time
}

// PlanDetail makes a protectee and an EMEA detail through the API: the global
// lead creates both, the leader plans a movement (Heathrow to Mayfair,
// tomorrow) and a safe haven (St Thomas' Hospital), every agent sets their
// demo codes (CheckInCode, DuressCode) and, unless plan.Planned, the leader
// starts the detail. Nobody has checked in or reported a position.
func (s *Stack) PlanDetail(t testing.TB, plan DetailPlan) PlannedDetail {
	t.Helper()
	if plan.Protectee == "" {
		t.Fatal("stacktest: PlanDetail needs a protectee name")
	}
	if plan.ThreatLevel == "" {
		plan.ThreatLevel = "HIGH"
	}
	if plan.Leader == "" {
		plan.Leader = ProtectionLeader
	}
	if plan.Agents == nil {
		plan.Agents = []string{ProtectionAgent}
	}
	var out PlannedDetail
	var p struct {
		CreateProtectee struct{ Protectee struct{ ID string } }
	}
	s.GW.Query(t, s.Token(t, GlobalLead), `mutation($input: CreateProtecteeInput!) { createProtectee(input: $input) { protectee { id } } }`,
		map[string]any{"input": map[string]any{"name": plan.Protectee, "title": "Visiting director", "threatLevel": plan.ThreatLevel}}).Decode(t, &p)
	out.ProtecteeID = p.CreateProtectee.Protectee.ID

	now := time.Now().UTC().Truncate(time.Second)
	input := map[string]any{
		"protecteeId": out.ProtecteeID, "region": "EMEA", "leader": plan.Leader, "agents": plan.Agents,
		"startsAt": now.Add(-time.Hour).Format(time.RFC3339), "endsAt": now.Add(7 * 24 * time.Hour).Format(time.RFC3339),
	}
	if plan.Interval > 0 {
		input["checkInInterval"] = int(plan.Interval / time.Second)
	}
	if plan.Grace > 0 {
		input["gracePeriod"] = int(plan.Grace / time.Second)
	}
	var d struct {
		CreateDetail struct{ Detail struct{ ID string } }
	}
	s.GW.Query(t, s.Token(t, GlobalLead), `mutation($input: CreateDetailInput!) { createDetail(input: $input) { detail { id } } }`,
		map[string]any{"input": input}).Decode(t, &d)
	out.DetailID = d.CreateDetail.Detail.ID

	leader := s.Token(t, plan.Leader)
	departs := now.Add(24 * time.Hour).Truncate(time.Hour)
	out.MovementArrives = departs.Add(time.Hour)
	var m struct {
		AddMovement struct{ Movement struct{ ID string } }
	}
	s.GW.Query(t, leader, AddMovementMutation, map[string]any{"input": map[string]any{
		"detailId": out.DetailID, "from": PlaceVars("London", "GB", LondonHeathrow[0], LondonHeathrow[1]), "to": PlaceVars("London", "GB", LondonMayfair[0], LondonMayfair[1]),
		"plannedDeparture": departs.Format(time.RFC3339), "plannedArrival": out.MovementArrives.Format(time.RFC3339),
		"departureTimezone": "Europe/London", "arrivalTimezone": "Europe/London", "vehicle": "armoured saloon", "routeNotes": "M4, then the A4",
	}}).Decode(t, &m)
	out.MovementID = m.AddMovement.Movement.ID
	s.GW.Query(t, leader, AddSafeHavenMutation, map[string]any{"input": map[string]any{
		"detailId": out.DetailID, "kind": "HOSPITAL", "name": "St Thomas' Hospital", "place": PlaceVars("London", "GB", LondonStThomas[0], LondonStThomas[1]),
		"phone": "+44 20 7188 7188", "notes": "A&E entrance on Westminster Bridge Road",
	}}).Decode(t, &struct{}{})
	for _, a := range plan.Agents {
		s.SetCheckInCodes(t, a)
	}
	if !plan.Planned {
		s.GW.Query(t, leader, StartDetailMutation, map[string]any{"id": out.DetailID}).Decode(t, &struct{}{})
	}
	return out
}

// SetOwnWebhook has subject set their own webhook to the stack's Sink at
// /pages/<subject>: their pages then also arrive as signed JSON, whose Page
// a test can read (an email's is only text).
func (s *Stack) SetOwnWebhook(t testing.TB, subject string) {
	t.Helper()
	s.GW.Query(t, s.Token(t, subject), `mutation($input: SetContactMethodsInput!) { setContactMethods(input: $input) { contactMethods { email } } }`,
		map[string]any{"input": map[string]any{"webhookUrl": s.Sink.URL() + "/pages/" + subject}}).Decode(t, &struct{}{})
}

// PagedPerson is the demo persona a page reached, "" when it cannot tell:
// an email's addressee, the person a webhook page names as its only
// recipient (the organisation's webhook's as well as a person's own), a
// Slack message's path (/slack/<subject>).
func PagedPerson(r sink.Received) string {
	switch r.Channel {
	case notify.ChannelEmail:
		for _, p := range demo.Personas {
			if p.Email != "" && strings.EqualFold(p.Email, r.To) {
				return p.Subject
			}
		}
	case notify.ChannelWebhook:
		if r.Page != nil && len(r.Page.Recipients) == 1 {
			return r.Page.Recipients[0].Subject
		}
	case notify.ChannelSlack:
		return r.To
	}
	return ""
}

// WaitReceived returns the first page on any channel that match accepts,
// waiting for it up to WaitLimit; what names it in the failure. Unlike
// WaitPage, match sees emails and Slack messages too, whose Page is nil.
func (s *Stack) WaitReceived(t testing.TB, what string, match func(sink.Received) bool) sink.Received {
	t.Helper()
	deadline := time.Now().Add(WaitLimit)
	for {
		all := s.Sink.Received()
		for _, r := range all {
			if match(r) {
				return r
			}
		}
		s.RequireWorkerRunning(t)
		if time.Now().After(deadline) {
			t.Fatalf("no %s page on any channel within %s; %s", what, WaitLimit, s.pageSummary())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
		_ = s.Sink.WaitFor(ctx, func(rs []sink.Received) bool { return len(rs) > len(all) })
		cancel()
	}
}

// PagesWhere returns the pages the Sink took so far, on every channel, that
// match accepts, in arrival order.
func (s *Stack) PagesWhere(match func(sink.Received) bool) []sink.Received {
	var out []sink.Received
	for _, r := range s.Sink.Received() {
		if match(r) {
			out = append(out, r)
		}
	}
	return out
}
