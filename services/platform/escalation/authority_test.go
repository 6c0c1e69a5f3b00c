package escalation_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/escalation"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/policy"
)

func person(subject string, roles []string, regions ...string) auth.Identity {
	return auth.Identity{Subject: subject, Roles: roles, Regions: regions}
}

var (
	manager = []string{auth.RoleRegionalManager}
	lead    = []string{auth.RoleGlobalLead}
)

// TestAuthorityDecidesOnTheEscalation: who may act depends on whom the
// escalation's tiers call on, not only on the region.
func TestAuthorityDecidesOnTheEscalation(t *testing.T) {
	emea := escalation.Authority{
		Region: "EMEA",
		Tiers: []escalation.Tier{
			{Name: "managers", Targets: []escalation.Target{{Kind: escalation.TargetRole, Role: auth.RoleRegionalManager, Region: "EMEA"}}},
			{Name: "duty", Targets: []escalation.Target{{Kind: escalation.TargetDuty}, {Kind: escalation.TargetUser, Subject: "sec-ops-oncall"}}},
			{Name: "leads", Targets: []escalation.Target{{Kind: escalation.TargetRole, Role: auth.RoleGlobalLead}}},
		},
	}
	atTier := func(tier int, paged ...string) escalation.Authority {
		a := emea
		a.Tier, a.Paged = tier, paged
		return a
	}
	cases := []struct {
		name   string
		a      escalation.Authority
		who    auth.Identity
		action policy.Action
		want   error
	}{
		// The cases.
		{"paged through DUTY from another region", atTier(2, "rm-apac-aiko"), person("rm-apac-aiko", manager, "APAC"), escalation.ActAcknowledge, nil},
		{"paged through USER, no roles at all", atTier(2, "sec-ops-oncall"), person("sec-ops-oncall", nil), escalation.ActAcknowledge, nil},
		{"paged through SCHEDULE from another region", atTier(1, "rm-amer-ana"), person("rm-amer-ana", manager, "AMER"), escalation.ActAcknowledge, nil},
		{"a manager of the region the tier targets, not in the directory", atTier(1), person("rm-emea-new", manager, "EMEA"), escalation.ActAcknowledge, nil},
		{"the first tier's targets before it is paged", atTier(0), person("rm-emea-new", manager, "EMEA"), escalation.ActAcknowledge, nil},
		{"a global lead", atTier(0), person("gl", lead), escalation.ActAcknowledge, nil},
		{"an admin", atTier(0), person("ad", []string{auth.RoleAdmin}), escalation.ActAcknowledge, nil},
		// Earlier tiers stay responders; later ones are not yet.
		{"tier 1's manager once tier 3 is paged", atTier(3), person("rm-emea-emil", manager, "EMEA"), escalation.ActAcknowledge, nil},
		{"tier 3's role before tier 3", atTier(2), person("x", []string{auth.RoleTravelTeam}), escalation.ActAcknowledge, escalation.ErrNotResponder},
		{"a manager of another region, not paged", atTier(2, "rm-apac-aiko"), person("rm-amer-ana", manager, "AMER"), escalation.ActAcknowledge, escalation.ErrNotResponder},
		{"the role without the region", atTier(1), person("rm-x", manager), escalation.ActAcknowledge, escalation.ErrNotResponder},
		{"a read-only role", atTier(3), person("au", []string{auth.RoleAuditor}, "EMEA"), escalation.ActAcknowledge, escalation.ErrNotResponder},
		// Owners: the responders and the owning region's managers.
		{"a manager of the region resolves under a USER-only policy", escalation.Authority{Region: "EMEA",
			Tiers: []escalation.Tier{{Targets: []escalation.Target{{Kind: escalation.TargetUser, Subject: "duty"}}}}},
			person("rm-emea-emil", manager, "EMEA"), escalation.ActResolve, nil},
		{"…but does not acknowledge under it", escalation.Authority{Region: "EMEA",
			Tiers: []escalation.Tier{{Targets: []escalation.Target{{Kind: escalation.TargetUser, Subject: "duty"}}}}},
			person("rm-emea-emil", manager, "EMEA"), escalation.ActAcknowledge, escalation.ErrNotResponder},
		{"a paged person from another region hands off", atTier(2, "rm-apac-aiko"), person("rm-apac-aiko", manager, "APAC"), escalation.ActHandOff, nil},
		{"another region's manager, not paged, hands off", atTier(2), person("rm-apac-aiko", manager, "APAC"), escalation.ActHandOff, escalation.ErrNotOwner},
		{"another region's manager adds a note", atTier(1), person("rm-apac-aiko", manager, "APAC"), escalation.ActNote, escalation.ErrNotOwner},
		{"a responder escalates now", atTier(1), person("rm-emea-emil", manager, "EMEA"), escalation.ActEscalateNow, nil},
		{"nobody", atTier(1), auth.Identity{}, escalation.ActAcknowledge, auth.ErrUnauthenticated},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.a.Allow(c.who, c.action)
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("Allow(%+v, %s) = %v, want %v", c.who, c.action, err, c.want)
			}
			if err != nil && fault.CodeOf(err) == fault.Internal {
				t.Errorf("a refusal without an API code: %v", err)
			}
		})
	}
}

