package protection

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"meridian.dev/platform/fault"
)

var (
	london = Place{City: "London", CountryCode: "gb", Latitude: 51.50741, Longitude: -0.12779}
	paris  = Place{City: "Paris", CountryCode: "FR", Latitude: 48.85661, Longitude: 2.35222}
)

func legInput(d Detail) NewMovement {
	return NewMovement{DetailID: d.ID, From: london, To: paris, PlannedDeparture: coreClock.Add(2 * time.Hour),
		PlannedArrival: coreClock.Add(5 * time.Hour), DepartureZone: "Europe/London", ArrivalZone: "Europe/Paris",
		Vehicle: "armoured van", RouteNotes: "via Tunnelroutexyz"}
}

func TestMovements(t *testing.T) {
	c := newCore(t)
	ctx := context.Background()
	d := c.detail(t, c.protectee(t, "Ada"), "EMEA", "leader", "agent")

	first, err := c.store.AddMovement(ctx, idLeader, legInput(d))
	if err != nil {
		t.Fatalf("add: %v", err)
	}
	second, err := c.store.AddMovement(ctx, idAdmin, legInput(d))
	if err != nil {
		t.Fatal(err)
	}
	if first.Seq != 1 || second.Seq != 2 || first.Status != "PLANNED" || first.From.CountryCode != "GB" {
		t.Fatalf("legs %+v %+v", first, second)
	}
	departed := coreClock.Add(2*time.Hour + 5*time.Minute)
	updated, err := c.store.UpdateMovement(ctx, idLeader, MovementChange{MovementID: first.ID, Status: corePtr("en_route"),
		ActualDeparture: &departed})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if updated.Status != "EN_ROUTE" || updated.ActualDeparture == nil || !updated.ActualDeparture.Equal(departed) {
		t.Fatalf("updated %+v", updated)
	}
	all, err := c.store.Movements(ctx, []uuid.UUID{d.ID})
	if err != nil || len(all[d.ID]) != 2 || all[d.ID][0].Status != "EN_ROUTE" || all[d.ID][1].Seq != 2 ||
		all[d.ID][0].RouteNotes != "via Tunnelroutexyz" || all[d.ID][0].To != paris {
		t.Fatalf("movements %+v %v", all, err)
	}
	// The same values again change nothing and write nothing.
	before := c.snapshot(t)
	if _, err := c.store.UpdateMovement(ctx, idLeader, MovementChange{MovementID: first.ID, Status: corePtr("EN_ROUTE")}); err != nil {
		t.Fatal(err)
	}
	c.assertUnchanged(t, before, "a change to the same values")

	if n := len(coreOutbox[DetailChanged](t, c, TopicDetailChanged)); n != 3 {
		t.Fatalf("%d MOVEMENT events, want 3", n)
	}
	text := c.auditText(t)
	for _, secret := range []string{"London", "Paris", "Tunnelroutexyz", "51.507", "2.352", "2030-03-01T11", "2030-03-01T14"} {
		if strings.Contains(text, secret) {
			t.Errorf("audit or timeline carries %q:\n%s", secret, text)
		}
	}
	if !strings.Contains(text, `"changed": ["status", "actualDeparture"]`) {
		t.Errorf("the update's audit row does not name what changed:\n%s", text)
	}
}

