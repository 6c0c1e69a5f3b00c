package schedule_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"meridian.dev/platform/schedule"
)

// ts parses an RFC 3339 instant. Expected instants are written with their
// offset so each one says which side of a DST change it is on.
func ts(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("bad test instant %q: %v", s, err)
	}
	return v
}

type onCallCase struct {
	at       string
	ok       bool
	person   string
	from, to string
	hours    float64 // To-From
}

func checkOnCall(t *testing.T, r schedule.Rotation, cases []onCallCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.at, func(t *testing.T) {
			got, ok, err := schedule.OnCall(r, nil, ts(t, c.at))
			if err != nil {
				t.Fatalf("OnCall: %v", err)
			}
			if ok != c.ok {
				t.Fatalf("ok = %v, want %v (shift %+v)", ok, c.ok, got)
			}
			if !ok {
				return
			}
			if got.Person != c.person || !got.From.Equal(ts(t, c.from)) || !got.To.Equal(ts(t, c.to)) || got.Override {
				t.Errorf("shift = %s %s → %s override=%v, want %s %s → %s",
					got.Person, got.From.Format(time.RFC3339), got.To.Format(time.RFC3339), got.Override,
					c.person, c.from, c.to)
			}
			if d := got.To.Sub(got.From).Hours(); d != c.hours {
				t.Errorf("shift lasts %vh, want %vh", d, c.hours)
			}
		})
	}
}

func TestOnCallNewYorkDaily(t *testing.T) {
	r := schedule.Rotation{
		ID: "amer-primary", Region: "AMER", TimeZone: "America/New_York",
		Kind: schedule.Daily, HandoffTime: "09:00", Start: "2026-03-05",
		Participants: []string{"a", "b", "c"},
	}
	// Turns: Mar 5 a, 6 b, 7 c, 8 a, 9 b … Oct 30 c, 31 a, Nov 1 b.
	checkOnCall(t, r, []onCallCase{
		{at: "2026-03-05T08:59:59-05:00", ok: false},
		{at: "2026-03-05T09:00:00-05:00", ok: true, person: "a", from: "2026-03-05T09:00:00-05:00", to: "2026-03-06T09:00:00-05:00", hours: 24},
		{at: "2026-03-07T08:59:00-05:00", ok: true, person: "b", from: "2026-03-06T09:00:00-05:00", to: "2026-03-07T09:00:00-05:00", hours: 24},
		// Spring forward at 02:00 on Mar 8: the turn spanning it is 23h.
		{at: "2026-03-07T09:00:00-05:00", ok: true, person: "c", from: "2026-03-07T09:00:00-05:00", to: "2026-03-08T09:00:00-04:00", hours: 23},
		{at: "2026-03-08T01:59:59-05:00", ok: true, person: "c", from: "2026-03-07T09:00:00-05:00", to: "2026-03-08T09:00:00-04:00", hours: 23},
		{at: "2026-03-08T03:00:00-04:00", ok: true, person: "c", from: "2026-03-07T09:00:00-05:00", to: "2026-03-08T09:00:00-04:00", hours: 23},
		{at: "2026-03-08T08:59:59-04:00", ok: true, person: "c", from: "2026-03-07T09:00:00-05:00", to: "2026-03-08T09:00:00-04:00", hours: 23},
		{at: "2026-03-08T09:00:00-04:00", ok: true, person: "a", from: "2026-03-08T09:00:00-04:00", to: "2026-03-09T09:00:00-04:00", hours: 24},
		{at: "2026-03-08T10:00:00-04:00", ok: true, person: "a", from: "2026-03-08T09:00:00-04:00", to: "2026-03-09T09:00:00-04:00", hours: 24},
		{at: "2026-03-09T08:59:00-04:00", ok: true, person: "a", from: "2026-03-08T09:00:00-04:00", to: "2026-03-09T09:00:00-04:00", hours: 24},
		{at: "2026-03-09T09:00:00-04:00", ok: true, person: "b", from: "2026-03-09T09:00:00-04:00", to: "2026-03-10T09:00:00-04:00", hours: 24},
		// Fall back at 02:00 on Nov 1 (01:00–02:00 happens twice): 25h.
		{at: "2026-10-31T08:59:00-04:00", ok: true, person: "c", from: "2026-10-30T09:00:00-04:00", to: "2026-10-31T09:00:00-04:00", hours: 24},
		{at: "2026-10-31T09:00:00-04:00", ok: true, person: "a", from: "2026-10-31T09:00:00-04:00", to: "2026-11-01T09:00:00-05:00", hours: 25},
		{at: "2026-11-01T01:30:00-04:00", ok: true, person: "a", from: "2026-10-31T09:00:00-04:00", to: "2026-11-01T09:00:00-05:00", hours: 25},
		{at: "2026-11-01T01:30:00-05:00", ok: true, person: "a", from: "2026-10-31T09:00:00-04:00", to: "2026-11-01T09:00:00-05:00", hours: 25},
		{at: "2026-11-01T08:59:59-05:00", ok: true, person: "a", from: "2026-10-31T09:00:00-04:00", to: "2026-11-01T09:00:00-05:00", hours: 25},
		{at: "2026-11-01T09:00:00-05:00", ok: true, person: "b", from: "2026-11-01T09:00:00-05:00", to: "2026-11-02T09:00:00-05:00", hours: 24},
	})
}

