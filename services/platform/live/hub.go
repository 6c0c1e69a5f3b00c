package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"meridian.dev/platform/fault"
)

// ErrCursorExpired is returned when a client resumes from a cursor older than
// anything the stream still holds.
var ErrCursorExpired = fault.Invalid("after", "cursor is older than the retained event history; reload the board and subscribe without it")

// ErrTooSlow closes a subscription whose client cannot keep up; it may
// resubscribe with its last cursor and lose nothing.
var ErrTooSlow = errors.New("live: subscriber fell behind; resubscribe with your last cursor")

// Hub reads the stream once per gateway replica and fans events out to the
// subscriptions of that replica.
type Hub struct {
	rdb  *redis.Client
	keys Keys
	log  *slog.Logger
	// ready is closed once the hub knows its position in the stream; a
	// resuming subscriber waits for it so that no event falls between its
	// replay and live delivery.
	ready     chan struct{}
	readyOnce sync.Once

	mu   sync.Mutex
	subs map[*Subscription]struct{}
	// last is the newest stream ID delivered to subscribers.
	last string
}

// Subscription receives events until it is closed.
type Subscription struct {
	C      chan Event
	hub    *Hub
	accept func(Event) bool
	// floor: events at or before it were already replayed (or precede the
	// client's cursor) and are never delivered live.
	floor        string
	err          error
	closed       bool
	replaying    bool
	cancelReplay context.CancelFunc
}

// Err says why C was closed early, if it was.
func (s *Subscription) Err() error {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.err
}

// Close stops the subscription; C is closed soon after.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	if s.replaying {
		s.cancelReplay() // the replay goroutine owns C until it joins
		return
	}
	s.hub.removeLocked(s, nil)
}

// NewHub returns a hub; call Run to start reading.
func NewHub(rdb *redis.Client, keys Keys, log *slog.Logger) *Hub {
	return &Hub{rdb: rdb, keys: keys, log: log, ready: make(chan struct{}), subs: map[*Subscription]struct{}{}}
}

// subscriberBuffer absorbs bursts; a live subscriber further behind is
// dropped (ErrTooSlow) rather than slowing everyone else.
const subscriberBuffer = 1024

// Subscribe registers a subscriber for the events accept lets through. With
// after set, events after that cursor are replayed first, in order, without
// gaps or duplicates, however many there are: the replay runs beside the
// consumer and joins live delivery once it has caught up.
func (h *Hub) Subscribe(ctx context.Context, after string, accept func(Event) bool) (*Subscription, error) {
	s := &Subscription{C: make(chan Event, subscriberBuffer), hub: h, accept: accept}
	if after == "" {
		h.mu.Lock()
		h.subs[s] = struct{}{}
		h.mu.Unlock()
		return s, nil
	}
	if err := h.checkCursor(ctx, after); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	s.replaying, s.cancelReplay = true, cancel
	go h.replay(rctx, s, after)
	return s, nil
}

// streamStart is the cursor before any event: what Cursor answers while the
// stream has never held one.
const streamStart = "0-0"

// Cursor is the stream's position now: the ID of the last event written to
// it, or streamStart while none has been. Passed as a subscription's after,
// it replays every event written since, so a client that takes it before
// reading a snapshot misses nothing between the snapshot and its
// subscription.
func (h *Hub) Cursor(ctx context.Context) (string, error) {
	info, err := h.rdb.XInfoStream(ctx, h.keys.Stream()).Result()
	if isNoSuchKey(err) {
		return streamStart, nil
	}
	if err != nil {
		return "", fmt.Errorf("live: cursor: %w", err)
	}
	return info.LastGeneratedID, nil
}

// isNoSuchKey: XINFO STREAM on a stream nobody has written to yet.
func isNoSuchKey(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such key")
}