func TestMovementRefusals(t *testing.T) {
	c := newCore(t)
	ctx := context.Background()
	d := c.detail(t, c.protectee(t, "Ada"), "EMEA", "leader", "agent")
	leg, err := c.store.AddMovement(ctx, idLeader, legInput(d))
	if err != nil {
		t.Fatal(err)
	}
	with := func(f func(*NewMovement)) NewMovement { n := legInput(d); f(&n); return n }
	cases := []struct {
		name  string
		in    NewMovement
		field string
	}{
		{"arrives before it departs", with(func(n *NewMovement) { n.PlannedArrival = n.PlannedDeparture.Add(-time.Minute) }), "plannedArrival"},
		{"no departure", with(func(n *NewMovement) { n.PlannedDeparture = time.Time{} }), "plannedDeparture"},
		{"no city", with(func(n *NewMovement) { n.From.City = "" }), "from.city"},
		{"long city", with(func(n *NewMovement) { n.To.City = strings.Repeat("c", 101) }), "to.city"},
		{"country", with(func(n *NewMovement) { n.To.CountryCode = "ZZ" }), "to.countryCode"},
		{"latitude", with(func(n *NewMovement) { n.From.Latitude = 90.5 }), "from.latitude"},
		{"NaN latitude", with(func(n *NewMovement) { n.From.Latitude = math.NaN() }), "from.latitude"},
		{"longitude", with(func(n *NewMovement) { n.To.Longitude = -181 }), "to.longitude"},
		{"zone", with(func(n *NewMovement) { n.DepartureZone = "Mars/Olympus" }), "departureTimezone"},
		{"Local zone", with(func(n *NewMovement) { n.ArrivalZone = "Local" }), "arrivalTimezone"},
		{"no zone", with(func(n *NewMovement) { n.ArrivalZone = "" }), "arrivalTimezone"},
		{"route notes", with(func(n *NewMovement) { n.RouteNotes = strings.Repeat("r", 2001) }), "routeNotes"},
	}
	before := c.snapshot(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.store.AddMovement(ctx, idLeader, tc.in)
			wantCoreFault(t, err, fault.BadUserInput, tc.field)
		})
	}
	departed := coreClock.Add(3 * time.Hour)
	changes := []struct {
		name  string
		in    MovementChange
		field string
	}{
		{"status", MovementChange{MovementID: leg.ID, Status: corePtr("LOST")}, "status"},
		{"planned arrival before departure", MovementChange{MovementID: leg.ID, PlannedArrival: corePtr(coreClock)}, "plannedArrival"},
		{"actual arrival before departure", MovementChange{MovementID: leg.ID, ActualDeparture: &departed,
			ActualArrival: corePtr(departed.Add(-time.Second))}, "actualArrival"},
		{"route notes", MovementChange{MovementID: leg.ID, RouteNotes: corePtr("\x00")}, "routeNotes"},
	}
	for _, tc := range changes {
		t.Run("update "+tc.name, func(t *testing.T) {
			_, err := c.store.UpdateMovement(ctx, idLeader, tc.in)
			wantCoreFault(t, err, fault.BadUserInput, tc.field)
		})
	}
	_, err = c.store.UpdateMovement(ctx, idLeader, MovementChange{MovementID: coreID(t), Status: corePtr("ARRIVED")})
	wantCoreFault(t, err, fault.NotFound, "")
	_, err = c.store.AddMovement(ctx, idLeader, with(func(n *NewMovement) { n.DetailID = coreID(t) }))
	wantCoreFault(t, err, fault.NotFound, "")
	for _, who := range []string{"agent", "other", "manager", "auditor"} {
		if _, err := c.store.AddMovement(ctx, personas[who], legInput(d)); !isForbidden(err) {
			t.Errorf("%s added a movement: %v", who, err)
		}
		if _, err := c.store.UpdateMovement(ctx, personas[who], MovementChange{MovementID: leg.ID, Status: corePtr("ARRIVED")}); !isForbidden(err) {
			t.Errorf("%s updated a movement: %v", who, err)
		}
	}
	c.assertUnchanged(t, before, "refused movements")

	if _, err := c.store.End(ctx, idLead, d.ID, ""); err != nil {
		t.Fatal(err)
	}
	before = c.snapshot(t)
	_, err = c.store.AddMovement(ctx, idLead, legInput(d))
	wantCoreFault(t, err, fault.Conflict, "")
	_, err = c.store.UpdateMovement(ctx, idLead, MovementChange{MovementID: leg.ID, Status: corePtr("ARRIVED")})
	wantCoreFault(t, err, fault.Conflict, "")
	c.assertUnchanged(t, before, "movements of an ended detail")
}

func TestSafeHavens(t *testing.T) {
	c := newCore(t)
	ctx := context.Background()
	d := c.detail(t, c.protectee(t, "Ada"), "EMEA", "leader", "agent")
	h, err := c.store.AddSafeHaven(ctx, idLeader, NewSafeHaven{DetailID: d.ID, Kind: "hospital", Name: "St Thomas'",
		Place: london, Phone: "+44 20 7188 7188", Notes: "back entry code Havennote42"})
	if err != nil {
		t.Fatalf("add: %v", err)
	}
	if h.Kind != "HOSPITAL" || h.Place.CountryCode != "GB" || h.CreatedBy != "leader" {
		t.Fatalf("haven %+v", h)
	}
	all, err := c.store.SafeHavens(ctx, []uuid.UUID{d.ID})
	if err != nil || len(all[d.ID]) != 1 || all[d.ID][0] != h {
		t.Fatalf("havens %+v %v", all, err)
	}
	if strings.Contains(c.auditText(t), "Havennote42") {
		t.Fatal("the audit log carries a safe haven's notes")
	}
	ok := NewSafeHaven{DetailID: d.ID, Kind: "POLICE", Name: "Yard", Place: london}
	with := func(f func(*NewSafeHaven)) NewSafeHaven { n := ok; f(&n); return n }
	cases := []struct {
		name  string
		in    NewSafeHaven
		field string
	}{
		{"kind", with(func(n *NewSafeHaven) { n.Kind = "BUNKER" }), "kind"},
		{"no name", with(func(n *NewSafeHaven) { n.Name = "" }), "name"},
		{"long name", with(func(n *NewSafeHaven) { n.Name = strings.Repeat("n", 201) }), "name"},
		{"city", with(func(n *NewSafeHaven) { n.Place.City = "" }), "place.city"},
		{"country", with(func(n *NewSafeHaven) { n.Place.CountryCode = "XX" }), "place.countryCode"},
		{"latitude", with(func(n *NewSafeHaven) { n.Place.Latitude = -91 }), "place.latitude"},
		{"longitude", with(func(n *NewSafeHaven) { n.Place.Longitude = math.Inf(1) }), "place.longitude"},
		{"phone", with(func(n *NewSafeHaven) { n.Phone = strings.Repeat("1", 41) }), "phone"},
		{"phone letters", with(func(n *NewSafeHaven) { n.Phone = "ring ring" }), "phone"},
		{"notes", with(func(n *NewSafeHaven) { n.Notes = strings.Repeat("n", 2001) }), "notes"},
	}
	before := c.snapshot(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.store.AddSafeHaven(ctx, idLeader, tc.in)
			wantCoreFault(t, err, fault.BadUserInput, tc.field)
		})
	}
	for _, who := range []string{"agent", "other", "auditor"} {
		if _, err := c.store.AddSafeHaven(ctx, personas[who], ok); !isForbidden(err) {
			t.Errorf("%s added a safe haven: %v", who, err)
		}
	}
	c.assertUnchanged(t, before, "refused safe havens")
}

