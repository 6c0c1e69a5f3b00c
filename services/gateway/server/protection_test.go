package server_test

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"meridian.dev/gateway/stacktest"
	"meridian.dev/platform/notify/sink"
	"meridian.dev/platform/protection"
)

type sinkPage = sink.Received

// Executive protection through the API: need-to-know for every role, the
// access log, who may change what, bad input, check-ins (duress among
// them) and the detail's live updates.

type protPerson struct{ Subject, Name string }

type protGeo struct{ Latitude, Longitude float64 }

type protPlace struct {
	City, CountryCode string
	Location          *protGeo
}

type protecteeView struct {
	ID, Name, Title, ThreatLevel string
	MaskedFields                 []string
	Profile                      *struct {
		HomeAddress *string
		Medical     *struct {
			BloodType             *string
			Allergies, Conditions []string
		}
		EmergencyContacts []struct{ Name, Phone, Relation string }
		Vehicles          []struct{ Plate, Description string }
		PhotoRef          *string
	}
	Details []struct{ ID string }
}

type checkInView struct {
	ID       string
	At       time.Time
	By       struct{ Subject string }
	Position *protGeo
	Note     *string
	NextDue  time.Time
}

type detailView struct {
	ID, Status, ThreatLevel      string
	StartsAt, EndsAt             time.Time
	CheckInInterval, GracePeriod int
	NextCheckInDue               *time.Time
	MaskedFields                 []string
	Protectee                    struct{ ID, Name string }
	Region                       struct{ Code string }
	Leader                       protPerson
	Agents                       []protPerson
	LastCheckIn                  *struct {
		At       time.Time
		By       struct{ Subject string }
		Position *protGeo
	}
	LastPosition *struct {
		Latitude, Longitude float64
		At                  time.Time
	}
	Movements []struct {
		ID                                 string
		Seq                                int
		From, To                           *protPlace
		PlannedDeparture, PlannedArrival   *time.Time
		ActualDeparture, ActualArrival     *time.Time
		DepartureTimezone, ArrivalTimezone string
		Vehicle                            string
		RouteNotes                         *string
		Status                             string
	}
	SafeHavens []struct {
		ID, Kind, Name string
		Place          protPlace
		Phone          string
		Notes          *string
	}
	AdvanceNotes []struct {
		ID         string
		MovementID *string
		Place      *string
		NotedFor   time.Time
		Note       *string
		Author     struct{ Subject string }
	}
	CheckIns struct {
		Edges []struct {
			Cursor string
			Node   checkInView
		}
	}
	Timeline []struct {
		At                time.Time
		Kind, Actor, Note string
	}
}

// nulls names the sensitive fields of a detail that read as null, by the
// names maskedFields uses. The fixture holds something in every one, so a
// cleared caller's list is empty.
func (v detailView) nulls() []string {
	var out []string
	add := func(field string, null bool) {
		if null && !slices.Contains(out, field) {
			out = append(out, field)
		}
	}
	add(protection.FieldLastPosition, v.LastPosition == nil)
	add(protection.FieldLastCheckInPos, v.LastCheckIn == nil || v.LastCheckIn.Position == nil)
	add(protection.FieldCheckInPositions, len(v.CheckIns.Edges) == 0)
	for _, e := range v.CheckIns.Edges {
		add(protection.FieldCheckInPositions, e.Node.Position == nil)
	}
	add(protection.FieldMovementPlaces, len(v.Movements) == 0)
	add(protection.FieldMovementTimes, len(v.Movements) == 0)
	add(protection.FieldMovementRouteNotes, len(v.Movements) == 0)
	for _, m := range v.Movements {
		add(protection.FieldMovementPlaces, m.From == nil || m.To == nil)
		add(protection.FieldMovementTimes, m.PlannedDeparture == nil || m.PlannedArrival == nil || m.ActualDeparture == nil || m.ActualArrival == nil)
		add(protection.FieldMovementRouteNotes, m.RouteNotes == nil)
	}
	add(protection.FieldSafeHavenNotes, len(v.SafeHavens) == 0)
	for _, h := range v.SafeHavens {
		add(protection.FieldSafeHavenNotes, h.Notes == nil)
	}
	add(protection.FieldAdvanceNotes, len(v.AdvanceNotes) == 0)
	for _, n := range v.AdvanceNotes {
		add(protection.FieldAdvanceNotes, n.Place == nil || n.Note == nil)
	}
	add(protection.FieldTimelineNotes, len(v.Timeline) == 0)
	for _, s := range v.Timeline {
		add(protection.FieldTimelineNotes, s.Note == "")
	}
	slices.Sort(out)
	return out
}

// allDetailFields is what a masked detail lists, sorted.
var allDetailFields = sortedCopy(protection.FieldLastPosition, protection.FieldLastCheckInPos, protection.FieldCheckInPositions,
	protection.FieldMovementPlaces, protection.FieldMovementTimes, protection.FieldMovementRouteNotes,
	protection.FieldSafeHavenNotes, protection.FieldAdvanceNotes, protection.FieldTimelineNotes)

func sortedCopy(s ...string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}

// readDetail reads detail id as who; nil with the answer when it is not
// there for them.
func readDetail(t testing.TB, s *stacktest.Stack, who, id string) (*detailView, stacktest.Result) {
	t.Helper()
	r := s.GW.Query(t, s.Token(t, who), stacktest.DetailQuery, map[string]any{"id": id})
	var out struct{ Detail *detailView }
	if err := json.Unmarshal(r.Data, &out); err != nil && len(r.Data) > 0 {
		t.Fatalf("decode detail: %v: %s", err, r.Body)
	}
	return out.Detail, r
}

func readProtectee(t testing.TB, s *stacktest.Stack, who, id string) (*protecteeView, stacktest.Result) {
	t.Helper()
	r := s.GW.Query(t, s.Token(t, who), stacktest.ProtecteeQuery, map[string]any{"id": id})
	var out struct{ Protectee *protecteeView }
	if err := json.Unmarshal(r.Data, &out); err != nil && len(r.Data) > 0 {
		t.Fatalf("decode protectee: %v: %s", err, r.Body)
	}
	return out.Protectee, r
}

// protGlobalID is the ID the API would give an object of kind with this UUID.
func protGlobalID(kind string, id uuid.UUID) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + id.String()))
}

// requireNotFound: the answer is null with one NOT_FOUND error, word for
// word what an ID naming nothing gets.
func requireNotFound(t testing.TB, what string, r stacktest.Result, unknown stacktest.Result) {
	t.Helper()
	e := r.Refused(t, "NOT_FOUND")
	u := unknown.Refused(t, "NOT_FOUND")
	if e.Message != u.Message {
		t.Errorf("%s: message %q, an unknown ID gets %q: the difference tells that it exists", what, e.Message, u.Message)
	}
	if !strings.Contains(string(r.Data), "null") {
		t.Errorf("%s: data %s, want null", what, r.Data)
	}
}

type standingCase struct {
	who      string
	standing protection.Standing
}