func (h *Hub) replay(ctx context.Context, s *Subscription, cursor string) {
	defer s.cancelReplay()
	stop := func(err error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		s.replaying = false
		s.closed, s.err = true, err
		close(s.C)
	}
	select {
	case <-h.ready:
	case <-ctx.Done():
		stop(ctx.Err())
		return
	}
	for {
		h.mu.Lock()
		upTo := h.last
		if compareIDs(cursor, upTo) >= 0 {
			if err := ctx.Err(); err != nil {
				h.mu.Unlock()
				stop(err)
				return
			}
			// Caught up: join live delivery under the lock the hub
			// dispatches under, so nothing is missed or repeated.
			s.replaying = false
			s.floor = cursor
			h.subs[s] = struct{}{}
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
		msgs, err := h.rdb.XRangeN(ctx, h.keys.Stream(), "("+cursor, upTo, 500).Result()
		if err != nil {
			stop(fmt.Errorf("live: replay: %w", err))
			return
		}
		if len(msgs) == 0 {
			cursor = upTo
			continue
		}
		for _, m := range msgs {
			ev := decode(m)
			cursor = ev.ID
			if !s.accept(ev) {
				continue
			}
			select {
			case s.C <- ev:
			case <-ctx.Done():
				stop(ctx.Err())
				return
			}
		}
	}
}

func (h *Hub) checkCursor(ctx context.Context, after string) error {
	if !validID(after) {
		return fault.Invalid("after", "is not a cursor from this subscription")
	}
	info, err := h.rdb.XInfoStream(ctx, h.keys.Stream()).Result()
	if isNoSuchKey(err) {
		return nil // nothing was ever written, so nothing was trimmed
	}
	if err != nil {
		return fmt.Errorf("live: check cursor: %w", err)
	}
	// Redis 7 counts every entry ever added: while none has been trimmed,
	// every cursor is complete, the one from before the first event too.
	// Older Redis does not say (EntriesAdded 0): assume some may have been.
	if info.EntriesAdded > 0 && info.EntriesAdded == info.Length {
		return nil
	}
	// Trimming removes the oldest entries: the cursor is complete only if
	// it is at or after the oldest entry kept (or, with none kept, the last
	// one written).
	oldest := info.LastGeneratedID
	if info.Length > 0 {
		oldest = info.FirstEntry.ID
	}
	if compareIDs(after, oldest) < 0 {
		return ErrCursorExpired
	}
	return nil
}

func (h *Hub) removeLocked(s *Subscription, err error) {
	if s.closed {
		return
	}
	s.closed = true
	s.err = err
	delete(h.subs, s)
	close(s.C)
}

// readBlock bounds one blocking XREAD, and so how long Run takes to notice
// that its context ended (go-redis does not interrupt a blocked read).
const readBlock = time.Second

// Run reads the stream until ctx ends, reconnecting after Redis errors.
func (h *Hub) Run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		// Start from the stream's current end so a new replica does not
		// replay history to live subscribers.
		if err := h.initPosition(ctx); err != nil {
			h.log.WarnContext(ctx, "live hub: cannot read the stream yet; retrying", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		break
	}
	for ctx.Err() == nil {
		h.mu.Lock()
		from := h.last
		h.mu.Unlock()
		res, err := h.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{h.keys.Stream(), from}, Count: 500, Block: readBlock}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			h.log.WarnContext(ctx, "live hub: read failed; retrying", "err", err, "in", backoff.String())
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		for _, stream := range res {
			h.dispatch(stream.Messages)
		}
	}
	h.mu.Lock()
	for s := range h.subs {
		h.removeLocked(s, ctx.Err())
	}
	h.mu.Unlock()
	return nil
}

func (h *Hub) initPosition(ctx context.Context) error {
	msgs, err := h.rdb.XRevRangeN(ctx, h.keys.Stream(), "+", "-", 1).Result()
	if err != nil {
		return err
	}
	h.mu.Lock()
	if len(msgs) > 0 {
		h.last = msgs[0].ID
	} else {
		h.last = streamStart
	}
	h.mu.Unlock()
	h.readyOnce.Do(func() { close(h.ready) })
	return nil
}

func (h *Hub) dispatch(msgs []redis.XMessage) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range msgs {
		ev := decode(m)
		h.last = ev.ID
		for s := range h.subs {
			if s.floor != "" && compareIDs(ev.ID, s.floor) <= 0 {
				continue
			}
			if !s.accept(ev) {
				continue
			}
			select {
			case s.C <- ev:
			default:
				h.removeLocked(s, ErrTooSlow)
			}
		}
	}
}

// validID accepts Redis stream IDs of the form ms-seq.
func validID(id string) bool {
	var ms, seq uint64
	n, err := fmt.Sscanf(id, "%d-%d", &ms, &seq)
	return err == nil && n == 2 && fmt.Sprintf("%d-%d", ms, seq) == id
}

// compareIDs orders two stream IDs.
func compareIDs(a, b string) int {
	var am, as, bm, bs uint64
	fmt.Sscanf(a, "%d-%d", &am, &as)
	fmt.Sscanf(b, "%d-%d", &bm, &bs)
	switch {
	case am < bm || am == bm && as < bs:
		return -1
	case am == bm && as == bs:
		return 0
	}
	return 1
}