func TestOnCallLondonWeekly(t *testing.T) {
	r := schedule.Rotation{
		ID: "emea-lead", Region: "EMEA", TimeZone: "Europe/London",
		Kind: schedule.Weekly, HandoffTime: "08:00", HandoffDay: time.Monday,
		// Start is a Wednesday: the first turn is Monday Mar 23.
		Start: "2026-03-18", Participants: []string{"x", "y", "z"},
	}
	// Weeks from Mar 23: x, y, z, …; Oct 19 is week 30 → x, Oct 26 → y.
	checkOnCall(t, r, []onCallCase{
		{at: "2026-03-18T12:00:00Z", ok: false},
		{at: "2026-03-23T07:59:59Z", ok: false},
		// DST begins Sun Mar 29 01:00 UTC: 167h.
		{at: "2026-03-23T08:00:00Z", ok: true, person: "x", from: "2026-03-23T08:00:00Z", to: "2026-03-30T08:00:00+01:00", hours: 167},
		{at: "2026-03-29T01:30:00Z", ok: true, person: "x", from: "2026-03-23T08:00:00Z", to: "2026-03-30T08:00:00+01:00", hours: 167},
		{at: "2026-03-30T06:59:59Z", ok: true, person: "x", from: "2026-03-23T08:00:00Z", to: "2026-03-30T08:00:00+01:00", hours: 167},
		{at: "2026-03-30T07:00:00Z", ok: true, person: "y", from: "2026-03-30T08:00:00+01:00", to: "2026-04-06T08:00:00+01:00", hours: 168},
		{at: "2026-10-19T07:59:00+01:00", ok: true, person: "z", from: "2026-10-12T08:00:00+01:00", to: "2026-10-19T08:00:00+01:00", hours: 168},
		// DST ends Sun Oct 25 01:00 UTC: 169h.
		{at: "2026-10-19T08:00:00+01:00", ok: true, person: "x", from: "2026-10-19T08:00:00+01:00", to: "2026-10-26T08:00:00Z", hours: 169},
		{at: "2026-10-25T01:30:00+01:00", ok: true, person: "x", from: "2026-10-19T08:00:00+01:00", to: "2026-10-26T08:00:00Z", hours: 169},
		{at: "2026-10-25T01:30:00Z", ok: true, person: "x", from: "2026-10-19T08:00:00+01:00", to: "2026-10-26T08:00:00Z", hours: 169},
		{at: "2026-10-26T07:59:59Z", ok: true, person: "x", from: "2026-10-19T08:00:00+01:00", to: "2026-10-26T08:00:00Z", hours: 169},
		{at: "2026-10-26T08:00:00Z", ok: true, person: "y", from: "2026-10-26T08:00:00Z", to: "2026-11-02T08:00:00Z", hours: 168},
	})
}

func TestOnCallSydneyDaily(t *testing.T) {
	r := schedule.Rotation{
		ID: "apac-primary", Region: "APAC", TimeZone: "Australia/Sydney",
		Kind: schedule.Daily, HandoffTime: "09:00", Start: "2026-04-01",
		Participants: []string{"a", "b", "c"},
	}
	// Turns: Apr 1 a, 2 b, 3 c, 4 a, 5 b; Oct 3 is day 185 → c, Oct 4 a.
	checkOnCall(t, r, []onCallCase{
		// DST ends Sun Apr 5 03:00 AEDT → 02:00 AEST: 25h.
		{at: "2026-04-04T09:00:00+11:00", ok: true, person: "a", from: "2026-04-04T09:00:00+11:00", to: "2026-04-05T09:00:00+10:00", hours: 25},
		{at: "2026-04-05T02:30:00+11:00", ok: true, person: "a", from: "2026-04-04T09:00:00+11:00", to: "2026-04-05T09:00:00+10:00", hours: 25},
		{at: "2026-04-05T02:30:00+10:00", ok: true, person: "a", from: "2026-04-04T09:00:00+11:00", to: "2026-04-05T09:00:00+10:00", hours: 25},
		{at: "2026-04-05T09:00:00+10:00", ok: true, person: "b", from: "2026-04-05T09:00:00+10:00", to: "2026-04-06T09:00:00+10:00", hours: 24},
		// DST begins Sun Oct 4 02:00 AEST → 03:00 AEDT: 23h.
		{at: "2026-10-03T09:00:00+10:00", ok: true, person: "c", from: "2026-10-03T09:00:00+10:00", to: "2026-10-04T09:00:00+11:00", hours: 23},
		{at: "2026-10-04T01:59:59+10:00", ok: true, person: "c", from: "2026-10-03T09:00:00+10:00", to: "2026-10-04T09:00:00+11:00", hours: 23},
		{at: "2026-10-04T03:00:00+11:00", ok: true, person: "c", from: "2026-10-03T09:00:00+10:00", to: "2026-10-04T09:00:00+11:00", hours: 23},
		{at: "2026-10-04T09:00:00+11:00", ok: true, person: "a", from: "2026-10-04T09:00:00+11:00", to: "2026-10-05T09:00:00+11:00", hours: 24},
	})
}