func TestAdvanceNotes(t *testing.T) {
	c := newCore(t)
	ctx := context.Background()
	p := c.protectee(t, "Ada")
	d := c.detail(t, p, "EMEA", "leader", "agent")
	other := c.detail(t, p, "EMEA", "leader")
	leg, err := c.store.AddMovement(ctx, idLeader, legInput(d))
	if err != nil {
		t.Fatal(err)
	}
	otherLeg, err := c.store.AddMovement(ctx, idLeader, legInput(other))
	if err != nil {
		t.Fatal(err)
	}
	good := NewAdvanceNote{DetailID: d.ID, MovementID: &leg.ID, Place: "Gare du Nord", NotedFor: coreClock.Add(24 * time.Hour),
		Note: "protesters expected Advancetext77"}

	// An agent writes notes only once the detail is active; the leader any time before it ends.
	before := c.snapshot(t)
	if _, err := c.store.AddAdvanceNote(ctx, idAgent, good); !isForbidden(err) {
		t.Fatalf("an agent of a planned detail added a note: %v", err)
	}
	if _, err := c.store.AddAdvanceNote(ctx, idOther, good); !isForbidden(err) {
		t.Fatalf("a stranger added a note: %v", err)
	}
	with := func(f func(*NewAdvanceNote)) NewAdvanceNote { n := good; f(&n); return n }
	cases := []struct {
		name  string
		in    NewAdvanceNote
		field string
	}{
		{"no note", with(func(n *NewAdvanceNote) { n.Note = " " }), "note"},
		{"long note", with(func(n *NewAdvanceNote) { n.Note = strings.Repeat("n", 4001) }), "note"},
		{"long place", with(func(n *NewAdvanceNote) { n.Place = strings.Repeat("p", 201) }), "place"},
		{"no date", with(func(n *NewAdvanceNote) { n.NotedFor = time.Time{} }), "notedFor"},
		{"date far ahead", with(func(n *NewAdvanceNote) { n.NotedFor = coreClock.AddDate(11, 0, 0) }), "notedFor"},
		{"another detail's movement", with(func(n *NewAdvanceNote) { n.MovementID = &otherLeg.ID }), "movementId"},
		{"unknown movement", with(func(n *NewAdvanceNote) { n.MovementID = corePtr(coreID(t)) }), "movementId"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.store.AddAdvanceNote(ctx, idLeader, tc.in)
			wantCoreFault(t, err, fault.BadUserInput, tc.field)
		})
	}
	c.assertUnchanged(t, before, "refused notes")

	byLeader, err := c.store.AddAdvanceNote(ctx, idLeader, good)
	if err != nil {
		t.Fatalf("leader: %v", err)
	}
	c.start(t, d)
	byAgent, err := c.store.AddAdvanceNote(ctx, idAgent, with(func(n *NewAdvanceNote) {
		n.MovementID, n.Place, n.NotedFor = nil, "", coreClock.Add(time.Hour)
	}))
	if err != nil {
		t.Fatalf("agent of an active detail: %v", err)
	}
	notes, err := c.store.AdvanceNotes(ctx, []uuid.UUID{d.ID, other.ID})
	if err != nil || len(notes[d.ID]) != 2 || len(notes[other.ID]) != 0 {
		t.Fatalf("notes %+v %v", notes, err)
	}
	// By the date they are about, not the order written.
	if notes[d.ID][0].ID != byAgent.ID || notes[d.ID][1].ID != byLeader.ID || *notes[d.ID][1].MovementID != leg.ID ||
		notes[d.ID][1].Note != good.Note || notes[d.ID][1].CreatedBy != "leader" {
		t.Fatalf("notes %+v", notes[d.ID])
	}
	text := c.auditText(t)
	if strings.Contains(text, "Advancetext77") || strings.Contains(text, "Gare du Nord") {
		t.Fatalf("audit or timeline carries a note's text or place:\n%s", text)
	}
}
