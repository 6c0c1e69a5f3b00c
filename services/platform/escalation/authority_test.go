package escalation_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/escalation"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/incident"
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

// TestAuthorityOfARestrictedEscalation: a restricted escalation (a duress)
// is acted on by the people its tiers called on so far and by global
// leads; admins and its region's managers, who own an ordinary escalation,
// do not; nobody hands it off.
func TestAuthorityOfARestrictedEscalation(t *testing.T) {
	tiers := []escalation.Tier{
		{Name: "leader", Targets: []escalation.Target{{Kind: escalation.TargetUser, Subject: "pa-liam"}}},
		{Name: "global leads", Targets: []escalation.Target{{Kind: escalation.TargetRole, Role: auth.RoleGlobalLead}}},
	}
	restricted := func(tier int, paged ...string) escalation.Authority {
		return escalation.Authority{Region: "EMEA", Tiers: tiers, Tier: tier, Paged: paged, RestrictedTo: []string{"pa-liam"}}
	}
	leader := person("pa-liam", []string{auth.RoleProtectionAgent})
	admin := person("ad-adam", []string{auth.RoleAdmin}, "AMER", "EMEA", "APAC")
	emea := person("rm-emea-emil", manager, "EMEA")
	acting := []policy.Action{escalation.ActAcknowledge, escalation.ActResolve, escalation.ActEscalateNow, escalation.ActNote}
	cases := []struct {
		name string
		a    escalation.Authority
		who  auth.Identity
		want error // for every action but a hand-off
	}{
		{"the leader, paged by tier 1 (USER)", restricted(1, "pa-liam"), leader, nil},
		{"a global lead, before any page", restricted(0), person("gl-ada", lead), nil},
		{"the leader before tier 1 paged them", restricted(0), leader, escalation.ErrRestrictedResponder},
		{"an admin of every region", restricted(2, "pa-liam", "gl-ada"), admin, escalation.ErrRestrictedResponder},
		{"a manager of its region", restricted(2, "pa-liam", "gl-ada"), emea, escalation.ErrRestrictedResponder},
		{"an auditor", restricted(1, "pa-liam"), person("au-aude", []string{auth.RoleAuditor}), escalation.ErrRestrictedResponder},
		{"another agent", restricted(1, "pa-liam"), person("pa-petra", []string{auth.RoleProtectionAgent}), escalation.ErrRestrictedResponder},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, action := range acting {
				if err := c.a.Allow(c.who, action); !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
					t.Errorf("Allow(%s, %s) = %v, want %v", c.who.Subject, action, err, c.want)
				}
			}
			err := c.a.Allow(c.who, escalation.ActHandOff)
			if !errors.Is(err, escalation.ErrRestrictedHandOff) || fault.CodeOf(err) != fault.BadUserInput {
				t.Errorf("hand-off by %s = %v, want ErrRestrictedHandOff", c.who.Subject, err)
			}
		})
	}
	// The same escalation unrestricted: the admin and the region's manager
	// own it, which is what the restriction takes away.
	ordinary := restricted(2, "pa-liam", "gl-ada")
	ordinary.RestrictedTo = nil
	for _, who := range []auth.Identity{admin, emea} {
		if err := ordinary.Allow(who, escalation.ActResolve); err != nil {
			t.Errorf("unrestricted, %s may resolve: %v", who.Subject, err)
		}
	}
}