// Hand-offs at readings a DST change skips or repeats: skipped readings move
// forward by the jump, repeated ones take the first occurrence, in both
// hemispheres (see the package comment).
func TestOnCallSkippedAndRepeatedHandoff(t *testing.T) {
	rot := func(zone, handoff, start string) schedule.Rotation {
		return schedule.Rotation{
			ID: "r", TimeZone: zone, Kind: schedule.Daily, HandoffTime: handoff,
			Start: start, Participants: []string{"a", "b"},
		}
	}
	t.Run("Sydney 02:30 on 2026-10-04 does not exist", func(t *testing.T) {
		// Turns: Oct 1 a, 2 b, 3 a, 4 b. 02:30 AEST on Oct 4 never shows; the
		// hand-off is 03:30 AEDT, which is also what time.Date gives here.
		checkOnCall(t, rot("Australia/Sydney", "02:30", "2026-10-01"), []onCallCase{
			{at: "2026-10-04T01:59:59+10:00", ok: true, person: "a", from: "2026-10-03T02:30:00+10:00", to: "2026-10-04T03:30:00+11:00", hours: 24},
			{at: "2026-10-04T03:29:59+11:00", ok: true, person: "a", from: "2026-10-03T02:30:00+10:00", to: "2026-10-04T03:30:00+11:00", hours: 24},
			{at: "2026-10-04T03:30:00+11:00", ok: true, person: "b", from: "2026-10-04T03:30:00+11:00", to: "2026-10-05T02:30:00+11:00", hours: 23},
		})
		loc, _ := time.LoadLocation("Australia/Sydney")
		if got, want := time.Date(2026, 10, 4, 2, 30, 0, 0, loc), ts(t, "2026-10-04T03:30:00+11:00"); !got.Equal(want) {
			t.Errorf("time.Date normalised 02:30 to %s; the documented comparison is stale", got)
		}
	})
	t.Run("New York 02:30 on 2026-03-08 does not exist", func(t *testing.T) {
		// Turns: Mar 5 a, 6 b, 7 a, 8 b. The hand-off is 03:30 EDT; time.Date
		// alone would say 01:30 EST, an hour before the nominal time.
		checkOnCall(t, rot("America/New_York", "02:30", "2026-03-05"), []onCallCase{
			{at: "2026-03-08T01:30:00-05:00", ok: true, person: "a", from: "2026-03-07T02:30:00-05:00", to: "2026-03-08T03:30:00-04:00", hours: 24},
			{at: "2026-03-08T03:30:00-04:00", ok: true, person: "b", from: "2026-03-08T03:30:00-04:00", to: "2026-03-09T02:30:00-04:00", hours: 23},
		})
		loc, _ := time.LoadLocation("America/New_York")
		if got, want := time.Date(2026, 3, 8, 2, 30, 0, 0, loc), ts(t, "2026-03-08T01:30:00-05:00"); !got.Equal(want) {
			t.Errorf("time.Date normalised 02:30 to %s; the documented comparison is stale", got)
		}
	})
	t.Run("Sydney 02:30 on 2026-04-05 happens twice", func(t *testing.T) {
		// Turns: Apr 1 a, 2 b, 3 a, 4 b, 5 a. First occurrence: 02:30 AEDT.
		checkOnCall(t, rot("Australia/Sydney", "02:30", "2026-04-01"), []onCallCase{
			{at: "2026-04-05T02:29:59+11:00", ok: true, person: "b", from: "2026-04-04T02:30:00+11:00", to: "2026-04-05T02:30:00+11:00", hours: 24},
			{at: "2026-04-05T02:30:00+11:00", ok: true, person: "a", from: "2026-04-05T02:30:00+11:00", to: "2026-04-06T02:30:00+10:00", hours: 25},
			{at: "2026-04-05T02:30:00+10:00", ok: true, person: "a", from: "2026-04-05T02:30:00+11:00", to: "2026-04-06T02:30:00+10:00", hours: 25},
		})
	})
	t.Run("New York 01:30 on 2026-11-01 happens twice", func(t *testing.T) {
		// Turns: Oct 31 is day 240 from Mar 5 → a, Nov 1 b. First: 01:30 EDT.
		checkOnCall(t, rot("America/New_York", "01:30", "2026-03-05"), []onCallCase{
			{at: "2026-11-01T01:29:59-04:00", ok: true, person: "a", from: "2026-10-31T01:30:00-04:00", to: "2026-11-01T01:30:00-04:00", hours: 24},
			{at: "2026-11-01T01:30:00-04:00", ok: true, person: "b", from: "2026-11-01T01:30:00-04:00", to: "2026-11-02T01:30:00-05:00", hours: 25},
			{at: "2026-11-01T01:30:00-05:00", ok: true, person: "b", from: "2026-11-01T01:30:00-04:00", to: "2026-11-02T01:30:00-05:00", hours: 25},
		})
	})
	t.Run("London 01:30 on 2026-10-25 happens twice", func(t *testing.T) {
		// Turns: Oct 24 a, 25 b. First occurrence: 01:30 BST (time.Date
		// alone would pick 01:30 GMT, the second).
		checkOnCall(t, rot("Europe/London", "01:30", "2026-10-24"), []onCallCase{
			{at: "2026-10-25T01:30:00+01:00", ok: true, person: "b", from: "2026-10-25T01:30:00+01:00", to: "2026-10-26T01:30:00Z", hours: 25},
			{at: "2026-10-25T01:30:00Z", ok: true, person: "b", from: "2026-10-25T01:30:00+01:00", to: "2026-10-26T01:30:00Z", hours: 25},
		})
	})
	t.Run("London 01:30 on 2026-03-29 does not exist", func(t *testing.T) {
		// Turns: Mar 28 a, 29 b. Forward by the jump: 02:30 BST.
		checkOnCall(t, rot("Europe/London", "01:30", "2026-03-28"), []onCallCase{
			{at: "2026-03-29T00:59:59Z", ok: true, person: "a", from: "2026-03-28T01:30:00Z", to: "2026-03-29T02:30:00+01:00", hours: 24},
			{at: "2026-03-29T02:30:00+01:00", ok: true, person: "b", from: "2026-03-29T02:30:00+01:00", to: "2026-03-30T01:30:00+01:00", hours: 23},
		})
	})
}

