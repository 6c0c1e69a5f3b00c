package incident_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"meridian.dev/platform/audit"
	"meridian.dev/platform/auth"
	"meridian.dev/platform/escalation"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/incident"
	"meridian.dev/platform/testenv"
)

func anyRegion([]string) error { return nil }

// The personas of these tests, one of each kind the rules name.
var (
	globalLead  = auth.Identity{Subject: "gl-ada", Roles: []string{auth.RoleGlobalLead}}
	leader      = auth.Identity{Subject: "pa-liam", Roles: []string{auth.RoleProtectionAgent}}
	pagedAPAC   = auth.Identity{Subject: "rm-apac-aiko", Roles: []string{auth.RoleRegionalManager}, Regions: []string{"APAC"}}
	emeaManager = auth.Identity{Subject: "rm-emea-emil", Roles: []string{auth.RoleRegionalManager}, Regions: []string{"EMEA"}}
	admin       = auth.Identity{Subject: "ad-adam", Roles: []string{auth.RoleAdmin}, Regions: []string{"AMER", "EMEA", "APAC"}}
	auditor     = auth.Identity{Subject: "au-aude", Roles: []string{auth.RoleAuditor}}
	otherAgent  = auth.Identity{Subject: "pa-petra", Roles: []string{auth.RoleProtectionAgent}}
)

// duressPolicy pages the detail's leader, then the global leads.
func duressPolicy() *escalation.Policy {
	return &escalation.Policy{Name: "duress", Severity: escalation.SEV1, Tiers: []escalation.Tier{
		{Name: "leader", Wait: 2 * time.Second, Targets: []escalation.Target{{Kind: escalation.TargetUser, Subject: leader.Subject}}},
		{Name: "global leads", Wait: 2 * time.Second, Targets: []escalation.Target{{Kind: escalation.TargetRole, Role: auth.RoleGlobalLead}}},
	}}
}

// restrictedWorld raises an ordinary EMEA incident, then a restricted one
// (a duress) escalating in APAC and EMEA, then another ordinary one: the
// restricted escalations sit between ordinary ones in every list. The APAC
// manager is paged about the restricted incident's APAC escalation (as a
// tier would page them), and about nothing else.
type restrictedWorld struct {
	pool                 *pgxpool.Pool
	incidents            *incident.Store
	escs                 *escalation.Store
	restricted           incident.Incident
	restrictedEscs       []escalation.Escalation // APAC, EMEA
	ordinary             []escalation.Escalation // newest first, as lists answer
	ordinaryIncidentIDs  []uuid.UUID
	restrictedAuditCount int
}

