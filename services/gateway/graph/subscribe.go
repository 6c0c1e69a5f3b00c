package graph

import (
	"context"

	"meridian.dev/platform/live"
)

type subscriptionArgs struct {
	Region *string
	After  *string
}

// watch checks the caller and the region filter and streams the events of
// kind, shaped by wrap, until ctx ends or the subscriber falls too far
// behind (the channel then closes and the client resumes from its cursor).
func watch[T, R any](ctx context.Context, e *env, kind live.Kind[T], args subscriptionArgs, wrap func(live.Delivered[T]) R) (<-chan R, error) {
	if _, err := e.viewer(ctx); err != nil {
		return nil, err
	}
	region, err := e.regions.check(ctx, "region", args.Region)
	if err != nil {
		return nil, err
	}
	return stream(ctx, e.hub, kind, region, deref(args.After, ""), wrap)
}

// stream delivers kind's events whose filter value (its Kind.Region: a
// region, or a country for advisories) is filter ("" for all), shaped by
// wrap; the caller has checked who is asking and what filter they gave.
func stream[T, R any](ctx context.Context, hub *live.Hub, kind live.Kind[T], filter, after string, wrap func(live.Delivered[T]) R) (<-chan R, error) {
	events, err := live.Watch(ctx, hub, kind, filter, after)
	if err != nil {
		return nil, err
	}
	out := make(chan R)
	go func() {
		defer close(out)
		for ev := range events {
			select {
			case out <- wrap(ev):
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
