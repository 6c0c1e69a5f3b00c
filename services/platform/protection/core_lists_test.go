package protection

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/fault"
)

// TestListsAgreeWithStandings holds the SQL filters of Protectees and
// Details to ProtecteeStanding and DetailStanding: listed exactly when not
// Hidden, for every persona and every detail.
func TestListsAgreeWithStandings(t *testing.T) {
	c := newCore(t)
	ctx := context.Background()
	p1, p2, p3, p4 := c.protectee(t, "P1"), c.protectee(t, "P2"), c.protectee(t, "P3"), c.protectee(t, "P4 without details")
	d1 := c.start(t, c.detail(t, p1, "EMEA", "leader", "agent"))
	d2 := c.detail(t, p1, "APAC", "other", "agent2")
	d3 := c.detail(t, p2, "APAC", "other")
	d4 := c.detail(t, p2, "AMER", "leader", "agent")
	d5 := c.detail(t, p3, "AMER", "other", "agent2")
	d6 := c.detail(t, p3, "EMEA", "agent2", "agent")
	for _, d := range []Detail{d2, d4, d6} {
		if _, err := c.store.End(ctx, idLead, d.ID, ""); err != nil {
			t.Fatal(err)
		}
	}
	_ = d3
	_ = d5
	viewers := []auth.Identity{idLead, idAdmin, idAuditor, idManager, idLeader, idAgent, idAgent2, idOther, idTravel,
		{Subject: "apac-manager", Roles: []string{auth.RoleRegionalManager}, Regions: []string{"APAC", "AMER"}},
		{Subject: "manager-without-role", Regions: []string{"EMEA"}},
		{Subject: "stranger"},
		{Subject: "", Roles: []string{auth.RoleGlobalLead}},
	}
	everyone := []Protectee{p1, p2, p3, p4}
	ids := []uuid.UUID{p1.ID, p2.ID, p3.ID, p4.ID}
	detailsOf, err := c.store.DetailsOf(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range viewers {
		name := v.Subject
		if name == "" {
			name = "anonymous"
		}
		t.Run(name, func(t *testing.T) {
			listedP := pageAll(t, func(first int, after string) ([]Protectee, bool, error) {
				return c.store.Protectees(ctx, v, first, after)
			}, ProtecteeCursor)
			listedD := pageAll(t, func(first int, after string) ([]Detail, bool, error) {
				return c.store.Details(ctx, v, DetailFilter{}, first, after)
			}, DetailCursor)
			for _, p := range everyone {
				visible := ProtecteeStanding(v, detailsOf[p.ID]) != Hidden
				listed := slices.ContainsFunc(listedP, func(x Protectee) bool { return x.ID == p.ID })
				if visible != listed {
					t.Errorf("protectee %s: standing %v, listed %v", p.Name, ProtecteeStanding(v, detailsOf[p.ID]), listed)
				}
				for _, d := range detailsOf[p.ID] {
					visible := DetailStanding(v, d, detailsOf[p.ID]) != Hidden
					listed := slices.ContainsFunc(listedD, func(x Detail) bool { return x.ID == d.ID })
					if visible != listed {
						t.Errorf("detail %s of %s (%s, leader %s, agents %v): standing %v, listed %v", d.ID, p.Name,
							d.Status, d.Leader, d.Agents, DetailStanding(v, d, detailsOf[p.ID]), listed)
					}
				}
			}
		})
	}
	// The cases the table above exercises, spelled out: an agent of an
	// active detail sees its protectee's other details; an ended detail's
	// agent sees only that detail.
	list, _, err := c.store.Details(ctx, idAgent, DetailFilter{}, 50, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []uuid.UUID
	for _, d := range list {
		got = append(got, d.ID)
	}
	if want := []uuid.UUID{d6.ID, d4.ID, d2.ID, d1.ID}; !slices.Equal(got, want) {
		t.Fatalf("agent's details %v, want %v (newest first)", got, want)
	}
}

// pageAll reads a whole list one row at a time, checking the cursors.
func pageAll[T any](t *testing.T, list func(first int, after string) ([]T, bool, error), cursor func(T) string) []T {
	t.Helper()
	var out []T
	after := ""
	for range 100 {
		page, more, err := list(1, after)
		if err != nil {
			t.Fatalf("page after %q: %v", after, err)
		}
		if len(page) > 1 || (more && len(page) == 0) {
			t.Fatalf("page of %d rows, more %v", len(page), more)
		}
		out = append(out, page...)
		if !more {
			whole, _, err := list(maxPage, "")
			if err != nil || len(whole) != len(out) {
				t.Fatalf("paged %d rows, one page has %d (%v)", len(out), len(whole), err)
			}
			return out
		}
		after = cursor(page[0])
	}
	t.Fatal("paging does not end")
	return nil
}

func TestDetailsFilters(t *testing.T) {
	c := newCore(t)
	ctx := context.Background()
	p := c.protectee(t, "Ada")
	emea := c.start(t, c.detail(t, p, "EMEA", "leader"))
	amer := c.detail(t, p, "AMER", "leader")
	list, more, err := c.store.Details(ctx, idLead, DetailFilter{Status: StatusActive}, 10, "")
	if err != nil || more || len(list) != 1 || list[0].ID != emea.ID {
		t.Fatalf("active: %+v %v", list, err)
	}
	list, _, err = c.store.Details(ctx, idLead, DetailFilter{Region: "AMER"}, 10, "")
	if err != nil || len(list) != 1 || list[0].ID != amer.ID {
		t.Fatalf("AMER: %+v %v", list, err)
	}
	_, _, err = c.store.Details(ctx, idLead, DetailFilter{Status: "DONE"}, 10, "")
	wantCoreFault(t, err, fault.BadUserInput, "status")
	_, _, err = c.store.Details(ctx, idLead, DetailFilter{Region: "MARS"}, 10, "")
	wantCoreFault(t, err, fault.BadUserInput, "region")
	_, _, err = c.store.Details(ctx, idLead, DetailFilter{}, 10, ProtecteeCursor(p))
	wantCoreFault(t, err, fault.BadUserInput, "after")
	_, _, err = c.store.Protectees(ctx, idLead, -1, "")
	wantCoreFault(t, err, fault.BadUserInput, "first")
	_, _, err = c.store.Protectees(ctx, idLead, 10, "bm90IGEgY3Vyc29y")
	wantCoreFault(t, err, fault.BadUserInput, "after")

	got, err := c.store.ProtecteesByID(ctx, []uuid.UUID{p.ID, coreID(t)})
	if err != nil || len(got) != 1 || got[p.ID].Name != "Ada" {
		t.Fatalf("by id: %+v %v", got, err)
	}
	byID, err := c.store.DetailsByID(ctx, []uuid.UUID{emea.ID, amer.ID})
	if err != nil || len(byID) != 2 || byID[amer.ID].Region != "AMER" {
		t.Fatalf("details by id: %+v %v", byID, err)
	}
	_, _, err = c.store.Protectee(ctx, coreID(t))
	wantCoreFault(t, err, fault.NotFound, "")
	_, err = c.store.Detail(ctx, coreID(t))
	wantCoreFault(t, err, fault.NotFound, "")
}

func TestCheckInsPageNewestFirst(t *testing.T) {
	c := newCore(t)
	ctx := context.Background()
	d := c.start(t, c.detail(t, c.protectee(t, "Ada"), "EMEA", "leader", "agent"))
	// Check-ins are written by CheckIn (codes and duress live there); the
	// list only reads them. Two share a time, to page across a tie.
	var want []uuid.UUID
	for i, at := range []time.Time{coreClock.Add(time.Minute), coreClock.Add(2 * time.Minute), coreClock.Add(2 * time.Minute)} {
		id := coreID(t)
		var lat, lon any
		if i == 0 {
			lat, lon = 1.5, 2.5
		}
		if _, err := c.pool.Exec(ctx, `INSERT INTO check_ins (id, detail_id, agent, at, latitude, longitude, note, next_due)
			VALUES ($1, $2, 'agent', $3, $4, $5, 'ok', $6)`, id, d.ID, at, lat, lon, at.Add(d.Interval)); err != nil {
			t.Fatal(err)
		}
		want = append([]uuid.UUID{id}, want...)
	}
	got := pageAll(t, func(first int, after string) ([]CheckIn, bool, error) {
		return c.store.CheckIns(ctx, d.ID, first, after)
	}, CheckInCursor)
	var ids []uuid.UUID
	for _, ci := range got {
		ids = append(ids, ci.ID)
	}
	// Newest first; the tie by id, highest first.
	if !slices.Equal(ids, want) {
		t.Fatalf("check-ins %v, want %v", ids, want)
	}
	if last := got[2]; last.Position == nil || last.Position.Latitude != 1.5 || last.Note != "ok" || got[0].Position != nil {
		t.Fatalf("check-in fields %+v / %+v", got[2], got[0])
	}
	_, _, err := c.store.CheckIns(ctx, d.ID, 10, DetailCursor(d))
	wantCoreFault(t, err, fault.BadUserInput, "after")
}

func TestAccessLog(t *testing.T) {
	c := newCore(t)
	ctx := context.Background()
	p, q := c.protectee(t, "Ada"), c.protectee(t, "Bea")
	d := c.detail(t, p, "EMEA", "leader")
	entries := []Access{
		{Actor: "lead", ProtecteeID: p.ID, Fields: []string{FieldProfile}, TraceID: "trace-1"},
		{Actor: "leader", ProtecteeID: p.ID, DetailID: &d.ID, Fields: []string{FieldLastPosition, FieldMovementPlaces}},
		{Actor: "lead", ProtecteeID: q.ID, Fields: []string{FieldProfile}, At: coreClock},
	}
	if err := c.store.LogAccess(ctx, entries); err != nil {
		t.Fatal(err)
	}
	if err := c.store.LogAccess(ctx, nil); err != nil {
		t.Fatal(err)
	}
	before := c.snapshot(t)
	err := c.store.LogAccess(ctx, []Access{entries[0], {Actor: "lead", ProtecteeID: p.ID}})
	wantCoreFault(t, err, fault.BadUserInput, "entries")
	if err := c.store.LogAccess(ctx, []Access{entries[0], {Actor: "x", ProtecteeID: coreID(t), Fields: []string{"profile"}}}); err == nil {
		t.Fatal("an entry for an unknown protectee was logged")
	}
	c.assertUnchanged(t, before, "refused access entries (all or none)")

	all := pageAll(t, func(first int, after string) ([]Access, bool, error) {
		return c.store.AccessLog(ctx, nil, first, after)
	}, AccessCursor)
	if len(all) != 3 || all[0].ProtecteeID != q.ID || !all[0].At.Equal(coreClock) || all[2].TraceID != "trace-1" {
		t.Fatalf("log %+v", all)
	}
	ofP, more, err := c.store.AccessLog(ctx, &p.ID, 10, "")
	if err != nil || more || len(ofP) != 2 || ofP[0].Actor != "leader" || *ofP[0].DetailID != d.ID ||
		!slices.Equal(ofP[0].Fields, []string{FieldLastPosition, FieldMovementPlaces}) || ofP[1].DetailID != nil {
		t.Fatalf("log of p %+v %v", ofP, err)
	}
	_, _, err = c.store.AccessLog(ctx, nil, 10, CheckInCursor(CheckIn{}))
	wantCoreFault(t, err, fault.BadUserInput, "after")
}
