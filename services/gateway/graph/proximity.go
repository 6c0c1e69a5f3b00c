package graph

import (
	"context"
	"strings"

	"github.com/google/uuid"
	graphql "github.com/graph-gophers/graphql-go"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/incident"
	"meridian.dev/platform/policy"
	"meridian.dev/platform/proximity"
	"meridian.dev/platform/travel"
)

// proximityRoot resolves events near people and places
// (57_proximity.graphql): the impact radius table, the public event feed's
// events, and whom an incident affects.
type proximityRoot struct {
	*env
	radii  *proximity.Radii
	events *proximity.Events
	finder *proximity.Finder
}

// ImpactRadii resolves Query.impactRadii.
func (r *proximityRoot) ImpactRadii(ctx context.Context) ([]*radiusResolver, error) {
	if _, err := r.viewer(ctx); err != nil {
		return nil, err
	}
	all, err := r.radii.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*radiusResolver, len(all))
	for i, x := range all {
		out[i] = &radiusResolver{x}
	}
	return out, nil
}

// SetImpactRadius resolves Mutation.setImpactRadius.
func (r *proximityRoot) SetImpactRadius(ctx context.Context, args struct {
	Input struct {
		Kind      string
		AssetType string
		RadiusKm  float64
	}
}) (*radiusResolver, error) {
	id, err := r.actor(ctx)
	if err != nil {
		return nil, err
	}
	if err := policy.AllowTravel(id, policy.ManageImpactRadii); err != nil {
		return nil, err
	}
	x, err := r.radii.Set(ctx, id.Subject, strings.TrimSpace(args.Input.Kind), args.Input.AssetType, args.Input.RadiusKm)
	if err != nil {
		return nil, err
	}
	return &radiusResolver{x}, nil
}

// GeoEvents resolves Query.geoEvents.
func (r *proximityRoot) GeoEvents(ctx context.Context, args struct {
	First graphql.NullInt
	After *string
}) (*connection[*geoEventResolver], error) {
	if _, err := r.viewer(ctx); err != nil {
		return nil, err
	}
	first, err := pageSize(args.First, 50)
	if err != nil {
		return nil, err
	}
	items, hasNext, err := r.events.List(ctx, first, deref(args.After, ""))
	if err != nil {
		return nil, err
	}
	return newConnection(items, func(_ int, e proximity.Event) string { return e.Cursor() }, hasNext,
		func(e proximity.Event) *geoEventResolver { return &geoEventResolver{env: r.env, e: e} }), nil
}

type radiusResolver struct{ r proximity.Radius }

func (x *radiusResolver) Kind() string            { return x.r.Kind }
func (x *radiusResolver) AssetType() string       { return x.r.AssetType }
func (x *radiusResolver) RadiusKm() float64       { return x.r.RadiusKm }
func (x *radiusResolver) UpdatedBy() string       { return x.r.UpdatedBy }
func (x *radiusResolver) UpdatedAt() graphql.Time { return graphql.Time{Time: x.r.UpdatedAt} }

type geoEventResolver struct {
	env *env
	e   proximity.Event
}

func (x *geoEventResolver) ID() graphql.ID           { return graphql.ID(x.e.ID) }
func (x *geoEventResolver) Source() string           { return x.e.Source }
func (x *geoEventResolver) Kind() string             { return x.e.Kind }
func (x *geoEventResolver) Title() string            { return x.e.Title }
func (x *geoEventResolver) Magnitude() *float64      { return x.e.Magnitude }
func (x *geoEventResolver) Location() *geoResolver   { return &geoResolver{x.e.Latitude, x.e.Longitude} }
func (x *geoEventResolver) DepthKm() *float64        { return x.e.DepthKm }
func (x *geoEventResolver) OccurredAt() graphql.Time { return graphql.Time{Time: x.e.OccurredAt} }
func (x *geoEventResolver) URL() string              { return x.e.URL }
func (x *geoEventResolver) Incident(ctx context.Context) (*incidentResolver, error) {
	if x.e.IncidentID == nil {
		return nil, nil
	}
	return x.env.owners.incidents.find(ctx, *x.e.IncidentID)
}

// Affected resolves Incident.affected: the sites and travellers inside the
// incident's impact radius. Travellers are shown as the caller's trip scope
// allows (a caller who may not read trips sees the sites only).
func (x *incidentResolver) Affected(ctx context.Context) (*affectedResolver, error) {
	env := x.root.env
	l := loaderFor(loadersOf(ctx), "incident-affected", nil, func(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]proximity.Affected, error) {
		return env.owners.proximity.finder.AffectedMany(ctx, ids)
	})
	a, err := l.load(ctx, x.i.ID)
	if err != nil {
		return nil, err
	}
	out := &affectedResolver{incident: x.i, protection: env.owners.protection}
	for _, s := range a.Sites {
		site, err := env.owners.sites.find(ctx, s.SiteID)
		if err != nil {
			return nil, err
		}
		if site != nil {
			out.sites = append(out.sites, &affectedSiteResolver{site: site, km: s.DistanceKm})
		}
	}
	id, err := auth.FromContext(ctx)
	if err != nil {
		return nil, err
	}
	scope, err := policy.ReadTrips(id)
	if err != nil || len(a.Travellers) == 0 {
		return out, nil
	}
	found := make([]travel.Presence, 0, len(a.Travellers))
	for _, t := range a.Travellers {
		km := t.DistanceKm
		found = append(found, travel.Presence{Traveller: t.Traveller, TripID: t.TripID, SegmentID: t.SegmentID, DistanceKm: &km})
	}
	trips := env.owners.trips
	presences, err := trips.presences(ctx, scope, found)
	if err != nil {
		return nil, err
	}
	for _, p := range presences {
		if !scope.All {
			segs, err := p.trip.loadSegments(ctx)
			if err != nil {
				return nil, err
			}
			if !inRegions(segs, scope.Regions) {
				continue
			}
		}
		if err := p.fillSegment(ctx); err != nil {
			return nil, err
		}
		out.travellers = append(out.travellers, p)
	}
	return out, nil
}

// fillSegment finds the presence's segment among its trip's when the
// store named it by ID only.
func (x *presenceResolver) fillSegment(ctx context.Context) error {
	if x.p.Segment.ID == x.p.SegmentID {
		return nil
	}
	segs, err := x.trip.loadSegments(ctx)
	if err != nil {
		return err
	}
	for _, s := range segs {
		if s.ID == x.p.SegmentID {
			x.p.Segment = s
		}
	}
	return nil
}

type affectedResolver struct {
	sites      []*affectedSiteResolver
	travellers []*presenceResolver
	incident   incident.Incident
	protection *protectionRoot
}

func (x *affectedResolver) Sites() []*affectedSiteResolver {
	if x.sites == nil {
		return []*affectedSiteResolver{}
	}
	return x.sites
}
func (x *affectedResolver) Travellers() []*presenceResolver {
	if x.travellers == nil {
		return []*presenceResolver{}
	}
	return x.travellers
}

// Details are the protection details inside the incident's DETAIL radius,
// as the caller may see them (protection decides).
func (x *affectedResolver) Details(ctx context.Context) ([]*affectedDetailResolver, error) {
	return x.protection.affectedDetails(ctx, x.incident)
}

type affectedSiteResolver struct {
	site *siteResolver
	km   float64
}

func (x *affectedSiteResolver) Site() *siteResolver { return x.site }
func (x *affectedSiteResolver) DistanceKm() float64 { return x.km }
