package live

import (
	"context"
	"encoding/json"
	"fmt"
)

// Kind is one type of event on the stream, and the one Go type its data is:
// the relay publishes a T, the hub carries it, a subscription decodes the
// same T. A domain declares its kinds next to its event types; adding an
// event is declaring a Kind, publishing it, and watching it.
type Kind[T any] struct {
	// Name is the stream entry's type; never change it for a kind in
	// use, as clients resume from entries written under it.
	Name string
	// Region is what region subscribers filter the event by; "" for an
	// event that belongs to no region (every filter lets it through).
	Region func(T) string
}

// Publish appends v to the stream.
func (k Kind[T]) Publish(ctx context.Context, p *Publisher, v T) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("live: encode %s: %w", k.Name, err)
	}
	return p.Publish(ctx, k.Name, k.region(v), data)
}

func (k Kind[T]) region(v T) string {
	if k.Region == nil {
		return ""
	}
	return k.Region(v)
}

// Delivered is one event of a kind, with the cursor a client resumes from.
type Delivered[T any] struct {
	Cursor string
	Event  T
}

// Watch subscribes to the events of kind k in region (every region when
// empty), replaying those after the cursor first when after is set. The
// channel closes when ctx ends or the subscriber falls too far behind; an
// entry that does not decode as a T is logged and skipped, never delivered
// half-read.
func Watch[T any](ctx context.Context, h *Hub, k Kind[T], region, after string) (<-chan Delivered[T], error) {
	sub, err := h.Subscribe(ctx, after, func(ev Event) bool {
		return ev.Type == k.Name && (region == "" || ev.Region == "" || ev.Region == region)
	})
	if err != nil {
		return nil, err
	}
	out := make(chan Delivered[T])
	go func() {
		defer close(out)
		defer sub.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-sub.C:
				if !ok {
					return
				}
				var v T
				if err := json.Unmarshal(ev.Data, &v); err != nil {
					h.log.ErrorContext(ctx, "live: undecodable event on stream", "kind", k.Name, "id", ev.ID, "err", err)
					continue
				}
				select {
				case out <- Delivered[T]{Cursor: ev.ID, Event: v}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}
