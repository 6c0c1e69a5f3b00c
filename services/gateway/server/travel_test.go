package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"meridian.dev/gateway/stacktest"
)

// Trips through the API: the travel team's trips, their risk with reasons,
// approvals through the approval workflow, and who may see what.

const tripFields = `id traveller { subject name } purpose status startsAt endsAt
  risk { level reasons { kind level source text segmentId } }
  segments { id kind startsAt endsAt timezone place { city countryCode location { latitude longitude } }
    from { city countryCode } to { city countryCode } risk { level reasons { kind source } } }
  approval { status level decidedBy decidedAt note deadline }
  timeline { at kind actor note }`

const createTripMutation = `mutation($input: CreateTripInput!) { createTrip(input: $input) { clientMutationId trip { ` + tripFields + ` } } }`

const importItineraryMutation = `mutation($input: ImportItineraryInput!) { importItinerary(input: $input) { clientMutationId trip { ` + tripFields + ` } } }`

const addSegmentMutation = `mutation($input: AddTripSegmentInput!) { addTripSegment(input: $input) { trip { ` + tripFields + ` } } }`

const submitTripMutation = `mutation($id: ID!) { submitTrip(input: { tripId: $id }) { trip { ` + tripFields + ` } } }`

const cancelTripMutation = `mutation($id: ID!, $note: String) { cancelTrip(input: { tripId: $id, note: $note }) { trip { ` + tripFields + ` } } }`

const decideTripMutation = `mutation($id: ID!, $decision: TripDecision!, $note: String) {
  decideTrip(input: { tripId: $id, decision: $decision, note: $note }) { trip { ` + tripFields + ` } }
}`

const tripQuery = `query($id: ID!) { trip(id: $id) { ` + tripFields + ` } }`

const tripsQuery = `query($traveller: String, $status: TripStatus, $country: String, $at: Time, $minLevel: Int, $first: Int, $after: String) {
  trips(traveller: $traveller, status: $status, country: $country, at: $at, minLevel: $minLevel, first: $first, after: $after) {
    edges { cursor node { id traveller { subject } purpose status risk { level } segments { place { countryCode } } } }
    pageInfo { hasNextPage endCursor }
  }
}`

const tripRiskChangedSubscription = `subscription($region: String, $after: String) {
  tripRiskChanged(region: $region, after: $after) {
    trip { id status risk { level } } previousLevel level reasons { kind level source text segmentId } cause at cursor
  }
}`

type reasonView struct {
	Kind, Source, Text string
	Level              int
	SegmentID          string `json:"segmentId"`
}

type placeView struct {
	City        string
	CountryCode string
	Location    *struct{ Latitude, Longitude float64 }
}

type segmentView struct {
	ID               string
	Kind             string
	StartsAt, EndsAt time.Time
	Timezone         string
	Place            placeView
	From, To         *placeView
	Risk             struct{ Level int }
}

type tripView struct {
	ID        string
	Traveller struct{ Subject, Name string }
	Purpose   *string
	Status    string
	StartsAt  *time.Time
	EndsAt    *time.Time
	Risk      struct {
		Level   int
		Reasons []reasonView
	}
	Segments []segmentView
	Approval *struct {
		Status    string
		Level     int
		DecidedBy *string
		DecidedAt *time.Time
		Note      *string
		Deadline  *time.Time
	}
	Timeline []struct {
		At          time.Time
		Kind, Actor string
		Note        string
	}
}

func (v tripView) steps() []string {
	var kinds []string
	for _, s := range v.Timeline {
		kinds = append(kinds, s.Kind)
	}
	return kinds
}

type tripPayloadView struct {
	ClientMutationID *string
	Trip             tripView
}

// The source names reasons use: a traveller reads "UK FCDO: …", not a code.
var advisorySourceNames = map[string]string{
	"US_STATE":         "US State Department",
	"UK_FCDO":          "UK FCDO",
	"CA_GAC":           "Government of Canada",
	"AU_SMARTRAVELLER": "Australia Smartraveller",
}

func place(city, country string, lat, lon float64) map[string]any {
	return map[string]any{"city": city, "countryCode": country, "latitude": lat, "longitude": lon}
}

func segment(kind string, start, end time.Time, tz string, where map[string]any) map[string]any {
	return map[string]any{"kind": kind, "startsAt": start.UTC().Format(time.RFC3339), "endsAt": end.UTC().Format(time.RFC3339),
		"timezone": tz, "place": where}
}

func flight(start, end time.Time, tz string, from, to map[string]any) map[string]any {
	return map[string]any{"kind": "FLIGHT", "startsAt": start.UTC().Format(time.RFC3339), "endsAt": end.UTC().Format(time.RFC3339),
		"timezone": tz, "from": from, "to": to}
}

// Places the trips below go to.
var (
	miami        = place("Miami", "US", 25.7617, -80.1918)
	portAuPrince = place("Port-au-Prince", "HT", 18.5944, -72.3074)
	bogota       = place("Bogotá", "CO", 4.6533, -74.0836)
	nairobiHotel = place("Nairobi", "KE", -1.2864, 36.8172)
	tokyoHotel   = place("Tokyo", "JP", 35.6812, 139.7671)
)

// haitiTrip is a relief programme review in Port-au-Prince from start: a
// flight from Miami, then the hotel.
func haitiTrip(traveller string, start time.Time) map[string]any {
	return map[string]any{"traveller": traveller, "purpose": "Relief programme review", "segments": []any{
		flight(start, start.Add(2*time.Hour), "America/Port-au-Prince", miami, portAuPrince),
		segment("HOTEL", start.Add(3*time.Hour), start.Add(3*24*time.Hour), "America/Port-au-Prince", portAuPrince),
	}}
}

func createTrip(t testing.TB, s *stacktest.Stack, subject string, input map[string]any) tripView {
	t.Helper()
	var out struct{ CreateTrip tripPayloadView }
	s.GW.Query(t, s.Token(t, subject), createTripMutation, map[string]any{"input": input}).Decode(t, &out)
	return out.CreateTrip.Trip
}

func tripMutation(t testing.TB, s *stacktest.Stack, subject, doc, field string, vars map[string]any) tripView {
	t.Helper()
	var out map[string]struct{ Trip tripView }
	s.GW.Query(t, s.Token(t, subject), doc, vars).Decode(t, &out)
	return out[field].Trip
}

func readTrip(t testing.TB, s *stacktest.Stack, subject, id string) *tripView {
	t.Helper()
	var out struct{ Trip *tripView }
	s.GW.Query(t, s.Token(t, subject), tripQuery, map[string]any{"id": id}).Decode(t, &out)
	return out.Trip
}

