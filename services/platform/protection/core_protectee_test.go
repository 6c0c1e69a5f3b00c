package protection

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/policy"
)

// sensitiveProfile has values distinctive enough to be found in any text.
var sensitiveProfile = Profile{
	HomeAddress:       "17 Secretgarden Lane, Zurich",
	Medical:           &Medical{BloodType: "ab-", Allergies: []string{"Penicillinxyz"}, Conditions: []string{"Hemophiliaqq"}},
	EmergencyContacts: []EmergencyContact{{Name: "Marthaqq Doe", Phone: "+41 (0)44 555-1234", Relation: "spouse"}},
	Vehicles:          []Vehicle{{Plate: "ZH-987XYZ", Description: "black saloon"}},
	PhotoRef:          "s3://vault/photoqq.jpg",
}

func sensitiveProfileValues() []string {
	return []string{"Secretgarden", "Penicillinxyz", "Hemophiliaqq", "Marthaqq", "555-1234", "ZH-987XYZ", "photoqq", "AB-"}
}

func TestCreateProtecteeStoresProfileAndAuditsOnlyFieldNames(t *testing.T) {
	c := newCore(t)
	ctx := context.Background()
	p, err := c.store.CreateProtectee(ctx, idAdmin, NewProtectee{Name: "  Ada Principal ", Title: "CEO", ThreatLevel: "high",
		Profile: sensitiveProfile})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if p.Name != "Ada Principal" || p.ThreatLevel != ThreatHigh || p.CreatedBy != "admin" {
		t.Fatalf("created %+v", p)
	}
	got, details, err := c.store.Protectee(ctx, p.ID)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	want := sensitiveProfile
	want.Medical = &Medical{BloodType: "AB-", Allergies: want.Medical.Allergies, Conditions: want.Medical.Conditions}
	if !reflect.DeepEqual(got.Profile, want) || len(details) != 0 {
		t.Fatalf("profile read back %+v, details %v", got.Profile, details)
	}
	text := c.auditText(t)
	for _, v := range sensitiveProfileValues() {
		if strings.Contains(text, v) {
			t.Errorf("the audit log carries the sensitive value %q: %s", v, text)
		}
	}
	var after struct {
		ProtecteeID string   `json:"protecteeId"`
		Name        string   `json:"name"`
		Changed     []string `json:"changed"`
	}
	var raw []byte
	if err := c.pool.QueryRow(ctx, `SELECT after FROM audit_log WHERE action = 'protectee.create' AND object_id = $1`,
		p.ID.String()).Scan(&raw); err != nil {
		t.Fatalf("audit row: %v", err)
	}
	if err := json.Unmarshal(raw, &after); err != nil {
		t.Fatal(err)
	}
	wantChanged := []string{"profile.homeAddress", "profile.medical", "profile.emergencyContacts", "profile.vehicles", "profile.photoRef"}
	if after.ProtecteeID != p.ID.String() || after.Name != "Ada Principal" || !reflect.DeepEqual(after.Changed, wantChanged) {
		t.Fatalf("audit after = %s", raw)
	}
}

