package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"meridian.dev/gateway/stacktest"
	"meridian.dev/platform/auth"
	"meridian.dev/platform/escalation"
	"meridian.dev/platform/incident"
)

// The detail leader of the demo data, to whom a duress is restricted.
const detailLeader = "pa-liam"

func globalID(kind string, id uuid.UUID) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + id.String()))
}

// raiseDuress raises a restricted SEV1 incident in EMEA the way protection
// does: under its own policy (the leader, then the global leads), visible
// to the leader and the global leads only.
func raiseDuress(t *testing.T, s *stacktest.Stack) (incident.Incident, escalation.Escalation) {
	t.Helper()
	inc, escs, err := incident.NewStore(s.Pool).Raise(context.Background(), "meridian", incident.New{
		Title: "Duress: detail D-1", Severity: escalation.SEV1, Kind: "DURESS", SourceType: "PROTECTION", SourceRef: "duress:test",
		Regions: []string{"EMEA"}, Location: &incident.Location{Latitude: 51.5, Longitude: -0.12}, RestrictedTo: []string{detailLeader},
		Policy: &escalation.Policy{Name: "duress", Severity: escalation.SEV1, Tiers: []escalation.Tier{
			{Name: "leader", Wait: stacktest.TierWait, Targets: []escalation.Target{{Kind: escalation.TargetUser, Subject: detailLeader}}},
			{Name: "global leads", Wait: stacktest.TierWait, Targets: []escalation.Target{{Kind: escalation.TargetRole, Role: auth.RoleGlobalLead}}},
		}},
	}, func([]string) error { return nil })
	if err != nil {
		t.Fatalf("raise the duress: %v", err)
	}
	if len(escs) != 1 || !escs[0].Restricted() {
		t.Fatalf("the duress opened %+v, want one restricted escalation", escs)
	}
	return inc, escs[0]
}

// waitRelayed waits until the relay has handled every outbox row written so
// far: what the stream was going to get of them, it has.
func waitRelayed(t *testing.T, s *stacktest.Stack) {
	t.Helper()
	ctx := context.Background()
	var due int64
	if err := s.Pool.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM outbox`).Scan(&due); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(stacktest.WaitLimit)
	for {
		var pending int
		if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE processed_at IS NULL AND id <= $1`, due).Scan(&pending); err != nil {
			t.Fatal(err)
		}
		if pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d outbox rows still pending", pending)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRestrictedIncidentIsInvisibleAndUnstreamed: a duress raised in EMEA