// TestDecideInPostgresAsksTheSameAuthority: while the workflow is out of
// reach, Postgres decides with the escalation's frozen policy and whom its
// tiers paged, as the workflow would; a refusal writes nothing.
func TestDecideInPostgresAsksTheSameAuthority(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	// A written policy whose first tier pages one named person.
	saved, err := e.escs.SavePolicy(ctx, "gl", escalation.Policy{Region: "EMEA", Severity: escalation.SEV1, Name: "duty first",
		Tiers: []escalation.Tier{
			{Name: "duty", Wait: time.Minute, Targets: []escalation.Target{{Kind: escalation.TargetUser, Subject: "duty-officer"}}},
			{Name: "managers", Wait: time.Minute, Targets: []escalation.Target{{Kind: escalation.TargetRole, Role: auth.RoleRegionalManager, Region: "EMEA"}}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	esc := e.open(t, "AUTH-1", "EMEA")
	if esc.PolicyID == nil || *esc.PolicyID != saved.ID {
		t.Fatalf("the escalation froze policy %v, want %s", esc.PolicyID, saved.ID)
	}
	outsider := person("rm-apac-aiko", manager, "APAC")
	before := e.rows(t)
	if _, err := e.escs.Decide(ctx, outsider, esc.ID, escalation.SignalAcknowledge, "", escalation.DecisionOptions{}); !errors.Is(err, escalation.ErrNotResponder) {
		t.Fatalf("an outsider acknowledged: %v", err)
	}
	// Tier 1 (a USER) paged someone from another region: they may.
	if err := e.escs.RecordStep(ctx, escalation.Step{EscalationID: esc.ID, Kind: escalation.KindPaged, Actor: "meridian", Tier: 1,
		DedupeKey: esc.ID.String() + ":t1", Recipients: []string{"rm-apac-aiko"}}); err != nil {
		t.Fatal(err)
	}
	e.wantUnchanged(t, map[string]int{"escalations": before["escalations"], "audit_log": before["audit_log"],
		"escalation_timeline": before["escalation_timeline"] + 1, "outbox": before["outbox"] + 1})
	// Tier 2's managers are not responders before tier 2.
	if _, err := e.escs.AddNote(ctx, person("rm-emea-new", manager, "EMEA"), esc.ID, "on my way", ""); err != nil {
		t.Fatalf("the owning region's manager may add a note: %v", err)
	}
	if _, err := e.escs.Decide(ctx, person("rm-emea-new", manager, "EMEA"), esc.ID, escalation.SignalAcknowledge, "", escalation.DecisionOptions{}); !errors.Is(err, escalation.ErrNotResponder) {
		t.Fatalf("tier 2's role acknowledged during tier 1: %v", err)
	}
	acked, err := e.escs.Decide(ctx, outsider, esc.ID, escalation.SignalAcknowledge, "on it", escalation.DecisionOptions{})
	if err != nil {
		t.Fatalf("the person tier 1 paged: %v", err)
	}
	if acked.Status != escalation.StatusAcknowledged || *acked.AcknowledgedBy != "rm-apac-aiko" {
		t.Fatalf("acknowledged = %+v", acked)
	}
	// A hand-off passes the escalation on: the giving region's paged
	// people no longer answer for it.
	if _, _, err := e.escs.HandOff(ctx, "gl", esc.ID, "AMER", "shift change"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.escs.Decide(ctx, outsider, esc.ID, escalation.SignalResolve, "", escalation.DecisionOptions{}); !errors.Is(err, escalation.ErrNotOwner) {
		t.Fatalf("paged before the hand-off, resolved after it: %v", err)
	}
	if _, err := e.escs.Decide(ctx, person("rm-amer-ana", manager, "AMER"), esc.ID, escalation.SignalResolve, "", escalation.DecisionOptions{}); err != nil {
		t.Fatalf("the receiving region's manager: %v", err)
	}
}

// TestNoteTextPostgresCannotStore: a NUL or invalid UTF-8 in a note is the
// caller's mistake, named, and writes nothing.
func TestNoteTextPostgresCannotStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	esc := e.open(t, "NUL-1", "EMEA")
	before := e.rows(t)
	for _, note := range []string{"fire\x00alarm", "fire \xff alarm"} {
		_, err := e.escs.AddNote(context.Background(), person("gl", lead), esc.ID, note, "")
		var f *fault.Error
		if !errors.As(err, &f) || f.Code != fault.BadUserInput || f.Field != "note" {
			t.Errorf("note %q: %v", note, err)
		}
		_, err = e.escs.Decide(context.Background(), person("gl", lead), esc.ID, escalation.SignalAcknowledge, note, escalation.DecisionOptions{})
		if !errors.As(err, &f) || f.Field != "note" {
			t.Errorf("acknowledgement note %q: %v", note, err)
		}
	}
	e.wantUnchanged(t, before)
}
