package server_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"meridian.dev/gateway/stacktest"
	"meridian.dev/platform/notify/sink"
	"meridian.dev/platform/testenv"
)

const raiseMutation = `mutation($input: RaiseIncidentInput!) {
  raiseIncident(input: $input) { incident { id title severity regions { code } escalations { id region { code } status policy { version } } } }
}`

const incidentQuery = `query($id: ID!) {
  incident(id: $id) { title sites { code } escalations { id status tier acknowledgedBy region { code } site { code } incident { title } } }
}`

type incidentView struct {
	ID, Title, Severity string
	Regions             []struct{ Code string }
	Sites               []struct{ Code string }
	Escalations         []struct {
		ID, Status     string
		Tier           int
		AcknowledgedBy *string
		Region         struct{ Code string }
		Site           *struct{ Code string }
		Incident       *struct{ Title string }
	}
}

// TestRaiseIncidentEscalatesInEveryRegion: an incident touching EMEA (named)
// and APAC (through a Singapore site) opens one escalation per region under
// one parent workflow; each region's managers are paged; each region sees
// the other's state; resolving both ends the parent.
func TestRaiseIncidentEscalatesInEveryRegion(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{})
	input := map[string]any{"title": "Cyber attack on regional networks", "severity": "SEV2", "kind": "cyber",
		"regions": []string{"EMEA"}, "siteIds": []string{s.Site(t, "SIN-HQ").ID}}
	var raised struct {
		RaiseIncident struct{ Incident incidentView }
	}
	s.GW.Query(t, s.Token(t, "gl-ada"), raiseMutation, map[string]any{"input": input}).Decode(t, &raised)
	inc := raised.RaiseIncident.Incident
	var regions []string
	for _, e := range inc.Escalations {
		regions = append(regions, e.Region.Code)
	}
	if inc.Severity != "SEV2" || !slices.Equal(regions, []string{"APAC", "EMEA"}) {
		t.Fatalf("raiseIncident answered %+v, want SEV2 escalating in APAC and EMEA", inc)
	}

	for _, want := range []struct{ region, manager string }{{"EMEA", "rm-emea-emil"}, {"APAC", "rm-apac-aiko"}} {
		page := s.WaitPage(t, want.region+" tier-1", func(p sink.Received) bool { return p.Page.Region == want.region && p.Page.Tier == 1 })
		if got := recipients(page); !slices.Equal(got, []string{want.manager}) || page.Page.SiteName != inc.Title {
			t.Fatalf("%s tier 1 paged %v about %q, want %s about the incident", want.region, got, page.Page.SiteName, want.manager)
		}
	}

	tc, err := client.Dial(client.Options{HostPort: testenv.TemporalAddress(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// EMEA acknowledges once its workflow has taken in whom it paged; APAC
	// sees it, and stays open itself.
	emea := inc.Escalations[1]
	waitPaged(t, s, emea.ID, "rm-emea-emil")
	s.GW.Query(t, s.Token(t, "rm-emea-emil"), decideMutation, map[string]any{"id": emea.ID, "disposition": "IMPACT"}).Decode(t, &struct{}{})
	var view struct{ Incident incidentView }
	s.GW.Query(t, s.Token(t, "rm-apac-aiko"), incidentQuery, map[string]any{"id": inc.ID}).Decode(t, &view)
	got := map[string]string{}
	for _, e := range view.Incident.Escalations {
		got[e.Region.Code] = e.Status
		if e.Incident == nil || e.Incident.Title != inc.Title {
			t.Errorf("escalation %s does not point back to its incident", e.ID)
		}
	}
	if got["EMEA"] != "ACKNOWLEDGED" || got["APAC"] != "OPEN" || len(view.Incident.Sites) != 1 || view.Incident.Sites[0].Code != "SIN-HQ" {
		t.Fatalf("incident as APAC sees it: %+v", view.Incident)
	}

	for _, e := range inc.Escalations {
		s.GW.Query(t, s.Token(t, "gl-ada"), resolveMutation, map[string]any{"id": e.ID}).Decode(t, &struct{}{})
	}
	var node struct{ Node struct{ ID string } }
	s.GW.Query(t, s.Token(t, "au-aude"), `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": inc.ID}).Decode(t, &node)
	if node.Node.ID != inc.ID {
		t.Fatalf("node(id) of the incident = %+v", node.Node)
	}
	var incidentRow string
	if err := s.Pool.QueryRow(ctx, `SELECT workflow_id FROM incidents`).Scan(&incidentRow); err != nil {
		t.Fatal(err)
	}
	if err := tc.GetWorkflow(ctx, incidentRow, "").Get(ctx, nil); err != nil {
		t.Fatalf("the incident's workflow %s did not complete after both regions resolved: %v", incidentRow, err)
	}
}

func TestRaiseIncidentRefusals(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{NoWorker: true})
	good := func() map[string]any {
		return map[string]any{"title": "Flood", "severity": "SEV1", "kind": "flood", "regions": []string{"EMEA"}}
	}
	s.Unchanged(t, func() {
		bad := good()
		bad["regions"] = []string{"APAC"}
		s.GW.Query(t, s.Token(t, "rm-emea-emil"), raiseMutation, map[string]any{"input": bad}).Refused(t, "FORBIDDEN")
		s.GW.Query(t, s.Token(t, "tt-theo"), raiseMutation, map[string]any{"input": good()}).Refused(t, "FORBIDDEN")
		bad = good()
		bad["title"] = "  "
		s.GW.Query(t, s.Token(t, "gl-ada"), raiseMutation, map[string]any{"input": bad}).RefusedField(t, "title")
		bad = good()
		bad["regions"] = []string{"MARS"}
		s.GW.Query(t, s.Token(t, "gl-ada"), raiseMutation, map[string]any{"input": bad}).RefusedField(t, "regions")
		bad = good()
		bad["regions"] = []string{}
		s.GW.Query(t, s.Token(t, "gl-ada"), raiseMutation, map[string]any{"input": bad}).RefusedField(t, "regions")
		bad = good()
		bad["latitude"] = 48.0
		s.GW.Query(t, s.Token(t, "gl-ada"), raiseMutation, map[string]any{"input": bad}).RefusedField(t, "latitude")
		bad["longitude"] = 300.0
		s.GW.Query(t, s.Token(t, "gl-ada"), raiseMutation, map[string]any{"input": bad}).RefusedField(t, "longitude")
	})
	// A regional manager may raise one in their own region.
	var raised struct {
		RaiseIncident struct{ Incident incidentView }
	}
	s.GW.Query(t, s.Token(t, "rm-emea-emil"), raiseMutation, map[string]any{"input": good()}).Decode(t, &raised)
	if n := len(raised.RaiseIncident.Incident.Escalations); n != 1 {
		t.Fatalf("EMEA-only incident has %d escalations, want 1", n)
	}
}
