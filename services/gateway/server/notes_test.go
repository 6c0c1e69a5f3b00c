package server_test

import (
	"strings"
	"testing"
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
	s := newStack(t, stackOptions{NoWorker: true})
	opened := s.setStatus(t, s.GW, "rm-emea-emil", "AMS-OFC", "CRITICAL", "OPEN", "power cut")
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
		s.GW.query(t, s.token(t, "rm-emea-emil"), addNoteMutation, vars).decode(t, &p)
	}
	if got := notes(p); len(got) != 1 || got[0] != "rm-emea-emil: generator started, lifts out" {
		t.Fatalf("notes after a retried request = %q, want the one trimmed note", got)
	}
	if p.AddEscalationNote.ClientMutationID == nil || *p.AddEscalationNote.ClientMutationID != "note-1" {
		t.Errorf("clientMutationId = %v", p.AddEscalationNote.ClientMutationID)
	}
	s.GW.query(t, s.token(t, "gl-ada"), addNoteMutation, map[string]any{"id": id, "note": "APAC desk informed"}).decode(t, &p)
	if got := notes(p); len(got) != 2 || got[1] != "gl-ada: APAC desk informed" {
		t.Fatalf("notes = %q", got)
	}

	s.unchanged(t, func() {
		s.GW.query(t, s.token(t, "rm-emea-emil"), addNoteMutation, map[string]any{"id": id, "note": "   "}).refusedField(t, "note")
		s.GW.query(t, s.token(t, "rm-emea-emil"), addNoteMutation, map[string]any{"id": id, "note": strings.Repeat("x", 2001)}).refusedField(t, "note")
		s.GW.query(t, s.token(t, "tt-theo"), addNoteMutation, map[string]any{"id": id, "note": "hello"}).refused(t, "FORBIDDEN")
		s.GW.query(t, s.token(t, "rm-apac-aiko"), addNoteMutation, map[string]any{"id": id, "note": "hello"}).refused(t, "FORBIDDEN")
		s.GW.query(t, "", addNoteMutation, map[string]any{"id": id, "note": "hello"}).refused(t, "UNAUTHENTICATED")
	})
}