// waitTrip polls the trip, as the global lead sees it, until ok says it has
// reached the state the test waits for.
func waitTrip(t testing.TB, s *stacktest.Stack, id, what string, ok func(tripView) bool) tripView {
	t.Helper()
	deadline := time.Now().Add(stacktest.WaitLimit)
	for {
		trip := readTrip(t, s, stacktest.GlobalLead, id)
		if trip == nil {
			t.Fatalf("trip %s is gone", id)
		}
		if ok(*trip) {
			return *trip
		}
		s.RequireWorkerRunning(t)
		if time.Now().After(deadline) {
			t.Fatalf("trip %s: %s did not happen within %s; steps %v, risk %+v", id, what, stacktest.WaitLimit, trip.steps(), trip.Risk)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitAsked waits until the approval workflow has asked for a decision:
// before that a decision has no run to go to.
func waitAsked(t testing.TB, s *stacktest.Stack, id string) tripView {
	t.Helper()
	return waitTrip(t, s, id, "the approval workflow asking", func(v tripView) bool { return slices.Contains(v.steps(), "ASKED") })
}

func countOf(kinds []string, kind string) int {
	n := 0
	for _, k := range kinds {
		if k == kind {
			n++
		}
	}
	return n
}

func reasonsOf(v tripView, kind string) []reasonView {
	var out []reasonView
	for _, r := range v.Risk.Reasons {
		if r.Kind == kind {
			out = append(out, r)
		}
	}
	return out
}

// TestTravelTripApprovalStory is the "done when": the travel team
// plans a trip to a level-4 country and sees why it is level 4; it needs a
// global lead's approval, which the approval workflow collects; when an
// analyst later changes the country's level the trip is scored again and
// subscribers hear of it.
func TestTravelTripApprovalStory(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{Tables: []string{"trips", "trip_segments", "trip_timeline"}})
	s.LoadAdvisories(t)
	s.LoadTravellers(t)
	start := time.Now().Add(10 * 24 * time.Hour).Truncate(time.Hour)

	trip := createTrip(t, s, stacktest.TravelTeam, haitiTrip("tr-marta", start))
	if trip.Status != "DRAFT" || trip.Traveller.Subject != "tr-marta" || !strings.Contains(trip.Traveller.Name, "Marta") ||
		trip.Purpose == nil || *trip.Purpose != "Relief programme review" || trip.Approval != nil {
		t.Fatalf("createTrip answered %+v", trip)
	}
	if trip.StartsAt == nil || !trip.StartsAt.Equal(start) || trip.EndsAt == nil || !trip.EndsAt.Equal(start.Add(72*time.Hour)) {
		t.Errorf("the trip spans %v to %v, want its segments' %v to %v", trip.StartsAt, trip.EndsAt, start, start.Add(72*time.Hour))
	}
	if len(trip.Segments) != 2 || trip.Segments[0].Kind != "FLIGHT" || trip.Segments[0].Place.City != "Port-au-Prince" ||
		trip.Segments[0].From == nil || trip.Segments[0].From.City != "Miami" || trip.Segments[1].Kind != "HOTEL" ||
		trip.Segments[1].Place.Location == nil || trip.Segments[1].Timezone != "America/Port-au-Prince" {
		t.Errorf("segments: %+v", trip.Segments)
	}
	if trip.Risk.Level != 4 {
		t.Fatalf("a trip to Haiti scores %d, want 4", trip.Risk.Level)
	}
	ht := countryRisk(t, s, stacktest.Auditor, "HT")
	labels := map[string]string{}
	for _, a := range ht.Advisories {
		labels[a.Source] = a.SourceLabel
	}
	advisories := reasonsOf(trip, "ADVISORY")
	var sources []string
	for _, r := range advisories {
		sources = append(sources, r.Source)
		name, known := advisorySourceNames[r.Source]
		if !known || r.Level != 4 || !strings.HasPrefix(r.Text, name+": ") || !strings.Contains(r.Text, labels[r.Source]) {
			t.Errorf("reason %+v: want level 4 and a text naming %q and saying %q", r, name, labels[r.Source])
		}
		if r.SegmentID != trip.Segments[0].ID && r.SegmentID != trip.Segments[1].ID {
			t.Errorf("reason %+v names no segment of the trip", r)
		}
	}
	slices.Sort(sources)
	if want := []string{"AU_SMARTRAVELLER", "CA_GAC", "UK_FCDO", "US_STATE"}; !slices.Equal(sources, want) {
		t.Errorf("the trip's ADVISORY reasons come from %v, want each source once: %v", sources, want)
	}

	submitted := tripMutation(t, s, stacktest.TravelTeam, submitTripMutation, "submitTrip", map[string]any{"id": trip.ID})
	if submitted.Status != "PENDING_APPROVAL" || submitted.Approval == nil || submitted.Approval.Status != "PENDING" ||
		submitted.Approval.Level != 4 || submitted.Approval.Deadline == nil {
		t.Fatalf("submitTrip answered %s with approval %+v", submitted.Status, submitted.Approval)
	}
	// Due two days before departure: the approver has time, and the
	// traveller knows before packing.
	if d := *submitted.Approval.Deadline; !d.After(time.Now()) || !d.Before(start) {
		t.Errorf("approval deadline %v, want between now and departure %v", d, start)
	}
	asked := waitAsked(t, s, trip.ID)

	// The approval request's notes quote the purpose: a regional manager
	// of the place reads the steps without them.
	if !slices.ContainsFunc(asked.Timeline, func(st struct {
		At          time.Time
		Kind, Actor string
		Note        string
	}) bool {
		return strings.Contains(st.Note, "Relief programme review")
	}) {
		t.Fatalf("the travel team's timeline %+v does not quote the purpose; the check below would prove nothing", asked.Timeline)
	}
	if v := readTrip(t, s, stacktest.AMERManager, trip.ID); v == nil || v.Purpose != nil || len(v.Timeline) != len(asked.Timeline) {
		t.Errorf("the AMER manager reads the Haiti trip as %+v, want its steps without its purpose", v)
	} else {
		for _, st := range v.Timeline {
			if st.Note != "" {
				t.Errorf("the AMER manager sees the note %q of a %s step", st.Note, st.Kind)
			}
		}
	}

	// Level 4 is a global lead's decision, not the travel team's.
	s.Unchanged(t, func() {
		s.GW.Query(t, s.Token(t, stacktest.TravelTeam), decideTripMutation, map[string]any{"id": trip.ID, "decision": "APPROVE"}).Refused(t, "FORBIDDEN")
	})
	approved := tripMutation(t, s, stacktest.GlobalLead, decideTripMutation, "decideTrip",
		map[string]any{"id": trip.ID, "decision": "APPROVE", "note": "Escort and check-in calls arranged"})
	if approved.Status != "APPROVED" || approved.Approval == nil || approved.Approval.Status != "APPROVED" ||
		approved.Approval.DecidedBy == nil || *approved.Approval.DecidedBy != stacktest.GlobalLead || approved.Approval.DecidedAt == nil ||
		approved.Approval.Note == nil || *approved.Approval.Note != "Escort and check-in calls arranged" {
		t.Fatalf("decideTrip answered %s with approval %+v", approved.Status, approved.Approval)
	}
	if want := []string{"CREATED", "SUBMITTED", "APPROVAL_REQUESTED", "ASKED", "APPROVED"}; !isSubsequence(want, approved.steps()) {
		t.Errorf("timeline %v, want the steps %v in order", approved.steps(), want)
	}
	s.GW.Query(t, s.Token(t, stacktest.GlobalLead), decideTripMutation, map[string]any{"id": trip.ID, "decision": "REJECT"}).Refused(t, "CONFLICT")

	t.Run("a level-3 trip is the travel team's to decide", func(t *testing.T) {
		bogotaTrip := createTrip(t, s, stacktest.TravelTeam, map[string]any{"traveller": "tr-tomas", "purpose": "Distributor meetings",
			"segments": []any{segment("HOTEL", start, start.Add(48*time.Hour), "America/Bogota", bogota)}})
		if bogotaTrip.Risk.Level != 3 {
			t.Fatalf("a trip to Colombia scores %d, want 3 (US State Department level 3)", bogotaTrip.Risk.Level)
		}
		p := tripMutation(t, s, stacktest.GlobalLead, submitTripMutation, "submitTrip", map[string]any{"id": bogotaTrip.ID})
		if p.Status != "PENDING_APPROVAL" || p.Approval == nil || p.Approval.Level != 3 {
			t.Fatalf("submitTrip of a level-3 trip answered %s %+v", p.Status, p.Approval)
		}
		waitAsked(t, s, bogotaTrip.ID)
		d := tripMutation(t, s, stacktest.TravelTeam, decideTripMutation, "decideTrip", map[string]any{"id": bogotaTrip.ID, "decision": "APPROVE"})
		if d.Status != "APPROVED" || d.Approval.DecidedBy == nil || *d.Approval.DecidedBy != stacktest.TravelTeam {
			t.Errorf("the travel team's approval answered %s %+v", d.Status, d.Approval)
		}
	})

	t.Run("a level-1 trip needs no approval", func(t *testing.T) {
		tokyo := createTrip(t, s, stacktest.TravelTeam, map[string]any{"traveller": "tr-keiko",
			"segments": []any{segment("HOTEL", start, start.Add(48*time.Hour), "Asia/Tokyo", tokyoHotel)}})
		p := tripMutation(t, s, stacktest.TravelTeam, submitTripMutation, "submitTrip", map[string]any{"id": tokyo.ID})
		if p.Status != "APPROVED" || p.Approval == nil || p.Approval.Status != "NOT_REQUIRED" || !slices.Contains(p.steps(), "AUTO_APPROVED") {
			t.Errorf("submitTrip of a level-%d trip answered %s %+v %v", tokyo.Risk.Level, p.Status, p.Approval, p.steps())
		}
	})

	t.Run("a cancelled trip cannot be decided", func(t *testing.T) {
		other := createTrip(t, s, stacktest.TravelTeam, haitiTrip("tr-keiko", start.Add(24*time.Hour)))
		tripMutation(t, s, stacktest.TravelTeam, submitTripMutation, "submitTrip", map[string]any{"id": other.ID})
		waitAsked(t, s, other.ID)
		c := tripMutation(t, s, stacktest.TravelTeam, cancelTripMutation, "cancelTrip", map[string]any{"id": other.ID, "note": "Programme postponed"})
		if c.Status != "CANCELLED" || c.Approval == nil || c.Approval.Status != "CANCELLED" {
			t.Fatalf("cancelTrip answered %s %+v", c.Status, c.Approval)
		}
		s.GW.Query(t, s.Token(t, stacktest.GlobalLead), decideTripMutation, map[string]any{"id": other.ID, "decision": "APPROVE"}).Refused(t, "CONFLICT")
		s.GW.Query(t, s.Token(t, stacktest.TravelTeam), cancelTripMutation, map[string]any{"id": other.ID}).Refused(t, "CONFLICT")
		// The approval workflow heard of it and ended, cancelled; the
		// cancellation is on the timeline once.
		tc, err := client.Dial(client.Options{HostPort: s.TemporalHost})
		if err != nil {
			t.Fatal(err)
		}
		defer tc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), stacktest.WaitLimit)
		defer cancel()
		var state struct{ Status, CancelledBy, Note string }
		workflowID := "trip-approval-" + rawID(t, "Trip", other.ID) + "-1"
		if err := tc.GetWorkflow(ctx, workflowID, "").Get(ctx, &state); err != nil {
			t.Fatalf("the approval workflow %s: %v", workflowID, err)
		}
		if state.Status != "CANCELLED" || state.CancelledBy != stacktest.TravelTeam || state.Note != "Programme postponed" {
			t.Errorf("the approval workflow ended as %+v, want cancelled by the travel team", state)
		}
		v := readTrip(t, s, stacktest.Auditor, other.ID)
		if v.Status != "CANCELLED" || v.Approval.Status != "CANCELLED" || countOf(v.steps(), "CANCELLED") != 1 {
			t.Errorf("after the workflow ended the trip is %s %+v with steps %v", v.Status, v.Approval, v.steps())
		}
	})

	t.Run("a retried create returns the first trip", func(t *testing.T) {
		in := haitiTrip("tr-marta", start.Add(48*time.Hour))
		in["clientMutationId"] = "create-haiti-2"
		before := s.Counts(t)
		first := createTrip(t, s, stacktest.TravelTeam, in)
		again := createTrip(t, s, stacktest.TravelTeam, in)
		if again.ID != first.ID {
			t.Errorf("the retry created trip %s, the first %s", again.ID, first.ID)
		}
		if after := s.Counts(t); after["trips"] != before["trips"]+1 || after["trip_segments"] != before["trip_segments"]+2 {
			t.Errorf("a create and its retry wrote %d trips and %d segments, want 1 and 2",
				after["trips"]-before["trips"], after["trip_segments"]-before["trip_segments"])
		}
	})

	t.Run("an analyst's override re-scores the approved trip", func(t *testing.T) {
		ws := stacktest.DialWS(t, s.GW, s.Token(t, stacktest.GlobalLead))
		_, primed := s.PrimedSubscription(t, ws, "primer", "", "AMS-OFC", stacktest.EMEAManager)
		sub := ws.Subscribe(t, "risk", tripRiskChangedSubscription, map[string]any{"after": primed})

		reason := "UN escort programme in place for the relief sites"
		s.GW.Query(t, s.Token(t, stacktest.TravelTeam), setOverrideMutation, map[string]any{"input": map[string]any{
			"country": "HT", "level": 2, "reason": reason}}).Decode(t, &struct{}{})

		var ev struct {
			Trip struct {
				ID, Status string
				Risk       struct{ Level int }
			}
			PreviousLevel, Level int
			Reasons              []reasonView
			Cause                string
			At                   time.Time
			Cursor               string
		}
		for {
			var out struct{ TripRiskChanged json.RawMessage }
			if err := json.Unmarshal(sub.Next(t), &out); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(out.TripRiskChanged, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Trip.ID == trip.ID {
				break
			}
		}
		if ev.PreviousLevel != 4 || ev.Level != 2 || ev.Trip.Status != "APPROVED" || ev.Trip.Risk.Level != 2 ||
			!strings.Contains(ev.Cause, "HT") || !cursorAfter(t, ev.Cursor, primed) {
			t.Errorf("tripRiskChanged for the approved trip: %+v", ev)
		}
		if len(ev.Reasons) == 0 || ev.Reasons[0].Kind != "OVERRIDE" || ev.Reasons[0].Level != 2 || !strings.Contains(ev.Reasons[0].Text, reason) {
			t.Errorf("the event's reasons %+v, want the analyst's override first, with its reason", ev.Reasons)
		}
		stored := readTrip(t, s, stacktest.Auditor, trip.ID)
		if stored.Risk.Level != 2 || len(reasonsOf(*stored, "ADVISORY")) != 0 || len(reasonsOf(*stored, "OVERRIDE")) == 0 {
			t.Errorf("the stored trip's risk after the override: %+v", stored.Risk)
		}
		if !slices.Contains(stored.steps(), "RISK_CHANGED") {
			t.Errorf("the timeline %v does not show the re-assessment", stored.steps())
		}
	})
}

// A small itinerary as booking tools export it: CRLF line ends, a
// VTIMEZONE, TZIDs, a flight whose LOCATION gives both ends, a hotel with
// GEO, a folded DESCRIPTION and escaped commas.
const johannesburgICS = "BEGIN:VCALENDAR\r\n" +
	"VERSION:2.0\r\n" +
	"PRODID:-//Meridian Tests//Itinerary//EN\r\n" +
	"CALSCALE:GREGORIAN\r\n" +
	"METHOD:PUBLISH\r\n" +
	"BEGIN:VTIMEZONE\r\n" +
	"TZID:Africa/Johannesburg\r\n" +
	"X-LIC-LOCATION:Africa/Johannesburg\r\n" +
	"BEGIN:STANDARD\r\n" +
	"TZOFFSETFROM:+0200\r\n" +
	"TZOFFSETTO:+0200\r\n" +
	"TZNAME:SAST\r\n" +
	"DTSTART:19700101T000000\r\n" +
	"END:STANDARD\r\n" +
	"END:VTIMEZONE\r\n" +
	"BEGIN:VEVENT\r\n" +
	"UID:flight-ba55-20310310@meridian.test\r\n" +
	"DTSTAMP:20301201T090000Z\r\n" +
	"DTSTART;TZID=Europe/London:20310310T183000\r\n" +
	"DTEND;TZID=Africa/Johannesburg:20310311T064500\r\n" +
	"SUMMARY:Flight BA 55 London Heathrow to Johannesburg\r\n" +
	"LOCATION:London\\, United Kingdom to Johannesburg\\, South Africa\r\n" +
	"DESCRIPTION:Confirmation ABC123. Seat 14A. Check in online 24 hours befo\r\n" +
	" re departure.\r\n" +
	"END:VEVENT\r\n" +
	"BEGIN:VEVENT\r\n" +
	"UID:hotel-sandton-20310311@meridian.test\r\n" +
	"DTSTAMP:20301201T090000Z\r\n" +
	"DTSTART;TZID=Africa/Johannesburg:20310311T140000\r\n" +
	"DTEND;TZID=Africa/Johannesburg:20310314T110000\r\n" +
	"SUMMARY:Hotel: Sandton Sun\r\n" +
	"LOCATION:5th Street\\, Sandton\\, Johannesburg\\, 2196\\, South Africa\r\n" +
	"GEO:-26.1076;28.0567\r\n" +
	"END:VEVENT\r\n" +
	"BEGIN:VEVENT\r\n" +
	"UID:meeting-jnb-20310312@meridian.test\r\n" +
	"DTSTAMP:20301201T090000Z\r\n" +
	"DTSTART;TZID=Africa/Johannesburg:20310312T090000\r\n" +
	"DTEND;TZID=Africa/Johannesburg:20310312T120000\r\n" +
	"SUMMARY:Meeting with the Johannesburg office\r\n" +
	"LOCATION:Johannesburg Office\\, Johannesburg\\, South Africa\r\n" +
	"GEO:-26.2041;28.0473\r\n" +
	"END:VEVENT\r\n" +
	"END:VCALENDAR\r\n"

// TestTripInputRefusals: an itinerary is imported into segments; a bad
// itinerary or a bad trip is refused naming the field, and writes nothing.
func TestTripInputRefusals(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{NoWorker: true, Tables: []string{"trips", "trip_segments", "trip_timeline"}})
	s.LoadTravellers(t)
	tok := s.Token(t, stacktest.TravelTeam)

	t.Run("an .ics itinerary becomes segments", func(t *testing.T) {
		var out struct{ ImportItinerary tripPayloadView }
		s.GW.Query(t, tok, importItineraryMutation, map[string]any{"input": map[string]any{
			"traveller": "tr-tomas", "purpose": "Quarterly review, Johannesburg", "ics": johannesburgICS}}).Decode(t, &out)
		trip := out.ImportItinerary.Trip
		if trip.Status != "DRAFT" || len(trip.Segments) != 3 {
			t.Fatalf("importItinerary answered %s with %d segments: %+v", trip.Status, len(trip.Segments), trip.Segments)
		}
		f, hotel, meeting := trip.Segments[0], trip.Segments[1], trip.Segments[2]
		if f.Kind != "FLIGHT" || f.From == nil || f.From.CountryCode != "GB" || f.To == nil || f.To.City != "Johannesburg" ||
			f.Place.CountryCode != "ZA" || f.Timezone != "Africa/Johannesburg" ||
			!f.StartsAt.Equal(time.Date(2031, 3, 10, 18, 30, 0, 0, time.UTC)) || !f.EndsAt.Equal(time.Date(2031, 3, 11, 4, 45, 0, 0, time.UTC)) {
			t.Errorf("the flight: %+v from %+v to %+v", f, f.From, f.To)
		}
		if hotel.Kind != "HOTEL" || hotel.Place.CountryCode != "ZA" || hotel.Place.Location == nil ||
			hotel.Place.Location.Latitude != -26.1076 || hotel.Place.Location.Longitude != 28.0567 ||
			!hotel.StartsAt.Equal(time.Date(2031, 3, 11, 12, 0, 0, 0, time.UTC)) {
			t.Errorf("the hotel: %+v at %+v", hotel, hotel.Place)
		}
		if meeting.Kind != "MEETING" || meeting.Place.City != "Johannesburg" || meeting.Timezone != "Africa/Johannesburg" {
			t.Errorf("the meeting: %+v at %+v", meeting, meeting.Place)
		}
	})

	t.Run("a retried import returns the first trip", func(t *testing.T) {
		in := map[string]any{"traveller": "tr-keiko", "ics": johannesburgICS, "clientMutationId": "import-jnb-1"}
		before := s.Counts(t)
		var first, again struct{ ImportItinerary tripPayloadView }
		s.GW.Query(t, tok, importItineraryMutation, map[string]any{"input": in}).Decode(t, &first)
		s.GW.Query(t, tok, importItineraryMutation, map[string]any{"input": in}).Decode(t, &again)
		if first.ImportItinerary.ClientMutationID == nil || *first.ImportItinerary.ClientMutationID != "import-jnb-1" {
			t.Errorf("clientMutationId echoed as %v", first.ImportItinerary.ClientMutationID)
		}
		if again.ImportItinerary.Trip.ID != first.ImportItinerary.Trip.ID {
			t.Errorf("the retried import created trip %s beside %s", again.ImportItinerary.Trip.ID, first.ImportItinerary.Trip.ID)
		}
		if n := s.Counts(t)["trips"] - before["trips"]; n != 1 {
			t.Errorf("an import and its retry wrote %d trips, want 1", n)
		}
	})

	t.Run("a malformed itinerary is refused", func(t *testing.T) {
		// A download cut off inside the last event: the meeting has no END.
		truncated := johannesburgICS[:strings.Index(johannesburgICS, "GEO:-26.2041")]
		backwards := strings.Replace(johannesburgICS, "DTEND;TZID=Africa/Johannesburg:20310314T110000", "DTEND;TZID=Africa/Johannesburg:20310310T110000", 1)
		badZone := strings.Replace(johannesburgICS, "DTSTART;TZID=Africa/Johannesburg:20310312T090000", "DTSTART;TZID=Mars/Olympus_Mons:20310312T090000", 1)
		noEvents := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//y//EN\r\nEND:VCALENDAR\r\n"
		s.Unchanged(t, func() {
			for _, ics := range []string{"Flight BA55 on the 10th, hotel Sandton Sun", truncated, backwards, badZone, noEvents, ""} {
				s.GW.Query(t, tok, importItineraryMutation, map[string]any{"input": map[string]any{"traveller": "tr-tomas", "ics": ics}}).RefusedField(t, "ics")
			}
			s.GW.Query(t, tok, importItineraryMutation, map[string]any{"input": map[string]any{"traveller": "nobody-here", "ics": johannesburgICS}}).RefusedField(t, "traveller")
		})
	})

	t.Run("a bad trip is refused naming the field", func(t *testing.T) {
		start := time.Now().Add(30 * 24 * time.Hour).Truncate(time.Hour)
		good := func() map[string]any {
			return map[string]any{"traveller": "tr-tomas", "purpose": "Customer visits", "segments": []any{
				segment("HOTEL", start, start.Add(48*time.Hour), "Africa/Nairobi", place("Nairobi", "KE", -1.2864, 36.8172)),
			}}
		}
		seg := func(in map[string]any) map[string]any { return in["segments"].([]any)[0].(map[string]any) }
		cases := []struct {
			field string
			edit  func(map[string]any)
		}{
			{"segments[0].endsAt", func(in map[string]any) { seg(in)["endsAt"] = start.Add(-time.Hour).Format(time.RFC3339) }},
			{"segments[0].timezone", func(in map[string]any) { seg(in)["timezone"] = "Africa/Atlantis" }},
			{"segments[0].timezone", func(in map[string]any) { seg(in)["timezone"] = "Local" }},
			{"segments[0].place.latitude", func(in map[string]any) { seg(in)["place"].(map[string]any)["latitude"] = 91.5 }},
			{"segments[0].place.longitude", func(in map[string]any) { seg(in)["place"].(map[string]any)["longitude"] = -181.0 }},
			{"segments[0].place.countryCode", func(in map[string]any) { seg(in)["place"].(map[string]any)["countryCode"] = "XX" }},
			{"segments[0].from", func(in map[string]any) { seg(in)["from"] = miami }},
			{"segments", func(in map[string]any) { in["segments"] = []any{} }},
			{"traveller", func(in map[string]any) { in["traveller"] = "nobody-here" }},
			{"purpose", func(in map[string]any) { in["purpose"] = "bad\x00byte" }},
		}
		s.Unchanged(t, func() {
			for _, c := range cases {
				in := good()
				c.edit(in)
				s.GW.Query(t, tok, createTripMutation, map[string]any{"input": in}).RefusedField(t, c.field)
			}
		})
		trip := createTrip(t, s, stacktest.TravelTeam, good())
		s.Unchanged(t, func() {
			bad := segment("HOTEL", start, start.Add(-time.Hour), "Africa/Nairobi", nairobiHotel)
			s.GW.Query(t, tok, addSegmentMutation, map[string]any{"input": map[string]any{"tripId": trip.ID, "segment": bad}}).RefusedField(t, "segment.endsAt")
			s.GW.Query(t, tok, addSegmentMutation, map[string]any{"input": map[string]any{"tripId": "not-an-id", "segment": segment("HOTEL", start, start.Add(time.Hour), "Africa/Nairobi", nairobiHotel)}}).RefusedField(t, "tripId")
			s.GW.Query(t, tok, cancelTripMutation, map[string]any{"id": trip.ID, "note": strings.Repeat("n", 501)}).RefusedField(t, "note")
		})
	})
}

