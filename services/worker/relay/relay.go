// Package relay delivers outbox rows: live state and events to Redis, and
// escalation starts and signals to Temporal. Every handler is idempotent, as
// the outbox requires.
package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"meridian.dev/platform/escalation"
	"meridian.dev/platform/incident"
	"meridian.dev/platform/live"
	"meridian.dev/platform/outbox"
	"meridian.dev/platform/protection"
	"meridian.dev/platform/site"
	"meridian.dev/platform/travel"
	wf "meridian.dev/workflows/escalation"
	incidentwf "meridian.dev/workflows/incident"
)

// Handlers wires the relay's topics.
type Handlers struct {
	Publisher *live.Publisher
	Temporal  client.Client
	TaskQueue string
	// TierWait is how long each tier of the default policy waits for an
	// acknowledgement before the next tier is paged.
	TierWait time.Duration
	// Trips re-scores trips when an advisory or an incident changes their
	// risk; Notifier tells travellers and the travel team when it rises.
	Trips    *travel.Store
	Notifier *travel.Notifier
	// Protection is the record the check-in watches and duress incidents
	// act on; ProtectionNotifier pages detail leaders of incidents nearby.
	Protection         *protection.Store
	ProtectionNotifier *protection.Notifier
}

// Register installs every handler on r. Each message's lane is the thing
// it is about: a site's changes stay in order, as do an escalation's start
// and its signals, while different sites and escalations go side by side
// (200 incidents opened at once start 200 workflows concurrently).
func (h *Handlers) Register(r *outbox.Relay) {
	r.HandleKeyed(outbox.TopicSiteStatusChanged, h.siteStatusChanged, laneOf("site", func(ev *laneEvent) string { return ev.Site.ID }))
	r.HandleKeyed(outbox.TopicEscalationOpened, h.escalationOpened, laneOf("escalation", func(ev *laneEvent) string { return ev.Escalation.ID }))
	r.HandleKeyed(outbox.TopicEscalationChanged, h.escalationChanged, laneOf("escalation", func(ev *laneEvent) string { return ev.Escalation.ID }))
	// A signal to an incident's child may then reach Temporal before the
	// parent has started it: it is dropped as NotFound and nothing is lost,
	// since the workflow reads Postgres before every page.
	r.HandleKeyed(outbox.TopicIncidentOpened, h.incidentOpened, laneOf("incident", func(ev *laneEvent) string { return ev.Incident.ID }))
	h.registerTravel(r)
	h.registerProtection(r)
}

// laneEvent decodes only the IDs lanes are keyed by.
type laneEvent struct {
	Site       struct{ ID string } `json:"site"`
	Escalation struct{ ID string } `json:"escalation"`
	Incident   struct{ ID string } `json:"incident"`
}

func laneOf(kind string, id func(*laneEvent) string) outbox.KeyFunc {
	return func(m outbox.Message) string {
		var ev laneEvent
		if err := json.Unmarshal(m.Payload, &ev); err != nil || id(&ev) == "" {
			return "" // the handler reports the bad payload
		}
		return kind + ":" + id(&ev)
	}
}

func (h *Handlers) siteStatusChanged(ctx context.Context, m outbox.Message) error {
	var ev site.StatusChangedEvent
	if err := json.Unmarshal(m.Payload, &ev); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	status, err := json.Marshal(ev.Site.Status)
	if err != nil {
		return err
	}
	// The outbox payload is the stream event (site.StatusChanges) as it is.
	return h.Publisher.PublishSiteStatus(ctx, ev.Site.ID.String(), site.StatusChanges.Region(ev), ev.Site.Status.Version, status, m.Payload)
}

func (h *Handlers) escalationOpened(ctx context.Context, m outbox.Message) error {
	var ev escalation.OpenedEvent
	if err := json.Unmarshal(m.Payload, &ev); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if err := h.start(ctx, ev.Escalation.WorkflowID, wf.WorkflowName, h.escalationInput(ev)); err != nil {
		return err
	}
	if aboutAPerson(ev.Escalation) {
		return nil
	}
	return h.reassessNearEscalation(ctx, ev.Escalation)
}