// Standings on the fixture (an ACTIVE EMEA detail led by pa-liam with
// pa-petra): cleared are global leads and the people on it; masked are
// admins, auditors and the managers of its region; nobody else sees it.
var fixtureStandings = []standingCase{
	{stacktest.GlobalLead, protection.Cleared},
	{stacktest.ProtectionLeader, protection.Cleared},
	{stacktest.ProtectionAgent, protection.Cleared},
	{stacktest.EMEAManager, protection.Masked},
	{stacktest.Auditor, protection.Masked},
	{stacktest.Admin, protection.Masked},
	{stacktest.AMERManager, protection.Hidden},
	{stacktest.APACManager, protection.Hidden},
	{stacktest.TravelTeam, protection.Hidden},
	{stacktest.OtherAgent, protection.Hidden},
}

// TestProtectionMaskingForEveryRole reads a protectee and its detail, with
// something in every sensitive field, as every persona: exactly the
// sensitive fields are null for those not cleared and named in
// maskedFields, nothing is for those cleared, and those with no business
// there get what an unknown ID gets. After the detail ends, its agent is
// no longer cleared.
func TestProtectionMaskingForEveryRole(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{})
	f := s.NewProtectionFixture(t)
	_, unknownDetail := readDetail(t, s, stacktest.GlobalLead, protGlobalID("Detail", uuid.New()))
	_, unknownProtectee := readProtectee(t, s, stacktest.GlobalLead, protGlobalID("Protectee", uuid.New()))

	for _, c := range fixtureStandings {
		t.Run(c.who, func(t *testing.T) {
			d, dr := readDetail(t, s, c.who, f.DetailID)
			p, pr := readProtectee(t, s, c.who, f.ProtecteeID)
			if c.standing == protection.Hidden {
				requireNotFound(t, "detail", dr, unknownDetail)
				requireNotFound(t, "protectee", pr, unknownProtectee)
				requireAbsentFromLists(t, s, c.who, f)
				requireNullNode(t, s, c.who, f.DetailID)
				requireNullNode(t, s, c.who, f.ProtecteeID)
				return
			}
			dr.Decode(t, &struct{}{})
			pr.Decode(t, &struct{}{})
			requireDetailMasking(t, *d, c.standing)
			requireProtecteeMasking(t, *p, c.standing)
			if len(p.Details) != 1 || p.Details[0].ID != f.DetailID {
				t.Errorf("protectee.details = %v, want the fixture's detail", p.Details)
			}
			requireNearestSafeHavens(t, s, c.who, f.DetailID, c.standing)
		})
	}

	requireAffectedDetails(t, s, f)

	s.GW.Query(t, s.Token(t, stacktest.ProtectionLeader), stacktest.EndDetailMutation, map[string]any{"id": f.DetailID, "note": "principal home"}).Decode(t, &struct{}{})
	for _, who := range []string{stacktest.ProtectionAgent, stacktest.ProtectionLeader} {
		d, r := readDetail(t, s, who, f.DetailID)
		r.Decode(t, &struct{}{})
		if d.Status != "ENDED" {
			t.Fatalf("status %s after endDetail", d.Status)
		}
		requireDetailMasking(t, *d, protection.Masked)
		p, pr := readProtectee(t, s, who, f.ProtecteeID)
		pr.Decode(t, &struct{}{})
		requireProtecteeMasking(t, *p, protection.Masked)
		requireNearestSafeHavens(t, s, who, f.DetailID, protection.Masked)
	}
	d, r := readDetail(t, s, stacktest.GlobalLead, f.DetailID)
	r.Decode(t, &struct{}{})
	if len(d.nulls()) != 0 {
		t.Errorf("the global lead reads %v as null on an ended detail", d.nulls())
	}
}

func requireDetailMasking(t testing.TB, d detailView, st protection.Standing) {
	t.Helper()
	want := []string{}
	if st != protection.Cleared {
		want = allDetailFields
	}
	if got := sortedCopy(d.nulls()...); !slices.Equal(got, want) {
		t.Errorf("null sensitive fields %v, want %v", got, want)
	}
	if got := sortedCopy(d.MaskedFields...); !slices.Equal(got, want) {
		t.Errorf("maskedFields %v, want %v", got, want)
	}
	// What is never masked is there for everyone who sees the detail.
	if d.Leader.Subject != stacktest.ProtectionLeader || !strings.Contains(d.Leader.Name, "Liam") || len(d.Agents) != 1 ||
		d.Agents[0].Subject != stacktest.ProtectionAgent || d.Region.Code != "EMEA" || d.CheckInInterval != 3600 || d.GracePeriod != 600 {
		t.Errorf("unmasked fields wrong: %+v", d)
	}
	if len(d.Movements) != 1 || d.Movements[0].Vehicle != "FX24 AAA" || d.Movements[0].DepartureTimezone != "Europe/London" ||
		len(d.SafeHavens) != 1 || d.SafeHavens[0].Phone == "" || d.SafeHavens[0].Place.City != "London" ||
		len(d.AdvanceNotes) != 1 || d.AdvanceNotes[0].Author.Subject != stacktest.ProtectionAgent ||
		len(d.CheckIns.Edges) != 1 || d.CheckIns.Edges[0].Node.By.Subject != stacktest.ProtectionAgent || d.LastCheckIn == nil {
		t.Errorf("the plan and the check-ins are not all listed: %+v", d)
	}
	if st == protection.Cleared {
		m := d.Movements[0]
		if m.RouteNotes == nil || *m.RouteNotes != stacktest.FixtureRouteNotes || m.From.City != "London" || m.From.Location == nil ||
			*d.SafeHavens[0].Notes != stacktest.FixtureHavenNotes || *d.AdvanceNotes[0].Place != stacktest.FixtureNotePlace ||
			*d.AdvanceNotes[0].Note != stacktest.FixtureNoteText {
			t.Errorf("a cleared caller reads wrong values: %+v", d)
		}
	}
}

func requireProtecteeMasking(t testing.TB, p protecteeView, st protection.Standing) {
	t.Helper()
	if p.Name != "Fixture Principal" || p.ThreatLevel != "HIGH" {
		t.Errorf("protectee %+v", p)
	}
	if st != protection.Cleared {
		if p.Profile != nil || !slices.Equal(p.MaskedFields, []string{protection.FieldProfile}) {
			t.Errorf("masked protectee: profile %+v, maskedFields %v; want null and [profile]", p.Profile, p.MaskedFields)
		}
		return
	}
	if p.Profile == nil || len(p.MaskedFields) != 0 {
		t.Fatalf("cleared protectee: profile %+v, maskedFields %v", p.Profile, p.MaskedFields)
	}
	pr := p.Profile
	if pr.HomeAddress == nil || *pr.HomeAddress != stacktest.FixtureHomeAddress || pr.Medical == nil || *pr.Medical.BloodType != "AB+" ||
		!slices.Equal(pr.Medical.Allergies, []string{"latex"}) || len(pr.EmergencyContacts) != 1 || len(pr.Vehicles) != 1 ||
		pr.Vehicles[0].Plate != "FX24 AAA" || pr.PhotoRef == nil {
		t.Errorf("cleared profile %+v", *pr)
	}
}

