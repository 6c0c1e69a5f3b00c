package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"go.temporal.io/api/serviceerror"

	"meridian.dev/platform/advisory"
	"meridian.dev/platform/escalation"
	"meridian.dev/platform/incident"
	"meridian.dev/platform/outbox"
	"meridian.dev/platform/travel"
	travelwf "meridian.dev/workflows/travel"
)

// registerTravel installs the travel topics. Advisory changes are ordered
// per country and a trip's events per trip; re-assessments of different
// countries run side by side.
func (h *Handlers) registerTravel(r *outbox.Relay) {
	r.HandleKeyed(outbox.TopicAdvisoryChanged, h.advisoryChanged, func(m outbox.Message) string {
		var c advisory.Change
		if json.Unmarshal(m.Payload, &c) != nil || c.Country == "" {
			return ""
		}
		return "country:" + c.Country
	})
	r.HandleKeyed(outbox.TopicAdvisoryAdviceChanged, h.adviceChanged, func(m outbox.Message) string {
		var c advisory.AdviceChanged
		if json.Unmarshal(m.Payload, &c) != nil || c.Country == "" {
			return ""
		}
		return "country:" + c.Country
	})
	r.HandleKeyed(outbox.TopicTripRiskChanged, h.tripRiskChanged, tripLane)
	r.HandleKeyed(outbox.TopicTripApprovalRequested, h.tripApprovalRequested, tripLane)
	r.HandleKeyed(outbox.TopicTripCancelled, h.tripCancelled, tripLane)
}

func tripLane(m outbox.Message) string {
	var ev struct {
		TripID string `json:"tripId"`
	}
	if json.Unmarshal(m.Payload, &ev) != nil || ev.TripID == "" {
		return ""
	}
	return "trip:" + ev.TripID
}

// advisoryChanged re-scores every trip the country touches, then tells
// subscribers. A re-delivered row re-scores to the same levels (nothing
// changes twice) and raises no incident twice.
func (h *Handlers) advisoryChanged(ctx context.Context, m outbox.Message) error {
	var c advisory.Change
	if err := json.Unmarshal(m.Payload, &c); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	// Re-scoring first: it is idempotent, so a failure retries it whole,
	// and the stream event (which a retry would repeat) goes out once it
	// has worked.
	if h.Trips != nil {
		if _, err := h.Trips.ReassessCountry(ctx, c.Country, fmt.Sprintf("advisory:%s v%d", c.Country, c.Version)); err != nil {
			return err
		}
	}
	return advisory.Changes.Publish(ctx, h.Publisher, c)
}

// adviceChanged re-scores the trips of a country whose areas or texts
// changed at the same level: an area's level counts for segments in it.
func (h *Handlers) adviceChanged(ctx context.Context, m outbox.Message) error {
	var c advisory.AdviceChanged
	if err := json.Unmarshal(m.Payload, &c); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if h.Trips == nil {
		return nil
	}
	_, err := h.Trips.ReassessCountry(ctx, c.Country, "advice:"+c.Country+" ("+c.Cause+")")
	return err
}

// reassessNear re-scores the trips near a located incident once its
// workflow has started.
func (h *Handlers) reassessNear(ctx context.Context, inc incident.Incident) error {
	if h.Trips == nil || inc.Location == nil || inc.SourceType == "TRAVEL" {
		// A traveller's own incident is the outcome of a re-assessment,
		// not a cause of another.
		return nil
	}
	_, err := h.Trips.ReassessNear(ctx, inc.ID, "incident:"+inc.ID.String())
	return err
}

// reassessNearEscalation re-scores the trips near what an escalation is
// about when it opens or resolves: its incident (resolving the last of an
// incident's escalations ends it) or its site's status.
func (h *Handlers) reassessNearEscalation(ctx context.Context, e escalation.Escalation) error {
	if h.Trips == nil {
		return nil
	}
	cause := fmt.Sprintf("escalation:%s %s", e.ID, strings.ToLower(string(e.Status)))
	var err error
	switch {
	case e.IncidentID != nil:
		_, err = h.Trips.ReassessNear(ctx, *e.IncidentID, cause)
		if errors.Is(err, incident.ErrNotFound) {
			return nil
		}
	case e.SiteID != uuid.Nil:
		_, err = h.Trips.ReassessNearSite(ctx, e.SiteID, cause)
	}
	return err
}

func (h *Handlers) tripRiskChanged(ctx context.Context, m outbox.Message) error {
	var ev travel.RiskChanged
	if err := json.Unmarshal(m.Payload, &ev); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if h.Notifier != nil {
		// Pages carry idempotency keys: a re-delivered row pages again
		// with the same key, which receivers drop.
		if err := h.Notifier.RiskRose(ctx, ev); err != nil {
			return err
		}
	}
	return travel.RiskChanges.Publish(ctx, h.Publisher, ev)
}

func (h *Handlers) tripApprovalRequested(ctx context.Context, m outbox.Message) error {
	var ev travel.ApprovalRequested
	if err := json.Unmarshal(m.Payload, &ev); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return h.start(ctx, ev.WorkflowID, travelwf.WorkflowName, ev)
}

func (h *Handlers) tripCancelled(ctx context.Context, m outbox.Message) error {
	var ev travel.Cancelled
	if err := json.Unmarshal(m.Payload, &ev); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	err := h.Temporal.SignalWorkflow(ctx, ev.WorkflowID, "", travelwf.SignalCancel, travelwf.CancelRequest{Actor: ev.Actor, Note: ev.Note})
	// NotFound: the approval already ended (decided, or never started
	// because the trip needed none); Postgres holds the cancellation.
	var notFound *serviceerror.NotFound
	if err != nil && !errors.As(err, &notFound) {
		return fmt.Errorf("signal cancel to %s: %w", ev.WorkflowID, err)
	}
	return nil
}
