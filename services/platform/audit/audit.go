// Package audit writes the audit log: who did what to which object, the
// object before and after, and the trace ID, always in the transaction of the
// change itself so the log can never disagree with the data.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"meridian.dev/platform/auth"
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
	// RestrictedTo, when set, hides the entry from everyone but the people
	// named and global leads (a duress incident's rows).
	RestrictedTo []string
}

const insertSQL = `INSERT INTO audit_log (actor, action, object_type, object_id, before, after, trace_id, restricted_to)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`

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
	return []any{e.Actor, e.Action, e.ObjectType, e.ObjectID, before, after, telemetry.TraceID(ctx), e.RestrictedTo}, nil
}

// Logged is one entry of the log as stored.
type Logged struct {
	ID         int64
	At         time.Time
	Actor      string
	Action     string
	ObjectType string
	ObjectID   string
	Before     json.RawMessage // nil for a creation
	After      json.RawMessage
	TraceID    string
}

// Filter narrows List; zero values match everything, but for Viewer.
type Filter struct {
	ObjectType string // with ObjectID: one object of a kind
	ObjectID   string
	Actor      string
	Action     string
	Since      time.Time // at or after
	Until      time.Time // before
	// Viewer is who reads. Restricted entries (Entry.RestrictedTo: a
	// duress incident's trail) are left out unless they lead globally or
	// are named in the entry: not even auditors and admins read them. The
	// zero identity reads none.
	Viewer auth.Identity
}

// Reader reads the log.
type Reader struct{ pool *pgxpool.Pool }

// NewReader returns a reader on pool.
func NewReader(pool *pgxpool.Pool) *Reader { return &Reader{pool: pool} }

// List returns entries newest first, after the entry with ID after (0: from
// the newest), and whether more follow.
func (r *Reader) List(ctx context.Context, f Filter, first int, after int64) ([]Logged, bool, error) {
	var since, until *time.Time
	if !f.Since.IsZero() {
		since = &f.Since
	}
	if !f.Until.IsZero() {
		until = &f.Until
	}
	// Restricted rows are filtered here, not after the page is cut, so
	// that pages stay full and cursors right.
	rows, err := r.pool.Query(ctx, `SELECT id, at, actor, action, object_type, object_id, before, after, trace_id
		FROM audit_log
		WHERE ($1 = '' OR object_type = $1) AND ($2 = '' OR object_id = $2) AND ($3 = '' OR actor = $3)
		AND ($4 = '' OR action = $4) AND ($5::timestamptz IS NULL OR at >= $5) AND ($6::timestamptz IS NULL OR at < $6)
		AND ($7 = 0 OR id < $7)
		AND (restricted_to IS NULL OR $9::boolean OR $10::text = ANY(restricted_to))
		ORDER BY id DESC LIMIT $8`, f.ObjectType, f.ObjectID, f.Actor, f.Action, since, until, after, first+1,
		f.Viewer.HasRole(auth.RoleGlobalLead), f.Viewer.Subject)
	if err != nil {
		return nil, false, fmt.Errorf("audit: list: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Logged])
	if err != nil {
		return nil, false, fmt.Errorf("audit: list: %w", err)
	}
	if len(list) > first {
		return list[:first], true, nil
	}
	return list, false, nil
}
