package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Prune deletes rows delivered more than retain ago, in bounded batches so a
// large backlog never holds a long lock. Undelivered rows are never touched.
func Prune(ctx context.Context, pool *pgxpool.Pool, retain time.Duration) (int64, error) {
	var total int64
	for {
		tag, err := pool.Exec(ctx, `DELETE FROM outbox WHERE id IN (
			SELECT id FROM outbox WHERE processed_at < now() - $1::interval ORDER BY id LIMIT 5000)`, retain.String())
		if err != nil {
			return total, fmt.Errorf("outbox: prune: %w", err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < 5000 {
			return total, nil
		}
	}
}

// PruneEvery runs Prune every interval until ctx ends.
func PruneEvery(ctx context.Context, pool *pgxpool.Pool, retain, interval time.Duration, log *slog.Logger) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			n, err := Prune(ctx, pool, retain)
			if err != nil && ctx.Err() == nil {
				log.WarnContext(ctx, "outbox prune failed", "err", err)
			} else if n > 0 {
				log.InfoContext(ctx, "outbox pruned", "rows", n)
			}
		}
	}
}
