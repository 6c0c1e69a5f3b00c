package server_test

import (
	"strings"
	"testing"

	"meridian.dev/gateway/stacktest"
)

// TestTextPostgresCannotStore: a NUL byte, which PostgreSQL's text cannot
// hold, is the caller's mistake (BAD_USER_INPUT naming the field), whether
// it comes in a variable or as a string literal of the document, and
// nothing is written; it used to reach PostgreSQL and come back INTERNAL.
// Ordinary text, accents and symbols included, is still stored.
func TestTextPostgresCannotStore(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{NoWorker: true})
	manager := s.Token(t, stacktest.EMEAManager)
	opened := s.SetStatus(t, s.GW, stacktest.EMEAManager, "AMS-OFC", "CRITICAL", "OPEN", "power cut")
	if opened.Escalation == nil {
		t.Fatal("CRITICAL opened no escalation")
	}
	escalationID := opened.Escalation.ID

	t.Run("a NUL in a variable", func(t *testing.T) {
		s.Unchanged(t, func() {
			r := s.GW.Query(t, manager, stacktest.UpdateStatusMutation,
				stacktest.StatusInput(s.Site(t, "LON-HQ").ID, "HIGH", "RESTRICTED", "fire\u0000alarm", s.Version(t, "LON-HQ")))
			r.RefusedField(t, "note")
			r = s.GW.Query(t, manager, addNoteMutation, map[string]any{"id": escalationID, "note": "\u0000"})
			r.RefusedField(t, "note")
		})
	})

	t.Run("a NUL written in the document", func(t *testing.T) {
		s.Unchanged(t, func() {
			doc := `mutation($id: ID!) { addEscalationNote(input: {escalationId: $id, note: "fire\u0000alarm"}) { escalation { id } } }`
			if !strings.Contains(doc, `\u0000`) {
				t.Fatal("the document must carry the escape, not the byte")
			}
			s.GW.Query(t, manager, doc, map[string]any{"id": escalationID}).RefusedField(t, "note")
			block := "mutation($id: ID!) { addEscalationNote(input: {escalationId: $id, note: \"\"\"fire\x00alarm\"\"\"}) { escalation { id } } }"
			r := s.GW.Query(t, manager, block, map[string]any{"id": escalationID})
			r.Refused(t, "BAD_USER_INPUT")
		})
	})

	t.Run("ordinary text is stored", func(t *testing.T) {
		const note = "alarme incendie, étage 3 ✓ — 火災報知器"
		p := s.SetStatus(t, s.GW, stacktest.EMEAManager, "LON-HQ", "HIGH", "RESTRICTED", note)
		if p.Site.Status.Note != note {
			t.Errorf("note stored as %q, want %q", p.Site.Status.Note, note)
		}
		var out struct {
			AddEscalationNote struct {
				Escalation struct{ Timeline []struct{ Kind, Note string } }
			}
		}
		s.GW.Query(t, manager, addNoteMutation, map[string]any{"id": escalationID, "note": note}).Decode(t, &out)
		tl := out.AddEscalationNote.Escalation.Timeline
		if len(tl) == 0 || tl[len(tl)-1].Kind != "NOTE" || tl[len(tl)-1].Note != note {
			t.Errorf("timeline ends %+v, want the note %q", tl, note)
		}
	})
}