// TestRestrictedEscalationInPostgres: Postgres answers with the same
// restricted Authority (a decision while the workflow is out of reach, a
// note, the API's Guard), refuses every hand-off, and a refusal writes
// nothing; the audit rows of what it accepts carry the restriction.
func TestRestrictedEscalationInPostgres(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	_, escs, err := incident.NewStore(e.pool).Raise(ctx, "meridian", incident.New{Title: "Duress: detail D-1", Severity: escalation.SEV1,
		Kind: "DURESS", SourceType: "PROTECTION", Regions: []string{"EMEA"}, RestrictedTo: []string{"pa-liam"},
		Policy: &escalation.Policy{Name: "duress", Severity: escalation.SEV1, Tiers: []escalation.Tier{
			{Name: "leader", Wait: 2 * time.Second, Targets: []escalation.Target{{Kind: escalation.TargetUser, Subject: "pa-liam"}}},
			{Name: "global leads", Wait: 2 * time.Second, Targets: []escalation.Target{{Kind: escalation.TargetRole, Role: auth.RoleGlobalLead}}},
		}}}, func([]string) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	esc := escs[0]
	leader := person("pa-liam", []string{auth.RoleProtectionAgent})
	admin := person("ad-adam", []string{auth.RoleAdmin}, "AMER", "EMEA", "APAC")
	emea := person("rm-emea-emil", manager, "EMEA")

	before := e.rows(t)
	for _, who := range []auth.Identity{admin, emea} {
		if _, err := e.escs.Decide(ctx, who, esc.ID, escalation.SignalResolve, "", escalation.DecisionOptions{}); !errors.Is(err, escalation.ErrRestrictedResponder) {
			t.Errorf("%s resolved in Postgres: %v", who.Subject, err)
		}
		if _, err := e.escs.AddNote(ctx, who, esc.ID, "looking", ""); !errors.Is(err, escalation.ErrRestrictedResponder) {
			t.Errorf("%s added a note: %v", who.Subject, err)
		}
		// Out of their sight, it is not there at all.
		if err := e.escs.Guard(ctx, who, esc.ID, escalation.ActResolve); !errors.Is(err, escalation.ErrNotFound) {
			t.Errorf("Guard for %s = %v, want ErrNotFound", who.Subject, err)
		}
	}
	// The leader it is restricted to sees it, but acts once tier 1 paged them.
	if err := e.escs.Guard(ctx, leader, esc.ID, escalation.ActAcknowledge); !errors.Is(err, escalation.ErrRestrictedResponder) {
		t.Errorf("Guard for the leader before the page = %v", err)
	}
	for _, who := range []auth.Identity{leader, person("gl-ada", lead)} {
		if _, _, err := e.escs.HandOff(ctx, who.Subject, esc.ID, "APAC", "shift change"); !errors.Is(err, escalation.ErrRestrictedHandOff) {
			t.Errorf("Store.HandOff by %s = %v, want ErrRestrictedHandOff", who.Subject, err)
		}
		if err := e.escs.Guard(ctx, who, esc.ID, escalation.ActHandOff); !errors.Is(err, escalation.ErrRestrictedHandOff) {
			t.Errorf("Guard(hand-off) for %s = %v, want ErrRestrictedHandOff", who.Subject, err)
		}
	}
	if _, err := e.escs.Allow(ctx, admin, esc.ID, escalation.ActEscalateNow); !errors.Is(err, escalation.ErrRestrictedResponder) {
		t.Errorf("Store.Allow (the path while the workflow is unreachable) for the admin = %v", err)
	}
	e.wantUnchanged(t, before)

	if err := e.escs.RecordStep(ctx, escalation.Step{EscalationID: esc.ID, Kind: escalation.KindPaged, Actor: "meridian", Tier: 1,
		DedupeKey: esc.ID.String() + ":t1", Recipients: []string{"pa-liam"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.escs.Guard(ctx, leader, esc.ID, escalation.ActAcknowledge); err != nil {
		t.Fatalf("Guard for the paged leader = %v", err)
	}
	if _, err := e.escs.Decide(ctx, leader, esc.ID, escalation.SignalAcknowledge, "with the principal", escalation.DecisionOptions{}); err != nil {
		t.Fatalf("the paged leader acknowledges: %v", err)
	}
	if _, err := e.escs.AddNote(ctx, person("gl-ada", lead), esc.ID, "police on the way", ""); err != nil {
		t.Fatalf("a global lead adds a note: %v", err)
	}
	if n := e.count(t, `SELECT count(*) FROM audit_log WHERE object_id = $1 AND action IN ('escalation.acknowledge', 'escalation.note')
		AND restricted_to = ARRAY['pa-liam']`, esc.ID.String()); n != 2 {
		t.Fatalf("%d restricted audit rows for the acknowledgement and the note, want 2", n)
	}
}