// aboutAPerson reports whether an escalation is about a person rather than
// a place (a duress, a missed check-in): no hazard to trips near it, so no
// re-assessment is even asked for, and a restricted one's ID never lands
// in a trip's history. Its incident's source is not on the escalation; the
// incident's kind is (TriggerPosture).
func aboutAPerson(e escalation.Escalation) bool {
	return e.Restricted() || (e.IncidentID != nil &&
		(e.TriggerPosture == protection.IncidentDuress || e.TriggerPosture == protection.IncidentMissedCheckIn))
}

func (h *Handlers) incidentOpened(ctx context.Context, m outbox.Message) error {
	var ev incident.OpenedEvent
	if err := json.Unmarshal(m.Payload, &ev); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	in := incidentwf.Input{IncidentID: ev.Incident.ID.String(), Title: ev.Incident.Title}
	for _, e := range ev.Escalations {
		in.Escalations = append(in.Escalations, h.escalationInput(e))
	}
	if err := h.start(ctx, ev.Incident.WorkflowID, incidentwf.WorkflowName, in); err != nil {
		return err
	}
	if ev.Incident.Restricted() || ev.Incident.SourceType == protection.SourceType {
		// A person's incident is no hazard to the trips or the details
		// near it (see aboutAPerson), and a restricted one must page
		// nobody beyond its tiers; located_incidents leaves it out too.
		return nil
	}
	if err := h.reassessNear(ctx, ev.Incident); err != nil {
		return err
	}
	return h.protectionIncidentOpened(ctx, ev.Incident)
}

// escalationInput freezes an opened escalation into its workflow's input.
func (h *Handlers) escalationInput(ev escalation.OpenedEvent) wf.Input {
	e := ev.Escalation
	in := wf.Input{
		EscalationID: e.ID.String(), SiteCode: ev.SiteCode, SiteName: ev.SiteName,
		Region: e.Region, Level: e.TriggerLevel, Posture: e.TriggerPosture, Note: ev.Note,
		Policy: wf.DefaultPolicy(e.Region, h.TierWait), RestrictedTo: e.RestrictedTo,
	}
	if e.SiteID != uuid.Nil {
		in.SiteID = e.SiteID.String()
	}
	if ev.Policy != nil {
		in.Policy = *ev.Policy // frozen when the escalation opened
	}
	return in
}

// start starts a workflow once: the ID is deterministic, so a replayed row
// finds it already there and must not start a second one, even after it
// finished. The SDK then returns the existing run, not an error (the relay
// test replays rows to prove it).
func (h *Handlers) start(ctx context.Context, id, name string, in any) error {
	_, err := h.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    id,
		TaskQueue:             h.TaskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	}, name, in)
	if err != nil {
		return fmt.Errorf("start %s %s: %w", name, id, err)
	}
	return nil
}

func (h *Handlers) escalationChanged(ctx context.Context, m outbox.Message) error {
	var ev escalation.ChangedEvent
	if err := json.Unmarshal(m.Payload, &ev); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if ev.Signal != "" {
		err := h.Temporal.SignalWorkflow(ctx, ev.Escalation.WorkflowID, "", ev.Signal, wf.Decision{Actor: ev.Actor, Note: ev.Note})
		// NotFound: the workflow has finished, or has not started yet. Either
		// way nothing is lost: Postgres holds the decision and the workflow
		// reads it before every page.
		var notFound *serviceerror.NotFound
		if err != nil && !errors.As(err, &notFound) {
			return fmt.Errorf("signal %s to %s: %w", ev.Signal, ev.Escalation.WorkflowID, err)
		}
	}
	if ev.Escalation.Status == escalation.StatusResolved && !aboutAPerson(ev.Escalation) {
		// What was happening there is over: trips near it lose the reason.
		if err := h.reassessNearEscalation(ctx, ev.Escalation); err != nil {
			return err
		}
	}
	if ev.Escalation.Restricted() {
		// escalationUpdated is region-wide: a duress reaches only the
		// people its tiers page, and those who may read it fetch it.
		return nil
	}
	// Subscribers get the escalation; the signal was for the workflow.
	return escalation.Updates.Publish(ctx, h.Publisher, escalation.ChangedEvent{Escalation: ev.Escalation})
}
