package server_test

import (
	"slices"
	"testing"
	"time"

	"meridian.dev/gateway/stacktest"
	"meridian.dev/platform/notify/sink"
)

const setPolicyMutation = `mutation($input: SetEscalationPolicyInput!) {
  setEscalationPolicy(input: $input) { policy { region { code } severity version name tiers { name waitMinutes targets { kind role region subject } } } }
}`

const escalationPolicyQuery = `query($id: ID!) { escalation(id: $id) { severity policy { name version } } }`

type policyView struct {
	Region   *struct{ Code string }
	Severity string
	Version  int
	Name     string
	Tiers    []struct {
		Name        string
		WaitMinutes int
		Targets     []struct{ Kind string }
	}
}

func recipients(p sink.Received) []string {
	var out []string
	for _, r := range p.Page.Recipients {
		out = append(out, r.Subject)
	}
	slices.Sort(out)
	return out
}

// TestEscalationPoliciesAreDataFrozenAtOpen: a global lead writes an EMEA SEV1
// policy whose first tier pages whoever the EMEA rotation has on call; a
// CRITICAL status opens an escalation that shows the policy's version and
// pages that person; a later edit makes version 2 and leaves the open
// escalation on version 1.
func TestEscalationPoliciesAreDataFrozenAtOpen(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{})
	input := map[string]any{"region": "EMEA", "severity": "SEV1", "name": "EMEA major incident",
		"tiers": []map[string]any{
			{"name": "on call", "waitMinutes": 10, "targets": []map[string]any{{"kind": "SCHEDULE", "region": "EMEA"}}},
			{"name": "desk", "waitMinutes": 10, "targets": []map[string]any{{"kind": "USER", "subject": "gl-ada"}, {"kind": "DUTY"}}},
		}}
	var saved struct{ SetEscalationPolicy struct{ Policy policyView } }
	s.GW.Query(t, s.Token(t, "gl-ada"), setPolicyMutation, map[string]any{"input": input}).Decode(t, &saved)
	if p := saved.SetEscalationPolicy.Policy; p.Version != 1 || p.Region == nil || p.Region.Code != "EMEA" || len(p.Tiers) != 2 ||
		p.Tiers[0].WaitMinutes != 10 || p.Tiers[1].Targets[1].Kind != "DUTY" {
		t.Fatalf("setEscalationPolicy answered %+v", p)
	}

	// Who the EMEA rotation has on call right now, as the API says.
	onCall := onCallAt(t, s, "EMEA", time.Now())
	if len(onCall) != 1 {
		t.Fatalf("onCall(EMEA) = %+v, want one shift", onCall)
	}
	payload := s.SetStatus(t, s.GW, "rm-emea-emil", "MAD-OFC", "CRITICAL", "OPEN", "flood")
	if payload.Escalation == nil {
		t.Fatal("a CRITICAL status opened no escalation")
	}
	page := s.WaitPage(t, "tier-1", func(p sink.Received) bool { return p.Page.Site == "MAD-OFC" && p.Page.Tier == 1 })
	if got := recipients(page); !slices.Equal(got, []string{onCall[0].Person.Subject}) || page.Page.TierName != "on call" {
		t.Fatalf("tier 1 %q paged %v, want the EMEA on-call %s", page.Page.TierName, got, onCall[0].Person.Subject)
	}

	// Version 2 changes nothing for the escalation already open.
	input["name"] = "EMEA major incident, revised"
	s.GW.Query(t, s.Token(t, "ad-adam"), setPolicyMutation, map[string]any{"input": input}).Decode(t, &saved)
	if saved.SetEscalationPolicy.Policy.Version != 2 {
		t.Fatalf("second save is version %d, want 2", saved.SetEscalationPolicy.Policy.Version)
	}
	var esc struct {
		Escalation struct {
			Severity string
			Policy   struct {
				Name    string
				Version int
			}
		}
	}
	s.GW.Query(t, s.Token(t, "au-aude"), escalationPolicyQuery, map[string]any{"id": payload.Escalation.ID}).Decode(t, &esc)
	if e := esc.Escalation; e.Severity != "SEV1" || e.Policy.Version != 1 || e.Policy.Name != "EMEA major incident" {
		t.Fatalf("escalation shows %+v, want SEV1 on version 1 of the policy it opened with", e)
	}
	var current struct{ EscalationPolicy *policyView }
	s.GW.Query(t, s.Token(t, "au-aude"), `query { escalationPolicy(region: "EMEA", severity: SEV1) { version name } }`, nil).Decode(t, &current)
	if current.EscalationPolicy == nil || current.EscalationPolicy.Version != 2 {
		t.Fatalf("escalationPolicy(EMEA, SEV1) = %+v, want version 2", current.EscalationPolicy)
	}
	s.GW.Query(t, s.Token(t, "au-aude"), `query { escalationPolicy(region: "APAC", severity: SEV2) { version } }`, nil).Decode(t, &current)
	if current.EscalationPolicy != nil {
		t.Fatalf("APAC SEV2 has no written policy, got %+v", current.EscalationPolicy)
	}

	// The escalation is found by severity and time, and counted in the stats.
	var found struct {
		SEV1, SEV2 struct {
			Edges []struct{ Node struct{ ID string } }
		}
		Stats struct {
			Opened               int
			TimeToAcknowledgeP50 *float64
		}
	}
	s.GW.Query(t, s.Token(t, "au-aude"), `query($since: Time) {
		SEV1: escalations(region: "EMEA", severity: SEV1, since: $since) { edges { node { id } } }
		SEV2: escalations(region: "EMEA", severity: SEV2) { edges { node { id } } }
		Stats: escalationStats(region: "EMEA", since: $since) { opened timeToAcknowledgeP50 }
	}`, map[string]any{"since": time.Now().Add(-time.Hour).Format(time.RFC3339)}).Decode(t, &found)
	if len(found.SEV1.Edges) != 1 || found.SEV1.Edges[0].Node.ID != payload.Escalation.ID || len(found.SEV2.Edges) != 0 {
		t.Fatalf("escalations by severity: SEV1 %+v, SEV2 %+v; want exactly the new one under SEV1", found.SEV1, found.SEV2)
	}
	if found.Stats.Opened != 1 || found.Stats.TimeToAcknowledgeP50 != nil {
		t.Fatalf("escalationStats = %+v, want 1 opened and no acknowledgement time yet", found.Stats)
	}
}

