package stacktest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// The GraphQL documents and views that tests of every domain use: a site's
// status is what escalations, and the screens following them, turn on.

// UpdateStatusMutation changes a site's status; its variables are
// StatusInput's, its data an UpdatePayload under "updateSiteStatus".
const UpdateStatusMutation = `mutation($input: UpdateSiteStatusInput!) {
  updateSiteStatus(input: $input) {
    clientMutationId
    site { id code status { level posture note version updatedAt updatedBy } }
    escalation { id status tier acknowledgedBy site { code } region { code } }
  }
}`

// StatusView is a site's status as the API shows it.
type StatusView struct {
	Level     string
	Posture   string
	Note      string
	Version   int
	UpdatedAt string
	UpdatedBy string
}

// EscalationView is an escalation as UpdateStatusMutation and
// EscalationSubscription select it.
type EscalationView struct {
	ID             string
	Status         string
	Tier           int
	AcknowledgedBy *string
	Site           struct {
		Code   string
		Status struct {
			Posture string
			Version int
		}
	}
	Region struct{ Code string }
}

// UpdatePayload is updateSiteStatus's answer; Escalation is set when the
// change opened (or joined) one.
type UpdatePayload struct {
	ClientMutationID *string
	Site             struct {
		ID     string
		Code   string
		Status StatusView
	}
	Escalation *EscalationView
}

// StatusInput is UpdateStatusMutation's variables; expected is the
// expectedVersion (see Stack.Version).
func StatusInput(siteID, level, posture, note string, expected int) map[string]any {
	return map[string]any{"input": map[string]any{
		"siteId": siteID, "level": level, "posture": posture, "note": note, "expectedVersion": expected,
	}}
}

// SetStatus changes a site's status through g as subject, from the version
// Postgres holds, and requires success.
func (s *Stack) SetStatus(t testing.TB, g *Gateway, subject, code, level, posture, note string) UpdatePayload {
	t.Helper()
	var out struct{ UpdateSiteStatus UpdatePayload }
	g.Query(t, s.Token(t, subject), UpdateStatusMutation,
		StatusInput(s.Site(t, code).ID, level, posture, note, s.Version(t, code))).Decode(t, &out)
	p := out.UpdateSiteStatus
	if p.Site.Code != code || p.Site.Status.Level != level || p.Site.Status.Posture != posture {
		t.Fatalf("updateSiteStatus %s → %s/%s answered %+v", code, level, posture, p.Site)
	}
	return p
}

// StatusSubscription follows status changes, of one region or all; with
// $after (an event's cursor) it first replays what followed that event.
const StatusSubscription = `subscription($region: String, $after: String) {
  siteStatusChanged(region: $region, after: $after) {
    cursor
    site { id code region { code } status { level version } }
    previous { level posture note version updatedBy }
    current { level posture note version updatedBy }
  }
}`

// EscalationSubscription follows escalations' steps, of one region or all,
// with $after as StatusSubscription's.
const EscalationSubscription = `subscription($region: String, $after: String) {
  escalationUpdated(region: $region, after: $after) {
    cursor
    escalation { id status tier acknowledgedBy site { code status { posture version } } region { code } }
  }
}`

// StatusEvent is one siteStatusChanged event.
type StatusEvent struct {
	Cursor string
	Site   struct {
		ID     string
		Code   string
		Region struct{ Code string }
		Status struct {
			Level   string
			Version int
		}
	}
	Previous StatusView
	Current  StatusView
}

// EscalationEvent is one escalationUpdated event.
type EscalationEvent struct {
	Cursor     string
	Escalation EscalationView
}

// NextStatusEvent is Next decoded, for a StatusSubscription.
func (s *Subscription) NextStatusEvent(t testing.TB) StatusEvent {
	t.Helper()
	var out struct{ SiteStatusChanged StatusEvent }
	if err := json.Unmarshal(s.Next(t), &out); err != nil {
		t.Fatalf("decode siteStatusChanged: %v", err)
	}
	return out.SiteStatusChanged
}

// NextEscalationEvent is Next decoded, for an EscalationSubscription.
func (s *Subscription) NextEscalationEvent(t testing.TB) EscalationEvent {
	t.Helper()
	var out struct{ EscalationUpdated EscalationEvent }
	if err := json.Unmarshal(s.Next(t), &out); err != nil {
		t.Fatalf("decode escalationUpdated: %v", err)
	}
	return out.EscalationUpdated
}

// PrimedSubscription subscribes to siteStatusChanged of region ("" for all)
// and returns once the subscription is live. graphql-transport-ws does not
// acknowledge a subscribe, so it changes the primer site's status, as
// subject, until an event arrives, then waits for the event of its last
// change. The cursor returned is that event's: the gateway's hub has
// delivered it, so a subscription made with `after` set to it misses
// nothing that follows. The primer's events may still trail in on the
// subscription returned; choose a primer the test does not otherwise
// watch.
func (s *Stack) PrimedSubscription(t testing.TB, c *WSClient, id, region, primer, subject string) (*Subscription, string) {
	t.Helper()
	sub := c.Subscribe(t, id, StatusSubscription, map[string]any{"region": region})
	levels := []string{"ELEVATED", "NORMAL"}
	last := 0
	for i := 0; ; i++ {
		if i == 20 {
			t.Fatalf("subscription %s received no event after %d status changes of %s", id, i, primer)
		}
		p := s.SetStatus(t, s.GW, subject, primer, levels[i%2], "OPEN", fmt.Sprintf("primer %d", i))
		last = p.Site.Status.Version
		s.RequireWorkerRunning(t)
		data, ok := sub.Receive(t, 2*time.Second)
		if ok {
			var out struct{ SiteStatusChanged StatusEvent }
			if err := json.Unmarshal(data, &out); err != nil {
				t.Fatalf("decode siteStatusChanged: %v", err)
			}
			ev := out.SiteStatusChanged
			for {
				if ev.Site.Code != primer {
					t.Fatalf("subscription %s: want an event of the primer %s, got one of %s", id, primer, ev.Site.Code)
				}
				if ev.Current.Version >= last {
					return sub, ev.Cursor
				}
				ev = sub.NextStatusEvent(t)
			}
		}
	}
}
