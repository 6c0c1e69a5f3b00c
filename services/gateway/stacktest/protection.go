package stacktest

import (
	"testing"
	"time"

	"meridian.dev/worker/demo"
)

// Protection personas (demo.Personas) besides ProtectionAgent (pa-petra):
// a detail leader and an agent on no detail of the fixture's.
const (
	ProtectionLeader = "pa-liam"
	OtherAgent       = "pa-omar"
)

// Personas lists every demo persona, for tests that go through them all.
var Personas = []string{GlobalLead, AMERManager, EMEAManager, APACManager, TravelTeam, ProtectionAgent, ProtectionLeader,
	OtherAgent, Auditor, Admin}

// ProtectionTables are what protection mutations write: a stack counting
// them (Options.Tables) catches a refused one writing anything.
var ProtectionTables = []string{"protectees", "details", "detail_agents", "movements", "safe_havens", "advance_notes",
	"detail_positions", "check_ins", "check_in_codes", "detail_timeline", "protection_access_log"}

// CheckInCode and DuressCode are a demo agent's codes (demo.CheckInCodes).
func CheckInCode(subject string) string { return demo.CheckInCodes[subject][0] }
func DuressCode(subject string) string  { return demo.CheckInCodes[subject][1] }

// ProtecteeFields select every field of a protectee.
const ProtecteeFields = `id name title threatLevel maskedFields
  profile { homeAddress medical { bloodType allergies conditions } emergencyContacts { name phone relation }
    vehicles { plate description } photoRef }`

// DetailFields select every field of a detail, the sensitive ones included.
const DetailFields = `id status startsAt endsAt threatLevel checkInInterval gracePeriod nextCheckInDue maskedFields
  protectee { id name } region { code } leader { subject name } agents { subject name }
  lastCheckIn { at by { subject } position { latitude longitude } }
  lastPosition { latitude longitude at }
  movements { id seq from { city countryCode location { latitude longitude } } to { city countryCode location { latitude longitude } }
    plannedDeparture plannedArrival actualDeparture actualArrival departureTimezone arrivalTimezone vehicle routeNotes status }
  safeHavens { id kind name place { city countryCode } phone notes }
  advanceNotes { id movementId place notedFor note author { subject } createdAt }
  checkIns(first: 20) { edges { cursor node { id at by { subject } position { latitude longitude } note nextDue } } pageInfo { hasNextPage endCursor } }
  timeline { at kind actor note }`

// Protection documents: each takes $input (or $id) and answers with every
// field, so that a test reads what its caller may see in the same call.
const (
	ProtecteeQuery          = `query($id: ID!) { protectee(id: $id) { ` + ProtecteeFields + ` details { id } } }`
	DetailQuery             = `query($id: ID!) { detail(id: $id) { ` + DetailFields + ` } }`
	CreateProtecteeMutation = `mutation($input: CreateProtecteeInput!) { createProtectee(input: $input) { clientMutationId protectee { ` + ProtecteeFields + ` } } }`
	UpdateProfileMutation   = `mutation($input: UpdateProtecteeProfileInput!) { updateProtecteeProfile(input: $input) { clientMutationId protectee { ` + ProtecteeFields + ` } } }`
	CreateDetailMutation    = `mutation($input: CreateDetailInput!) { createDetail(input: $input) { clientMutationId detail { ` + DetailFields + ` } } }`
	AssignAgentsMutation    = `mutation($input: AssignDetailAgentsInput!) { assignDetailAgents(input: $input) { detail { id agents { subject } } } }`
	StartDetailMutation     = `mutation($id: ID!) { startDetail(input: { detailId: $id }) { detail { id status } } }`
	EndDetailMutation       = `mutation($id: ID!, $note: String) { endDetail(input: { detailId: $id, note: $note }) { detail { id status } } }`
	SetThreatLevelMutation  = `mutation($input: SetDetailThreatLevelInput!) { setDetailThreatLevel(input: $input) { detail { id threatLevel checkInInterval } } }`
	AddMovementMutation     = `mutation($input: AddMovementInput!) { addMovement(input: $input) { movement { id seq status } detail { id } } }`
	UpdateMovementMutation  = `mutation($input: UpdateMovementInput!) { updateMovement(input: $input) { movement { id status } detail { id } } }`
	AddSafeHavenMutation    = `mutation($input: AddSafeHavenInput!) { addSafeHaven(input: $input) { safeHaven { id name } detail { id } } }`
	AddAdvanceNoteMutation  = `mutation($input: AddAdvanceNoteInput!) { addAdvanceNote(input: $input) { advanceNote { id } detail { id } } }`
	ReportPositionMutation  = `mutation($input: ReportPositionInput!) { reportPosition(input: $input) { position { latitude longitude at } } }`
	CheckInMutation         = `mutation($input: CheckInInput!) { checkIn(input: $input) { clientMutationId checkIn { at nextDue } } }`
	SetCodesMutation        = `mutation($input: SetCheckInCodesInput!) { setCheckInCodes(input: $input) { updatedAt } }`
)