func TestOnCallSingaporeNoDST(t *testing.T) {
	daily := schedule.Rotation{
		ID: "sg", TimeZone: "Asia/Singapore", Kind: schedule.Daily,
		HandoffTime: "09:00", Start: "2026-03-01", Participants: []string{"a", "b", "c"},
	}
	weekly := daily
	weekly.Kind, weekly.HandoffDay = schedule.Weekly, time.Monday
	sgt := time.FixedZone("SGT", 8*60*60)
	// The instants other zones change offset at: Singapore does not care.
	for _, at := range []string{
		"2026-03-08T07:00:00Z", "2026-03-29T01:00:00Z", "2026-04-04T16:00:00Z",
		"2026-10-03T16:00:00Z", "2026-10-25T01:00:00Z", "2026-11-01T06:00:00Z",
	} {
		for _, r := range []schedule.Rotation{daily, weekly} {
			got, ok, err := schedule.OnCall(r, nil, ts(t, at))
			if err != nil || !ok {
				t.Fatalf("%s %s: ok=%v err=%v", r.Kind, at, ok, err)
			}
			want := 24.0
			if r.Kind == schedule.Weekly {
				want = 168
			}
			if d := got.To.Sub(got.From).Hours(); d != want {
				t.Errorf("%s %s: shift lasts %vh, want %vh", r.Kind, at, d, want)
			}
			if f := got.From.In(sgt); f.Hour() != 9 || f.Minute() != 0 {
				t.Errorf("%s %s: shift starts %s, want 09:00 SGT", r.Kind, at, f)
			}
		}
	}
}

