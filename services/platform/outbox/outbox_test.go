package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"meridian.dev/platform/testenv"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type payload struct {
	N int `json:"n"`
}

// enqueue writes one row per topic in one transaction and returns their IDs.
func enqueue(t *testing.T, pool *pgxpool.Pool, topics ...string) []int64 {
	t.Helper()
	ctx := context.Background()
	var ids []int64
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for i, topic := range topics {
			if err := Enqueue(ctx, tx, topic, payload{N: i}); err != nil {
				return err
			}
			var id int64
			if err := tx.QueryRow(ctx, "SELECT currval('outbox_id_seq')").Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	return ids
}

type row struct {
	Attempts      int32
	LastError     string
	Processed     bool
	NextInFuture  bool
	NextAttemptIn time.Duration
}

func readRow(t *testing.T, pool *pgxpool.Pool, id int64) row {
	t.Helper()
	var r row
	var secs float64
	err := pool.QueryRow(context.Background(), `SELECT attempts, last_error, processed_at IS NOT NULL, next_attempt_at > clock_timestamp(),
		EXTRACT(EPOCH FROM next_attempt_at - clock_timestamp()) FROM outbox WHERE id = $1`, id).
		Scan(&r.Attempts, &r.LastError, &r.Processed, &r.NextInFuture, &secs)
	if err != nil {
		t.Fatalf("read outbox row %d: %v", id, err)
	}
	r.NextAttemptIn = time.Duration(secs * float64(time.Second))
	return r
}

// recorder is a handler that remembers every message it was given.
type recorder struct {
	mu   sync.Mutex
	msgs []Message
}

func (r *recorder) handle(_ context.Context, m Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	return nil
}

func (r *recorder) ids() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int64
	for _, m := range r.msgs {
		out = append(out, m.ID)
	}
	return out
}

func TestRelayOnceDeliversInOrderOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.NewPool(t)
	ids := enqueue(t, pool, "test.a", "test.b", "test.a", "test.b", "test.a")
	relay := NewRelay(pool, testLogger(t))
	var mu sync.Mutex
	var order []int64
	var payloads []int
	h := func(_ context.Context, m Message) error {
		var p payload
		if err := json.Unmarshal(m.Payload, &p); err != nil {
			return err
		}
		if m.Attempts != 0 {
			return fmt.Errorf("first delivery has Attempts %d", m.Attempts)
		}
		mu.Lock()
		defer mu.Unlock()
		order = append(order, m.ID)
		payloads = append(payloads, p.N)
		return nil
	}
	relay.Handle("test.a", h)
	relay.Handle("test.b", h)

	n, err := relay.RelayOnce(ctx)
	if err != nil {
		t.Fatalf("RelayOnce: %v", err)
	}
	if n != 5 {
		t.Errorf("claimed %d, want 5", n)
	}
	if !slices.Equal(order, ids) {
		t.Errorf("delivered %v, want %v in id order", order, ids)
	}
	if !slices.Equal(payloads, []int{0, 1, 2, 3, 4}) {
		t.Errorf("payloads %v", payloads)
	}
	for _, id := range ids {
		if r := readRow(t, pool, id); !r.Processed || r.Attempts != 0 || r.LastError != "" {
			t.Errorf("row %d = %+v, want processed", id, r)
		}
	}
	pending, err := Pending(ctx, pool)
	if err != nil || pending != 0 {
		t.Errorf("Pending = %d, %v; want 0", pending, err)
	}

	n, err = relay.RelayOnce(ctx)
	if err != nil || n != 0 {
		t.Errorf("second RelayOnce claimed %d, %v; want 0", n, err)
	}
	if len(order) != 5 {
		t.Errorf("%d deliveries after a second RelayOnce, want 5", len(order))
	}
}

func TestRelayOnceBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.NewPool(t)
	topics := make([]string, 7)
	for i := range topics {
		topics[i] = "test.batch"
	}
	ids := enqueue(t, pool, topics...)
	relay := NewRelay(pool, testLogger(t))
	relay.batchSize = 3
	rec := &recorder{}
	relay.Handle("test.batch", rec.handle)
	var claims []int
	for range 5 {
		n, err := relay.RelayOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		claims = append(claims, n)
	}
	if !slices.Equal(claims, []int{3, 3, 1, 0, 0}) {
		t.Errorf("claims = %v, want [3 3 1 0 0]", claims)
	}
	if !slices.Equal(rec.ids(), ids) {
		t.Errorf("delivered %v, want %v", rec.ids(), ids)
	}
}

