package server_test

import (
	"testing"
	"time"

	"meridian.dev/gateway/stacktest"
)

const onCallQuery = `query($region: String!, $at: Time) {
  onCall(region: $region, at: $at) { rotation person { subject name } from to override }
}`

type shiftView struct {
	Rotation string
	Person   struct{ Subject, Name string }
	From, To time.Time
	Override bool
}

func onCallAt(t *testing.T, s *stacktest.Stack, region string, at time.Time) []shiftView {
	t.Helper()
	var out struct{ OnCall []shiftView }
	s.GW.Query(t, s.Token(t, "tt-theo"), onCallQuery, map[string]any{"region": region, "at": at.Format(time.RFC3339)}).Decode(t, &out)
	return out.OnCall
}

// TestOnCallFollowsTheDemoRotation: the demo's EMEA rotation hands over daily
// at 09:00 London time between the regional manager and the global lead,
// starting 2026-01-05 with the manager; an override takes precedence for its
// window only.
func TestOnCallFollowsTheDemoRotation(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{NoWorker: true})
	london, _ := time.LoadLocation("Europe/London")
	// 2026-07-01 is day 177 after 2026-01-05: an odd turn → the global lead.
	at := time.Date(2026, 7, 1, 12, 0, 0, 0, london)
	got := onCallAt(t, s, "EMEA", at)
	if len(got) != 1 || got[0].Person.Subject != "gl-ada" || got[0].Rotation != "primary" || got[0].Override {
		t.Fatalf("onCall(EMEA, %s) = %+v, want gl-ada on the primary rotation", at, got)
	}
	wantFrom := time.Date(2026, 7, 1, 9, 0, 0, 0, london) // 08:00 UTC in summer
	if !got[0].From.Equal(wantFrom) || !got[0].To.Equal(wantFrom.AddDate(0, 0, 1)) {
		t.Fatalf("shift %s – %s, want %s – next day 09:00 London", got[0].From, got[0].To, wantFrom)
	}
	if got[0].Person.Name == "" || got[0].Person.Name == "gl-ada" {
		t.Errorf("person name %q should come from the directory", got[0].Person.Name)
	}
	// The next morning it is the manager's turn.
	if got := onCallAt(t, s, "EMEA", at.AddDate(0, 0, 1)); len(got) != 1 || got[0].Person.Subject != "rm-emea-emil" {
		t.Fatalf("the next day: %+v, want rm-emea-emil", got)
	}

	// An override by the EMEA manager puts the AMER manager on call for two hours.
	const add = `mutation($input: AddOnCallOverrideInput!) { addOnCallOverride(input: $input) { shift { person { subject } override from to } } }`
	input := map[string]any{"region": "EMEA", "rotation": "primary", "person": "rm-amer-ana",
		"from": at.Add(-time.Hour).Format(time.RFC3339), "to": at.Add(time.Hour).Format(time.RFC3339)}
	var added struct {
		AddOnCallOverride struct{ Shift shiftView }
	}
	s.GW.Query(t, s.Token(t, "rm-emea-emil"), add, map[string]any{"input": input}).Decode(t, &added)
	if sh := added.AddOnCallOverride.Shift; sh.Person.Subject != "rm-amer-ana" || !sh.Override {
		t.Fatalf("addOnCallOverride answered %+v", sh)
	}
	if got := onCallAt(t, s, "EMEA", at); len(got) != 1 || got[0].Person.Subject != "rm-amer-ana" || !got[0].Override {
		t.Fatalf("during the override: %+v, want rm-amer-ana (override)", got)
	}
	if got := onCallAt(t, s, "EMEA", at.Add(time.Hour)); len(got) != 1 || got[0].Person.Subject != "gl-ada" || got[0].Override {
		t.Fatalf("when the override ends: %+v, want gl-ada again", got)
	}

	// Others may not change another region's schedule; nothing is written.
	s.Unchanged(t, func() {
		s.GW.Query(t, s.Token(t, "rm-amer-ana"), add, map[string]any{"input": input}).Refused(t, "FORBIDDEN")
		s.GW.Query(t, s.Token(t, "tt-theo"), add, map[string]any{"input": input}).Refused(t, "FORBIDDEN")
	})
	bad := map[string]any{"region": "EMEA", "rotation": "primary", "person": "x", "from": at.Format(time.RFC3339), "to": at.Format(time.RFC3339)}
	s.GW.Query(t, s.Token(t, "gl-ada"), add, map[string]any{"input": bad}).RefusedField(t, "to")
	bad["rotation"], bad["to"] = "nope", at.Add(time.Hour).Format(time.RFC3339)
	s.GW.Query(t, s.Token(t, "gl-ada"), add, map[string]any{"input": bad}).Refused(t, "NOT_FOUND")
}