// requireNearestSafeHavens: cleared callers get the havens nearest the last
// position; masked ones FORBIDDEN; hidden ones NOT_FOUND (checked with the
// detail itself).
func requireNearestSafeHavens(t testing.TB, s *stacktest.Stack, who, detailID string, st protection.Standing) {
	t.Helper()
	r := s.GW.Query(t, s.Token(t, who), `query($id: ID!) { nearestSafeHavens(detailId: $id) { distanceKm safeHaven { name notes } } }`,
		map[string]any{"id": detailID})
	switch st {
	case protection.Cleared:
		var out struct {
			NearestSafeHavens []struct {
				DistanceKm float64
				SafeHaven  struct {
					Name  string
					Notes *string
				}
			}
		}
		r.Decode(t, &out)
		if len(out.NearestSafeHavens) != 1 || out.NearestSafeHavens[0].DistanceKm <= 0 || out.NearestSafeHavens[0].DistanceKm > 5 ||
			out.NearestSafeHavens[0].SafeHaven.Notes == nil {
			t.Errorf("nearestSafeHavens as %s: %s", who, r.Body)
		}
	case protection.Masked:
		r.Refused(t, "FORBIDDEN")
	default:
		r.Refused(t, "NOT_FOUND")
	}
}

// requireAbsentFromLists: a hidden caller's lists do not hold the fixture.
func requireAbsentFromLists(t testing.TB, s *stacktest.Stack, who string, f stacktest.ProtectionFixture) {
	t.Helper()
	var out struct {
		Protectees struct {
			Edges []struct{ Node struct{ ID string } }
		}
		Details struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	s.GW.Query(t, s.Token(t, who), `{ protectees(first: 500) { edges { node { id } } } details(first: 500) { edges { node { id } } } }`, nil).Decode(t, &out)
	for _, e := range out.Protectees.Edges {
		if e.Node.ID == f.ProtecteeID {
			t.Errorf("%s lists the protectee", who)
		}
	}
	for _, e := range out.Details.Edges {
		if e.Node.ID == f.DetailID {
			t.Errorf("%s lists the detail", who)
		}
	}
	r := s.GW.Query(t, s.Token(t, who), `query($id: ID!) { nearestSafeHavens(detailId: $id) { distanceKm } }`, map[string]any{"id": f.DetailID})
	r.Refused(t, "NOT_FOUND")
}

// requireNullNode: node(id) answers null, as for an ID naming nothing.
func requireNullNode(t testing.TB, s *stacktest.Stack, who, id string) {
	t.Helper()
	var out struct{ Node *struct{ ID string } }
	s.GW.Query(t, s.Token(t, who), `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id}).Decode(t, &out)
	if out.Node != nil {
		t.Errorf("node(%s) as %s = %+v, want null", id, who, out.Node)
	}
}

type accessView struct {
	At          time.Time
	Actor       protPerson
	ProtecteeID string `json:"protecteeId"`
	DetailID    *string
	Fields      []string
	TraceID     string `json:"traceId"`
}

const accessLogQuery = `query($id: ID, $first: Int) { protectionAccessLog(protecteeId: $id, first: $first) {
  edges { cursor node { at actor { subject name } protecteeId detailId fields traceId } } pageInfo { hasNextPage endCursor } } }`

// accessLogOf is the access log of protectee id (newest first), as read by
// the auditor.
func accessLogOf(t testing.TB, s *stacktest.Stack, id string) []accessView {
	t.Helper()
	var out struct {
		ProtectionAccessLog struct{ Edges []struct{ Node accessView } }
	}
	s.GW.Query(t, s.Token(t, stacktest.Auditor), accessLogQuery, map[string]any{"id": id, "first": 500}).Decode(t, &out)
	var list []accessView
	for _, e := range out.ProtectionAccessLog.Edges {
		list = append(list, e.Node)
	}
	return list
}

// newEntries reads the access log until it holds n entries more than
// before (newest first), and returns those.
func newEntries(t testing.TB, s *stacktest.Stack, id string, before []accessView, n int) []accessView {
	t.Helper()
	now := accessLogOf(t, s, id)
	if len(now) != len(before)+n {
		t.Fatalf("access log has %d entries, want %d more than the %d before: %+v", len(now), n, len(before), now)
	}
	return now[:n]
}

// TestProtectionAccessLog: every sensitive field a cleared caller is given
// is logged (who, which protectee and detail, which fields, the trace), one
// entry per protectee and detail however many objects were read; masked
// and hidden reads log nothing; only auditors, global leads and admins
// read the log.
func TestProtectionAccessLog(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{NoWorker: true})
	f := s.NewProtectionFixture(t)
	before := accessLogOf(t, s, f.ProtecteeID)
	if len(before) == 0 {
		t.Fatal("building the fixture, the global lead read sensitive fields (createDetail answers with them), and nothing was logged")
	}

	for _, c := range fixtureStandings {
		if c.standing != protection.Cleared {
			readDetail(t, s, c.who, f.DetailID)
			readProtectee(t, s, c.who, f.ProtecteeID)
		}
	}
	if after := accessLogOf(t, s, f.ProtecteeID); len(after) != len(before) {
		t.Fatalf("masked and hidden reads wrote %d access log entries: %+v", len(after)-len(before), after[:len(after)-len(before)])
	}

	d, r := readDetail(t, s, stacktest.ProtectionAgent, f.DetailID)
	r.Decode(t, &struct{}{})
	got := newEntries(t, s, f.ProtecteeID, before, 1)[0]
	if got.Actor.Subject != stacktest.ProtectionAgent || got.ProtecteeID != f.ProtecteeID || got.DetailID == nil || *got.DetailID != d.ID ||
		!slices.Equal(got.Fields, allDetailFields) || !traceIDPattern.MatchString(got.TraceID) {
		t.Errorf("the agent's read of the detail logged %+v; want pa-petra, the detail, %v, a trace ID", got, allDetailFields)
	}
	if time.Since(got.At) > time.Minute || got.Actor.Name == got.Actor.Subject {
		t.Errorf("entry at %s by %+v", got.At, got.Actor)
	}

	before = accessLogOf(t, s, f.ProtecteeID)
	_, r = readProtectee(t, s, stacktest.GlobalLead, f.ProtecteeID)
	r.Decode(t, &struct{}{})
	got = newEntries(t, s, f.ProtecteeID, before, 1)[0]
	if got.Actor.Subject != stacktest.GlobalLead || got.DetailID != nil || !slices.Equal(got.Fields, []string{protection.FieldProfile}) {
		t.Errorf("the global lead's read of the profile logged %+v", got)
	}

	// One document reading the detail three ways (a list, by ID, through
	// its protectee) and its nearest havens: one entry for the detail.
	before = accessLogOf(t, s, f.ProtecteeID)
	s.GW.Query(t, s.Token(t, stacktest.ProtectionLeader), `query($d: ID!, $p: ID!) {
	  details(first: 50) { edges { node { id lastPosition { latitude } movements { from { city } } } } }
	  detail(id: $d) { lastPosition { latitude } }
	  protectee(id: $p) { details { safeHavens { notes } } }
	  nearestSafeHavens(detailId: $d) { distanceKm safeHaven { notes } } }`,
		map[string]any{"d": f.DetailID, "p": f.ProtecteeID}).Decode(t, &struct{}{})
	got = newEntries(t, s, f.ProtecteeID, before, 1)[0]
	if want := sortedCopy(protection.FieldLastPosition, protection.FieldMovementPlaces, protection.FieldSafeHavenNotes, protection.FieldNearestSafeHavens); got.Actor.Subject != stacktest.ProtectionLeader || !slices.Equal(got.Fields, want) {
		t.Errorf("one read of the detail three ways logged %+v, want one entry with %v", got, want)
	}

	// Who may read the log.
	for _, who := range stacktest.Personas {
		r := s.GW.Query(t, s.Token(t, who), accessLogQuery, map[string]any{"first": 1})
		if slices.Contains([]string{stacktest.Auditor, stacktest.GlobalLead, stacktest.Admin}, who) {
			r.Decode(t, &struct{}{})
		} else {
			r.Refused(t, "FORBIDDEN")
		}
	}
}

// protMutation is one protection mutation for the policy matrix: allowed
// are the personas the policy lets do it (in the order they try), object
// says whether it acts on the fixture's protectee or detail (a caller who
// may not know it exists is then told NOT_FOUND, not FORBIDDEN).
type protMutation struct {
	name    string
	doc     string
	vars    func(who string) map[string]any
	allowed []string
	object  bool
}

// TestProtectionMutationMatrix sends every protection mutation as every
// persona on a detail led by pa-liam with pa-petra as its agent (pa-omar is
// on no detail): refusals are FORBIDDEN, or NOT_FOUND for those who may not
// know the detail exists, and write nothing; those allowed are never
// refused so.
func TestProtectionMutationMatrix(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{NoWorker: true, Tables: stacktest.ProtectionTables})
	f := s.NewProtectionFixture(t)
	s.SetCheckInCodes(t, stacktest.ProtectionLeader)
	planned := createDetail(t, s, f.ProtecteeID, time.Now())
	now := time.Now().UTC().Truncate(time.Second)
	lead, admin, leader, agent, other := stacktest.GlobalLead, stacktest.Admin, stacktest.ProtectionLeader, stacktest.ProtectionAgent, stacktest.OtherAgent
	input := func(in map[string]any) func(string) map[string]any {
		return func(string) map[string]any { return map[string]any{"input": in} }
	}
	mutations := []protMutation{
		{"createProtectee", stacktest.CreateProtecteeMutation, input(map[string]any{"name": "Matrix Principal", "threatLevel": "LOW"}),
			[]string{lead, admin}, false},
		{"updateProtecteeProfile", stacktest.UpdateProfileMutation, input(map[string]any{"protecteeId": f.ProtecteeID,
			"profile": map[string]any{"homeAddress": "2 Matrix Row"}}), []string{leader, lead, admin}, true},
		{"createDetail", stacktest.CreateDetailMutation, input(map[string]any{"protecteeId": f.ProtecteeID, "region": "EMEA",
			"leader": leader, "startsAt": now.Add(48 * time.Hour).Format(time.RFC3339), "endsAt": now.Add(72 * time.Hour).Format(time.RFC3339)}),
			[]string{lead, admin}, true},
		{"assignDetailAgents", stacktest.AssignAgentsMutation, input(map[string]any{"detailId": f.DetailID, "agents": []any{agent}}),
			[]string{leader, lead, admin}, true},
		{"startDetail", stacktest.StartDetailMutation, func(string) map[string]any { return map[string]any{"id": planned} },
			[]string{leader, lead, admin}, true},
		{"setDetailThreatLevel", stacktest.SetThreatLevelMutation, input(map[string]any{"detailId": f.DetailID, "threatLevel": "CRITICAL",
			"checkInInterval": 3600}), []string{leader, lead, admin}, true},
		{"addMovement", stacktest.AddMovementMutation, input(map[string]any{"detailId": f.DetailID,
			"from": stacktest.PlaceVars("London", "GB", 51.5, -0.12), "to": stacktest.PlaceVars("Paris", "FR", 48.85, 2.35),
			"plannedDeparture": now.Add(30 * time.Hour).Format(time.RFC3339), "plannedArrival": now.Add(33 * time.Hour).Format(time.RFC3339),
			"departureTimezone": "Europe/London", "arrivalTimezone": "Europe/Paris"}), []string{leader, lead, admin}, true},
		{"updateMovement", stacktest.UpdateMovementMutation, input(map[string]any{"movementId": f.MovementID, "routeNotes": "via the Embankment"}),
			[]string{leader, lead, admin}, true}, // a movement of a detail hidden from the caller is NOT_FOUND
		{"addSafeHaven", stacktest.AddSafeHavenMutation, input(map[string]any{"detailId": f.DetailID, "kind": "POLICE", "name": "Charing Cross",
			"place": stacktest.PlaceVars("London", "GB", 51.5096, -0.1234), "phone": "+44 20 7321 7514"}), []string{leader, lead, admin}, true},
		{"addAdvanceNote", stacktest.AddAdvanceNoteMutation, input(map[string]any{"detailId": f.DetailID, "notedFor": now.Format(time.RFC3339),
			"note": "matrix note"}), []string{agent, leader, lead, admin}, true},
		{"reportPosition", stacktest.ReportPositionMutation, input(map[string]any{"detailId": f.DetailID, "latitude": 51.5, "longitude": -0.12}),
			[]string{agent, leader}, true},
		{"checkIn", stacktest.CheckInMutation, func(who string) map[string]any {
			code := stacktest.CheckInCode(who)
			if code == "" {
				code = "000000" // someone without codes: refused for who they are before the code counts
			}
			return map[string]any{"input": map[string]any{"detailId": f.DetailID, "code": code}}
		}, []string{agent, leader}, true},
		{"setCheckInCodes", stacktest.SetCodesMutation, input(map[string]any{"code": "314159", "duressCode": "271828"}),
			[]string{agent, leader, other}, false},
		{"endDetail", stacktest.EndDetailMutation, func(string) map[string]any { return map[string]any{"id": f.DetailID, "note": "matrix"} },
			[]string{leader, lead, admin}, true},
	}
	standing := map[string]protection.Standing{}
	for _, c := range fixtureStandings {
		standing[c.who] = c.standing
	}

	// Every refusal first, while nothing else writes.
	for _, m := range mutations {
		for _, who := range stacktest.Personas {
			if slices.Contains(m.allowed, who) {
				continue
			}
			want := "FORBIDDEN"
			if m.object && standing[who] == protection.Hidden {
				want = "NOT_FOUND"
			}
			s.Unchanged(t, func() {
				r := s.GW.Query(t, s.Token(t, who), m.doc, m.vars(who))
				if len(r.Errors) != 1 || r.Errors[0].Code() != want {
					t.Errorf("%s as %s: want %s, got %s", m.name, who, want, r.Body)
				}
			})
		}
	}
	// Then what each persona may do: done, or refused only because someone
	// allowed did it first (a detail started or ended twice).
	for _, m := range mutations {
		for _, who := range m.allowed {
			r := s.GW.Query(t, s.Token(t, who), m.doc, m.vars(who))
			for _, e := range r.Errors {
				if e.Code() != "CONFLICT" {
					t.Errorf("%s as %s, whom the policy allows, was refused: %s", m.name, who, r.Body)
				}
			}
			t.Logf("%s as %s: %s", m.name, who, summary(r))
		}
	}
	if d, r := readDetail(t, s, stacktest.GlobalLead, f.DetailID); r.Status != 200 || d == nil || d.Status != "ENDED" || d.ThreatLevel != "CRITICAL" {
		t.Errorf("after the matrix the detail is %+v: %s", d, r.Body)
	}
	if d, _ := readDetail(t, s, stacktest.GlobalLead, planned); d == nil || d.Status != "ACTIVE" {
		t.Errorf("the planned detail is %+v after startDetail", d)
	}
}

// createDetail creates a PLANNED EMEA detail for protectee (leader pa-liam,
// agent pa-petra) as the global lead and returns its ID.
func createDetail(t testing.TB, s *stacktest.Stack, protecteeID string, now time.Time) string {
	t.Helper()
	var out struct {
		CreateDetail struct{ Detail struct{ ID, Status string } }
	}
	s.GW.Query(t, s.Token(t, stacktest.GlobalLead), stacktest.CreateDetailMutation, map[string]any{"input": map[string]any{
		"protecteeId": protecteeID, "region": "EMEA", "leader": stacktest.ProtectionLeader, "agents": []any{stacktest.ProtectionAgent},
		"startsAt": now.Add(24 * time.Hour).UTC().Format(time.RFC3339), "endsAt": now.Add(96 * time.Hour).UTC().Format(time.RFC3339),
		"checkInInterval": 3600,
	}}).Decode(t, &out)
	if out.CreateDetail.Detail.Status != "PLANNED" {
		t.Fatalf("a new detail is %s", out.CreateDetail.Detail.Status)
	}
	return out.CreateDetail.Detail.ID
}

// TestProtectionInputRefusals: bad input is refused with a stable code,
// naming the field where one is at fault, and writes nothing.
func TestProtectionInputRefusals(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{NoWorker: true, Tables: stacktest.ProtectionTables})
	f := s.NewProtectionFixture(t)
	planned := createDetail(t, s, f.ProtecteeID, time.Now())
	now := time.Now().UTC().Truncate(time.Second)
	unknown := protGlobalID("Detail", uuid.New())
	checkIn := func(detail, code string, extra map[string]any) map[string]any {
		in := map[string]any{"detailId": detail, "code": code}
		for k, v := range extra {
			in[k] = v
		}
		return map[string]any{"input": in}
	}
	movement := func(depart, arrive time.Time, from map[string]any) map[string]any {
		return map[string]any{"input": map[string]any{"detailId": f.DetailID, "from": from, "to": stacktest.PlaceVars("London", "GB", 51.51, -0.14),
			"plannedDeparture": depart.Format(time.RFC3339), "plannedArrival": arrive.Format(time.RFC3339),
			"departureTimezone": "Europe/London", "arrivalTimezone": "Europe/London"}}
	}
	london := stacktest.PlaceVars("London", "GB", 51.47, -0.45)
	code := stacktest.CheckInCode(stacktest.ProtectionAgent)
	cases := []struct {
		name, who, doc string
		vars           map[string]any
		code, field    string
	}{
		{"check-in to an unknown detail", stacktest.ProtectionAgent, stacktest.CheckInMutation, checkIn(unknown, code, nil), "NOT_FOUND", ""},
		{"movement of an unknown detail", stacktest.GlobalLead, stacktest.AddMovementMutation, map[string]any{"input": map[string]any{
			"detailId": unknown, "from": london, "to": london, "plannedDeparture": now.Format(time.RFC3339), "plannedArrival": now.Format(time.RFC3339),
			"departureTimezone": "Europe/London", "arrivalTimezone": "Europe/London"}}, "NOT_FOUND", ""},
		{"check-in to a planned detail", stacktest.ProtectionAgent, stacktest.CheckInMutation, checkIn(planned, code, nil), "CONFLICT", ""},
		{"check-in by a global lead, not on the detail", stacktest.GlobalLead, stacktest.CheckInMutation, checkIn(f.DetailID, code, nil), "FORBIDDEN", ""},
		{"check-in by its region's manager", stacktest.EMEAManager, stacktest.CheckInMutation, checkIn(f.DetailID, code, nil), "FORBIDDEN", ""},
		// pa-omar has no business with the detail: not even whether it exists.
		{"check-in by an agent of no detail of it", stacktest.OtherAgent, stacktest.CheckInMutation, checkIn(f.DetailID, code, nil), "NOT_FOUND", ""},
		{"movement arriving before it departs", stacktest.ProtectionLeader, stacktest.AddMovementMutation,
			movement(now.Add(5*time.Hour), now.Add(4*time.Hour), london), "BAD_USER_INPUT", "plannedArrival"},
		{"movement from a place without coordinates", stacktest.ProtectionLeader, stacktest.AddMovementMutation,
			movement(now, now.Add(time.Hour), map[string]any{"city": "London", "countryCode": "GB"}), "BAD_USER_INPUT", "from.latitude"},
		{"movement from a longitude out of range", stacktest.ProtectionLeader, stacktest.AddMovementMutation,
			movement(now, now.Add(time.Hour), stacktest.PlaceVars("London", "GB", 51.47, 181)), "BAD_USER_INPUT", "from.longitude"},
		{"position with a latitude out of range", stacktest.ProtectionAgent, stacktest.ReportPositionMutation, map[string]any{"input": map[string]any{
			"detailId": f.DetailID, "latitude": 91.0, "longitude": 0.0}}, "BAD_USER_INPUT", "latitude"},
		{"check-in with a longitude out of range", stacktest.ProtectionAgent, stacktest.CheckInMutation,
			checkIn(f.DetailID, code, map[string]any{"latitude": 51.5, "longitude": -180.5}), "BAD_USER_INPUT", "longitude"},
		{"check-in with a latitude and no longitude", stacktest.ProtectionAgent, stacktest.CheckInMutation,
			checkIn(f.DetailID, code, map[string]any{"latitude": 51.5}), "BAD_USER_INPUT", "longitude"},
		{"safe haven out of range", stacktest.ProtectionLeader, stacktest.AddSafeHavenMutation, map[string]any{"input": map[string]any{
			"detailId": f.DetailID, "kind": "HOTEL", "name": "Nowhere", "place": stacktest.PlaceVars("London", "GB", -95, 0)}}, "BAD_USER_INPUT", "place.latitude"},
		{"check-in code shorter than 6", stacktest.ProtectionAgent, stacktest.CheckInMutation, checkIn(f.DetailID, "12345", nil), "BAD_USER_INPUT", "code"},
		{"codes: a code shorter than 6", stacktest.ProtectionAgent, stacktest.SetCodesMutation, map[string]any{"input": map[string]any{
			"code": "12345", "duressCode": "987654"}}, "BAD_USER_INPUT", "code"},
		{"codes: a duress code shorter than 6", stacktest.ProtectionAgent, stacktest.SetCodesMutation, map[string]any{"input": map[string]any{
			"code": "123456", "duressCode": "98765"}}, "BAD_USER_INPUT", "duressCode"},
		{"codes: the duress code equal to the code", stacktest.ProtectionAgent, stacktest.SetCodesMutation, map[string]any{"input": map[string]any{
			"code": "123456", "duressCode": "123456"}}, "BAD_USER_INPUT", "duressCode"},
		{"a detail ID that names a protectee", stacktest.ProtectionAgent, stacktest.CheckInMutation, checkIn(f.ProtecteeID, code, nil), "BAD_USER_INPUT", "detailId"},
		{"a detail ending before it starts", stacktest.GlobalLead, stacktest.CreateDetailMutation, map[string]any{"input": map[string]any{
			"protecteeId": f.ProtecteeID, "region": "EMEA", "leader": stacktest.ProtectionLeader,
			"startsAt": now.Add(time.Hour).Format(time.RFC3339), "endsAt": now.Format(time.RFC3339)}}, "BAD_USER_INPUT", "endsAt"},
		{"a leader without the protection role", stacktest.GlobalLead, stacktest.CreateDetailMutation, map[string]any{"input": map[string]any{
			"protecteeId": f.ProtecteeID, "region": "EMEA", "leader": stacktest.TravelTeam,
			"startsAt": now.Format(time.RFC3339), "endsAt": now.Add(time.Hour).Format(time.RFC3339)}}, "BAD_USER_INPUT", "leader"},
	}
	for _, c := range cases {
		s.Unchanged(t, func() {
			r := s.GW.Query(t, s.Token(t, c.who), c.doc, c.vars)
			if c.field != "" {
				if len(r.Errors) != 1 || r.Errors[0].Code() != "BAD_USER_INPUT" {
					t.Errorf("%s: want BAD_USER_INPUT naming %s, got %s", c.name, c.field, r.Body)
					return
				}
				if got, _ := r.Errors[0].Extensions["field"].(string); got != c.field || !strings.Contains(r.Errors[0].Message, c.field) {
					t.Errorf("%s: want the field %s named, got %s", c.name, c.field, r.Body)
				}
				return
			}
			if len(r.Errors) != 1 || r.Errors[0].Code() != c.code || r.Errors[0].Message == "" {
				t.Errorf("%s: want %s, got %s", c.name, c.code, r.Body)
			}
		})
	}
	// A wrong code is refused too; it counts towards a missed check-in, so
	// it is the one refusal that writes (the count and a timeline step).
	r := s.GW.Query(t, s.Token(t, stacktest.ProtectionAgent), stacktest.CheckInMutation, checkIn(f.DetailID, "999999", nil))
	r.RefusedField(t, "code")
}

type receiptView struct {
	ClientMutationID *string
	CheckIn          struct{ At, NextDue time.Time }
}

func checkInAs(t testing.TB, s *stacktest.Stack, who, detailID, code, cmid string) (receiptView, json.RawMessage) {
	t.Helper()
	r := s.GW.Query(t, s.Token(t, who), stacktest.CheckInMutation, map[string]any{"input": map[string]any{
		"detailId": detailID, "code": code, "latitude": 51.5007, "longitude": -0.1246, "clientMutationId": cmid}})
	var out struct{ CheckIn receiptView }
	r.Decode(t, &out)
	var raw struct{ CheckIn json.RawMessage }
	if err := json.Unmarshal(r.Data, &raw); err != nil {
		t.Fatal(err)
	}
	return out.CheckIn, raw.CheckIn
}

// shape is the JSON object's keys, nested, with the values left out.
func shape(t testing.TB, raw json.RawMessage) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	var walk func(v any) string
	walk = func(v any) string {
		m, ok := v.(map[string]any)
		if !ok {
			return "_"
		}
		var keys []string
		for k, x := range m {
			keys = append(keys, k+":"+walk(x))
		}
		slices.Sort(keys)
		return "{" + strings.Join(keys, ",") + "}"
	}
	return walk(v)
}

// TestProtectionCheckInThroughGraphQL: an agent sets their codes and checks
// in, and is told when the next check-in is due; a retry with the same
// clientMutationId answers as the first did. A check-in with the duress
// code is answered the same way, and to the agent and to anyone not
// cleared, the detail's check-ins and timeline then look as after any
// other check-in; only the relay learns of it (the duress its watch row
// carries).
func TestProtectionCheckInThroughGraphQL(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{NoWorker: true})
	f := s.NewProtectionFixture(t)
	agent := stacktest.ProtectionAgent
	s.SetCheckInCodes(t, agent)
	var mark int64
	if err := s.Pool.QueryRow(t.Context(), `SELECT coalesce(max(id), 0) FROM outbox`).Scan(&mark); err != nil {
		t.Fatal(err)
	}

	ordinary, ordinaryRaw := checkInAs(t, s, agent, f.DetailID, stacktest.CheckInCode(agent), "ci-ordinary")
	if ordinary.ClientMutationID == nil || *ordinary.ClientMutationID != "ci-ordinary" || ordinary.CheckIn.NextDue.Sub(ordinary.CheckIn.At) != time.Hour ||
		time.Since(ordinary.CheckIn.At) > time.Minute {
		t.Errorf("check-in answered %+v; want its clientMutationId and the next one due an hour after it", ordinary)
	}
	again, _ := checkInAs(t, s, agent, f.DetailID, stacktest.CheckInCode(agent), "ci-ordinary")
	if !again.CheckIn.At.Equal(ordinary.CheckIn.At) || !again.CheckIn.NextDue.Equal(ordinary.CheckIn.NextDue) {
		t.Errorf("a retry answered %+v, the first %+v", again, ordinary)
	}
	time.Sleep(1100 * time.Millisecond) // the two check-ins at different seconds, as in the field
	duress, duressRaw := checkInAs(t, s, agent, f.DetailID, stacktest.DuressCode(agent), "ci-duress")
	if shape(t, duressRaw) != shape(t, ordinaryRaw) || duress.CheckIn.NextDue.Sub(duress.CheckIn.At) != time.Hour ||
		duress.ClientMutationID == nil || *duress.ClientMutationID != "ci-duress" || !duress.CheckIn.At.After(ordinary.CheckIn.At) {
		t.Errorf("the duress check-in answered %s (%+v); an ordinary one %s", duressRaw, duress, ordinaryRaw)
	}

	for _, who := range []string{agent, stacktest.EMEAManager, stacktest.Auditor} {
		d, r := readDetail(t, s, who, f.DetailID)
		r.Decode(t, &struct{}{})
		if strings.Contains(strings.ToLower(string(r.Body)), "duress") {
			t.Errorf("%s reads the word duress in the detail: %s", who, r.Body)
		}
		// Newest first: the duress, then the ordinary one, then the fixture's.
		ci := d.CheckIns.Edges
		if len(ci) != 3 || !ci[0].Node.At.Equal(duress.CheckIn.At) || !ci[1].Node.At.Equal(ordinary.CheckIn.At) {
			t.Fatalf("%s reads check-ins %+v", who, ci)
		}
		a, b := ci[0].Node, ci[1].Node
		if a.By != b.By || (a.Position == nil) != (b.Position == nil) || (a.Note == nil) != (b.Note == nil) ||
			a.NextDue.Sub(a.At) != b.NextDue.Sub(b.At) {
			t.Errorf("%s tells the duress check-in %+v from the ordinary %+v", who, a, b)
		}
		var steps []string
		for _, st := range d.Timeline {
			if st.Kind == protection.StepCheckedIn {
				steps = append(steps, st.Actor+": "+strings.Map(func(r rune) rune {
					if r >= '0' && r <= '9' {
						return '#'
					}
					return r
				}, st.Note))
			}
		}
		if len(steps) != 3 || steps[1] != steps[2] || steps[0] != steps[1] {
			t.Errorf("%s reads the check-in steps %q; want three alike", who, steps)
		}
	}
	// Only the relay can tell: the duress rides the check-in's own watch
	// row, one CHECKED_IN per recorded check-in, whichever the code.
	var checkedIn, withDuress int
	if err := s.Pool.QueryRow(t.Context(), `SELECT count(*), count(*) FILTER (WHERE payload->'duress' IS NOT NULL) FROM outbox
		WHERE id > $1 AND topic = $2 AND payload->>'command' = $3 AND payload->>'detailId' = $4`,
		mark, protection.TopicWatch, protection.WatchCheckedIn, rawID(t, "Detail", f.DetailID)).Scan(&checkedIn, &withDuress); err != nil {
		t.Fatal(err)
	}
	if checkedIn != 2 || withDuress != 1 {
		t.Errorf("%d CHECKED_IN watch rows, %d carrying a duress, after an ordinary check-in (and its retry) and a duress one; want 2 and 1",
			checkedIn, withDuress)
	}
}

const detailUpdatedSubscription = `subscription($id: ID!, $after: String) { detailUpdated(detailId: $id, after: $after) {
  cursor kind at detail { id status maskedFields lastCheckIn { at by { subject } position { latitude longitude } }
    lastPosition { latitude longitude at } agents { subject } } } }`

type detailEventView struct {
	DetailUpdated struct {
		Cursor, Kind string
		At           time.Time
		Detail       struct {
			ID, Status   string
			MaskedFields []string
			LastCheckIn  *struct {
				At       time.Time
				By       struct{ Subject string }
				Position *protGeo
			}
			LastPosition *struct{ Latitude, Longitude float64 }
			Agents       []struct{ Subject string }
		}
	}
}

// nextDetailEvent waits for sub's next event of kind, skipping others (a
// watch may announce its own steps).
func nextDetailEvent(t testing.TB, sub *stacktest.Subscription, kind string) detailEventView {
	t.Helper()
	deadline := time.Now().Add(stacktest.WaitLimit)
	for time.Now().Before(deadline) {
		var ev detailEventView
		if err := json.Unmarshal(sub.Next(t), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.DetailUpdated.Kind == kind {
			return ev
		}
	}
	t.Fatalf("no %s event within %s", kind, stacktest.WaitLimit)
	return detailEventView{}
}

// requireWSError: the operation ends with one error of code.
func requireWSError(t testing.TB, sub *stacktest.Subscription, code string) {
	t.Helper()
	m := sub.Message(t)
	var errs []stacktest.GQLError
	if m.Type != "error" || json.Unmarshal(m.Payload, &errs) != nil || len(errs) != 1 || errs[0].Code() != code {
		t.Fatalf("want an error message with %s, got %s: %s", code, m.Type, m.Payload)
	}
}

// TestDetailUpdatedOverWebSocket: the leader and the agent, subscribed with
// the same document, each receive the detail's check-ins and positions as
// they may see them, each in an execution of their own (their reads are
// logged as theirs); a caller not cleared is refused at once; an agent
// taken off the detail is cut off at the next event.
func TestDetailUpdatedOverWebSocket(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{})
	f := s.NewProtectionFixture(t)
	vars := map[string]any{"id": f.DetailID}
	leaderWS := stacktest.DialWS(t, s.GW, s.Token(t, stacktest.ProtectionLeader))
	agentWS := stacktest.DialWS(t, s.GW, s.Token(t, stacktest.ProtectionAgent))
	leader := leaderWS.Subscribe(t, "d", detailUpdatedSubscription, vars)
	agent := agentWS.Subscribe(t, "d", detailUpdatedSubscription, vars)
	leaderWS.Ping(t)
	agentWS.Ping(t)

	managerWS := stacktest.DialWS(t, s.GW, s.Token(t, stacktest.EMEAManager))
	requireWSError(t, managerWS.Subscribe(t, "m", detailUpdatedSubscription, vars), "FORBIDDEN")
	otherWS := stacktest.DialWS(t, s.GW, s.Token(t, stacktest.OtherAgent))
	requireWSError(t, otherWS.Subscribe(t, "o", detailUpdatedSubscription, vars), "NOT_FOUND")

	before := accessLogOf(t, s, f.ProtecteeID)
	receipt, _ := checkInAs(t, s, stacktest.ProtectionAgent, f.DetailID, stacktest.CheckInCode(stacktest.ProtectionAgent), "ws-1")
	for name, sub := range map[string]*stacktest.Subscription{"leader": leader, "agent": agent} {
		ev := nextDetailEvent(t, sub, protection.EventCheckIn).DetailUpdated
		c := ev.Detail.LastCheckIn
		if ev.Detail.ID != f.DetailID || ev.Cursor == "" || c == nil || !c.At.Equal(receipt.CheckIn.At) || c.Position == nil ||
			c.Position.Latitude != 51.5007 || len(ev.Detail.MaskedFields) != 0 {
			t.Errorf("%s: check-in event %+v", name, ev)
		}
	}
	s.GW.Query(t, s.Token(t, stacktest.ProtectionAgent), stacktest.ReportPositionMutation, map[string]any{"input": map[string]any{
		"detailId": f.DetailID, "latitude": 51.5138, "longitude": -0.0984}}).Decode(t, &struct{}{})
	for name, sub := range map[string]*stacktest.Subscription{"leader": leader, "agent": agent} {
		ev := nextDetailEvent(t, sub, protection.EventPosition).DetailUpdated
		if p := ev.Detail.LastPosition; p == nil || p.Latitude != 51.5138 || p.Longitude != -0.0984 {
			t.Errorf("%s: position event %+v", name, ev)
		}
	}
	// Each subscriber's reads are logged as theirs: the executions were
	// not shared, though the two hold the same roles.
	readers := map[string]bool{}
	now := accessLogOf(t, s, f.ProtecteeID)
	for _, a := range now[:len(now)-len(before)] {
		readers[a.Actor.Subject] = true
		if !traceIDPattern.MatchString(a.TraceID) {
			t.Errorf("a read over the WebSocket logged without a trace: %+v", a)
		}
	}
	if !readers[stacktest.ProtectionLeader] || !readers[stacktest.ProtectionAgent] {
		t.Errorf("reads over the WebSocket were logged as %v; want both subscribers", readers)
	}

	// The leader takes the agent off the detail: the agent's subscription
	// ends with FORBIDDEN at the next event, the leader's goes on.
	s.GW.Query(t, s.Token(t, stacktest.ProtectionLeader), stacktest.AssignAgentsMutation, map[string]any{"input": map[string]any{
		"detailId": f.DetailID, "agents": []any{}}}).Decode(t, &struct{}{})
	if ev := nextDetailEvent(t, leader, protection.EventAgents).DetailUpdated; len(ev.Detail.Agents) != 0 {
		t.Errorf("agents event %+v", ev)
	}
	for {
		m := agent.Message(t)
		if m.Type == "next" {
			continue // events before the change
		}
		// One error per field selected, all the same.
		var errs []stacktest.GQLError
		if m.Type != "error" || json.Unmarshal(m.Payload, &errs) != nil || len(errs) == 0 {
			t.Fatalf("the removed agent got %s: %s; want the subscription ended with FORBIDDEN", m.Type, m.Payload)
		}
		for _, e := range errs {
			if e.Code() != "FORBIDDEN" || e.Message != errs[0].Message {
				t.Errorf("the removed agent's subscription ended with %s", m.Payload)
			}
		}
		break
	}
}

// TestDuressPagesLeaderAndGlobalLeadOnly: a duress check-in, answered as
// an ordinary one, raises the restricted DURESS incident, which pages the
// detail's leader and the global lead, and nobody else.
func TestDuressPagesLeaderAndGlobalLeadOnly(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{})
	f := s.NewProtectionFixture(t)
	checkInAs(t, s, stacktest.ProtectionAgent, f.DetailID, stacktest.DuressCode(stacktest.ProtectionAgent), "duress-1")

	var escalations []string
	deadline := time.Now().Add(stacktest.WaitLimit)
	for len(escalations) == 0 {
		s.RequireWorkerRunning(t)
		if time.Now().After(deadline) {
			t.Fatalf("no DURESS incident's escalation within %s", stacktest.WaitLimit)
		}
		rows, err := s.Pool.Query(t.Context(), `SELECT e.id::text FROM escalations e JOIN incidents i ON i.id = e.incident_id WHERE i.kind = $1`,
			protection.IncidentDuress)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			escalations = append(escalations, id)
		}
		rows.Close()
		time.Sleep(100 * time.Millisecond)
	}
	ofDuress := func(r sinkPage) bool { return slices.Contains(escalations, r.EscalationID) }
	for _, who := range []string{stacktest.ProtectionLeader, stacktest.GlobalLead} {
		s.WaitReceived(t, "duress page to "+who, func(r sinkPage) bool { return ofDuress(r) && stacktest.PagedPerson(r) == who })
	}
	time.Sleep(2 * stacktest.TierWait) // anyone else would be paged by now
	for _, r := range s.PagesWhere(ofDuress) {
		if who := stacktest.PagedPerson(r); who != stacktest.ProtectionLeader && who != stacktest.GlobalLead {
			t.Errorf("the duress paged %q (%s to %q)", who, r.Channel, r.To)
		}
	}
}

// requireAffectedDetails raises an incident 700 m from the detail's last
// position: incident.affected.details lists the detail for those who may
// see it (with the distance, which gives the position away, for the
// cleared only) and nothing for the others. The detail's timeline notes the
// incident for everyone who sees the detail, and so never says how far it
// is.
func requireAffectedDetails(t *testing.T, s *stacktest.Stack, f stacktest.ProtectionFixture) {
	t.Helper()
	var raised struct {
		RaiseIncident struct{ Incident struct{ ID string } }
	}
	s.GW.Query(t, s.Token(t, stacktest.GlobalLead), `mutation($input: RaiseIncidentInput!) { raiseIncident(input: $input) { incident { id } } }`,
		map[string]any{"input": map[string]any{"title": "Protest on the Strand", "severity": "SEV3", "kind": "UNREST",
			"latitude": f.Position[0] + 0.0063, "longitude": f.Position[1], "regions": []any{"EMEA"}}}).Decode(t, &raised)
	for _, c := range fixtureStandings {
		var out struct {
			Incident struct {
				Affected struct {
					Details []struct {
						Via        string
						DistanceKm *float64
						Detail     struct {
							ID           string
							MaskedFields []string
						}
					}
				}
			}
		}
		s.GW.Query(t, s.Token(t, c.who), `query($id: ID!) { incident(id: $id) { affected { details { via distanceKm detail { id maskedFields } } } } }`,
			map[string]any{"id": raised.RaiseIncident.Incident.ID}).Decode(t, &out)
		got := out.Incident.Affected.Details
		switch {
		case c.standing == protection.Hidden:
			if len(got) != 0 {
				t.Errorf("%s sees affected details %+v of a detail they may not know", c.who, got)
			}
		case len(got) != 1 || got[0].Detail.ID != f.DetailID || got[0].Via != "POSITION":
			t.Errorf("%s: affected details %+v, want the fixture's, via its POSITION", c.who, got)
		case c.standing == protection.Cleared && (got[0].DistanceKm == nil || *got[0].DistanceKm < 0.5 || *got[0].DistanceKm > 0.9):
			t.Errorf("%s: distance %v, want about 0.7 km", c.who, got[0].DistanceKm)
		case c.standing == protection.Masked && (got[0].DistanceKm != nil || len(got[0].Detail.MaskedFields) == 0):
			t.Errorf("%s, not cleared, reads the distance %v", c.who, *got[0].DistanceKm)
		}
	}
	// The worker notes the incident on the detail's timeline.
	deadline := time.Now().Add(stacktest.WaitLimit)
	for {
		d, r := readDetail(t, s, stacktest.EMEAManager, f.DetailID)
		r.Decode(t, &struct{}{})
		i := slices.IndexFunc(d.Timeline, func(st struct {
			At                time.Time
			Kind, Actor, Note string
		}) bool {
			return st.Kind == protection.StepNearIncident
		})
		if i >= 0 {
			if note := d.Timeline[i].Note; note != "" {
				t.Errorf("the region's manager, not cleared, reads the NEAR_INCIDENT note %q, want it masked", note)
			}
			// The leader reads it, without the distance (the page carries it).
			ld, lr := readDetail(t, s, stacktest.ProtectionLeader, f.DetailID)
			lr.Decode(t, &struct{}{})
			for _, st := range ld.Timeline {
				if st.Kind == protection.StepNearIncident && (!strings.Contains(st.Note, "Protest on the Strand") || strings.Contains(st.Note, "km")) {
					t.Errorf("the leader reads the NEAR_INCIDENT note %q", st.Note)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no NEAR_INCIDENT step on the detail's timeline within %s", stacktest.WaitLimit)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
