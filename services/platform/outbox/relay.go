package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"meridian.dev/platform/telemetry"
)

// Message is one outbox row handed to a handler.
type Message struct {
	ID       int64
	Topic    string
	Payload  []byte
	Attempts int32
}

// Handler delivers one message. It must be idempotent: a relay that dies
// after delivering and before marking the row done delivers it again.
type Handler func(ctx context.Context, m Message) error

// KeyFunc names a message's ordering lane. Within a batch, messages of one
// lane are delivered one at a time in commit order; lanes run side by side.
// The empty key is one lane of its own.
type KeyFunc func(Message) string

// Relay moves outbox rows to their handlers. It wakes on LISTEN/NOTIFY and
// also polls, so a missed notification only delays delivery. Rows are claimed
// with FOR UPDATE SKIP LOCKED, so several relays can run side by side.
type Relay struct {
	pool      *pgxpool.Pool
	handlers  map[string]Handler
	keys      map[string]KeyFunc
	batchSize int
	// lanes is how many ordering lanes of a batch are delivered at once.
	lanes     int
	poll      time.Duration
	log       *slog.Logger
	tracer    trace.Tracer
	delivered metric.Int64Counter
	failed    metric.Int64Counter
}

// NewRelay returns a relay; register handlers with Handle before Run.
func NewRelay(pool *pgxpool.Pool, log *slog.Logger) *Relay {
	meter := otel.Meter("meridian/outbox")
	delivered, _ := meter.Int64Counter("meridian_outbox_delivered", metric.WithDescription("outbox rows delivered"))
	failed, _ := meter.Int64Counter("meridian_outbox_failed", metric.WithDescription("outbox delivery attempts that failed"))
	return &Relay{pool: pool, handlers: map[string]Handler{}, keys: map[string]KeyFunc{}, batchSize: 100, lanes: 16,
		poll: time.Second, log: log,
		tracer: otel.Tracer("meridian/outbox"), delivered: delivered, failed: failed}
}

// Handle registers the handler for topic. Its messages share one lane with
// every other unkeyed message: delivered one at a time, in commit order.
func (r *Relay) Handle(topic string, h Handler) { r.handlers[topic] = h }

// HandleKeyed registers the handler for topic, with the lane each message
// belongs to: messages about different things (sites, escalations) need no
// order between them, and delivering them side by side keeps one slow call
// (a workflow start) from delaying the rest of the batch.
func (r *Relay) HandleKeyed(topic string, h Handler, key KeyFunc) {
	r.handlers[topic] = h
	r.keys[topic] = key
}

