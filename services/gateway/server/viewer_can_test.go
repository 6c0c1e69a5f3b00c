package server_test

import (
	"testing"

	"meridian.dev/gateway/stacktest"
)

// The board offers a button only when the API says the caller may press
// it; these tests hold what the API says to what its mutations then do.

// TestViewerCanUpdateStatusIsWhatTheMutationDecides asks every persona
// whether they may change an EMEA site, then has each try: the answer must
// be the mutation's own.
func TestViewerCanUpdateStatusIsWhatTheMutationDecides(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{NoWorker: true})
	site := s.Site(t, "LON-HQ")
	allowed := 0
	for _, who := range stacktest.Personas {
		var out struct {
			Site struct{ ViewerCanUpdateStatus bool }
		}
		s.GW.Query(t, s.Token(t, who), `query($id: ID!) { site(id: $id) { viewerCanUpdateStatus } }`,
			map[string]any{"id": site.ID}).Decode(t, &out)
		res := s.GW.Query(t, s.Token(t, who), stacktest.UpdateStatusMutation,
			stacktest.StatusInput(site.ID, "ELEVATED", "OPEN", "checked by "+who, s.Version(t, "LON-HQ")))
		did := len(res.Errors) == 0
		if out.Site.ViewerCanUpdateStatus != did {
			t.Errorf("%s: viewerCanUpdateStatus %v, but updateSiteStatus succeeded=%v (%v)", who, out.Site.ViewerCanUpdateStatus, did, res.Errors)
		}
		if did {
			allowed++
		}
	}
	// Global leads, admins and the EMEA manager; never everyone.
	if allowed < 3 || allowed == len(stacktest.Personas) {
		t.Errorf("%d of %d personas may change LON-HQ; want the global lead, the admin and the EMEA manager, not everyone", allowed, len(stacktest.Personas))
	}
}

type escalationActions struct {
	Acknowledge, Resolve, EscalateNow, HandOff, AddNote bool
}

func viewerCan(t *testing.T, s *stacktest.Stack, who, escalationID string) escalationActions {
	t.Helper()
	var out struct {
		Escalation struct{ ViewerCan escalationActions }
	}
	s.GW.Query(t, s.Token(t, who), `query($id: ID!) { escalation(id: $id) {
		viewerCan { acknowledge resolve escalateNow handOff addNote } } }`,
		map[string]any{"id": escalationID}).Decode(t, &out)
	return out.Escalation.ViewerCan
}

// TestEscalationViewerCanFollowsItsLife: who may do what to an escalation
// as it opens, is acknowledged and is resolved, and that the answers agree
// with the mutations.
func TestEscalationViewerCanFollowsItsLife(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{})
	opened := s.SetStatus(t, s.GW, stacktest.EMEAManager, "FRA-DC", "CRITICAL", "LOCKDOWN", "board test")
	if opened.Escalation == nil {
		t.Fatal("CRITICAL/LOCKDOWN opened no escalation")
	}
	id := opened.Escalation.ID

	all := escalationActions{true, true, true, true, true}
	none := escalationActions{}
	open := map[string]escalationActions{
		stacktest.GlobalLead:  all,
		stacktest.Admin:       all,
		stacktest.EMEAManager: all,
		stacktest.APACManager: none,
		stacktest.TravelTeam:  none,
		stacktest.Auditor:     none,
	}
	for who, want := range open {
		if got := viewerCan(t, s, who, id); got != want {
			t.Errorf("open escalation, %s: viewerCan %+v, want %+v", who, got, want)
		}
	}
	// The APAC manager is told no, and the mutation agrees.
	s.GW.Query(t, s.Token(t, stacktest.APACManager), `mutation($id: ID!) {
		acknowledgeEscalation(input: {escalationId: $id}) { escalation { status } } }`,
		map[string]any{"id": id}).Refused(t, "FORBIDDEN")

	s.GW.Query(t, s.Token(t, stacktest.EMEAManager), `mutation($id: ID!) {
		acknowledgeEscalation(input: {escalationId: $id, disposition: IMPACT}) { escalation { status } } }`,
		map[string]any{"id": id}).Decode(t, &struct{}{})
	acked := escalationActions{Resolve: true, HandOff: true, AddNote: true}
	for _, who := range []string{stacktest.GlobalLead, stacktest.EMEAManager} {
		if got := viewerCan(t, s, who, id); got != acked {
			t.Errorf("acknowledged escalation, %s: viewerCan %+v, want %+v", who, got, acked)
		}
	}
	// What the board would now hide is refused by the API too.
	s.GW.Query(t, s.Token(t, stacktest.GlobalLead), `mutation($id: ID!) {
		acknowledgeEscalation(input: {escalationId: $id}) { escalation { status } } }`,
		map[string]any{"id": id}).Refused(t, "CONFLICT")

	s.GW.Query(t, s.Token(t, stacktest.EMEAManager), `mutation($id: ID!) {
		resolveEscalation(input: {escalationId: $id, note: "clear"}) { escalation { status } } }`,
		map[string]any{"id": id}).Decode(t, &struct{}{})
	resolved := escalationActions{AddNote: true}
	for _, who := range []string{stacktest.GlobalLead, stacktest.EMEAManager} {
		if got := viewerCan(t, s, who, id); got != resolved {
			t.Errorf("resolved escalation, %s: viewerCan %+v, want %+v", who, got, resolved)
		}
	}
	if got := viewerCan(t, s, stacktest.APACManager, id); got != none {
		t.Errorf("resolved escalation, APAC manager: viewerCan %+v, want nothing", got)
	}
}

// TestCountryLevelsIsEveryCountrysRisk: the map's one read agrees with
// countryRisk for every country it lists.
func TestCountryLevelsIsEveryCountrysRisk(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{})
	s.LoadAdvisories(t)
	token := s.Token(t, stacktest.AMERManager)
	var out struct {
		CountryLevels []struct {
			Country struct{ Code, Name string }
			Level   int
			Rule    string
		}
	}
	s.GW.Query(t, token, `{ countryLevels { country { code name } level rule } }`, nil).Decode(t, &out)
	var stored int
	if err := s.Pool.QueryRow(t.Context(), `SELECT count(*) FROM country_risk`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if len(out.CountryLevels) != stored || stored < 30 {
		t.Fatalf("countryLevels lists %d countries; country_risk holds %d (the fixtures give 30 or more)", len(out.CountryLevels), stored)
	}
	seen := map[int]bool{}
	for i, c := range out.CountryLevels {
		seen[c.Level] = true
		if i%20 != 0 && c.Level < 4 {
			continue // every 20th, and every level 4, against countryRisk
		}
		var risk struct {
			CountryRisk struct {
				Level int
				Rule  string
			}
		}
		s.GW.Query(t, token, `query($c: String!) { countryRisk(country: $c) { level rule } }`,
			map[string]any{"c": c.Country.Code}).Decode(t, &risk)
		if risk.CountryRisk.Level != c.Level || risk.CountryRisk.Rule != c.Rule {
			t.Errorf("%s (%s): countryLevels says %d/%s, countryRisk %d/%s", c.Country.Code, c.Country.Name,
				c.Level, c.Rule, risk.CountryRisk.Level, risk.CountryRisk.Rule)
		}
	}
	if !seen[4] || !seen[1] {
		t.Errorf("levels seen %v: the fixtures hold countries at 1 and at 4", seen)
	}
	s.GW.Query(t, "", `{ countryLevels { level } }`, nil).Refused(t, "UNAUTHENTICATED")
}
