package outbox_test

import (
	"context"
	"testing"
	"time"

	"meridian.dev/platform/outbox"
	"meridian.dev/platform/testenv"
)

func TestPruneDeletesOnlyOldDeliveredRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.NewPool(t)
	_, err := pool.Exec(ctx, `INSERT INTO outbox (topic, payload, processed_at) VALUES
		('old-delivered', '{}', now() - interval '8 days'),
		('new-delivered', '{}', now() - interval '1 hour'),
		('pending', '{}', NULL)`)
	if err != nil {
		t.Fatal(err)
	}
	n, err := outbox.Prune(ctx, pool, 7*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("pruned %d rows, want 1", n)
	}
	rows, err := pool.Query(ctx, `SELECT topic FROM outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var topics []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		topics = append(topics, s)
	}
	if len(topics) != 2 || topics[0] != "new-delivered" || topics[1] != "pending" {
		t.Fatalf("left %v, want [new-delivered pending]", topics)
	}
}