func TestOnCallOverrides(t *testing.T) {
	r := schedule.Rotation{
		ID: "amer-primary", TimeZone: "America/New_York", Kind: schedule.Daily,
		HandoffTime: "09:00", Start: "2026-03-05", Participants: []string{"a", "b", "c"},
	}
	// Mar 10 is turn 5 → c, 09:00 to 09:00 EDT; Mar 13 is turn 8 → c.
	o := func(person, from, to string) schedule.Override {
		return schedule.Override{RotationID: r.ID, Person: person, From: ts(t, from), To: ts(t, to)}
	}
	overrides := []schedule.Override{
		o("cover", "2026-03-10T12:00:00-04:00", "2026-03-10T18:00:00-04:00"),
		o("narrow", "2026-03-10T14:00:00-04:00", "2026-03-10T16:00:00-04:00"),
		o("wide", "2026-03-10T11:00:00-04:00", "2026-03-10T20:00:00-04:00"),
		{RotationID: "other", Person: "stranger", From: ts(t, "2026-03-10T00:00:00Z"), To: ts(t, "2026-03-11T00:00:00Z")},
		o("tie-first", "2026-03-12T10:00:00-04:00", "2026-03-12T12:00:00-04:00"),
		o("tie-second", "2026-03-12T10:00:00-04:00", "2026-03-12T11:00:00-04:00"),
		o("early", "2026-03-01T00:00:00-05:00", "2026-03-02T00:00:00-05:00"),
		o("empty", "2026-03-13T10:00:00-04:00", "2026-03-13T10:00:00-04:00"),
	}
	rotation := func(person string) schedule.Shift {
		return schedule.Shift{Person: person, From: ts(t, "2026-03-10T09:00:00-04:00"), To: ts(t, "2026-03-11T09:00:00-04:00")}
	}
	shift := func(ov schedule.Override) schedule.Shift {
		return schedule.Shift{Person: ov.Person, From: ov.From, To: ov.To, Override: true}
	}
	for _, c := range []struct {
		name string
		at   string
		ok   bool
		want schedule.Shift
	}{
		{"before any override", "2026-03-10T10:59:59-04:00", true, rotation("c")},
		{"only wide", "2026-03-10T11:30:00-04:00", true, shift(overrides[2])},
		{"cover starts later than wide", "2026-03-10T12:00:00-04:00", true, shift(overrides[0])},
		{"narrow starts latest", "2026-03-10T15:00:00-04:00", true, shift(overrides[1])},
		{"narrow ended, cover again", "2026-03-10T16:00:00-04:00", true, shift(overrides[0])},
		{"cover ended, wide again", "2026-03-10T18:00:00-04:00", true, shift(overrides[2])},
		{"last override instant", "2026-03-10T19:59:59-04:00", true, shift(overrides[2])},
		{"just after the end", "2026-03-10T20:00:00-04:00", true, rotation("c")},
		{"equal From: later in list", "2026-03-12T10:30:00-04:00", true, shift(overrides[5])},
		{"equal From: the other ended", "2026-03-12T11:00:00-04:00", true, shift(overrides[4])},
		{"before Start, covered", "2026-03-01T12:00:00-05:00", true, shift(overrides[6])},
		{"before Start, uncovered", "2026-03-02T12:00:00-05:00", false, schedule.Shift{}},
		{"empty override covers nothing", "2026-03-13T10:00:00-04:00", true, schedule.Shift{
			Person: "c", From: ts(t, "2026-03-13T09:00:00-04:00"), To: ts(t, "2026-03-14T09:00:00-04:00")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok, err := schedule.OnCall(r, overrides, ts(t, c.at))
			if err != nil {
				t.Fatalf("OnCall: %v", err)
			}
			if ok != c.ok || got.Person != c.want.Person || !got.From.Equal(c.want.From) ||
				!got.To.Equal(c.want.To) || got.Override != c.want.Override {
				t.Errorf("got %+v ok=%v, want %+v ok=%v", got, ok, c.want, c.ok)
			}
		})
	}

	t.Run("override without a person", func(t *testing.T) {
		bad := []schedule.Override{o("", "2026-03-10T12:00:00-04:00", "2026-03-10T18:00:00-04:00")}
		_, _, err := schedule.OnCall(r, bad, ts(t, "2026-03-10T13:00:00-04:00"))
		var fe *schedule.FieldError
		if !errors.As(err, &fe) || fe.Field != "person" {
			t.Errorf("err = %v, want a person field error", err)
		}
	})
}

func TestValidate(t *testing.T) {
	good := schedule.Rotation{
		ID: "r", TimeZone: "Europe/London", Kind: schedule.Weekly, HandoffTime: "08:00",
		HandoffDay: time.Monday, Start: "2026-03-18", Participants: []string{"x"},
	}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid rotation: %v", err)
	}
	for _, c := range []struct {
		name  string
		edit  func(*schedule.Rotation)
		field string
	}{
		{"unknown zone", func(r *schedule.Rotation) { r.TimeZone = "Mars/Olympus_Mons" }, "timeZone"},
		{"empty zone", func(r *schedule.Rotation) { r.TimeZone = "" }, "timeZone"},
		{"machine zone", func(r *schedule.Rotation) { r.TimeZone = "Local" }, "timeZone"},
		{"one-digit hour", func(r *schedule.Rotation) { r.HandoffTime = "8:00" }, "handoffTime"},
		{"hour 24", func(r *schedule.Rotation) { r.HandoffTime = "24:00" }, "handoffTime"},
		{"minute 60", func(r *schedule.Rotation) { r.HandoffTime = "08:60" }, "handoffTime"},
		{"letters", func(r *schedule.Rotation) { r.HandoffTime = "ab:cd" }, "handoffTime"},
		{"no such day", func(r *schedule.Rotation) { r.Start = "2026-02-30" }, "start"},
		{"other date format", func(r *schedule.Rotation) { r.Start = "18/03/2026" }, "start"},
		{"empty start", func(r *schedule.Rotation) { r.Start = "" }, "start"},
		{"no participants", func(r *schedule.Rotation) { r.Participants = nil }, "participants"},
		{"empty participant", func(r *schedule.Rotation) { r.Participants = []string{"x", ""} }, "participants"},
		{"empty kind", func(r *schedule.Rotation) { r.Kind = "" }, "kind"},
		{"unknown kind", func(r *schedule.Rotation) { r.Kind = "MONTHLY" }, "kind"},
		{"bad weekday", func(r *schedule.Rotation) { r.HandoffDay = 7 }, "handoffDay"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := good
			r.Participants = append([]string(nil), good.Participants...)
			c.edit(&r)
			err := r.Validate()
			var fe *schedule.FieldError
			if !errors.As(err, &fe) || fe.Field != c.field {
				t.Fatalf("Validate = %v, want a %s field error", err, c.field)
			}
			if _, _, err := schedule.OnCall(r, nil, time.Now()); !errors.As(err, &fe) || fe.Field != c.field {
				t.Errorf("OnCall err = %v, want a %s field error", err, c.field)
			}
		})
	}

	t.Run("every bad field is reported", func(t *testing.T) {
		err := schedule.Rotation{Kind: "x"}.Validate()
		for _, f := range []string{"timeZone", "handoffTime", "start", "kind", "participants"} {
			if !hasField(err, f) {
				t.Errorf("error %q does not name %s", err, f)
			}
		}
	})
}

