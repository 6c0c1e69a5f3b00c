package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"meridian.dev/platform/testenv"
)

// Keyed messages keep their order within a lane while lanes run side by
// side: a slow delivery in one lane does not hold up another.
func TestRelayOnceDeliversLanesConcurrentlyInOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.NewPool(t)
	enqueue(t, pool, "test.k", "test.k", "test.k", "test.k", "test.k", "test.k")
	relay := NewRelay(pool, testLogger(t))

	var mu sync.Mutex
	byLane := map[string][]int{}
	oddDone := make(chan struct{})
	lane := func(n int) string { return fmt.Sprintf("lane-%d", n%2) }
	relay.HandleKeyed("test.k", func(_ context.Context, m Message) error {
		var p payload
		if err := json.Unmarshal(m.Payload, &p); err != nil {
			return err
		}
		if p.N == 0 {
			// The even lane's first message waits for the odd lane to
			// finish: with one lane at a time this would time out.
			select {
			case <-oddDone:
			case <-time.After(5 * time.Second):
				return fmt.Errorf("the odd lane never ran while the even lane was busy")
			}
		}
		mu.Lock()
		defer mu.Unlock()
		byLane[lane(p.N)] = append(byLane[lane(p.N)], p.N)
		if p.N == 5 {
			close(oddDone)
		}
		return nil
	}, func(m Message) string {
		var p payload
		_ = json.Unmarshal(m.Payload, &p)
		return lane(p.N)
	})

	n, err := relay.RelayOnce(ctx)
	if err != nil || n != 6 {
		t.Fatalf("RelayOnce = %d, %v; want 6", n, err)
	}
	if !slices.Equal(byLane["lane-0"], []int{0, 2, 4}) || !slices.Equal(byLane["lane-1"], []int{1, 3, 5}) {
		t.Fatalf("delivered %v, want each lane in commit order", byLane)
	}
	if pending, err := Pending(ctx, pool); err != nil || pending != 0 {
		t.Fatalf("Pending = %d, %v; want 0", pending, err)
	}
}
