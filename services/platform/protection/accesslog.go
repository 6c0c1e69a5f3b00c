package protection

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"meridian.dev/platform/fault"
)

// LogAccess writes access log entries (one per protectee and detail read),
// all or none. An entry without a time takes the
// database's.
func (s *Store) LogAccess(ctx context.Context, entries []Access) error {
	if len(entries) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for i, e := range entries {
		if e.Actor == "" || len(e.Fields) == 0 || e.ProtecteeID == uuid.Nil {
			return fault.Invalid("entries", "entry %d needs an actor, a protectee and the fields read", i)
		}
		for _, text := range append([]string{e.Actor, e.TraceID}, e.Fields...) {
			if err := fault.CheckText("entries", text); err != nil {
				return err
			}
		}
		var at any
		if !e.At.IsZero() {
			at = e.At
		}
		b.Queue(`INSERT INTO protection_access_log (at, actor, protectee_id, detail_id, fields, trace_id)
			VALUES (coalesce($1, now()), $2, $3, $4, $5, $6)`, at, e.Actor, e.ProtecteeID, e.DetailID, e.Fields, e.TraceID)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return tx.SendBatch(ctx, b).Close() })
	if err != nil {
		return fmt.Errorf("protection: log access: %w", err)
	}
	return nil
}

// AccessLog pages the access log, newest first, for one protectee or all.
func (s *Store) AccessLog(ctx context.Context, protecteeID *uuid.UUID, first int, after string) ([]Access, bool, error) {
	if err := checkFirst(first); err != nil {
		return nil, false, err
	}
	var before int64
	if after != "" {
		id, err := decodeAccessCursor(after)
		if err != nil {
			return nil, false, err
		}
		before = id
	}
	rows, err := s.pool.Query(ctx, `SELECT id, at, actor, protectee_id, detail_id, fields, trace_id FROM protection_access_log
		WHERE ($1::uuid IS NULL OR protectee_id = $1) AND ($2 = 0 OR id < $2)
		ORDER BY id DESC LIMIT $3`, protecteeID, before, first+1)
	if err != nil {
		return nil, false, fmt.Errorf("protection: access log: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Access])
	if err != nil {
		return nil, false, fmt.Errorf("protection: access log: %w", err)
	}
	list, more := page(list, first)
	return list, more, nil
}