// hasField reports whether a *FieldError for field is anywhere in err's tree.
func hasField(err error, field string) bool {
	if fe, ok := err.(*schedule.FieldError); ok && fe.Field == field {
		return true
	}
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			if hasField(inner, field) {
				return true
			}
		}
	case interface{ Unwrap() error }:
		return hasField(e.Unwrap(), field)
	}
	return false
}

var weekdays = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}

// meridian are Meridian's regions, listed out of follow-the-sun order so
// nothing depends on the slice order.
var meridian = []schedule.Hours{
	{Region: "EMEA", TimeZone: "Europe/London", Days: weekdays, Open: "09:00", Close: "18:00", Order: 2},
	{Region: "AMER", TimeZone: "America/New_York", Days: weekdays, Open: "09:00", Close: "18:00", Order: 3},
	{Region: "APAC", TimeZone: "Asia/Singapore", Days: weekdays, Open: "09:00", Close: "18:00", Order: 1},
}

func TestDutyRegion(t *testing.T) {
	// In UTC: APAC 01:00–10:00 all year; EMEA 09:00–18:00 in winter and
	// 08:00–17:00 in summer; AMER 14:00–23:00 in winter, 13:00–22:00 in
	// summer. 2026-01-13 and 2026-07-14 are Tuesdays.
	for _, c := range []struct {
		at, region string
		open       bool
	}{
		{"2026-01-13T02:00:00Z", "APAC", true},
		{"2026-01-13T08:30:00Z", "APAC", true},
		{"2026-01-13T09:00:00Z", "EMEA", true}, // EMEA opens: overlap with APAC
		{"2026-01-13T09:30:00Z", "EMEA", true},
		{"2026-01-13T10:00:00Z", "EMEA", true}, // APAC closes
		{"2026-01-13T13:30:00Z", "EMEA", true},
		{"2026-01-13T14:00:00Z", "AMER", true}, // AMER opens
		{"2026-01-13T15:00:00Z", "AMER", true},
		{"2026-01-13T22:30:00Z", "AMER", true},
		{"2026-01-13T23:00:00Z", "AMER", false}, // AMER closes: gap until APAC
		{"2026-01-13T23:30:00Z", "AMER", false},
		{"2026-01-14T00:59:59Z", "AMER", false},
		{"2026-01-14T01:00:00Z", "APAC", true},
		{"2026-01-17T12:00:00Z", "AMER", false}, // Saturday: Friday's last opener
		{"2026-01-19T00:30:00Z", "AMER", false}, // Monday before APAC opens
		{"2026-01-19T01:00:00Z", "APAC", true},

		// Summer: EMEA and AMER hand-overs are an hour earlier in UTC.
		{"2026-07-14T02:00:00Z", "APAC", true},
		{"2026-07-14T07:59:59Z", "APAC", true},
		{"2026-07-14T08:00:00Z", "EMEA", true},
		{"2026-07-14T08:30:00Z", "EMEA", true},
		{"2026-07-14T10:00:00Z", "EMEA", true},
		{"2026-07-14T12:59:59Z", "EMEA", true},
		{"2026-07-14T13:00:00Z", "AMER", true},
		{"2026-07-14T15:00:00Z", "AMER", true},
		{"2026-07-14T21:59:59Z", "AMER", true},
		{"2026-07-14T22:00:00Z", "AMER", false},
		{"2026-07-14T23:30:00Z", "AMER", false},
		{"2026-07-18T12:00:00Z", "AMER", false},
		{"2026-07-20T00:30:00Z", "AMER", false},
		{"2026-07-20T01:00:00Z", "APAC", true},

		// Between the US change (Mar 8) and the UK one (Mar 29) only AMER
		// has moved.
		{"2026-03-17T08:30:00Z", "APAC", true},
		{"2026-03-17T09:00:00Z", "EMEA", true},
		{"2026-03-17T12:59:59Z", "EMEA", true},
		{"2026-03-17T13:00:00Z", "AMER", true},
	} {
		t.Run(c.at, func(t *testing.T) {
			region, open, err := schedule.DutyRegion(meridian, ts(t, c.at))
			if err != nil {
				t.Fatalf("DutyRegion: %v", err)
			}
			if region != c.region || open != c.open {
				t.Errorf("DutyRegion = %s open=%v, want %s open=%v", region, open, c.region, c.open)
			}
		})
	}
}