func TestRelayOnceHandlerErrorRetriesLater(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.NewPool(t)
	ids := enqueue(t, pool, "test.flaky", "test.ok")
	relay := NewRelay(pool, testLogger(t))
	var mu sync.Mutex
	var calls []Message
	fail := true
	relay.Handle("test.flaky", func(_ context.Context, m Message) error {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, m)
		if fail {
			return errors.New("webhook answered 503")
		}
		return nil
	})
	ok := &recorder{}
	relay.Handle("test.ok", ok.handle)

	if _, err := relay.RelayOnce(ctx); err != nil {
		t.Fatalf("RelayOnce: %v", err)
	}
	r := readRow(t, pool, ids[0])
	if r.Processed || r.Attempts != 1 || !strings.Contains(r.LastError, "webhook answered 503") || !r.NextInFuture {
		t.Fatalf("failed row = %+v, want pending, attempts 1, last_error set, next attempt in the future", r)
	}
	if r.NextAttemptIn > 2*time.Second {
		t.Errorf("first retry in %s, want about 1s", r.NextAttemptIn)
	}
	// One failure does not hold back the rest of the batch.
	if r := readRow(t, pool, ids[1]); !r.Processed {
		t.Errorf("the healthy row after the failed one was not delivered: %+v", r)
	}
	if !slices.Equal(ok.ids(), ids[1:]) {
		t.Errorf("healthy handler got %v", ok.ids())
	}

	// Not due yet: not delivered again.
	n, err := relay.RelayOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 || len(calls) != 1 {
		t.Fatalf("before next_attempt_at: claimed %d, handler called %d times; want 0 and 1", n, len(calls))
	}

	// A second failure backs off further.
	if _, err := pool.Exec(ctx, "UPDATE outbox SET next_attempt_at = now() - interval '1 second' WHERE id = $1", ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := relay.RelayOnce(ctx); err != nil {
		t.Fatal(err)
	}
	r2 := readRow(t, pool, ids[0])
	if r2.Processed || r2.Attempts != 2 || r2.NextAttemptIn <= r.NextAttemptIn {
		t.Errorf("after a second failure: %+v, want attempts 2 and a longer wait than %s", r2, r.NextAttemptIn)
	}

	// Once due and the handler recovers, it is delivered with its attempt count.
	mu.Lock()
	fail = false
	mu.Unlock()
	if _, err := pool.Exec(ctx, "UPDATE outbox SET next_attempt_at = now() - interval '1 second' WHERE id = $1", ids[0]); err != nil {
		t.Fatal(err)
	}
	if n, err := relay.RelayOnce(ctx); err != nil || n != 1 {
		t.Fatalf("retry RelayOnce = %d, %v; want 1", n, err)
	}
	if len(calls) != 3 || calls[2].Attempts != 2 || calls[2].ID != ids[0] {
		t.Errorf("calls = %+v, want a third call with Attempts 2", calls)
	}
	if r := readRow(t, pool, ids[0]); !r.Processed {
		t.Errorf("row after successful retry = %+v, want processed", r)
	}
}

func TestRelayOnceUnknownTopicKeepsTheError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.NewPool(t)
	ids := enqueue(t, pool, "test.nobody-handles-this")
	relay := NewRelay(pool, testLogger(t))
	relay.Handle("test.other", (&recorder{}).handle)
	if _, err := relay.RelayOnce(ctx); err != nil {
		t.Fatalf("RelayOnce: %v", err)
	}
	r := readRow(t, pool, ids[0])
	if r.Processed || r.Attempts != 1 || !strings.Contains(r.LastError, `no handler for topic "test.nobody-handles-this"`) {
		t.Fatalf("row = %+v, want pending with the missing handler named", r)
	}
	if n, err := Pending(ctx, pool); err != nil || n != 1 {
		t.Errorf("Pending = %d, %v; want 1", n, err)
	}
}