func newRestrictedWorld(t *testing.T) restrictedWorld {
	t.Helper()
	ctx := context.Background()
	w := restrictedWorld{pool: testenv.NewPool(t)}
	w.incidents, w.escs = incident.NewStore(w.pool), escalation.NewStore(w.pool)
	raiseOrdinary := func(title string) {
		inc, escs, err := w.incidents.Raise(ctx, globalLead.Subject, incident.New{Title: title, Severity: escalation.SEV2, Kind: "UNREST",
			Regions: []string{"EMEA"}}, anyRegion)
		if err != nil {
			t.Fatalf("raise %s: %v", title, err)
		}
		w.ordinary = append([]escalation.Escalation{escs[0]}, w.ordinary...)
		w.ordinaryIncidentIDs = append(w.ordinaryIncidentIDs, inc.ID)
	}
	raiseOrdinary("Protest outside the Paris office")
	inc, escs, err := w.incidents.Raise(ctx, "meridian", incident.New{Title: "Duress: detail D-1", Severity: escalation.SEV1, Kind: "DURESS",
		SourceType: "PROTECTION", SourceRef: "duress:1", Regions: []string{"EMEA", "APAC"},
		Location: &incident.Location{Latitude: 48.85, Longitude: 2.35}, Policy: duressPolicy(), RestrictedTo: []string{leader.Subject}}, anyRegion)
	if err != nil {
		t.Fatalf("raise the restricted incident: %v", err)
	}
	if !inc.Restricted() || len(escs) != 2 || !escs[0].Restricted() || !escs[1].Restricted() || escs[0].Region != "APAC" {
		t.Fatalf("raised %+v with %+v, want a restricted incident with restricted APAC and EMEA escalations", inc, escs)
	}
	w.restricted, w.restrictedEscs = inc, escs
	raiseOrdinary("Power cut in the London office")
	if err := w.escs.RecordStep(ctx, escalation.Step{EscalationID: escs[0].ID, Kind: escalation.KindPaged, Actor: "meridian", Tier: 1,
		DedupeKey: escs[0].ID.String() + ":paged", Recipients: []string{pagedAPAC.Subject}}); err != nil {
		t.Fatal(err)
	}
	if err := w.pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE restricted_to IS NOT NULL`).Scan(&w.restrictedAuditCount); err != nil {
		t.Fatal(err)
	}
	if w.restrictedAuditCount != 3 {
		t.Fatalf("%d restricted audit rows, want 3 (incident.raise and two escalation.open)", w.restrictedAuditCount)
	}
	return w
}

func ids(escs []escalation.Escalation) []uuid.UUID {
	out := make([]uuid.UUID, len(escs))
	for i, e := range escs {
		out[i] = e.ID
	}
	return out
}

// TestRestrictedIncidentIsSeenOnlyByTheCleared: a restricted incident with
// two escalations exists for global leads, the people it is restricted to
// and (one escalation, and its incident) the person a tier paged; for an
// admin, an auditor, a manager of its region and another agent it does not
// exist, in one read or in a list, and lists stay full pages around it.
func TestRestrictedIncidentIsSeenOnlyByTheCleared(t *testing.T) {
	t.Parallel()
	w := newRestrictedWorld(t)
	ctx := context.Background()
	apac, emea := w.restrictedEscs[0], w.restrictedEscs[1]
	cases := []struct {
		name     string
		who      auth.Identity
		incident bool
		escs     []escalation.Escalation // of the restricted incident, as ForIncidentAs orders them
	}{
		{"global lead", globalLead, true, []escalation.Escalation{apac, emea}},
		{"the leader it is restricted to", leader, true, []escalation.Escalation{apac, emea}},
		{"paged about its APAC escalation", pagedAPAC, true, []escalation.Escalation{apac}},
		{"a manager of its region", emeaManager, false, nil},
		{"an admin of every region", admin, false, nil},
		{"an auditor", auditor, false, nil},
		{"another protection agent", otherAgent, false, nil},
		{"nobody", auth.Identity{}, false, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inc, err := w.incidents.GetAs(ctx, c.who, w.restricted.ID)
			if c.incident && (err != nil || inc.ID != w.restricted.ID || !slices.Equal(inc.RestrictedTo, []string{leader.Subject})) {
				t.Fatalf("GetAs = %+v, %v; want the incident", inc, err)
			}
			if !c.incident && !errors.Is(err, incident.ErrNotFound) {
				t.Fatalf("GetAs = %+v, %v; want ErrNotFound, as for an unknown incident", inc, err)
			}
			escs, err := w.escs.ForIncidentAs(ctx, c.who, w.restricted.ID)
			if err != nil || !slices.Equal(ids(escs), ids(c.escs)) {
				t.Fatalf("ForIncidentAs = %v, %v; want %v", ids(escs), err, ids(c.escs))
			}
			for _, e := range w.restrictedEscs {
				got, err := w.escs.GetAs(ctx, c.who, e.ID)
				sees := slices.ContainsFunc(c.escs, func(x escalation.Escalation) bool { return x.ID == e.ID })
				if sees && (err != nil || got.ID != e.ID) {
					t.Errorf("GetAs(%s escalation) = %v; want it", e.Region, err)
				}
				if !sees && !errors.Is(err, escalation.ErrNotFound) {
					t.Errorf("GetAs(%s escalation) = %+v, %v; want ErrNotFound", e.Region, got, err)
				}
			}
			// The whole list, newest first, one per page: every page is
			// full and the cursors walk past the hidden rows.
			var listed []escalation.Escalation
			after := ""
			for {
				page, more, err := w.escs.List(ctx, escalation.Filter{Viewer: c.who}, 1, after)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) != 1 {
					t.Fatalf("a page of %d escalations after %q (more was promised)", len(page), after)
				}
				listed = append(listed, page[0])
				if !more {
					break
				}
				after = page[0].ID.String()
			}
			want := []escalation.Escalation{w.ordinary[0]}
			want = append(want, reverse(c.escs)...) // UUIDv7: EMEA opened after APAC
			want = append(want, w.ordinary[1])
			if !slices.Equal(ids(listed), ids(want)) {
				t.Fatalf("List = %v, want %v", ids(listed), ids(want))
			}
			inEMEA, _, err := w.escs.List(ctx, escalation.Filter{Viewer: c.who, Region: "EMEA", Severity: escalation.SEV1}, 10, "")
			wantEMEA := slices.ContainsFunc(c.escs, func(x escalation.Escalation) bool { return x.ID == emea.ID })
			if err != nil || (len(inEMEA) == 1) != wantEMEA || len(inEMEA) > 1 {
				t.Fatalf("List(EMEA, SEV1) = %v, %v; want the restricted EMEA escalation: %v", ids(inEMEA), err, wantEMEA)
			}
		})
	}
	// The engine and the domains read everything.
	if inc, err := w.incidents.Get(ctx, w.restricted.ID); err != nil || !inc.Restricted() {
		t.Fatalf("Get = %+v, %v", inc, err)
	}
	if escs, err := w.escs.ForIncident(ctx, w.restricted.ID); err != nil || len(escs) != 2 {
		t.Fatalf("ForIncident = %v, %v", escs, err)
	}
}

func reverse(escs []escalation.Escalation) []escalation.Escalation {
	out := slices.Clone(escs)
	slices.Reverse(out)
	return out
}

// TestRestrictedEscalationsCountForNobody: escalationStats leaves
// restricted escalations out for everyone, so that no count or percentile
// gives one away.
func TestRestrictedEscalationsCountForNobody(t *testing.T) {
	t.Parallel()
	w := newRestrictedWorld(t)
	ctx := context.Background()
	// The restricted EMEA escalation is acknowledged at once: were it
	// counted, the acknowledged count and the percentile would show it.
	if _, err := w.escs.Decide(ctx, globalLead, w.restrictedEscs[1].ID, escalation.SignalAcknowledge, "", escalation.DecisionOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, region := range []string{"", "EMEA", "APAC"} {
		st, err := w.escs.Stats(ctx, region, time.Now().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		want := int64(2)
		if region == "APAC" {
			want = 0
		}
		if st.Opened != want || st.Acknowledged != 0 || st.AckP50 != nil {
			t.Errorf("Stats(%q) = %+v, want %d opened, none acknowledged", region, st, want)
		}
	}
}

// TestRestrictedAuditTrail: the rows a restricted incident writes (its
// raising, its escalations' opening, every decision on them) are read by
// global leads and the people named, never by auditors or admins; the
// ordinary rows around them are read by everyone, in full pages.
func TestRestrictedAuditTrail(t *testing.T) {
	t.Parallel()
	w := newRestrictedWorld(t)
	ctx := context.Background()
	emea := w.restrictedEscs[1]
	if _, err := w.escs.Decide(ctx, globalLead, emea.ID, escalation.SignalAcknowledge, "calling the leader", escalation.DecisionOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.escs.AddNote(ctx, globalLead, emea.ID, "police informed", ""); err != nil {
		t.Fatal(err)
	}
	var restricted, all int
	if err := w.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE restricted_to IS NOT NULL), count(*) FROM audit_log`).Scan(&restricted, &all); err != nil {
		t.Fatal(err)
	}
	if restricted != w.restrictedAuditCount+2 {
		t.Fatalf("%d restricted audit rows after an acknowledgement and a note, want %d", restricted, w.restrictedAuditCount+2)
	}
	log := audit.NewReader(w.pool)
	for _, c := range []struct {
		who  auth.Identity
		sees bool
	}{{globalLead, true}, {leader, true}, {auditor, false}, {admin, false}, {emeaManager, false}} {
		var rows []audit.Logged
		after := int64(0)
		for {
			page, more, err := log.List(ctx, audit.Filter{Viewer: c.who}, 2, after)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 || (more && len(page) != 2) {
				t.Fatalf("%s: a page of %d rows (more: %v)", c.who.Subject, len(page), more)
			}
			rows = append(rows, page...)
			if !more {
				break
			}
			after = page[len(page)-1].ID
		}
		want := all - restricted
		if c.sees {
			want = all
		}
		if len(rows) != want {
			t.Errorf("%s reads %d of the %d audit rows, want %d", c.who.Subject, len(rows), all, want)
		}
		one, _, err := log.List(ctx, audit.Filter{Viewer: c.who, ObjectType: "Incident", ObjectID: w.restricted.ID.String()}, 10, 0)
		if err != nil || (len(one) == 1) != c.sees {
			t.Errorf("%s: the restricted incident's own trail = %d rows, %v", c.who.Subject, len(one), err)
		}
	}
}

// TestRaiseRefusesAnEmptyRestriction: a restriction names somebody; an
// empty list would be restricted in SQL and ordinary on the stream.
func TestRaiseRefusesAnEmptyRestriction(t *testing.T) {
	t.Parallel()
	pool := testenv.NewPool(t)
	store := incident.NewStore(pool)
	for _, to := range [][]string{{}, {""}, {" pa-liam"}} {
		_, _, err := store.Raise(context.Background(), "meridian", incident.New{Title: "Duress", Severity: escalation.SEV1, Kind: "DURESS",
			Regions: []string{"EMEA"}, RestrictedTo: to}, anyRegion)
		var f *fault.Error
		if !errors.As(err, &f) || f.Field != "restrictedTo" {
			t.Errorf("RestrictedTo %q: %v, want BAD_USER_INPUT on restrictedTo", to, err)
		}
	}
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM incidents) + (SELECT count(*) FROM audit_log) + (SELECT count(*) FROM outbox)`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("refusals wrote %d rows (%v)", n, err)
	}
}
