package graph

import (
	"context"
	"errors"
	"time"

	graphql "github.com/graph-gophers/graphql-go"

	"meridian.dev/platform/escalation"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/incident"
	"meridian.dev/platform/site"
)

func invalidRegion(field, code string) error {
	return fault.Invalid(field, "%q is not a known region", code)
}

// Me resolves Query.me.
func (r *Resolver) Me(ctx context.Context) (*viewerResolver, error) {
	id, err := viewer(ctx)
	if err != nil {
		return nil, err
	}
	return &viewerResolver{r: r, id: id}, nil
}

// Regions resolves Query.regions.
func (r *Resolver) Regions(ctx context.Context) ([]*regionResolver, error) {
	if _, err := viewer(ctx); err != nil {
		return nil, err
	}
	regions, err := r.loadRegions(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*regionResolver, len(regions))
	for i, reg := range regions {
		out[i] = &regionResolver{reg}
	}
	return out, nil
}

// Node resolves Query.node.
func (r *Resolver) Node(ctx context.Context, args struct{ ID graphql.ID }) (*nodeResolver, error) {
	if _, err := viewer(ctx); err != nil {
		return nil, err
	}
	kind, id, ok := decodeID(args.ID)
	if !ok {
		return nil, fault.Invalid("id", "is not a Meridian ID")
	}
	switch kind {
	case kindSite:
		s, err := r.sites.Get(ctx, id)
		if errors.Is(err, site.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return &nodeResolver{&siteResolver{r: r, s: s}}, nil
	case kindIncident:
		inc, err := r.incidents.Get(ctx, id)
		if errors.Is(err, incident.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return &nodeResolver{&incidentResolver{r: r, i: inc}}, nil
	case kindEscalation:
		e, err := r.escalations.Get(ctx, id)
		if errors.Is(err, escalation.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return &nodeResolver{&escalationResolver{r: r, e: e}}, nil
	}
	return nil, fault.Invalid("id", "is not a Meridian ID")
}

// Site resolves Query.site; an unknown site is NOT_FOUND.
func (r *Resolver) Site(ctx context.Context, args struct{ ID graphql.ID }) (*siteResolver, error) {
	if _, err := viewer(ctx); err != nil {
		return nil, err
	}
	id, err := parseID(args.ID, kindSite, "id")
	if err != nil {
		return nil, err
	}
	s, err := r.sites.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return &siteResolver{r: r, s: s}, nil
}

type sitesArgs struct {
	Region *string
	Level  *string
	First  int32
	After  *string
}

// Sites resolves Query.sites: the board. Status comes from Redis, the live
// state, and falls back to Postgres when Redis is down, empty or behind.
func (r *Resolver) Sites(ctx context.Context, args sitesArgs) (*siteConnectionResolver, error) {
	if _, err := viewer(ctx); err != nil {
		return nil, err
	}
	region, err := r.checkRegion(ctx, args.Region)
	if err != nil {
		return nil, err
	}
	first, err := site.ClampFirst(args.First)
	if err != nil {
		return nil, err
	}
	page, err := r.sites.List(ctx, site.Filter{Region: region, Level: site.Level(deref(args.Level, ""))}, first, deref(args.After, ""))
	if err != nil {
		return nil, err
	}
	r.overlayLive(ctx, page.Items)
	return newSiteConnection(r, page), nil
}

// Escalation resolves Query.escalation.
func (r *Resolver) Escalation(ctx context.Context, args struct{ ID graphql.ID }) (*escalationResolver, error) {
	if _, err := viewer(ctx); err != nil {
		return nil, err
	}
	id, err := parseID(args.ID, kindEscalation, "id")
	if err != nil {
		return nil, err
	}
	e, err := r.escalations.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return &escalationResolver{r: r, e: e}, nil
}

type escalationsArgs struct {
	Region   *string
	Status   *string
	Severity *string
	Since    *graphql.Time
	Until    *graphql.Time
	First    int32
	After    *string
}

// Escalations resolves Query.escalations, newest first.
func (r *Resolver) Escalations(ctx context.Context, args escalationsArgs) (*escalationConnectionResolver, error) {
	if _, err := viewer(ctx); err != nil {
		return nil, err
	}
	region, err := r.checkRegion(ctx, args.Region)
	if err != nil {
		return nil, err
	}
	first, err := site.ClampFirst(args.First)
	if err != nil {
		return nil, err
	}
	after := ""
	if args.After != nil && *args.After != "" {
		id, err := parseID(graphql.ID(*args.After), kindEscalation, "after")
		if err != nil {
			return nil, err
		}
		after = id.String()
	}
	filter := escalation.Filter{Region: region, Status: escalation.Status(deref(args.Status, "")), Severity: escalation.Severity(deref(args.Severity, ""))}
	if args.Since != nil {
		filter.Since = args.Since.Time
	}
	if args.Until != nil {
		filter.Until = args.Until.Time
	}
	list, more, err := r.escalations.List(ctx, filter, first, after)
	if err != nil {
		return nil, err
	}
	// Prime the per-request site loader: one query for every escalation's site.
	loader := sitesFor(ctx, r)
	for _, e := range list {
		loader.want(e.SiteID)
	}
	conn := &escalationConnectionResolver{hasNext: more}
	for _, e := range list {
		conn.edges = append(conn.edges, &escalationEdgeResolver{node: &escalationResolver{r: r, e: e, sites: loader}})
	}
	return conn, nil
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// EscalationStats resolves Query.escalationStats.
func (r *Resolver) EscalationStats(ctx context.Context, args struct {
	Region *string
	Since  *graphql.Time
}) (*statsResolver, error) {
	if _, err := viewer(ctx); err != nil {
		return nil, err
	}
	region, err := r.checkRegion(ctx, args.Region)
	if err != nil {
		return nil, err
	}
	since := time.Now().AddDate(0, 0, -30)
	if args.Since != nil {
		since = args.Since.Time
	}
	st, err := r.escalations.Stats(ctx, region, since)
	if err != nil {
		return nil, err
	}
	return &statsResolver{st}, nil
}

type statsResolver struct{ s escalation.Stats }

func (s *statsResolver) Opened() int32                  { return int32(s.s.Opened) }
func (s *statsResolver) Acknowledged() int32            { return int32(s.s.Acknowledged) }
func (s *statsResolver) Resolved() int32                { return int32(s.s.Resolved) }
func (s *statsResolver) TimeToAcknowledgeP50() *float64 { return secondsOf(s.s.AckP50) }
func (s *statsResolver) TimeToAcknowledgeP90() *float64 { return secondsOf(s.s.AckP90) }
func (s *statsResolver) TimeToResolveP50() *float64     { return secondsOf(s.s.ResolveP50) }
func (s *statsResolver) TimeToResolveP90() *float64     { return secondsOf(s.s.ResolveP90) }

func secondsOf(d *time.Duration) *float64 {
	if d == nil {
		return nil
	}
	f := d.Seconds()
	return &f
}
