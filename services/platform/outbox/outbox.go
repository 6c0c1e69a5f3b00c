// Package outbox implements the transactional outbox: a change and the event
// announcing it are committed together, and a relay delivers the event to
// Redis and Temporal afterwards. If either is down, rows wait; nothing that
// Postgres accepted is lost.
package outbox

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"meridian.dev/platform/telemetry"
)

// Topics the relay knows how to deliver.
const (
	TopicSiteStatusChanged = "site.status_changed"
	TopicEscalationOpened  = "escalation.opened"
	TopicEscalationChanged = "escalation.changed"
	TopicIncidentOpened    = "incident.opened"
	// Travel risk: a country's effective advisory level changed; what the
	// sources or analysts say about it (areas, texts) changed at the same
	// level; a trip's risk changed; a trip needs (another round of)
	// approval; a trip under approval was cancelled.
	TopicAdvisoryChanged       = "advisory.changed"
	TopicAdvisoryAdviceChanged = "advisory.advice_changed"
	TopicTripRiskChanged       = "trip.risk_changed"
	TopicTripApprovalRequested = "trip.approval_requested"
	TopicTripCancelled         = "trip.cancelled"
)

// Enqueue adds an event to the outbox inside tx. The caller's trace context
// travels with it so the relay's work joins the same trace.
func Enqueue(ctx context.Context, tx pgx.Tx, topic string, payload any) error {
	data, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("outbox: encode %s: %w", topic, err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO outbox (topic, payload, traceparent) VALUES ($1, $2, $3)`,
		topic, data, telemetry.InjectTraceparent(ctx))
	if err != nil {
		return fmt.Errorf("outbox: enqueue %s: %w", topic, err)
	}
	return nil
}

// QueueEnqueue is Enqueue for a pgx.Batch, so the row travels in the same
// round trip as the change it announces.
func QueueEnqueue(ctx context.Context, b *pgx.Batch, topic string, payload any) error {
	data, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("outbox: encode %s: %w", topic, err)
	}
	b.Queue(`INSERT INTO outbox (topic, payload, traceparent) VALUES ($1, $2, $3)`,
		topic, data, telemetry.InjectTraceparent(ctx))
	return nil
}
