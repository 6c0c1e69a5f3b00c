package server_test

import (
	"context"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"meridian.dev/gateway/stacktest"
	"meridian.dev/platform/notify/sink"
	"meridian.dev/platform/testenv"
	wf "meridian.dev/workflows/escalation"
)

const handOffMutation = `mutation($id: ID!, $to: String!) {
  handOffEscalation(input: {escalationId: $id, toRegion: $to, note: "night shift"}) { escalation { status region { code } policy { name } } }
}`

// waitPaged waits until the escalation's workflow has taken in that it paged
// subject (the receiver may see a page a moment before the activity reports).
func waitPaged(t *testing.T, s *stacktest.Stack, escalationGlobalID, subject string) {
	t.Helper()
	tc, err := client.Dial(client.Options{HostPort: testenv.TemporalAddress(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	raw, err := base64.RawURLEncoding.DecodeString(escalationGlobalID)
	if err != nil || !strings.HasPrefix(string(raw), "Escalation:") {
		t.Fatalf("%q is not an escalation ID", escalationGlobalID)
	}
	workflowID := "escalation-" + strings.TrimPrefix(string(raw), "Escalation:")
	for {
		var st wf.State
		if v, err := tc.QueryWorkflow(ctx, workflowID, "", wf.QueryState); err == nil && v.Get(&st) == nil && slices.Contains(st.Paged, subject) {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("%s never recorded paging %s", workflowID, subject)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitDelivered waits until the escalation's timeline holds n DELIVERED
// steps: pages are delivered beside the climb, and their records must not
// land in the middle of a check that nothing was written.
func waitDelivered(t *testing.T, s *stacktest.Stack, escalationGlobalID string, n int) {
	t.Helper()
	deadline := time.Now().Add(stacktest.WaitLimit)
	for {
		var got int
		err := s.Pool.QueryRow(context.Background(), `SELECT count(*) FROM escalation_timeline
			WHERE escalation_id = $1 AND kind = 'DELIVERED'`, idOf(t, escalationGlobalID)).Scan(&got)
		if err == nil && got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d DELIVERED steps after %s (%v), want %d", got, stacktest.WaitLimit, err, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHandOffAtAShiftChange: EMEA hands its escalation to APAC; APAC's
// managers are paged under APAC's policy; EMEA still reads it and sees who
// took it.
func TestHandOffAtAShiftChange(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{})
	// Long waits, so nothing climbs in the background while refusals are
	// checked for writing nothing.
	for _, region := range []string{"EMEA", "APAC"} {
		input := map[string]any{"region": region, "severity": "SEV1", "name": region + " slow", "tiers": []map[string]any{
			{"name": region + " managers", "waitMinutes": 30, "targets": []map[string]any{{"kind": "ROLE", "role": "regional_manager", "region": region}}},
		}}
		s.GW.Query(t, s.Token(t, "gl-ada"), setPolicyMutation, map[string]any{"input": input}).Decode(t, &struct{}{})
	}
	opened := s.SetStatus(t, s.GW, "rm-emea-emil", "PAR-OFC", "CRITICAL", "EVACUATED", "fire")
	id := opened.Escalation.ID
	s.WaitPage(t, "EMEA tier-1", func(p sink.Received) bool { return p.Page.Site == "PAR-OFC" && p.Page.Tier == 1 })
	waitPaged(t, s, id, "rm-emea-emil") // and its PAGED step is recorded
	waitDelivered(t, s, id, 1)          // deliveries record themselves a moment after the page arrives

	// Only the owning region's managers (or leads) may hand it off, and only
	// to another known region; nothing changes when refused.
	s.Unchanged(t, func() {
		s.GW.Query(t, s.Token(t, "rm-apac-aiko"), handOffMutation, map[string]any{"id": id, "to": "APAC"}).Refused(t, "FORBIDDEN")
		s.GW.Query(t, s.Token(t, "rm-emea-emil"), handOffMutation, map[string]any{"id": id, "to": "MARS"}).RefusedField(t, "toRegion")
		s.GW.Query(t, s.Token(t, "rm-emea-emil"), handOffMutation, map[string]any{"id": id, "to": "EMEA"}).Refused(t, "BAD_USER_INPUT")
	})

	var handed struct {
		HandOffEscalation struct {
			Escalation struct {
				Status string
				Region struct{ Code string }
			}
		}
	}
	s.GW.Query(t, s.Token(t, "rm-emea-emil"), handOffMutation, map[string]any{"id": id, "to": "APAC"}).Decode(t, &handed)
	if e := handed.HandOffEscalation.Escalation; e.Status != "OPEN" || e.Region.Code != "APAC" {
		t.Fatalf("handOffEscalation answered %+v, want OPEN in APAC", e)
	}
	page := s.WaitPage(t, "APAC tier-1", func(p sink.Received) bool { return p.Page.Site == "PAR-OFC" && p.Page.Region == "APAC" })
	if got := recipients(page); !slices.Equal(got, []string{"rm-apac-aiko"}) || page.Page.Tier != 1 {
		t.Fatalf("after the hand-off tier %d paged %v, want APAC's manager at tier 1", page.Page.Tier, got)
	}

	waitPaged(t, s, id, "rm-apac-aiko")
	s.GW.Query(t, s.Token(t, "rm-apac-aiko"), decideMutation, map[string]any{"id": id, "disposition": "IMPACT"}).Decode(t, &struct{}{})

	// EMEA, no longer the owner, still reads it all.
	var view struct {
		Escalation struct {
			Status         string
			AcknowledgedBy *string
			Region         struct{ Code string }
			Timeline       []struct{ Kind, Actor, Note string }
		}
	}
	s.GW.Query(t, s.Token(t, "rm-emea-emil"), `query($id: ID!) { escalation(id: $id) { status acknowledgedBy region { code } timeline { kind actor note } } }`,
		map[string]any{"id": id}).Decode(t, &view)
	e := view.Escalation
	if e.Status != "ACKNOWLEDGED" || e.AcknowledgedBy == nil || *e.AcknowledgedBy != "rm-apac-aiko" || e.Region.Code != "APAC" {
		t.Fatalf("as EMEA sees it: %+v", e)
	}
	var handOff string
	for _, step := range e.Timeline {
		if step.Kind == "HANDED_OFF" {
			handOff = step.Actor + ": " + step.Note
		}
	}
	if !strings.HasPrefix(handOff, "rm-emea-emil: from EMEA to APAC") {
		t.Fatalf("timeline hand-off step = %q", handOff)
	}
}