func TestConcurrentRelaysDeliverEachRowOnce(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pool := testenv.NewPool(t)
	const rows = 60
	topics := make([]string, rows)
	for i := range topics {
		topics[i] = "test.concurrent"
	}
	ids := enqueue(t, pool, topics...)

	var mu sync.Mutex
	deliveries := map[int64]int{}
	perRelay := [2]int{}
	// holding is closed once relay 0 is inside its first batch, holding
	// that batch's row locks; secondDelivered once relay 1 delivered a row.
	holding, secondDelivered := make(chan struct{}), make(chan struct{})
	var holdOnce, secondOnce sync.Once

	newRelay := func(i int) *Relay {
		r := NewRelay(pool, testLogger(t))
		r.batchSize = 10
		r.Handle("test.concurrent", func(ctx context.Context, m Message) error {
			mu.Lock()
			deliveries[m.ID]++
			perRelay[i]++
			mu.Unlock()
			if i == 1 {
				secondOnce.Do(func() { close(secondDelivered) })
				return nil
			}
			first := false
			holdOnce.Do(func() { first = true; close(holding) })
			if first {
				// Keep this batch locked until the other relay has delivered
				// something: it can only do so by skipping the rows locked
				// here. A relay that waited on the locks would time out.
				select {
				case <-secondDelivered:
				case <-time.After(10 * time.Second):
					return errors.New("the other relay delivered nothing while this one held its batch")
				}
			}
			return nil
		})
		return r
	}
	relays := []*Relay{newRelay(0), newRelay(1)}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, r := range relays {
		wg.Go(func() {
			if i == 1 {
				select {
				case <-holding:
				case <-ctx.Done():
					errs[i] = ctx.Err()
					return
				}
			}
			for ctx.Err() == nil {
				n, err := r.RelayOnce(ctx)
				if err != nil {
					errs[i] = err
					return
				}
				if n == 0 {
					pending, err := Pending(ctx, pool)
					if err != nil {
						errs[i] = err
						return
					}
					if pending == 0 {
						return
					}
				}
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("relay %d: %v", i, err)
		}
	}
	for _, id := range ids {
		if deliveries[id] != 1 {
			t.Errorf("row %d delivered %d times, want 1", id, deliveries[id])
		}
	}
	if len(deliveries) != rows {
		t.Errorf("%d distinct rows delivered, want %d", len(deliveries), rows)
	}
	if perRelay[0] == 0 || perRelay[1] == 0 {
		t.Errorf("deliveries per relay = %v, want both relays to work", perRelay)
	}
	if n, err := Pending(context.Background(), pool); err != nil || n != 0 {
		t.Errorf("Pending = %d, %v; want 0", n, err)
	}
}

func TestRunWakesOnNotify(t *testing.T) {
	t.Parallel()
	pool := testenv.NewPool(t)
	relay := NewRelay(pool, testLogger(t))
	// Poll so rarely that only a notification can explain a prompt delivery.
	relay.poll = time.Minute
	got := make(chan Message, 10)
	relay.Handle("test.notify", func(_ context.Context, m Message) error {
		got <- m
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- relay.Run(ctx) }()

	// Wait until the relay listens, so the insert below cannot race LISTEN.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var listening int
		err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND query = 'LISTEN meridian_outbox'`).Scan(&listening)
		if err != nil {
			t.Fatal(err)
		}
		if listening > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("relay never ran LISTEN meridian_outbox")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Let the relay finish its first (empty) pass and block waiting.
	time.Sleep(100 * time.Millisecond)

	for round := range 2 {
		ids := enqueue(t, pool, "test.notify")
		select {
		case m := <-got:
			if m.ID != ids[0] {
				t.Fatalf("round %d: handler got row %d, want %d", round, m.ID, ids[0])
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("round %d: handler did not see the row within 2s of commit", round)
		}
	}

	// Delivered rows are marked done (a cancel before the commit would only
	// mean an idempotent redelivery later, so wait for the mark first).
	for deadline := time.Now().Add(2 * time.Second); ; {
		n, err := Pending(context.Background(), pool)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d rows still pending 2s after delivery", n)
		}
		time.Sleep(10 * time.Millisecond)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v, want nil after cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute, time.Minute}
	for attempts, w := range want {
		if got := backoff(int32(attempts)); got != w {
			t.Errorf("backoff(%d) = %s, want %s", attempts, got, w)
		}
	}
	if got := backoff(1000); got != time.Minute {
		t.Errorf("backoff(1000) = %s, want 1m", got)
	}
}
