package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"meridian.dev/gateway/stacktest"
)

const (
	farFuture = "9999-12-31T08:59:59Z" // APAC's 09:00 hand-off is a second later: the shift ends in year 10000
	farPast   = "0001-01-01T00:00:00Z"
)

// refusedInstant requires what a client must get for an instant outside
// the API's range: HTTP 200, a JSON body, one BAD_USER_INPUT error naming
// field.
func refusedInstant(t *testing.T, r stacktest.Result, field string) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Errorf("HTTP %d, want 200", r.Status)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want JSON", ct)
	}
	if !json.Valid(r.Body) {
		t.Fatalf("the body is not JSON: %q", r.Body)
	}
	e := r.RefusedField(t, field)
	if !strings.Contains(e.Message, "1970") || !strings.Contains(e.Message, "2999") {
		t.Errorf("message %q does not give the range", e.Message)
	}
}

// TestInstantsOutsideTheRangeAreRefused: an instant the API cannot work
// with (past 2999, before 1970) is refused as the caller's mistake, naming
// the argument, on every query and mutation that takes one; the gateway
// used to panic on onCall in year 9999 and answer an empty body. Instants
// inside the range, up to its edges, are still answered.
func TestInstantsOutsideTheRangeAreRefused(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{NoWorker: true, Tables: []string{"rotation_overrides"}})
	reader := s.Token(t, stacktest.Auditor)

	const (
		onCall      = `query($region: String!, $at: Time) { onCall(region: $region, at: $at) { rotation person { subject } from to override } }`
		duty        = `query($at: Time) { dutyRegion(at: $at) { region { code } open at } }`
		escalations = `query($since: Time, $until: Time) { escalations(since: $since, until: $until) { edges { node { id } } } }`
		stats       = `query($since: Time) { escalationStats(since: $since) { opened acknowledged resolved } }`
		auditLog    = `query($since: Time, $until: Time) { auditLog(since: $since, until: $until) { edges { node { action } } } }`
	)

	t.Run("queries", func(t *testing.T) {
		cases := []struct {
			name, doc string
			vars      map[string]any
			field     string
		}{
			{"onCall in year 9999, written in the document", `{ onCall(region: "APAC", at: "` + farFuture + `") { rotation from to } }`, nil, "at"},
			{"onCall in year 9999", onCall, map[string]any{"region": "APAC", "at": farFuture}, "at"},
			{"onCall in year 1", onCall, map[string]any{"region": "EMEA", "at": farPast}, "at"},
			{"onCall a second past 2999", onCall, map[string]any{"region": "APAC", "at": "3000-01-01T00:00:00Z"}, "at"},
			{"dutyRegion in year 9999", duty, map[string]any{"at": farFuture}, "at"},
			{"dutyRegion in year 1", duty, map[string]any{"at": farPast}, "at"},
			{"dutyRegion a second before 1970", duty, map[string]any{"at": "1969-12-31T23:59:59Z"}, "at"},
			{"escalations since year 9999", escalations, map[string]any{"since": farFuture}, "since"},
			{"escalations since year 1", escalations, map[string]any{"since": farPast}, "since"},
			{"escalations until year 9999", escalations, map[string]any{"until": farFuture}, "until"},
			{"escalationStats since year 9999", stats, map[string]any{"since": farFuture}, "since"},
			{"escalationStats since year 1", stats, map[string]any{"since": farPast}, "since"},
			{"auditLog since year 9999", auditLog, map[string]any{"since": farFuture}, "since"},
			{"auditLog until year 1", auditLog, map[string]any{"until": farPast}, "until"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				refusedInstant(t, s.GW.Query(t, reader, c.doc, c.vars), c.field)
			})
		}
	})

	t.Run("instants inside the range are answered", func(t *testing.T) {
		for _, at := range []string{"2999-06-01T00:00:00Z", "2999-12-31T23:59:59Z"} {
			var out struct {
				OnCall []struct {
					Rotation string
					Person   struct{ Subject string }
					From, To time.Time
				}
			}
			s.GW.Query(t, reader, onCall, map[string]any{"region": "APAC", "at": at}).Decode(t, &out)
			when, _ := time.Parse(time.RFC3339, at)
			if len(out.OnCall) != 1 || out.OnCall[0].Person.Subject == "" ||
				out.OnCall[0].From.After(when) || !out.OnCall[0].To.After(when) {
				t.Errorf("onCall(APAC, %s) = %+v, want one shift around the instant", at, out.OnCall)
			}
		}
		for _, at := range []string{"2999-06-01T00:00:00Z", "2999-12-31T23:59:59Z", "1970-01-01T00:00:00Z"} {
			var out struct {
				DutyRegion struct {
					Region struct{ Code string }
					At     time.Time
				}
			}
			s.GW.Query(t, reader, duty, map[string]any{"at": at}).Decode(t, &out)
			if want, _ := time.Parse(time.RFC3339, at); out.DutyRegion.Region.Code == "" || !out.DutyRegion.At.Equal(want) {
				t.Errorf("dutyRegion(%s) = %+v", at, out.DutyRegion)
			}
		}
		var esc struct {
			Escalations struct{ Edges []json.RawMessage }
		}
		s.GW.Query(t, reader, escalations, map[string]any{"since": "1970-01-01T00:00:00Z", "until": "2999-12-31T23:59:59Z"}).Decode(t, &esc)
		var st struct{ EscalationStats struct{ Opened int } }
		s.GW.Query(t, reader, stats, map[string]any{"since": "2999-06-01T00:00:00Z"}).Decode(t, &st)
		if st.EscalationStats.Opened != 0 {
			t.Errorf("escalationStats since 2999 counted %d opened", st.EscalationStats.Opened)
		}
	})

	t.Run("addOnCallOverride", func(t *testing.T) {
		const add = `mutation($input: AddOnCallOverrideInput!) { addOnCallOverride(input: $input) { shift { person { subject } from to override } } }`
		input := func(from, to string) map[string]any {
			return map[string]any{"input": map[string]any{"region": "EMEA", "rotation": "primary", "person": stacktest.AMERManager, "from": from, "to": to}}
		}
		manager := s.Token(t, stacktest.EMEAManager)
		s.Unchanged(t, func() {
			refusedInstant(t, s.GW.Query(t, manager, add, input("2026-07-01T12:00:00Z", farFuture)), "to")
			refusedInstant(t, s.GW.Query(t, manager, add, input(farPast, "2026-07-01T12:00:00Z")), "from")
			refusedInstant(t, s.GW.Query(t, manager, add, input("2026-07-01T12:00:00Z", "3000-01-01T00:00:00Z")), "to")
		})
		// The same override ending inside the range is written, once.
		before := s.Counts(t)["rotation_overrides"]
		var out struct {
			AddOnCallOverride struct {
				Shift struct {
					Person   struct{ Subject string }
					From, To time.Time
					Override bool
				}
			}
		}
		s.GW.Query(t, manager, add, input("2026-07-01T12:00:00Z", "2999-06-01T00:00:00Z")).Decode(t, &out)
		if sh := out.AddOnCallOverride.Shift; sh.Person.Subject != stacktest.AMERManager || !sh.Override || sh.To.Year() != 2999 {
			t.Errorf("addOnCallOverride answered %+v", sh)
		}
		if after := s.Counts(t)["rotation_overrides"]; after != before+1 {
			t.Errorf("rotation_overrides: %d rows before, %d after, want one more", before, after)
		}
	})
}