func TestDutyRegionFollowsTheSun(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{NoWorker: true})
	const q = `query($at: Time) { dutyRegion(at: $at) { region { code } open at } }`
	cases := []struct {
		at   string
		want string
		open bool
	}{
		{"2026-01-13T02:00:00Z", "APAC", true},  // Tuesday, Singapore 10:00
		{"2026-01-13T10:00:00Z", "EMEA", true},  // London opened 09:00 UTC; Singapore still open: the later opening wins
		{"2026-01-13T15:00:00Z", "AMER", true},  // New York opened 14:00 UTC
		{"2026-01-13T23:30:00Z", "AMER", false}, // gap: New York closed 23:00 UTC, Singapore opens 01:00 UTC
		{"2026-01-17T12:00:00Z", "AMER", false}, // Saturday: Friday's last opening keeps duty
		{"2026-07-14T08:30:00Z", "EMEA", true},  // summer: London opens 08:00 UTC
		{"2026-07-14T13:30:00Z", "AMER", true},  // summer: New York opens 13:00 UTC
	}
	for _, c := range cases {
		var out struct {
			DutyRegion struct {
				Region struct{ Code string }
				Open   bool
			}
		}
		s.GW.Query(t, s.Token(t, "au-aude"), q, map[string]any{"at": c.at}).Decode(t, &out)
		if out.DutyRegion.Region.Code != c.want || out.DutyRegion.Open != c.open {
			t.Errorf("dutyRegion(%s) = %s open=%v, want %s open=%v", c.at, out.DutyRegion.Region.Code, out.DutyRegion.Open, c.want, c.open)
		}
	}
}

func TestCreateRotation(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{NoWorker: true})
	const m = `mutation($input: CreateRotationInput!) { createRotation(input: $input) { rotation { region { code } name kind handoffTime handoffDay start participants } } }`
	input := func() map[string]any {
		return map[string]any{"region": "APAC", "name": "weekend", "timezone": "Australia/Sydney", "kind": "WEEKLY",
			"handoffTime": "08:00", "handoffDay": "SATURDAY", "start": "2026-03-28", "participants": []string{"rm-apac-aiko", "gl-ada"}}
	}
	var out struct {
		CreateRotation struct {
			Rotation struct {
				Region                              struct{ Code string }
				Name, Kind, HandoffTime, HandoffDay string
				Participants                        []string
			}
		}
	}
	s.GW.Query(t, s.Token(t, "rm-apac-aiko"), m, map[string]any{"input": input()}).Decode(t, &out)
	if r := out.CreateRotation.Rotation; r.Region.Code != "APAC" || r.Kind != "WEEKLY" || r.HandoffDay != "SATURDAY" || len(r.Participants) != 2 {
		t.Fatalf("createRotation answered %+v", r)
	}
	// Sydney's DST ends on Sunday 2026-04-05: the Saturday 08:00 hand-offs
	// stay at 08:00 local on both sides (22:00 and 21:00 UTC).
	sydney, _ := time.LoadLocation("Australia/Sydney")
	got := onCallAt(t, s, "APAC", time.Date(2026, 4, 6, 12, 0, 0, 0, sydney))
	var weekend *shiftView
	for i := range got {
		if got[i].Rotation == "weekend" {
			weekend = &got[i]
		}
	}
	if weekend == nil || weekend.Person.Subject != "gl-ada" ||
		!weekend.From.Equal(time.Date(2026, 4, 4, 8, 0, 0, 0, sydney)) || weekend.To.Sub(weekend.From) != 169*time.Hour {
		t.Fatalf("weekend rotation across the DST change: %+v, want gl-ada from Sat 4 Apr 08:00 for 169 h", weekend)
	}
	s.Unchanged(t, func() {
		bad := input()
		bad["name"], bad["timezone"] = "bad", "Mars/Olympus"
		s.GW.Query(t, s.Token(t, "gl-ada"), m, map[string]any{"input": bad}).RefusedField(t, "timezone")
		bad = input()
		bad["name"], bad["handoffTime"] = "bad", "25:00"
		s.GW.Query(t, s.Token(t, "gl-ada"), m, map[string]any{"input": bad}).RefusedField(t, "handoffTime")
		bad = input()
		bad["name"], bad["participants"] = "bad", []string{}
		s.GW.Query(t, s.Token(t, "gl-ada"), m, map[string]any{"input": bad}).RefusedField(t, "participants")
		s.GW.Query(t, s.Token(t, "rm-emea-emil"), m, map[string]any{"input": input()}).Refused(t, "FORBIDDEN")
	})
}