func TestCreateProtecteeOncePerClientMutationID(t *testing.T) {
	c := newCore(t)
	ctx := context.Background()
	in := NewProtectee{Name: "Ada", ThreatLevel: ThreatLow, ClientMutationID: "m-1"}
	first, err := c.store.CreateProtectee(ctx, idLead, in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.store.CreateProtectee(ctx, idLead, in)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != first.ID || c.count(t, `SELECT count(*) FROM protectees`) != 1 || c.count(t, `SELECT count(*) FROM audit_log`) != 1 {
		t.Fatalf("a retry created another protectee: %s vs %s", first.ID, again.ID)
	}
	// The same id from someone else is their own mutation.
	other, err := c.store.CreateProtectee(ctx, idAdmin, in)
	if err != nil || other.ID == first.ID {
		t.Fatalf("another caller's id: %v %v", other.ID, err)
	}
	// The same id for another operation is refused, not answered with a protectee.
	before := c.snapshot(t)
	_, err = c.store.CreateDetail(ctx, idLead, NewDetail{ProtecteeID: first.ID, Region: "EMEA", Leader: "leader",
		StartsAt: coreClock, EndsAt: coreClock.Add(1e12), ClientMutationID: "m-1"})
	wantCoreFault(t, err, fault.BadUserInput, "clientMutationId")
	c.assertUnchanged(t, before, "reused clientMutationId")
}

func TestCreateProtecteeRefusals(t *testing.T) {
	c := newCore(t)
	ctx := context.Background()
	long := strings.Repeat("x", 201)
	ok := NewProtectee{Name: "Ada", ThreatLevel: ThreatLow}
	with := func(f func(*NewProtectee)) NewProtectee { n := ok; f(&n); return n }
	withProfile := func(p Profile) NewProtectee { n := ok; n.Profile = p; return n }
	contacts := func(n int) []EmergencyContact {
		out := make([]EmergencyContact, n)
		for i := range out {
			out[i] = EmergencyContact{Name: "N", Phone: "1", Relation: "R"}
		}
		return out
	}
	items := make([]string, 51)
	for i := range items {
		items[i] = "x"
	}
	cases := []struct {
		name  string
		in    NewProtectee
		field string
	}{
		{"no name", with(func(n *NewProtectee) { n.Name = "  " }), "name"},
		{"long name", with(func(n *NewProtectee) { n.Name = long }), "name"},
		{"NUL in name", with(func(n *NewProtectee) { n.Name = "a\x00b" }), "name"},
		{"long title", with(func(n *NewProtectee) { n.Title = long }), "title"},
		{"threat level", with(func(n *NewProtectee) { n.ThreatLevel = "EXTREME" }), "threatLevel"},
		{"address", withProfile(Profile{HomeAddress: strings.Repeat("a", 501)}), "profile.homeAddress"},
		{"blood type", withProfile(Profile{Medical: &Medical{BloodType: "C+"}}), "profile.medical.bloodType"},
		{"allergies", withProfile(Profile{Medical: &Medical{Allergies: items}}), "profile.medical.allergies"},
		{"long condition", withProfile(Profile{Medical: &Medical{Conditions: []string{long}}}), "profile.medical.conditions[0]"},
		{"empty allergy", withProfile(Profile{Medical: &Medical{Allergies: []string{" "}}}), "profile.medical.allergies[0]"},
		{"contacts", withProfile(Profile{EmergencyContacts: contacts(21)}), "profile.emergencyContacts"},
		{"contact name", withProfile(Profile{EmergencyContacts: []EmergencyContact{{Phone: "1", Relation: "r"}}}), "profile.emergencyContacts[0].name"},
		{"contact phone", withProfile(Profile{EmergencyContacts: []EmergencyContact{{Name: "n", Phone: "call me", Relation: "r"}}}), "profile.emergencyContacts[0].phone"},
		{"contact no phone", withProfile(Profile{EmergencyContacts: []EmergencyContact{{Name: "n", Relation: "r"}}}), "profile.emergencyContacts[0].phone"},
		{"contact relation", withProfile(Profile{EmergencyContacts: []EmergencyContact{{Name: "n", Phone: "1"}}}), "profile.emergencyContacts[0].relation"},
		{"vehicles", withProfile(Profile{Vehicles: make([]Vehicle, 21)}), "profile.vehicles"},
		{"plate", withProfile(Profile{Vehicles: []Vehicle{{Plate: ""}}}), "profile.vehicles[0].plate"},
		{"long plate", withProfile(Profile{Vehicles: []Vehicle{{Plate: strings.Repeat("P", 21)}}}), "profile.vehicles[0].plate"},
		{"photo", withProfile(Profile{PhotoRef: strings.Repeat("p", 501)}), "profile.photoRef"},
		{"bad UTF-8", withProfile(Profile{PhotoRef: "\xff"}), "profile.photoRef"},
	}
	before := c.snapshot(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.store.CreateProtectee(ctx, idLead, tc.in)
			wantCoreFault(t, err, fault.BadUserInput, tc.field)
		})
	}
	for _, who := range []string{"agent", "auditor", "manager", "traveller"} {
		_, err := c.store.CreateProtectee(ctx, personas[who], ok)
		if !isForbidden(err) {
			t.Errorf("%s created a protectee: %v", who, err)
		}
	}
	c.assertUnchanged(t, before, "refused creates")
}