func TestDutyRegionTies(t *testing.T) {
	// London and Lisbon keep the same offset all year, so they always open
	// at the same instant.
	hours := []schedule.Hours{
		{Region: "LON", TimeZone: "Europe/London", Days: weekdays, Open: "09:00", Close: "17:00", Order: 5},
		{Region: "LIS", TimeZone: "Europe/Lisbon", Days: weekdays, Open: "09:00", Close: "17:00", Order: 4},
		{Region: "LIS-2", TimeZone: "Europe/Lisbon", Days: weekdays, Open: "09:00", Close: "17:00", Order: 4},
	}
	for _, at := range []string{"2026-01-13T09:00:00Z", "2026-07-14T12:00:00+01:00", "2026-07-18T12:00:00Z"} {
		region, _, err := schedule.DutyRegion(hours, ts(t, at))
		if err != nil {
			t.Fatal(err)
		}
		if region != "LIS" {
			t.Errorf("%s: DutyRegion = %s, want LIS (lowest Order, first listed)", at, region)
		}
	}

	if _, _, err := schedule.DutyRegion(nil, time.Now()); err == nil {
		t.Error("DutyRegion(nil) succeeded")
	}
	bad := append([]schedule.Hours{{Region: "X", TimeZone: "Europe/London", Open: "09:00", Close: "17:00"}}, hours...)
	var fe *schedule.FieldError
	if _, _, err := schedule.DutyRegion(bad, time.Now()); !errors.As(err, &fe) || fe.Field != "days" {
		t.Errorf("DutyRegion with no days: err = %v, want a days field error", err)
	}
}

func TestIsOpen(t *testing.T) {
	apac := meridian[2]
	nights := schedule.Hours{Region: "NOC", TimeZone: "Europe/London", Days: weekdays, Open: "22:00", Close: "06:00"}
	everyNight := nights
	everyNight.Days = []time.Weekday{time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday}
	allDay := everyNight
	allDay.Open, allDay.Close = "00:00", "00:00"

	for _, c := range []struct {
		name string
		h    schedule.Hours
		at   string
		want bool
	}{
		{"APAC before opening", apac, "2026-01-13T00:59:59Z", false},
		{"APAC opening", apac, "2026-01-13T01:00:00Z", true},
		{"APAC last second", apac, "2026-01-13T09:59:59Z", true},
		{"APAC closing", apac, "2026-01-13T10:00:00Z", false},
		{"APAC Saturday", apac, "2026-01-17T03:00:00Z", false},

		// 22:00–06:00 belongs to the day it opens on.
		{"Friday night before", nights, "2026-01-16T21:59:59Z", false},
		{"Friday night opening", nights, "2026-01-16T22:00:00Z", true},
		{"Friday night past midnight", nights, "2026-01-17T05:59:59Z", true},
		{"Friday night closing", nights, "2026-01-17T06:00:00Z", false},
		{"Saturday night", nights, "2026-01-17T23:00:00Z", false},
		{"Sunday night into Monday", nights, "2026-01-19T05:00:00Z", false},
		{"Monday night", nights, "2026-01-19T22:30:00Z", true},
		{"Monday night into Tuesday", nights, "2026-01-20T03:00:00Z", true},
		// The night of Mar 28–29 is 7h: 22:00 GMT to 06:00 BST.
		{"short night, past the jump", everyNight, "2026-03-29T04:59:59Z", true},
		{"short night, closing", everyNight, "2026-03-29T05:00:00Z", false},
		// The night of Oct 24–25 is 9h: 22:00 BST to 06:00 GMT.
		{"long night, opening", everyNight, "2026-10-24T21:00:00Z", true},
		{"long night, last second", everyNight, "2026-10-25T05:59:59Z", true},
		{"long night, closing", everyNight, "2026-10-25T06:00:00Z", false},
		{"Open == Close is all day", allDay, "2026-03-29T00:30:00Z", true},
		{"Open == Close is all day, later", allDay, "2026-10-25T12:00:00Z", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := schedule.IsOpen(c.h, ts(t, c.at))
			if err != nil {
				t.Fatalf("IsOpen: %v", err)
			}
			if got != c.want {
				t.Errorf("IsOpen(%s) = %v, want %v", c.at, got, c.want)
			}
		})
	}
}

func TestHoursValidate(t *testing.T) {
	good := schedule.Hours{Region: "EMEA", TimeZone: "Europe/London", Days: weekdays, Open: "09:00", Close: "18:00"}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid hours: %v", err)
	}
	for _, c := range []struct {
		field string
		edit  func(*schedule.Hours)
	}{
		{"region", func(h *schedule.Hours) { h.Region = "" }},
		{"timeZone", func(h *schedule.Hours) { h.TimeZone = "GMT+1" }},
		{"days", func(h *schedule.Hours) { h.Days = nil }},
		{"days", func(h *schedule.Hours) { h.Days = []time.Weekday{9} }},
		{"open", func(h *schedule.Hours) { h.Open = "9am" }},
		{"close", func(h *schedule.Hours) { h.Close = "18:0" }},
	} {
		h := good
		c.edit(&h)
		var fe *schedule.FieldError
		if _, err := schedule.IsOpen(h, time.Now()); !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%+v: err = %v, want a %s field error", h, err, c.field)
		}
	}
}

var fuzzZones = []string{"America/New_York", "Europe/London", "Australia/Sydney", "Asia/Singapore"}

