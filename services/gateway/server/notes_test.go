package server_test

import (
	"strings"
	"testing"

	"meridian.dev/gateway/stacktest"
)

const addNoteMutation = `mutation($id: ID!, $note: String!, $cmid: String) {
  addEscalationNote(input: {escalationId: $id, note: $note, clientMutationId: $cmid}) {
    clientMutationId escalation { status timeline { kind actor note } }
  }
}`

// TestNotesOnTheTimeline: whoever may acknowledge an escalation adds notes to
// its timeline; a retried request adds its note once; empty, overlong and
// unauthorised notes are refused and change nothing.
func TestNotesOnTheTimeline(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{NoWorker: true})
	opened := s.SetStatus(t, s.GW, "rm-emea-emil", "AMS-OFC", "CRITICAL", "OPEN", "power cut")
	id := opened.Escalation.ID

	type payload struct {
		AddEscalationNote struct {
			ClientMutationID *string
			Escalation       struct {
				Status   string
				Timeline []struct{ Kind, Actor, Note string }
			}
		}
	}
	notes := func(p payload) []string {
		var out []string
		for _, e := range p.AddEscalationNote.Escalation.Timeline {
			if e.Kind == "NOTE" {
				out = append(out, e.Actor+": "+e.Note)
			}
		}
		return out
	}
	vars := map[string]any{"id": id, "note": "  generator started, lifts out  ", "cmid": "note-1"}
	var p payload
	for range 2 { // the second is a client retry
		s.GW.Query(t, s.Token(t, "rm-emea-emil"), addNoteMutation, vars).Decode(t, &p)
	}
	if got := notes(p); len(got) != 1 || got[0] != "rm-emea-emil: generator started, lifts out" {
		t.Fatalf("notes after a retried request = %q, want the one trimmed note", got)
	}
	if p.AddEscalationNote.ClientMutationID == nil || *p.AddEscalationNote.ClientMutationID != "note-1" {
		t.Errorf("clientMutationId = %v", p.AddEscalationNote.ClientMutationID)
	}
	s.GW.Query(t, s.Token(t, "gl-ada"), addNoteMutation, map[string]any{"id": id, "note": "APAC desk informed"}).Decode(t, &p)
	if got := notes(p); len(got) != 2 || got[1] != "gl-ada: APAC desk informed" {
		t.Fatalf("notes = %q", got)
	}

	s.Unchanged(t, func() {
		s.GW.Query(t, s.Token(t, "rm-emea-emil"), addNoteMutation, map[string]any{"id": id, "note": "   "}).RefusedField(t, "note")
		s.GW.Query(t, s.Token(t, "rm-emea-emil"), addNoteMutation, map[string]any{"id": id, "note": strings.Repeat("x", 2001)}).RefusedField(t, "note")
		s.GW.Query(t, s.Token(t, "tt-theo"), addNoteMutation, map[string]any{"id": id, "note": "hello"}).Refused(t, "FORBIDDEN")
		s.GW.Query(t, s.Token(t, "rm-apac-aiko"), addNoteMutation, map[string]any{"id": id, "note": "hello"}).Refused(t, "FORBIDDEN")
		s.GW.Query(t, "", addNoteMutation, map[string]any{"id": id, "note": "hello"}).Refused(t, "UNAUTHENTICATED")
	})
}