// personas names the identities of these tests.
var personas = map[string]auth.Identity{
	"lead": idLead, "admin": idAdmin, "auditor": idAuditor, "manager": idManager, "leader": idLeader,
	"agent": idAgent, "agent2": idAgent2, "other": idOther, "traveller": idTravel,
}

func isForbidden(err error) bool {
	return fault.CodeOf(err) == fault.Forbidden || errors.Is(err, policy.ErrForbidden)
}

func TestUpdateProfile(t *testing.T) {
	c := newCore(t)
	ctx := context.Background()
	p := c.protectee(t, "Ada")
	d := c.detail(t, p, "EMEA", "leader", "agent")

	before := c.snapshot(t)
	for _, who := range []string{"agent", "auditor", "manager", "other"} {
		if _, err := c.store.UpdateProfile(ctx, personas[who], p.ID, sensitiveProfile); !isForbidden(err) {
			t.Errorf("%s updated the profile: %v", who, err)
		}
	}
	_, err := c.store.UpdateProfile(ctx, idLeader, p.ID, Profile{Medical: &Medical{BloodType: "Z"}})
	wantCoreFault(t, err, fault.BadUserInput, "profile.medical.bloodType")
	_, err = c.store.UpdateProfile(ctx, idLead, coreID(t), sensitiveProfile)
	wantCoreFault(t, err, fault.NotFound, "")
	c.assertUnchanged(t, before, "refused profile updates")

	// The detail's leader may, while the detail is not ended.
	got, err := c.store.UpdateProfile(ctx, idLeader, p.ID, sensitiveProfile)
	if err != nil {
		t.Fatalf("leader update: %v", err)
	}
	if got.Profile.HomeAddress != sensitiveProfile.HomeAddress {
		t.Fatalf("profile %+v", got.Profile)
	}
	// Equal again: nothing to write.
	n := c.count(t, `SELECT count(*) FROM audit_log`)
	if _, err := c.store.UpdateProfile(ctx, idLeader, p.ID, sensitiveProfile); err != nil {
		t.Fatal(err)
	}
	if c.count(t, `SELECT count(*) FROM audit_log`) != n {
		t.Fatalf("an unchanged profile wrote an audit row")
	}
	changedAddress := sensitiveProfile
	changedAddress.HomeAddress = "1 Otherplace Road"
	if _, err := c.store.UpdateProfile(ctx, idAdmin, p.ID, changedAddress); err != nil {
		t.Fatal(err)
	}
	var raw string
	if err := c.pool.QueryRow(ctx, `SELECT after::text FROM audit_log WHERE action = 'protectee.update_profile'
		ORDER BY id DESC LIMIT 1`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(raw, `"changed": ["profile.homeAddress"]`) || strings.Contains(raw, "Otherplace") {
		t.Fatalf("audit of a changed address: %s", raw)
	}
	for _, v := range append(sensitiveProfileValues(), "Otherplace") {
		if strings.Contains(c.auditText(t), v) {
			t.Errorf("the audit log carries %q", v)
		}
	}

	// Once the detail ends its leader may no longer.
	if _, err := c.store.End(ctx, idLead, d.ID, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.store.UpdateProfile(ctx, idLeader, p.ID, Profile{}); !isForbidden(err) {
		t.Fatalf("the leader of an ended detail updated the profile: %v", err)
	}
}
