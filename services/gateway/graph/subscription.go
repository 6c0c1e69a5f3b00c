package graph

import (
	"context"
	"encoding/json"

	"meridian.dev/platform/escalation"
	"meridian.dev/platform/live"
	"meridian.dev/platform/site"
)

// The stream payloads, as the relay writes them.
type siteStatusEvent struct {
	Site     site.Site   `json:"site"`
	Previous site.Status `json:"previous"`
}

type escalationEvent struct {
	Escalation escalation.Escalation `json:"escalation"`
}

type subscriptionArgs struct {
	Region *string
	After  *string
}

// SiteStatusChanged resolves Subscription.siteStatusChanged.
func (r *Resolver) SiteStatusChanged(ctx context.Context, args subscriptionArgs) (<-chan *siteStatusChangedResolver, error) {
	events, err := r.subscribe(ctx, live.TypeSiteStatus, args)
	if err != nil {
		return nil, err
	}
	out := make(chan *siteStatusChangedResolver)
	go func() {
		defer close(out)
		for ev := range events {
			var payload siteStatusEvent
			if err := json.Unmarshal(ev.Data, &payload); err != nil {
				r.log.ErrorContext(ctx, "bad site event on stream", "id", ev.ID, "err", err)
				continue
			}
			select {
			case out <- &siteStatusChangedResolver{r: r, ev: payload, cursor: ev.ID}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// EscalationUpdated resolves Subscription.escalationUpdated.
func (r *Resolver) EscalationUpdated(ctx context.Context, args subscriptionArgs) (<-chan *escalationUpdatedResolver, error) {
	events, err := r.subscribe(ctx, live.TypeEscalation, args)
	if err != nil {
		return nil, err
	}
	out := make(chan *escalationUpdatedResolver)
	go func() {
		defer close(out)
		for ev := range events {
			var payload escalationEvent
			if err := json.Unmarshal(ev.Data, &payload); err != nil {
				r.log.ErrorContext(ctx, "bad escalation event on stream", "id", ev.ID, "err", err)
				continue
			}
			// Each event is its own request: a subscription's context lives
			// for hours, and a loader kept in it would serve every later
			// event the site as the first event found it.
			node := &escalationResolver{r: r, e: payload.Escalation, sites: newSiteLoader(r)}
			select {
			case out <- &escalationUpdatedResolver{node: node, cursor: ev.ID}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// subscribe checks the caller and the filter and joins the hub. The returned
// channel closes when ctx ends or the subscriber falls too far behind.
func (r *Resolver) subscribe(ctx context.Context, typ string, args subscriptionArgs) (<-chan live.Event, error) {
	if _, err := viewer(ctx); err != nil {
		return nil, err
	}
	region, err := r.checkRegion(ctx, args.Region)
	if err != nil {
		return nil, err
	}
	sub, err := r.hub.Subscribe(ctx, deref(args.After, ""), func(ev live.Event) bool {
		return ev.Type == typ && (region == "" || ev.Region == region)
	})
	if err != nil {
		return nil, err
	}
	go func() {
		<-ctx.Done()
		sub.Close()
	}()
	return sub.C, nil
}

type siteStatusChangedResolver struct {
	r      *Resolver
	ev     siteStatusEvent
	cursor string
}

func (e *siteStatusChangedResolver) Site() *siteResolver       { return &siteResolver{r: e.r, s: e.ev.Site} }
func (e *siteStatusChangedResolver) Previous() *statusResolver { return &statusResolver{e.ev.Previous} }
func (e *siteStatusChangedResolver) Current() *statusResolver {
	return &statusResolver{e.ev.Site.Status}
}
func (e *siteStatusChangedResolver) Cursor() string { return e.cursor }

type escalationUpdatedResolver struct {
	node   *escalationResolver
	cursor string
}

func (e *escalationUpdatedResolver) Escalation() *escalationResolver { return e.node }
func (e *escalationUpdatedResolver) Cursor() string                  { return e.cursor }
