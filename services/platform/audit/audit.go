// Package audit writes the audit log: who did what to which object, the
// object before and after, and the trace ID, always in the transaction of the
// change itself so the log can never disagree with the data.
package audit

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"meridian.dev/platform/telemetry"
)

// Entry is one audited change. Before is nil for a creation.
type Entry struct {
	Actor      string
	Action     string
	ObjectType string
	ObjectID   string
	Before     any
	After      any
}

const insertSQL = `INSERT INTO audit_log (actor, action, object_type, object_id, before, after, trace_id)
VALUES ($1, $2, $3, $4, $5, $6, $7)`

// Queue adds the entry to a batch that runs inside the change's transaction.
func Queue(ctx context.Context, b *pgx.Batch, e Entry) error {
	args, err := e.args(ctx)
	if err != nil {
		return err
	}
	b.Queue(insertSQL, args...)
	return nil
}

// Record writes the entry inside tx.
func Record(ctx context.Context, tx pgx.Tx, e Entry) error {
	args, err := e.args(ctx)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, insertSQL, args...); err != nil {
		return fmt.Errorf("audit: %s %s: %w", e.Action, e.ObjectID, err)
	}
	return nil
}

func (e Entry) args(ctx context.Context) ([]any, error) {
	var before, after []byte
	var err error
	if e.Before != nil {
		if before, err = json.Marshal(e.Before); err != nil {
			return nil, fmt.Errorf("audit: encode before: %w", err)
		}
	}
	if e.After != nil {
		if after, err = json.Marshal(e.After); err != nil {
			return nil, fmt.Errorf("audit: encode after: %w", err)
		}
	}
	return []any{e.Actor, e.Action, e.ObjectType, e.ObjectID, before, after, telemetry.TraceID(ctx)}, nil
}