// tripFixture creates the trips TestTripVisibility reads: three travellers
// on the road now in three regions, one trip planned, one called off.
type tripFixture struct {
	nairobi, tokyo, bogota, haiti, cancelled tripView
}

func seedTrips(t *testing.T, s *stacktest.Stack, now time.Time) tripFixture {
	t.Helper()
	day := 24 * time.Hour
	var f tripFixture
	f.nairobi = createTrip(t, s, stacktest.TravelTeam, map[string]any{"traveller": "tr-tomas", "purpose": "Customer visits in East Africa",
		"segments": []any{
			segment("HOTEL", now.Add(-day), now.Add(2*day), "Africa/Nairobi", nairobiHotel),
			segment("MEETING", now.Add(-time.Hour), now.Add(time.Hour), "Africa/Nairobi", place("Nairobi", "KE", -1.2630, 36.8030)),
		}})
	f.tokyo = createTrip(t, s, stacktest.TravelTeam, map[string]any{"traveller": "tr-keiko", "purpose": "Data centre audit",
		"segments": []any{segment("HOTEL", now.Add(-2*day), now.Add(3*day), "Asia/Tokyo", tokyoHotel)}})
	f.bogota = createTrip(t, s, stacktest.GlobalLead, map[string]any{"traveller": "tr-marta", "purpose": "Distributor meetings",
		"segments": []any{segment("HOTEL", now.Add(-day), now.Add(day), "America/Bogota", bogota)}})
	f.haiti = createTrip(t, s, stacktest.TravelTeam, haitiTrip("tr-marta", now.Add(10*day)))
	f.cancelled = createTrip(t, s, stacktest.TravelTeam, map[string]any{"traveller": "tr-keiko", "purpose": "Cancelled visit",
		"segments": []any{segment("HOTEL", now.Add(-day), now.Add(day), "Africa/Nairobi", nairobiHotel)}})
	tripMutation(t, s, stacktest.TravelTeam, cancelTripMutation, "cancelTrip", map[string]any{"id": f.cancelled.ID})
	return f
}