// Run relays until ctx ends.
func (r *Relay) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		if err := r.listenAndRelay(ctx); err != nil && ctx.Err() == nil {
			r.log.ErrorContext(ctx, "outbox relay: reconnecting", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

func (r *Relay) listenAndRelay(ctx context.Context) error {
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire listener: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN meridian_outbox"); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	for {
		n, err := r.RelayOnce(ctx)
		if err != nil {
			return err
		}
		if n == r.batchSize {
			continue // more may be waiting
		}
		if err := waitForNotification(ctx, conn.Conn(), r.poll); err != nil && !errors.Is(err, errTimedOut) {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		// Every committed change sends one notification; one claim serves
		// them all, so swallow those that queued up meanwhile instead of
		// running an empty claim transaction for each.
		for waitForNotification(ctx, conn.Conn(), time.Millisecond) == nil && ctx.Err() == nil {
		}
	}
}

// waitForNotification waits up to d for a notification. A timeout is not an
// error (the relay polls anyway), and it leaves the connection usable.
func waitForNotification(ctx context.Context, conn *pgx.Conn, d time.Duration) error {
	waitCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	_, err := conn.WaitForNotification(waitCtx)
	if err != nil && waitCtx.Err() != nil && ctx.Err() == nil {
		return errTimedOut
	}
	if err != nil {
		return fmt.Errorf("wait for notification: %w", err)
	}
	return nil
}

var errTimedOut = errors.New("no notification")

// RelayOnce claims and delivers one batch of due rows and returns how many it
// claimed. Tests call it to drain the outbox deterministically.
func (r *Relay) RelayOnce(ctx context.Context) (int, error) {
	var claimed int
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, topic, payload, traceparent, attempts FROM outbox
			WHERE processed_at IS NULL AND next_attempt_at <= now()
			ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, r.batchSize)
		if err != nil {
			return fmt.Errorf("claim: %w", err)
		}
		type claimedRow struct {
			Message
			traceparent string
		}
		var batch []claimedRow
		for rows.Next() {
			var c claimedRow
			if err := rows.Scan(&c.ID, &c.Topic, &c.Payload, &c.traceparent, &c.Attempts); err != nil {
				rows.Close()
				return fmt.Errorf("claim: %w", err)
			}
			batch = append(batch, c)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("claim: %w", err)
		}
		claimed = len(batch)
		msgs := make([]Message, len(batch))
		parents := make([]string, len(batch))
		for i, c := range batch {
			msgs[i], parents[i] = c.Message, c.traceparent
		}
		errs := r.deliverBatch(ctx, msgs, parents)
		var done []int64
		for i, c := range batch {
			if err := errs[i]; err != nil {
				r.failed.Add(ctx, 1, metric.WithAttributes(attribute.String("topic", c.Topic)))
				r.log.WarnContext(ctx, "outbox delivery failed; will retry", "id", c.ID, "topic", c.Topic, "attempt", c.Attempts+1, "err", err)
				if _, err := tx.Exec(ctx, `UPDATE outbox SET attempts = attempts + 1, last_error = $2,
					next_attempt_at = clock_timestamp() + $3::interval WHERE id = $1`, c.ID, err.Error(), backoff(c.Attempts).String()); err != nil {
					return fmt.Errorf("record failure: %w", err)
				}
				continue
			}
			done = append(done, c.ID)
		}
		if len(done) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE outbox SET processed_at = now() WHERE id = ANY($1)`, done); err != nil {
				return fmt.Errorf("mark done: %w", err)
			}
			r.delivered.Add(ctx, int64(len(done)))
		}
		return nil
	})
	return claimed, err
}

// deliverBatch delivers msgs lane by lane, lanes concurrently, and returns
// each message's error at its index.
func (r *Relay) deliverBatch(ctx context.Context, msgs []Message, traceparents []string) []error {
	errs := make([]error, len(msgs))
	lanes := map[string][]int{}
	var order []string
	for i, m := range msgs {
		var k string
		if key := r.keys[m.Topic]; key != nil {
			k = key(m)
		}
		if _, seen := lanes[k]; !seen {
			order = append(order, k)
		}
		lanes[k] = append(lanes[k], i)
	}
	deliverLane := func(lane []int) {
		for _, i := range lane {
			errs[i] = r.deliver(telemetry.ExtractTraceparent(ctx, traceparents[i]), msgs[i])
		}
	}
	if len(order) == 1 {
		deliverLane(lanes[order[0]])
		return errs
	}
	var wg sync.WaitGroup
	slots := make(chan struct{}, max(r.lanes, 1))
	for _, k := range order {
		slots <- struct{}{}
		wg.Add(1)
		go func(lane []int) {
			defer func() { <-slots; wg.Done() }()
			deliverLane(lane)
		}(lanes[k])
	}
	wg.Wait()
	return errs
}

func (r *Relay) deliver(ctx context.Context, m Message) (err error) {
	ctx, span := r.tracer.Start(ctx, "outbox.deliver "+m.Topic, trace.WithAttributes(
		attribute.Int64("outbox.id", m.ID), attribute.String("outbox.topic", m.Topic)))
	defer func() {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	h, ok := r.handlers[m.Topic]
	if !ok {
		return fmt.Errorf("no handler for topic %q", m.Topic)
	}
	return h(ctx, m)
}

// backoff grows from 1s to at most 1 minute between attempts.
func backoff(attempts int32) time.Duration {
	d := time.Second << min(attempts, 6)
	return min(d, time.Minute)
}

// Pending counts rows not yet delivered; readiness and tests use it.
func Pending(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	var n int64
	err := pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE processed_at IS NULL`).Scan(&n)
	return n, err
}