// exists for the global lead and the detail's leader only. The EMEA
// manager, the admin and the auditor get null, lists without it and no
// audit rows; neither the EMEA manager's nor the global lead's
// escalationUpdated subscription ever receives it, while an ordinary
// incident's escalation raised after it arrives first. Acting on it is its
// responders' alone, and nobody hands it off.
func TestRestrictedIncidentIsInvisibleAndUnstreamed(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{})

	emeaWS := stacktest.DialWS(t, s.GW, s.Token(t, stacktest.EMEAManager))
	_, c0 := s.PrimedSubscription(t, emeaWS, "board", "EMEA", "AMS-OFC", stacktest.EMEAManager)
	leadWS := stacktest.DialWS(t, s.GW, s.Token(t, stacktest.GlobalLead))
	subs := map[string]*stacktest.Subscription{
		"EMEA manager": emeaWS.Subscribe(t, "escalations", stacktest.EscalationSubscription, map[string]any{"region": "EMEA", "after": c0}),
		"global lead":  leadWS.Subscribe(t, "escalations", stacktest.EscalationSubscription, map[string]any{"after": c0}),
	}

	// The duress first: its workflow pages the leader, and the relay has
	// handled everything it wrote before the ordinary incident is raised.
	inc, duress := raiseDuress(t, s)
	incID, escID := globalID("Incident", inc.ID), globalID("Escalation", duress.ID)
	waitPaged(t, s, escID, detailLeader)
	waitRelayed(t, s)
	var raised struct {
		RaiseIncident struct{ Incident incidentView }
	}
	s.GW.Query(t, s.Token(t, stacktest.GlobalLead), raiseMutation, map[string]any{"input": map[string]any{
		"title": "Power cut in the London office", "severity": "SEV2", "kind": "OUTAGE", "regions": []string{"EMEA"}}}).Decode(t, &raised)
	ordinary := raised.RaiseIncident.Incident.Escalations[0].ID
	for who, sub := range subs {
		if ev := sub.NextEscalationEvent(t); ev.Escalation.ID != ordinary {
			t.Fatalf("%s: the first escalation event is of %s, want the ordinary incident's %s (the duress is %s)", who, ev.Escalation.ID, ordinary, escID)
		}
	}

	// The leader, paged, acknowledges through the workflow; the duress
	// goes on changing (the acknowledgement, deliveries) while nobody's
	// stream shows it.
	var acked struct{ AcknowledgeEscalation struct{ Escalation decided } }
	s.GW.Query(t, s.Token(t, detailLeader), decideMutation, map[string]any{"id": escID}).Decode(t, &acked)
	if a := acked.AcknowledgeEscalation.Escalation; a.Status != "ACKNOWLEDGED" || a.AcknowledgedBy == nil || *a.AcknowledgedBy != detailLeader {
		t.Fatalf("the leader's acknowledgement answered %+v", a)
	}
	waitRelayed(t, s)
	for who, sub := range subs {
		for {
			data, ok := sub.Receive(t, time.Second)
			if !ok {
				break
			}
			var ev struct{ EscalationUpdated stacktest.EscalationEvent }
			if err := json.Unmarshal(data, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.EscalationUpdated.Escalation.ID == escID {
				t.Fatalf("%s's escalationUpdated delivered the duress: %s", who, data)
			}
		}
	}

	uncleared := []string{stacktest.EMEAManager, stacktest.Admin, stacktest.Auditor, stacktest.ProtectionAgent}
	cleared := []string{stacktest.GlobalLead, detailLeader}
	t.Run("reads", func(t *testing.T) {
		for _, who := range uncleared {
			token := s.Token(t, who)
			s.GW.Query(t, token, `query($id: ID!) { escalation(id: $id) { id } }`, map[string]any{"id": escID}).Refused(t, "NOT_FOUND")
			s.GW.Query(t, token, `query($id: ID!) { incident(id: $id) { id } }`, map[string]any{"id": incID}).Refused(t, "NOT_FOUND")
			for _, id := range []string{escID, incID} {
				var node struct{ Node *struct{ ID string } }
				s.GW.Query(t, token, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id}).Decode(t, &node)
				if node.Node != nil {
					t.Errorf("%s: node(%s) = %+v, want null", who, id, node.Node)
				}
			}
			if ids := listedEscalations(t, s, token); slices.Contains(ids, escID) || !slices.Contains(ids, ordinary) {
				t.Errorf("%s lists %v: want the ordinary %s and not the duress %s", who, ids, ordinary, escID)
			}
		}
		for _, who := range cleared {
			token := s.Token(t, who)
			var view struct{ Incident incidentView }
			s.GW.Query(t, token, incidentQuery, map[string]any{"id": incID}).Decode(t, &view)
			if len(view.Incident.Escalations) != 1 || view.Incident.Escalations[0].ID != escID || view.Incident.Escalations[0].Incident == nil {
				t.Errorf("%s sees the incident as %+v", who, view.Incident)
			}
			var node struct{ Node *struct{ ID string } }
			s.GW.Query(t, token, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": escID}).Decode(t, &node)
			if node.Node == nil || node.Node.ID != escID {
				t.Errorf("%s: node(escalation) = %+v", who, node.Node)
			}
			if ids := listedEscalations(t, s, token); !slices.Contains(ids, escID) {
				t.Errorf("%s lists %v without the duress", who, ids)
			}
		}
	})

	t.Run("audit", func(t *testing.T) {
		for _, who := range []string{stacktest.Auditor, stacktest.Admin, stacktest.GlobalLead} {
			var objectRows int
			for _, id := range []string{incID, escID} {
				objectRows += len(readAuditPage(t, s, s.Token(t, who), map[string]any{"objectId": id}).Entries)
			}
			all := readAuditPage(t, s, s.Token(t, who), map[string]any{"first": 200})
			var mentions int
			for _, e := range all.Entries {
				if e.ObjectID == inc.ID.String() || e.ObjectID == duress.ID.String() {
					mentions++
				}
			}
			if who == stacktest.GlobalLead {
				// incident.raise, escalation.open, escalation.acknowledge
				if objectRows < 3 || mentions < 3 {
					t.Errorf("the global lead reads %d rows of the duress's trail (%d in the whole log), want its raising, opening and acknowledgement", objectRows, mentions)
				}
				continue
			}
			if objectRows != 0 || mentions != 0 {
				t.Errorf("%s reads %d audit rows of the duress (%d in the whole log), want none", who, objectRows, mentions)
			}
		}
	})

	t.Run("stats", func(t *testing.T) {
		var stats struct{ EscalationStats struct{ Opened int } }
		s.GW.Query(t, s.Token(t, stacktest.GlobalLead), `{ escalationStats(region: "EMEA") { opened } }`, nil).Decode(t, &stats)
		var ordinaryCount int
		if err := s.Pool.QueryRow(context.Background(), `SELECT count(*) FROM escalations WHERE region = 'EMEA' AND restricted_to IS NULL`).Scan(&ordinaryCount); err != nil {
			t.Fatal(err)
		}
		if stats.EscalationStats.Opened != ordinaryCount {
			t.Errorf("escalationStats(EMEA).opened = %d for the global lead, want the %d unrestricted escalations", stats.EscalationStats.Opened, ordinaryCount)
		}
	})

	t.Run("acts", func(t *testing.T) {
		ctx := context.Background()
		var before int
		if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE object_id = $1`, duress.ID.String()).Scan(&before); err != nil {
			t.Fatal(err)
		}
		for _, who := range []string{stacktest.EMEAManager, stacktest.Admin} {
			s.GW.Query(t, s.Token(t, who), resolveMutation, map[string]any{"id": escID}).Refused(t, "NOT_FOUND")
			s.GW.Query(t, s.Token(t, who), addNoteMutation, map[string]any{"id": escID, "note": "looking"}).Refused(t, "NOT_FOUND")
			s.GW.Query(t, s.Token(t, who), escalateNowMutation, map[string]any{"id": escID}).Refused(t, "NOT_FOUND")
		}
		for _, who := range cleared {
			e := s.GW.Query(t, s.Token(t, who), handOffMutation, map[string]any{"id": escID, "to": "APAC"}).RefusedField(t, "escalationId")
			if e.Message == "" {
				t.Errorf("%s: hand-off refused without a reason", who)
			}
		}
		var after int
		if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE object_id = $1`, duress.ID.String()).Scan(&after); err != nil {
			t.Fatal(err)
		}
		if after != before {
			t.Fatalf("refusals wrote %d audit rows", after-before)
		}
		var status, region string
		if err := s.Pool.QueryRow(ctx, `SELECT status, region FROM escalations WHERE id = $1`, duress.ID).Scan(&status, &region); err != nil || status != "ACKNOWLEDGED" || region != "EMEA" {
			t.Fatalf("after the refusals the duress is %s in %s (%v)", status, region, err)
		}
		var resolved struct {
			ResolveEscalation struct{ Escalation struct{ Status string } }
		}
		s.GW.Query(t, s.Token(t, stacktest.GlobalLead), resolveMutation, map[string]any{"id": escID}).Decode(t, &resolved)
		if resolved.ResolveEscalation.Escalation.Status != "RESOLVED" {
			t.Fatalf("the global lead's resolution answered %+v", resolved)
		}
	})
}

// listedEscalations pages through escalations(region: EMEA) as token's
// caller, two at a time.
func listedEscalations(t *testing.T, s *stacktest.Stack, token string) []string {
	t.Helper()
	var ids []string
	var after *string
	for {
		var out struct {
			Escalations struct {
				Edges    []struct{ Node struct{ ID string } }
				PageInfo struct {
					HasNextPage bool
					EndCursor   *string
				}
			}
		}
		s.GW.Query(t, token, `query($after: String) { escalations(region: "EMEA", first: 2, after: $after) {
			edges { node { id } } pageInfo { hasNextPage endCursor } } }`, map[string]any{"after": after}).Decode(t, &out)
		for _, e := range out.Escalations.Edges {
			ids = append(ids, e.Node.ID)
		}
		if !out.Escalations.PageInfo.HasNextPage {
			return ids
		}
		if len(out.Escalations.Edges) != 2 {
			t.Fatalf("a page of %d escalations with more to come", len(out.Escalations.Edges))
		}
		after = out.Escalations.PageInfo.EndCursor
	}
}