type tripEdgeView struct {
	Node struct {
		ID        string
		Traveller struct{ Subject string }
		Purpose   *string
		Status    string
	}
}

func listTrips(t testing.TB, s *stacktest.Stack, subject string, args map[string]any) []tripEdgeView {
	t.Helper()
	var out struct {
		Trips struct {
			Edges    []tripEdgeView
			PageInfo struct{ HasNextPage bool }
		}
	}
	vars := map[string]any{"first": 100}
	for k, v := range args {
		vars[k] = v
	}
	s.GW.Query(t, s.Token(t, subject), tripsQuery, vars).Decode(t, &out)
	if out.Trips.PageInfo.HasNextPage {
		t.Fatalf("more than 100 trips")
	}
	return out.Trips.Edges
}

func tripIDs(edges []tripEdgeView) []string {
	var ids []string
	for _, e := range edges {
		ids = append(ids, e.Node.ID)
	}
	slices.Sort(ids)
	return ids
}

func sorted(ids ...string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

const whoIsWhereQuery = `query($country: String, $latitude: Float, $longitude: Float, $radiusKm: Float, $at: Time) {
  whoIsWhere(country: $country, latitude: $latitude, longitude: $longitude, radiusKm: $radiusKm, at: $at) {
    traveller { subject name } trip { id purpose } segment { id kind place { city countryCode } } distanceKm
  }
}`

type presenceView struct {
	Traveller struct{ Subject, Name string }
	Trip      struct {
		ID      string
		Purpose *string
	}
	Segment struct {
		ID, Kind string
		Place    struct{ City, CountryCode string }
	}
	DistanceKm *float64
}

func whoIsWhere(t testing.TB, s *stacktest.Stack, subject string, args map[string]any) []presenceView {
	t.Helper()
	var out struct{ WhoIsWhere []presenceView }
	s.GW.Query(t, s.Token(t, subject), whoIsWhereQuery, args).Decode(t, &out)
	return out.WhoIsWhere
}

// TestTripVisibility: the travel team, global leads and auditors read
// every trip and why it is made; a regional manager reads who is where in
// their regions only, without the purpose; a protection agent reads none.
func TestTripVisibility(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{NoWorker: true})
	s.LoadTravellers(t)
	f := seedTrips(t, s, time.Now())
	all := sorted(f.nairobi.ID, f.tokyo.ID, f.bogota.ID, f.haiti.ID, f.cancelled.ID)

	for _, who := range []string{stacktest.TravelTeam, stacktest.GlobalLead, stacktest.Auditor} {
		edges := listTrips(t, s, who, nil)
		if got := tripIDs(edges); !slices.Equal(got, all) {
			t.Errorf("%s lists trips %v, want all %v", who, got, all)
		}
		for _, e := range edges {
			if e.Node.Purpose == nil || *e.Node.Purpose == "" {
				t.Errorf("%s does not see the purpose of %s", who, e.Node.ID)
			}
		}
	}
	for _, c := range []struct {
		who  string
		want []string
	}{
		{stacktest.EMEAManager, sorted(f.nairobi.ID, f.cancelled.ID)},
		{stacktest.APACManager, sorted(f.tokyo.ID)},
		{stacktest.AMERManager, sorted(f.bogota.ID, f.haiti.ID)},
	} {
		edges := listTrips(t, s, c.who, nil)
		if got := tripIDs(edges); !slices.Equal(got, c.want) {
			t.Errorf("%s lists trips %v, want those in their region %v", c.who, got, c.want)
		}
		for _, e := range edges {
			if e.Node.Purpose != nil {
				t.Errorf("%s sees the purpose %q of %s", c.who, *e.Node.Purpose, e.Node.ID)
			}
		}
	}
	if v := readTrip(t, s, stacktest.EMEAManager, f.tokyo.ID); v != nil {
		t.Errorf("the EMEA manager reads the Tokyo trip: %+v", v)
	}
	if v := readTrip(t, s, stacktest.APACManager, f.tokyo.ID); v == nil || v.Purpose != nil || len(v.Segments) != 1 {
		t.Errorf("the APAC manager reads the Tokyo trip as %+v, want it without its purpose", v)
	}

	var node struct{ Node *struct{ ID string } }
	s.GW.Query(t, s.Token(t, stacktest.EMEAManager), `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": f.tokyo.ID}).Decode(t, &node)
	if node.Node != nil {
		t.Errorf("node(id) shows the EMEA manager the Tokyo trip")
	}
	s.GW.Query(t, s.Token(t, stacktest.ProtectionAgent), tripsQuery, nil).Refused(t, "FORBIDDEN")
	s.GW.Query(t, s.Token(t, stacktest.ProtectionAgent), tripQuery, map[string]any{"id": f.tokyo.ID}).Refused(t, "FORBIDDEN")
	s.GW.Query(t, s.Token(t, stacktest.ProtectionAgent), whoIsWhereQuery, map[string]any{"country": "JP"}).Refused(t, "FORBIDDEN")
	s.GW.Query(t, s.Token(t, stacktest.Admin), tripsQuery, nil).Refused(t, "FORBIDDEN")

	t.Run("a regional manager follows risk changes in their own region only", func(t *testing.T) {
		c := stacktest.DialWS(t, s.GW, s.Token(t, stacktest.EMEAManager))
		for id, vars := range map[string]map[string]any{"everywhere": nil, "apac": {"region": "APAC"}} {
			m := c.Subscribe(t, id, tripRiskChangedSubscription, vars).Message(t)
			var errs []stacktest.GQLError
			if m.Type != "error" || json.Unmarshal(m.Payload, &errs) != nil || len(errs) != 1 || errs[0].Code() != "FORBIDDEN" {
				t.Errorf("tripRiskChanged(%v) as the EMEA manager: %s %s", vars, m.Type, m.Payload)
			}
		}
		emea := c.Subscribe(t, "emea", tripRiskChangedSubscription, map[string]any{"region": "EMEA"})
		c.Ping(t) // the server has handled the subscribe: a refusal would be waiting already
		select {
		case m := <-emea.Incoming():
			t.Errorf("tripRiskChanged(region: EMEA) as the EMEA manager answered %s %s", m.Type, m.Payload)
		default:
		}
	})

	t.Run("filters", func(t *testing.T) {
		if got := tripIDs(listTrips(t, s, stacktest.Auditor, map[string]any{"country": "ke"})); !slices.Equal(got, sorted(f.nairobi.ID, f.cancelled.ID)) {
			t.Errorf("trips(country: ke) = %v", got)
		}
		if got := tripIDs(listTrips(t, s, stacktest.Auditor, map[string]any{"traveller": "tr-marta"})); !slices.Equal(got, sorted(f.bogota.ID, f.haiti.ID)) {
			t.Errorf("trips(traveller: tr-marta) = %v", got)
		}
		if got := tripIDs(listTrips(t, s, stacktest.Auditor, map[string]any{"status": "CANCELLED"})); !slices.Equal(got, sorted(f.cancelled.ID)) {
			t.Errorf("trips(status: CANCELLED) = %v", got)
		}
		at := time.Now().Add(10*24*time.Hour + 4*time.Hour).UTC().Format(time.RFC3339)
		if got := tripIDs(listTrips(t, s, stacktest.Auditor, map[string]any{"at": at})); !slices.Equal(got, sorted(f.haiti.ID)) {
			t.Errorf("trips(at: in ten days) = %v, want the Haiti trip", got)
		}
		s.GW.Query(t, s.Token(t, stacktest.Auditor), tripsQuery, map[string]any{"country": "Atlantis"}).RefusedField(t, "country")
	})

	t.Run("who is where", func(t *testing.T) {
		inKenya := whoIsWhere(t, s, stacktest.TravelTeam, map[string]any{"country": "KE"})
		if len(inKenya) != 2 {
			t.Fatalf("whoIsWhere(KE) = %+v, want Tomás at his hotel and his meeting (not the cancelled trip)", inKenya)
		}
		for _, p := range inKenya {
			if p.Traveller.Subject != "tr-tomas" || p.Trip.ID != f.nairobi.ID || p.DistanceKm != nil || p.Segment.Place.CountryCode != "KE" {
				t.Errorf("whoIsWhere(KE): %+v", p)
			}
		}

		// From the Nairobi office: the hotel (about 0.8 km) before the
		// meeting (about 3.8 km), distances by PostGIS.
		near := whoIsWhere(t, s, stacktest.EMEAManager, map[string]any{"latitude": -1.2921, "longitude": 36.8219, "radiusKm": 50.0})
		if len(near) != 2 || near[0].Segment.Kind != "HOTEL" || near[1].Segment.Kind != "MEETING" {
			t.Fatalf("whoIsWhere(near the Nairobi office) = %+v, want the hotel then the meeting", near)
		}
		if d := near[0].DistanceKm; d == nil || *d < 0.5 || *d > 1.2 {
			t.Errorf("the hotel is %v km from the office, want about 0.8", d)
		}
		if d := near[1].DistanceKm; d == nil || *d < 3 || *d > 4.5 {
			t.Errorf("the meeting is %v km from the office, want about 3.8", d)
		}
		if near[0].Trip.Purpose != nil {
			t.Errorf("the EMEA manager sees the purpose %q", *near[0].Trip.Purpose)
		}
		if got := whoIsWhere(t, s, stacktest.TravelTeam, map[string]any{"latitude": -1.2921, "longitude": 36.8219, "radiusKm": 2.0}); len(got) != 1 || got[0].Segment.Kind != "HOTEL" {
			t.Errorf("within 2 km of the office: %+v, want the hotel only", got)
		}
		if got := whoIsWhere(t, s, stacktest.EMEAManager, map[string]any{"country": "JP"}); len(got) != 0 {
			t.Errorf("the EMEA manager sees who is in Japan: %+v", got)
		}
		if got := whoIsWhere(t, s, stacktest.APACManager, map[string]any{"latitude": 35.68, "longitude": 139.76, "radiusKm": 10.0}); len(got) != 1 || got[0].Traveller.Subject != "tr-keiko" {
			t.Errorf("the APAC manager near Tokyo station: %+v", got)
		}

		past := time.Now().Add(-5 * 24 * time.Hour).UTC().Format(time.RFC3339)
		if got := whoIsWhere(t, s, stacktest.Auditor, map[string]any{"country": "KE", "at": past}); len(got) != 0 {
			t.Errorf("five days ago in Kenya: %+v, want nobody", got)
		}
		future := time.Now().Add(10*24*time.Hour + 4*time.Hour).UTC().Format(time.RFC3339)
		if got := whoIsWhere(t, s, stacktest.Auditor, map[string]any{"country": "HT", "at": future}); len(got) != 1 || got[0].Trip.ID != f.haiti.ID {
			t.Errorf("in Haiti in ten days: %+v, want Marta", got)
		}

		for _, c := range []struct {
			field string
			args  map[string]any
		}{
			{"radiusKm", map[string]any{"latitude": -1.29, "longitude": 36.82, "radiusKm": 20000.0}},
			{"radiusKm", map[string]any{"latitude": -1.29, "longitude": 36.82, "radiusKm": 0.0}},
			{"radiusKm", map[string]any{"latitude": -1.29, "radiusKm": 5.0}},
			{"latitude", map[string]any{"latitude": -91.0, "longitude": 36.82, "radiusKm": 5.0}},
			{"country", map[string]any{"country": "Kenya"}},
			{"country", map[string]any{}},
		} {
			s.GW.Query(t, s.Token(t, stacktest.TravelTeam), whoIsWhereQuery, c.args).RefusedField(t, c.field)
		}
	})
}

// travelMutation is one mutation of the travel domain, for the policy
// matrix: its document, its variables, and who may send it.
type travelMutation struct {
	name    string
	doc     string
	vars    func() map[string]any
	allowed []string
}

// TestTravelMutationMatrix sends every travel mutation as every persona:
// those the policy refuses are FORBIDDEN and write nothing; those it allows
// are never FORBIDDEN (they succeed, or fail for another reason, such as a
// trip already submitted).
func TestTravelMutationMatrix(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{Tables: []string{
		"trips", "trip_segments", "trip_timeline", "advisory_overrides", "country_risk_versions", "impact_radii", "incidents",
	}})
	s.LoadAdvisories(t)
	s.LoadTravellers(t)
	start := time.Now().Add(20 * 24 * time.Hour).Truncate(time.Hour)
	draft := createTrip(t, s, stacktest.GlobalLead, haitiTrip("tr-tomas", start))
	pending := createTrip(t, s, stacktest.GlobalLead, haitiTrip("tr-keiko", start))
	tripMutation(t, s, stacktest.TravelTeam, submitTripMutation, "submitTrip", map[string]any{"id": pending.ID})
	waitAsked(t, s, pending.ID) // the worker is quiet from here: the next reminder is hours away

	managers := []string{stacktest.TravelTeam, stacktest.GlobalLead}
	mutations := []travelMutation{
		{"createTrip", createTripMutation, func() map[string]any {
			return map[string]any{"input": map[string]any{"traveller": "tr-marta", "segments": []any{
				segment("HOTEL", start, start.Add(24*time.Hour), "America/Bogota", bogota)}}}
		}, managers},
		{"importItinerary", importItineraryMutation, func() map[string]any {
			return map[string]any{"input": map[string]any{"traveller": "tr-marta", "ics": johannesburgICS}}
		}, managers},
		{"addTripSegment", addSegmentMutation, func() map[string]any {
			return map[string]any{"input": map[string]any{"tripId": draft.ID, "segment": segment("MEETING", start.Add(24*time.Hour),
				start.Add(26*time.Hour), "America/Port-au-Prince", portAuPrince)}}
		}, managers},
		{"submitTrip", submitTripMutation, func() map[string]any { return map[string]any{"id": draft.ID} }, managers},
		{"decideTrip (level 4)", decideTripMutation, func() map[string]any {
			return map[string]any{"id": pending.ID, "decision": "APPROVE"}
		}, []string{stacktest.GlobalLead}},
		{"cancelTrip", cancelTripMutation, func() map[string]any { return map[string]any{"id": draft.ID, "note": "matrix"} }, managers},
		{"setAdvisoryOverride", setOverrideMutation, func() map[string]any {
			return map[string]any{"input": map[string]any{"country": "CO", "level": 3, "reason": "Election week"}}
		}, managers},
		{"refreshAdvisories", stacktest.RefreshAdvisoriesMutation, func() map[string]any { return map[string]any{"source": "CA_GAC"} }, managers},
		{"setImpactRadius", setRadiusMutation, func() map[string]any {
			return map[string]any{"input": map[string]any{"kind": "FIRE", "assetType": "SITE", "radiusKm": 3.0}}
		}, []string{stacktest.GlobalLead, stacktest.Admin}},
	}
	personas := []string{stacktest.GlobalLead, stacktest.AMERManager, stacktest.EMEAManager, stacktest.APACManager,
		stacktest.TravelTeam, stacktest.ProtectionAgent, stacktest.Auditor, stacktest.Admin}

	// Every refusal first, while nothing else writes.
	for _, m := range mutations {
		for _, who := range personas {
			if slices.Contains(m.allowed, who) {
				continue
			}
			s.Unchanged(t, func() {
				r := s.GW.Query(t, s.Token(t, who), m.doc, m.vars())
				if len(r.Errors) != 1 || r.Errors[0].Code() != "FORBIDDEN" {
					t.Errorf("%s as %s: want FORBIDDEN, got %s", m.name, who, r.Body)
				}
			})
		}
	}
	// Then what each persona may do, in an order where each has its object.
	for _, m := range mutations {
		for _, who := range m.allowed {
			r := s.GW.Query(t, s.Token(t, who), m.doc, m.vars())
			for _, e := range r.Errors {
				if code := e.Code(); code == "FORBIDDEN" || code == "UNAUTHENTICATED" {
					t.Errorf("%s as %s, whom the policy allows, was refused: %s", m.name, who, r.Body)
				}
			}
			t.Logf("%s as %s: %s", m.name, who, summary(r))
		}
	}
	if v := readTrip(t, s, stacktest.Auditor, pending.ID); v.Status != "APPROVED" {
		t.Errorf("the level-4 trip is %s after the global lead's decision", v.Status)
	}
	if v := readTrip(t, s, stacktest.Auditor, draft.ID); v.Status != "CANCELLED" || len(v.Segments) != 4 {
		t.Errorf("the draft is %s with %d segments after two additions, a submission and a cancellation", v.Status, len(v.Segments))
	}
}

// summary is what a matrix call answered, for the log: its error codes, or
// "ok".
func summary(r stacktest.Result) string {
	if len(r.Errors) == 0 {
		return "ok"
	}
	var codes []string
	for _, e := range r.Errors {
		codes = append(codes, fmt.Sprintf("%s (%s)", e.Code(), e.Message))
	}
	return strings.Join(codes, "; ")
}
