package server_test

import (
	"testing"
	"time"

	"meridian.dev/gateway/server"
	"meridian.dev/gateway/stacktest"
	"meridian.dev/platform/auth"
)

const overrideMutation = `mutation($input: AddOnCallOverrideInput!) { addOnCallOverride(input: $input) { shift { person { subject } } } }`

// TestWhoMayActIsDecidedOnTheEscalation: one decision, on the escalation,
// whether the workflow takes it or Postgres does while Temporal is out of
// reach. A person paged through a USER, SCHEDULE or DUTY target may
// acknowledge whatever region they belong to, and so may a manager of the
// escalation's region whom the tier targets by role although the paging
// directory does not list them; nobody else but global leads and admins.
// Before, the gateway refused the first three (policy.Allow on the
// escalation's region) and the workflow the fourth (never paged).
func TestWhoMayActIsDecidedOnTheEscalation(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{Tables: []string{"rotation_overrides"}})
	lead := s.Token(t, stacktest.GlobalLead)
	cut := s.StartGateway(t, func(c *server.Config) { c.TemporalHost = "127.0.0.1:1" })

	// Whoever holds duty now, and another region besides EMEA, get an
	// on-call override: someone of our choosing is on call there now.
	var duty struct {
		DutyRegion struct{ Region struct{ Code string } }
	}
	s.GW.Query(t, lead, `{ dutyRegion { region { code } } }`, nil).Decode(t, &duty)
	dutyRegion := duty.DutyRegion.Region.Code
	scheduleRegion := "AMER"
	if dutyRegion == "AMER" {
		scheduleRegion = "APAC"
	}
	now := time.Now().UTC()
	for region, person := range map[string]string{scheduleRegion: stacktest.AMERManager, dutyRegion: stacktest.ProtectionAgent} {
		s.GW.Query(t, lead, overrideMutation, map[string]any{"input": map[string]any{"region": region, "rotation": "primary",
			"person": person, "from": now.Add(-time.Hour).Format(time.RFC3339), "to": now.Add(3 * time.Hour).Format(time.RFC3339)}}).Decode(t, &struct{}{})
	}
	// EMEA's SEV1 escalations page, in tier 1, a named APAC manager, whoever
	// is on call in the other region, and whoever holds duty.
	policy := map[string]any{"region": "EMEA", "severity": "SEV1", "name": "beyond the region", "tiers": []map[string]any{
		{"name": "on call elsewhere", "waitMinutes": 30, "targets": []map[string]any{
			{"kind": "USER", "subject": stacktest.APACManager},
			{"kind": "SCHEDULE", "region": scheduleRegion},
			{"kind": "DUTY"},
		}},
		{"name": "leads", "waitMinutes": 30, "targets": []map[string]any{{"kind": "ROLE", "role": "global_lead"}}},
	}}
	s.GW.Query(t, lead, setPolicyMutation, map[string]any{"input": policy}).Decode(t, &struct{}{})

	open := func(code, level, posture string, paged ...string) string {
		t.Helper()
		id := s.SetStatus(t, s.GW, stacktest.EMEAManager, code, level, posture, "drill").Escalation.ID
		for _, who := range paged {
			waitPaged(t, s, id, who)
		}
		return id
	}
	ack := func(g *stacktest.Gateway, token, id string) stacktest.Result {
		return g.Query(t, token, decideMutation, map[string]any{"id": id, "disposition": "NO_IMPACT"})
	}
	acknowledgedBy := func(r stacktest.Result, who string) {
		t.Helper()
		var out struct{ AcknowledgeEscalation struct{ Escalation decided } }
		r.Decode(t, &out)
		if e := out.AcknowledgeEscalation.Escalation; e.Status != "ACKNOWLEDGED" || e.AcknowledgedBy == nil || *e.AcknowledgedBy != who {
			t.Fatalf("acknowledgement by %s answered %+v", who, e)
		}
	}

	t.Run("paged through USER, from another region", func(t *testing.T) {
		id := open("LON-HQ", "CRITICAL", "OPEN", stacktest.APACManager)
		acknowledgedBy(ack(s.GW, s.Token(t, stacktest.APACManager), id), stacktest.APACManager)
	})
	t.Run("paged through SCHEDULE, from another region", func(t *testing.T) {
		id := open("PAR-OFC", "CRITICAL", "OPEN", stacktest.AMERManager)
		acknowledgedBy(ack(s.GW, s.Token(t, stacktest.AMERManager), id), stacktest.AMERManager)
	})
	t.Run("paged through DUTY, with no manager role at all", func(t *testing.T) {
		id := open("FRA-DC", "CRITICAL", "OPEN", stacktest.ProtectionAgent)
		acknowledgedBy(ack(s.GW, s.Token(t, stacktest.ProtectionAgent), id), stacktest.ProtectionAgent)
	})
	t.Run("paged through USER, decided in Postgres while Temporal is out of reach", func(t *testing.T) {
		id := open("AMS-OFC", "CRITICAL", "OPEN", stacktest.APACManager)
		acknowledgedBy(ack(cut, s.Token(t, stacktest.APACManager), id), stacktest.APACManager)
	})

	// SEV2's tier 1 targets EMEA's regional managers by role (as the
	// default policy does, with a wait long enough that nothing climbs
	// while the test looks).
	s.GW.Query(t, lead, setPolicyMutation, map[string]any{"input": map[string]any{"region": "EMEA", "severity": "SEV2", "name": "managers",
		"tiers": []map[string]any{{"name": "managers", "waitMinutes": 30, "targets": []map[string]any{
			{"kind": "ROLE", "role": "regional_manager", "region": "EMEA"}}}}}}).Decode(t, &struct{}{})
	newManager, err := auth.Mint(s.Auth, auth.Identity{Subject: "rm-emea-new", Name: "New manager",
		Roles: []string{auth.RoleRegionalManager}, Regions: []string{"EMEA"}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a manager the tier targets by role, not in the directory", func(t *testing.T) {
		id := open("MAD-OFC", "HIGH", "LOCKDOWN", stacktest.EMEAManager)
		acknowledgedBy(ack(s.GW, newManager, id), "rm-emea-new")
	})
	t.Run("the same, decided in Postgres", func(t *testing.T) {
		id := open("MIL-OFC", "HIGH", "LOCKDOWN", stacktest.EMEAManager)
		acknowledgedBy(ack(cut, newManager, id), "rm-emea-new")
	})

	t.Run("nobody else", func(t *testing.T) {
		sev1 := open("STO-OFC", "CRITICAL", "OPEN", stacktest.APACManager)
		sev2 := open("WAW-OFC", "HIGH", "LOCKDOWN", stacktest.EMEAManager)
		waitDelivered(t, s, sev1, 3)
		waitDelivered(t, s, sev2, 1)
		s.Unchanged(t, func() {
			for _, g := range []*stacktest.Gateway{s.GW, cut} {
				// Tier 1 of SEV1 does not target EMEA's managers; SEV2's
				// does not target another region's.
				ack(g, newManager, sev1).Refused(t, "FORBIDDEN")
				ack(g, s.Token(t, stacktest.AMERManager), sev2).Refused(t, "FORBIDDEN")
				ack(g, s.Token(t, stacktest.TravelTeam), sev2).Refused(t, "FORBIDDEN")
				ack(g, s.Token(t, stacktest.Auditor), sev1).Refused(t, "FORBIDDEN")
			}
		})
		acknowledgedBy(ack(s.GW, lead, sev1), stacktest.GlobalLead)
		acknowledgedBy(ack(cut, s.Token(t, stacktest.Admin), sev2), stacktest.Admin)
	})
}