// FuzzOnCall checks the invariants of a rotation without overrides: the shift
// contains the instant, has positive length, starts at the hand-off reading
// (or just after a jump that skipped it, or at its first occurrence), and the
// next turn starts where it ends, with the next person.
func FuzzOnCall(f *testing.F) {
	f.Add(uint8(0), false, uint8(9), uint8(0), uint8(1), uint16(64), uint8(3), int64(5_700_000))
	f.Add(uint8(1), true, uint8(8), uint8(0), uint8(1), uint16(290), uint8(2), int64(25_000_000))
	f.Add(uint8(2), false, uint8(2), uint8(30), uint8(0), uint16(485), uint8(2), int64(23_500_000))
	f.Add(uint8(0), false, uint8(1), uint8(30), uint8(0), uint16(300), uint8(3), int64(-1000))
	f.Add(uint8(3), true, uint8(23), uint8(59), uint8(6), uint16(0), uint8(1), int64(0))
	f.Fuzz(func(t *testing.T, zone uint8, weekly bool, hh, mm, day uint8, startDays uint16, n uint8, atSec int64) {
		people := make([]string, int(n)%5+1)
		for i := range people {
			people[i] = fmt.Sprintf("p%d", i)
		}
		r := schedule.Rotation{
			ID:           "fuzz",
			TimeZone:     fuzzZones[int(zone)%len(fuzzZones)],
			Kind:         schedule.Daily,
			HandoffTime:  fmt.Sprintf("%02d:%02d", int(hh)%24, int(mm)%60),
			HandoffDay:   time.Weekday(int(day) % 7),
			Start:        time.Date(2025, 6, 1+int(startDays)%500, 0, 0, 0, 0, time.UTC).Format(time.DateOnly),
			Participants: people,
		}
		if weekly {
			r.Kind = schedule.Weekly
		}
		loc, _ := time.LoadLocation(r.TimeZone)
		const year = 365 * 24 * 60 * 60
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration((atSec%year+year)%year) * time.Second)
		if atSec < 0 {
			// Half the inputs land within two days of a DST change, where
			// the hand-off reading may be skipped or repeated.
			if _, end := at.In(loc).ZoneBounds(); !end.IsZero() {
				const days = 2 * 24 * 60 * 60
				at = end.Add(time.Duration(atSec%days) * time.Second)
			}
		}

		s, ok, err := schedule.OnCall(r, nil, at)
		if err != nil {
			t.Fatalf("OnCall(%+v, %s): %v", r, at, err)
		}
		if !ok {
			// Only before the first turn: on or before the first possible
			// hand-off date.
			start, _ := time.ParseInLocation(time.DateOnly, r.Start, loc)
			if at.After(start.AddDate(0, 0, 8)) {
				t.Fatalf("%+v at %s: not on call, but Start is long past", r, at)
			}
			return
		}
		if at.Before(s.From) || !at.Before(s.To) || !s.To.After(s.From) {
			t.Fatalf("%+v at %s: shift %s → %s does not contain it", r, at, s.From, s.To)
		}
		if d := s.To.Sub(s.From); d < 22*time.Hour || d > 26*time.Hour && !weekly || weekly && (d < 166*time.Hour || d > 170*time.Hour) {
			t.Fatalf("%+v: shift %s → %s lasts %s", r, s.From, s.To, d)
		}
		checkReading(t, r, s.From, loc)

		again, ok, err := schedule.OnCall(r, nil, s.From)
		if err != nil || !ok || again != s {
			t.Fatalf("%+v: OnCall(From=%s) = %+v %v %v, want %+v", r, s.From, again, ok, err, s)
		}
		next, ok, err := schedule.OnCall(r, nil, s.To)
		if err != nil || !ok {
			t.Fatalf("%+v: OnCall(To=%s) ok=%v err=%v", r, s.To, ok, err)
		}
		var i int
		fmt.Sscanf(s.Person, "p%d", &i)
		if want := people[(i+1)%len(people)]; next.Person != want || !next.From.Equal(s.To) {
			t.Fatalf("%+v: after %+v comes %+v, want %s from %s", r, s, next, want, s.To)
		}
		checkReading(t, r, next.From, loc)
	})
}

// checkReading asserts a hand-off instant shows the hand-off reading at its
// first occurrence, or, where a jump skipped the reading, sits just after it.
func checkReading(t *testing.T, r schedule.Rotation, from time.Time, loc *time.Location) {
	t.Helper()
	var hh, mm int
	fmt.Sscanf(r.HandoffTime, "%d:%d", &hh, &mm)
	l := from.In(loc)
	if r.Kind == schedule.Weekly && l.Weekday() != r.HandoffDay {
		t.Fatalf("%+v: hand-off %s is a %s", r, l, l.Weekday())
	}
	earlier := from.Add(-time.Hour).In(loc) // every zone here moves by an hour
	if l.Hour() == hh && l.Minute() == mm {
		if earlier.Hour() == hh && earlier.Minute() == mm && earlier.Day() == l.Day() {
			t.Fatalf("%+v: hand-off %s is the second occurrence of its reading", r, l)
		}
		return
	}
	_, before := earlier.Zone()
	_, after := l.Zone()
	if after-before != 3600 || (l.Hour()*60+l.Minute())-(hh*60+mm) != 60 {
		t.Fatalf("%+v: hand-off %s shows neither %s nor the reading an hour past a jump", r, l, r.HandoffTime)
	}
}