func TestEscalationPolicyRefusals(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{NoWorker: true})
	good := func() map[string]any {
		return map[string]any{"region": "APAC", "severity": "SEV2", "name": "APAC lockdown",
			"tiers": []map[string]any{{"name": "t1", "waitMinutes": 5, "targets": []map[string]any{{"kind": "ROLE", "role": "regional_manager", "region": "APAC"}}}}}
	}
	s.Unchanged(t, func() {
		// Regional managers may not write policies, not even for their region.
		s.GW.Query(t, s.Token(t, "rm-apac-aiko"), setPolicyMutation, map[string]any{"input": good()}).Refused(t, "FORBIDDEN")
		s.GW.Query(t, s.Token(t, "tt-theo"), setPolicyMutation, map[string]any{"input": good()}).Refused(t, "FORBIDDEN")
		bad := good()
		bad["tiers"] = []map[string]any{{"name": "t1", "waitMinutes": 0, "targets": []map[string]any{{"kind": "DUTY"}}}}
		s.GW.Query(t, s.Token(t, "gl-ada"), setPolicyMutation, map[string]any{"input": bad}).RefusedField(t, "tiers")
		bad["tiers"] = []map[string]any{{"name": "t1", "waitMinutes": 5, "targets": []map[string]any{{"kind": "USER"}}}}
		s.GW.Query(t, s.Token(t, "gl-ada"), setPolicyMutation, map[string]any{"input": bad}).RefusedField(t, "tiers")
		bad = good()
		bad["region"] = "MARS"
		s.GW.Query(t, s.Token(t, "gl-ada"), setPolicyMutation, map[string]any{"input": bad}).RefusedField(t, "region")
		bad = good()
		bad["name"] = " "
		s.GW.Query(t, s.Token(t, "gl-ada"), setPolicyMutation, map[string]any{"input": bad}).RefusedField(t, "name")
	})
}