// PlaceVars is a PlaceInput.
func PlaceVars(city, country string, lat, lon float64) map[string]any {
	return map[string]any{"city": city, "countryCode": country, "latitude": lat, "longitude": lon}
}

// ProtectionFixture is a protectee with an ACTIVE EMEA detail led by
// ProtectionLeader with ProtectionAgent as its agent, and something in
// every sensitive field: the whole profile, a movement with places, times
// (planned and actual) and route notes, a safe haven with notes, an
// advance note with a place, a check-in with a position, and a reported
// position.
type ProtectionFixture struct {
	ProtecteeID, DetailID, MovementID, SafeHavenID, AdvanceNoteID string
	// Position is the one reported last, CheckInPosition the check-in's.
	Position, CheckInPosition [2]float64
}

// Fixture values, for tests that assert what a cleared caller reads.
const (
	FixtureHomeAddress = "1 Fixture Row, London"
	FixtureRouteNotes  = "A4 then Park Lane; alternate via the Mall"
	FixtureHavenNotes  = "Side door on the mews; ask for the duty manager"
	FixtureNotePlace   = "Mayfair hotel loading bay"
	FixtureNoteText    = "Loading bay shutter sticks; allow two minutes"
)

// NewProtectionFixture builds a ProtectionFixture through the API, each
// step as the persona who would take it. Its check-in interval is an hour,
// so no watch reminds or raises anything while a test runs.
func (s *Stack) NewProtectionFixture(t testing.TB) ProtectionFixture {
	t.Helper()
	var f ProtectionFixture
	now := time.Now().UTC().Truncate(time.Second)
	var p struct {
		CreateProtectee struct{ Protectee struct{ ID string } }
	}
	s.GW.Query(t, s.Token(t, GlobalLead), CreateProtecteeMutation, map[string]any{"input": map[string]any{
		"name": "Fixture Principal", "title": "Chair of the Board", "threatLevel": "HIGH",
		"profile": map[string]any{
			"homeAddress":       FixtureHomeAddress,
			"medical":           map[string]any{"bloodType": "AB+", "allergies": []any{"latex"}, "conditions": []any{"type 1 diabetes"}},
			"emergencyContacts": []any{map[string]any{"name": "Sam Principal", "phone": "+44 20 7946 0001", "relation": "sibling"}},
			"vehicles":          []any{map[string]any{"plate": "FX24 AAA", "description": "grey estate"}},
			"photoRef":          "vault://fixture/principal.jpg",
		},
	}}).Decode(t, &p)
	f.ProtecteeID = p.CreateProtectee.Protectee.ID

	var d struct {
		CreateDetail struct{ Detail struct{ ID string } }
	}
	s.GW.Query(t, s.Token(t, GlobalLead), CreateDetailMutation, map[string]any{"input": map[string]any{
		"protecteeId": f.ProtecteeID, "region": "EMEA", "leader": ProtectionLeader, "agents": []any{ProtectionAgent},
		"startsAt": now.Add(-time.Hour).Format(time.RFC3339), "endsAt": now.Add(7 * 24 * time.Hour).Format(time.RFC3339),
		"checkInInterval": 3600, "gracePeriod": 600,
	}}).Decode(t, &d)
	f.DetailID = d.CreateDetail.Detail.ID
	leader := s.Token(t, ProtectionLeader)
	agent := s.Token(t, ProtectionAgent)

	day := now.Add(24 * time.Hour).Truncate(time.Hour)
	var m struct {
		AddMovement struct{ Movement struct{ ID string } }
	}
	s.GW.Query(t, leader, AddMovementMutation, map[string]any{"input": map[string]any{
		"detailId": f.DetailID, "from": PlaceVars("London", "GB", 51.4700, -0.4543), "to": PlaceVars("London", "GB", 51.5101, -0.1470),
		"plannedDeparture": day.Format(time.RFC3339), "plannedArrival": day.Add(time.Hour).Format(time.RFC3339),
		"departureTimezone": "Europe/London", "arrivalTimezone": "Europe/London", "vehicle": "FX24 AAA", "routeNotes": FixtureRouteNotes,
	}}).Decode(t, &m)
	f.MovementID = m.AddMovement.Movement.ID
	s.GW.Query(t, leader, UpdateMovementMutation, map[string]any{"input": map[string]any{
		"movementId": f.MovementID, "status": "ARRIVED",
		"actualDeparture": now.Add(-50 * time.Minute).Format(time.RFC3339), "actualArrival": now.Add(-10 * time.Minute).Format(time.RFC3339),
	}}).Decode(t, &struct{}{})

	var h struct {
		AddSafeHaven struct{ SafeHaven struct{ ID string } }
	}
	s.GW.Query(t, leader, AddSafeHavenMutation, map[string]any{"input": map[string]any{
		"detailId": f.DetailID, "kind": "HOSPITAL", "name": "St Thomas' Hospital", "place": PlaceVars("London", "GB", 51.4980, -0.1181),
		"phone": "+44 20 7188 7188", "notes": FixtureHavenNotes,
	}}).Decode(t, &h)
	f.SafeHavenID = h.AddSafeHaven.SafeHaven.ID

	s.GW.Query(t, leader, StartDetailMutation, map[string]any{"id": f.DetailID}).Decode(t, &struct{}{})

	var n struct {
		AddAdvanceNote struct{ AdvanceNote struct{ ID string } }
	}
	s.GW.Query(t, agent, AddAdvanceNoteMutation, map[string]any{"input": map[string]any{
		"detailId": f.DetailID, "movementId": f.MovementID, "place": FixtureNotePlace, "notedFor": day.Format(time.RFC3339), "note": FixtureNoteText,
	}}).Decode(t, &n)
	f.AdvanceNoteID = n.AddAdvanceNote.AdvanceNote.ID

	s.SetCheckInCodes(t, ProtectionAgent)
	f.CheckInPosition = [2]float64{51.5033, -0.1196}
	s.GW.Query(t, agent, CheckInMutation, map[string]any{"input": map[string]any{
		"detailId": f.DetailID, "code": CheckInCode(ProtectionAgent), "latitude": f.CheckInPosition[0], "longitude": f.CheckInPosition[1],
		"note": "all quiet",
	}}).Decode(t, &struct{}{})
	f.Position = [2]float64{51.5079, -0.1283}
	s.GW.Query(t, agent, ReportPositionMutation, map[string]any{"input": map[string]any{
		"detailId": f.DetailID, "latitude": f.Position[0], "longitude": f.Position[1],
	}}).Decode(t, &struct{}{})
	return f
}

// SetCheckInCodes sets a demo agent's codes (demo.CheckInCodes) as that
// agent.
func (s *Stack) SetCheckInCodes(t testing.TB, subject string) {
	t.Helper()
	s.GW.Query(t, s.Token(t, subject), SetCodesMutation, map[string]any{"input": map[string]any{
		"code": CheckInCode(subject), "duressCode": DuressCode(subject),
	}}).Decode(t, &struct{}{})
}
